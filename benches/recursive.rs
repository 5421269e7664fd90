//! Memory per level of the guide's recursive task (section 7.4), in its two weft forms: a
//! recursive `async fn` that boxes its recursive call, and a chain of spawned tasks, each
//! awaiting the next. Live heap bytes come from a counting allocator, read at the bottom of
//! the recursion while every level is alive; the stack a poll of the boxed chain uses per
//! level comes from the addresses of a local at the top and at the bottom. Run with
//! `cargo bench -p weft-benches --bench recursive`.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

#[global_allocator]
static GLOBAL: weft_benches::Counting = weft_benches::Counting;

/// Live heap bytes when the deepest level ran.
static AT_BOTTOM: AtomicIsize = AtomicIsize::new(0);
/// The address of a local in the deepest level's poll.
static STACK_AT_BOTTOM: AtomicUsize = AtomicUsize::new(0);

/// The address of a local of the caller's frame (a stack position; nothing is read from it).
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

async fn bottom() -> u64 {
    STACK_AT_BOTTOM.store(stack_position(), Relaxed);
    // Park once, so that every level above has reached its await.
    weft::sleep(Duration::from_millis(20)).await;
    AT_BOTTOM.store(weft_benches::live_bytes(), Relaxed);
    1
}

/// The guide's `recursive_task`, as a recursive `async fn`: the recursive call is boxed
/// (without the box the future would contain itself and have no finite size).
async fn recursive_task(n: u64) -> u64 {
    if n == 0 {
        return bottom().await;
    }
    n.wrapping_mul(Box::pin(recursive_task(n - 1)).await)
}

/// The same recursion as tasks: each level spawns the next and awaits its handle.
fn recursive_spawned(n: u64) -> weft::JoinHandle<u64> {
    weft::spawn(async move {
        if n == 0 {
            return bottom().await;
        }
        n.wrapping_mul(recursive_spawned(n - 1).await)
    })
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (such as `cargo test --benches`) skips.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let depths = [1_000u64, 10_000];
    let ex = weft::Executor::builder()
        .workers(2)
        // The boxed chain is polled one frame per level; give the deep case room.
        .thread_stack_size(64 << 20)
        .build()
        .expect("the executor starts");
    println!(
        "size of the top-level future of recursive_task: {} B",
        std::mem::size_of_val(&recursive_task(1))
    );
    for depth in depths {
        // Boxed recursion, polled as one task.
        let before = weft_benches::live_bytes();
        let (out, top) = ex.block_on(ex.spawn(async move {
            let top = stack_position();
            (recursive_task(depth).await, top)
        }));
        let heap = (AT_BOTTOM.load(Relaxed) - before) as f64 / depth as f64;
        let stack = top.abs_diff(STACK_AT_BOTTOM.load(Relaxed)) as f64 / depth as f64;
        println!(
            "boxed async fn, depth {depth}: {heap:.1} B of heap per level, {stack:.1} B of stack per level while polled (result {out})"
        );

        // A task per level.
        let before = weft_benches::live_bytes();
        let out = ex.block_on(recursive_spawned(depth));
        let heap = (AT_BOTTOM.load(Relaxed) - before) as f64 / depth as f64;
        println!("spawned tasks,  depth {depth}: {heap:.1} B of heap per level (result {out})");
    }
    ex.shutdown();
}
