//! UDP sockets.

#![forbid(unsafe_code)]

use super::addr::{each_addr, resolve, resolve_blocking, ToSocketAddrs};
use crate::io::source::IoSource;
use crate::sys::Direction;
use std::io;
use std::net::SocketAddr;

/// A UDP socket.
///
/// Every method takes `&self`, so one socket can be shared (in an `Arc`) by tasks that send
/// and receive at once. Each send or receive future is cancel-safe: dropped before it
/// completes, it has sent or taken no datagram.
///
/// # Examples
///
/// ```
/// use weft::net::UdpSocket;
///
/// # weft::block_on(async {
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// a.send_to(b"ping", b.local_addr()?).await?;
/// let mut buf = [0u8; 16];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    pub(super) io: IoSource<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (synchronously), trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// The last address's error if none could be bound.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<Self> {
        Self::from_std(each_addr(
            resolve_blocking(&addr)?,
            std::net::UdpSocket::bind,
        )?)
    }

    /// Wraps a std socket (switched to non-blocking mode).
    ///
    /// # Errors
    ///
    /// Fails if the mode cannot be set or the I/O driver cannot take the socket.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            io: IoSource::new(socket)?,
        })
    }

    /// Sets the default peer: `send` goes there and `recv` takes only its datagrams.
    ///
    /// # Errors
    ///
    /// The last address's error if none could be connected to.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let socket = self.io.get_ref();
        each_addr(resolve(&addr).await?, |a| socket.connect(a))
    }

    /// Sends `buf` to `target`; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// As `sendto(2)`, or a resolution error.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let target = resolve(&target).await?[0];
        self.io
            .io(Direction::Write, |s| s.send_to(buf, target))
            .await
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
    /// As `send(2)`; `NotConnected` without [`connect`](UdpSocket::connect).
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

    /// Receives one datagram without taking it from the queue.
    ///
    /// # Errors
    ///
    /// As `recvfrom(2)` with `MSG_PEEK`.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(Direction::Read, |s| s.peek_from(buf)).await
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
    /// `NotConnected` without [`connect`](UdpSocket::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Allows sending to broadcast addresses.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }
}
