//! The guide's timeout patterns: 5.3 (give up on a slow server) and 8.4 (fall back to a
//! default when a long operation overruns). Run with `cargo run --example timeout`.

use std::time::Duration;
use weft::{sleep, timeout, TimeoutError};

/// Stands in for a network fetch that takes `latency`.
async fn fetch(server: &str, latency: Duration) -> String {
    sleep(latency).await;
    format!("response from {server}")
}

/// 5.3 Timeout pattern.
async fn with_timeout(server: &str, latency: Duration) {
    match timeout(fetch(server, latency), Duration::from_millis(100)).await {
        Ok(result) => println!("  success: {result}"),
        Err(TimeoutError) => println!("  request to {server} timed out"),
    }
}

/// 8.4 Timeout long operations: return a default value instead of waiting forever.
async fn slow_operation_or_default(latency: Duration) -> u32 {
    let slow_operation = async {
        sleep(latency).await;
        42
    };
    match timeout(slow_operation, Duration::from_millis(100)).await {
        Ok(result) => result,
        Err(TimeoutError) => default_value(),
    }
}

fn default_value() -> u32 {
    0
}

#[weft::main]
async fn main() {
    println!("5.3 timeout pattern");
    with_timeout("fast_server", Duration::from_millis(10)).await;
    with_timeout("slow_server", Duration::from_secs(5)).await;

    println!("8.4 timeout long operations");
    println!(
        "  quick operation: {}",
        slow_operation_or_default(Duration::from_millis(10)).await
    );
    println!(
        "  slow operation, default used: {}",
        slow_operation_or_default(Duration::from_secs(5)).await
    );

    println!("periodic work with an interval");
    let start = std::time::Instant::now();
    let mut every = weft::time::interval(Duration::from_millis(20));
    for i in 0..3 {
        let scheduled = every.tick().await;
        println!(
            "  tick {i}: scheduled {:?} after start, ran {:?} after start",
            scheduled - start,
            start.elapsed()
        );
    }
}
