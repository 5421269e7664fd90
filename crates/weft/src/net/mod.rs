//! Networking: TCP, UDP and Unix-domain sockets, driven by the workers' I/O drivers.
//!
//! The guide's first server, on weft:
//!
//! ```no_run
//! use weft::net::TcpListener;
//!
//! #[weft::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:8080")?;
//!     loop {
//!         let (mut conn, _peer) = listener.accept().await?;
//!         weft::spawn(async move {
//!             let request = weft::io::read_to_string(&mut conn).await?;
//!             weft::io::write_all(&mut conn, format!("got {} bytes", request.len())).await?;
//!             conn.close().await
//!         });
//!     }
//! }
//! ```
//!
//! Every socket is registered with the driver of the worker that created it (off the workers,
//! one of the executor's workers in turn) and works from any task or thread. Dropping a socket,
//! or any future of one, at any point is safe.

#![forbid(unsafe_code)]

mod addr;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
pub use tcp::{Incoming, IntoStdError, OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

/// The raw descriptor of each socket type, for socket options weft has no method for (through
/// `socket2::SockRef`, say). Reading or writing it directly bypasses weft's readiness
/// tracking; options are safe.
macro_rules! impl_as_fd {
    ($($t:ty),*) => {$(
        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.get_ref().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.get_ref().as_raw_fd()
            }
        }
    )*};
}

impl_as_fd!(
    TcpListener,
    TcpStream,
    UdpSocket,
    UnixListener,
    UnixStream,
    UnixDatagram
);
