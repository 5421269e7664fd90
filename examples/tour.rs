//! A walk through the guide with weft, section by section. Run it with
//! `cargo run --example tour`.
//!
//! Sections that later parts of weft will cover (channels, I/O, HTTP) join this tour as they
//! land.

use std::time::{Duration, Instant};
use weft::{sleep, spawn, timeout, Executor, JoinError, JoinHandle, TimeoutError};

// 2.1 Async functions: an `async fn` returns a future; `?` works as usual.
async fn fetch_data(id: u32) -> Result<String, String> {
    weft::yield_now().await;
    if id == 0 {
        return Err("no such record".to_owned());
    }
    Ok(format!("record {id}"))
}

// 3.1 Futures are lazy: this prints only when the future is spawned or awaited.
async fn compute() -> i32 {
    println!("  compute() is running now");
    sleep(Duration::from_millis(10)).await;
    42
}

// 3.2 Spawning tasks.
async fn worker(id: u32) -> u32 {
    println!("  worker {id} starting");
    sleep(Duration::from_millis(10 * u64::from(id))).await;
    println!("  worker {id} done");
    id
}

#[weft::main]
async fn main() {
    println!("2.2 await expressions");
    let a = fetch_data(1).await;
    let b = fetch_data(0).await;
    println!("  results: {a:?}, {b:?}");

    println!("3.1 futures are lazy");
    let future = compute();
    println!("  future created, nothing ran yet");
    let handle = spawn(future);
    println!("  result: {}", handle.await);

    println!("3.2 spawning tasks");
    let t1 = spawn(worker(1));
    let t2 = spawn(worker(2));
    let t3 = spawn(worker(3));
    let sum = t1.await + t2.await + t3.await;
    println!("  all workers done (ids sum to {sum})");

    println!("3.3 task handles: do other work while a task runs");
    let handle = spawn(async { (1..=10_000u64).sum::<u64>() });
    println!("  doing other work...");
    println!("  result: {}", handle.await);

    println!("3.4 joining many tasks");
    let handles: Vec<JoinHandle<String>> = (1..=3)
        .map(|i| spawn(async move { fetch_data(i).await.unwrap_or_default() }))
        .collect();
    for h in handles {
        println!("  {}", h.await);
    }

    println!("5.3 timeout: a slow operation is cancelled");
    match timeout(sleep(Duration::from_secs(5)), Duration::from_millis(20)).await {
        Ok(()) => println!("  finished"),
        Err(TimeoutError) => println!("  timed out after 20 ms"),
    }

    println!("6.3 a panic in a task is caught, not fatal");
    let handle = spawn(async {
        if fetch_data(0).await.is_err() {
            panic!("could not fetch");
        }
    });
    match handle.catch().await {
        Err(JoinError::Panicked(msg)) => println!("  caught: {msg}"),
        other => println!("  unexpected: {other:?}"),
    }

    println!("    and abort cancels a task");
    let handle = spawn(std::future::pending::<()>());
    handle.abort();
    println!("  aborted task: {:?}", handle.catch().await);

    println!("7.1 work stealing: 100,000 tasks on every core");
    let start = Instant::now();
    let handles: Vec<_> = (0..100_000u64)
        .map(|i| spawn(async move { i % 7 }))
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await;
    }
    println!("  sum {total} in {:?}", start.elapsed());

    println!("8.1 blocking work goes to the blocking pool");
    let n = weft::spawn_blocking(|| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        7
    })
    .await;
    println!("  blocking result: {n}");

    // 7.2 An executor you size and shut down (from sync code; see `executor_demo`).
    weft::spawn_blocking(executor_demo).await;
}

fn executor_demo() {
    println!("7.2 an executor you size and shut down");
    let executor = Executor::new(4);
    let handle = executor.spawn(async { worker(4).await * 10 });
    println!("  result: {}", handle.join());
    executor.shutdown();
    println!("  executor shut down");
}
