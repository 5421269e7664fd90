//! Completion-based operations on an io_uring ring: the state of each operation in flight and
//! the resources (buffers, paths, the file) it lends the kernel. Pure: no syscalls.
//!
//! The resources of an operation belong to its slot, not to the future that started it, until
//! the kernel has completed it. A future dropped before that orphans its slot: the slot keeps
//! the resources, the driver submits a cancel, and the completion frees them, closing the
//! descriptor an `open` delivered anyway (as a cancelled open or accept must not leak one).

#![forbid(unsafe_code)]

use crate::loom::sync::{Mutex, MutexGuard};
use crate::runtime::metrics::Counter;
use slab::Slab;
use std::any::Any;
use std::task::{Context, Poll, Waker};

/// What an operation lends the kernel; handed back to the future on completion.
pub(crate) type Resources = Box<dyn Any + Send>;

#[derive(Debug)]
enum State {
    /// In flight; the waker of the future waiting for it.
    Waiting(Option<Waker>),
    /// Completed with this result; waiting for its future to collect it.
    Done(i32),
    /// Its future is gone: free the resources when the kernel is done.
    Orphaned,
}

struct Slot {
    state: State,
    resources: Option<Resources>,
    kind: OpKind,
}

/// What becomes of an operation's result when its future is gone.
#[derive(Clone, Copy)]
pub(crate) enum OpKind {
    /// Nothing to keep: the resources are freed.
    Plain,
    /// A successful result is a new descriptor (open, accept): it is closed.
    ReturnsFd,
    /// The result and the resources go to this function (a receive hands the bytes it read to
    /// its stream, so the next read gets them). It runs outside any lock, on the ring's worker
    /// or on the thread that drops a future whose operation had completed.
    Salvage(fn(Resources, i32)),
}

impl std::fmt::Debug for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpKind::Plain => "Plain",
            OpKind::ReturnsFd => "ReturnsFd",
            OpKind::Salvage(_) => "Salvage",
        })
    }
}

impl Slot {
    /// What the driver must do for this slot's completed, orphaned operation; a salvage runs
    /// here. Call with no lock held.
    fn finish_orphaned(self, result: i32) -> Leftover {
        match self.kind {
            OpKind::ReturnsFd if result >= 0 => Leftover::CloseFd(result),
            OpKind::Salvage(f) => {
                f(self.resources.expect("present until completion"), result);
                Leftover::Nothing
            }
            // The resources (buffers, the file they were read into) are freed here, after the
            // kernel finished with them.
            _ => Leftover::Nothing,
        }
    }
}

/// What the driver must do once an orphaned operation completed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Leftover {
    Nothing,
    /// Close this descriptor, delivered to a future that is gone.
    CloseFd(i32),
}

#[derive(Default)]
pub(crate) struct Ops {
    slots: Mutex<Slab<Slot>>,
    /// Operations taken and completed (written under the `slots` lock).
    submitted: Counter,
    completed: Counter,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("in_flight", &self.lock().len())
            .finish()
    }
}

impl Ops {
    fn lock(&self) -> MutexGuard<'_, Slab<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `resources` for a new operation; returns its key (the ring's user data).
    pub(crate) fn insert(&self, resources: Resources, kind: OpKind) -> usize {
        let mut slots = self.lock();
        self.submitted.incr();
        slots.insert(Slot {
            state: State::Waiting(None),
            resources: Some(resources),
            kind,
        })
    }

    /// The operation could not be submitted after all: the kernel never saw it.
    pub(crate) fn abandon(&self, key: usize) -> Resources {
        let mut slots = self.lock();
        // Not submitted after all: take back the count `insert` made.
        self.submitted.add(u64::MAX);
        let slot = slots.remove(key);
        drop(slots);
        slot.resources.expect("present until completion")
    }

    /// The kernel completed operation `key` with `result`. Returns the waker to wake (outside
    /// any lock) and what to clean up if the future is gone.
    pub(crate) fn complete(&self, key: usize, result: i32) -> (Option<Waker>, Leftover) {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(key) else {
            return (None, Leftover::Nothing);
        };
        self.completed.incr();
        match std::mem::replace(&mut slot.state, State::Done(result)) {
            State::Waiting(waker) => (waker, Leftover::Nothing),
            State::Orphaned => {
                let slot = slots.remove(key);
                drop(slots);
                (None, slot.finish_orphaned(result))
            }
            State::Done(_) => unreachable!("an operation completes once"),
        }
    }

    /// Polls operation `key`: its result and resources once complete.
    pub(crate) fn poll(&self, key: usize, cx: &mut Context<'_>) -> Poll<(i32, Resources)> {
        let mut slots = self.lock();
        let slot = &mut slots[key];
        match &mut slot.state {
            State::Done(result) => {
                let result = *result;
                let slot = slots.remove(key);
                Poll::Ready((result, slot.resources.expect("present until collected")))
            }
            State::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Orphaned => unreachable!("only the dropped future orphans its operation"),
        }
    }

    /// The future of operation `key` is dropped. Returns true if the operation is still in
    /// flight (the caller submits a cancel); otherwise its slot is freed here, and a descriptor
    /// it delivered is handed back to be closed.
    pub(crate) fn orphan(&self, key: usize) -> (bool, Leftover) {
        let mut slots = self.lock();
        let slot = &mut slots[key];
        match slot.state {
            State::Waiting(_) => {
                slot.state = State::Orphaned;
                (true, Leftover::Nothing)
            }
            State::Done(result) => {
                let slot = slots.remove(key);
                drop(slots);
                (false, slot.finish_orphaned(result))
            }
            State::Orphaned => unreachable!("orphaned once"),
        }
    }

    /// Operations submitted, completed, and in flight now (not completed).
    pub(crate) fn figures(&self) -> (u64, u64, u64) {
        let slots = self.lock();
        let in_flight = slots
            .iter()
            .filter(|(_, s)| !matches!(s.state, State::Done(_)))
            .count();
        (self.submitted.get(), self.completed.get(), in_flight as u64)
    }

    /// Keys of operations the kernel has not completed.
    pub(crate) fn in_flight(&self) -> Vec<usize> {
        self.lock()
            .iter()
            .filter(|(_, s)| !matches!(s.state, State::Done(_)))
            .map(|(k, _)| k)
            .collect()
    }

    /// The ring is being torn down while operations are still in flight after every attempt
    /// to cancel them: their resources are leaked rather than freed under the kernel.
    pub(crate) fn leak_in_flight(&self) {
        let mut slots = self.lock();
        for (_, slot) in slots.iter_mut() {
            if !matches!(slot.state, State::Done(_)) {
                std::mem::forget(slot.resources.take());
            }
        }
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    #[test]
    fn completion_hands_back_the_resources() {
        let ops = Ops::default();
        let key = ops.insert(Box::new(vec![1u8, 2, 3]), OpKind::Plain);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(ops.poll(key, &mut cx).is_pending());
        ops.complete(key, 3);
        let Poll::Ready((res, buf)) = ops.poll(key, &mut cx) else {
            panic!("done");
        };
        assert_eq!(res, 3);
        assert_eq!(*buf.downcast::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
        assert!(ops.in_flight().is_empty());
    }

    #[test]
    fn an_orphaned_open_closes_the_descriptor_it_delivered() {
        let ops = Ops::default();
        let key = ops.insert(Box::new(()), OpKind::ReturnsFd);
        assert_eq!(ops.orphan(key), (true, Leftover::Nothing));
        assert_eq!(ops.complete(key, 7).1, Leftover::CloseFd(7));
        assert!(ops.in_flight().is_empty());
        // Dropped after completing but before collecting: the same.
        let key = ops.insert(Box::new(()), OpKind::ReturnsFd);
        ops.complete(key, 9);
        assert_eq!(ops.orphan(key), (false, Leftover::CloseFd(9)));
    }

    #[test]
    fn an_orphaned_read_keeps_its_buffer_until_completion() {
        struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let freed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ops = Ops::default();
        let key = ops.insert(Box::new(Flag(freed.clone())), OpKind::Plain);
        ops.orphan(key);
        assert!(
            !freed.load(std::sync::atomic::Ordering::SeqCst),
            "the kernel may still write"
        );
        ops.complete(key, -libc::ECANCELED);
        assert!(freed.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn an_orphaned_salvage_gets_the_result_and_resources() {
        use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
        static GOT: AtomicI32 = AtomicI32::new(0);
        fn salvage(res: Resources, result: i32) {
            let v = res.downcast::<Vec<u8>>().expect("ours");
            GOT.store(result * 100 + v.len() as i32, SeqCst);
        }
        let ops = Ops::default();
        // Orphaned in flight, then completed.
        let key = ops.insert(Box::new(vec![0u8; 4]), OpKind::Salvage(salvage));
        assert_eq!(ops.orphan(key), (true, Leftover::Nothing));
        assert_eq!(GOT.load(SeqCst), 0);
        assert_eq!(ops.complete(key, 3).1, Leftover::Nothing);
        assert_eq!(GOT.load(SeqCst), 304);
        // Completed, then orphaned before the future collected it.
        let key = ops.insert(Box::new(vec![0u8; 2]), OpKind::Salvage(salvage));
        ops.complete(key, 1);
        assert_eq!(ops.orphan(key), (false, Leftover::Nothing));
        assert_eq!(GOT.load(SeqCst), 102);
        assert!(ops.in_flight().is_empty());
    }
}

/// The race of a future dropped on one thread (orphaning its operation, then submitting a
/// cancel if it was in flight) with the ring's completion reaped on another: the resources are
/// freed exactly once, a delivered descriptor is closed exactly once, a salvage runs exactly
/// once, whichever comes first.
#[cfg(all(test, weft_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn loom_orphan_races_completion() {
        loom::model(|| {
            let freed = Arc::new(AtomicUsize::new(0));
            let ops = Arc::new(Ops::default());
            let key = ops.insert(Box::new(Counted(freed.clone())), OpKind::ReturnsFd);
            let reaper = {
                let ops = ops.clone();
                loom::thread::spawn(move || ops.complete(key, 5).1)
            };
            let (_in_flight, dropped) = ops.orphan(key);
            let reaped = reaper.join().unwrap();
            let closes = [&dropped, &reaped]
                .iter()
                .filter(|l| ***l == Leftover::CloseFd(5))
                .count();
            assert_eq!(closes, 1, "the delivered descriptor is closed once");
            assert_eq!(freed.load(SeqCst), 1, "the resources are freed once");
            assert!(ops.in_flight().is_empty());
        });
    }

    #[test]
    fn loom_orphan_races_completion_of_a_salvage() {
        static SALVAGED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        fn salvage(res: Resources, result: i32) {
            assert_eq!(result, 3);
            drop(res);
            SALVAGED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        loom::model(|| {
            SALVAGED.store(0, std::sync::atomic::Ordering::SeqCst);
            let freed = Arc::new(AtomicUsize::new(0));
            let ops = Arc::new(Ops::default());
            let key = ops.insert(Box::new(Counted(freed.clone())), OpKind::Salvage(salvage));
            let reaper = {
                let ops = ops.clone();
                loom::thread::spawn(move || ops.complete(key, 3))
            };
            ops.orphan(key);
            let (waker, _) = reaper.join().unwrap();
            assert!(waker.is_none(), "nobody polled it");
            assert_eq!(SALVAGED.load(std::sync::atomic::Ordering::SeqCst), 1);
            assert_eq!(freed.load(SeqCst), 1);
        });
    }
}
