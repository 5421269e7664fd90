//! The readiness of one I/O source, shared by the tasks that use it and the driver that reports
//! its events. Pure: no syscalls.
//!
//! The state word holds the readiness bits in its low byte and a tick above them, bumped by every
//! event. A task that saw a source ready and then got `WouldBlock` from the syscall clears the
//! bits it saw only if the tick has not moved since, so an event that arrived in between is
//! never lost (tokio's `ScheduledIo` does the same).
//!
//! Both backends report edges (epoll with `EPOLLET`, io_uring with a multishot poll, which is
//! edge-triggered): a source is assumed ready when it is registered, so the first read or write
//! is tried at once and the first `WouldBlock` clears the bit until the next edge.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

pub(crate) const READABLE: usize = 1;
pub(crate) const WRITABLE: usize = 2;
pub(crate) const READ_CLOSED: usize = 4;
pub(crate) const WRITE_CLOSED: usize = 8;
pub(crate) const ERROR: usize = 16;
/// Urgent (out-of-band) data was pending when the source was last reported: a read may stop
/// short at its mark with more bytes behind it. Never cleared: a socket that saw it loses
/// the short-read shortcut (see `IoSource::poll_stream_io`).
pub(crate) const PRIORITY: usize = 32;
const READINESS: usize = 0xff;
const TICK_SHIFT: u32 = 8;

/// Which half of a source a task waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The bits that make this direction worth a syscall: readiness, or a state the syscall
    /// reports (end of stream, an error).
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

/// What a task saw when the source was ready: pass it back to [`ScheduledIo::clear`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadyEvent {
    tick: usize,
    ready: usize,
}

impl ReadyEvent {
    /// Urgent data was pending: a short read says nothing about what is left.
    pub(crate) fn has_priority(&self) -> bool {
        self.ready & PRIORITY != 0
    }
}

/// The tasks waiting on each direction. Usually at most one each (a stream's reader and its
/// writer); a listener or socket shared by several tasks may have more, all woken by an event.
#[derive(Debug, Default)]
struct Waiters {
    read: Vec<Waker>,
    write: Vec<Waker>,
}

#[derive(Debug)]
pub(crate) struct ScheduledIo {
    state: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl Default for ScheduledIo {
    fn default() -> Self {
        Self::new()
    }
}

impl ScheduledIo {
    /// A source assumed readable and writable until a syscall says otherwise.
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(READABLE | WRITABLE),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the driver: `bits` became ready. Wakes the tasks waiting on them.
    pub(crate) fn set_ready(&self, bits: usize) {
        let bits = bits & READINESS;
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                let tick = (s >> TICK_SHIFT).wrapping_add(1);
                Some((tick << TICK_SHIFT) | (s & READINESS) | bits)
            });
        // The bits are published before the lock is taken, and a task re-reads them under the
        // lock after storing its waker: either it sees them or its waker is here to be woken.
        // Woken outside the lock. The usual one or two wakers go through the stack, so an
        // event allocates nothing; the lists keep their capacity for the next waits.
        let mut few: [Option<Waker>; 4] = [const { None }; 4];
        let mut more = Vec::new();
        {
            let mut w = self.waiters();
            let mut n = 0;
            let mut take = |list: &mut Vec<Waker>| {
                for waker in list.drain(..) {
                    match few.get_mut(n) {
                        Some(slot) => {
                            *slot = Some(waker);
                            n += 1;
                        }
                        None => more.push(waker),
                    }
                }
            };
            if bits & Direction::Read.mask() != 0 {
                take(&mut w.read);
            }
            if bits & Direction::Write.mask() != 0 {
                take(&mut w.write);
            }
        }
        for w in few.into_iter().flatten().chain(more) {
            w.wake();
        }
    }

    /// Ready if `dir`'s bits are set; otherwise stores the task's waker and returns `Pending`.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        if let Some(ev) = self.ready(dir) {
            return Poll::Ready(ev);
        }
        let mut w = self.waiters();
        let list = match dir {
            Direction::Read => &mut w.read,
            Direction::Write => &mut w.write,
        };
        if !list.iter().any(|w| w.will_wake(cx.waker())) {
            list.push(cx.waker().clone());
        }
        match self.ready(dir) {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        }
    }

    fn ready(&self, dir: Direction) -> Option<ReadyEvent> {
        let s = self.state.load(Ordering::Acquire);
        let ready = s & dir.mask();
        // `PRIORITY` rides along with a read's readiness but never makes a source ready by
        // itself (it is never cleared).
        let priority = if dir == Direction::Read {
            s & PRIORITY
        } else {
            0
        };
        (ready != 0).then_some(ReadyEvent {
            tick: s >> TICK_SHIFT,
            ready: ready | priority,
        })
    }

    /// The syscall said `WouldBlock`: clears the readiness `ev` saw, unless an event came since.
    /// End-of-stream and error bits stay: they are final.
    pub(crate) fn clear(&self, ev: ReadyEvent) {
        let clear = ev.ready & (READABLE | WRITABLE);
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s >> TICK_SHIFT == ev.tick).then_some(s & !clear)
            });
    }

    /// Wakes every waiting task (the source's driver is gone: they will see an error).
    pub(crate) fn wake_all(&self) {
        self.set_ready(READABLE | WRITABLE | ERROR);
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn starts_ready_then_waits_for_an_edge() {
        let io = ScheduledIo::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("a new source is assumed ready");
        };
        io.clear(ev);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
        // Writing is still assumed ready: clearing the read side left it alone.
        assert!(io.poll_ready(&mut cx, Direction::Write).is_ready());
        io.set_ready(READABLE);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready());
    }

    #[test]
    fn an_event_between_ready_and_clear_is_kept() {
        let io = ScheduledIo::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("ready");
        };
        io.set_ready(READABLE);
        io.clear(ev);
        assert!(
            io.poll_ready(&mut cx, Direction::Read).is_ready(),
            "the newer event survives a stale clear"
        );
    }

    #[test]
    fn closed_and_error_bits_are_final() {
        let io = ScheduledIo::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        io.set_ready(READ_CLOSED);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("ready");
        };
        io.clear(ev);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready());
    }

    #[test]
    fn a_waker_is_stored_once() {
        let io = ScheduledIo::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Write) else {
            panic!("ready");
        };
        io.clear(ev);
        for _ in 0..10 {
            assert!(io.poll_ready(&mut cx, Direction::Write).is_pending());
        }
        io.set_ready(WRITABLE);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    /// More waiters than the wake-up's stack room: every one is woken, once, both ways.
    #[test]
    fn many_waiters_are_all_woken() {
        let io = ScheduledIo::new();
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        for dir in [Direction::Read, Direction::Write] {
            let Poll::Ready(ev) = io.poll_ready(&mut cx, dir) else {
                panic!("ready");
            };
            io.clear(ev);
        }
        let counts: Vec<_> = (0..9)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        for (i, c) in counts.iter().enumerate() {
            let waker = Waker::from(c.clone());
            let dir = if i % 3 == 0 {
                Direction::Write
            } else {
                Direction::Read
            };
            assert!(io
                .poll_ready(&mut Context::from_waker(&waker), dir)
                .is_pending());
        }
        io.set_ready(READABLE | WRITABLE);
        for c in &counts {
            assert_eq!(c.0.load(Ordering::SeqCst), 1);
        }
        // The lists are empty now: a second event wakes nobody again.
        io.set_ready(READABLE | WRITABLE);
        for c in &counts {
            assert_eq!(c.0.load(Ordering::SeqCst), 1);
        }
    }
}
