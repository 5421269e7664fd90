//! The worker's local run queue: a bounded, lock-free, single-producer multi-consumer ring.
//!
//! The owning worker pushes and pops at the two ends; idle workers steal half of the queue at
//! once. The design is the one tokio ships (`runtime/scheduler/multi_thread/queue.rs`), which
//! has years of production behind it:
//!
//! - `tail` is written only by the owner; it is where the next push goes.
//! - `head` packs two `u32` indices: `real`, the next slot to pop, and `steal`, the first slot a
//!   stealer may still be copying out. When `steal != real` a steal is in progress and no other
//!   stealer may start; the owner may still pop (it advances `real` only).
//! - Indices wrap; the number of queued tasks is `tail - steal` (wrapping), never above
//!   `CAPACITY`.
//! - When the ring is full, the owner moves half of it (plus the new task) to the overflow
//!   queue (the global injector) in one claim, so a burst of spawns costs one CAS per half
//!   queue, not per task.
//!
//! Invariant that makes the unsafe slot accesses sound: a slot index `i` holds an initialised
//! value exactly when `steal <= i < tail` (wrapping), and a value is moved out only by the party
//! whose CAS on `head` claimed it.

use crate::loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::*};
use crate::loom::sync::Arc;
use crate::loom::UnsafeCell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

/// Slots per queue. Small under loom so the models finish.
#[cfg(not(weft_loom))]
pub(crate) const CAPACITY: usize = 256;
#[cfg(weft_loom)]
pub(crate) const CAPACITY: usize = 4;

const MASK: usize = CAPACITY - 1;

/// Where the owner sends tasks when its ring is full.
pub(crate) trait Overflow<T> {
    /// Takes a batch of tasks that no longer fit in the local ring.
    fn push_batch(&self, tasks: impl Iterator<Item = T>);
}

struct Ring<T> {
    head: AtomicU64,
    tail: AtomicU32,
    buffer: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: values of `T` move between threads only through slot claims on `head`, so `Ring` is
// as thread-safe as `T` is sendable; no `&T` is ever shared.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: see above; all shared mutation goes through the atomics and claimed slots.
unsafe impl<T: Send> Sync for Ring<T> {}

/// The owner's end: push and pop. Not `Sync`: exactly one thread uses it.
pub(crate) struct LocalQueue<T> {
    inner: Arc<Ring<T>>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

/// The stealers' end, shared by every worker.
pub(crate) struct Stealer<T> {
    inner: Arc<Ring<T>>,
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for LocalQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalQueue")
            .field("len", &self.len())
            .finish()
    }
}

impl<T> std::fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stealer")
            .field("len", &self.inner.len())
            .finish()
    }
}

fn unpack(n: u64) -> (u32, u32) {
    ((n >> 32) as u32, n as u32)
}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

/// Creates a queue, returning the owner's end and a stealer.
pub(crate) fn local<T>() -> (LocalQueue<T>, Stealer<T>) {
    let buffer = (0..CAPACITY)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let inner = Arc::new(Ring {
        head: AtomicU64::new(0),
        tail: AtomicU32::new(0),
        buffer,
    });
    let stealer = Stealer {
        inner: inner.clone(),
    };
    (
        LocalQueue {
            inner,
            _not_sync: PhantomData,
        },
        stealer,
    )
}

impl<T> Ring<T> {
    fn len(&self) -> usize {
        let (steal, _) = unpack(self.head.load(Acquire));
        let tail = self.tail.load(Acquire);
        tail.wrapping_sub(steal) as usize
    }

    fn is_empty(&self) -> bool {
        let (_, real) = unpack(self.head.load(Acquire));
        let tail = self.tail.load(Acquire);
        real == tail
    }

    /// Moves the value out of slot `index`.
    ///
    /// # Safety
    /// The caller must have claimed the slot (by a CAS on `head`, or as owner below `tail`
    /// after claiming) and the slot must hold an initialised value.
    unsafe fn take(&self, index: u32) -> T {
        self.buffer[index as usize & MASK].with(|ptr| {
            // SAFETY: the caller claimed this initialised slot; nobody else reads or writes it
            // until `head`/`tail` are published again.
            unsafe { (*ptr).assume_init_read() }
        })
    }

    /// Writes `value` into slot `index`.
    ///
    /// # Safety
    /// The slot must be free (outside `steal..tail`) and only the caller may write it.
    unsafe fn put(&self, index: u32, value: T) {
        self.buffer[index as usize & MASK].with_mut(|ptr| {
            // SAFETY: the slot is free and owned by the caller, per the contract above.
            unsafe { (*ptr).write(value) };
        });
    }
}

impl<T> LocalQueue<T> {
    /// Number of tasks in the ring (including ones a stealer is copying out).
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// True if the owner has nothing left to pop.
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Room left before a push overflows.
    pub(crate) fn remaining(&self) -> usize {
        CAPACITY - self.len()
    }

    /// Pushes a task at the back, moving half of the ring to `overflow` when full.
    pub(crate) fn push_back(&self, mut task: T, overflow: &impl Overflow<T>) {
        let tail = loop {
            let head = self.inner.head.load(Acquire);
            let (steal, real) = unpack(head);
            // Only the owner writes `tail`, so a relaxed load sees our own last store.
            let tail = self.inner.tail.load(Relaxed);
            if (tail.wrapping_sub(steal) as usize) < CAPACITY {
                break tail;
            } else if steal != real {
                // A stealer is emptying the queue right now: the ring will have room soon, but
                // we cannot claim half of it. Send this one task to the overflow queue.
                overflow.push_batch(std::iter::once(task));
                return;
            } else {
                match self.push_overflow(task, real, tail, overflow) {
                    Ok(()) => return,
                    // A stealer got in first; there is room now.
                    Err(back) => task = back,
                }
            }
        };
        // SAFETY: `tail - steal < CAPACITY`, so slot `tail` is outside the live range and only
        // the owner writes slots at `tail`.
        unsafe { self.inner.put(tail, task) };
        self.inner.tail.store(tail.wrapping_add(1), Release);
    }

    fn push_overflow(
        &self,
        task: T,
        head: u32,
        tail: u32,
        overflow: &impl Overflow<T>,
    ) -> Result<(), T> {
        const HALF: u32 = (CAPACITY / 2) as u32;
        debug_assert_eq!(tail.wrapping_sub(head) as usize, CAPACITY);
        let prev = pack(head, head);
        let next = pack(head.wrapping_add(HALF), head.wrapping_add(HALF));
        if self
            .inner
            .head
            .compare_exchange(prev, next, Release, Relaxed)
            .is_err()
        {
            return Err(task);
        }
        let batch = (0..HALF).map(|i| {
            // SAFETY: the CAS above moved `head` past these HALF slots, claiming them for us;
            // they were initialised (they lay between head and tail).
            unsafe { self.inner.take(head.wrapping_add(i)) }
        });
        overflow.push_batch(batch.chain(std::iter::once(task)));
        Ok(())
    }

    /// Pops the task at the front (the oldest one), if any.
    pub(crate) fn pop(&self) -> Option<T> {
        let mut head = self.inner.head.load(Acquire);
        let index = loop {
            let (steal, real) = unpack(head);
            let tail = self.inner.tail.load(Relaxed);
            if real == tail {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            match self
                .inner
                .head
                .compare_exchange(head, next, AcqRel, Acquire)
            {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        // SAFETY: the CAS advanced `real` past `index`, claiming the slot; it was below `tail`,
        // so it is initialised.
        Some(unsafe { self.inner.take(index) })
    }
}

impl<T> Drop for LocalQueue<T> {
    fn drop(&mut self) {
        // Drop whatever is left; the worker drains before exiting, this is the backstop.
        while self.pop().is_some() {}
    }
}

impl<T> Stealer<T> {
    /// Number of tasks in the ring (for metrics: a snapshot, possibly stale at once).
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// True if there is nothing to steal.
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Steals half of this queue into `dst` (the caller's own queue) and returns one of the
    /// stolen tasks to run right away.
    pub(crate) fn steal_into(&self, dst: &LocalQueue<T>) -> Option<T> {
        let dst_tail = dst.inner.tail.load(Relaxed);
        let (dst_steal, _) = unpack(dst.inner.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) as usize > CAPACITY / 2 {
            // Our own queue is more than half full: we have work, stealing would only overflow.
            return None;
        }
        let mut n = self.steal_half_into(dst, dst_tail);
        if n == 0 {
            return None;
        }
        n -= 1;
        let ret_pos = dst_tail.wrapping_add(n);
        // SAFETY: `steal_half_into` initialised dst slots `dst_tail..dst_tail+n+1`, which are
        // beyond the published tail, so only this (owner) thread can touch them.
        let ret = unsafe { dst.inner.take(ret_pos) };
        if n > 0 {
            dst.inner.tail.store(dst_tail.wrapping_add(n), Release);
        }
        Some(ret)
    }

    fn steal_half_into(&self, dst: &LocalQueue<T>, dst_tail: u32) -> u32 {
        let mut prev = self.inner.head.load(Acquire);
        let (first, n, claimed) = loop {
            let (steal, real) = unpack(prev);
            let tail = self.inner.tail.load(Acquire);
            if steal != real {
                // Another worker is stealing from this queue.
                return 0;
            }
            let available = tail.wrapping_sub(real);
            let n = available - available / 2;
            if n == 0 {
                return 0;
            }
            let next = pack(steal, real.wrapping_add(n));
            match self
                .inner
                .head
                .compare_exchange(prev, next, AcqRel, Acquire)
            {
                Ok(_) => break (steal, n, next),
                Err(actual) => prev = actual,
            }
        };
        for i in 0..n {
            // SAFETY: the CAS claimed source slots `first..first+n` for this stealer (the owner
            // pops only from `real`, which we moved past them, and other stealers wait while
            // `steal != real`). Destination slots past `dst_tail` are free and unpublished.
            unsafe {
                let value = self.inner.take(first.wrapping_add(i));
                dst.inner.put(dst_tail.wrapping_add(i), value);
            }
        }
        // Release the claim: move `steal` up to `real`, which the owner may have advanced.
        let mut prev = claimed;
        loop {
            let (_, real) = unpack(prev);
            match self
                .inner
                .head
                .compare_exchange(prev, pack(real, real), AcqRel, Acquire)
            {
                Ok(_) => return n,
                Err(actual) => prev = actual,
            }
        }
    }
}

/// A task that can travel as one pointer, for [`LifoSlot`].
pub(crate) trait RawTask: Sized {
    fn into_raw(self) -> NonNull<()>;

    /// # Safety
    /// `ptr` must come from [`RawTask::into_raw`] and be turned back into a task only once.
    unsafe fn from_raw(ptr: NonNull<()>) -> Self;
}

impl RawTask for crate::runtime::task::Runnable {
    fn into_raw(self) -> NonNull<()> {
        async_task::Runnable::into_raw(self)
    }

    unsafe fn from_raw(ptr: NonNull<()>) -> Self {
        // SAFETY: forwarded from the caller: `ptr` came from `into_raw`, and is used once.
        unsafe { async_task::Runnable::from_raw(ptr) }
    }
}

/// A worker's LIFO slot: the task it just woke, which it runs next. The owner puts and takes;
/// other workers may take too (a task left there by a worker stuck in one poll), so the slot is
/// one atomic pointer. Only the owner fills it and everyone else only empties it, so the
/// owner's put into an empty slot is a plain store; taking is one swap.
pub(crate) struct LifoSlot<T: RawTask> {
    task: AtomicPtr<()>,
    _task: PhantomData<T>,
}

// SAFETY: the slot owns at most one `T`, moved in and out whole through the atomic pointer
// (each pointer is turned back into a task by exactly one party: whoever swapped it out).
unsafe impl<T: RawTask + Send> Send for LifoSlot<T> {}
// SAFETY: as above; shared access only goes through the atomic.
unsafe impl<T: RawTask + Send> Sync for LifoSlot<T> {}

impl<T: RawTask> std::fmt::Debug for LifoSlot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LifoSlot")
            .field("empty", &self.is_empty())
            .finish()
    }
}

impl<T: RawTask> LifoSlot<T> {
    pub(crate) fn new() -> Self {
        Self {
            task: AtomicPtr::new(ptr::null_mut()),
            _task: PhantomData,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.task.load(Relaxed).is_null()
    }

    /// Owner only: puts `task` in the slot and returns the task it held, if any (none if the
    /// slot was empty, or another worker took its task meanwhile).
    pub(crate) fn put(&self, task: T) -> Option<T> {
        let new = task.into_raw().as_ptr();
        if self.task.load(Relaxed).is_null() {
            // Nobody else fills the slot, so it stays empty until this store.
            self.task.store(new, Release);
            return None;
        }
        let prev = self.task.swap(new, AcqRel);
        // SAFETY: a non-null pointer in the slot came from `into_raw`; the swap moved it out,
        // so this is its one conversion back.
        NonNull::new(prev).map(|p| unsafe { T::from_raw(p) })
    }

    /// Any worker: takes the task in the slot.
    pub(crate) fn take(&self) -> Option<T> {
        if self.task.load(Relaxed).is_null() {
            return None;
        }
        let prev = self.task.swap(ptr::null_mut(), AcqRel);
        // SAFETY: as in `put`: the swap moved the pointer out of the slot.
        NonNull::new(prev).map(|p| unsafe { T::from_raw(p) })
    }
}

impl<T: RawTask> Drop for LifoSlot<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// Boxed numbers stand in for tasks in the tests.
#[cfg(test)]
impl RawTask for Box<usize> {
    fn into_raw(self) -> NonNull<()> {
        NonNull::from(Box::leak(self)).cast()
    }

    unsafe fn from_raw(ptr: NonNull<()>) -> Self {
        // SAFETY: `ptr` came from `Box::leak` in `into_raw`, once.
        unsafe { Box::from_raw(ptr.cast::<usize>().as_ptr()) }
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Spill(Mutex<Vec<usize>>);

    impl Overflow<usize> for Spill {
        fn push_batch(&self, tasks: impl Iterator<Item = usize>) {
            self.0.lock().unwrap().extend(tasks);
        }
    }

    #[test]
    fn lifo_slot_put_replace_take() {
        let slot = LifoSlot::<Box<usize>>::new();
        assert!(slot.is_empty());
        assert_eq!(slot.put(Box::new(1)), None);
        assert_eq!(slot.put(Box::new(2)).map(|b| *b), Some(1));
        assert!(!slot.is_empty());
        assert_eq!(slot.take().map(|b| *b), Some(2));
        assert_eq!(slot.take(), None);
        // Dropped with a task inside: freed (Miri or a leak checker would tell).
        slot.put(Box::new(3));
    }

    #[test]
    fn fifo_order() {
        let (q, _s) = local();
        let spill = Spill::default();
        for i in 0..10 {
            q.push_back(i, &spill);
        }
        assert_eq!(q.len(), 10);
        let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(q.is_empty());
    }

    #[test]
    fn overflow_moves_half_plus_one() {
        let (q, _s) = local();
        let spill = Spill::default();
        for i in 0..CAPACITY + 1 {
            q.push_back(i, &spill);
        }
        let spilled = spill.0.lock().unwrap().clone();
        assert_eq!(spilled.len(), CAPACITY / 2 + 1);
        assert_eq!(
            spilled[..CAPACITY / 2],
            (0..CAPACITY / 2).collect::<Vec<_>>()[..]
        );
        assert_eq!(*spilled.last().unwrap(), CAPACITY);
        assert_eq!(q.len(), CAPACITY / 2);
        assert_eq!(q.pop(), Some(CAPACITY / 2));
    }

    #[test]
    fn steal_takes_half_rounded_up() {
        let (src, stealer) = local();
        let (dst, _) = local();
        let spill = Spill::default();
        for i in 0..7 {
            src.push_back(i, &spill);
        }
        // 4 stolen: 3 land in dst, the last one is returned to run.
        assert_eq!(stealer.steal_into(&dst), Some(3));
        assert_eq!(dst.len(), 3);
        assert_eq!(src.len(), 3);
        let mut all: Vec<_> = std::iter::from_fn(|| dst.pop()).collect();
        all.extend(std::iter::from_fn(|| src.pop()));
        assert_eq!(all, vec![0, 1, 2, 4, 5, 6]);
        assert_eq!(stealer.steal_into(&dst), None);
    }

    #[test]
    fn wraps_around_many_times() {
        let (q, _s) = local();
        let spill = Spill::default();
        let mut next = 0usize;
        let mut expect = 0usize;
        for round in 0..10_000 {
            for _ in 0..(round % 7 + 1) {
                q.push_back(next, &spill);
                next += 1;
            }
            // Pop a little less than was pushed until the ring is over half full, then drain
            // more: indices walk around the ring many times without overflowing it.
            let pops = if q.len() > CAPACITY / 2 {
                round % 7 + 4
            } else {
                round % 7
            };
            for _ in 0..pops {
                if let Some(v) = q.pop() {
                    assert_eq!(v, expect);
                    expect += 1;
                }
            }
        }
        assert!(spill.0.lock().unwrap().is_empty());
        assert!(expect > 10 * CAPACITY);
    }

    #[test]
    fn concurrent_steal_loses_nothing() {
        // Miri runs it too, in a size it finishes in minutes.
        const N: usize = if cfg!(miri) { 600 } else { 100_000 };
        let (q, stealer) = local::<usize>();
        let spill = std::sync::Arc::new(Spill::default());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let stealer = stealer.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let (mine, _) = local::<usize>();
                    let mut got = Vec::new();
                    while !done.load(std::sync::atomic::Ordering::Acquire) || !stealer.is_empty() {
                        if let Some(v) = stealer.steal_into(&mine) {
                            got.push(v);
                        }
                        got.extend(std::iter::from_fn(|| mine.pop()));
                    }
                    got
                })
            })
            .collect();
        let mut got = Vec::new();
        for i in 0..N {
            q.push_back(i, &*spill);
            if i % 3 == 0 {
                got.extend(q.pop());
            }
        }
        got.extend(std::iter::from_fn(|| q.pop()));
        done.store(true, std::sync::atomic::Ordering::Release);
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        got.extend(spill.0.lock().unwrap().drain(..));
        got.sort_unstable();
        assert_eq!(got, (0..N).collect::<Vec<_>>());
    }
}

#[cfg(all(test, weft_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Mutex;
    use loom::thread;

    #[derive(Default)]
    struct Spill(Mutex<Vec<usize>>);

    impl Overflow<usize> for Spill {
        fn push_batch(&self, tasks: impl Iterator<Item = usize>) {
            self.0.lock().unwrap().extend(tasks);
        }
    }

    /// The owner pushes past capacity and pops while a thief steals: every value is seen exactly
    /// once, in the owner's pops, the thief's haul or the overflow queue.
    #[test]
    fn loom_push_pop_steal() {
        loom::model(|| {
            let (q, stealer) = local::<usize>();
            let spill = Arc::new(Spill::default());
            let stolen = Arc::new(AtomicUsize::new(0));
            let thief = {
                let stolen = stolen.clone();
                thread::spawn(move || {
                    let (mine, _) = local::<usize>();
                    let mut seen = Vec::new();
                    seen.extend(stealer.steal_into(&mine));
                    seen.extend(std::iter::from_fn(|| mine.pop()));
                    stolen.fetch_add(seen.len(), Relaxed);
                    seen
                })
            };
            let mut seen = Vec::new();
            for i in 0..(CAPACITY + 2) {
                q.push_back(i, &*spill);
            }
            seen.extend(q.pop());
            seen.extend(std::iter::from_fn(|| q.pop()));
            seen.extend(thief.join().unwrap());
            seen.extend(spill.0.lock().unwrap().drain(..));
            seen.sort_unstable();
            assert_eq!(seen, (0..CAPACITY + 2).collect::<Vec<_>>());
        });
    }

    /// The owner puts two tasks in its LIFO slot and takes one while a thief takes one: each
    /// task comes out exactly once (loom also checks that none leaks).
    #[test]
    fn loom_lifo_slot_owner_and_thief() {
        loom::model(|| {
            let slot = Arc::new(LifoSlot::<Box<usize>>::new());
            let thief = {
                let slot = slot.clone();
                thread::spawn(move || slot.take().map(|b| *b))
            };
            let mut seen = Vec::new();
            seen.extend(slot.put(Box::new(1)).map(|b| *b));
            seen.extend(slot.put(Box::new(2)).map(|b| *b));
            seen.extend(slot.take().map(|b| *b));
            seen.extend(thief.join().unwrap());
            seen.extend(slot.take().map(|b| *b));
            seen.sort_unstable();
            assert_eq!(seen, vec![1, 2]);
        });
    }

    /// A worker takes the tasks of one it thinks stuck (as `WorkerCtx::take_stranded` does:
    /// half of its queue, then its LIFO task) while that worker, not stuck after all, keeps
    /// waking tasks into its slot (the one it displaces goes to its queue, as in
    /// `WorkerCtx::schedule_local`) and running them: each task comes out exactly once.
    #[test]
    fn loom_stranded_take_against_a_running_owner() {
        loom::model(|| {
            let (q, stealer) = local::<usize>();
            let slot = Arc::new(LifoSlot::<Box<usize>>::new());
            let spill = Spill::default();
            q.push_back(0, &spill);
            let thief = {
                let slot = slot.clone();
                thread::spawn(move || {
                    let (mine, _) = local::<usize>();
                    let mut seen: Vec<usize> = stealer.steal_into(&mine).into_iter().collect();
                    seen.extend(std::iter::from_fn(|| mine.pop()));
                    seen.extend(slot.take().map(|b| *b));
                    seen
                })
            };
            let mut seen = Vec::new();
            for i in 1..3 {
                if let Some(prev) = slot.put(Box::new(i)) {
                    q.push_back(*prev, &spill);
                }
            }
            seen.extend(slot.take().map(|b| *b));
            seen.extend(q.pop());
            seen.extend(thief.join().unwrap());
            seen.extend(slot.take().map(|b| *b));
            seen.extend(std::iter::from_fn(|| q.pop()));
            seen.extend(spill.0.lock().unwrap().drain(..));
            seen.sort_unstable();
            assert_eq!(seen, vec![0, 1, 2]);
        });
    }

    /// Two thieves race each other and the owner's pops.
    #[test]
    fn loom_two_thieves() {
        loom::model(|| {
            let (q, stealer) = local::<usize>();
            let spill = Spill::default();
            for i in 0..3 {
                q.push_back(i, &spill);
            }
            let thieves: Vec<_> = (0..2)
                .map(|_| {
                    let stealer = stealer.clone();
                    thread::spawn(move || {
                        let (mine, _) = local::<usize>();
                        let mut seen: Vec<usize> = stealer.steal_into(&mine).into_iter().collect();
                        seen.extend(std::iter::from_fn(|| mine.pop()));
                        seen
                    })
                })
                .collect();
            let mut seen: Vec<usize> = q.pop().into_iter().collect();
            for t in thieves {
                seen.extend(t.join().unwrap());
            }
            seen.extend(std::iter::from_fn(|| q.pop()));
            seen.sort_unstable();
            assert_eq!(seen, vec![0, 1, 2]);
        });
    }
}
