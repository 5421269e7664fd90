//! The runtime's figures under a bounded load: a snapshot each second, for a few seconds.
//!
//! Run with `cargo run --example metrics`. Producers spawn short tasks, some of which sleep,
//! yield or run a blocking job; the main thread prints `Executor::metrics()` once a second and
//! a task dump at the end, then shuts down (about 3 seconds in all).

use std::time::{Duration, Instant};
use weft::Executor;

fn main() {
    let executor = Executor::new(2);
    let deadline = Instant::now() + Duration::from_secs(3);
    let load = executor.spawn(async move {
        let mut round = 0u64;
        while Instant::now() < deadline {
            round += 1;
            let mut batch = Vec::new();
            for i in 0..200u64 {
                batch.push(weft::spawn(async move {
                    match i % 4 {
                        0 => weft::sleep(Duration::from_millis(1 + i % 5)).await,
                        1 => {
                            for _ in 0..10 {
                                weft::yield_now().await;
                            }
                        }
                        2 if i % 40 == 2 => {
                            weft::spawn_blocking(move || {
                                std::thread::sleep(Duration::from_millis(2))
                            })
                            .await
                        }
                        _ => {}
                    }
                }));
            }
            weft::join(batch).await;
            weft::sleep(Duration::from_millis(10)).await;
        }
        round
    });
    // A named task that stays idle, for the dump.
    let idle = weft::task::Builder::new()
        .name("idle-listener")
        .spawn_on(std::future::pending::<()>(), &executor);
    for second in 1..=3 {
        std::thread::sleep(Duration::from_secs(1));
        println!("after {second} s: {}", executor.metrics());
    }
    println!("rounds of load: {}", load.join());
    println!("tasks alive now:\n{}", executor.dump());
    idle.abort();
    executor.shutdown();
}
