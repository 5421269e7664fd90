//! What the client's frames do to the server's streams: DATA into request bodies, header
//! blocks into requests and trailers, and the limits on resets (the rapid reset attack) and
//! on frames for streams the server reset.

#![forbid(unsafe_code)]

use super::stream::{State, Stream};
use super::{Conn, CONN_WINDOW};
use crate::http::h2::endpoint::{Data, Endpoint, StreamFrames};
use crate::http::h2::frame::{self, Reason};
use crate::http::h2::link::{Block, ConnError, Ending, STREAM_WINDOW};
use crate::http::h2::message;
use crate::http::server::expect::{expectation, Expect};
use crate::http::server::response::{status_response, IntoResponse};
use crate::http::{Body, HeaderMap, Method, Request, StatusCode};
use crate::io::{AsyncRead, AsyncWrite};
use crate::time::Instant;
use bytes::BytesMut;
use std::future::Future;
use std::time::Duration;

/// How many streams the peer may reset within [`RESET_PERIOD`] before the connection is
/// closed with ENHANCE_YOUR_CALM (the rapid reset attack, CVE-2023-44487).
const RESET_MAX: u32 = 200;
const RESET_PERIOD: Duration = Duration::from_secs(10);

/// How long frames on a stream the server reset are ignored (RFC 9113 section 5.4.2: the
/// peer may have sent them before it saw the reset), and how many such streams are
/// remembered at most (the oldest is forgotten first). Past that, such a frame is one on a
/// closed stream: DATA gets RST_STREAM(STREAM_CLOSED), HEADERS a connection error.
pub(super) const RESET_REMEMBER: Duration = Duration::from_secs(30);
const RESET_REMEMBER_MAX: usize = 1024;

/// The most DATA frames with no data and no END_STREAM in a row (DATA that carries data
/// starts the count again): more is the empty-frame flood of CVE-2019-9518, which costs
/// the server work and the peer no flow-control window.
const EMPTY_DATA_MAX: u32 = 100;

/// How much of a request body that is not wanted (its response went out before it was read)
/// is read and dropped, with its window given back, before the stream is reset: a client may
/// finish sending a body it already started, as most do before they read the response.
const DISCARD_MAX: i64 = 1 << 20;

impl<S, H, F, R> StreamFrames for Conn<'_, S, H, F>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    fn on_conn_data(&mut self, len: i64) {
        self.recv_unacked += len;
        // The connection's window is given back whatever becomes of the data: the memory it
        // costs is bounded per stream.
        if self.recv_unacked >= CONN_WINDOW / 4 {
            self.link.window_update(0, self.recv_unacked);
            self.recv_unacked = 0;
        }
    }

    /// DATA on stream `id`: a request body's, or one to drop.
    fn on_data(&mut self, frame: Data<'_>) -> Result<(), ConnError> {
        let Data {
            id,
            len,
            bytes: data,
            end_stream,
        } = frame;
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
        if !self.streams.contains_key(&id) {
            if !self.reset_by_us(id) {
                self.reset(id, Reason::STREAM_CLOSED);
            }
            return Ok(());
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        if stream.recv_closed {
            return self.peer_error(id, Reason::STREAM_CLOSED);
        }
        if len > stream.recv_window {
            return self.peer_error(id, Reason::FLOW_CONTROL_ERROR);
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
                self.streams.remove(&id);
            } else if stream.discard_left < len {
                return self.peer_error(id, Reason::NO_ERROR);
            } else if !end_stream && len > 0 {
                stream.discard_left -= len;
                frame::window_update(&mut self.link.wbuf, id, len as u32);
                stream.recv_window += len;
            }
            return Ok(());
        };
        if body.len() as u64 + data.len() as u64 > max_body {
            let res = status_response(StatusCode::PAYLOAD_TOO_LARGE);
            self.respond(id, res, &Method::POST);
            return Ok(());
        }
        body.extend_from_slice(data);
        if content_length
            .is_some_and(|n| body.len() as u64 > n || (end_stream && body.len() as u64 != n))
        {
            return self.peer_error(id, Reason::PROTOCOL_ERROR);
        }
        stream.recv_unacked += len;
        if !end_stream && stream.recv_unacked >= STREAM_WINDOW / 4 {
            frame::window_update(&mut self.link.wbuf, id, stream.recv_unacked as u32);
            stream.recv_window += stream.recv_unacked;
            stream.recv_unacked = 0;
        }
        if end_stream {
            self.start(id);
        }
        Ok(())
    }

    /// A complete header block: a new request, or trailers.
    fn on_block(&mut self, block: Block) -> Result<(), ConnError> {
        let fields = self.link.decode(
            &block,
            self.cfg.max_header_size,
            self.cfg.max_headers.saturating_add(4),
        )?;
        let id = block.stream;
        if let Some(stream) = self.streams.get_mut(&id) {
            // Trailers: they end the stream, and go to the handler with the body.
            if stream.recv_closed {
                return Err(ConnError(Reason::STREAM_CLOSED, "HEADERS after END_STREAM"));
            }
            if !block.end_stream {
                return self.peer_error(id, Reason::PROTOCOL_ERROR);
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
                return self.peer_error(id, Reason::PROTOCOL_ERROR);
            };
            if let State::Receiving {
                body,
                content_length,
                trailers,
                ..
            } = &mut stream.state
            {
                if content_length.is_some_and(|n| body.len() as u64 != n) {
                    return self.peer_error(id, Reason::PROTOCOL_ERROR);
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
        if self.goaway_last.is_some() || self.link.ending != Ending::No {
            // Past our GOAWAY: ignored, as the peer was told.
            return Ok(());
        }
        if self.streams.len() >= self.cfg.max_concurrent_streams {
            self.reset(id, Reason::REFUSED_STREAM);
            return Ok(());
        }
        let mut stream = Stream {
            state: State::Done,
            send_window: self.link.peer_initial_window,
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
                            &mut self.link.encoder,
                            StatusCode::CONTINUE,
                            &HeaderMap::new(),
                        );
                        self.link.headers(id, &interim, false);
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

    fn on_rst(&mut self, id: u32, _reason: Reason) -> Result<(), ConnError> {
        if self.streams.remove(&id).is_some() {
            return self.count_reset();
        }
        Ok(())
    }

    fn stream_error(
        &mut self,
        id: u32,
        reason: Reason,
        _why: &'static str,
    ) -> Result<(), ConnError> {
        self.peer_error(id, reason)
    }
}

impl<S, H, F, R> Conn<'_, S, H, F>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    /// One more stream of the peer's ended early; too many of them in [`RESET_PERIOD`] is the
    /// rapid reset attack.
    pub(super) fn count_reset(&mut self) -> Result<(), ConnError> {
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

    /// A stream error the peer caused: the stream is reset, and if it was open, that counts
    /// as a reset of the peer's own (a peer that gets its streams reset by a bad frame right
    /// after opening them would otherwise start handlers without bound: CVE-2025-8671).
    pub(super) fn peer_error(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
        let open = self.streams.contains_key(&id);
        self.reset(id, reason);
        if open {
            self.count_reset()
        } else {
            Ok(())
        }
    }

    /// Resets stream `id` (a stream error) and forgets it.
    pub(super) fn reset(&mut self, id: u32, reason: Reason) {
        self.streams.remove(&id);
        self.link.reset(id, reason);
        self.remember_reset(id);
    }

    /// Notes that the server reset stream `id`: what the peer still sends on it is ignored
    /// for a while.
    pub(super) fn remember_reset(&mut self, id: u32) {
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
}
