//! The guide's 8.3 (structured concurrency), 8.5 (graceful shutdown with an `Event` and
//! `select!`) and Example 4 (rate limiting). Run with `cargo run --example shutdown`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::sync::{Event, RateLimiter};
use weft::Channel;

async fn task(name: &'static str, ms: u64) {
    weft::sleep(Duration::from_millis(ms)).await;
    println!("  {name} finished");
}

/// 8.5: a server loop that handles connections until the shutdown event is set.
async fn server(connections: Channel<u32>, shutdown: Arc<Event>) -> u32 {
    let mut handled = 0;
    loop {
        weft::select! {
            Some(conn) = connections.recv() => {
                println!("  handling connection {conn}");
                handled += 1;
            }
            _ = shutdown.wait() => {
                println!("  shutdown signal: stop accepting");
                break;
            }
        }
    }
    handled
}

async fn make_request(i: u32, start: Instant) {
    println!("  request {i} at {:>4} ms", start.elapsed().as_millis());
}

#[weft::main]
async fn main() {
    println!("8.3 structured concurrency: both tasks complete before scope returns");
    weft::scope(|s| async move {
        s.spawn(task("task1", 20));
        s.spawn(task("task2", 10));
    })
    .await;
    println!("  scope returned");

    println!("8.5 graceful shutdown");
    let connections = Channel::with_capacity(8);
    let shutdown = Arc::new(Event::new());
    let srv = weft::spawn(server(connections.clone(), shutdown.clone()));
    for conn in 1..=3 {
        connections.send(conn).await.ok();
        weft::sleep(Duration::from_millis(5)).await;
    }
    shutdown.set();
    println!("  server handled {} connections and stopped", srv.await);

    println!("Example 4: rate limiting, 20 requests per second");
    let limiter = RateLimiter::new(20.0);
    let start = Instant::now();
    let mut requests = Vec::new();
    for i in 0..5 {
        limiter.acquire().await;
        requests.push(weft::spawn(make_request(i, start)));
    }
    weft::join(requests).await;
}
