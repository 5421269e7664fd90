//! Listening for any Unix signal.

use crate::io::source::IoSource;
use crate::sys::Direction;
use futures_core::Stream;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{ready, Context, Poll};

/// Signal numbers weft can listen for: 1 to 64.
const MAX_SIGNAL: usize = 65;

/// A kind of signal, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// Any signal, by its number.
    pub const fn from_raw(signum: libc::c_int) -> Self {
        SignalKind(signum)
    }
    /// The signal's number.
    pub const fn as_raw_value(&self) -> libc::c_int {
        self.0
    }
    /// SIGINT: Ctrl-C.
    pub const fn interrupt() -> Self {
        SignalKind(libc::SIGINT)
    }
    /// SIGTERM: a polite request to stop.
    pub const fn terminate() -> Self {
        SignalKind(libc::SIGTERM)
    }
    /// SIGHUP: the terminal went away; often "reload the configuration".
    pub const fn hangup() -> Self {
        SignalKind(libc::SIGHUP)
    }
    /// SIGQUIT.
    pub const fn quit() -> Self {
        SignalKind(libc::SIGQUIT)
    }
    /// SIGUSR1.
    pub const fn user_defined1() -> Self {
        SignalKind(libc::SIGUSR1)
    }
    /// SIGUSR2.
    pub const fn user_defined2() -> Self {
        SignalKind(libc::SIGUSR2)
    }
    /// SIGCHLD: a child process changed state.
    pub const fn child() -> Self {
        SignalKind(libc::SIGCHLD)
    }
    /// SIGWINCH: the terminal was resized.
    pub const fn window_change() -> Self {
        SignalKind(libc::SIGWINCH)
    }
    /// SIGPIPE.
    pub const fn pipe() -> Self {
        SignalKind(libc::SIGPIPE)
    }
    /// SIGALRM.
    pub const fn alarm() -> Self {
        SignalKind(libc::SIGALRM)
    }
}

/// Deliveries seen per signal number, bumped by the handler.
static COUNTS: [AtomicU64; MAX_SIGNAL] = [const { AtomicU64::new(0) }; MAX_SIGNAL];

struct Pipe {
    /// The end the handler writes to (its raw descriptor is all the handler touches).
    write: UnixStream,
    /// The end listeners wait on, registered with the global runtime.
    read: IoSource<UnixStream>,
    /// Signals with a handler installed.
    installed: Mutex<[bool; MAX_SIGNAL]>,
}

fn pipe() -> io::Result<&'static Pipe> {
    static PIPE: OnceLock<Pipe> = OnceLock::new();
    if let Some(p) = PIPE.get() {
        return Ok(p);
    }
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    // Registered with the global runtime, which lives as long as the process, so signals keep
    // working whichever executor asked first.
    let read = IoSource::new_global(read)?;
    Ok(PIPE.get_or_init(|| Pipe {
        write,
        read,
        installed: Mutex::new([false; MAX_SIGNAL]),
    }))
}

fn install(kind: SignalKind) -> io::Result<&'static Pipe> {
    let signum = kind.0;
    let index = usize::try_from(signum)
        .ok()
        .filter(|&i| (1..MAX_SIGNAL).contains(&i))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such signal"))?;
    if signal_hook_registry::FORBIDDEN.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be handled"),
        ));
    }
    let pipe = pipe()?;
    let mut installed = pipe.installed.lock().unwrap_or_else(|e| e.into_inner());
    if !installed[index] {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&pipe.write);
        let action = move || {
            COUNTS[index].fetch_add(1, Ordering::SeqCst);
            let byte = 1u8;
            // SAFETY: `write(2)` on a descriptor that stays open for the process's life (the
            // pipe is a static); async-signal-safe, as are the atomic above and the errno
            // save/restore signal-hook-registry does around handlers. A full pipe (EAGAIN)
            // already wakes the listeners.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        };
        // SAFETY: the action only touches an atomic and calls `write(2)`: it allocates
        // nothing, takes no lock and does not panic.
        unsafe { signal_hook_registry::register(signum, action) }?;
        installed[index] = true;
    }
    Ok(pipe)
}

/// Starts listening for `kind`. Deliveries from now on are seen; earlier ones are not.
///
/// # Errors
///
/// `InvalidInput` for a number that is not a signal or one that cannot be handled (SIGKILL,
/// SIGSTOP, SIGSEGV...); an error if the handler cannot be installed.
///
/// # Examples
///
/// ```no_run
/// use weft::signal::unix::{signal, SignalKind};
///
/// # weft::block_on(async {
/// let mut hangups = signal(SignalKind::hangup())?;
/// while hangups.recv().await.is_some() {
///     println!("reloading the configuration");
/// }
/// # std::io::Result::Ok(()) });
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let pipe = install(kind)?;
    let index = kind.0 as usize;
    Ok(Signal {
        pipe,
        index,
        seen: COUNTS[index].load(Ordering::SeqCst),
    })
}

/// The deliveries of one signal, as a stream that never ends. Made by [`signal`].
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Signal {
    pipe: &'static Pipe,
    index: usize,
    seen: u64,
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe").finish_non_exhaustive()
    }
}

impl Signal {
    /// Waits for the next delivery. Always `Some`: the `Option` matches the stream's items.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            let now = COUNTS[self.index].load(Ordering::SeqCst);
            if now != self.seen {
                self.seen = now;
                return Poll::Ready(Some(()));
            }
            // Drain the pipe; once it is empty the waker is registered, and a delivery after
            // the check above writes again and wakes it.
            let mut buf = [0u8; 64];
            match ready!(self
                .pipe
                .read
                .poll_io(cx, Direction::Read, |mut p| p.read(&mut buf)))
            {
                Ok(_) => {}
                // The pipe cannot fail while the process lives; if it did, listeners would
                // never be woken: end the stream instead of hanging.
                Err(_) => return Poll::Ready(None),
            }
        }
    }
}

impl Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}
