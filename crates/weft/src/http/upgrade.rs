//! HTTP/1.1 upgrades (RFC 9110 section 7.8): after a `101 Switching Protocols` response,
//! the connection is the handler's, as a raw byte stream for the protocol both sides
//! switched to (a WebSocket, say), and after a `2xx` to `CONNECT`, a tunnel.
//!
//! A request that asks to upgrade (HTTP/1.1 with an `Upgrade` field, or `CONNECT`) carries
//! an [`OnUpgrade`] in its extensions; [`on`] takes it. It resolves once the server has
//! written the handler's `101` (or `2xx` to `CONNECT`) and handed over the connection, so a
//! handler spawns a task that awaits it and then returns its response, as with hyper:
//!
//! ```
//! use weft::http::{header, upgrade, Body, Request, Response, StatusCode};
//! use weft::io::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn handle(mut req: Request<Body>) -> Response<Body> {
//!     let asks = req.headers().get(header::UPGRADE).is_some_and(|v| v == "echo");
//!     if !asks {
//!         return Response::new(Body::from("ask with Upgrade: echo"));
//!     }
//!     let on_upgrade = upgrade::on(&mut req);
//!     weft::spawn(async move {
//!         let Ok(mut conn) = on_upgrade.await else { return };
//!         // The raw connection: echo what comes until the client closes.
//!         let mut buf = [0u8; 4096];
//!         while let Ok(n @ 1..) = conn.read(&mut buf).await {
//!             if conn.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     let mut res = Response::new(Body::empty());
//!     *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
//!     res.headers_mut().insert(header::UPGRADE, "echo".parse().unwrap());
//!     res.headers_mut().insert(header::CONNECTION, "upgrade".parse().unwrap());
//!     res
//! }
//! # let _ = handle;
//! ```
//!
//! The server reads no further than the request (its head, and its body if it has one)
//! before the handler answers: bytes the client sent after it, in the new protocol, are what
//! the [`Upgraded`] stream gives first. A response other than the switch leaves the
//! connection HTTP (the [`OnUpgrade`] then fails), as RFC 9110 lets a server decline.
//!
//! An upgraded connection is no longer an HTTP connection of the server: it does not count
//! towards [`max_connections`](super::Serve::max_connections), and graceful shutdown neither
//! waits for it nor closes it (as hyper does; a handler that wants it closed on shutdown
//! watches its own signal). HTTP/2 requests cannot be upgraded (`Upgrade` is an HTTP/1.1
//! field, and extended CONNECT is not served), nor can HTTP/1.0 ones. The client does not
//! switch protocols: a `101` it receives is returned as the response, with an empty body,
//! and its connection closed.

#![forbid(unsafe_code)]

use super::{Error, Request};
use crate::io::{AsyncRead, AsyncWrite};
use crate::sync::oneshot;
use bytes::{Buf, Bytes};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Takes the [`OnUpgrade`] out of a request's extensions: the future of its connection
/// once the server has switched protocols. A request that cannot be upgraded (one that did
/// not ask, an HTTP/2 one, or one whose `OnUpgrade` was already taken) gives one that fails
/// at once.
pub fn on<M: sealed::CanUpgrade>(msg: M) -> OnUpgrade {
    msg.on_upgrade()
}

mod sealed {
    pub trait CanUpgrade {
        fn on_upgrade(self) -> super::OnUpgrade;
    }
}

impl<B> sealed::CanUpgrade for &mut Request<B> {
    fn on_upgrade(self) -> OnUpgrade {
        self.extensions_mut()
            .remove::<OnUpgrade>()
            .unwrap_or_else(OnUpgrade::none)
    }
}

impl<B> sealed::CanUpgrade for Request<B> {
    fn on_upgrade(mut self) -> OnUpgrade {
        (&mut self).on_upgrade()
    }
}

/// The future of an upgraded connection: resolves to the [`Upgraded`] stream once the server
/// has sent the handler's `101 Switching Protocols` (or `2xx` to `CONNECT`), or to an error
/// if the handler answered otherwise or the connection closed first.
///
/// Made by [`on`]. It resolves only after the handler has returned its response, so awaiting
/// it inside the handler itself would wait forever: await it in a spawned task.
#[derive(Clone)]
pub struct OnUpgrade {
    rx: Option<Arc<Mutex<oneshot::Receiver<Upgraded>>>>,
}

impl OnUpgrade {
    fn none() -> Self {
        Self { rx: None }
    }
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(rx) = &self.rx else {
            return Poll::Ready(Err(Error::protocol(
                "the request cannot be upgraded, or its upgrade was already taken",
            )));
        };
        let polled = {
            let mut rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            Pin::new(&mut *rx).poll(cx)
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(handoff) => {
                self.rx = None;
                Poll::Ready(handoff.map_err(|_| {
                    Error::protocol(
                        "the connection was not upgraded: the response did not switch protocols, or the connection closed",
                    )
                }))
            }
        }
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnUpgrade")
            .field("pending", &self.rx.is_some())
            .finish()
    }
}

/// The server's end of an [`OnUpgrade`]: hands the connection over, or, dropped, tells the
/// handler's task there will be none.
pub(crate) struct Pending {
    tx: oneshot::Sender<Upgraded>,
}

/// A pending upgrade and the future the request carries for it.
pub(crate) fn pending() -> (Pending, OnUpgrade) {
    let (tx, rx) = oneshot::channel();
    (
        Pending { tx },
        OnUpgrade {
            rx: Some(Arc::new(Mutex::new(rx))),
        },
    )
}

impl Pending {
    /// Hands `io` over, with the bytes already read from it past the request; gives it back
    /// if nobody waits for it.
    pub(crate) fn fulfill(self, upgraded: Upgraded) -> Result<(), Upgraded> {
        self.tx.send(upgraded)
    }
}

/// The byte stream a connection is after it switched protocols: the socket (or TLS
/// stream) it was, reading first the bytes the server had already read past the request.
///
/// It implements `futures-io`'s [`AsyncRead`] and [`AsyncWrite`] (so weft's
/// `AsyncReadExt`/`AsyncWriteExt` methods work on it). Dropping it closes the connection.
pub struct Upgraded {
    prefix: Bytes,
    io: Box<dyn Io>,
}

/// What an upgraded connection can be.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl Upgraded {
    pub(crate) fn new<S>(io: S, prefix: Bytes) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self {
            prefix,
            io: Box::new(io),
        }
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.prefix.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.prefix.is_empty() {
            let n = buf.len().min(self.prefix.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}
