//! Addresses to bind and connect to: socket addresses as they are, host names resolved on the
//! blocking pool (name resolution blocks, so it never runs on a worker).

#![forbid(unsafe_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: a `SocketAddr`, an `(IpAddr, u16)` pair,
/// or a string such as `"127.0.0.1:8080"`, `"[::1]:80"` or `"localhost:8080"`.
///
/// Strings that are not literal addresses are resolved with the system resolver on the
/// blocking pool. The trait is sealed: weft implements it for the types std's
/// `ToSocketAddrs` covers.
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::*;

    /// How to get the addresses: at once, or by a blocking lookup of a `host:port` string.
    #[derive(Debug)]
    pub enum Lookup {
        Ready(Vec<SocketAddr>),
        Resolve(String),
    }

    pub trait Sealed {
        fn lookup(&self) -> io::Result<Lookup>;
    }
}
use sealed::{Lookup, Sealed};

macro_rules! ready_addrs {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {}
        impl Sealed for $t {
            fn lookup(&self) -> io::Result<Lookup> {
                Ok(Lookup::Ready(std::net::ToSocketAddrs::to_socket_addrs(self)?.collect()))
            }
        }
    )*};
}
ready_addrs!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for [SocketAddr] {}
impl Sealed for [SocketAddr] {
    fn lookup(&self) -> io::Result<Lookup> {
        Ok(Lookup::Ready(self.to_vec()))
    }
}

impl ToSocketAddrs for str {}
impl Sealed for str {
    fn lookup(&self) -> io::Result<Lookup> {
        match self.parse::<SocketAddr>() {
            Ok(a) => Ok(Lookup::Ready(vec![a])),
            Err(_) => Ok(Lookup::Resolve(self.to_owned())),
        }
    }
}

impl ToSocketAddrs for String {}
impl Sealed for String {
    fn lookup(&self) -> io::Result<Lookup> {
        self.as_str().lookup()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Sealed for (&str, u16) {
    fn lookup(&self) -> io::Result<Lookup> {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Ok(Lookup::Ready(vec![SocketAddr::new(ip, self.1)])),
            Err(_) => Ok(Lookup::Resolve(format!("{}:{}", self.0, self.1))),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Sealed for (String, u16) {
    fn lookup(&self) -> io::Result<Lookup> {
        (self.0.as_str(), self.1).lookup()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: Sealed + ?Sized> Sealed for &T {
    fn lookup(&self) -> io::Result<Lookup> {
        (**self).lookup()
    }
}

fn resolve_now(host: &str) -> io::Result<Vec<SocketAddr>> {
    Ok(std::net::ToSocketAddrs::to_socket_addrs(host)?.collect())
}

fn none_found() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to no socket address",
    )
}

/// The addresses, resolving host names on the blocking pool.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.lookup()? {
        Lookup::Ready(a) => a,
        Lookup::Resolve(host) => crate::spawn_blocking(move || resolve_now(&host)).await?,
    };
    if addrs.is_empty() {
        return Err(none_found());
    }
    Ok(addrs)
}

/// The addresses, resolving host names on this thread (for the synchronous `bind`s).
pub(crate) fn resolve_blocking<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.lookup()? {
        Lookup::Ready(a) => a,
        Lookup::Resolve(host) => resolve_now(&host)?,
    };
    if addrs.is_empty() {
        return Err(none_found());
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; the first success, or the last error.
pub(crate) fn each_addr<T>(
    addrs: Vec<SocketAddr>,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addrs {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(none_found))
}
