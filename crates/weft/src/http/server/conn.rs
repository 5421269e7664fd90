//! One HTTP/1.1 connection on the server: read a head, check it, read the body, call the
//! handler, write the response, and again while the connection is kept alive.
//!
//! Requests on a connection are handled one at a time, so pipelined requests are answered in
//! order: the next head is only read (from what is already buffered, or from the socket) once
//! the previous response is written. Every wait has a deadline: the first byte of a head
//! (`idle_timeout` on a kept-alive connection, `header_read_timeout` on a new one), the rest of
//! the head (`header_read_timeout`), each read of a body and each write (`idle_timeout`).
//! Input that breaks the protocol is answered with its status and `connection: close`, and
//! the connection is closed after a short linger that lets the client read the answer.

#![forbid(unsafe_code)]

use super::expect::{expectation, Expect};
use super::response::{date, status_response, HandlerError, IntoResponse};
use super::{Config, ConnectInfo, Shared};
use crate::http::h1::{self, BodyState, Framing, ReadBuf, RequestHead};
use crate::http::h2::PREFACE_LINE;
use crate::http::upgrade::{self, Upgraded};
use crate::http::{header, Body, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use crate::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use crate::time::Instant;
use bytes::{Bytes, BytesMut};
use futures_lite::FutureExt as _;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;

/// A body chunk or response piece at most this large is copied next to the head so that both
/// go out in one write.
const COALESCE: usize = 16 * 1024;

/// The most one body read asks for.
const BODY_READ: usize = 64 * 1024;

/// The most memory reserved for a request body before its bytes arrive.
const RESERVE_MAX: u64 = 1 << 20;

/// How long, at most, a connection that is being closed after an error keeps reading (and
/// dropping) what the client still sends, so that its unread bytes do not turn the close
/// into a reset that destroys the answer before the client reads it.
const LINGER: Duration = Duration::from_secs(1);

/// The most bytes dropped while lingering.
const LINGER_MAX: usize = 1 << 20;

/// What reading the next head gave.
enum Next {
    Head(RequestHead),
    /// The client closed, went idle past the limit, or the server is shutting down.
    Close,
    /// Answer with this status and close.
    Reject(StatusCode, &'static str),
    /// The connection opens with the HTTP/2 preface: it is HTTP/2 by prior knowledge.
    H2,
}

struct Conn<'a, S> {
    io: S,
    buf: ReadBuf,
    out: Vec<u8>,
    cfg: &'a Config,
    shared: &'a Shared,
    /// Resolves when graceful shutdown begins; one wait for the connection's life, so an idle
    /// wait between requests registers no new listener.
    shutdown: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    /// A response has been written on this connection.
    answered: bool,
    /// The addresses, given to every request.
    info: ConnectInfo,
}

/// Serves HTTP/1.x on `io` (accepted at `opened`: the first head's deadline counts from
/// then, a TLS handshake included) until the client closes, the protocol is broken, or
/// shutdown.
pub(super) async fn serve_connection<S, H, F, R>(
    io: S,
    opened: Instant,
    info: ConnectInfo,
    handler: &H,
    cfg: &Config,
    shared: &Shared,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    let mut conn = Conn {
        io,
        buf: ReadBuf::new(),
        out: Vec::with_capacity(1024),
        cfg,
        shared,
        shutdown: Box::pin(shared.shutdown.wait()),
        answered: false,
        info,
    };
    loop {
        let head = match conn.read_head(opened).await {
            Next::Head(head) => head,
            Next::Close => break,
            Next::Reject(status, why) => {
                conn.reject(status, why).await;
                break;
            }
            Next::H2 => {
                let Conn { io, buf, .. } = conn;
                crate::http::h2::serve(io, buf.data(), opened, info, handler, cfg, shared).await;
                return;
            }
        };
        match conn.exchange(head, handler).await {
            Ok(After::Open) => {}
            Ok(After::Close) => {
                conn.close().await;
                break;
            }
            Ok(After::Switch(pending)) => {
                // No longer HTTP: the stream, and what was read past the request, are the
                // upgrade's. If nobody waits for it, dropping it closes the connection.
                let Conn { io, buf, .. } = conn;
                let rest = Bytes::copy_from_slice(buf.data());
                drop(pending.fulfill(Upgraded::new(io, rest)));
                return;
            }
            Err(Reject(status, why)) => {
                conn.reject(status, why).await;
                break;
            }
        }
    }
}

/// A request refused before the handler ran: its status and why.
struct Reject(StatusCode, &'static str);

/// What becomes of the connection after an exchange.
enum After {
    /// It stays open for the next request.
    Open,
    /// It closes.
    Close,
    /// The response switched protocols: the connection goes to whoever waits on the
    /// request's upgrade.
    Switch(upgrade::Pending),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<'_, S> {
    /// Waits for and parses the next request head.
    async fn read_head(&mut self, opened: Instant) -> Next {
        let cfg = self.cfg;
        let first = !self.answered;
        // Empty lines before a request (RFC 9112 section 2.2: a client may send a CRLF after a
        // body) are dropped here, so that a connection holding nothing else counts as idle.
        loop {
            let data = self.buf.data();
            if data.starts_with(b"\r\n") {
                self.buf.consume(2);
            } else if data.starts_with(b"\n") {
                self.buf.consume(1);
            } else {
                break;
            }
        }
        if self.buf.is_empty() {
            // Nothing of the next request yet: the connection is idle. A new one gets
            // `header_read_timeout` for its whole head, a kept-alive one `idle_timeout` for
            // its first byte; either way shutdown closes it at once.
            if self.shared.shutdown.is_set() {
                // (The shutdown future has completed, or is about to: never poll it again.)
                return Next::Close;
            }
            // Bytes already there (a pipelined or quick client) need no timer and no watch for
            // shutdown: one read without waiting first.
            let at_once =
                futures_lite::future::poll_once(self.buf.fill(&mut self.io, cfg.max_header_size))
                    .await;
            let outcome = match at_once {
                Some(read) => Some(Ok(read)),
                None => {
                    let wait = if first {
                        cfg.header_read_timeout.saturating_sub(opened.elapsed())
                    } else {
                        cfg.idle_timeout
                    };
                    let read = crate::time::timeout(
                        self.buf.fill(&mut self.io, cfg.max_header_size),
                        wait,
                    );
                    let shutdown = &mut self.shutdown;
                    let stop = async {
                        shutdown.as_mut().await;
                        None
                    };
                    async { Some(read.await) }.or(stop).await
                }
            };
            match outcome {
                None => return Next::Close,
                Some(Err(_)) if first => {
                    return Next::Reject(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request head took too long",
                    )
                }
                Some(Err(_)) | Some(Ok(Err(_))) | Some(Ok(Ok(0))) => return Next::Close,
                Some(Ok(Ok(_))) => {}
            }
        }
        let deadline = head_deadline(first, opened, cfg.header_read_timeout);
        loop {
            if first {
                // HTTP/2 by prior knowledge: the preface's first line, before any request.
                let data = self.buf.data();
                let n = data.len().min(PREFACE_LINE.len());
                if data[..n] == PREFACE_LINE[..n] {
                    if n == PREFACE_LINE.len() {
                        return Next::H2;
                    }
                    // Not enough to tell yet: read on.
                    let read = self.buf.fill(&mut self.io, cfg.max_header_size);
                    match crate::time::timeout_at(read, deadline).await {
                        Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return Next::Close,
                        Ok(Ok(_)) => continue,
                    }
                }
            }
            match h1::parse_request(self.buf.data(), cfg.max_header_size, cfg.max_headers) {
                Err(e) => return Next::Reject(e.status(), e.reason()),
                Ok(Some((head, len))) => {
                    self.buf.consume(len);
                    return Next::Head(head);
                }
                Ok(None) => {}
            }
            if self.buf.data().len() >= cfg.max_header_size {
                return Next::Reject(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the message head is larger than the limit",
                );
            }
            let read = self.buf.fill(&mut self.io, cfg.max_header_size);
            match crate::time::timeout_at(read, deadline).await {
                Err(_) if self.answered => return Next::Close,
                Err(_) => {
                    return Next::Reject(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request head took too long",
                    )
                }
                Ok(Ok(0)) | Ok(Err(_)) => return Next::Close,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// One request and its response, and what becomes of the connection.
    async fn exchange<H, F, R>(
        &mut self,
        mut head: RequestHead,
        handler: &H,
    ) -> Result<After, Reject>
    where
        H: Fn(Request<Body>) -> F,
        F: Future<Output = R>,
        R: IntoResponse,
    {
        let cfg = self.cfg;
        // RFC 9112 section 3.2: exactly one Host in HTTP/1.1, never more than one.
        let present = h1::Present::of(&head.headers);
        let hosts = present.hosts;
        if hosts > 1 || (hosts == 0 && head.version == Version::HTTP_11) {
            return Err(Reject(
                StatusCode::BAD_REQUEST,
                "an HTTP/1.1 request needs exactly one Host header",
            ));
        }
        // The target's bytes become the `Uri`'s without another copy.
        let uri = Uri::try_from(std::mem::take(&mut head.target))
            .map_err(|_| Reject(StatusCode::BAD_REQUEST, "malformed request target"))?;
        let framing =
            h1::request_framing(&head, present).map_err(|e| Reject(e.status(), e.reason()))?;
        if let Framing::Length(n) = framing {
            if n > cfg.max_body_size {
                return Err(Reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is larger than the limit",
                ));
            }
        }
        let keep_alive = if present.connection {
            h1::keep_alive(head.version, &head.headers)
        } else {
            head.version == Version::HTTP_11
        };
        let has_body = framing != Framing::Length(0);
        // RFC 9110 section 10.1.1: 100-continue is the one expectation there is (ignored in
        // HTTP/1.0); any other cannot be met.
        let expect = if present.expect {
            expectation(&head.headers)
        } else {
            Expect::None
        };
        if expect == Expect::Unknown {
            return Err(Reject(
                StatusCode::EXPECTATION_FAILED,
                "the only expectation served is 100-continue",
            ));
        }
        let mut continued = false;
        if has_body
            && head.version == Version::HTTP_11
            && expect == Expect::Continue
            && self.buf.is_empty()
        {
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| Reject(StatusCode::BAD_REQUEST, "the connection failed"))?;
            continued = true;
        }
        // RFC 9110 section 7.8 (Upgrade is HTTP/1.1's) and 9.3.6 (CONNECT): the handler may
        // take the connection. Nothing past this request is read before it answers.
        let upgradable =
            head.method == Method::CONNECT || (head.version == Version::HTTP_11 && present.upgrade);
        let (body, trailers) = if has_body {
            self.read_body(framing).await?
        } else {
            (Bytes::new(), None)
        };
        // RFC 9110 section 10.1.4: a client that lists `trailers` in `TE` reads them; the
        // response's trailers are sent only then (as hyper does).
        let te_trailers = present.te && h1::te_trailers(&head.headers);

        let method = head.method;
        let version = head.version;
        let mut body = Body::from(body);
        if let Some(trailers) = trailers {
            body = body.with_trailers(*trailers);
        }
        let mut req = Request::new(body);
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = version;
        *req.headers_mut() = head.headers;
        if cfg.connect_info {
            req.extensions_mut().insert(self.info);
        }
        let mut pending = None;
        if upgradable {
            let (tx, on_upgrade) = upgrade::pending();
            req.extensions_mut().insert(on_upgrade);
            pending = Some(tx);
        }
        // For the log lines below (a clone shares the bytes).
        let uri = req.uri().clone();
        let path = uri.path();

        // The handler's future (the request inside it) is moved as few times as possible:
        // each move is a copy of it.
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(req))) {
            Ok(fut) => {
                let mut fut = std::pin::pin!(fut);
                std::future::poll_fn(|cx| {
                    // The conversion too: a panic in it is the handler's.
                    std::panic::catch_unwind(AssertUnwindSafe(|| {
                        fut.as_mut().poll(cx).map(IntoResponse::into_response)
                    }))
                    .map_or_else(|p| std::task::Poll::Ready(Err(p)), |r| r.map(Ok))
                })
                .await
            }
            Err(panic) => Err(panic),
        };
        let (mut res, panicked) = match outcome {
            Ok(res) => (res, false),
            Err(panic) => {
                let msg = panic_message(panic.as_ref());
                eprintln!("weft::http: the handler panicked on {method} {path}: {msg}");
                (status_response(StatusCode::INTERNAL_SERVER_ERROR), true)
            }
        };
        if let Some(HandlerError(msg)) = res.extensions_mut().remove::<HandlerError>() {
            eprintln!("weft::http: the handler failed on {method} {path}: {msg}");
        }
        let switches = res.status() == StatusCode::SWITCHING_PROTOCOLS
            || (method == Method::CONNECT && res.status().is_success());
        if let Some(pending) = pending.take().filter(|_| switches && !panicked) {
            // RFC 9110 section 7.8: a client that expects 100-continue gets it before the 101.
            if expect == Expect::Continue
                && !continued
                && version == Version::HTTP_11
                && self.write(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
            {
                return Ok(After::Close);
            }
            return Ok(self.switch(res, pending).await);
        }
        drop(pending);
        if res.status().is_informational() {
            // A 1xx is not an answer: the client would wait for the final response forever.
            eprintln!(
                "weft::http: the handler answered {method} {path} with {}, not a final status; a 500 was sent",
                res.status()
            );
            res = status_response(StatusCode::INTERNAL_SERVER_ERROR);
        }
        let close = panicked || !keep_alive || self.shared.shutdown.is_set();
        let kept = self
            .respond(res, &method, version, close, te_trailers)
            .await;
        self.answered = true;
        Ok(if kept { After::Open } else { After::Close })
    }

    /// Writes the head of a response that switches protocols (no body, no framing fields)
    /// and hands the connection to `pending`.
    async fn switch(&mut self, res: Response<Body>, pending: upgrade::Pending) -> After {
        let (parts, _body) = res.into_parts();
        let headers = &parts.headers;
        let date = (!headers.contains_key(header::DATE)).then(date);
        self.out.clear();
        h1::write_response_head(
            &mut self.out,
            parts.status,
            headers,
            Framing::Length(0),
            false,
            h1::Added {
                connection: None,
                date: date.as_ref().map(|d| d.as_bytes()),
            },
        );
        let out = std::mem::take(&mut self.out);
        let written = self.write(&out).await;
        self.out = out;
        self.answered = true;
        if written.is_err() {
            return After::Close;
        }
        // A TLS stream may hold the head back until flushed.
        let flushed = crate::time::timeout(self.io.flush(), self.cfg.idle_timeout).await;
        if !matches!(flushed, Ok(Ok(()))) {
            return After::Close;
        }
        After::Switch(pending)
    }

    /// Reads a whole request body, up to `max_body_size`, and its trailers.
    async fn read_body(
        &mut self,
        framing: Framing,
    ) -> Result<(Bytes, Option<Box<http::HeaderMap>>), Reject> {
        let max = self.cfg.max_body_size;
        let mut state = BodyState::new(framing);
        let mut first: Option<Bytes> = None;
        let mut all = BytesMut::new();
        let mut total: u64 = 0;
        loop {
            let next = state.next(&mut self.buf, &mut self.io, BODY_READ);
            let chunk = match crate::time::timeout(next, self.cfg.idle_timeout).await {
                Err(_) => {
                    return Err(Reject(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request body took too long",
                    ))
                }
                Ok(Err(_)) => {
                    return Err(Reject(
                        StatusCode::BAD_REQUEST,
                        "malformed or cut request body",
                    ))
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            total += chunk.len() as u64;
            if total > max {
                return Err(Reject(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is larger than the limit",
                ));
            }
            match first.take() {
                None if all.is_empty() => first = Some(chunk),
                None => all.extend_from_slice(&chunk),
                Some(prev) => {
                    // Room for the announced length, but no more than RESERVE_MAX up front: the
                    // length is the client's word, and memory is only spent on bytes it sends.
                    let hint = match framing {
                        Framing::Length(n) => n.min(RESERVE_MAX) as usize,
                        _ => prev.len() + chunk.len(),
                    };
                    all.reserve(hint);
                    all.extend_from_slice(&prev);
                    all.extend_from_slice(&chunk);
                }
            }
        }
        Ok((first.unwrap_or_else(|| all.freeze()), state.take_trailers()))
    }

    /// Writes `res` (its trailers too, if `te_trailers`: the client said it reads them); true
    /// if the connection stays open after it.
    async fn respond(
        &mut self,
        res: Response<Body>,
        method: &Method,
        version: Version,
        mut close: bool,
        te_trailers: bool,
    ) -> bool {
        let (mut parts, mut body) = res.into_parts();
        let status = parts.status;
        let headers = &mut parts.headers;
        close |= !h1::keep_alive(Version::HTTP_11, headers);
        let no_body = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        // A HEAD response may announce the length a GET would get (RFC 9110 section 9.3.2)
        // with no body: the `content-length` the handler set is kept then.
        let head_length = match body.len() {
            Some(0) | None if method == Method::HEAD => headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok()),
            _ => None,
        };
        let send_body = !no_body && method != Method::HEAD;
        // Trailers go after the last chunk: the body goes chunked even if its length is known.
        let trailers =
            te_trailers && send_body && version == Version::HTTP_11 && body.has_trailers();
        if trailers && !headers.contains_key(header::TRAILER) {
            if let Some(names) = body.trailers().and_then(h1::trailer_names) {
                headers.insert(header::TRAILER, names);
            }
        }
        let framing = if no_body {
            Framing::Length(0)
        } else if trailers {
            Framing::Chunked
        } else if let Some(n) = head_length {
            Framing::Length(n)
        } else if let Some(n) = body.len() {
            Framing::Length(n)
        } else if version == Version::HTTP_11 {
            Framing::Chunked
        } else {
            Framing::Close
        };
        if send_body && framing == Framing::Close {
            close = true;
        }
        let connection = if close {
            Some("close")
        } else if version == Version::HTTP_10 {
            Some("keep-alive")
        } else {
            None
        };
        let date = (!headers.contains_key(header::DATE)).then(date);
        self.out.clear();
        h1::write_response_head(
            &mut self.out,
            status,
            headers,
            framing,
            !no_body,
            h1::Added {
                connection,
                date: date.as_ref().map(|d| d.as_bytes()),
            },
        );
        if !send_body {
            let out = std::mem::take(&mut self.out);
            let ok = self.write(&out).await.is_ok();
            self.out = out;
            return ok && !close;
        }
        let ok = self.write_body(&mut body, framing, trailers).await;
        ok && !close
    }

    /// Writes the head in `self.out` and then `body` in `framing` (and its trailers after the
    /// last chunk, if `trailers`); false if the connection has to close (a write failed, or
    /// the body failed or did not match its length).
    async fn write_body(&mut self, body: &mut Body, framing: Framing, trailers: bool) -> bool {
        let mut out = std::mem::take(&mut self.out);
        let ok = self
            .write_body_with(body, framing, trailers, &mut out)
            .await;
        out.clear();
        self.out = out;
        ok
    }

    async fn write_body_with(
        &mut self,
        body: &mut Body,
        framing: Framing,
        trailers: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        // A body in memory goes out with its head in one write when small; a streaming body's
        // head goes out first, so the client sees it before the first chunk is ready, and each
        // chunk as it comes (whether or not its length is known, as a proxied body's is).
        let in_memory = body.as_bytes().is_some();
        if !in_memory && self.write(out).await.is_err() {
            return false;
        }
        if !in_memory {
            out.clear();
        }
        let mut sent: u64 = 0;
        loop {
            let chunk = match body.chunk().await {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(_)) => return false,
            };
            sent += chunk.len() as u64;
            match framing {
                Framing::Length(n) if sent > n => return false,
                Framing::Chunked => h1::write_chunk(out, &chunk),
                _ if out.len() + chunk.len() <= COALESCE => out.extend_from_slice(&chunk),
                _ => {
                    if (!out.is_empty() && self.write(out).await.is_err())
                        || self.write(&chunk).await.is_err()
                    {
                        return false;
                    }
                    out.clear();
                    continue;
                }
            }
            if !in_memory || out.len() > COALESCE {
                if self.write(out).await.is_err() {
                    return false;
                }
                out.clear();
            }
        }
        match framing {
            Framing::Chunked => {
                let trailers = if trailers { body.take_trailers() } else { None };
                h1::write_last_chunk(out, trailers.as_ref());
            }
            Framing::Length(n) if sent != n => {
                // Fewer bytes than announced: the client can only tell by the close.
                let _ = self.write(out).await;
                return false;
            }
            _ => {}
        }
        if !out.is_empty() && self.write(out).await.is_err() {
            return false;
        }
        true
    }

    /// Writes all of `bytes` within `idle_timeout`.
    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // Most writes finish at once: the timer is armed only for one that has to wait.
        let mut write = self.io.write_all(bytes);
        if let Some(done) = futures_lite::future::poll_once(&mut write).await {
            return done;
        }
        match crate::time::timeout(write, self.cfg.idle_timeout).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// Answers a refused request with `status` and `connection: close`, then closes.
    async fn reject(&mut self, status: StatusCode, why: &'static str) {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(header::DATE, date());
        let body = format!("{why}\n");
        self.out.clear();
        h1::write_response_head(
            &mut self.out,
            status,
            &headers,
            Framing::Length(body.len() as u64),
            true,
            h1::Added {
                connection: None,
                date: None,
            },
        );
        self.out.extend_from_slice(body.as_bytes());
        let out = std::mem::take(&mut self.out);
        if self.write(&out).await.is_ok() {
            self.answered = true;
            self.close().await;
        }
    }

    /// Shuts down the write side, then reads and drops what the client still sends (for a
    /// second at most), so that the client reads the last response before the connection
    /// goes away.
    async fn close(&mut self) {
        if crate::time::timeout(self.io.close(), LINGER).await.is_err() {
            return;
        }
        let drain = async {
            let mut scratch = [0u8; 4096];
            let mut dropped = 0;
            while dropped < LINGER_MAX {
                match self.io.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => dropped += n,
                }
            }
        };
        let _ = crate::time::timeout(drain, LINGER).await;
    }
}

/// When the head being read must be complete: a new connection's counts from its accept, a
/// kept-alive one's from its first byte (a limit too large to add means none).
fn head_deadline(first: bool, opened: Instant, limit: Duration) -> Instant {
    let from = if first { opened } else { Instant::now() };
    from.checked_add(limit)
        .unwrap_or_else(|| from + Duration::from_secs(100 * 365 * 24 * 3600))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a panic with a non-text payload"
    }
}
