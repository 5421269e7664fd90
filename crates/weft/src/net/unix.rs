//! Unix-domain sockets: streams and datagrams.

#![forbid(unsafe_code)]

use crate::io::owned::{self, Stash};
use crate::io::source::IoSource;
use crate::sys::Direction;
use futures_io::{AsyncRead, AsyncWrite};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};

/// A Unix-domain socket listening for connections.
///
/// # Examples
///
/// ```
/// use weft::io::{AsyncReadExt, AsyncWriteExt};
/// use weft::net::{UnixListener, UnixStream};
///
/// # weft::block_on(async {
/// let dir = std::env::temp_dir().join(format!("weft-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("sock");
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let mut client = UnixStream::connect(&path).await?;
/// let (mut server, _) = listener.accept().await?;
/// client.write_all(b"hi").await?;
/// let mut buf = [0u8; 2];
/// server.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hi");
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixListener {
    pub(super) io: IoSource<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds to the socket file `path` (which must not exist yet) and listens.
    ///
    /// # Errors
    ///
    /// As `bind(2)` (`AddrInUse` if the file exists).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            io: IoSource::new(listener)?,
        })
    }

    /// Waits for a connection. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As `accept(2)`.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.io.io(Direction::Read, |l| l.accept()).await?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

/// A Unix-domain stream connection; reads and writes through [`AsyncRead`] and
/// [`AsyncWrite`], for `UnixStream` and `&UnixStream`, and owned-buffer reads and writes as on
/// [`TcpStream`](super::TcpStream).
#[derive(Debug)]
pub struct UnixStream {
    pub(super) io: IoSource<std::os::unix::net::UnixStream>,
    /// Bytes of owned reads whose futures were dropped; made by the first owned read.
    stash: OnceLock<Arc<Stash>>,
}

impl UnixStream {
    /// Connects to the socket file `path`.
    ///
    /// # Errors
    ///
    /// As `connect(2)` (`NotFound` or `ConnectionRefused` where nothing listens).
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        // A local connect completes or fails at once; only a full backlog makes it wait, and
        // std's blocking connect would then block the worker, so the socket is made by hand.
        let socket = socket2::Socket::new(
            socket2::Domain::UNIX,
            socket2::Type::STREAM.nonblocking().cloexec(),
            None,
        )?;
        match socket.connect(&socket2::SockAddr::unix(path)?) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let stream = UnixStream::with(IoSource::new(std::os::unix::net::UnixStream::from(
            std::os::fd::OwnedFd::from(socket),
        ))?);
        stream
            .io
            .io(Direction::Write, |s| match s.take_error()? {
                Some(e) => Err(e),
                None => s.peer_addr().map(drop),
            })
            .await?;
        Ok(stream)
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// As `socketpair(2)`.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((Self::from_std(a)?, Self::from_std(b)?))
    }

    /// Wraps a connected std stream (switched to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the mode cannot be set or the I/O driver cannot take the socket.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self::with(IoSource::new(stream)?))
    }

    fn with(io: IoSource<std::os::unix::net::UnixStream>) -> Self {
        Self {
            io,
            stash: OnceLock::new(),
        }
    }

    /// Reads into the spare capacity of `buf` (8 KiB is reserved if it has none), appending,
    /// and hands the buffer back with the count (0 at the end of the stream); as
    /// [`TcpStream::read_owned`](super::TcpStream::read_owned): a `RECV` on the ring on
    /// io_uring from a worker, and bytes a dropped read received go to the next read.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft::io::AsyncWriteExt;
    /// use weft::net::UnixStream;
    ///
    /// # weft::block_on(async {
    /// let (mut a, b) = UnixStream::pair()?;
    /// a.write_all(b"ping").await?;
    /// let (n, buf) = b.read_owned(Vec::with_capacity(16)).await;
    /// assert_eq!(&buf[..n?], b"ping");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn read_owned(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let stash = self.stash.get_or_init(Default::default);
        owned::read_owned(&self.io, stash, buf).await
    }

    /// Writes all of `buf` and hands it back; as
    /// [`TcpStream::write_all_owned`](super::TcpStream::write_all_owned).
    pub async fn write_all_owned(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        owned::write_all_owned(&self.io, buf).await
    }

    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if let Some(stash) = self.stash.get() {
            if let Some(n) = ready!(stash.poll_take(cx, buf)) {
                return Poll::Ready(Ok(n));
            }
        }
        // Not `poll_stream_io`: a Unix stream read also stops short at a message that carries
        // descriptors or other credentials, with bytes behind it.
        self.io.poll_io(cx, Direction::Read, |mut s| s.read(buf))
    }

    /// Shuts down the read side, the write side or both.
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Shuts down the write side and closes the connection.
    ///
    /// # Errors
    ///
    /// An error from the shutdown; the socket is closed either way.
    pub async fn close(self) -> io::Result<()> {
        self.shutdown_write()
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self.io.get_ref().shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

macro_rules! unix_io {
    ($t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_read_priv(cx, buf)
            }
        }

        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.io
                    .poll_stream_io(cx, Direction::Write, buf.len(), |mut s| s.write(buf))
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown_write())
            }
        }
    };
}

unix_io!(UnixStream);
unix_io!(&UnixStream);

/// A Unix-domain datagram socket.
///
/// Every method takes `&self`, so one socket can be shared (in an `Arc`) by tasks that send
/// and receive at once. Each send or receive future is cancel-safe: dropped before it
/// completes, it has sent or taken no datagram.
///
/// # Examples
///
/// ```
/// use weft::net::UnixDatagram;
///
/// # weft::block_on(async {
/// let (a, b) = UnixDatagram::pair()?;
/// a.send(b"ping").await?;
/// let mut buf = [0u8; 16];
/// let n = b.recv(&mut buf).await?;
/// assert_eq!(&buf[..n], b"ping");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    pub(super) io: IoSource<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Binds a socket to the file `path` (which must not exist yet).
    ///
    /// # Errors
    ///
    /// As `bind(2)` (`AddrInUse` if the file exists).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no file: it can send with [`send_to`](UnixDatagram::send_to), or
    /// [`connect`](UnixDatagram::connect) first; it receives only replies sent to its
    /// (unnamed) address through a connection.
    ///
    /// # Errors
    ///
    /// As `socket(2)`.
    pub fn unbound() -> io::Result<Self> {
        Self::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// Two sockets connected to each other.
    ///
    /// # Errors
    ///
    /// As `socketpair(2)`.
    pub fn pair() -> io::Result<(Self, Self)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((Self::from_std(a)?, Self::from_std(b)?))
    }

    /// Wraps a std socket (switched to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the mode cannot be set or the I/O driver cannot take the socket.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            io: IoSource::new(socket)?,
        })
    }

    /// Sets the default peer: `send` goes there and `recv` takes only its datagrams.
    ///
    /// # Errors
    ///
    /// As `connect(2)`.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends `buf` to the socket at `path`; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// As `sendto(2)`.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.io.io(Direction::Write, |s| s.send_to(buf, path)).await
    }

    /// Receives one datagram; returns its length and sender. A datagram longer than `buf` is
    /// cut to fit.
    ///
    /// # Errors
    ///
    /// As `recvfrom(2)`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(Direction::Read, |s| s.recv_from(buf)).await
    }

    /// Sends `buf` to the connected peer.
    ///
    /// # Errors
    ///
    /// As `send(2)`; `NotConnected` without a peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// As `recv(2)`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |s| s.recv(buf)).await
    }

    /// Shuts down the read side, the write side or both (see `shutdown(2)`).
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` without a peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}
