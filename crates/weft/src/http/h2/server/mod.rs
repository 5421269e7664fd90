//! One HTTP/2 connection on the server: the streams the client opens, their handlers and
//! their responses.
//!
//! The connection's task drives everything: it reads and handles frames, polls each open
//! stream's handler future and response body, and writes what they produce, in one
//! `poll` that loops while anything makes progress (the frame loop shared with the client,
//! [`Endpoint`]). Handlers therefore run concurrently with each other and with the frame
//! loop, without a task (and a channel) per stream, and the server's kill deadline, which
//! drops the connection's task, cuts them all at once.
//!
//! A request body is read whole (up to `max_body_size`, else `413`) before its handler runs,
//! as on HTTP/1.1; the stream's and the connection's receive windows are replenished as its
//! DATA arrives. Responses go out as HEADERS (plus CONTINUATION) and DATA frames within the
//! peer's windows and maximum frame size.
//!
//! This file holds the connection, its timeouts and its ending; `recv.rs` what the client's
//! frames do to streams (requests, trailers, resets and their flood limits); `stream.rs` the
//! streams' handlers and responses.

#![forbid(unsafe_code)]

mod recv;
mod stream;

use self::stream::{State, Stream};
use super::endpoint::{Endpoint, FlowStream};
use super::frame::{self, setting, Reason, DEFAULT_WINDOW};
use super::link::{ConnError, Ending, Link, Setup, LINGER, MAX_FRAME, STREAM_WINDOW};
use crate::http::server::response::IntoResponse;
use crate::http::server::{Config, ConnectInfo, Shared};
use crate::http::{Body, Request};
use crate::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use crate::time::Instant;
use std::collections::{BTreeMap, VecDeque};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Our receive window for the connection, raised to this by a WINDOW_UPDATE at the start.
const CONN_WINDOW: i64 = 4 << 20;

struct Conn<'a, S, H, F> {
    link: Link<S>,
    handler: &'a H,
    cfg: &'a Config,
    /// The addresses, given to every request.
    info: ConnectInfo,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    shutdown_seen: bool,
    opened: Instant,

    /// Since when response data has waited on the peer's windows with none sent: a peer
    /// that does not open them within `idle_timeout` is cut off, as a write that makes no
    /// progress is.
    flow_stalled: Option<Instant>,

    streams: BTreeMap<u32, Stream<F>>,
    /// The highest stream id the peer opened.
    last_stream: u32,
    /// No stream past this id is served (the id sent in our GOAWAY).
    goaway_last: Option<u32>,
    /// Received bytes not yet given back to the connection's window.
    recv_unacked: i64,

    resets: u32,
    resets_since: Instant,
    /// Streams the server reset, and when: the peer's frames on them are ignored for
    /// [`recv::RESET_REMEMBER`].
    reset_by_us: VecDeque<(u32, Instant)>,
    /// DATA frames without data or END_STREAM since the last one with data.
    empty_data: u32,
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
    let max_list = u32::try_from(cfg.max_header_size).unwrap_or(u32::MAX);
    let max_streams = u32::try_from(cfg.max_concurrent_streams).unwrap_or(u32::MAX);
    let mut hello = Vec::with_capacity(16 * 1024);
    frame::settings(
        &mut hello,
        &[
            (setting::ENABLE_PUSH, 0),
            (setting::MAX_CONCURRENT_STREAMS, max_streams),
            (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW as u32),
            (setting::MAX_FRAME_SIZE, MAX_FRAME as u32),
            (setting::MAX_HEADER_LIST_SIZE, max_list),
        ],
    );
    frame::window_update(&mut hello, 0, (CONN_WINDOW - DEFAULT_WINDOW) as u32);
    let link = Link::new(
        io,
        Setup {
            already: already.to_vec(),
            hello,
            expect_preface: true,
            recv_window: CONN_WINDOW,
            max_block: cfg.max_header_size.saturating_mul(2).max(MAX_FRAME),
        },
    );
    let now = link.last_activity;
    let mut conn = Conn {
        link,
        handler,
        cfg,
        info,
        shutdown: Box::pin(shared.shutdown.wait()),
        shutdown_seen: false,
        opened,
        flow_stalled: None,
        streams: BTreeMap::new(),
        last_stream: 0,
        goaway_last: None,
        recv_unacked: 0,
        resets: 0,
        resets_since: now,
        reset_by_us: VecDeque::new(),
        empty_data: 0,
        timer: crate::time::sleep_until(
            opened
                + cfg
                    .header_read_timeout
                    .min(Duration::from_secs(86_400 * 365)),
        ),
    };
    poll_fn(|cx| conn.poll(cx)).await;
    conn.close().await;
}

impl<F> FlowStream for Stream<F> {
    fn send_window(&mut self) -> &mut i64 {
        &mut self.send_window
    }

    fn sending(&self) -> bool {
        matches!(self.state, State::Sending { .. })
    }
}

impl<S, H, F, R> Endpoint for Conn<'_, S, H, F>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    type Io = S;
    type Stream = Stream<F>;

    const NOT_SETTINGS: &'static str = "the first frame is not SETTINGS";
    const PUSH_PROMISE: &'static str = "PUSH_PROMISE from a client";

    fn link(&mut self) -> &mut Link<S> {
        &mut self.link
    }

    fn streams(&mut self) -> &mut BTreeMap<u32, Stream<F>> {
        &mut self.streams
    }

    /// A stream id the peer has not opened yet.
    fn idle(&self, id: u32) -> bool {
        id > self.last_stream
    }

    fn on_eof(&mut self) {
        // What the peer can no longer complete is dropped.
        self.streams
            .retain(|_, s| matches!(s.state, State::Running { .. } | State::Sending { .. }));
        self.link.block = None;
    }

    fn work(&mut self, cx: &mut Context<'_>) -> bool {
        self.poll_streams(cx)
    }

    fn poll_more(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.shutdown_seen && self.shutdown.as_mut().poll(cx).is_ready() {
            self.shutdown_seen = true;
            self.drain();
            return true;
        }
        false
    }

    fn finished(&self) -> bool {
        let written = self.link.written();
        match self.link.ending {
            Ending::No => self.link.eof && self.streams.is_empty() && written,
            Ending::Draining => self.streams.is_empty() && written,
            Ending::Failed => written,
            Ending::Now => true,
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let far = Instant::now() + Duration::from_secs(86_400 * 365);
            let add = |t: Instant, d: Duration| t.checked_add(d).unwrap_or(far).min(far);
            let idle_timeout = self.cfg.idle_timeout;
            let link = &self.link;
            let mut deadline = far;
            if !link.settings_seen {
                deadline = deadline.min(add(self.opened, self.cfg.header_read_timeout));
            }
            let busy = self
                .streams
                .values()
                .any(|s| matches!(s.state, State::Running { .. } | State::Sending { .. }));
            if link.settings_seen && !busy {
                deadline = deadline.min(add(link.last_activity, idle_timeout));
            }
            if let Some(since) = link.write_stalled {
                deadline = deadline.min(add(since, idle_timeout));
            }
            if let Some(since) = self.flow_stalled {
                deadline = deadline.min(add(since, idle_timeout));
            }
            if link.ending == Ending::Failed {
                // The GOAWAY of a failed connection gets a second to go out.
                deadline = deadline.min(add(link.last_activity, LINGER));
            }
            if self.timer.deadline() != deadline {
                self.timer.reset(deadline);
            }
            if Pin::new(&mut self.timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // A deadline passed.
            let now = Instant::now();
            let link = &self.link;
            if !link.settings_seen || link.write_stalled.is_some() || link.ending == Ending::Failed
            {
                return Poll::Ready(());
            }
            if let Some(since) = self.flow_stalled {
                if now >= add(since, idle_timeout) {
                    // The peer keeps its windows shut: its streams are dropped, with a GOAWAY.
                    self.flow_stalled = None;
                    self.fail(ConnError(Reason::NO_ERROR, "stalled by flow control"));
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            if now >= add(self.link.last_activity, idle_timeout) {
                // Idle: say goodbye and close.
                if self.link.ending == Ending::No {
                    self.goaway(Reason::NO_ERROR, b"idle");
                }
                self.link.ending = Ending::Failed;
                self.link.last_activity = now;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// A connection error: GOAWAY, no more frames read, the streams dropped.
    fn fail(&mut self, e: ConnError) {
        if self.link.ending == Ending::Failed || self.link.ending == Ending::Now {
            return;
        }
        let last = self.last_served();
        self.link.end_with(last, e.0, e.1.as_bytes());
        self.streams.clear();
    }

    fn send_one(&mut self, id: u32, cx: &mut Context<'_>) -> bool {
        self.send_data(id, cx)
    }
}

impl<S, H, F, R> Conn<'_, S, H, F>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    /// The last stream id served, as our GOAWAY says it (and no later one is).
    fn last_served(&mut self) -> u32 {
        let last = self
            .goaway_last
            .unwrap_or(self.last_stream)
            .min(self.last_stream);
        self.goaway_last = Some(last);
        last
    }

    /// Queues GOAWAY with the last stream id served.
    fn goaway(&mut self, reason: Reason, debug: &[u8]) {
        let last = self.last_served();
        frame::goaway(&mut self.link.wbuf, last, reason, debug);
    }

    /// Graceful shutdown: GOAWAY(NO_ERROR); open streams finish.
    fn drain(&mut self) {
        if self.link.ending != Ending::No {
            return;
        }
        if !self.link.settings_seen {
            self.link.ending = Ending::Now;
            return;
        }
        self.goaway(Reason::NO_ERROR, b"");
        self.link.ending = Ending::Draining;
    }

    /// Closes the connection: the write side first, then what the peer still sends is read
    /// and dropped for a moment, so that it reads our last frames rather than a reset.
    async fn close(&mut self) {
        if !self.link.close().await {
            return;
        }
        let drain = async {
            let mut scratch = [0u8; 4096];
            let mut dropped = 0;
            while dropped < 1 << 20 {
                match self.link.io.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => dropped += n,
                }
            }
        };
        let _ = crate::time::timeout(drain, LINGER).await;
    }
}
