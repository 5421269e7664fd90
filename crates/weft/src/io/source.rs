//! An OS object registered with a worker's I/O driver: the glue between a socket and the
//! readiness its driver reports.

#![forbid(unsafe_code)]

use crate::runtime::scheduler::coop;
use crate::runtime::shared::Shared;
use crate::runtime::{context, global};
use crate::sys::readiness::ReadyEvent;
use crate::sys::{Direction, ScheduledIo};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// Spreads sources registered from outside the workers over the workers' drivers.
static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

/// A source's registration with one worker's driver (its home), released on drop.
#[derive(Debug)]
struct Registration {
    shared: Arc<Shared>,
    home: usize,
    token: u64,
    io: Arc<ScheduledIo>,
}

pub(crate) fn shut_down() -> io::Error {
    io::Error::other("the weft executor this I/O object belongs to has shut down")
}

/// The driver new I/O goes to: the one of the worker running this code, or, off the workers,
/// a worker of the current executor in turn (the global runtime's outside any). Returns the
/// executor, the worker, and whether this thread is that worker.
pub(crate) fn home() -> io::Result<(Arc<Shared>, usize, bool)> {
    let on_worker = context::with_worker(|w| w.map(|w| (w.shared().clone(), w.index)));
    let (shared, home, local) = match on_worker {
        Some((shared, index)) => (shared, index, true),
        None => {
            let shared = context::current().unwrap_or_else(|| global().shared().clone());
            let home = NEXT_HOME.fetch_add(1, Ordering::Relaxed) % shared.num_workers();
            (shared, home, false)
        }
    };
    if shared.is_shutdown() {
        return Err(shut_down());
    }
    Ok((shared, home, local))
}

/// True on the thread of worker `index` of `shared`.
pub(crate) fn on_worker(shared: &Shared, index: usize) -> bool {
    context::with_worker(|w| w.is_some_and(|w| w.index == index && w.belongs_to(shared)))
}

impl Registration {
    /// Registers `fd` with the driver [`home`] picks.
    fn new(fd: std::os::fd::RawFd) -> io::Result<Self> {
        let (shared, home, local) = home()?;
        Self::with(fd, shared, home, local)
    }

    fn with(
        fd: std::os::fd::RawFd,
        shared: Arc<Shared>,
        home: usize,
        local: bool,
    ) -> io::Result<Self> {
        let io = Arc::new(ScheduledIo::new());
        let token = shared.drivers[home].register(fd, io.clone(), local)?;
        Ok(Self {
            shared,
            home,
            token,
            io,
        })
    }

    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        if self.shared.is_shutdown() {
            return Poll::Ready(Err(shut_down()));
        }
        self.io.poll_ready(cx, dir).map(Ok)
    }
}

/// A non-blocking OS object (a socket) whose readiness a driver tracks.
#[derive(Debug)]
pub(crate) struct IoSource<T: AsRawFd> {
    reg: Registration,
    /// `None` only while being dropped or taken apart.
    io: Option<T>,
}

impl<T: AsRawFd> IoSource<T> {
    /// Registers `io`, which must already be in non-blocking mode.
    pub(crate) fn new(io: T) -> io::Result<Self> {
        let reg = Registration::new(io.as_raw_fd())?;
        Ok(Self { reg, io: Some(io) })
    }

    /// Registers `io` with the global runtime, whichever executor runs this code: for sources
    /// that live as long as the process.
    pub(crate) fn new_global(io: T) -> io::Result<Self> {
        let shared = global().shared().clone();
        let home = NEXT_HOME.fetch_add(1, Ordering::Relaxed) % shared.num_workers();
        let reg = Registration::with(io.as_raw_fd(), shared, home, false)?;
        Ok(Self { reg, io: Some(io) })
    }

    pub(crate) fn get_ref(&self) -> &T {
        self.io.as_ref().expect("present until drop")
    }

    /// True once the executor whose driver this source is registered with has shut down:
    /// every operation on it fails from then on.
    pub(crate) fn is_orphaned(&self) -> bool {
        self.reg.shared.is_shutdown()
    }

    /// Runs the non-blocking syscall `op` once `dir` is ready, until it stops saying
    /// `WouldBlock`. Spends one unit of the cooperative budget when it completes.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_until(cx, dir, op, |_| false)
    }

    /// `poll_io` for a read or write of `len` bytes on a stream socket, where a short transfer
    /// means the socket's buffer was drained (a read) or filled (a write): the readiness seen
    /// is cleared then, so the next call waits for the next edge instead of making a syscall
    /// that would say `WouldBlock` (tokio does the same). Not after urgent data was reported
    /// (a read stops short at the urgent mark with bytes behind it), and not for datagrams or
    /// Unix streams, where a short read says nothing about the queue behind it (a datagram;
    /// a Unix read stops at a message carrying descriptors or other credentials).
    pub(crate) fn poll_stream_io(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_until(cx, dir, op, |&n| n > 0 && n < len)
    }

    /// `poll_stream_io` for a read that also says how many bytes the socket still holds
    /// (`Some(0)`: drained, so the readiness seen is cleared even after a full read; `None`:
    /// unknown, and a short read decides, as in `poll_stream_io`).
    pub(crate) fn poll_read_with_rest(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        op: impl FnMut(&T) -> io::Result<(usize, Option<usize>)>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_until(cx, Direction::Read, op, |&(n, rest)| {
            n > 0 && rest.map_or(n < len, |r| r == 0)
        })
        .map_ok(|(n, _)| n)
    }

    /// `poll_io`, clearing the readiness seen when `exhausted` says the result used it up.
    fn poll_io_until<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
        exhausted: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let coop = ready!(coop::poll_proceed(cx));
        loop {
            let ev = match ready!(self.reg.poll_ready(cx, dir)) {
                Ok(ev) => ev,
                Err(e) => {
                    // An error spends the budget too: a loop that ignores errors (an accept
                    // loop after shutdown) still yields, so it can be stopped.
                    coop.made_progress();
                    return Poll::Ready(Err(e));
                }
            };
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.reg.io.clear(ev),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => {
                    if res.as_ref().is_ok_and(&exhausted) && !ev.has_priority() {
                        self.reg.io.clear(ev);
                    }
                    coop.made_progress();
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// `poll_io` as a future.
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_io(cx, dir, &mut op)).await
    }

    /// Handles the completions every driver of the executor has posted (see
    /// `Driver::poll_foreign`).
    pub(crate) fn reap_all(&self) {
        for d in self.reg.shared.drivers.iter() {
            d.poll_foreign();
        }
    }

    /// Deregisters the object and hands it back, still non-blocking.
    pub(crate) fn into_inner(mut self) -> T {
        let io = self.io.take().expect("present until drop");
        self.deregister(io.as_raw_fd());
        io
    }

    fn deregister(&self, fd: std::os::fd::RawFd) {
        let local = on_worker(&self.reg.shared, self.reg.home);
        self.reg.shared.drivers[self.reg.home].deregister(fd, self.reg.token, local);
    }
}

impl<T: AsRawFd> Drop for IoSource<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Deregistered before it is closed, so the descriptor number cannot be reused
            // under the registration.
            self.deregister(io.as_raw_fd());
            drop(io);
        }
    }
}
