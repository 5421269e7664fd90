//! One HTTP/2 connection on the server: the frame loop, the streams and flow control.
//!
//! The connection's task drives everything: it reads and handles frames, polls each open
//! stream's handler future and response body, and writes what they produce, in one
//! `poll` that loops while anything makes progress. Handlers therefore run concurrently
//! with each other and with the frame loop, without a task (and a channel) per stream, and
//! the server's kill deadline, which drops the connection's task, cuts them all at once.
//!
//! A request body is read whole (up to `max_body_size`, else `413`) before its handler runs,
//! as on HTTP/1.1; the stream's and the connection's receive windows are replenished as its
//! DATA arrives. Responses go out as HEADERS (plus CONTINUATION) and DATA frames within the
//! peer's windows and maximum frame size.

#![forbid(unsafe_code)]

use super::frame::{self, flag, kind, setting, Reason, DEFAULT_WINDOW, MAX_WINDOW};
use super::hpack::{Decoder, Encoder};
use super::message;
use super::PREFACE;
use crate::http::server::expect::{expectation, Expect};
use crate::http::server::response::{date, status_response, HandlerError, IntoResponse};
use crate::http::server::{Config, ConnectInfo, Shared};
use crate::http::{header, Body, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use crate::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use crate::time::Instant;
use bytes::{Bytes, BytesMut};
use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::future::{poll_fn, Future};
use std::ops::Bound;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Our receive window for each stream (SETTINGS_INITIAL_WINDOW_SIZE).
const STREAM_WINDOW: i64 = 1 << 20;

/// Our receive window for the connection, raised to this by a WINDOW_UPDATE at the start.
const CONN_WINDOW: i64 = 4 << 20;

/// The most frame payload we accept (SETTINGS_MAX_FRAME_SIZE; the default).
const MAX_FRAME: usize = frame::MIN_MAX_FRAME as usize;

/// Our HPACK table size (SETTINGS_HEADER_TABLE_SIZE; the default).
const TABLE_SIZE: usize = 4096;

/// How many streams the peer may reset within [`RESET_PERIOD`] before the connection is
/// closed with ENHANCE_YOUR_CALM (the rapid reset attack, CVE-2023-44487).
const RESET_MAX: u32 = 200;
const RESET_PERIOD: Duration = Duration::from_secs(10);

/// The most answers (SETTINGS and PING acknowledgements, RST_STREAMs) that may wait unwritten:
/// past it the peer sends faster than it reads, and the connection is closed.
const CONTROL_MAX: usize = 1000;

/// Past this many unwritten bytes, no more frames are read nor response data produced.
const WRITE_HIGH: usize = 256 * 1024;

/// How long frames on a stream the server reset are ignored (RFC 9113 section 5.4.2: the
/// peer may have sent them before it saw the reset), and how many such streams are
/// remembered at most (the oldest is forgotten first). Past that, such a frame is one on a
/// closed stream: DATA gets RST_STREAM(STREAM_CLOSED), HEADERS a connection error.
const RESET_REMEMBER: Duration = Duration::from_secs(30);
const RESET_REMEMBER_MAX: usize = 1024;

/// The most DATA frames with no data and no END_STREAM in a row (DATA that carries data
/// starts the count again): more is the empty-frame flood of CVE-2019-9518, which costs
/// the server work and the peer no flow-control window.
const EMPTY_DATA_MAX: u32 = 100;

/// The most CONTINUATION frames one header block may have.
const CONTINUATION_MAX: usize = 256;

/// How much of a request body that is not wanted (its response went out before it was read)
/// is read and dropped, with its window given back, before the stream is reset: a client may
/// finish sending a body it already started, as most do before they read the response.
const DISCARD_MAX: i64 = 1 << 20;

/// How long, at most, a closing connection waits for the peer to read its last frames.
const LINGER: Duration = Duration::from_secs(1);

/// How many times one poll may loop before it yields to other tasks.
const POLL_BUDGET: usize = 64;

/// A connection error: GOAWAY with this reason, then close.
#[derive(Debug)]
struct ConnError(Reason, &'static str);

type Panic = Box<dyn Any + Send>;

pin_project_lite::pin_project! {
    /// A handler's future, resolving to its response, or to its panic.
    struct Call<F> {
        #[pin]
        fut: F,
    }
}

impl<F, R> Future for Call<F>
where
    F: Future<Output = R>,
    R: IntoResponse,
{
    type Output = Result<Response<Body>, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match fut.poll(cx) {
            Poll::Ready(r) => Poll::Ready(r.into_response()),
            Poll::Pending => Poll::Pending,
        }));
        match polled {
            Ok(Poll::Ready(res)) => Poll::Ready(Ok(res)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

enum State<F> {
    /// The request's body is arriving.
    Receiving {
        request: Request<()>,
        body: BytesMut,
        content_length: Option<u64>,
        /// The trailer fields that ended the request, if it had any.
        trailers: Option<Box<HeaderMap>>,
    },
    /// The handler runs.
    Running {
        call: Pin<Box<Call<F>>>,
        method: Method,
        path: String,
    },
    /// The response's DATA is going out.
    Sending {
        body: Body,
        /// Bytes taken from the body and not sent yet (windows or frame size).
        pending: Bytes,
    },
    /// The response is sent.
    Done,
}

struct Stream<F> {
    state: State<F>,
    /// The peer's window for what we send.
    send_window: i64,
    /// Our window for what the peer sends.
    recv_window: i64,
    /// Received bytes not yet given back with a WINDOW_UPDATE.
    recv_unacked: i64,
    /// The peer ended its side (END_STREAM).
    recv_closed: bool,
    /// What may still be read and dropped of a body that is not wanted.
    discard_left: i64,
}

/// A header block being received in HEADERS and CONTINUATION frames.
struct Block {
    stream: u32,
    end_stream: bool,
    bytes: Vec<u8>,
    frames: usize,
}

/// How the connection is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Open.
    No,
    /// GOAWAY(NO_ERROR) sent or received: open streams finish, then the connection closes.
    Draining,
    /// A connection error's GOAWAY is queued: close once it is written.
    Failed,
    /// Close without writing anything more (the peer is gone or stalled).
    Now,
}

struct Conn<'a, S, H, F> {
    io: S,
    handler: &'a H,
    cfg: &'a Config,
    /// The addresses, given to every request.
    info: ConnectInfo,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    shutdown_seen: bool,
    opened: Instant,

    rbuf: Vec<u8>,
    rpos: usize,
    eof: bool,
    wbuf: Vec<u8>,
    wpos: usize,
    /// A flush of `io` is owed (TLS buffers writes).
    flush: bool,
    write_stalled: Option<Instant>,
    /// Since when response data has waited on the peer's windows with none sent: a peer
    /// that does not open them within `idle_timeout` is cut off, as a write that makes no
    /// progress is.
    flow_stalled: Option<Instant>,
    /// The stream that last sent DATA: the next round of DATA starts after it, so that
    /// every stream gets its turn however many have data.
    sent_last: u32,

    preface_seen: bool,
    settings_seen: bool,
    decoder: Decoder,
    encoder: Encoder,
    block: Option<Block>,
    streams: BTreeMap<u32, Stream<F>>,
    /// The highest stream id the peer opened.
    last_stream: u32,
    /// No stream past this id is served (the id sent in our GOAWAY).
    goaway_last: Option<u32>,
    ending: Ending,

    send_window: i64,
    recv_window: i64,
    recv_unacked: i64,
    peer_initial_window: i64,
    peer_max_frame: usize,

    resets: u32,
    resets_since: Instant,
    /// Streams the server reset, and when: the peer's frames on them are ignored for
    /// [`RESET_REMEMBER`].
    reset_by_us: VecDeque<(u32, Instant)>,
    /// DATA frames without data or END_STREAM since the last one with data.
    empty_data: u32,
    control_queued: usize,
    last_activity: Instant,
    timer: crate::time::Sleep,
}

/// Serves HTTP/2 on `io` until the peer goes away, the protocol breaks, or shutdown.
/// `already` holds bytes read from `io` before (the preface, on a connection that was sniffed).
pub(crate) async fn serve<S, H, F, R>(
    io: S,
    already: &[u8],
    opened: Instant,
    info: ConnectInfo,
    handler: &H,
    cfg: &Config,
    shared: &Shared,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    let now = Instant::now();
    let mut conn = Conn {
        io,
        handler,
        cfg,
        info,
        shutdown: Box::pin(shared.shutdown.wait()),
        shutdown_seen: false,
        opened,
        rbuf: already.to_vec(),
        rpos: 0,
        eof: false,
        wbuf: Vec::with_capacity(16 * 1024),
        wpos: 0,
        flush: false,
        write_stalled: None,
        flow_stalled: None,
        sent_last: 0,
        preface_seen: false,
        settings_seen: false,
        decoder: Decoder::new(TABLE_SIZE),
        encoder: Encoder::default(),
        block: None,
        streams: BTreeMap::new(),
        last_stream: 0,
        goaway_last: None,
        ending: Ending::No,
        send_window: DEFAULT_WINDOW,
        recv_window: CONN_WINDOW,
        recv_unacked: 0,
        peer_initial_window: DEFAULT_WINDOW,
        peer_max_frame: frame::MIN_MAX_FRAME as usize,
        resets: 0,
        resets_since: now,
        reset_by_us: VecDeque::new(),
        empty_data: 0,
        control_queued: 0,
        last_activity: now,
        timer: crate::time::sleep_until(
            opened
                + cfg
                    .header_read_timeout
                    .min(Duration::from_secs(86_400 * 365)),
        ),
    };
    let max_list = u32::try_from(cfg.max_header_size).unwrap_or(u32::MAX);
    let max_streams = u32::try_from(cfg.max_concurrent_streams).unwrap_or(u32::MAX);
    frame::settings(
        &mut conn.wbuf,
        &[
            (setting::ENABLE_PUSH, 0),
            (setting::MAX_CONCURRENT_STREAMS, max_streams),
            (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW as u32),
            (setting::MAX_FRAME_SIZE, MAX_FRAME as u32),
            (setting::MAX_HEADER_LIST_SIZE, max_list),
        ],
    );
    frame::window_update(&mut conn.wbuf, 0, (CONN_WINDOW - DEFAULT_WINDOW) as u32);
    poll_fn(|cx| conn.poll(cx)).await;
    conn.close().await;
}

impl<S, H, F, R> Conn<'_, S, H, F>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..POLL_BUDGET {
            let mut progress = false;
            if self.ending == Ending::Now {
                return Poll::Ready(());
            }
            if self.ending != Ending::Failed {
                progress |= self.read(cx);
                if let Err(e) = self.handle_frames() {
                    self.fail(e);
                }
            }
            if self.ending != Ending::Failed {
                progress |= self.poll_streams(cx);
            }
            progress |= self.write(cx);
            if self.ending == Ending::Now {
                return Poll::Ready(());
            }
            if self.finished() {
                return Poll::Ready(());
            }
            if !self.shutdown_seen && self.shutdown.as_mut().poll(cx).is_ready() {
                self.shutdown_seen = true;
                self.drain();
                progress = true;
            }
            if !progress {
                return self.poll_timer(cx);
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Everything is said: the connection may close.
    fn finished(&self) -> bool {
        let written = self.wpos == self.wbuf.len() && !self.flush;
        match self.ending {
            Ending::No => self.eof && self.streams.is_empty() && written,
            Ending::Draining => self.streams.is_empty() && written,
            Ending::Failed => written,
            Ending::Now => true,
        }
    }

    /// Arms the timer for the nearest deadline; handles it if it has passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let far = Instant::now() + Duration::from_secs(86_400 * 365);
            let add = |t: Instant, d: Duration| t.checked_add(d).unwrap_or(far).min(far);
            let mut deadline = far;
            if !self.settings_seen {
                deadline = deadline.min(add(self.opened, self.cfg.header_read_timeout));
            }
            let busy = self
                .streams
                .values()
                .any(|s| matches!(s.state, State::Running { .. } | State::Sending { .. }));
            if self.settings_seen && !busy {
                deadline = deadline.min(add(self.last_activity, self.cfg.idle_timeout));
            }
            if let Some(since) = self.write_stalled {
                deadline = deadline.min(add(since, self.cfg.idle_timeout));
            }
            if let Some(since) = self.flow_stalled {
                deadline = deadline.min(add(since, self.cfg.idle_timeout));
            }
            if self.ending == Ending::Failed {
                // The GOAWAY of a failed connection gets a second to go out.
                deadline = deadline.min(add(self.last_activity, LINGER));
            }
            if self.timer.deadline() != deadline {
                self.timer.reset(deadline);
            }
            if Pin::new(&mut self.timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // A deadline passed.
            let now = Instant::now();
            if !self.settings_seen || self.write_stalled.is_some() || self.ending == Ending::Failed
            {
                return Poll::Ready(());
            }
            if let Some(since) = self.flow_stalled {
                if self.ending != Ending::Failed && now >= add(since, self.cfg.idle_timeout) {
                    // The peer keeps its windows shut: its streams are dropped, with a GOAWAY.
                    self.flow_stalled = None;
                    self.fail(ConnError(Reason::NO_ERROR, "stalled by flow control"));
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            if now >= add(self.last_activity, self.cfg.idle_timeout) {
                // Idle: say goodbye and close.
                if self.ending == Ending::No {
                    self.goaway(Reason::NO_ERROR, b"idle");
                }
                self.ending = Ending::Failed;
                self.last_activity = now;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Reads what the socket has; true if bytes came.
    fn read(&mut self, cx: &mut Context<'_>) -> bool {
        let held = self.rbuf.len() - self.rpos;
        if self.eof
            || held >= MAX_FRAME + frame::HEAD_LEN
            || self.wbuf.len() - self.wpos > WRITE_HIGH
        {
            return false;
        }
        if self.rpos > 0 && (self.rpos == self.rbuf.len() || self.rpos > 32 * 1024) {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        let end = self.rbuf.len();
        self.rbuf.resize(end + 16 * 1024, 0);
        let polled = Pin::new(&mut self.io).poll_read(cx, &mut self.rbuf[end..]);
        let n = match polled {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(_)) => 0,
            Poll::Pending => {
                self.rbuf.truncate(end);
                return false;
            }
        };
        self.rbuf.truncate(end + n);
        if n == 0 {
            self.eof = true;
            // What the peer can no longer complete is dropped.
            self.streams
                .retain(|_, s| matches!(s.state, State::Running { .. } | State::Sending { .. }));
            self.block = None;
        } else {
            self.last_activity = Instant::now();
        }
        true
    }

    /// Handles the whole frames read.
    fn handle_frames(&mut self) -> Result<(), ConnError> {
        if !self.preface_seen {
            let held = &self.rbuf[self.rpos..];
            let n = held.len().min(PREFACE.len());
            if held[..n] != PREFACE[..n] {
                return Err(ConnError(Reason::PROTOCOL_ERROR, "not the HTTP/2 preface"));
            }
            if n < PREFACE.len() {
                return Ok(());
            }
            self.rpos += PREFACE.len();
            self.preface_seen = true;
        }
        loop {
            if self.ending == Ending::Failed {
                return Ok(());
            }
            let held = &self.rbuf[self.rpos..];
            if held.len() < frame::HEAD_LEN {
                return Ok(());
            }
            let head = frame::Head::parse(held);
            if head.len > MAX_FRAME {
                return Err(ConnError(
                    Reason::FRAME_SIZE_ERROR,
                    "a frame over MAX_FRAME_SIZE",
                ));
            }
            if held.len() < frame::HEAD_LEN + head.len {
                return Ok(());
            }
            let start = self.rpos + frame::HEAD_LEN;
            self.rpos = start + head.len;
            let rbuf = std::mem::take(&mut self.rbuf);
            let handled = self.handle_frame(head, &rbuf[start..start + head.len]);
            self.rbuf = rbuf;
            handled?;
            if self.control_queued > CONTROL_MAX {
                return Err(ConnError(
                    Reason::ENHANCE_YOUR_CALM,
                    "too many unread answers",
                ));
            }
        }
    }

    fn handle_frame(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        if !self.settings_seen {
            if head.kind != kind::SETTINGS || head.flags & flag::ACK != 0 {
                return Err(ConnError(
                    Reason::PROTOCOL_ERROR,
                    "the first frame is not SETTINGS",
                ));
            }
            self.settings_seen = true;
        }
        if let Some(block) = &self.block {
            if head.kind != kind::CONTINUATION || head.stream != block.stream {
                return Err(ConnError(
                    Reason::PROTOCOL_ERROR,
                    "a header block interrupted",
                ));
            }
        }
        match head.kind {
            kind::DATA => self.on_data(head, payload),
            kind::HEADERS => self.on_headers(head, payload),
            kind::PRIORITY => {
                if head.stream == 0 {
                    return Err(ConnError(Reason::PROTOCOL_ERROR, "PRIORITY on stream 0"));
                }
                if payload.len() != 5 {
                    return self.stream_error(head.stream, Reason::FRAME_SIZE_ERROR);
                }
                Ok(())
            }
            kind::RST_STREAM => self.on_rst(head, payload),
            kind::SETTINGS => self.on_settings(head, payload),
            kind::PUSH_PROMISE => Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "PUSH_PROMISE from a client",
            )),
            kind::PING => {
                if head.stream != 0 {
                    return Err(ConnError(Reason::PROTOCOL_ERROR, "PING on a stream"));
                }
                if payload.len() != 8 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR, "PING not of 8 bytes"));
                }
                if head.flags & flag::ACK == 0 {
                    frame::ping_ack(&mut self.wbuf, payload);
                    self.control_queued += 1;
                }
                Ok(())
            }
            kind::GOAWAY => {
                if head.stream != 0 {
                    return Err(ConnError(Reason::PROTOCOL_ERROR, "GOAWAY on a stream"));
                }
                if payload.len() < 8 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR, "GOAWAY under 8 bytes"));
                }
                if self.ending == Ending::No {
                    self.ending = Ending::Draining;
                }
                Ok(())
            }
            kind::WINDOW_UPDATE => self.on_window_update(head, payload),
            kind::CONTINUATION => self.on_continuation(head, payload),
            // Unknown frame types are ignored (RFC 9113 section 4.1).
            _ => Ok(()),
        }
    }

    /// A stream id the peer has not opened yet.
    fn idle(&self, stream: u32) -> bool {
        stream > self.last_stream
    }

    fn on_data(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        if head.stream == 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "DATA on stream 0"));
        }
        let len = payload.len() as i64;
        if len > self.recv_window {
            return Err(ConnError(
                Reason::FLOW_CONTROL_ERROR,
                "DATA past the connection window",
            ));
        }
        self.recv_window -= len;
        self.recv_unacked += len;
        // The connection's window is given back whatever becomes of the data: the memory it
        // costs is bounded per stream below.
        if self.recv_unacked >= CONN_WINDOW / 4 {
            frame::window_update(&mut self.wbuf, 0, self.recv_unacked as u32);
            self.recv_window += self.recv_unacked;
            self.recv_unacked = 0;
        }
        let data = frame::unpad(head.flags, payload)
            .ok_or(ConnError(Reason::PROTOCOL_ERROR, "padding past the frame"))?;
        let end_stream = head.flags & flag::END_STREAM != 0;
        if self.idle(head.stream) {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "DATA on an idle stream"));
        }
        if data.is_empty() && !end_stream {
            self.empty_data += 1;
            if self.empty_data > EMPTY_DATA_MAX {
                return Err(ConnError(
                    Reason::ENHANCE_YOUR_CALM,
                    "too many empty DATA frames",
                ));
            }
        } else {
            self.empty_data = 0;
        }
        let max_body = self.cfg.max_body_size;
        if !self.streams.contains_key(&head.stream) {
            if !self.reset_by_us(head.stream) {
                self.reset(head.stream, Reason::STREAM_CLOSED);
            }
            return Ok(());
        }
        let Some(stream) = self.streams.get_mut(&head.stream) else {
            return Ok(());
        };
        if stream.recv_closed {
            return self.stream_error(head.stream, Reason::STREAM_CLOSED);
        }
        if len > stream.recv_window {
            return self.stream_error(head.stream, Reason::FLOW_CONTROL_ERROR);
        }
        stream.recv_window -= len;
        stream.recv_closed = end_stream;
        let State::Receiving {
            body,
            content_length,
            ..
        } = &mut stream.state
        else {
            // A response went out before the body was read (a refusal): the data is dropped,
            // its window given back up to a bound.
            if end_stream && matches!(stream.state, State::Done) {
                self.streams.remove(&head.stream);
            } else if stream.discard_left < len {
                return self.stream_error(head.stream, Reason::NO_ERROR);
            } else if !end_stream && len > 0 {
                stream.discard_left -= len;
                frame::window_update(&mut self.wbuf, head.stream, len as u32);
                stream.recv_window += len;
            }
            return Ok(());
        };
        if body.len() as u64 + data.len() as u64 > max_body {
            let res = status_response(StatusCode::PAYLOAD_TOO_LARGE);
            self.respond(head.stream, res, &Method::POST);
            return Ok(());
        }
        body.extend_from_slice(data);
        if content_length
            .is_some_and(|n| body.len() as u64 > n || (end_stream && body.len() as u64 != n))
        {
            return self.stream_error(head.stream, Reason::PROTOCOL_ERROR);
        }
        stream.recv_unacked += len;
        if !end_stream && stream.recv_unacked >= STREAM_WINDOW / 4 {
            frame::window_update(&mut self.wbuf, head.stream, stream.recv_unacked as u32);
            stream.recv_window += stream.recv_unacked;
            stream.recv_unacked = 0;
        }
        if end_stream {
            self.start(head.stream);
        }
        Ok(())
    }

    fn on_headers(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        if head.stream == 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "HEADERS on stream 0"));
        }
        let mut fragment = frame::unpad(head.flags, payload)
            .ok_or(ConnError(Reason::PROTOCOL_ERROR, "padding past the frame"))?;
        if head.flags & flag::PRIORITY != 0 {
            if fragment.len() < 5 {
                return Err(ConnError(
                    Reason::FRAME_SIZE_ERROR,
                    "HEADERS too short for its priority",
                ));
            }
            fragment = &fragment[5..];
        }
        let block = Block {
            stream: head.stream,
            end_stream: head.flags & flag::END_STREAM != 0,
            bytes: fragment.to_vec(),
            frames: 1,
        };
        if head.flags & flag::END_HEADERS != 0 {
            self.on_block(block)
        } else {
            self.check_block(&block)?;
            self.block = Some(block);
            Ok(())
        }
    }

    fn on_continuation(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        let Some(mut block) = self.block.take() else {
            return Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "CONTINUATION without HEADERS",
            ));
        };
        block.bytes.extend_from_slice(payload);
        block.frames += 1;
        self.check_block(&block)?;
        if head.flags & flag::END_HEADERS != 0 {
            self.on_block(block)
        } else {
            self.block = Some(block);
            Ok(())
        }
    }

    /// The CONTINUATION flood defence: a header block is held only up to a bound.
    fn check_block(&self, block: &Block) -> Result<(), ConnError> {
        let max = self.cfg.max_header_size.saturating_mul(2).max(MAX_FRAME);
        if block.bytes.len() > max || block.frames > CONTINUATION_MAX {
            return Err(ConnError(
                Reason::ENHANCE_YOUR_CALM,
                "a header block too large",
            ));
        }
        Ok(())
    }

    /// A complete header block: a new request, or trailers.
    fn on_block(&mut self, block: Block) -> Result<(), ConnError> {
        let fields = message::decode(
            &mut self.decoder,
            &block.bytes,
            self.cfg.max_header_size,
            self.cfg.max_headers.saturating_add(4),
        )
        .map_err(|e| ConnError(Reason::COMPRESSION_ERROR, e.0))?;
        let id = block.stream;
        if let Some(stream) = self.streams.get_mut(&id) {
            // Trailers: they end the stream, and go to the handler with the body.
            if stream.recv_closed {
                return Err(ConnError(Reason::STREAM_CLOSED, "HEADERS after END_STREAM"));
            }
            if !block.end_stream {
                return self.stream_error(id, Reason::PROTOCOL_ERROR);
            }
            stream.recv_closed = true;
            if matches!(stream.state, State::Done) {
                self.streams.remove(&id);
                return Ok(());
            }
            if fields.too_large {
                let res = status_response(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
                self.respond(id, res, &Method::POST);
                return Ok(());
            }
            let Ok(fields) = message::trailers(fields) else {
                return self.stream_error(id, Reason::PROTOCOL_ERROR);
            };
            if let State::Receiving {
                body,
                content_length,
                trailers,
                ..
            } = &mut stream.state
            {
                if content_length.is_some_and(|n| body.len() as u64 != n) {
                    return self.stream_error(id, Reason::PROTOCOL_ERROR);
                }
                *trailers = Some(Box::new(fields));
            }
            self.start(id);
            return Ok(());
        }
        if !self.idle(id) && self.reset_by_us(id) {
            // HEADERS (trailers, most likely) the peer sent before it saw our reset: the
            // block is decoded (the HPACK table stays in step) and dropped.
            return Ok(());
        }
        if !self.idle(id) {
            return Err(ConnError(
                Reason::STREAM_CLOSED,
                "HEADERS on a closed stream",
            ));
        }
        if id % 2 == 0 {
            return Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "a stream id the server's",
            ));
        }
        self.last_stream = id;
        if self.goaway_last.is_some() || self.ending != Ending::No {
            // Past our GOAWAY: ignored, as the peer was told.
            return Ok(());
        }
        if self.streams.len() >= self.cfg.max_concurrent_streams {
            self.reset(id, Reason::REFUSED_STREAM);
            return Ok(());
        }
        let mut stream = Stream {
            state: State::Done,
            send_window: self.peer_initial_window,
            recv_window: STREAM_WINDOW,
            recv_unacked: 0,
            recv_closed: block.end_stream,
            discard_left: DISCARD_MAX,
        };
        if fields.too_large {
            self.streams.insert(id, stream);
            let res = status_response(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
            self.respond(id, res, &Method::GET);
            return Ok(());
        }
        match message::request(fields) {
            Err(_why) => {
                self.reset(id, Reason::PROTOCOL_ERROR);
            }
            Ok(head) => {
                if head
                    .content_length
                    .is_some_and(|n| n > self.cfg.max_body_size)
                {
                    self.streams.insert(id, stream);
                    let res = status_response(StatusCode::PAYLOAD_TOO_LARGE);
                    self.respond(id, res, head.request.method());
                    return Ok(());
                }
                if block.end_stream && head.content_length.is_some_and(|n| n != 0) {
                    self.reset(id, Reason::PROTOCOL_ERROR);
                    return Ok(());
                }
                match expectation(head.request.headers()) {
                    Expect::Unknown => {
                        self.streams.insert(id, stream);
                        let res = status_response(StatusCode::EXPECTATION_FAILED);
                        self.respond(id, res, head.request.method());
                        return Ok(());
                    }
                    Expect::Continue if !block.end_stream => {
                        // The client waits for this before it sends the body (RFC 9110
                        // section 10.1.1); an interim response, so no END_STREAM.
                        let interim = message::response_block(
                            &mut self.encoder,
                            StatusCode::CONTINUE,
                            &HeaderMap::new(),
                        );
                        frame::headers(&mut self.wbuf, id, &interim, false, self.peer_max_frame);
                    }
                    _ => {}
                }
                stream.state = State::Receiving {
                    request: head.request,
                    body: BytesMut::new(),
                    content_length: head.content_length,
                    trailers: None,
                };
                self.streams.insert(id, stream);
                if block.end_stream {
                    self.start(id);
                }
            }
        }
        Ok(())
    }

    fn on_rst(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        if head.stream == 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "RST_STREAM on stream 0"));
        }
        if payload.len() != 4 {
            return Err(ConnError(
                Reason::FRAME_SIZE_ERROR,
                "RST_STREAM not of 4 bytes",
            ));
        }
        if self.idle(head.stream) {
            return Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "RST_STREAM on an idle stream",
            ));
        }
        if self.streams.remove(&head.stream).is_some() {
            return self.count_reset();
        }
        Ok(())
    }

    /// One more stream of the peer's ended early; too many of them in [`RESET_PERIOD`] is the
    /// rapid reset attack.
    fn count_reset(&mut self) -> Result<(), ConnError> {
        let now = Instant::now();
        if now.duration_since(self.resets_since) > RESET_PERIOD {
            self.resets = 0;
            self.resets_since = now;
        }
        self.resets += 1;
        if self.resets > RESET_MAX {
            return Err(ConnError(
                Reason::ENHANCE_YOUR_CALM,
                "too many streams reset",
            ));
        }
        Ok(())
    }

    fn on_settings(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        if head.stream != 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "SETTINGS on a stream"));
        }
        if head.flags & flag::ACK != 0 {
            if !payload.is_empty() {
                return Err(ConnError(
                    Reason::FRAME_SIZE_ERROR,
                    "a SETTINGS ack with a payload",
                ));
            }
            return Ok(());
        }
        if payload.len() % 6 != 0 {
            return Err(ConnError(
                Reason::FRAME_SIZE_ERROR,
                "SETTINGS not in 6-byte entries",
            ));
        }
        for entry in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            match id {
                setting::ENABLE_PUSH if value > 1 => {
                    return Err(ConnError(Reason::PROTOCOL_ERROR, "ENABLE_PUSH not 0 or 1"));
                }
                setting::INITIAL_WINDOW_SIZE => {
                    let value = i64::from(value);
                    if value > MAX_WINDOW {
                        return Err(ConnError(
                            Reason::FLOW_CONTROL_ERROR,
                            "INITIAL_WINDOW_SIZE too large",
                        ));
                    }
                    let delta = value - self.peer_initial_window;
                    self.peer_initial_window = value;
                    for s in self.streams.values_mut() {
                        s.send_window += delta;
                        if s.send_window > MAX_WINDOW {
                            return Err(ConnError(
                                Reason::FLOW_CONTROL_ERROR,
                                "a stream window past 2^31-1",
                            ));
                        }
                    }
                }
                setting::MAX_FRAME_SIZE => {
                    if !(frame::MIN_MAX_FRAME..=frame::MAX_MAX_FRAME).contains(&value) {
                        return Err(ConnError(
                            Reason::PROTOCOL_ERROR,
                            "MAX_FRAME_SIZE out of range",
                        ));
                    }
                    self.peer_max_frame = value as usize;
                }
                // The encoder uses no dynamic table; the server opens no streams and sends
                // no header list large enough to matter.
                setting::HEADER_TABLE_SIZE
                | setting::MAX_CONCURRENT_STREAMS
                | setting::MAX_HEADER_LIST_SIZE => {}
                _ => {}
            }
        }
        frame::settings_ack(&mut self.wbuf);
        self.control_queued += 1;
        Ok(())
    }

    fn on_window_update(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        if payload.len() != 4 {
            return Err(ConnError(
                Reason::FRAME_SIZE_ERROR,
                "WINDOW_UPDATE not of 4 bytes",
            ));
        }
        let increment = i64::from(
            u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff,
        );
        if head.stream == 0 {
            if increment == 0 {
                return Err(ConnError(Reason::PROTOCOL_ERROR, "a WINDOW_UPDATE of 0"));
            }
            self.send_window += increment;
            if self.send_window > MAX_WINDOW {
                return Err(ConnError(
                    Reason::FLOW_CONTROL_ERROR,
                    "the connection window past 2^31-1",
                ));
            }
            return Ok(());
        }
        if self.idle(head.stream) {
            return Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        let Some(stream) = self.streams.get_mut(&head.stream) else {
            return Ok(());
        };
        if increment == 0 {
            return self.stream_error(head.stream, Reason::PROTOCOL_ERROR);
        }
        stream.send_window += increment;
        if stream.send_window > MAX_WINDOW {
            return self.stream_error(head.stream, Reason::FLOW_CONTROL_ERROR);
        }
        Ok(())
    }

    /// A stream error the peer caused: the stream is reset, and if it was open, that counts
    /// as a reset of the peer's own (a peer that gets its streams reset by a bad frame right
    /// after opening them would otherwise start handlers without bound: CVE-2025-8671).
    fn stream_error(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
        let open = self.streams.contains_key(&id);
        self.reset(id, reason);
        if open {
            self.count_reset()
        } else {
            Ok(())
        }
    }

    /// Resets stream `id` (a stream error) and forgets it.
    fn reset(&mut self, id: u32, reason: Reason) {
        self.streams.remove(&id);
        frame::rst_stream(&mut self.wbuf, id, reason);
        self.control_queued += 1;
        self.remember_reset(id);
    }

    /// Notes that the server reset stream `id`: what the peer still sends on it is ignored
    /// for a while.
    fn remember_reset(&mut self, id: u32) {
        if self.reset_by_us.len() >= RESET_REMEMBER_MAX {
            self.reset_by_us.pop_front();
        }
        self.reset_by_us.push_back((id, Instant::now()));
    }

    /// True if the server reset stream `id` within [`RESET_REMEMBER`].
    fn reset_by_us(&mut self, id: u32) -> bool {
        let now = Instant::now();
        while self
            .reset_by_us
            .front()
            .is_some_and(|&(_, at)| now.duration_since(at) > RESET_REMEMBER)
        {
            self.reset_by_us.pop_front();
        }
        self.reset_by_us.iter().any(|&(reset, _)| reset == id)
    }

    /// Queues GOAWAY with the last stream id served.
    fn goaway(&mut self, reason: Reason, debug: &[u8]) {
        let last = self
            .goaway_last
            .unwrap_or(self.last_stream)
            .min(self.last_stream);
        self.goaway_last = Some(last);
        frame::goaway(&mut self.wbuf, last, reason, debug);
    }

    /// Graceful shutdown: GOAWAY(NO_ERROR); open streams finish.
    fn drain(&mut self) {
        if self.ending != Ending::No {
            return;
        }
        if !self.settings_seen {
            self.ending = Ending::Now;
            return;
        }
        self.goaway(Reason::NO_ERROR, b"");
        self.ending = Ending::Draining;
    }

    /// A connection error: GOAWAY, no more frames read, the streams dropped.
    fn fail(&mut self, e: ConnError) {
        if self.ending == Ending::Failed || self.ending == Ending::Now {
            return;
        }
        self.goaway(e.0, e.1.as_bytes());
        self.streams.clear();
        self.block = None;
        self.ending = Ending::Failed;
        self.last_activity = Instant::now();
    }

    /// The request of stream `id` is complete: its handler starts.
    fn start(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let State::Receiving {
            request,
            body,
            trailers,
            ..
        } = std::mem::replace(&mut stream.state, State::Done)
        else {
            return;
        };
        let (parts, ()) = request.into_parts();
        let method = parts.method.clone();
        let path = parts.uri.path().to_owned();
        let mut body = Body::from(body.freeze());
        if let Some(trailers) = trailers {
            body = body.with_trailers(*trailers);
        }
        let mut req = Request::from_parts(parts, body);
        req.extensions_mut().insert(self.info);
        let handler = self.handler;
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler(req))) {
            Ok(fut) => {
                stream.state = State::Running {
                    call: Box::pin(Call { fut }),
                    method,
                    path,
                };
            }
            Err(panic) => {
                report_panic(&method, &path, panic.as_ref());
                let res = status_response(StatusCode::INTERNAL_SERVER_ERROR);
                self.respond(id, res, &method);
            }
        }
    }

    /// Sends the head of `res` on stream `id`; its body follows as the windows allow.
    fn respond(&mut self, id: u32, res: Response<Body>, method: &Method) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let (mut parts, body) = res.into_parts();
        let status = parts.status;
        let no_body = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        let headers = &mut parts.headers;
        if !headers.contains_key(header::DATE) {
            headers.insert(header::DATE, date());
        }
        let send_body = !no_body && *method != Method::HEAD;
        match body.len() {
            Some(0) if *method == Method::HEAD => {}
            Some(n) if !no_body => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            _ => {}
        }
        if no_body {
            headers.remove(header::CONTENT_LENGTH);
        }
        let block = message::response_block(&mut self.encoder, status, headers);
        let end = !send_body || body.is_empty();
        frame::headers(&mut self.wbuf, id, &block, end, self.peer_max_frame);
        stream.state = if end {
            State::Done
        } else {
            State::Sending {
                body,
                pending: Bytes::new(),
            }
        };
    }

    /// Polls the handlers and response bodies; true if any made progress.
    fn poll_streams(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            if let State::Running { call, method, path } = &mut stream.state {
                let res = match call.as_mut().poll(cx) {
                    Poll::Pending => continue,
                    Poll::Ready(Ok(mut res)) => {
                        if let Some(HandlerError(msg)) =
                            res.extensions_mut().remove::<HandlerError>()
                        {
                            eprintln!("weft::http: the handler failed on {method} {path}: {msg}");
                        }
                        if res.status().is_informational() {
                            eprintln!(
                                "weft::http: the handler answered {method} {path} with {}, not a final status; a 500 was sent",
                                res.status()
                            );
                            res = status_response(StatusCode::INTERNAL_SERVER_ERROR);
                        }
                        res
                    }
                    Poll::Ready(Err(panic)) => {
                        report_panic(method, path, panic.as_ref());
                        status_response(StatusCode::INTERNAL_SERVER_ERROR)
                    }
                };
                let method = method.clone();
                progress = true;
                self.respond(id, res, &method);
            }
        }
        // Response data, one frame per stream a round, while the windows and the write
        // buffer allow; each round starts after the stream that sent last, so that the
        // write buffer's limit does not always fall on the same streams.
        let mut any_sent = false;
        loop {
            let mut sent = false;
            let after = (Bound::Excluded(self.sent_last), Bound::Unbounded);
            let ids: Vec<u32> = self
                .streams
                .range(after)
                .chain(self.streams.range(..=self.sent_last))
                .map(|(&id, _)| id)
                .collect();
            for id in ids {
                if self.wbuf.len() - self.wpos > WRITE_HIGH {
                    break;
                }
                if self.send_data(id, cx) {
                    sent = true;
                    self.sent_last = id;
                }
            }
            any_sent |= sent;
            if !sent || self.wbuf.len() - self.wpos > WRITE_HIGH {
                break;
            }
        }
        progress |= any_sent;
        let window = self.send_window;
        let flow_blocked = self.streams.values().any(|s| {
            matches!(&s.state, State::Sending { pending, .. } if !pending.is_empty())
                && s.send_window.min(window) <= 0
        });
        if any_sent || !flow_blocked {
            self.flow_stalled = None;
        } else if self.flow_stalled.is_none() {
            self.flow_stalled = Some(Instant::now());
        }
        // Streams whose response is out are forgotten, but one whose request is still
        // arriving is kept while its rest is dropped (see DISCARD_MAX); a draining
        // connection tells it to stop sending instead (RFC 9113 section 8.1).
        let draining = self.ending != Ending::No;
        let done: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| matches!(s.state, State::Done) && (s.recv_closed || draining))
            .map(|(&id, _)| id)
            .collect();
        for id in done {
            if let Some(s) = self.streams.remove(&id) {
                if !s.recv_closed {
                    frame::rst_stream(&mut self.wbuf, id, Reason::NO_ERROR);
                    self.remember_reset(id);
                }
                progress = true;
            }
        }
        progress
    }

    /// Sends one DATA frame of stream `id` if its body and the windows allow; true if it did
    /// something.
    fn send_data(&mut self, id: u32, cx: &mut Context<'_>) -> bool {
        let Some(stream) = self.streams.get_mut(&id) else {
            return false;
        };
        let State::Sending { body, pending } = &mut stream.state else {
            return false;
        };
        if pending.is_empty() {
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| body.poll_chunk(cx)));
            match polled {
                Ok(Poll::Pending) => return false,
                Ok(Poll::Ready(None)) => {
                    frame::data(&mut self.wbuf, id, &[], true);
                    stream.state = State::Done;
                    return true;
                }
                Ok(Poll::Ready(Some(Ok(chunk)))) => {
                    *pending = chunk;
                    if pending.is_empty() {
                        return true;
                    }
                }
                Ok(Poll::Ready(Some(Err(_)))) | Err(_) => {
                    self.reset(id, Reason::INTERNAL_ERROR);
                    return true;
                }
            }
        }
        let window = stream.send_window.min(self.send_window);
        if window <= 0 {
            return false;
        }
        let n = pending.len().min(window as usize).min(self.peer_max_frame);
        let piece = pending.split_to(n);
        let end = pending.is_empty() && body.len() == Some(0);
        frame::data(&mut self.wbuf, id, &piece, end);
        stream.send_window -= n as i64;
        self.send_window -= n as i64;
        if end {
            stream.state = State::Done;
        }
        true
    }

    /// Writes what is queued; true if bytes went out.
    fn write(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.wpos < self.wbuf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.ending = Ending::Now;
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    self.wpos += n;
                    self.flush = true;
                    progress = true;
                }
                Poll::Pending => break,
            }
        }
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
            self.control_queued = 0;
            if self.flush {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.flush = false,
                    Poll::Ready(Err(_)) => {
                        self.ending = Ending::Now;
                        return true;
                    }
                    Poll::Pending => {}
                }
            }
        } else if self.wpos > 64 * 1024 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        let stalled = self.wpos < self.wbuf.len() || self.flush;
        if progress || !stalled {
            self.write_stalled = None;
        }
        if stalled && self.write_stalled.is_none() {
            self.write_stalled = Some(Instant::now());
        }
        if progress {
            self.last_activity = Instant::now();
        }
        progress
    }

    /// Closes the connection: the write side first, then what the peer still sends is read
    /// and dropped for a moment, so that it reads our last frames rather than a reset.
    async fn close(&mut self) {
        if self.ending == Ending::Now {
            return;
        }
        if crate::time::timeout(self.io.close(), LINGER).await.is_err() {
            return;
        }
        let drain = async {
            let mut scratch = [0u8; 4096];
            let mut dropped = 0;
            while dropped < 1 << 20 {
                match self.io.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => dropped += n,
                }
            }
        };
        let _ = crate::time::timeout(drain, LINGER).await;
    }
}

fn report_panic(method: &Method, path: &str, panic: &(dyn Any + Send)) {
    let msg = if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a panic with a non-text payload"
    };
    eprintln!("weft::http: the handler panicked on {method} {path}: {msg}");
}
