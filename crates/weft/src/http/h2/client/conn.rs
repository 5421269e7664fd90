//! A client connection's task: the streams it opens (in id order, up to the server's
//! `MAX_CONCURRENT_STREAMS`; the others wait in the queue), the request bodies it sends, the
//! windows the readers give back, its timeouts and its ending.

#![forbid(unsafe_code)]

use super::shared::{refresh, Shared};
use super::{Config, Failure, Request, CONN_WINDOW, MAX_HEADER_LIST};
use crate::http::h2::endpoint::{Endpoint, FlowStream};
use crate::http::h2::frame::{self, setting, Reason, DEFAULT_WINDOW};
use crate::http::h2::link::{ConnError, Ending, Link, Setup, LINGER, STREAM_WINDOW, WRITE_HIGH};
use crate::http::h2::message;
use crate::http::h2::PREFACE;
use crate::http::{Body, Error, Method};
use crate::io::{AsyncRead, AsyncWrite};
use crate::time::Instant;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The task's side of a stream.
pub(super) struct Stream {
    /// The server's window for what we send.
    pub(super) send_window: i64,
    /// Our window for what the server sends.
    pub(super) recv_window: i64,
    /// The request body still to send; `None` once END_STREAM went out.
    pub(super) upload: Option<Upload>,
    /// The server ended its side.
    pub(super) recv_closed: bool,
    /// The final response head arrived.
    pub(super) head_seen: bool,
    pub(super) informational: usize,
    /// The response's announced length, checked against its DATA (not for HEAD, 204, 304).
    pub(super) expect_len: Option<u64>,
    pub(super) received: u64,
    pub(super) head_request: bool,
}

/// A request body going out.
pub(super) struct Upload {
    pub(super) body: Body,
    /// Bytes taken from the body and not sent yet (windows, frame size).
    pub(super) pending: Bytes,
    /// Some of the body was taken: it cannot be handed back for a retry.
    pub(super) started: bool,
}

/// The connection, owned by its task.
pub(super) struct Conn<S> {
    pub(super) link: Link<S>,
    cfg: Config,
    pub(super) shared: Arc<Shared>,
    pub(super) streams: BTreeMap<u32, Stream>,
    /// The highest stream id opened (HEADERS sent).
    last_opened: u32,
    /// The last stream id of the server's GOAWAY.
    pub(super) goaway_last: Option<u32>,
    /// Why the connection failed, for the requests it fails.
    pub(super) failed: Option<String>,
    /// It failed because the server broke the protocol.
    protocol_error: bool,
    /// Since when no stream is open nor queued.
    idle_since: Option<Instant>,
    timer: Option<Pin<Box<crate::time::Sleep>>>,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(super) fn new(io: S, cfg: Config, shared: Arc<Shared>) -> Self {
        let mut hello = Vec::with_capacity(16 * 1024);
        hello.extend_from_slice(PREFACE);
        frame::settings(
            &mut hello,
            &[
                (setting::ENABLE_PUSH, 0),
                (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW as u32),
                (setting::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST as u32),
            ],
        );
        frame::window_update(&mut hello, 0, (CONN_WINDOW - DEFAULT_WINDOW) as u32);
        let link = Link::new(
            io,
            Setup {
                already: Vec::new(),
                hello,
                expect_preface: false,
                recv_window: CONN_WINDOW,
                max_block: 2 * MAX_HEADER_LIST,
            },
        );
        let now = link.last_activity;
        Self {
            link,
            cfg,
            shared,
            streams: BTreeMap::new(),
            last_opened: 0,
            goaway_last: None,
            failed: None,
            protocol_error: false,
            idle_since: Some(now),
            timer: None,
        }
    }

    /// Opens queued streams, resets dropped ones, gives windows back; registers the waker.
    fn take_work(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let shared = self.shared.clone();
        let mut inner = shared.lock();
        refresh(&mut inner.waker, cx);
        // Windows the readers gave back.
        let low = self.link.recv_window < CONN_WINDOW / 2;
        if inner.conn_released >= CONN_WINDOW / 4 || (low && inner.conn_released > 0) {
            let n = std::mem::take(&mut inner.conn_released);
            self.link.window_update(0, n);
            progress = true;
        }
        inner.conn_low = self.link.recv_window < CONN_WINDOW / 2;
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
                        frame::rst_stream(&mut self.link.wbuf, id, Reason::CANCEL);
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
                        self.link.window_update(id, n);
                        stream.recv_window += n;
                        progress = true;
                    }
                }
            }
        }
        // New streams, in id order, while the server takes more.
        if self.link.ending == Ending::No {
            while self.streams.len() < self.link.peer_max_streams
                && self.link.unwritten() <= WRITE_HIGH
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
            && self.link.ending == Ending::No
        {
            inner.accepting = false;
            drop(inner);
            // The server opens no streams we accept: the last one processed is 0.
            self.link.end_with(0, Reason::NO_ERROR, b"");
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
            &mut self.link.encoder,
            &req.method,
            req.scheme,
            &req.authority,
            &req.path,
            &req.headers,
        );
        // A body with trailers ends with them, in a HEADERS frame of their own.
        let end = req.body.is_empty() && !req.body.has_trailers();
        self.link.headers(id, &block, end);
        self.last_opened = id;
        self.streams.insert(
            id,
            Stream {
                send_window: self.link.peer_initial_window,
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

    /// One DATA frame of stream `id`'s request body, if the body and the windows allow;
    /// true if it did something.
    fn send_upload(&mut self, id: u32, cx: &mut Context<'_>) -> bool {
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
                    self.link.end(id, &mut upload.body);
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
                    frame::rst_stream(&mut self.link.wbuf, id, Reason::CANCEL);
                    self.file(id, |slot| {
                        slot.finished = true;
                        slot.failure = Some(Failure::Error(e));
                    });
                    return true;
                }
            }
        }
        let Some(end) = self.link.send_data(
            id,
            &mut stream.send_window,
            &mut upload.pending,
            &upload.body,
        ) else {
            return false;
        };
        if end {
            stream.upload = None;
            self.maybe_done(id);
        }
        true
    }

    /// Closes the write side, within a moment.
    pub(super) async fn close(&mut self) {
        let _ = self.link.close().await;
    }

    /// The connection is over (`closed`), or failed and still writing its GOAWAY: every
    /// request still waiting fails, those never sent with a retry.
    pub(super) fn finish(&mut self, closed: bool) {
        if self.link.write_failed {
            self.failed
                .get_or_insert_with(|| "writing to the server failed".to_owned());
        }
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
            let mut wakers = Vec::new();
            inner.retry_queued(&mut wakers);
            for slot in inner.slots.values_mut() {
                if slot.finished || slot.end {
                    continue;
                }
                let e = match self.protocol_error {
                    true => Error::protocol(why.clone()),
                    false => Error::io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        why.clone(),
                    )),
                };
                slot.end_with(Failure::Error(e), &mut wakers);
            }
            wakers
        };
        self.streams.clear();
        for w in wakers {
            w.wake();
        }
    }
}

impl FlowStream for Stream {
    fn send_window(&mut self) -> &mut i64 {
        &mut self.send_window
    }

    fn sending(&self) -> bool {
        self.upload.is_some()
    }
}

impl<S> Endpoint for Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Io = S;
    type Stream = Stream;

    const NOT_SETTINGS: &'static str = "the server's first frame is not SETTINGS";
    const PUSH_PROMISE: &'static str = "PUSH_PROMISE, which the client disabled";

    fn link(&mut self) -> &mut Link<S> {
        &mut self.link
    }

    fn streams(&mut self) -> &mut BTreeMap<u32, Stream> {
        &mut self.streams
    }

    /// A stream id we have not opened.
    fn idle(&self, id: u32) -> bool {
        id > self.last_opened || id % 2 == 0
    }

    fn on_eof(&mut self) {
        self.failed
            .get_or_insert_with(|| "the server closed the connection".to_owned());
    }

    fn work(&mut self, cx: &mut Context<'_>) -> bool {
        let took = self.take_work(cx);
        took | self.send_rounds(cx)
    }

    fn finished(&self) -> bool {
        let written = self.link.written();
        match self.link.ending {
            Ending::No => self.link.eof,
            Ending::Draining => self.link.eof || (self.streams.is_empty() && written),
            Ending::Failed => written,
            Ending::Now => true,
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut deadline = None;
        if let (Some(since), Some(t)) = (self.idle_since, self.cfg.idle_timeout) {
            deadline = since.checked_add(t);
        }
        if self.link.ending == Ending::Failed {
            // The GOAWAY of a closing connection gets a moment to go out.
            deadline = Some(self.link.last_activity + LINGER);
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
        if self.link.ending == Ending::Failed {
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
            self.link.end_with(0, Reason::NO_ERROR, b"idle");
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// A connection error: GOAWAY, then close; every request fails.
    fn fail(&mut self, e: ConnError) {
        if self.link.ending == Ending::Failed || self.link.ending == Ending::Now {
            return;
        }
        // The server opens no streams we accept: the last one processed is 0.
        self.link.end_with(0, e.0, e.1.as_bytes());
        self.failed = Some(format!("the server broke the HTTP/2 protocol: {}", e.1));
        self.protocol_error = true;
        self.streams.clear();
        self.finish(false);
    }

    fn send_one(&mut self, id: u32, cx: &mut Context<'_>) -> bool {
        self.send_upload(id, cx)
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
