//! The channel lock: a test-and-test-and-set spin lock that backs off to the OS scheduler.
//!
//! A channel's critical sections are short and bounded: they move a value, link or unlink a
//! waiter, and collect the parties to wake (woken, and the wakers of served waiters dropped,
//! only after the lock is released; the one waker call under the lock is the clone a parking
//! future stores). The only ones that grow with the channel are `close` and the release of
//! receivers after it, which walk the parked waiters once, and the occasional growth of the
//! buffer.
//! On a busy channel the lock is taken by tasks on every worker. std's mutex costs two atomic
//! read-modify-writes per operation (its unlock swaps, to find sleepers) and puts a waiter to
//! sleep in the kernel soon after a failed attempt, and each such sleep costs a system call on
//! both sides. This lock costs one compare-and-swap to take and a plain release store to give
//! back. A waiter spins on a read of the flag with an exponential backoff; if the holder keeps
//! it longer than that (it was preempted), the waiter yields its thread, and then sleeps for
//! short intervals until the flag clears, so a preempted holder gets the CPU back instead of
//! competing with spinners. Each time it sees the flag clear but loses the race for it, the
//! waiter goes back to spinning, so it is not left sleeping behind the lockers that won
//! (flume's spin lock and crossbeam's `Backoff` follow the same scheme). On a single CPU,
//! where the holder cannot run while a waiter spins, waiters start at the yielding stage.

use crate::loom::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Relaxed, Release},
};
use crate::loom::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// The channels' lock. Under loom it is loom's mutex: a spin lock multiplies the interleavings
/// of every model that takes it, so it has a model of its own (`loom_lock_mutual_exclusion`).
#[cfg(not(weft_loom))]
pub(crate) type ChanLock<T> = SpinLock<T>;
#[cfg(not(weft_loom))]
pub(crate) type ChanGuard<'a, T> = Guard<'a, T>;
#[cfg(weft_loom)]
pub(crate) use loom_mutex::{ChanGuard, ChanLock};

/// Backoff rounds spent spinning (round `i` spins `2^i` hints) before yielding the thread.
const SPIN_ROUNDS: u32 = 7;
/// Thread yields before sleeping.
const YIELD_ROUNDS: u32 = 16;
/// The sleep between looks at the flag once yielding did not help (Linux's default timer
/// slack makes it about 50 µs).
#[cfg(not(weft_loom))]
const SLEEP: std::time::Duration = std::time::Duration::from_micros(10);

#[derive(Debug)]
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a `Guard`, and `locked` hands out one guard at a
// time (acquire on take, release on give back), as a mutex does; so sharing the lock shares
// `T` across threads only by moving exclusive access, which needs `T: Send`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: the lock owns its value.
unsafe impl<T: Send> Send for SpinLock<T> {}

/// Exclusive access to the locked value; gives the lock back on drop.
///
/// Like std's `MutexGuard`, it is not `Send` (so it cannot be held across an `.await` in a
/// `Send` future) and is `Sync` only if `T` is.
pub(crate) struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared `&Guard` only gives out `&T`, so sharing it is sharing `&T`.
unsafe impl<T: Sync> Sync for Guard<'_, T> {}

impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        Guard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    #[cold]
    fn lock_contended(&self) {
        // On a single CPU the holder cannot run while we spin: go straight to yielding.
        let first_round = if multi_core() { 0 } else { SPIN_ROUNDS };
        let mut round = first_round;
        loop {
            // Wait for the flag to clear by reading it (the cache line stays shared), then try.
            while self.locked.load(Relaxed) {
                backoff(round);
                round = round.saturating_add(1);
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
            // Lost the race to a locker that is running: start the backoff over, spinning.
            round = first_round;
        }
    }
}

/// Whether this process may run on more than one CPU (asked once; under loom, always).
fn multi_core() -> bool {
    #[cfg(weft_loom)]
    {
        true
    }
    #[cfg(not(weft_loom))]
    {
        use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
        // 0: not asked yet, 1: one CPU, 2: more.
        static CPUS: AtomicU8 = AtomicU8::new(0);
        match CPUS.load(Relaxed) {
            0 => {
                let multi = crate::runtime::default_workers() > 1;
                CPUS.store(if multi { 2 } else { 1 }, Relaxed);
                multi
            }
            n => n == 2,
        }
    }
}

fn backoff(round: u32) {
    #[cfg(weft_loom)]
    {
        let _ = round;
        loom::thread::yield_now();
    }
    #[cfg(not(weft_loom))]
    if round < SPIN_ROUNDS {
        for _ in 0..1u32 << round {
            std::hint::spin_loop();
        }
    } else if round < SPIN_ROUNDS + YIELD_ROUNDS {
        std::thread::yield_now();
    } else {
        std::thread::sleep(SLEEP);
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so no `&mut T` exists elsewhere.
        self.lock.value.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock and is borrowed mutably: the access is exclusive.
        self.lock.value.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Release);
    }
}

#[cfg(weft_loom)]
mod loom_mutex {
    use loom::sync::{Mutex, MutexGuard};

    #[derive(Debug)]
    pub(crate) struct ChanLock<T>(Mutex<T>);

    pub(crate) type ChanGuard<'a, T> = MutexGuard<'a, T>;

    impl<T> ChanLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> ChanGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_and_hands_over() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        // A non-atomic read-modify-write: lost updates would show a smaller sum.
                        let mut g = lock.lock();
                        let v = *g;
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 80_000);
    }

    #[test]
    fn a_holder_that_sleeps_does_not_starve_waiters() {
        // The waiter runs through every backoff phase (spin, yield, sleep) and still gets in.
        let lock = Arc::new(SpinLock::new(Vec::new()));
        let g = lock.lock();
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || lock.lock().push(2))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(g);
        waiter.join().unwrap();
        lock.lock().push(3);
        assert_eq!(*lock.lock(), vec![2, 3]);
    }
}

#[cfg(all(test, weft_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two threads add under the lock: neither update is lost, and each sees the other's
    /// completed write (acquire on take, release on give back).
    #[test]
    fn loom_lock_mutual_exclusion() {
        loom::model(|| {
            let lock = Arc::new(SpinLock::new(0u32));
            let other = {
                let lock = lock.clone();
                loom::thread::spawn(move || {
                    let mut g = lock.lock();
                    *g += 1;
                })
            };
            {
                let mut g = lock.lock();
                *g += 2;
            }
            other.join().unwrap();
            assert_eq!(*lock.lock(), 3);
        });
    }
}
