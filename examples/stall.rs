//! A task that blocks its worker, the stall report the watchdog gives, and the fix.
//!
//! Run with `cargo run --example stall`. The first task calls `std::thread::sleep` inside
//! async code: its worker is stuck in one poll for 300 ms, and the watchdog (threshold 100 ms
//! here, as by default) reports it, naming the task and where it was spawned. The second does
//! the same work through `spawn_blocking`, which runs it on the blocking pool: no report.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use weft::Executor;

/// Stands in for a blocking call: a synchronous read, a long computation, a lock held long.
fn slow_lookup(key: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(300));
    key * 2
}

fn main() {
    let reports = Arc::new(AtomicUsize::new(0));
    let counted = reports.clone();
    let executor = Executor::builder()
        .workers(2)
        .stall_threshold(Some(Duration::from_millis(100)))
        .on_stall(move |report| {
            counted.fetch_add(1, Ordering::SeqCst);
            // The default hook prints the same line; this one also counts.
            eprintln!("stall: {report}");
            eprintln!(
                "  task {:?} spawned at {}, stuck {:?} on worker {}",
                report.task_name(),
                report.location(),
                report.elapsed(),
                report.worker()
            );
        })
        .build()
        .expect("threads start");

    println!("1. blocking inside async code");
    let blocking = weft::task::Builder::new()
        .name("lookup")
        .spawn_on(async { slow_lookup(21) }, &executor);
    println!("   result {}", blocking.join());
    println!(
        "   stall reports so far: {}",
        reports.load(Ordering::SeqCst)
    );

    println!("2. the same work on the blocking pool");
    let fixed = weft::task::Builder::new().name("lookup-fixed").spawn_on(
        async { weft::spawn_blocking(|| slow_lookup(21)).await },
        &executor,
    );
    println!("   result {}", fixed.join());
    // Leave the watchdog time to look again.
    std::thread::sleep(Duration::from_millis(150));
    println!(
        "   stall reports so far: {}",
        reports.load(Ordering::SeqCst)
    );
    println!("{}", executor.metrics());
    executor.shutdown();
}
