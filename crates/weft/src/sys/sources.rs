//! What both backends keep per worker besides the kernel object: the registered sources, keyed
//! by the token the kernel hands back with each event, and the parked/awake flag that lets an
//! `unpark` skip the eventfd write when the worker is not asleep. Pure: no syscalls.

#![forbid(unsafe_code)]

use super::readiness::ScheduledIo;
use crate::loom::sync::atomic::{AtomicU8, Ordering::SeqCst};
use slab::Slab;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};

/// A token carries the slab key in its low 32 bits and a generation above, so an event for a
/// source that was deregistered (and whose key was reused) is recognised and dropped.
/// Tokens with the top bit set are the backend's own (its wake-up eventfd).
pub(crate) const INTERNAL: u64 = 1 << 63;

#[derive(Debug)]
pub(crate) struct Entry {
    generation: u32,
    pub(crate) io: Arc<ScheduledIo>,
    /// The descriptor, for a backend that must watch it again.
    pub(crate) fd: RawFd,
    /// Deregistered; the backend frees the entry once the kernel has let go of it.
    pub(crate) cancelled: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Sources {
    slab: Mutex<Slab<Entry>>,
    next_generation: std::sync::atomic::AtomicU32,
}

impl Sources {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Slab<Entry>> {
        self.slab.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of entries (sources registered, and deregistered ones the kernel still holds).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Adds a source; returns its token.
    pub(crate) fn insert(&self, io: Arc<ScheduledIo>, fd: RawFd) -> u64 {
        let generation = self.next_generation.fetch_add(1, SeqCst) & 0x7fff_ffff;
        let key = self.lock().insert(Entry {
            generation,
            io,
            fd,
            cancelled: false,
        });
        token(key, generation)
    }

    /// The slab key of `token` if it still names a live entry of `slab`.
    pub(crate) fn key(slab: &Slab<Entry>, token: u64) -> Option<usize> {
        let key = (token & 0xffff_ffff) as usize;
        let generation = (token >> 32) as u32;
        slab.get(key)
            .filter(|e| e.generation == generation)
            .map(|_| key)
    }

    /// Wakes every task still waiting on a source (the driver is going away).
    pub(crate) fn wake_all(&self) {
        let all: Vec<_> = self.lock().iter().map(|(_, e)| e.io.clone()).collect();
        for io in all {
            io.wake_all();
        }
    }
}

fn token(key: usize, generation: u32) -> u64 {
    ((generation as u64) << 32) | key as u64
}

const RUNNING: u8 = 0;
const PARKED: u8 = 1;
const WAKE_PENDING: u8 = 2;

/// The hand-shake between a worker parking in its backend and threads waking it.
#[derive(Debug, Default)]
pub(crate) struct ParkState(AtomicU8);

impl ParkState {
    /// Before blocking in the kernel: false if an unpark is pending (consumed; do not block).
    pub(crate) fn enter_park(&self) -> bool {
        if self
            .0
            .compare_exchange(WAKE_PENDING, RUNNING, SeqCst, SeqCst)
            .is_ok()
        {
            return false;
        }
        self.0
            .compare_exchange(RUNNING, PARKED, SeqCst, SeqCst)
            .is_ok()
            || {
                // Notified in between.
                self.0.store(RUNNING, SeqCst);
                false
            }
    }

    /// After the kernel returned.
    pub(crate) fn leave_park(&self) {
        self.0.store(RUNNING, SeqCst);
    }

    /// From any thread: true if the worker is blocked in the kernel and must be woken there.
    pub(crate) fn notify(&self) -> bool {
        self.0.swap(WAKE_PENDING, SeqCst) == PARKED
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    #[test]
    fn stale_tokens_are_rejected() {
        let sources = Sources::default();
        let t1 = sources.insert(Arc::new(ScheduledIo::new()), 0);
        let key = Sources::key(&sources.lock(), t1).expect("live");
        sources.lock().remove(key);
        let t2 = sources.insert(Arc::new(ScheduledIo::new()), 0);
        assert_eq!(t1 & 0xffff_ffff, t2 & 0xffff_ffff, "the key is reused");
        assert!(Sources::key(&sources.lock(), t1).is_none());
        assert!(Sources::key(&sources.lock(), t2).is_some());
    }

    #[test]
    fn an_unpark_before_park_skips_the_block() {
        let p = ParkState::default();
        assert!(!p.notify(), "running: no syscall needed");
        assert!(!p.enter_park(), "the pending unpark is consumed");
        assert!(p.enter_park(), "nothing pending: block");
        assert!(p.notify(), "parked: wake it in the kernel");
        p.leave_park();
        assert!(p.enter_park());
    }
}

#[cfg(all(test, weft_loom))]
mod loom_tests {
    //! The wake-up flag: an `unpark` racing the worker going to sleep in the kernel either
    //! writes the eventfd (the worker is, or is about to be, blocked) or leaves WAKE_PENDING for
    //! `enter_park` to consume; never neither, so the worker never sleeps through a wake-up.

    use super::ParkState;
    use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use loom::sync::Arc;

    #[test]
    fn loom_unpark_races_park() {
        loom::model(|| {
            let park = Arc::new(ParkState::default());
            // The eventfd: set by an unpark that found the worker parked.
            let eventfd = Arc::new(AtomicBool::new(false));
            let waker = {
                let (park, eventfd) = (park.clone(), eventfd.clone());
                loom::thread::spawn(move || {
                    if park.notify() {
                        eventfd.store(true, SeqCst);
                    }
                })
            };
            // A lost wake-up leaves this loop spinning after the waker is done, which loom
            // reports as a failure.
            if park.enter_park() {
                // Blocked in the kernel until the eventfd is written.
                while !eventfd.load(SeqCst) {
                    loom::thread::yield_now();
                }
                park.leave_park();
            }
            waker.join().unwrap();
            // Delivered one way or the other: the next park blocks again, and a new unpark
            // finds it parked.
            assert!(park.enter_park());
            assert!(park.notify());
        });
    }
}
