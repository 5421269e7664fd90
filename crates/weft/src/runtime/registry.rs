//! Every live task of an executor, so shutdown can cancel the ones nobody will wake again.
//!
//! A task is registered with a waker of itself when it is spawned and unregistered when its
//! future completes or is dropped. The registry is sharded, four shards per worker, and each
//! thread's spawns rotate over them, so neither spawns on different workers nor a spawn and
//! the removal of a task another worker finished usually contend on one lock.
//!
//! Shutdown first sets the executor's shutdown flag and then drains each shard under its lock.
//! `register` checks the flag under the same lock, so no task can slip in after its shard has
//! been drained: every task is either drained (and cancelled) or refused.

#![forbid(unsafe_code)]

use crossbeam_utils::CachePadded;
use slab::Slab;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::Waker;

#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Slab<Waker>>>]>,
    mask: usize,
}

/// Where a task sits in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) shard: u32,
    pub(crate) key: u32,
}

thread_local! {
    static NEXT_SHARD: Cell<usize> = const { Cell::new(0) };
}

impl Registry {
    pub(crate) fn new(workers: usize) -> Self {
        let n = (workers * 4).next_power_of_two();
        Self {
            shards: (0..n)
                .map(|_| CachePadded::new(Mutex::new(Slab::new())))
                .collect(),
            mask: n - 1,
        }
    }

    /// The shard a spawn on this thread should use: each thread rotates over every shard. A
    /// task is removed by whichever worker finishes it, usually not the one that spawned it,
    /// so a shard per spawning worker had the spawner and the finisher fight over one lock
    /// (a third of spawn_many_local's time); rotating over four shards per worker makes that
    /// rare.
    pub(crate) fn pick_shard(&self) -> usize {
        NEXT_SHARD.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n & self.mask
        })
    }

    /// Registers a task: `make` builds it given its slot and returns the task's own waker plus
    /// whatever the caller wants back. Once `closed` is set, `make` gets `None` (the task is
    /// refused) and must return no waker.
    pub(crate) fn register<R>(
        &self,
        shard: usize,
        closed: &AtomicBool,
        make: impl FnOnce(Option<Slot>) -> (Option<Waker>, R),
    ) -> R {
        let mut slab = lock(&self.shards[shard]);
        if closed.load(Ordering::Acquire) {
            drop(slab);
            return make(None).1;
        }
        let entry = slab.vacant_entry();
        let slot = Slot {
            shard: shard as u32,
            key: entry.key() as u32,
        };
        let (waker, ret) = make(Some(slot));
        if let Some(waker) = waker {
            entry.insert(waker);
        }
        ret
    }

    /// Unregisters a finished or dropped task.
    pub(crate) fn remove(&self, slot: Slot) {
        let waker = lock(&self.shards[slot.shard as usize]).try_remove(slot.key as usize);
        drop(waker);
    }

    /// Wakes a registered task (used by `abort`).
    pub(crate) fn wake(&self, slot: Slot) {
        let waker = lock(&self.shards[slot.shard as usize])
            .get(slot.key as usize)
            .cloned();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Removes and returns every registered task's waker.
    pub(crate) fn drain(&self) -> Vec<Waker> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).drain());
        }
        all
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks, but never let poison take the runtime down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
