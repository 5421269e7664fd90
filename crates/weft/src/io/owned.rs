//! Owned-buffer reads and writes on a socket: on io_uring, `RECV` and `SEND` operations on the
//! ring into a buffer the caller hands over (the true completion path, no readiness round
//! trip); on epoll, the readiness path into the same buffer.
//!
//! A receive whose future is dropped while it is in flight is cancelled, but the kernel may
//! have completed it first: its bytes go to the stream's [`Stash`], and the next read of that
//! stream (owned or not) returns them before anything newer. Until such a receive has
//! finished, reads of the stream wait for it, so bytes never come out of order.

use super::op::{Op, OpKind, Submitted};
use super::source::IoSource;
use crate::sys::ops::Resources;
use crate::sys::Direction;
use io_uring::{opcode, types};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Spare capacity reserved for an owned read into a buffer that has none.
const DEFAULT_READ: usize = 8 * 1024;

/// Bytes a stream received for a read that was dropped, and receives still in flight.
#[derive(Debug, Default)]
pub(crate) struct Stash {
    /// Set while `inner` holds bytes or receives are in flight: the fast path of every read
    /// is one load of this flag.
    busy: AtomicBool,
    inner: Mutex<StashInner>,
}

#[derive(Debug, Default)]
struct StashInner {
    bytes: std::collections::VecDeque<u8>,
    in_flight: usize,
    waiters: Vec<Waker>,
}

impl Stash {
    fn lock(&self) -> MutexGuard<'_, StashInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while the stash holds bytes or receives are in flight.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    fn update_busy(&self, inner: &StashInner) {
        let busy = inner.in_flight > 0 || !inner.bytes.is_empty();
        self.busy.store(busy, Ordering::Release);
    }

    /// Before a read of the stream: `Ready(Some(n))` if stashed bytes were copied into `buf`,
    /// `Ready(None)` if the read may go to the socket, `Pending` while a receive is in flight.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Option<usize>> {
        if !self.busy.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        let mut inner = self.lock();
        if !inner.bytes.is_empty() {
            let n = buf.len().min(inner.bytes.len());
            for (dst, src) in buf.iter_mut().zip(inner.bytes.drain(..n)) {
                *dst = src;
            }
            self.update_busy(&inner);
            return Poll::Ready(Some(n));
        }
        if inner.in_flight > 0 {
            if !inner.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                inner.waiters.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(None)
    }

    /// Waits (blocking, a bounded while) until no receive of the stream is in flight, calling
    /// `reap` to collect completions meanwhile; then takes every stashed byte. A receive's
    /// cancellation was submitted when its future was dropped, so this is short.
    pub(crate) fn settle(&self, reap: impl Fn()) -> Vec<u8> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.lock().in_flight > 0 && std::time::Instant::now() < deadline {
            reap();
            // A syscall: on io_uring it also runs completion work queued for this thread.
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        let mut inner = self.lock();
        let bytes = inner.bytes.drain(..).collect();
        self.update_busy(&inner);
        bytes
    }

    fn begin(&self) {
        let mut inner = self.lock();
        inner.in_flight += 1;
        self.update_busy(&inner);
    }

    /// A receive finished; `bytes` (possibly empty) are what it read for nobody.
    fn end(&self, bytes: &[u8]) {
        let waiters = {
            let mut inner = self.lock();
            inner.in_flight -= 1;
            inner.bytes.extend(bytes);
            self.update_busy(&inner);
            std::mem::take(&mut inner.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }
}

/// A receive's buffer and where its bytes land, with the stash that takes them if its future
/// is gone.
struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    stash: Arc<Stash>,
}

/// Ends a receive. Always runs, for a future that collects the result and for a dropped one.
fn finish_recv(res: &mut RecvBuf, result: i32) -> usize {
    let n = result.max(0) as usize;
    // SAFETY: the kernel wrote `n` bytes into the spare capacity after `start` (a receive
    // writes at most the length it was given, which fits in that capacity).
    unsafe { res.buf.set_len(res.start + n) };
    n
}

/// The future of a receive is gone: its bytes go to the stream.
fn salvage_recv(res: Resources, result: i32) {
    let mut res = *res.downcast::<RecvBuf>().expect("a receive's resources");
    let n = finish_recv(&mut res, result);
    res.stash.end(&res.buf[res.start..res.start + n]);
}

/// Reads into `buf`'s spare capacity (8 KiB is reserved if it has none), appending; returns
/// the count (0 at end of stream) and the buffer, which comes back in every case.
pub(crate) async fn read_owned<T>(
    source: &IoSource<T>,
    stash: &Arc<Stash>,
    mut buf: Vec<u8>,
) -> (io::Result<usize>, Vec<u8>)
where
    T: AsRawFd,
    for<'a> &'a T: io::Read,
{
    if buf.capacity() == buf.len() {
        buf.reserve(DEFAULT_READ);
    }
    let spare = buf.capacity() - buf.len();
    let start = buf.len();
    // Stashed bytes first, and none while an earlier receive is still in flight (the common
    // case, an idle stash, costs one load and no zeroing of the buffer).
    if stash.busy.load(Ordering::Acquire) {
        buf.resize(start + spare.min(64 * 1024), 0);
        let taken = std::future::poll_fn(|cx| stash.poll_take(cx, &mut buf[start..])).await;
        if let Some(n) = taken {
            buf.truncate(start + n);
            return (Ok(n), buf);
        }
        buf.truncate(start);
    }
    let len = spare.min(u32::MAX as usize) as u32;
    // SAFETY: `start` is the buffer's length, so the pointer is at its spare capacity.
    let ptr = unsafe { buf.as_mut_ptr().add(start) };
    let entry = opcode::Recv::new(types::Fd(source.get_ref().as_raw_fd()), ptr, len).build();
    stash.begin();
    let res = RecvBuf {
        buf,
        start,
        stash: stash.clone(),
    };
    // SAFETY: the entry points into the spare capacity of `res.buf`, heap memory the resources
    // own (it does not move with them), `len` bytes long; the descriptor is this source's,
    // open while `source` is borrowed, and submitted as borrowed.
    let submitted =
        unsafe { Op::submit(entry, Box::new(res), OpKind::Salvage(salvage_recv), true) };
    let res = match submitted {
        Submitted::Ring(op) => {
            let (result, res) = op.await;
            let mut res = *res.downcast::<RecvBuf>().expect("a receive's resources");
            let n = finish_recv(&mut res, *result.as_ref().unwrap_or(&0) as i32);
            res.stash.end(&[]);
            return (result.map(|_| n), res.buf);
        }
        Submitted::Failed(e, res) => {
            let res = *res.downcast::<RecvBuf>().expect("a receive's resources");
            res.stash.end(&[]);
            return (Err(e), res.buf);
        }
        Submitted::NotRing(res) => *res.downcast::<RecvBuf>().expect("a receive's resources"),
    };
    // Not on a ring's worker: read when the socket is ready.
    res.stash.end(&[]);
    let mut buf = res.buf;
    buf.resize(start + len as usize, 0);
    let result = source
        .io(Direction::Read, |s| {
            io::Read::read(&mut &*s, &mut buf[start..])
        })
        .await;
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    (result, buf)
}

/// A send's buffer.
struct SendBuf(Vec<u8>);

/// Writes all of `buf`, handing it back in every case. Dropped before it completes, it may
/// have written a prefix of `buf` (as `write_all` may).
pub(crate) async fn write_all_owned<T>(
    source: &IoSource<T>,
    buf: Vec<u8>,
) -> (io::Result<()>, Vec<u8>)
where
    T: AsRawFd,
    for<'a> &'a T: io::Write,
{
    let mut sent = 0;
    let mut buf = buf;
    while sent < buf.len() {
        let len = (buf.len() - sent).min(u32::MAX as usize) as u32;
        // SAFETY: `sent` is within the buffer.
        let ptr = unsafe { buf.as_ptr().add(sent) };
        let entry = opcode::Send::new(types::Fd(source.get_ref().as_raw_fd()), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        // SAFETY: the entry points into the heap buffer of the `SendBuf` the resources own, and
        // at this source's descriptor, open while `source` is borrowed and submitted as
        // borrowed.
        let submitted = unsafe { Op::submit(entry, Box::new(SendBuf(buf)), OpKind::Plain, true) };
        let (result, back) = match submitted {
            Submitted::Ring(op) => {
                let (result, res) = op.await;
                let back = res.downcast::<SendBuf>().expect("a send's resources").0;
                (result.map(|n| n as usize), back)
            }
            Submitted::Failed(e, res) => {
                let back = res.downcast::<SendBuf>().expect("a send's resources").0;
                return (Err(e), back);
            }
            Submitted::NotRing(res) => {
                let back = res.downcast::<SendBuf>().expect("a send's resources").0;
                let result = source
                    .io(Direction::Write, |s| {
                        io::Write::write(&mut &*s, &back[sent..])
                    })
                    .await;
                (result, back)
            }
        };
        buf = back;
        match result {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
