//! Every live task of an executor, so shutdown can cancel the ones nobody will wake again.
//!
//! A task is registered with a waker of itself when it is spawned and unregistered when its
//! future completes or is dropped. The registry is sharded, four shards per worker, and each
//! thread's spawns rotate over them, so neither spawns on different workers nor a spawn and
//! the removal of a task another worker finished usually contend on one lock.
//!
//! Each shard also counts the tasks spawned into it and how they ended (under the lock that
//! registering and removing take anyway, so the counts cost no extra atomic operation), and
//! each entry reaches its task's metadata, so a dump can list the tasks alive.
//!
//! Shutdown first sets the executor's shutdown flag and then drains each shard under its lock.
//! `register` checks the flag under the same lock, so no task can slip in after its shard has
//! been drained: every task is either drained (and cancelled) or refused.

#![forbid(unsafe_code)]

use super::task::{TaskMeta, TaskRef};
use crossbeam_utils::CachePadded;
use slab::Slab;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::Waker;

#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    mask: usize,
}

#[derive(Debug, Default)]
struct Shard {
    tasks: Slab<TaskRef>,
    tally: Tally,
}

/// How a task left the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Panicked,
    /// Dropped before it completed: aborted, or cancelled by shutdown.
    Cancelled,
}

/// Tasks spawned into a shard, and how those that left it ended.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) spawned: u64,
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
}

impl Tally {
    #[inline]
    fn count(&mut self, outcome: Outcome, n: u64) {
        if cfg!(feature = "metrics") {
            match outcome {
                Outcome::Completed => self.completed += n,
                Outcome::Panicked => self.panicked += n,
                Outcome::Cancelled => self.cancelled += n,
            }
        }
    }

    fn add(&mut self, other: &Tally) {
        self.spawned += other.spawned;
        self.completed += other.completed;
        self.panicked += other.panicked;
        self.cancelled += other.cancelled;
    }
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
                .map(|_| CachePadded::new(Mutex::new(Shard::default())))
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
        make: impl FnOnce(Option<Slot>) -> (Option<TaskRef>, R),
    ) -> R {
        let mut guard = lock(&self.shards[shard]);
        if closed.load(Ordering::Acquire) {
            drop(guard);
            return make(None).1;
        }
        let shard_state = &mut *guard;
        let entry = shard_state.tasks.vacant_entry();
        let slot = Slot {
            shard: shard as u32,
            key: entry.key() as u32,
        };
        let (task, ret) = make(Some(slot));
        if let Some(task) = task {
            entry.insert(task);
            if cfg!(feature = "metrics") {
                shard_state.tally.spawned += 1;
            }
        }
        ret
    }

    /// Unregisters a finished or dropped task.
    pub(crate) fn remove(&self, slot: Slot, outcome: Outcome) {
        let mut shard = lock(&self.shards[slot.shard as usize]);
        let task = shard.tasks.try_remove(slot.key as usize);
        if task.is_some() {
            shard.tally.count(outcome, 1);
        }
        drop(shard);
        drop(task);
    }

    /// Wakes a registered task (used by `abort`).
    pub(crate) fn wake(&self, slot: Slot) {
        let waker = lock(&self.shards[slot.shard as usize])
            .tasks
            .get(slot.key as usize)
            .map(|t| t.waker().clone());
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Removes and returns every registered task's waker; they count as cancelled.
    pub(crate) fn drain(&self) -> Vec<Waker> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            let before = all.len();
            all.extend(shard.tasks.drain().map(TaskRef::into_waker));
            let n = (all.len() - before) as u64;
            shard.tally.count(Outcome::Cancelled, n);
        }
        all
    }

    /// Calls `f` with every registered task's metadata, one shard locked at a time (so `f`
    /// must not spawn, or finish a task, on this executor).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&TaskMeta)) {
        for shard in self.shards.iter() {
            let shard = lock(shard);
            for (_, task) in shard.tasks.iter() {
                f(task.meta());
            }
        }
    }

    /// Calls `f` with the metadata of the task registered at `slot`, if any, under its
    /// shard's lock.
    pub(crate) fn with_task<R>(&self, slot: Slot, f: impl FnOnce(&TaskMeta) -> R) -> Option<R> {
        let shard = lock(self.shards.get(slot.shard as usize)?);
        shard.tasks.get(slot.key as usize).map(|t| f(t.meta()))
    }

    /// The tasks alive now, and the sum of every shard's tally.
    pub(crate) fn counts(&self) -> (u64, Tally) {
        let mut alive = 0;
        let mut total = Tally::default();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            alive += shard.tasks.len() as u64;
            total.add(&shard.tally);
        }
        (alive, total)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks, but never let poison take the runtime down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
