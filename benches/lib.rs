//! Side-by-side benchmarks of weft against tokio and smol's async-executor.
//!
//! The bench targets are `rt` (tokio's own scheduler workloads, on every runtime),
//! `task_memory` (bytes per pending task), `time` (timer costs) and `timer_lateness` (how late
//! sleeps wake, and bytes per sleeping task). `python3 benches/report.py` turns criterion's
//! results of `rt` into the ns-per-operation table of the README.
//!
//! This library holds what several benchmarks share: the counting allocator that the memory
//! figures come from.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// The system allocator plus a count of live heap bytes. A memory benchmark installs it with
/// `#[global_allocator] static A: weft_benches::Counting = weft_benches::Counting;`.
#[derive(Debug)]
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Live heap bytes allocated through [`Counting`] so far.
pub fn live_bytes() -> isize {
    LIVE.load(Relaxed)
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
