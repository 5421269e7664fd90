//! TCP: a listener that accepts connections and the streams between two endpoints.

#![forbid(unsafe_code)]

use super::addr::{each_addr, resolve, resolve_blocking, ToSocketAddrs};
use crate::io::owned::{self, Stash};
use crate::io::source::IoSource;
use crate::sys::Direction;
use crate::time::Sleep;
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// How long `accept` waits before trying again when the process or the system is out of
/// descriptors or buffers (EMFILE, ENFILE, ENOBUFS, ENOMEM).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// use weft::io::{AsyncReadExt, AsyncWriteExt};
/// use weft::net::{TcpListener, TcpStream};
///
/// # weft::block_on(async {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = weft::spawn(async move {
///     let (mut conn, _) = listener.accept().await?;
///     let mut buf = [0u8; 5];
///     conn.read_exact(&mut buf).await?;
///     conn.write_all(&buf).await?;
///     std::io::Result::Ok(())
/// });
/// let mut client = TcpStream::connect(addr).await?;
/// client.write_all(b"hello").await?;
/// let mut echo = [0u8; 5];
/// client.read_exact(&mut echo).await?;
/// assert_eq!(&echo, b"hello");
/// server.await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpListener {
    pub(super) io: IoSource<std::net::TcpListener>,
    /// `TCP_INQ` is set on the listener, so every accepted socket has it.
    inq: bool,
}

/// `accept4(2)` with the new socket non-blocking and close-on-exec from the start: one
/// syscall where std's `accept` and `set_nonblocking` take two.
fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    let (socket, addr) =
        socket2::SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
    let addr = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP peer address"))?;
    Ok((socket.into(), addr))
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl TcpListener {
    /// Binds to `addr` and listens (synchronously, as in the guide). Each address it resolves
    /// to is tried in turn. Port 0 picks a free port: see [`TcpListener::local_addr`].
    ///
    /// # Errors
    ///
    /// The last address's error if none could be bound, or an error if the executor's
    /// I/O driver cannot take the socket.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<Self> {
        let listener = each_addr(resolve_blocking(&addr)?, std::net::TcpListener::bind)?;
        Self::from_std(listener)
    }

    /// Wraps a listener made elsewhere (it is switched to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the mode cannot be set or the I/O driver cannot take the socket.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        // Accepted sockets inherit it, which saves a `setsockopt` per connection.
        let inq = crate::sys::enable_tcp_inq(listener.as_raw_fd());
        Ok(Self {
            io: IoSource::new(listener)?,
            inq,
        })
    }

    /// Hands the socket back as a std listener (non-blocking).
    pub fn into_std(self) -> std::net::TcpListener {
        self.io.into_inner()
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// When the process or the system is out of descriptors (EMFILE, ENFILE) or buffers, it
    /// waits 20 ms and tries again instead of failing, so an accept loop neither spins nor
    /// stops; connections a peer aborted before they were accepted are skipped.
    /// Cancel-safe: a dropped `accept` has taken no connection.
    ///
    /// # Errors
    ///
    /// Other errors from `accept(2)`.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut backoff = None;
        std::future::poll_fn(|cx| self.poll_accept(cx, &mut backoff)).await
    }

    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        backoff: &mut Option<Sleep>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            if let Some(sleep) = backoff {
                ready!(Pin::new(sleep).poll(cx));
                *backoff = None;
            }
            match ready!(self.io.poll_io(cx, Direction::Read, accept_nonblocking)) {
                Ok((stream, peer)) => {
                    let stream = IoSource::new(stream).map(|io| TcpStream::accepted(io, self.inq));
                    return Poll::Ready(stream.map(|s| (s, peer)));
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) if is_resource_exhaustion(&e) => {
                    crate::runtime::metrics::accept_backoff();
                    *backoff = Some(crate::sleep(ACCEPT_BACKOFF));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// The connections as a [`Stream`] that never ends (each item is what
    /// [`accept`](TcpListener::accept) returns, without the address).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            backoff: None,
        }
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets the IP time-to-live of accepted connections' packets.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }
}

use std::future::Future;

/// The connections of a [`TcpListener`], as a stream. Made by [`TcpListener::incoming`].
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    backoff: Option<Sleep>,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let (stream, _) = ready!(this.listener.poll_accept(cx, &mut this.backoff))?;
        Poll::Ready(Some(Ok(stream)))
    }
}

/// [`TcpStream::into_std`] found bytes the stream had received and no read had returned: here
/// they are, with the std stream.
#[derive(Debug)]
pub struct IntoStdError {
    stream: std::net::TcpStream,
    pending: Vec<u8>,
}

impl IntoStdError {
    /// The bytes to read before anything from the socket.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// The std stream and the bytes to read before anything from it.
    pub fn into_parts(self) -> (std::net::TcpStream, Vec<u8>) {
        (self.stream, self.pending)
    }
}

impl std::fmt::Display for IntoStdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes received for dropped owned reads were not read yet",
            self.pending.len()
        )
    }
}

impl std::error::Error for IntoStdError {}

/// A TCP connection.
///
/// Reading and writing go through the [`AsyncRead`] and [`AsyncWrite`] traits (and their
/// extensions, [`AsyncReadExt`](crate::io::AsyncReadExt) and
/// [`AsyncWriteExt`](crate::io::AsyncWriteExt)), implemented for `TcpStream` and for
/// `&TcpStream`, so one task can read while another writes through a shared reference, or
/// through the owned halves of [`TcpStream::into_split`].
///
/// Every read and write future is cancel-safe: dropped before it completes, it has read or
/// written nothing.
#[derive(Debug)]
pub struct TcpStream {
    pub(super) io: IoSource<std::net::TcpStream>,
    /// Bytes of owned reads whose futures were dropped; made by the first owned read.
    stash: OnceLock<Arc<Stash>>,
    /// The kernel reports with each read how many bytes are left (`TCP_INQ`), so a read that
    /// fills the buffer and drains the socket clears its readiness, sparing the next read a
    /// syscall that would say `WouldBlock`.
    inq: bool,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn (host names are resolved
    /// on the blocking pool).
    ///
    /// # Errors
    ///
    /// The last address's error if none accepted the connection (`ConnectionRefused` where
    /// nothing listens).
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in resolve(&addr).await? {
            match Self::connect_addr(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM.nonblocking().cloexec(),
            Some(socket2::Protocol::TCP),
        )?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream::with(IoSource::new(std::net::TcpStream::from(socket))?);
        // Connected once writable with no pending error and a peer.
        stream
            .io
            .io(Direction::Write, |s| {
                if let Some(e) = s.take_error()? {
                    return Err(e);
                }
                match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(stream)
    }

    /// Wraps a connected std stream (it is switched to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the mode cannot be set or the I/O driver cannot take the socket.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self::with(IoSource::new(stream)?))
    }

    fn with(io: IoSource<std::net::TcpStream>) -> Self {
        Self::accepted(io, false)
    }

    /// A stream whose `TCP_INQ` may be set already (`inherited`: a listener's accepted sockets
    /// have it when the listener has it).
    fn accepted(io: IoSource<std::net::TcpStream>, inherited: bool) -> Self {
        let inq = inherited || crate::sys::enable_tcp_inq(io.get_ref().as_raw_fd());
        Self {
            io,
            stash: OnceLock::new(),
            inq,
        }
    }

    /// Reads into the spare capacity of `buf` (8 KiB is reserved if it has none), appending,
    /// and hands the buffer back with the count (0 at the end of the stream). On io_uring,
    /// from a worker, this is a `RECV` on the ring straight into `buf`, with no readiness
    /// round trip; elsewhere a read when the socket is ready.
    ///
    /// Cancel-safe: if the future is dropped after the kernel already received into `buf`,
    /// those bytes are kept and the next read of this stream (of any kind) returns them first.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weft::net::{TcpListener, TcpStream};
    /// # weft::block_on(async {
    /// # let listener = TcpListener::bind("127.0.0.1:0")?;
    /// # let addr = listener.local_addr()?;
    /// # let client = weft::spawn(async move {
    /// #     let conn = TcpStream::connect(addr).await?;
    /// #     let (r, _) = conn.write_all_owned(b"ping".to_vec()).await;
    /// #     r
    /// # });
    /// let (conn, _) = listener.accept().await?;
    /// let mut buf = Vec::with_capacity(1024);
    /// while buf.len() < 4 {
    ///     let (n, b) = conn.read_owned(buf).await;
    ///     buf = b;
    ///     if n? == 0 { break; }
    /// }
    /// assert_eq!(buf, b"ping");
    /// # client.await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn read_owned(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let stash = self.stash.get_or_init(Default::default);
        owned::read_owned(&self.io, stash, buf).await
    }

    /// Writes all of `buf` and hands it back. On io_uring, from a worker, each piece is a
    /// `SEND` on the ring from `buf`; elsewhere a write when the socket is ready. Dropped
    /// before it completes, it may have written part of `buf`, as `write_all` may.
    pub async fn write_all_owned(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        owned::write_all_owned(&self.io, buf).await
    }

    /// True once the executor this stream is registered with has shut down (its operations
    /// fail from then on).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn is_orphaned(&self) -> bool {
        self.io.is_orphaned()
    }

    /// True if the peer has neither sent anything nor closed its side: a peek that does not
    /// wait finds nothing to read. An idle keep-alive connection is usable only while this
    /// holds.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn is_quiet(&self) -> bool {
        if self.stash.get().is_some_and(|s| s.is_busy()) {
            return false;
        }
        matches!(
            self.io.get_ref().peek(&mut [0u8; 1]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        )
    }

    /// Hands the socket back as a std stream (non-blocking).
    ///
    /// # Errors
    ///
    /// If owned reads whose futures were dropped had already received bytes that no read has
    /// returned yet, those bytes are not in the socket any more: the error hands them back
    /// with the std stream ([`IntoStdError::into_parts`]), so nothing is lost.
    pub fn into_std(self) -> Result<std::net::TcpStream, IntoStdError> {
        // No receive may still be in flight once the socket is the caller's: it would take
        // bytes the caller reads next.
        let pending = self
            .stash
            .get()
            .map(|stash| stash.settle(|| self.io.reap_all()))
            .unwrap_or_default();
        let stream = self.io.into_inner();
        if pending.is_empty() {
            Ok(stream)
        } else {
            Err(IntoStdError { stream, pending })
        }
    }

    /// Flushes, shuts down the write side (the peer reads the end of the stream) and closes the
    /// connection: the guide's `conn.close()`.
    ///
    /// # Errors
    ///
    /// An error from the shutdown; the socket is closed either way.
    pub async fn close(self) -> io::Result<()> {
        self.shutdown_write()
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self.io.get_ref().shutdown(Shutdown::Write) {
            // The peer may have closed first: nothing is lost by closing now.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }

    /// Shuts down the read side, the write side or both (see `shutdown(2)`).
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Receives data without removing it from the socket's queue.
    ///
    /// # Errors
    ///
    /// As `recv(2)` with `MSG_PEEK`.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |s| s.peek(buf)).await
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    ///
    /// # Errors
    ///
    /// As `getsockopt(2)`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Splits the stream into a read half and a write half that can move to different tasks.
    /// Dropping the write half shuts down the write side.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let stream = Arc::new(self);
        (
            OwnedReadHalf {
                stream: stream.clone(),
            },
            OwnedWriteHalf {
                stream,
                shutdown_on_drop: true,
            },
        )
    }

    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if let Some(stash) = self.stash.get() {
            if let Some(n) = ready!(stash.poll_take(cx, buf)) {
                return Poll::Ready(Ok(n));
            }
        }
        let len = buf.len();
        if self.inq {
            return self
                .io
                .poll_read_with_rest(cx, len, |s| crate::sys::recv_inq(s.as_raw_fd(), buf));
        }
        self.io
            .poll_stream_io(cx, Direction::Read, len, |mut s| s.read(buf))
    }

    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_stream_io(cx, Direction::Write, buf.len(), |mut s| s.write(buf))
    }

    fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.io
            .poll_stream_io(cx, Direction::Write, len, |mut s| s.write_vectored(bufs))
    }

    fn poll_close_priv(&self) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

macro_rules! stream_read {
    ($t:ty, $inner:expr) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let f: fn(&Self) -> &TcpStream = $inner;
                f(&self).poll_read_priv(cx, buf)
            }
        }
    };
}

macro_rules! stream_write {
    ($t:ty, $inner:expr) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let f: fn(&Self) -> &TcpStream = $inner;
                f(&self).poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let f: fn(&Self) -> &TcpStream = $inner;
                f(&self).poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Writes go straight to the socket: nothing is buffered here.
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let f: fn(&Self) -> &TcpStream = $inner;
                f(&self).poll_close_priv()
            }
        }
    };
}

stream_read!(TcpStream, |s| s);
stream_read!(&TcpStream, |s| s);
stream_read!(OwnedReadHalf, |h| &h.stream);
stream_write!(TcpStream, |s| s);
stream_write!(&TcpStream, |s| s);
stream_write!(OwnedWriteHalf, |h| &h.stream);

/// The read half of a [`TcpStream`], made by [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Arc<TcpStream>,
}

/// The write half of a [`TcpStream`], made by [`TcpStream::into_split`]. Dropping it shuts
/// down the write side, so the peer reads the end of the stream.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
    shutdown_on_drop: bool,
}

impl OwnedReadHalf {
    /// [`TcpStream::read_owned`] on this half.
    pub async fn read_owned(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        self.stream.read_owned(buf).await
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// Puts the halves back together.
    ///
    /// # Errors
    ///
    /// Hands both halves back if they come from different streams.
    pub fn reunite(self, write: OwnedWriteHalf) -> Result<TcpStream, (Self, OwnedWriteHalf)> {
        if !Arc::ptr_eq(&self.stream, &write.stream) {
            return Err((self, write));
        }
        let mut write = write;
        write.shutdown_on_drop = false;
        drop(write);
        Ok(Arc::try_unwrap(self.stream).expect("both halves were given back"))
    }
}

impl OwnedWriteHalf {
    /// [`TcpStream::write_all_owned`] on this half.
    pub async fn write_all_owned(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        self.stream.write_all_owned(buf).await
    }
}

impl OwnedWriteHalf {
    /// The remote address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }
}
