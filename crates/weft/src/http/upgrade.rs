//! HTTP/1.1 upgrades (RFC 9110 section 7.8): after a `101 Switching Protocols` response,
//! the connection is a raw byte stream for the protocol both sides switched to (a
//! WebSocket, say), and after a `2xx` to `CONNECT`, a tunnel: the handler's on the server,
//! the caller's in the client.
//!
//! # On the server
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
//! field, and extended CONNECT is not served), nor can HTTP/1.0 ones.
//!
//! # In the client
//!
//! A request that asks to switch (`Connection: upgrade` and `Upgrade: ...`, or `CONNECT`,
//! whose request target is then the URL's `host:port`) and gets a `101` (or a `2xx` to
//! `CONNECT`) hands its connection over: [`Response::upgrade`](super::client::Response::upgrade)
//! (reqwest's name), or `upgrade::on(&mut response)` (hyper's, which also works on the
//! `http::Response` of [`into_http`](super::client::Response::into_http)), gives the same
//! [`Upgraded`] stream, reading first whatever the server sent after its `101` head. The
//! connection never goes back to the pool, and the request's timeout does not cover it.
//! A response that did not switch leaves the upgrade failing with an error that says what
//! the server answered; the response itself is an ordinary one.
//!
//! ```no_run
//! use weft::http::{header, upgrade, Client};
//! use weft::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # weft::block_on(async {
//! let mut response = Client::new()
//!     .get("http://127.0.0.1:8080/echo")
//!     .header(header::CONNECTION, "upgrade")
//!     .header(header::UPGRADE, "echo")
//!     .send()
//!     .await?;
//! let mut conn = upgrade::on(&mut response).await?;
//! conn.write_all(b"ping").await?;
//! let mut back = [0u8; 4];
//! conn.read_exact(&mut back).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! Upgrades are HTTP/1.1's: the client refuses to send a request that asks for one on an
//! HTTP/2 connection (an [`is_builder`](Error::is_builder) error; with `https://` a server may
//! choose HTTP/2 by ALPN, so build the client with
//! [`http1_only`](super::ClientBuilder::http1_only) to upgrade there).

#![forbid(unsafe_code)]

use super::{Error, Request, StatusCode, Version};
use crate::io::{AsyncRead, AsyncWrite};
use crate::sync::oneshot;
use bytes::{Buf, Bytes};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Takes the [`OnUpgrade`] out of a message: on the server, a request's (the future of its
/// connection once the response has switched protocols); in the client, a
/// [`Response`](super::client::Response)'s (or the `http::Response` that
/// [`into_http`](super::client::Response::into_http) made of it), ready at once.
///
/// A message that cannot be upgraded (a request that did not ask, an HTTP/2 one, a response
/// that did not switch protocols, or one whose upgrade was already taken) gives one that
/// fails at once, with an error that says why.
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
            .unwrap_or_else(|| {
                OnUpgrade::failed(
                    "the request cannot be upgraded, or its upgrade was already taken",
                )
            })
    }
}

impl<B> sealed::CanUpgrade for Request<B> {
    fn on_upgrade(mut self) -> OnUpgrade {
        (&mut self).on_upgrade()
    }
}

impl<B> sealed::CanUpgrade for &mut http::Response<B> {
    fn on_upgrade(self) -> OnUpgrade {
        self.extensions_mut()
            .remove::<OnUpgrade>()
            .unwrap_or_else(|| OnUpgrade::declined(self.status(), self.version()))
    }
}

impl<B> sealed::CanUpgrade for http::Response<B> {
    fn on_upgrade(mut self) -> OnUpgrade {
        (&mut self).on_upgrade()
    }
}

impl sealed::CanUpgrade for &mut super::client::Response {
    fn on_upgrade(self) -> OnUpgrade {
        self.take_upgrade()
    }
}

impl sealed::CanUpgrade for super::client::Response {
    fn on_upgrade(mut self) -> OnUpgrade {
        self.take_upgrade()
    }
}

/// The future of an upgraded connection: resolves to the [`Upgraded`] stream once the
/// response has switched protocols (a `101 Switching Protocols`, or a `2xx` to `CONNECT`), or
/// to an error if it did not, or the connection closed first.
///
/// Made by [`on`]. On the server it resolves only after the handler has returned its
/// response, so awaiting it inside the handler itself would wait forever: await it in a
/// spawned task. In the client it is ready at once: the response head has arrived.
#[derive(Clone)]
pub struct OnUpgrade {
    state: State,
}

#[derive(Clone)]
enum State {
    /// Fails at once, with this error's message.
    Failed(Arc<str>),
    /// The server's: the connection comes once the response has gone out.
    Waiting(Arc<Mutex<oneshot::Receiver<Upgraded>>>),
    /// The client's: the connection is here (`None` once taken by a clone).
    Ready(Arc<Mutex<Option<Upgraded>>>),
}

impl OnUpgrade {
    fn failed(why: impl Into<Arc<str>>) -> Self {
        Self {
            state: State::Failed(why.into()),
        }
    }

    /// The upgrade of a client's response: `upgraded` if it switched protocols.
    pub(crate) fn of_response(
        upgraded: Option<Upgraded>,
        status: StatusCode,
        version: Version,
    ) -> Self {
        match upgraded {
            Some(io) => Self {
                state: State::Ready(Arc::new(Mutex::new(Some(io)))),
            },
            None => Self::declined(status, version),
        }
    }

    /// The upgrade of a client's response that did not switch protocols.
    fn declined(status: StatusCode, version: Version) -> Self {
        if version == Version::HTTP_2 {
            return Self::failed(
                "the response came over HTTP/2: upgrades (Upgrade and CONNECT) are HTTP/1.1 only",
            );
        }
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Self::failed(
                "the response switched protocols, but its upgrade was already taken, or the \
                 request was still being sent",
            );
        }
        Self::failed(format!(
            "the server did not switch protocols: it answered {status}"
        ))
    }
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let taken = "the upgrade was already taken";
        let out = match &self.state {
            State::Failed(why) => Err(Error::protocol(&**why)),
            State::Ready(slot) => slot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .ok_or_else(|| Error::protocol(taken)),
            State::Waiting(rx) => {
                let polled = {
                    let mut rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                    Pin::new(&mut *rx).poll(cx)
                };
                match polled {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(handoff) => handoff.map_err(|_| {
                        Error::protocol(
                            "the connection was not upgraded: the response did not switch protocols, or the connection closed",
                        )
                    }),
                }
            }
        };
        self.state = State::Failed(taken.into());
        Poll::Ready(out)
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Failed(_) => "failed",
            State::Waiting(_) => "waiting",
            State::Ready(_) => "ready",
        };
        f.debug_struct("OnUpgrade").field("state", &state).finish()
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
            state: State::Waiting(Arc::new(Mutex::new(rx))),
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
/// stream) it was, reading first the bytes already read past the HTTP message (on the
/// server, what the client sent after its request; in the client, what the server sent
/// after its `101` head).
///
/// It implements `futures-io`'s [`AsyncRead`] and [`AsyncWrite`] (so weft's
/// `AsyncReadExt`/`AsyncWriteExt` methods work on it). Dropping it closes the connection.
pub struct Upgraded {
    prefix: Bytes,
    io: Box<dyn Io>,
    /// A client's upgraded connection still counts towards its
    /// `max_connections_per_host`: the permit goes with it.
    _permit: Option<crate::sync::SemaphoreGuardArc>,
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
            _permit: None,
        }
    }

    /// This connection, holding `permit` until it is dropped.
    pub(crate) fn holding(mut self, permit: Option<crate::sync::SemaphoreGuardArc>) -> Self {
        self._permit = permit;
        self
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
