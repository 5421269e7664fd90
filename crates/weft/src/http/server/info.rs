//! [`ConnectInfo`]: what a handler can learn about the connection its request came on.

#![forbid(unsafe_code)]

use std::net::SocketAddr;

/// The connection a request came on: the client's address, the server's own address, and
/// whether it was HTTPS.
///
/// A server built with [`with_connect_info`](super::Serve::with_connect_info) puts one in
/// every request's extensions, on HTTP/1.1 and HTTP/2, over TCP and TLS alike (the role
/// axum's `ConnectInfo<SocketAddr>` extension and warp's `remote()` play). The addresses are those of the TCP connection: behind a proxy or a load balancer
/// the client's own address is in whatever header that proxy sets (`Forwarded`,
/// `X-Forwarded-For`), which only the handler can decide to trust.
///
/// # Examples
///
/// ```
/// use weft::http::{Body, ConnectInfo, Request, Response};
///
/// async fn whoami(req: Request<Body>) -> Response<Body> {
///     match req.extensions().get::<ConnectInfo>() {
///         Some(info) => Response::new(Body::from(format!(
///             "you are {}, I am {}",
///             info.remote_addr(),
///             info.local_addr()
///         ))),
///         None => Response::new(Body::from("not from a weft server")),
///     }
/// }
/// # let _ = whoami;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectInfo {
    remote: SocketAddr,
    local: SocketAddr,
    tls: bool,
}

impl ConnectInfo {
    pub(crate) fn new(remote: SocketAddr, local: SocketAddr) -> Self {
        Self {
            remote,
            local,
            tls: false,
        }
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// The client's address: the peer of the TCP connection.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The server's address on this connection (the listener's, or with a listener on
    /// `0.0.0.0` the one the client connected to).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// True if the connection is HTTPS (the server's [`tls`](super::Serve::tls) config).
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}
