//! The HTTP server (HTTP/1.1 and HTTP/2): [`serve`] a handler on a [`TcpListener`].
//!
//! The guide's Example 1, a hello world server, here started on a free port, asked once with
//! a plain `std` client and then shut down gracefully:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use weft::http::{Body, Request, Response};
//! use weft::net::TcpListener;
//! use weft::sync::Event;
//!
//! # fn main() -> std::io::Result<()> {
//! weft::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let stop = Arc::new(Event::new());
//!     let shutdown_signal = {
//!         let stop = stop.clone();
//!         async move { stop.wait().await }
//!     };
//!     let server = weft::spawn(async move {
//!         weft::http::serve(listener, |_req: Request<Body>| async move {
//!             Response::new(Body::from("Hello, World!"))
//!         })
//!         .with_graceful_shutdown(shutdown_signal)
//!         .await
//!     });
//!
//!     // std's TcpStream blocks, so the client runs on the blocking pool.
//!     let reply = weft::spawn_blocking(move || -> std::io::Result<String> {
//!         let mut conn = std::net::TcpStream::connect(addr)?;
//!         conn.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
//!         let mut reply = String::new();
//!         conn.read_to_string(&mut reply)?;
//!         Ok(reply)
//!     })
//!     .await?;
//!     assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//!     assert!(reply.ends_with("\r\n\r\nHello, World!"));
//!
//!     stop.set();
//!     server.await // Ok(()) once every connection is done
//! })
//! # }
//! ```
//!
//! # What the server does
//!
//! - Each connection is served by its own task. HTTP/1.1 connections are kept alive, and
//!   pipelined requests are answered in order; HTTP/1.0 is served too (kept alive if the
//!   client asks with `Connection: keep-alive`).
//! - A request's body is read whole before the handler runs, up to
//!   [`max_body_size`](Serve::max_body_size) (a larger one is answered `413`), and handed over
//!   as a [`Body`] in memory. `Expect: 100-continue` is answered with `100 Continue` before the
//!   body is read (on HTTP/1.1, unless body bytes have already come; ignored on HTTP/1.0,
//!   as RFC 9110 says; an interim HEADERS on HTTP/2); any other expectation gets
//!   `417 Expectation Failed` without the handler being called.
//! - A response body whose length is known goes out with `content-length`, a streaming one
//!   ([`Body::from_stream`], [`Body::from_chunks`]) with chunked coding (to an HTTP/1.0 client:
//!   until the connection closes). A response to `HEAD` has no body; its `content-length`
//!   is its body's length, or, when the body is empty, the one the handler set (the length a
//!   `GET` would get, as a file server announces it). The server adds `date`,
//!   and `connection: close` to the last response of a connection it closes.
//! - Input that breaks the protocol is answered (`400`, `431` for heads over
//!   [`max_header_size`](Serve::max_header_size) or [`max_headers`](Serve::max_headers), `413`,
//!   `505` for versions other than 1.0 and 1.1) with `connection: close`, and that connection
//!   is closed. Framing is strict (RFC 9112): `Transfer-Encoding` with `Content-Length`,
//!   differing `Content-Length`s, transfer codings that do not end in `chunked`, and an
//!   HTTP/1.1 request without exactly one `Host` are refused, which shuts out request
//!   smuggling through a proxy that reads them otherwise.
//! - A handler that panics gives its request a `500` (the panic is written to stderr), and that
//!   connection is closed; the server and its other connections go on. A handler's response
//!   with an informational (`1xx`) status, which is no final answer, is sent as a `500` too
//!   (and reported on stderr), except a `101 Switching Protocols` to a request that asked
//!   to upgrade.
//! - HTTP/1.1 upgrades (`Upgrade`, and `CONNECT`): a `101` (a `2xx` to `CONNECT`) hands the
//!   connection to the task awaiting [`upgrade::on`](crate::http::upgrade::on), with the
//!   bytes read past the request first; see [`upgrade`](crate::http::upgrade). An upgraded
//!   connection is no longer the server's: graceful shutdown neither waits for it nor
//!   closes it.
//! - Slow clients are cut off: a head has [`header_read_timeout`](Serve::header_read_timeout)
//!   (`408` if the connection had no answer yet), an idle kept-alive connection
//!   [`idle_timeout`](Serve::idle_timeout), and each body read and response write
//!   `idle_timeout` too. At most [`max_connections`](Serve::max_connections) are open at once:
//!   beyond that, accepting waits.
//! - With [`with_connect_info`](Serve::with_connect_info), every request carries a
//!   [`ConnectInfo`] in its extensions: the client's address, the server's, and whether the
//!   connection is HTTPS (on HTTP/1.1 and HTTP/2 alike). Off by default, as in axum: the
//!   extension costs three allocations per request.
//! - [`with_graceful_shutdown`](Serve::with_graceful_shutdown) stops it cleanly.
//! - HTTP/2 is served to clients that open with its preface on plain TCP (prior knowledge)
//!   and to those that pick `h2` by ALPN over TLS. Its streams are handled concurrently
//!   (at most [`max_concurrent_streams`](Serve::max_concurrent_streams) at once), with flow
//!   control both ways; the limits above apply (a header list too large is a `431`, a body
//!   a `413`), a panicking handler gives its stream a `500` and the connection goes on, and
//!   broken input ends the stream (RST_STREAM) or the connection (GOAWAY). Graceful shutdown
//!   sends GOAWAY and lets the open streams finish. The request a handler gets has version
//!   `HTTP/2.0` and an absolute URI, with `host` set from `:authority`.

#![forbid(unsafe_code)]

mod conn;
pub(crate) mod expect;
mod info;
pub(crate) mod response;
#[cfg(feature = "tls")]
mod tls;

pub use info::ConnectInfo;
pub use response::IntoResponse;

use crate::http::{Body, Request};
use crate::net::{TcpListener, TcpStream};
use crate::sync::{Event, Semaphore, WaitGroup};
use futures_lite::FutureExt as _;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Serves `handler` on `listener`: every request on every connection is answered with what
/// `handler` returns for it.
///
/// The [`Serve`] this returns is configured with its builder methods and runs when awaited
/// (it implements [`IntoFuture`]; to spawn it, spawn `serve(..).into_future()`, as with
/// axum); it accepts connections until its
/// [`graceful shutdown`](Serve::with_graceful_shutdown) signal, then resolves to `Ok(())` once
/// the connections are done. Without such a signal it serves until it is dropped (connections
/// already open are then served to their end).
///
/// # Examples
///
/// A handler that answers by path, with a JSON body for one of them:
///
/// ```no_run
/// use weft::http::{Body, Method, Request, Response, StatusCode};
///
/// #[weft::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = weft::net::TcpListener::bind("127.0.0.1:8080")?;
///     weft::http::serve(listener, |req: Request<Body>| async move {
///         match (req.method(), req.uri().path()) {
///             (&Method::GET, "/") => Ok(Response::new(Body::from("Hello, World!"))),
///             (&Method::POST, "/echo") => {
///                 let text = req.into_body().text().await?;
///                 Ok(Response::new(Body::from(text)))
///             }
///             (&Method::GET, "/status") => {
///                 Body::json_of(&serde_json::json!({"ok": true})).map(Response::new)
///             }
///             _ => {
///                 let mut res = Response::new(Body::from("not found"));
///                 *res.status_mut() = StatusCode::NOT_FOUND;
///                 Ok::<_, weft::http::Error>(res)
///             }
///         }
///     })
///     .with_graceful_shutdown(async {
///         let _ = weft::signal::ctrl_c().await;
///     })
///     .await
/// }
/// ```
///
/// Run in a task of its own, with a client in the same program:
///
/// ```
/// use std::future::IntoFuture;
/// use std::sync::Arc;
/// use weft::http::{Body, Request, Response};
///
/// #[weft::main]
/// async fn main() -> Result<(), weft::http::Error> {
///     let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let stop = Arc::new(weft::sync::Event::new());
///     let signal = stop.clone();
///     let server = weft::spawn(
///         weft::http::serve(listener, |_req: Request<Body>| async {
///             Response::new(Body::from("hello"))
///         })
///         .with_graceful_shutdown(async move { signal.wait().await })
///         .into_future(),
///     );
///     let text = weft::http::get(&format!("http://{addr}/")).await?.text().await?;
///     assert_eq!(text, "hello");
///     stop.set();
///     server.await?;
///     Ok(())
/// }
/// ```
pub fn serve<H, F, R>(listener: TcpListener, handler: H) -> Serve<H>
where
    H: Fn(Request<Body>) -> F + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
    R: IntoResponse + 'static,
{
    Serve {
        listener,
        handler,
        config: Config::default(),
        signal: None,
        #[cfg(feature = "tls")]
        tls: None,
    }
}

/// An HTTP server being configured; made by [`serve`], run by awaiting it.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<H> {
    listener: TcpListener,
    handler: H,
    config: Config,
    signal: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<crate::http::rustls::ServerConfig>>,
}

/// The limits of a server.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_header_size: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_body_size: u64,
    pub(crate) max_connections: usize,
    pub(crate) max_concurrent_streams: usize,
    pub(crate) shutdown_timeout: Option<Duration>,
    /// Put a [`ConnectInfo`] in every request's extensions.
    pub(crate) connect_info: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_header_size: 64 * 1024,
            max_headers: 100,
            max_body_size: 2 * 1024 * 1024,
            max_connections: 10_000,
            max_concurrent_streams: 100,
            shutdown_timeout: None,
            connect_info: false,
        }
    }
}

/// What a server's connection tasks share with it.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Set when graceful shutdown begins: idle connections close, the others close after
    /// their current response.
    pub(crate) shutdown: Event,
    /// Set when the shutdown timeout has passed: every connection task stops at once.
    pub(crate) kill: Event,
    /// The open connections.
    conns: WaitGroup,
}

impl<H> Serve<H> {
    /// How long a client has to send a whole request head (default 30 s): the defence
    /// against clients that open connections and trickle their heads (slowloris). On a new
    /// connection it counts from the accept; on a kept-alive one from the head's first byte.
    /// A connection that misses it is closed, with `408 Request Timeout` if it had no
    /// response yet. It bounds a TLS handshake too.
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.config.header_read_timeout = d;
        self
    }

    /// How long a kept-alive connection may wait for its next request (default 60 s), and
    /// how long each read of a request body and each write of a response may wait.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.config.idle_timeout = d;
        self
    }

    /// The most bytes a request head may have (default 64 KiB); a larger one is answered
    /// `431 Request Header Fields Too Large`.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.config.max_header_size = bytes.max(64);
        self
    }

    /// The most header fields a request may have (default 100); more are answered `431`.
    pub fn max_headers(mut self, n: usize) -> Self {
        self.config.max_headers = n.max(1);
        self
    }

    /// The most bytes a request body may have (default 2 MiB); a larger one is answered
    /// `413 Payload Too Large`, whether its length is announced or it is chunked.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.config.max_body_size = bytes;
        self
    }

    /// Puts a [`ConnectInfo`] (the client's and the server's addresses, and whether the
    /// connection is HTTPS) in every request's extensions, as axum's
    /// `into_make_service_with_connect_info` does. Off by default: `http::Extensions` costs
    /// three allocations for the first value a request holds, about 9 % of a small
    /// request's work on the server.
    ///
    /// ```
    /// use weft::http::{Body, ConnectInfo, Request, Response};
    ///
    /// # fn run(listener: weft::net::TcpListener) {
    /// let server = weft::http::serve(listener, |req: Request<Body>| async move {
    ///     let who = req.extensions().get::<ConnectInfo>().map(|i| i.remote_addr());
    ///     Response::new(Body::from(format!("you are {who:?}")))
    /// })
    /// .with_connect_info();
    /// # let _ = server;
    /// # }
    /// ```
    pub fn with_connect_info(mut self) -> Self {
        self.config.connect_info = true;
        self
    }

    /// The most connections open at once (default 10,000); when that many are, the server
    /// accepts the next one only once one closes.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n.max(1);
        self
    }

    /// The most requests an HTTP/2 connection may have in progress at once (default 100,
    /// announced as SETTINGS_MAX_CONCURRENT_STREAMS); a stream opened beyond it is refused
    /// with RST_STREAM(REFUSED_STREAM), which a client may retry.
    pub fn max_concurrent_streams(mut self, n: usize) -> Self {
        self.config.max_concurrent_streams = n.clamp(1, u32::MAX as usize);
        self
    }

    /// Stops the server gracefully when `signal` resolves: the listener is closed (new
    /// connections are refused), idle kept-alive connections are closed at once, requests in
    /// progress are finished and answered with `connection: close`, and the server's future
    /// resolves to `Ok(())` once every connection is closed (or the
    /// [`shutdown_timeout`](Serve::shutdown_timeout) has passed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft::http::{Body, Request, Response};
    ///
    /// # weft::block_on(async {
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stop = Arc::new(weft::sync::Event::new());
    /// let signal = stop.clone();
    /// let server = weft::spawn(async move {
    ///     weft::http::serve(listener, |_: Request<Body>| async { Response::new(Body::empty()) })
    ///         .with_graceful_shutdown(async move { signal.wait().await })
    ///         .await
    /// });
    /// stop.set();
    /// server.await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long a graceful shutdown waits for connections to finish (default: for as long as
    /// they take). When it has passed, the remaining connection tasks are stopped (their
    /// connections closed, their handlers' futures dropped) and the server returns.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.config.shutdown_timeout = Some(d);
        self
    }

    /// Serves HTTPS: every connection starts with a TLS handshake on `config` (cargo feature
    /// `tls`, on by default). The server uses a copy of `config` whose ALPN protocols are `h2`
    /// and `http/1.1`, in that order: the protocol ALPN settles on is the one served. A
    /// handshake that fails, or does not complete within the
    /// [`header_read_timeout`](Serve::header_read_timeout), drops that connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use weft::http::rustls::{self, pki_types::{CertificateDer, PrivateKeyDer}};
    /// use weft::http::{Body, Request, Response};
    ///
    /// # async fn run(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> std::io::Result<()> {
    /// let config = rustls::ServerConfig::builder()
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![cert], key)
    ///     .map_err(std::io::Error::other)?;
    /// let listener = weft::net::TcpListener::bind("127.0.0.1:8443")?;
    /// weft::http::serve(listener, |_: Request<Body>| async { Response::new(Body::from("secure")) })
    ///     .tls(Arc::new(config))
    ///     .await
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<crate::http::rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }
}

impl<H> fmt::Debug for Serve<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Serve");
        d.field("listener", &self.listener)
            .field("config", &self.config)
            .field("graceful_shutdown", &self.signal.is_some());
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish()
    }
}

impl<H, F, R> IntoFuture for Serve<H>
where
    H: Fn(Request<Body>) -> F + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
    R: IntoResponse + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        ServeFuture {
            inner: Box::pin(self.run()),
        }
    }
}

/// The future of a running server: what awaiting a [`Serve`] runs.
#[must_use = "a server does nothing until it is awaited"]
pub struct ServeFuture {
    inner: Pin<Box<dyn Future<Output = io::Result<()>> + Send>>,
}

impl fmt::Debug for ServeFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFuture").finish_non_exhaustive()
    }
}

impl Future for ServeFuture {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll(cx)
    }
}

#[cfg(feature = "tls")]
type Tls = futures_rustls::TlsAcceptor;

/// No TLS without the `tls` feature.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum Tls {}

/// Marks a connection open for as long as its task holds it.
struct ConnGuard {
    shared: Arc<Shared>,
    _permit: crate::sync::SemaphoreGuardArc,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.conns.done();
    }
}

/// Accept errors that concern one connection only (see accept(2): network errors of the new
/// connection may be reported by accept); the server goes on with the next.
fn skippable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ETIMEDOUT
                | libc::EINTR
        )
    ) || e.kind() == io::ErrorKind::Interrupted
}

impl<H> Serve<H> {
    async fn run<F, R>(self) -> io::Result<()>
    where
        H: Fn(Request<Body>) -> F + Send + Sync + 'static,
        F: Future<Output = R> + Send + 'static,
        R: IntoResponse + 'static,
    {
        let Serve {
            listener,
            handler,
            config,
            signal,
            #[cfg(feature = "tls")]
            tls,
        } = self;
        #[cfg(feature = "tls")]
        let tls: Option<Tls> = tls.map(tls::acceptor);
        #[cfg(not(feature = "tls"))]
        let tls: Option<Tls> = None;
        let handler = Arc::new(handler);
        let config = Arc::new(config);
        let shared = Arc::new(Shared::default());
        let permits = Arc::new(Semaphore::new(config.max_connections));
        let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));

        let listening = listener.local_addr().ok();
        let mut failed = None;
        loop {
            let next = async {
                let permit = permits.acquire_arc().await;
                Some((permit, listener.accept().await))
            };
            let stop = async {
                signal.as_mut().await;
                None
            };
            let Some((permit, accepted)) = next.or(stop).await else {
                break;
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) if skippable(&e) => continue,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            shared.conns.add(1);
            let guard = ConnGuard {
                shared: shared.clone(),
                _permit: permit,
            };
            let local = stream.local_addr().ok().or(listening).unwrap_or(peer);
            let info = ConnectInfo::new(peer, local);
            let task = connection(
                stream,
                info,
                tls.clone(),
                handler.clone(),
                config.clone(),
                guard,
            );
            drop(crate::spawn(task));
        }

        // Shutdown: refuse new connections, close idle ones, let the busy ones finish.
        drop(listener);
        shared.shutdown.set();
        if let Some(e) = failed {
            return Err(e);
        }
        match config.shutdown_timeout {
            None => shared.conns.wait().await,
            Some(limit) => {
                if crate::time::timeout(shared.conns.wait(), limit)
                    .await
                    .is_err()
                {
                    shared.kill.set();
                    // Stopped tasks drop their connections on their next poll, which the
                    // event has woken; a handler that blocks its thread is not waited for
                    // long.
                    let _ = crate::time::timeout(shared.conns.wait(), Duration::from_secs(1)).await;
                }
            }
        }
        Ok(())
    }
}

/// One connection's task: the TLS handshake if any, then HTTP until the connection ends or
/// the server's shutdown timeout stops it.
async fn connection<H, F, R>(
    stream: TcpStream,
    info: ConnectInfo,
    tls: Option<Tls>,
    handler: Arc<H>,
    config: Arc<Config>,
    guard: ConnGuard,
) where
    H: Fn(Request<Body>) -> F + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
    R: IntoResponse + 'static,
{
    let shared = guard.shared.clone();
    let opened = crate::time::Instant::now();
    let work = async {
        let _ = stream.set_nodelay(true);
        match tls {
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                if let Ok(Ok(stream)) =
                    crate::time::timeout(handshake, config.header_read_timeout).await
                {
                    let info = info.with_tls();
                    // ALPN decides the protocol.
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        crate::http::h2::serve(
                            stream,
                            &[],
                            opened,
                            info,
                            &*handler,
                            &config,
                            &shared,
                        )
                        .await;
                    } else {
                        conn::serve_connection(stream, opened, info, &*handler, &config, &shared)
                            .await;
                    }
                }
            }
            _ => conn::serve_connection(stream, opened, info, &*handler, &config, &shared).await,
        }
    };
    // A panic past the handler (in a response body's stream, say) ends this task, which
    // closes only this connection: the guard's drop still counts it closed.
    work.or(shared.kill.wait()).await;
    drop(guard);
}
