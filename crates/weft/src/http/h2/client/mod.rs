//! One HTTP/2 connection of the client: the connection task, its streams and flow control.
//!
//! A connection is a task (`weft::spawn`) that owns the socket and drives every frame: it
//! reads and handles the server's frames, opens the streams requests asked for (in the
//! order of their ids, up to the server's `MAX_CONCURRENT_STREAMS`; the others wait), sends
//! their bodies within the server's windows, and writes. Requests talk to it through
//! [`Shared`], one mutex around the state both sides see: a request queues its head and body
//! there and wakes the task; the task files each response's head and data there and wakes
//! the request. Bodies are polled by the task only, outside the lock (a body stream may be
//! another response of this very connection).
//!
//! Flow control: the response data of a stream waits in its slot until its reader takes
//! it, and only then is the window given back (the stream's, and the connection's), so a
//! slow reader holds at most a stream window of data, and the connection at most its window.
//!
//! A request whose stream the server did not process (above the last stream id of its
//! GOAWAY, refused with REFUSED_STREAM, or never sent before the connection went away) ends
//! with [`Failure::Retry`], and its body comes back if none of it was sent.

#![forbid(unsafe_code)]

use super::frame::{self, flag, kind, setting, Reason, DEFAULT_WINDOW, MAX_WINDOW};
use super::hpack::{Decoder, Encoder};
use super::message;
pub(crate) use super::message::ResponseHead;
use super::PREFACE;
use crate::http::{Body, Error, HeaderMap, Method, StatusCode};
use crate::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use crate::time::Instant;
use bytes::Bytes;
use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Our receive window for each stream (SETTINGS_INITIAL_WINDOW_SIZE): the most response data
/// of one stream that waits unread.
const STREAM_WINDOW: i64 = 1 << 20;

/// Our receive window for the connection, raised to this by a WINDOW_UPDATE at the start.
const CONN_WINDOW: i64 = 8 << 20;

/// The most frame payload we accept (SETTINGS_MAX_FRAME_SIZE; the default).
const MAX_FRAME: usize = frame::MIN_MAX_FRAME as usize;

/// Our HPACK table size (SETTINGS_HEADER_TABLE_SIZE; the default).
const TABLE_SIZE: usize = 4096;

/// A response header list larger than this is refused (as on HTTP/1.1).
const MAX_HEADER_LIST: usize = 64 * 1024;

/// A response with more header fields than this is refused (as on HTTP/1.1).
const MAX_HEADERS: usize = 100;

/// Informational (1xx) heads skipped before the final one, at most.
const MAX_INFORMATIONAL: usize = 16;

/// The most CONTINUATION frames one header block may have.
const CONTINUATION_MAX: usize = 256;

/// Past this many unwritten bytes, no more frames are read nor request data produced.
const WRITE_HIGH: usize = 256 * 1024;

/// The most answers (SETTINGS and PING acknowledgements) that may wait unwritten.
const CONTROL_MAX: usize = 1000;

/// Streams opened at most at once before the server's SETTINGS say how many it takes.
const DEFAULT_MAX_STREAMS: usize = 100;

/// The largest stream id.
const MAX_STREAM_ID: u32 = (1 << 31) - 1;

/// How long, at most, a closing connection waits for its last frames to go out.
const LINGER: Duration = Duration::from_secs(1);

/// How many times one poll may loop before it yields to other tasks.
const POLL_BUDGET: usize = 64;

/// How a request on the connection ended without a response.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server did not process the request: it may go again on another connection. The
    /// body comes back if none of it was sent.
    Retry(Option<Body>),
    /// The request failed.
    Error(Error),
}

/// A request for the connection: its head (the `host` field, if any, is replaced by
/// `authority`) and body.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) scheme: &'static str,
    pub(crate) authority: String,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

/// The state the connection task and its requests share.
struct Shared {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Every stream that a request holds or that the task has not finished with.
    slots: BTreeMap<u32, Slot>,
    /// Streams waiting for the task to open them, in id order.
    queued: VecDeque<u32>,
    /// Streams whose reader gave back window or went away: the task looks at them.
    todo: Vec<u32>,
    /// Response bytes read by requests and not given back to the connection's window yet.
    conn_released: i64,
    /// The connection's window is under half open: every read gives its bytes back at
    /// once (a reader waiting for more must not wait on bytes other streams hold unread).
    conn_low: bool,
    next_id: u32,
    /// False once no new stream may start here (GOAWAY, closing, failed).
    accepting: bool,
    /// The task ended: nothing more happens on this connection.
    closed: bool,
    /// The pool's handles to the connection; at 0 it closes once its streams are done.
    handles: usize,
    /// The connection task's waker.
    waker: Option<Waker>,
}

/// The part of a stream the request sees.
#[derive(Default)]
struct Slot {
    /// The request, until the task opens the stream.
    request: Option<Request>,
    /// The final response head, until the request takes it.
    head: Option<ResponseHead>,
    head_seen: bool,
    /// Response data not read yet.
    data: VecDeque<Bytes>,
    /// The response ended (END_STREAM).
    end: bool,
    failure: Option<Failure>,
    /// Bytes the reader took and the task has not given back to the stream's window yet.
    released: i64,
    /// The request went away (its response future or body was dropped).
    dropped: bool,
    /// The task is done with the stream (closed or reset).
    finished: bool,
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change under the lock leaves the state consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Wakes the connection task (after the lock is released).
    fn wake_task(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// The pool's handle to a connection: it opens streams. The connection closes once every
/// handle is gone and its streams are done.
pub(crate) struct Handle {
    shared: Arc<Shared>,
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        self.shared.lock().handles += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.shared.lock();
            inner.handles -= 1;
            match inner.handles {
                0 => inner.wake_task(),
                _ => None,
            }
        };
        wake(waker);
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.shared.lock();
        f.debug_struct("h2::Handle")
            .field("streams", &inner.slots.len())
            .field("accepting", &inner.accepting)
            .finish()
    }
}

impl Handle {
    /// True while new streams may start on the connection.
    pub(crate) fn is_open(&self) -> bool {
        self.shared.lock().accepting
    }

    /// Queues `req` on a new stream; its body comes back if the connection takes no more
    /// streams.
    pub(crate) fn send(&self, req: Request) -> Result<StreamRef, Body> {
        let (id, waker) = {
            let mut inner = self.shared.lock();
            if !inner.accepting || inner.next_id > MAX_STREAM_ID {
                inner.accepting = false;
                return Err(req.body);
            }
            let id = inner.next_id;
            inner.next_id += 2;
            inner.slots.insert(
                id,
                Slot {
                    request: Some(req),
                    ..Slot::default()
                },
            );
            inner.queued.push_back(id);
            (id, inner.wake_task())
        };
        wake(waker);
        Ok(StreamRef {
            shared: self.shared.clone(),
            id,
        })
    }
}

/// A request's stream: its response head, then its body. Dropped before the response's end,
/// it resets the stream (RST_STREAM CANCEL).
pub(crate) struct StreamRef {
    shared: Arc<Shared>,
    id: u32,
}

impl std::fmt::Debug for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("h2::StreamRef")
            .field("id", &self.id)
            .finish()
    }
}

impl StreamRef {
    /// The final response head, and whether the response has a body still to read.
    pub(crate) fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(ResponseHead, bool), Failure>> {
        let mut inner = self.shared.lock();
        let closed = inner.closed;
        let Some(slot) = inner.slots.get_mut(&self.id) else {
            return Poll::Ready(Err(Failure::Error(gone())));
        };
        if let Some(head) = slot.head.take() {
            let more = !slot.end || !slot.data.is_empty();
            return Poll::Ready(Ok((head, more)));
        }
        if let Some(failure) = slot.failure.take() {
            return Poll::Ready(Err(failure));
        }
        if closed {
            return Poll::Ready(Err(Failure::Error(gone())));
        }
        refresh(&mut slot.waker, cx);
        Poll::Pending
    }

    /// The next piece of the response's body; `None` at its end.
    pub(crate) fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        let mut inner = self.shared.lock();
        let closed = inner.closed;
        let Some(slot) = inner.slots.get_mut(&self.id) else {
            return Poll::Ready(Some(Err(gone())));
        };
        if let Some(bytes) = slot.data.pop_front() {
            let n = bytes.len() as i64;
            slot.released += n;
            // The window goes back in quarters, with a wake-up of the task each time.
            let stream_due = !slot.end
                && slot.released >= STREAM_WINDOW / 4
                && slot.released - n < STREAM_WINDOW / 4;
            let before = inner.conn_released;
            inner.conn_released += n;
            let conn_due = (before < CONN_WINDOW / 4 && inner.conn_released >= CONN_WINDOW / 4)
                || (inner.conn_low && before == 0);
            let mut waker = None;
            if stream_due || conn_due {
                if stream_due {
                    inner.todo.push(self.id);
                }
                waker = inner.wake_task();
            }
            drop(inner);
            wake(waker);
            return Poll::Ready(Some(Ok(bytes)));
        }
        if slot.end {
            return Poll::Ready(None);
        }
        if let Some(failure) = slot.failure.take() {
            let e = match failure {
                Failure::Error(e) => e,
                Failure::Retry(_) => gone(),
            };
            // Reads after it keep failing, never see a clean end.
            slot.failure = Some(Failure::Error(gone()));
            return Poll::Ready(Some(Err(e)));
        }
        if closed {
            return Poll::Ready(Some(Err(gone())));
        }
        refresh(&mut slot.waker, cx);
        Poll::Pending
    }
}

impl Drop for StreamRef {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.shared.lock();
            let Some(slot) = inner.slots.get_mut(&self.id) else {
                return;
            };
            if slot.finished && slot.data.is_empty() {
                inner.slots.remove(&self.id);
                return;
            }
            slot.dropped = true;
            slot.waker = None;
            inner.todo.push(self.id);
            inner.wake_task()
        };
        wake(waker);
    }
}

fn refresh(slot: &mut Option<Waker>, cx: &mut Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn gone() -> Error {
    Error::io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the HTTP/2 connection closed before the response ended",
    ))
}

/// The name of an error code, for messages.
fn reason_name(r: Reason) -> String {
    let name = match r.0 {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        n => return format!("error code {n:#x}"),
    };
    name.to_owned()
}

/// The connection's own settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// A connection with no stream open for this long closes.
    pub(crate) idle_timeout: Option<Duration>,
}

/// Starts a connection on `io` (whose first bytes are ours to write: the preface goes first)
/// and its task; `keep` is dropped when the task ends (a permit of the pool's cap).
pub(crate) fn spawn<S>(io: S, cfg: Config, keep: Box<dyn Any + Send>) -> Handle
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            slots: BTreeMap::new(),
            queued: VecDeque::new(),
            todo: Vec::new(),
            conn_released: 0,
            conn_low: false,
            next_id: 1,
            accepting: true,
            closed: false,
            handles: 1,
            waker: None,
        }),
    });
    let mut conn = Conn::new(io, cfg, shared.clone());
    crate::spawn(async move {
        poll_fn(|cx| conn.poll(cx)).await;
        conn.close().await;
        conn.finish(true);
        drop(keep);
    });
    Handle { shared }
}

/// A connection error: GOAWAY with this reason, then close.
#[derive(Debug)]
struct ConnError(Reason, &'static str);

/// How the connection is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Open.
    No,
    /// No new streams (GOAWAY received): the open ones finish, then it closes.
    Draining,
    /// GOAWAY queued: close once it is written.
    Failed,
    /// Close without writing anything more.
    Now,
}

/// The task's side of a stream.
struct Stream {
    /// The server's window for what we send.
    send_window: i64,
    /// Our window for what the server sends.
    recv_window: i64,
    /// The request body still to send; `None` once END_STREAM went out.
    upload: Option<Upload>,
    /// The server ended its side.
    recv_closed: bool,
    /// The final response head arrived.
    head_seen: bool,
    informational: usize,
    /// The response's announced length, checked against its DATA (not for HEAD, 204, 304).
    expect_len: Option<u64>,
    received: u64,
    head_request: bool,
}

struct Upload {
    body: Body,
    /// Bytes taken from the body and not sent yet (windows, frame size).
    pending: Bytes,
    /// Some of the body was taken: it cannot be handed back for a retry.
    started: bool,
}

/// A header block being received in HEADERS and CONTINUATION frames.
struct Block {
    stream: u32,
    end_stream: bool,
    bytes: Vec<u8>,
    frames: usize,
}

struct Conn<S> {
    io: S,
    cfg: Config,
    shared: Arc<Shared>,

    rbuf: Vec<u8>,
    rpos: usize,
    eof: bool,
    wbuf: Vec<u8>,
    wpos: usize,
    flush: bool,

    settings_seen: bool,
    decoder: Decoder,
    encoder: Encoder,
    block: Option<Block>,
    streams: BTreeMap<u32, Stream>,
    /// The highest stream id opened (HEADERS sent).
    last_opened: u32,
    /// The last stream id of the server's GOAWAY.
    goaway_last: Option<u32>,
    ending: Ending,
    /// Why the connection failed, for the requests it fails.
    failed: Option<String>,
    /// It failed because the server broke the protocol.
    protocol_error: bool,

    send_window: i64,
    recv_window: i64,
    peer_initial_window: i64,
    peer_max_frame: usize,
    peer_max_streams: usize,

    control_queued: usize,
    /// Since when no stream is open nor queued.
    idle_since: Option<Instant>,
    last_activity: Instant,
    timer: Option<Pin<Box<crate::time::Sleep>>>,
    /// The stream that last sent DATA: the next round starts after it.
    sent_last: u32,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn new(io: S, cfg: Config, shared: Arc<Shared>) -> Self {
        let now = Instant::now();
        let mut wbuf = Vec::with_capacity(16 * 1024);
        wbuf.extend_from_slice(PREFACE);
        frame::settings(
            &mut wbuf,
            &[
                (setting::ENABLE_PUSH, 0),
                (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW as u32),
                (setting::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST as u32),
            ],
        );
        frame::window_update(&mut wbuf, 0, (CONN_WINDOW - DEFAULT_WINDOW) as u32);
        Self {
            io,
            cfg,
            shared,
            rbuf: Vec::new(),
            rpos: 0,
            eof: false,
            wbuf,
            wpos: 0,
            flush: false,
            settings_seen: false,
            decoder: Decoder::new(TABLE_SIZE),
            encoder: Encoder::default(),
            block: None,
            streams: BTreeMap::new(),
            last_opened: 0,
            goaway_last: None,
            ending: Ending::No,
            failed: None,
            protocol_error: false,
            send_window: DEFAULT_WINDOW,
            recv_window: CONN_WINDOW,
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame: frame::MIN_MAX_FRAME as usize,
            peer_max_streams: DEFAULT_MAX_STREAMS,
            control_queued: 0,
            idle_since: Some(now),
            last_activity: now,
            timer: None,
            sent_last: 0,
        }
    }

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
                progress |= self.take_work(cx);
                progress |= self.send_data(cx);
            }
            progress |= self.write(cx);
            if self.finished() {
                return Poll::Ready(());
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
            Ending::No => self.eof,
            Ending::Draining => self.eof || (self.streams.is_empty() && written),
            Ending::Failed => written,
            Ending::Now => true,
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut deadline = None;
        if let (Some(since), Some(t)) = (self.idle_since, self.cfg.idle_timeout) {
            deadline = since.checked_add(t);
        }
        if self.ending == Ending::Failed {
            // The GOAWAY of a closing connection gets a moment to go out.
            deadline = Some(self.last_activity + LINGER);
        }
        let Some(deadline) = deadline else {
            self.timer = None;
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(crate::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if self.ending == Ending::Failed {
            return Poll::Ready(());
        }
        // Idle past the timeout: no new stream may start, and it closes.
        let closing = {
            let mut inner = self.shared.lock();
            if inner.queued.is_empty() && self.streams.is_empty() {
                inner.accepting = false;
                true
            } else {
                false
            }
        };
        self.idle_since = None;
        if closing {
            self.goaway_out(Reason::NO_ERROR, b"idle");
            self.ending = Ending::Failed;
            self.last_activity = Instant::now();
        }
        cx.waker().wake_by_ref();
        Poll::Pending
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
        let n = match Pin::new(&mut self.io).poll_read(cx, &mut self.rbuf[end..]) {
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
            self.failed
                .get_or_insert_with(|| "the server closed the connection".to_owned());
        } else {
            self.last_activity = Instant::now();
        }
        true
    }

    /// Handles the whole frames read.
    fn handle_frames(&mut self) -> Result<(), ConnError> {
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
                    "the server's first frame is not SETTINGS",
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
                    self.stream_error(head.stream, Reason::FRAME_SIZE_ERROR, "a bad PRIORITY");
                }
                Ok(())
            }
            kind::RST_STREAM => self.on_rst(head, payload),
            kind::SETTINGS => self.on_settings(head, payload),
            kind::PUSH_PROMISE => Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "PUSH_PROMISE, which the client disabled",
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
            kind::GOAWAY => self.on_goaway(head, payload),
            kind::WINDOW_UPDATE => self.on_window_update(head, payload),
            kind::CONTINUATION => self.on_continuation(head, payload),
            // Unknown frame types are ignored (RFC 9113 section 4.1).
            _ => Ok(()),
        }
    }

    /// A stream id we have not opened.
    fn idle(&self, stream: u32) -> bool {
        stream > self.last_opened || stream % 2 == 0
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
        let data = frame::unpad(head.flags, payload)
            .ok_or(ConnError(Reason::PROTOCOL_ERROR, "padding past the frame"))?;
        if self.idle(head.stream) {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "DATA on an idle stream"));
        }
        let end_stream = head.flags & flag::END_STREAM != 0;
        let Some(stream) = self.streams.get_mut(&head.stream) else {
            // A stream we are done with: its bytes go back to the connection at once.
            self.shared.lock().conn_released += len;
            return Ok(());
        };
        if stream.recv_closed {
            self.stream_error(head.stream, Reason::STREAM_CLOSED, "DATA after END_STREAM");
            self.shared.lock().conn_released += len;
            return Ok(());
        }
        if !stream.head_seen {
            self.stream_error(head.stream, Reason::PROTOCOL_ERROR, "DATA before the head");
            self.shared.lock().conn_released += len;
            return Ok(());
        }
        if len > stream.recv_window {
            self.stream_error(
                head.stream,
                Reason::FLOW_CONTROL_ERROR,
                "DATA past the stream's window",
            );
            self.shared.lock().conn_released += len;
            return Ok(());
        }
        stream.recv_window -= len;
        stream.received += data.len() as u64;
        let bad_len = stream
            .expect_len
            .is_some_and(|n| stream.received > n || (end_stream && stream.received != n));
        if bad_len {
            self.stream_error(
                head.stream,
                Reason::PROTOCOL_ERROR,
                "response DATA that does not match its content-length",
            );
            self.shared.lock().conn_released += len;
            return Ok(());
        }
        if end_stream {
            stream.recv_closed = true;
        }
        let padding = len - data.len() as i64;
        let waker = {
            let mut inner = self.shared.lock();
            // Padding is nobody's to read: its window goes back at once.
            inner.conn_released += padding;
            match inner.slots.get_mut(&head.stream) {
                Some(slot) => {
                    slot.released += padding;
                    if !data.is_empty() {
                        slot.data.push_back(Bytes::copy_from_slice(data));
                    }
                    slot.end |= end_stream;
                    slot.waker.take()
                }
                None => None,
            }
        };
        wake(waker);
        if end_stream {
            self.maybe_done(head.stream);
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
            check_block(&block)?;
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
        check_block(&block)?;
        if head.flags & flag::END_HEADERS != 0 {
            self.on_block(block)
        } else {
            self.block = Some(block);
            Ok(())
        }
    }

    /// A complete header block: a response head (informational or final), or trailers.
    fn on_block(&mut self, block: Block) -> Result<(), ConnError> {
        // Decoded whatever becomes of it, to keep the table in step.
        let fields = message::decode(
            &mut self.decoder,
            &block.bytes,
            MAX_HEADER_LIST,
            MAX_HEADERS + 1,
        )
        .map_err(|e| ConnError(Reason::COMPRESSION_ERROR, e.0))?;
        let id = block.stream;
        if self.idle(id) {
            return Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "HEADERS on a stream the client did not open",
            ));
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            // A stream we reset or finished.
            return Ok(());
        };
        if stream.recv_closed {
            self.stream_error(id, Reason::STREAM_CLOSED, "HEADERS after END_STREAM");
            return Ok(());
        }
        if stream.head_seen {
            // Trailers: they end the stream; their fields are dropped.
            if !block.end_stream {
                self.stream_error(id, Reason::PROTOCOL_ERROR, "trailers without END_STREAM");
                return Ok(());
            }
            if stream.expect_len.is_some_and(|n| stream.received != n) {
                self.stream_error(
                    id,
                    Reason::PROTOCOL_ERROR,
                    "response DATA that does not match its content-length",
                );
                return Ok(());
            }
            stream.recv_closed = true;
            self.file(id, |slot| slot.end = true);
            self.maybe_done(id);
            return Ok(());
        }
        if fields.too_large {
            self.stream_error(
                id,
                Reason::PROTOCOL_ERROR,
                "a response head over 64 KiB or 100 fields",
            );
            return Ok(());
        }
        let head = match message::response(fields) {
            Ok(head) => head,
            Err(why) => {
                self.stream_error(id, Reason::PROTOCOL_ERROR, why);
                return Ok(());
            }
        };
        if head.status.is_informational() {
            stream.informational += 1;
            if block.end_stream || stream.informational > MAX_INFORMATIONAL {
                self.stream_error(
                    id,
                    Reason::PROTOCOL_ERROR,
                    "an informational head that ends the stream, or too many",
                );
            }
            return Ok(());
        }
        let bodiless = stream.head_request
            || head.status == StatusCode::NO_CONTENT
            || head.status == StatusCode::NOT_MODIFIED;
        stream.expect_len = if bodiless { None } else { head.content_length };
        if block.end_stream && stream.expect_len.is_some_and(|n| n != 0) {
            self.stream_error(
                id,
                Reason::PROTOCOL_ERROR,
                "a response with a content-length and no DATA",
            );
            return Ok(());
        }
        stream.head_seen = true;
        stream.recv_closed = block.end_stream;
        let end = block.end_stream;
        self.file(id, |slot| {
            slot.head = Some(head);
            slot.head_seen = true;
            slot.end = end;
        });
        if end {
            self.maybe_done(id);
        }
        Ok(())
    }

    /// Changes the slot of stream `id` and wakes its request.
    fn file(&self, id: u32, change: impl FnOnce(&mut Slot)) {
        let waker = {
            let mut inner = self.shared.lock();
            inner.slots.get_mut(&id).and_then(|slot| {
                change(slot);
                slot.waker.take()
            })
        };
        wake(waker);
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
        let reason = Reason(u32::from_be_bytes([
            payload[0], payload[1], payload[2], payload[3],
        ]));
        let Some(stream) = self.streams.remove(&head.stream) else {
            return Ok(());
        };
        let untouched = stream
            .upload
            .map(|u| (!u.started).then_some(u.body))
            .unwrap_or(None);
        self.file(head.stream, |slot| {
            slot.finished = true;
            if slot.end {
                // The response is whole: the server only stops reading the request.
                return;
            }
            slot.failure = Some(if reason == Reason::REFUSED_STREAM {
                Failure::Retry(untouched)
            } else {
                Failure::Error(Error::protocol(format!(
                    "the server reset the HTTP/2 stream with {}",
                    reason_name(reason)
                )))
            });
        });
        Ok(())
    }

    fn on_goaway(&mut self, head: frame::Head, payload: &[u8]) -> Result<(), ConnError> {
        if head.stream != 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "GOAWAY on a stream"));
        }
        if payload.len() < 8 {
            return Err(ConnError(Reason::FRAME_SIZE_ERROR, "GOAWAY under 8 bytes"));
        }
        let last =
            u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
        let reason = Reason(u32::from_be_bytes([
            payload[4], payload[5], payload[6], payload[7],
        ]));
        let last = self.goaway_last.map_or(last, |l| l.min(last));
        self.goaway_last = Some(last);
        if self.ending == Ending::No {
            self.ending = Ending::Draining;
        }
        if reason != Reason::NO_ERROR {
            self.failed = Some(format!(
                "the server ended the connection with {}",
                reason_name(reason)
            ));
        }
        // The streams above `last` were not processed: they go again elsewhere.
        let above: Vec<u32> = self.streams.range(last + 1..).map(|(&id, _)| id).collect();
        let mut returned = Vec::new();
        for id in above {
            if let Some(stream) = self.streams.remove(&id) {
                let body = stream.upload.and_then(|u| (!u.started).then_some(u.body));
                returned.push((id, body));
            }
        }
        let wakers: Vec<Waker> = {
            let mut inner = self.shared.lock();
            inner.accepting = false;
            let mut wakers = Vec::new();
            for (id, body) in returned {
                if let Some(slot) = inner.slots.get_mut(&id) {
                    slot.finished = true;
                    slot.failure = Some(Failure::Retry(body));
                    wakers.extend(slot.waker.take());
                }
            }
            // Queued ones were never sent.
            let queued: Vec<u32> = inner.queued.drain(..).collect();
            for id in queued {
                if let Some(slot) = inner.slots.get_mut(&id) {
                    let body = slot.request.take().map(|r| r.body);
                    slot.finished = true;
                    slot.failure = Some(Failure::Retry(body));
                    wakers.extend(slot.waker.take());
                }
            }
            wakers
        };
        for w in wakers {
            w.wake();
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
                setting::MAX_CONCURRENT_STREAMS => {
                    self.peer_max_streams = usize::try_from(value).unwrap_or(usize::MAX);
                }
                // The encoder uses no dynamic table; our header lists are the caller's.
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
            self.stream_error(head.stream, Reason::PROTOCOL_ERROR, "a WINDOW_UPDATE of 0");
            return Ok(());
        }
        stream.send_window += increment;
        if stream.send_window > MAX_WINDOW {
            self.stream_error(
                head.stream,
                Reason::FLOW_CONTROL_ERROR,
                "a stream window past 2^31-1",
            );
        }
        Ok(())
    }

    /// A stream error the server caused: the stream is reset and its request fails.
    fn stream_error(&mut self, id: u32, reason: Reason, why: &str) {
        if self.streams.remove(&id).is_none() {
            return;
        }
        frame::rst_stream(&mut self.wbuf, id, reason);
        self.control_queued += 1;
        let why = why.to_owned();
        self.file(id, |slot| {
            slot.finished = true;
            slot.failure = Some(Failure::Error(Error::protocol(format!(
                "malformed HTTP/2 response: {why}"
            ))));
        });
    }

    /// Forgets stream `id` once both sides are closed.
    fn maybe_done(&mut self, id: u32) {
        let Some(stream) = self.streams.get(&id) else {
            return;
        };
        if !stream.recv_closed {
            return;
        }
        if stream.upload.is_some() {
            // The response ended before the request: the server wants no more of it.
            frame::rst_stream(&mut self.wbuf, id, Reason::NO_ERROR);
        }
        self.streams.remove(&id);
        self.file(id, |slot| slot.finished = true);
    }

    /// A connection error: GOAWAY, then close; every request fails.
    fn fail(&mut self, e: ConnError) {
        if self.ending == Ending::Failed || self.ending == Ending::Now {
            return;
        }
        self.goaway_out(e.0, e.1.as_bytes());
        self.failed = Some(format!("the server broke the HTTP/2 protocol: {}", e.1));
        self.protocol_error = true;
        self.streams.clear();
        self.block = None;
        self.ending = Ending::Failed;
        self.last_activity = Instant::now();
        self.finish(false);
    }

    fn goaway_out(&mut self, reason: Reason, debug: &[u8]) {
        // The server opens no streams we accept: the last one processed is 0.
        frame::goaway(&mut self.wbuf, 0, reason, debug);
    }

    /// Opens queued streams, resets dropped ones, gives windows back; registers the waker.
    fn take_work(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let shared = self.shared.clone();
        let mut inner = shared.lock();
        refresh(&mut inner.waker, cx);
        // Windows the readers gave back.
        let low = self.recv_window < CONN_WINDOW / 2;
        if inner.conn_released >= CONN_WINDOW / 4 || (low && inner.conn_released > 0) {
            let n = std::mem::take(&mut inner.conn_released);
            frame::window_update(&mut self.wbuf, 0, n as u32);
            self.recv_window += n;
            progress = true;
        }
        inner.conn_low = self.recv_window < CONN_WINDOW / 2;
        let todo = std::mem::take(&mut inner.todo);
        for id in todo {
            let Some(slot) = inner.slots.get_mut(&id) else {
                continue;
            };
            if slot.dropped {
                let unread: i64 = slot.data.iter().map(|b| b.len() as i64).sum();
                inner.slots.remove(&id);
                inner.conn_released += unread;
                if let Some(stream) = self.streams.remove(&id) {
                    if !stream.recv_closed || stream.upload.is_some() {
                        frame::rst_stream(&mut self.wbuf, id, Reason::CANCEL);
                    }
                }
                // One that was never sent just leaves the queue.
                if let Some(pos) = inner.queued.iter().position(|&q| q == id) {
                    inner.queued.remove(pos);
                }
                progress = true;
                continue;
            }
            if slot.released >= STREAM_WINDOW / 4 {
                if let Some(stream) = self.streams.get_mut(&id) {
                    if !stream.recv_closed {
                        let n = std::mem::take(&mut slot.released);
                        frame::window_update(&mut self.wbuf, id, n as u32);
                        stream.recv_window += n;
                        progress = true;
                    }
                }
            }
        }
        // New streams, in id order, while the server takes more.
        if self.ending == Ending::No {
            while self.streams.len() < self.peer_max_streams
                && self.wbuf.len() - self.wpos <= WRITE_HIGH
            {
                let Some(id) = inner.queued.pop_front() else {
                    break;
                };
                let Some(req) = inner.slots.get_mut(&id).and_then(|s| s.request.take()) else {
                    continue;
                };
                self.open(id, req);
                progress = true;
            }
        }
        // The pool let go of the connection and nothing is left to do: it closes.
        if inner.handles == 0
            && inner.queued.is_empty()
            && self.streams.is_empty()
            && self.ending == Ending::No
        {
            inner.accepting = false;
            drop(inner);
            self.goaway_out(Reason::NO_ERROR, b"");
            self.ending = Ending::Failed;
            self.last_activity = Instant::now();
            return true;
        }
        let idle = inner.queued.is_empty() && self.streams.is_empty();
        drop(inner);
        match (idle, self.idle_since) {
            (true, None) => self.idle_since = Some(Instant::now()),
            (false, Some(_)) => self.idle_since = None,
            _ => {}
        }
        progress
    }

    /// Sends the HEADERS of a new stream.
    fn open(&mut self, id: u32, req: Request) {
        let block = message::request_block(
            &mut self.encoder,
            &req.method,
            req.scheme,
            &req.authority,
            &req.path,
            &req.headers,
        );
        let end = req.body.is_empty();
        frame::headers(&mut self.wbuf, id, &block, end, self.peer_max_frame);
        self.last_opened = id;
        self.streams.insert(
            id,
            Stream {
                send_window: self.peer_initial_window,
                recv_window: STREAM_WINDOW,
                upload: (!end).then(|| Upload {
                    body: req.body,
                    pending: Bytes::new(),
                    started: false,
                }),
                recv_closed: false,
                head_seen: false,
                informational: 0,
                expect_len: None,
                received: 0,
                head_request: req.method == Method::HEAD,
            },
        );
    }

    /// Request data, one frame per stream a round, within the windows; true if any went.
    fn send_data(&mut self, cx: &mut Context<'_>) -> bool {
        let mut any = false;
        for _ in 0..POLL_BUDGET {
            let mut sent = false;
            let ids: Vec<u32> = self
                .streams
                .range(self.sent_last + 1..)
                .chain(self.streams.range(..=self.sent_last))
                .filter(|(_, s)| s.upload.is_some())
                .map(|(&id, _)| id)
                .collect();
            for id in ids {
                if self.wbuf.len() - self.wpos > WRITE_HIGH {
                    break;
                }
                if self.send_one(id, cx) {
                    sent = true;
                    self.sent_last = id;
                }
            }
            any |= sent;
            if !sent || self.wbuf.len() - self.wpos > WRITE_HIGH {
                break;
            }
        }
        any
    }

    /// One DATA frame of stream `id`, if its body and the windows allow; true if it did
    /// something.
    fn send_one(&mut self, id: u32, cx: &mut Context<'_>) -> bool {
        let conn_window = self.send_window;
        let max_frame = self.peer_max_frame;
        let Some(stream) = self.streams.get_mut(&id) else {
            return false;
        };
        let Some(upload) = stream.upload.as_mut() else {
            return false;
        };
        if upload.pending.is_empty() {
            let polled = upload.body.poll_chunk(cx);
            upload.started |= polled.is_ready();
            match polled {
                Poll::Pending => return false,
                Poll::Ready(None) => {
                    frame::data(&mut self.wbuf, id, &[], true);
                    stream.upload = None;
                    self.maybe_done(id);
                    return true;
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    upload.pending = chunk;
                    if upload.pending.is_empty() {
                        return true;
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    // The request cannot be sent whole: the server is told, the caller gets
                    // the body's error.
                    self.streams.remove(&id);
                    frame::rst_stream(&mut self.wbuf, id, Reason::CANCEL);
                    self.file(id, |slot| {
                        slot.finished = true;
                        slot.failure = Some(Failure::Error(e));
                    });
                    return true;
                }
            }
        }
        let window = stream.send_window.min(conn_window);
        if window <= 0 {
            return false;
        }
        let n = upload.pending.len().min(window as usize).min(max_frame);
        let piece = upload.pending.split_to(n);
        let end = upload.pending.is_empty() && upload.body.len() == Some(0);
        frame::data(&mut self.wbuf, id, &piece, end);
        stream.send_window -= n as i64;
        self.send_window -= n as i64;
        if end {
            stream.upload = None;
            self.maybe_done(id);
        }
        true
    }

    /// Writes what is queued; true if bytes went out.
    fn write(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.wpos < self.wbuf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.failed
                        .get_or_insert_with(|| "writing to the server failed".to_owned());
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
        if progress {
            self.last_activity = Instant::now();
        }
        progress
    }

    /// Closes the write side, within a moment.
    async fn close(&mut self) {
        if self.ending == Ending::Now {
            return;
        }
        let _ = crate::time::timeout(self.io.close(), LINGER).await;
    }

    /// The connection is over (`closed`), or failed and still writing its GOAWAY: every
    /// request still waiting fails, those never sent with a retry.
    fn finish(&mut self, closed: bool) {
        let why = self
            .failed
            .clone()
            .unwrap_or_else(|| "the HTTP/2 connection closed".to_owned());
        let wakers: Vec<Waker> = {
            let mut inner = self.shared.lock();
            inner.accepting = false;
            if closed {
                inner.closed = true;
                inner.waker = None;
            }
            let queued: Vec<u32> = inner.queued.drain(..).collect();
            let mut wakers = Vec::new();
            for id in queued {
                if let Some(slot) = inner.slots.get_mut(&id) {
                    let body = slot.request.take().map(|r| r.body);
                    slot.finished = true;
                    slot.failure = Some(Failure::Retry(body));
                    wakers.extend(slot.waker.take());
                }
            }
            for slot in inner.slots.values_mut() {
                if slot.finished || slot.end {
                    continue;
                }
                slot.finished = true;
                slot.failure = Some(Failure::Error(match self.protocol_error {
                    true => Error::protocol(why.clone()),
                    false => Error::io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        why.clone(),
                    )),
                }));
                wakers.extend(slot.waker.take());
            }
            wakers
        };
        self.streams.clear();
        for w in wakers {
            w.wake();
        }
    }
}

impl<S> Drop for Conn<S> {
    fn drop(&mut self) {
        // The task may be dropped without finishing (its executor shut down): the requests
        // still waiting must not wait for ever.
        let wakers: Vec<Waker> = {
            let mut inner = self.shared.lock();
            inner.accepting = false;
            inner.closed = true;
            inner.waker = None;
            inner
                .slots
                .values_mut()
                .filter_map(|s| s.waker.take())
                .collect()
        };
        for w in wakers {
            w.wake();
        }
    }
}

/// The CONTINUATION flood defence: a header block is held only up to a bound.
fn check_block(block: &Block) -> Result<(), ConnError> {
    if block.bytes.len() > 2 * MAX_HEADER_LIST || block.frames > CONTINUATION_MAX {
        return Err(ConnError(
            Reason::ENHANCE_YOUR_CALM,
            "a header block too large",
        ));
    }
    Ok(())
}
