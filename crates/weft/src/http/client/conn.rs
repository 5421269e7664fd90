//! One connection: connecting (TCP, then TLS for `https`), sending a request on it, reading
//! the response head, and the stream that reads the response body and hands the connection
//! back to the pool at the body's end.

#![forbid(unsafe_code)]

use super::pool::{Key, Pool};
use super::upload::{Duplex, Outgoing, Upload};
use crate::http::body::{self, ChunkStream, Chunks};
use crate::http::h1::{self, BodyState, Framing, ReadBuf, ResponseHead};
use crate::http::{Body, Error, HeaderMap, Method, StatusCode, Uri};
use crate::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use crate::net::TcpStream;
use crate::sync::oneshot;
use crate::sync::SemaphoreGuardArc;
use crate::time::Instant;
use crate::time::Sleep;
use bytes::Bytes;
use futures_core::Stream;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A response head larger than this is refused.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// A response head with more header fields than this is refused.
pub(crate) const MAX_HEADERS: usize = 100;
/// The most a body read asks for at once.
const MAX_CHUNK: usize = 64 * 1024;
/// Informational (1xx) responses skipped before the final one, at most.
const MAX_INFORMATIONAL: usize = 16;
/// A body in memory at most this long is copied behind the head, to go out in one write.
const COALESCE: usize = 16 * 1024;

/// The byte stream of a connection: plain TCP or TLS over it.
pub(crate) enum Io {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_close(cx),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(&mut **s).poll_close(cx),
        }
    }
}

/// An open connection and the bytes read from it that no response consumed yet.
pub(crate) struct Conn {
    pub(crate) io: Io,
    pub(crate) buf: ReadBuf,
}

impl Conn {
    /// False once the executor the connection is registered with has shut down, or once the
    /// server has closed the idle connection or sent bytes no request asked for.
    // Without TLS the match has one arm.
    #[cfg_attr(not(feature = "tls"), allow(clippy::infallible_destructuring_match))]
    pub(crate) fn is_usable(&self) -> bool {
        let tcp = match &self.io {
            Io::Plain(s) => s,
            #[cfg(feature = "tls")]
            Io::Tls(s) => s.get_ref().0,
        };
        !tcp.is_orphaned() && tcp.is_quiet()
    }

    /// True if TLS negotiated HTTP/2 (ALPN `h2`).
    pub(crate) fn alpn_h2(&self) -> bool {
        match &self.io {
            Io::Plain(_) => false,
            #[cfg(feature = "tls")]
            Io::Tls(s) => s.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.io {
            Io::Plain(_) => "tcp",
            #[cfg(feature = "tls")]
            Io::Tls(_) => "tls",
        };
        f.debug_struct("Conn").field("io", &kind).finish()
    }
}

/// What connecting needs from the client.
pub(crate) struct Connector {
    pub(crate) connect_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    pub(crate) tls: futures_rustls::TlsConnector,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl Connector {
    /// Opens a connection to `key` (for `url`, named in errors): TCP with `TCP_NODELAY`, and
    /// the TLS handshake for `https`, all within the connect timeout.
    pub(crate) async fn connect(&self, key: &Key, url: &Uri) -> Result<Conn, Error> {
        let fut = self.open(key);
        let io = match self.connect_timeout {
            Some(d) => match crate::time::timeout(fut, d).await {
                Ok(r) => r,
                Err(_) => Err(Error::timeout().with_source(format!(
                    "connecting took longer than the connect timeout of {d:?}"
                ))),
            },
            None => fut.await,
        }
        .map_err(|e| e.with_url(url))?;
        Ok(Conn {
            io,
            buf: ReadBuf::new(),
        })
    }

    async fn open(&self, key: &Key) -> Result<Io, Error> {
        let tcp = TcpStream::connect((key.host.as_str(), key.port))
            .await
            .map_err(Error::connect)?;
        // Requests are written whole: Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        if !key.https {
            return Ok(Io::Plain(tcp));
        }
        #[cfg(feature = "tls")]
        {
            super::tls::handshake(&self.tls, &key.host, tcp).await
        }
        #[cfg(not(feature = "tls"))]
        {
            drop(tcp);
            Err(Error::builder("https:// needs weft's `tls` feature"))
        }
    }
}

/// A failed exchange, and whether it failed before any byte of the response arrived (the
/// server may have closed an idle connection: the request can go again on a new one).
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) nothing_received: bool,
    /// A write failed because the server closed the connection.
    pub(crate) peer_closed: bool,
}

impl Failed {
    fn early(error: Error) -> Self {
        Self {
            error,
            nothing_received: true,
            peer_closed: false,
        }
    }

    pub(crate) fn late(error: Error) -> Self {
        Self {
            error,
            nothing_received: false,
            peer_closed: false,
        }
    }

    pub(crate) fn write(e: io::Error) -> Self {
        let peer_closed = matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
        );
        Self {
            peer_closed,
            ..Self::early(Error::io(e))
        }
    }

    /// This failure, counted as received-nothing only if the read that ended with `read`
    /// received nothing either.
    fn after(self, read: &Failed) -> Self {
        Self {
            nothing_received: self.nothing_received && read.nothing_received,
            ..self
        }
    }
}

/// Sends a request (`head` already encoded for `framing`) and reads the final response head
/// (1xx responses are skipped).
///
/// A body in memory of at most [`COALESCE`] bytes goes in the head's write, before the
/// response is read. Anything longer is an [`Upload`] pushed while the head is read, and
/// still going when the head has arrived (the server answers as it reads, say): the returned
/// [`Outgoing`] goes on with the response body. It is [`Outgoing::Broken`] if the server
/// closed while the request went out and answered before it did (a 413 to an upload, say):
/// that answer is the response, and the connection cannot be used again.
pub(crate) async fn exchange(
    conn: &mut Conn,
    mut head: Vec<u8>,
    body: Body,
    framing: Framing,
) -> Result<(ResponseHead, Outgoing), Failed> {
    let small = body
        .as_bytes()
        .filter(|b| b.len() <= COALESCE && !body.has_trailers());
    if let Some(bytes) = small {
        head.extend_from_slice(bytes);
        let io = &mut conn.io;
        let written = match io.write_all(&head).await {
            Ok(()) => io.flush().await,
            Err(e) => Err(e),
        };
        return match written.map_err(Failed::write) {
            Ok(()) => read_head(&mut conn.buf, &mut conn.io)
                .await
                .map(|head| (head, Outgoing::Sent)),
            Err(failed) if failed.peer_closed => {
                // What the server sent before it closed is still there to read.
                match read_head(&mut conn.buf, &mut conn.io).await {
                    Ok(head) => Ok((head, Outgoing::Broken(failed))),
                    Err(read) => Err(failed.after(&read)),
                }
            }
            Err(failed) => Err(failed),
        };
    }
    let mut out = Outgoing::Sending(Upload::new(head, body, framing));
    let mut duplex = Duplex {
        io: &mut conn.io,
        out: &mut out,
    };
    match read_head(&mut conn.buf, &mut duplex).await {
        Ok(head) => match out {
            Outgoing::Aborted(failed) => Err(failed),
            out => Ok((head, out)),
        },
        Err(read) => match out {
            Outgoing::Aborted(failed) | Outgoing::Broken(failed) => Err(failed.after(&read)),
            _ => Err(read),
        },
    }
}

async fn read_head<S: AsyncRead + Unpin>(
    buf: &mut ReadBuf,
    io: &mut S,
) -> Result<ResponseHead, Failed> {
    let mut received = !buf.is_empty();
    let mut informational = 0;
    loop {
        match h1::parse_response(buf.data(), MAX_HEAD, MAX_HEADERS) {
            Ok(Some((head, len))) => {
                buf.consume(len);
                if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS
                {
                    informational += 1;
                    if informational > MAX_INFORMATIONAL {
                        return Err(Failed::late(Error::protocol(
                            "too many informational (1xx) responses",
                        )));
                    }
                    continue;
                }
                return Ok(head);
            }
            Ok(None) => {}
            Err(e) => {
                return Err(Failed::late(Error::protocol(format!(
                    "invalid response head: {}",
                    e.reason()
                ))))
            }
        }
        let n = buf.fill(io, MAX_HEAD).await.map_err(|e| Failed {
            error: Error::io(e),
            nothing_received: !received,
            peer_closed: false,
        })?;
        if n == 0 {
            return Err(if received {
                Failed::late(Error::protocol(
                    "the connection closed inside the response head",
                ))
            } else {
                Failed::early(Error::io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before the response",
                )))
            });
        }
        received = true;
    }
}

/// Where a connection goes once its response is read.
pub(crate) struct Return {
    pub(crate) pool: Arc<Pool>,
    pub(crate) key: Key,
    /// The response lets the connection stay open.
    pub(crate) keep_alive: bool,
    /// The client's cap on requests in flight to this host, released at the body's end.
    pub(crate) permit: Option<SemaphoreGuardArc>,
}

impl Return {
    /// The response is read to its end: the connection goes back to the pool if it may (the
    /// request was sent whole, and nothing follows the response).
    fn done(self, conn: Conn, sent: bool) {
        if self.keep_alive && sent && conn.buf.is_empty() {
            self.pool.put(self.key, conn);
        }
        drop(self.permit);
    }
}

/// The body of a response read from `conn` with `framing`, while `out` (what is left of the
/// request) goes on; the connection is handed back at the body's end. Dropped before its end,
/// it closes the connection. `deadline` ends it with a timeout.
pub(crate) fn response_body(
    mut conn: Conn,
    out: Outgoing,
    framing: Framing,
    ret: Return,
    url: Uri,
    deadline: Option<Instant>,
) -> Body {
    let state = BodyState::new(framing);
    // With the request still going out, the reader below settles it at the body's end.
    if !out.is_sending() {
        if state.is_done() {
            ret.done(conn, out.is_sent());
            return Body::empty();
        }
        if let BodyState::Length(n) = state {
            // Nothing left to wait for once the bytes are already here.
            if conn.buf.data().len() as u64 >= n {
                let bytes = conn.buf.split_to(n as usize);
                ret.done(conn, out.is_sent());
                return Body::from(bytes);
            }
        }
    }
    let len = match framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    // A chunked body's trailers are known at its end: the reader sends them to the body.
    let (trailers, received) = match framing {
        Framing::Chunked => {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        }
        _ => (None, None),
    };
    let reader = Reader {
        conn: Some(conn),
        out,
        state,
        ret: Some(ret),
        url: url.clone(),
        trailers,
    };
    let stream = futures_lite::stream::unfold(reader, Reader::step);
    let body = Body::streaming(with_deadline(body::chunks(stream), deadline, url), len);
    match received {
        Some(rx) => body.with_received_trailers(rx),
        None => body,
    }
}

/// `stream`, ended with a timeout error at `deadline` (dropping what it reads from).
pub(crate) fn with_deadline(
    stream: ChunkStream,
    deadline: Option<Instant>,
    url: Uri,
) -> ChunkStream {
    match deadline {
        None => stream,
        Some(at) => Box::pin(WithDeadline {
            inner: Some(stream),
            deadline: Some((at, None)),
            url,
            trailers: None,
        }),
    }
}

struct Reader {
    /// `None` once the body ended or failed.
    conn: Option<Conn>,
    /// The request, pushed by every read.
    out: Outgoing,
    state: BodyState,
    ret: Option<Return>,
    url: Uri,
    /// Where a chunked body's trailers go at its end.
    trailers: Option<oneshot::Sender<HeaderMap>>,
}

impl Reader {
    async fn step(mut self) -> Option<(Result<Bytes, Error>, Self)> {
        let conn = self.conn.as_mut()?;
        let mut duplex = Duplex {
            io: &mut conn.io,
            out: &mut self.out,
        };
        match self.state.next(&mut conn.buf, &mut duplex, MAX_CHUNK).await {
            Ok(Some(bytes)) => {
                if self.state.is_done() {
                    self.finish().await;
                }
                Some((Ok(bytes), self))
            }
            Ok(None) => {
                self.finish().await;
                None
            }
            Err(e) => {
                // The connection is in an unknown state: closed, never reused.
                self.conn = None;
                self.ret = None;
                let e = match std::mem::replace(&mut self.out, Outgoing::Sent) {
                    Outgoing::Aborted(failed) => failed.error,
                    _ => e,
                };
                Some((Err(e.with_url(&self.url)), self))
            }
        }
    }

    /// The body has ended: the connection goes back if the request is out too. One still
    /// going gets one more push, at once; if that does not finish it (the server answered
    /// without reading all of it, say), the connection is closed rather than waited for.
    async fn finish(&mut self) {
        if let Some(tx) = self.trailers.take() {
            if let Some(trailers) = self.state.take_trailers() {
                let _ = tx.send(*trailers);
            }
        }
        let (Some(mut conn), Some(ret)) = (self.conn.take(), self.ret.take()) else {
            return;
        };
        if self.out.is_sending() {
            poll_fn(|cx| {
                self.out.push(&mut conn.io, cx);
                Poll::Ready(())
            })
            .await;
        }
        ret.done(conn, self.out.is_sent());
        // The request body, if it was not taken whole, is dropped with the connection.
        self.out = Outgoing::Sent;
    }
}

/// A body stream that ends with a timeout error at the request's deadline (dropping the
/// connection).
struct WithDeadline {
    inner: Option<ChunkStream>,
    deadline: Option<(Instant, Option<Pin<Box<Sleep>>>)>,
    url: Uri,
    /// The inner stream's trailers, taken from it at its end (it is dropped then).
    trailers: Option<HeaderMap>,
}

impl Chunks for WithDeadline {
    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        self.get_mut().trailers.take()
    }
}

impl Stream for WithDeadline {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let expired = |this: &mut Self| {
            this.inner = None;
            this.deadline = None;
            Poll::Ready(Some(Err(Error::timeout()
                .with_source("the response body was not read before the request's deadline")
                .with_url(&this.url))))
        };
        if let Some((at, _)) = &this.deadline {
            if Instant::now() >= *at {
                return expired(this);
            }
        }
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(None) => {
                this.trailers = inner.as_mut().take_trailers();
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending => {
                if let Some((at, sleep)) = &mut this.deadline {
                    let sleep =
                        sleep.get_or_insert_with(|| Box::pin(crate::time::sleep_until(*at)));
                    if sleep.as_mut().poll(cx).is_ready() {
                        return expired(this);
                    }
                }
                Poll::Pending
            }
        }
    }
}

/// Whether a request with this method may be sent again after a failure (RFC 9110 9.2.2).
pub(crate) fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}
