//! The io_uring backend: one ring per worker. Each source gets one multishot `POLL_ADD` (edge
//! triggered, as epoll's `EPOLLET`), so the ring reports readiness and the read or write itself
//! is a plain syscall into the caller's buffer: no copy, and no buffer the kernel could write
//! into after its future was dropped. Dropping a source submits an `ASYNC_CANCEL`; its slab
//! entry is freed when the poll's last completion arrives.
//!
//! Any thread may queue an entry (a source registered or dropped off its worker, a task that
//! moved): pushes to the submission queue are serialised by a mutex. Only the ring's worker
//! enters the kernel, at its next poll or park (a push from another thread wakes it if it is
//! parked), and reaps completions. That matters: the kernel runs a request's completion work on
//! the thread that submitted it, so a connection accepted on a `block_on` thread and submitted
//! from there would have every readiness event of its life interrupt that thread to be passed
//! on. The ring is set up with `COOP_TASKRUN` (no inter-processor interrupt to post a
//! completion; the worker's own syscalls run the work) and `TASKRUN_FLAG` (a busy worker sees
//! when work is waiting). Once the executor shuts down, pushes submit at once.
//!
//! The worker parks in `io_uring_enter` with a `timespec` timeout (`IORING_ENTER_EXT_ARG`); an
//! eventfd, watched by a multishot poll of its own, wakes it from other threads.

use super::ops::{Leftover, OpKind, Ops, Resources};
use super::readiness::{
    ScheduledIo, ERROR, PRIORITY, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED,
};
use super::sources::{ParkState, Sources, INTERNAL};
use crate::runtime::metrics::{IoCounters, IoFigures};
use io_uring::{opcode, squeue, types, IoUring, Probe};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAKE_TOKEN: u64 = INTERNAL;
const CANCEL_TOKEN: u64 = INTERNAL | 1;
/// Tokens of completion-based operations carry this bit and their slot's key.
const OP: u64 = 1 << 62;

/// Submission queue entries per ring; the completion queue is four times larger.
pub(crate) const ENTRIES: u32 = 256;

const POLL_EVENTS: u32 = (libc::POLLIN | libc::POLLPRI | libc::POLLOUT | libc::POLLRDHUP) as u32;

pub(crate) struct UringDriver {
    ring: IoUring,
    /// Held while a thread pushes to the submission queue.
    sq: Mutex<()>,
    /// Held while the worker reaps completions (only it does; the mutex makes that checkable).
    cq: Mutex<Vec<(u64, i32, u32)>>,
    /// Entries pushed and not yet submitted.
    unsubmitted: AtomicBool,
    /// The executor shut down: its worker may be gone, so pushes submit themselves. Written
    /// under the `sq` mutex.
    closed: AtomicBool,
    wake: OwnedFd,
    park: ParkState,
    sources: Sources,
    ops: Ops,
    counters: IoCounters,
}

impl std::fmt::Debug for UringDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDriver")
            .field("ring", &self.ring.as_raw_fd())
            .finish_non_exhaustive()
    }
}

impl UringDriver {
    /// Sets up a ring of the size weft uses and checks that it offers what weft needs.
    pub(crate) fn new() -> io::Result<Self> {
        let ring = IoUring::builder()
            .setup_cqsize(ENTRIES * 4)
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(ENTRIES)
            .or_else(|_| {
                // Before Linux 5.19: without the task-run flags.
                IoUring::builder().setup_cqsize(ENTRIES * 4).build(ENTRIES)
            })
            .map_err(|e| unavailable(format!("io_uring_setup failed: {e}"), e))?;
        if !ring.params().is_feature_ext_arg() {
            return Err(unavailable(
                "the kernel's io_uring has no timeout on waits (IORING_FEAT_EXT_ARG)".into(),
                io::Error::from_raw_os_error(libc::ENOSYS),
            ));
        }
        if !ring.params().is_feature_nodrop() {
            return Err(unavailable(
                "the kernel's io_uring may drop completions (no IORING_FEAT_NODROP)".into(),
                io::Error::from_raw_os_error(libc::ENOSYS),
            ));
        }
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| unavailable(format!("IORING_REGISTER_PROBE failed: {e}"), e))?;
        for (code, name) in [
            (opcode::PollAdd::CODE, "POLL_ADD"),
            (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
            (opcode::Read::CODE, "READ"),
            (opcode::Write::CODE, "WRITE"),
            (opcode::OpenAt::CODE, "OPENAT"),
            (opcode::Fsync::CODE, "FSYNC"),
            (opcode::Recv::CODE, "RECV"),
            (opcode::Send::CODE, "SEND"),
        ] {
            if !probe.is_supported(code) {
                return Err(unavailable(
                    format!("the kernel's io_uring lacks IORING_OP_{name}"),
                    io::Error::from_raw_os_error(libc::ENOSYS),
                ));
            }
        }
        let driver = Self {
            ring,
            sq: Mutex::new(()),
            cq: Mutex::new(Vec::with_capacity(ENTRIES as usize)),
            unsubmitted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            wake: super::eventfd()?,
            park: ParkState::default(),
            sources: Sources::default(),
            ops: Ops::default(),
            counters: IoCounters::default(),
        };
        // Queued only: the worker submits it, so the eventfd's completions run on the worker.
        driver.arm_wake()?;
        Ok(driver)
    }

    fn arm_wake(&self) -> io::Result<()> {
        self.push(&Self::wake_entry(self.wake.as_raw_fd()), Submit::Later)
    }

    fn wake_entry(fd: RawFd) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKE_TOKEN)
    }

    /// Queues `entry`, to be submitted as `when` says.
    fn push(&self, entry: &squeue::Entry, when: Submit) -> io::Result<()> {
        let guard = self.sq.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the `sq` mutex is held, so no other `SubmissionQueue` of this ring exists.
        let mut sq = unsafe { self.ring.submission_shared() };
        let alone = sq.is_empty();
        // SAFETY: an entry's pointers, if any, point into the resources of an operation slot,
        // which keeps them until the operation completes (`submit_op`'s contract); polls and
        // cancels carry none.
        while unsafe { sq.push(entry) }.is_err() {
            // Full: hand the queued entries to the kernel to make room.
            sq.sync();
            self.ring.submit()?;
            sq.sync();
        }
        sq.sync();
        drop(sq);
        let now = match when {
            Submit::Now => true,
            // Nothing else is queued, so this thread's enter submits only this entry, and none
            // of the worker's requests gets its completion work tied to this thread.
            Submit::Urgent => alone,
            Submit::Later | Submit::Foreign => false,
        };
        if now || self.closed.load(Ordering::Relaxed) {
            // The entry is in the ring now, whatever `submit` says: a failed enter leaves it for
            // the next one, and its resources must stay with it.
            let _ = self.ring.submit();
            return Ok(());
        }
        drop(guard);
        self.unsubmitted.store(true, Ordering::Release);
        if matches!(when, Submit::Foreign | Submit::Urgent) {
            self.unpark();
        }
        Ok(())
    }

    /// The executor is shutting down: wakes every source's tasks, and from now on pushes submit
    /// at once, since the worker may have exited.
    pub(crate) fn shutdown(&self) {
        self.sources.wake_all();
        let _guard = self.sq.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::Relaxed);
        let _ = self.ring.submit();
    }

    fn poll_entry(fd: RawFd, token: u64) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(fd), POLL_EVENTS)
            .multi(true)
            .build()
            .user_data(token)
    }

    pub(crate) fn register(&self, fd: RawFd, io: Arc<ScheduledIo>, local: bool) -> io::Result<u64> {
        let token = self.sources.insert(io, fd);
        if let Err(e) = self.push(&Self::poll_entry(fd, token), Submit::from(local)) {
            let mut slab = self.sources.lock();
            if let Some(k) = Sources::key(&slab, token) {
                slab.remove(k);
            }
            return Err(e);
        }
        Ok(token)
    }

    /// Cancels a source's poll. Its descriptor may be closed right after: the poll holds its own
    /// reference to the file until the cancellation completes. `local` is true on the ring's
    /// worker.
    pub(crate) fn deregister(&self, token: u64, local: bool) {
        {
            let mut slab = self.sources.lock();
            match Sources::key(&slab, token) {
                Some(k) => slab[k].cancelled = true,
                None => return,
            }
        }
        let entry = opcode::AsyncCancel::new(token)
            .build()
            .user_data(CANCEL_TOKEN);
        // Until it runs, the poll keeps the socket open and the peer does not see it closed, so
        // it does not wait for the worker's next poll (which a busy worker may not reach for
        // long).
        let _ = self.push(&entry, Submit::urgent(local));
    }

    pub(crate) fn unpark(&self) {
        if self.park.notify() {
            super::eventfd_write(&self.wake);
        }
    }

    pub(crate) fn park(&self, timeout: Option<Duration>) -> bool {
        if !self.park.enter_park() {
            return self.poll();
        }
        self.unsubmitted.store(false, Ordering::Relaxed);
        let submitter = self.ring.submitter();
        // ETIME (the timeout passed), EINTR and EBUSY all mean: look at the queues again.
        let _ = match timeout {
            Some(d) => {
                let ts = types::Timespec::from(d);
                submitter.submit_with_args(1, &types::SubmitArgs::new().timespec(&ts))
            }
            None => submitter.submit_and_wait(1),
        };
        self.park.leave_park();
        self.reap()
    }

    /// Submits what the worker queued and handles completions, without blocking; true if a
    /// task was woken.
    pub(crate) fn poll(&self) -> bool {
        let taskrun = {
            let _guard = self.sq.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: the `sq` mutex is held, so no other `SubmissionQueue` of this ring exists.
            unsafe { self.ring.submission_shared() }.taskrun()
        };
        if self.unsubmitted.swap(false, Ordering::Acquire) || taskrun {
            // With completion work waiting, `submit` enters with GETEVENTS, which runs it.
            let _ = self.ring.submit();
        }
        self.reap()
    }

    /// From another worker with nothing to do: handles the completions already posted, unless
    /// the owner is reaping, so they do not wait for a busy owner's next poll. Never enters
    /// the kernel (only the owner does). True if a task was woken (on the calling worker).
    pub(crate) fn poll_foreign(&self) -> bool {
        match self.cq.try_lock() {
            Ok(done) => self.reap_with(done, true),
            Err(_) => false,
        }
    }

    fn reap(&self) -> bool {
        let done = self.cq.lock().unwrap_or_else(|e| e.into_inner());
        self.reap_with(done, false)
    }

    /// `foreign`: another worker reaps, so what it queues must wake the owner to submit it.
    fn reap_with(
        &self,
        mut done: std::sync::MutexGuard<'_, Vec<(u64, i32, u32)>>,
        foreign: bool,
    ) -> bool {
        let rearm = if foreign {
            Submit::Foreign
        } else {
            Submit::Later
        };
        done.clear();
        {
            // SAFETY: the `cq` mutex is held, so no other `CompletionQueue` of this ring exists.
            let cq = unsafe { self.ring.completion_shared() };
            done.extend(cq.map(|c| (c.user_data(), c.result(), c.flags())));
        }
        if done.is_empty() {
            return false;
        }
        let mut woke = false;
        let mut ready = Vec::new();
        let mut completed = Vec::new();
        {
            let mut slab = self.sources.lock();
            for &(token, result, flags) in done.iter() {
                let more = io_uring::cqueue::more(flags);
                if token == WAKE_TOKEN {
                    super::eventfd_read(&self.wake);
                    if !more {
                        let _ = self.push(&Self::wake_entry(self.wake.as_raw_fd()), rearm);
                    }
                    continue;
                }
                if token & INTERNAL != 0 {
                    continue;
                }
                if token & OP != 0 {
                    let (waker, leftover) = self.ops.complete((token & !OP) as usize, result);
                    if let Leftover::CloseFd(fd) = leftover {
                        // SAFETY: the kernel just handed this new descriptor to an operation
                        // whose future is gone: nothing else owns it.
                        drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
                    }
                    if let Some(w) = waker {
                        completed.push(w);
                    }
                    continue;
                }
                let Some(key) = Sources::key(&slab, token) else {
                    continue;
                };
                let entry = &slab[key];
                if result >= 0 {
                    ready.push((entry.io.clone(), bits(result as u32)));
                } else if !entry.cancelled && result != -libc::ECANCELED {
                    ready.push((entry.io.clone(), ERROR));
                }
                if !more {
                    if entry.cancelled || result < 0 {
                        // The kernel is done with it.
                        slab.remove(key);
                    } else {
                        // The multishot poll ended on its own (the kernel may end one under
                        // memory pressure): arm it again.
                        let fd = entry.fd;
                        let _ = self.push(&Self::poll_entry(fd, token), rearm);
                    }
                }
            }
        }
        // Still under the completion queue's lock: this thread is the counter's only writer.
        self.counters.events.add(ready.len() as u64);
        drop(done);
        for (io, bits) in ready {
            io.set_ready(bits);
            woke = true;
        }
        for w in completed {
            w.wake();
            woke = true;
        }
        woke
    }

    /// Submits a completion-based operation that borrows `resources` until it completes;
    /// returns the key to poll it with. `local` is true on the ring's own worker; `now` (only
    /// there) submits at once. On failure the resources come back: the kernel never saw
    /// them.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must point into heap memory owned by `resources` (which does
    /// not move when the box does), valid for what the operation does with it.
    pub(crate) unsafe fn submit_op(
        &self,
        entry: squeue::Entry,
        resources: Resources,
        kind: OpKind,
        local: bool,
        now: bool,
    ) -> Result<usize, (io::Error, Resources)> {
        let key = self.ops.insert(resources, kind);
        let entry = entry.user_data(OP | key as u64);
        debug_assert!(local || !now, "only the ring's worker submits at once");
        let when = match (local, now) {
            (true, true) => Submit::Now,
            (true, false) => Submit::Later,
            (false, _) => Submit::Foreign,
        };
        match self.push(&entry, when) {
            Ok(()) => Ok(key),
            Err(e) => Err((e, self.ops.abandon(key))),
        }
    }

    pub(crate) fn figures(&self) -> IoFigures {
        let (submitted, completed, in_flight) = self.ops.figures();
        IoFigures {
            events: self.counters.events.get(),
            submitted,
            completed,
            in_flight,
            sources: self.sources.len() as u64,
        }
    }

    pub(crate) fn poll_op(
        &self,
        key: usize,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<(i32, Resources)> {
        self.ops.poll(key, cx)
    }

    /// The future of operation `key` is gone: cancels it if it is still in flight (its
    /// resources are freed when it completes). `local` is true on the ring's worker.
    pub(crate) fn drop_op(&self, key: usize, local: bool) {
        let (in_flight, leftover) = self.ops.orphan(key);
        if let Leftover::CloseFd(fd) = leftover {
            // SAFETY: a descriptor the kernel delivered that no future took: nothing owns it.
            drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        }
        if in_flight {
            let cancel = opcode::AsyncCancel::new(OP | key as u64)
                .build()
                .user_data(CANCEL_TOKEN);
            // An operation in flight holds its file (a socket stays open for the peer) and
            // may still consume bytes: its cancellation goes out at once.
            let _ = self.push(&cancel, Submit::urgent(local));
        }
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        self.sources.wake_all();
        // Polls carry no memory of ours, but operations do: the kernel may still write into
        // their buffers, so cancel them and wait (a bounded while) for their completions before
        // the ring goes. Whatever is still in flight then is leaked, never freed under the
        // kernel.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let mut cancelled = false;
        loop {
            let in_flight = self.ops.in_flight();
            if in_flight.is_empty() {
                break;
            }
            if !cancelled {
                for key in in_flight {
                    let cancel = opcode::AsyncCancel::new(OP | key as u64)
                        .build()
                        .user_data(CANCEL_TOKEN);
                    let _ = self.push(&cancel, Submit::Now);
                }
                cancelled = true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                self.ops.leak_in_flight();
                break;
            }
            let ts = types::Timespec::from(left.min(Duration::from_millis(100)));
            let _ = self
                .ring
                .submitter()
                .submit_with_args(1, &types::SubmitArgs::new().timespec(&ts));
            self.reap();
        }
    }
}

/// When a pushed entry reaches the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Submit {
    /// The ring's worker pushed it: at its next poll or park.
    Later,
    /// The ring's worker pushed it and it cannot wait.
    Now,
    /// Another thread pushed it: the worker is woken if parked, and submits it.
    Foreign,
    /// Another thread pushed it and it should not wait for a busy worker: that thread submits
    /// it if nothing else is queued (else as `Foreign`).
    Urgent,
}

impl Submit {
    /// For an entry that must reach the kernel soon (a cancellation): at once on the ring's
    /// worker, `Urgent` elsewhere.
    fn urgent(local: bool) -> Self {
        if local {
            Submit::Now
        } else {
            Submit::Urgent
        }
    }
}

impl From<bool> for Submit {
    fn from(local: bool) -> Self {
        if local {
            Submit::Later
        } else {
            Submit::Foreign
        }
    }
}

fn bits(mask: u32) -> usize {
    let m = mask as libc::c_short;
    let mut bits = 0;
    if m & (libc::POLLIN | libc::POLLPRI) != 0 {
        bits |= READABLE;
    }
    if m & libc::POLLPRI != 0 {
        bits |= PRIORITY;
    }
    if m & libc::POLLOUT != 0 {
        bits |= WRITABLE;
    }
    if m & libc::POLLRDHUP != 0 {
        bits |= READ_CLOSED;
    }
    if m & libc::POLLHUP != 0 {
        bits |= READ_CLOSED | WRITE_CLOSED;
    }
    if m & libc::POLLERR != 0 {
        bits |= ERROR;
    }
    bits
}

fn unavailable(why: String, cause: io::Error) -> io::Error {
    io::Error::new(cause.kind(), format!("io_uring unavailable: {why}"))
}
