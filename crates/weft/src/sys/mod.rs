//! The I/O drivers a worker parks in: what every backend provides, and the choice between them.
//!
//! Each worker owns one [`Driver`]: an io_uring ring ([`uring`]) or an epoll instance
//! ([`epoll`]), chosen once when the executor starts. A driver parks its worker until an I/O
//! event, an `unpark` from another thread (an eventfd) or a timeout (the worker's next timer),
//! polls without blocking while the worker is busy, and registers the descriptors of I/O
//! sources. Both backends report readiness edges into a source's [`ScheduledIo`]; the reads and
//! writes themselves are plain syscalls made by the task.

/// Calls a libc function, turning its `-1` into the thread's `errno` as an `io::Error`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        // SAFETY: the arguments are checked by each caller against the call's contract.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub(crate) mod epoll;
pub(crate) mod ops;
pub(crate) mod readiness;
pub(crate) mod sources;
pub(crate) mod uring;

pub(crate) use readiness::{Direction, ScheduledIo};

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// Which kernel interface an executor's workers use for I/O.
///
/// `Auto` (the default) picks io_uring when a ring of the size weft uses can be set up and
/// offers every operation weft needs, and epoll otherwise: on a kernel without io_uring, where
/// `kernel.io_uring_disabled` or a container's seccomp profile forbids it, or under a memlock
/// limit too low for the rings. The environment variable `WEFT_IO=uring|epoll` overrides
/// `Auto`; `WEFT_DEBUG=1` prints which backend was chosen and why.
///
/// # Examples
///
/// ```
/// use weft::runtime::IoBackend;
///
/// let executor = weft::Executor::builder()
///     .workers(1)
///     .io(IoBackend::Epoll)
///     .build()
///     .expect("epoll is always there on Linux");
/// assert_eq!(executor.io_backend(), IoBackend::Epoll);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoBackend {
    /// io_uring if it works here, else epoll.
    #[default]
    Auto,
    /// io_uring; building the executor fails if it cannot start.
    Uring,
    /// epoll.
    Epoll,
}

impl IoBackend {
    /// Reads `WEFT_IO`; `None` if unset or empty.
    ///
    /// # Errors
    ///
    /// An `InvalidInput` error for a value other than `uring`, `epoll` or `auto`.
    pub(crate) fn from_env() -> io::Result<Option<Self>> {
        match std::env::var("WEFT_IO") {
            Err(_) => Ok(None),
            Ok(v) => match v.trim() {
                "" => Ok(None),
                "auto" => Ok(Some(Self::Auto)),
                "uring" | "io_uring" => Ok(Some(Self::Uring)),
                "epoll" => Ok(Some(Self::Epoll)),
                other => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("WEFT_IO={other:?}: expected `uring`, `epoll` or `auto`"),
                )),
            },
        }
    }
}

/// One worker's I/O driver.
// One per worker, in a boxed slice: boxing the ring would add a pointer chase to every park
// and poll for no saving worth having.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Driver {
    Uring(uring::UringDriver),
    Epoll(epoll::EpollDriver),
}

fn debug(msg: &str) {
    if std::env::var_os("WEFT_DEBUG").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("weft: {msg}");
    }
}

impl Driver {
    /// Starts `n` drivers of the backend `choice` resolves to (every worker gets the same one).
    ///
    /// # Errors
    ///
    /// `Uring` where io_uring cannot start gives that error; `Auto` falls back to epoll then.
    pub(crate) fn start(n: usize, choice: IoBackend) -> io::Result<Vec<Driver>> {
        if choice != IoBackend::Epoll {
            let rings: io::Result<Vec<Driver>> = (0..n)
                .map(|_| uring::UringDriver::new().map(Driver::Uring))
                .collect();
            match rings {
                Ok(rings) => {
                    debug("I/O backend: io_uring");
                    return Ok(rings);
                }
                Err(e) if choice == IoBackend::Uring => return Err(e),
                Err(e) => debug(&format!("I/O backend: epoll ({e})")),
            }
        } else {
            debug("I/O backend: epoll (asked for)");
        }
        (0..n)
            .map(|_| epoll::EpollDriver::new().map(Driver::Epoll))
            .collect()
    }

    /// The io_uring ring, for completion-based operations.
    pub(crate) fn uring(&self) -> Option<&uring::UringDriver> {
        match self {
            Driver::Uring(d) => Some(d),
            Driver::Epoll(_) => None,
        }
    }

    pub(crate) fn backend(&self) -> IoBackend {
        match self {
            Driver::Uring(_) => IoBackend::Uring,
            Driver::Epoll(_) => IoBackend::Epoll,
        }
    }

    /// Owner worker only: blocks until `unpark`, an I/O event or `timeout`. True if an I/O event
    /// woke a task.
    pub(crate) fn park(&self, timeout: Option<Duration>) -> bool {
        match self {
            Driver::Uring(d) => d.park(timeout),
            Driver::Epoll(d) => d.park(timeout),
        }
    }

    /// Any thread: wakes the worker parked in this driver, or makes its next park return.
    pub(crate) fn unpark(&self) {
        match self {
            Driver::Uring(d) => d.unpark(),
            Driver::Epoll(d) => d.unpark(),
        }
    }

    /// Owner worker only: handles ready events without blocking; true if it woke a task.
    pub(crate) fn poll(&self) -> bool {
        match self {
            Driver::Uring(d) => d.poll(),
            Driver::Epoll(d) => d.poll(),
        }
    }

    /// Any other worker of the executor, with nothing to do: handles the events this driver
    /// already has without blocking and without submitting, unless its owner is handling them;
    /// the tasks they wake run on the caller. True if it woke a task.
    pub(crate) fn poll_foreign(&self) -> bool {
        match self {
            Driver::Uring(d) => d.poll_foreign(),
            Driver::Epoll(d) => d.poll_foreign(),
        }
    }

    /// Watches `fd` for readiness; `local` is true on this driver's own worker. Returns the
    /// token to deregister it with.
    pub(crate) fn register(&self, fd: RawFd, io: Arc<ScheduledIo>, local: bool) -> io::Result<u64> {
        match self {
            Driver::Uring(d) => d.register(fd, io, local),
            Driver::Epoll(d) => d.register(fd, io),
        }
    }

    /// Stops watching `fd` (still open; the caller closes it afterwards); `local` is true on
    /// this driver's own worker.
    pub(crate) fn deregister(&self, fd: RawFd, token: u64, local: bool) {
        match self {
            Driver::Uring(d) => d.deregister(token, local),
            Driver::Epoll(d) => d.deregister(fd, token),
        }
    }

    /// What this driver has done, for metrics.
    pub(crate) fn figures(&self) -> crate::runtime::metrics::IoFigures {
        match self {
            Driver::Uring(d) => d.figures(),
            Driver::Epoll(d) => d.figures(),
        }
    }

    /// The executor is shutting down: wakes every task waiting on a source, which then sees an
    /// error instead of waiting for events nobody will deliver.
    pub(crate) fn shutdown(&self) {
        match self {
            Driver::Uring(d) => d.shutdown(),
            Driver::Epoll(d) => d.sources().wake_all(),
        }
    }
}

/// A non-blocking, close-on-exec eventfd.
fn eventfd() -> io::Result<OwnedFd> {
    let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
    // SAFETY: the call returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn eventfd_write(fd: &OwnedFd) {
    let one: u64 = 1;
    // EAGAIN (the counter is full) still leaves it readable, which is all a wake-up needs.
    // SAFETY: writes 8 bytes from a live u64.
    let _ = syscall!(write(
        fd.as_raw_fd(),
        (&one as *const u64).cast(),
        std::mem::size_of::<u64>()
    ));
}

fn eventfd_read(fd: &OwnedFd) {
    let mut buf: u64 = 0;
    // EAGAIN: already drained.
    // SAFETY: reads at most 8 bytes into a live u64.
    let _ = syscall!(read(
        fd.as_raw_fd(),
        (&mut buf as *mut u64).cast(),
        std::mem::size_of::<u64>()
    ));
}

/// Asks the kernel to report, with each read of TCP socket `fd`, how many bytes are left in its
/// receive queue (`TCP_INQ`, Linux 4.18). False if it cannot.
pub(crate) fn enable_tcp_inq(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    syscall!(setsockopt(
        fd,
        libc::SOL_TCP,
        libc::TCP_INQ,
        (&on as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t
    ))
    .is_ok()
}

/// Reads from TCP socket `fd` (non-blocking) into `buf`; returns the count and, if the kernel
/// said so (see [`enable_tcp_inq`]), how many bytes are still queued behind them.
pub(crate) fn recv_inq(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<usize>)> {
    // Room for one `cmsghdr` carrying an `int`, aligned as the kernel writes it.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero `msghdr` is valid (no name, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points to one iovec over `buf` and to `control`, all live and writable for
    // the call; the kernel writes at most their lengths.
    let n = syscall!(recvmsg(fd, &mut msg, libc::MSG_DONTWAIT))? as usize;
    let mut left = None;
    // SAFETY: `msg` is what `recvmsg` filled in; the CMSG macros stay within
    // `msg_controllen` bytes of `control`, and a `TCP_CM_INQ` message carries one `int`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_TCP && (*cmsg).cmsg_type == libc::TCP_CM_INQ {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int);
                left = usize::try_from(v).ok();
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n, left))
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_tcp_read_reports_what_is_left_behind_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(
            enable_tcp_inq(server.as_raw_fd()),
            "TCP_INQ is in Linux since 4.18"
        );
        client.write_all(&[7u8; 300]).unwrap();
        let mut buf = [0u8; 100];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // The 300 bytes may arrive in pieces: wait for all of them.
        let mut got = Vec::new();
        loop {
            match recv_inq(server.as_raw_fd(), &mut buf) {
                Ok((n, left)) => {
                    got.push((n, left));
                    if left == Some(0) && got.iter().map(|g| g.0).sum::<usize>() == 300 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no data: {got:?}");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        // A read that left bytes behind said how many (one write on loopback arrives whole:
        // 200, then 100, then 0).
        let mut queued = 300;
        for &(n, left) in &got {
            queued -= n;
            assert_eq!(left, Some(queued), "{got:?}");
        }
        let e = recv_inq(server.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(client);
        loop {
            match recv_inq(server.as_raw_fd(), &mut buf) {
                Ok((n, _)) => break assert_eq!(n, 0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no end of stream");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
