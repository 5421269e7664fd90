//! The epoll backend: one epoll instance per worker, every source registered once,
//! edge-triggered, for reading and writing; an eventfd to wake the worker from other threads.
//!
//! The worker waits with `epoll_pwait2`, whose timeout is a `timespec`, so parking in the kernel
//! keeps the timers' sub-millisecond precision; on a kernel without it (before 5.11) it falls back
//! to `epoll_wait`, rounding the timeout up to whole milliseconds (never early).

use super::readiness::{
    ScheduledIo, ERROR, PRIORITY, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED,
};
use super::sources::{ParkState, Sources, INTERNAL};
use crate::runtime::metrics::{IoCounters, IoFigures};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAKE_TOKEN: u64 = INTERNAL;
const EVENTS: usize = 256;

pub(crate) struct EpollDriver {
    epoll: OwnedFd,
    wake: OwnedFd,
    park: ParkState,
    sources: Sources,
    /// The owner's event buffer (a mutex only to make the driver `Sync`; never contended).
    events: Mutex<Vec<libc::epoll_event>>,
    has_pwait2: AtomicBool,
    counters: IoCounters,
}

impl std::fmt::Debug for EpollDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollDriver")
            .field("epoll", &self.epoll)
            .finish_non_exhaustive()
    }
}

impl EpollDriver {
    pub(crate) fn new() -> io::Result<Self> {
        let epoll = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: the call returned a new descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let wake = super::eventfd()?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_TOKEN,
        };
        syscall!(epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            wake.as_raw_fd(),
            &mut ev
        ))?;
        Ok(Self {
            epoll,
            wake,
            park: ParkState::default(),
            sources: Sources::default(),
            events: Mutex::new(Vec::with_capacity(EVENTS)),
            has_pwait2: AtomicBool::new(true),
            counters: IoCounters::default(),
        })
    }

    pub(crate) fn register(&self, fd: RawFd, io: Arc<ScheduledIo>) -> io::Result<u64> {
        let token = self.sources.insert(io, fd);
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN
                | libc::EPOLLPRI
                | libc::EPOLLOUT
                | libc::EPOLLRDHUP
                | libc::EPOLLET) as u32,
            u64: token,
        };
        if let Err(e) = syscall!(epoll_ctl(
            self.epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            &mut ev
        )) {
            self.forget(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Removes a source; its descriptor is still open (the caller closes it after this).
    pub(crate) fn deregister(&self, fd: RawFd, token: u64) {
        // Fails only if the descriptor is no longer registered, which closing it would do too.
        let _ = syscall!(epoll_ctl(
            self.epoll.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            fd,
            std::ptr::null_mut()
        ));
        self.forget(token);
    }

    fn forget(&self, token: u64) {
        let removed = {
            let mut slab = self.sources.lock();
            Sources::key(&slab, token).map(|k| slab.remove(k))
        };
        drop(removed);
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
        let woke = self.wait(timeout);
        self.park.leave_park();
        woke
    }

    /// Handles ready events without blocking; true if a task was woken.
    pub(crate) fn poll(&self) -> bool {
        self.wait(Some(Duration::ZERO))
    }

    /// From another worker with nothing to do: handles this driver's ready events unless its
    /// owner is at it, so they do not wait for a busy owner's next poll. True if a task was
    /// woken (on the calling worker).
    pub(crate) fn poll_foreign(&self) -> bool {
        match self.events.try_lock() {
            Ok(events) => self.wait_with(events, Some(Duration::ZERO), true),
            Err(_) => false,
        }
    }

    fn wait(&self, timeout: Option<Duration>) -> bool {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        self.wait_with(events, timeout, false)
    }

    fn wait_with(
        &self,
        mut events: std::sync::MutexGuard<'_, Vec<libc::epoll_event>>,
        timeout: Option<Duration>,
        foreign: bool,
    ) -> bool {
        events.clear();
        let n = match self.epoll_wait(&mut events, timeout) {
            Ok(n) => n,
            // EINTR: a signal; the worker loop looks at its queues and comes back.
            Err(_) => return false,
        };
        // SAFETY: the kernel initialised the first `n` entries of the buffer's capacity.
        unsafe { events.set_len(n) };
        let mut woke = false;
        let mut ready = Vec::new();
        {
            let slab = self.sources.lock();
            for ev in events.iter() {
                let token = ev.u64;
                if token == WAKE_TOKEN {
                    if foreign {
                        // The owner's wake-up, not ours: a new edge, so its own wait sees it.
                        super::eventfd_write(&self.wake);
                    } else {
                        super::eventfd_read(&self.wake);
                    }
                    continue;
                }
                if let Some(key) = Sources::key(&slab, token) {
                    ready.push((slab[key].io.clone(), bits(ev.events)));
                }
            }
        }
        // Still under the event buffer's lock: this thread is the counter's only writer.
        self.counters.events.add(ready.len() as u64);
        for (io, bits) in ready {
            io.set_ready(bits);
            woke = true;
        }
        woke
    }

    pub(crate) fn figures(&self) -> IoFigures {
        IoFigures {
            events: self.counters.events.get(),
            sources: self.sources.len() as u64,
            ..IoFigures::default()
        }
    }

    fn epoll_wait(
        &self,
        events: &mut Vec<libc::epoll_event>,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let epfd = self.epoll.as_raw_fd();
        let max = events.capacity() as libc::c_int;
        if self.has_pwait2.load(Ordering::Relaxed) {
            let ts = timeout.map(|d| libc::timespec {
                tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            });
            let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: `events` has room for `max` entries; `tsp` is null or points to a live
            // timespec; a null sigmask leaves the mask alone.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    epfd,
                    events.as_mut_ptr(),
                    max,
                    tsp,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENOSYS) {
                return Err(err);
            }
            self.has_pwait2.store(false, Ordering::Relaxed);
        }
        let ms = match timeout {
            None => -1,
            // Rounded up: a timer must never fire early.
            Some(d) => d
                .as_nanos()
                .div_ceil(1_000_000)
                .min(libc::c_int::MAX as u128) as libc::c_int,
        };
        // SAFETY: `events` has room for `max` entries.
        let n = syscall!(epoll_wait(epfd, events.as_mut_ptr(), max, ms))?;
        Ok(n as usize)
    }
}

impl EpollDriver {
    pub(crate) fn sources(&self) -> &Sources {
        &self.sources
    }
}

impl Drop for EpollDriver {
    fn drop(&mut self) {
        self.sources.wake_all();
    }
}

fn bits(events: u32) -> usize {
    let e = events as libc::c_int;
    let mut bits = 0;
    if e & (libc::EPOLLIN | libc::EPOLLPRI) != 0 {
        bits |= READABLE;
    }
    if e & libc::EPOLLPRI != 0 {
        bits |= PRIORITY;
    }
    if e & libc::EPOLLOUT != 0 {
        bits |= WRITABLE;
    }
    if e & libc::EPOLLRDHUP != 0 {
        bits |= READ_CLOSED;
    }
    if e & libc::EPOLLHUP != 0 {
        bits |= READ_CLOSED | WRITE_CLOSED;
    }
    if e & libc::EPOLLERR != 0 {
        bits |= ERROR;
    }
    bits
}
