//! The frame loop both ends of an HTTP/2 connection run, over a [`Link`].
//!
//! [`Endpoint`] is implemented by the server's connection (`server/`) and the client's
//! (`client/conn.rs`). Its provided methods are the part of RFC 9113 that does not depend
//! on which end we are:
//!
//! - [`Endpoint::poll`]: the connection's one `poll`, looping while anything makes progress
//!   ([`POLL_BUDGET`] rounds, then it yields): read, handle whole frames, the end's own
//!   work ([`Endpoint::work`]: handlers and responses, or requests to open), write.
//! - the frame checks every frame gets (size, the first frame being SETTINGS, a header
//!   block not interrupted, frames on stream 0 or on idle streams) and the handling of the
//!   frames that are the connection's: SETTINGS (applied, window deltas to every open
//!   stream, acknowledged), PING (answered), WINDOW_UPDATE (of the connection and of a
//!   stream; past 2^31-1 is FLOW_CONTROL_ERROR), GOAWAY and RST_STREAM (checked, then
//!   handed to the end), HEADERS and CONTINUATION put together into one [`Block`], and the
//!   connection's receive window taken by DATA.
//! - [`Endpoint::send_rounds`]: DATA, one frame per stream a round, round robin, each round
//!   starting after the stream that sent last, within the windows and the write buffer's
//!   limit.
//!
//! What the frames mean for streams (a request, a response, trailers, a reset) is the end's:
//! it gets each through [`StreamFrames`], after the checks above (the connection's window
//! is taken by any DATA before its stream is looked at: RFC 9113 section 6.9).

#![forbid(unsafe_code)]

use super::frame::{self, flag, kind, setting, Head, Reason, MAX_WINDOW};
use super::link::{Block, ConnError, Ending, Link, CONTROL_MAX, MAX_FRAME, POLL_BUDGET};
use super::link::{CONTINUATION_MAX, WRITE_HIGH};
use super::PREFACE;
use crate::io::{AsyncRead, AsyncWrite};
use std::collections::BTreeMap;
use std::task::{Context, Poll};

/// A stream as the shared frame loop sees it: its send window, which SETTINGS and
/// WINDOW_UPDATE change.
pub(super) trait FlowStream {
    /// The peer's window for what we send on the stream.
    fn send_window(&mut self) -> &mut i64;
    /// It has DATA to send, or may have (its body is being polled).
    fn sending(&self) -> bool;
}

/// A DATA frame on a stream (not 0, not idle).
#[derive(Debug, Clone, Copy)]
pub(super) struct Data<'a> {
    pub(super) id: u32,
    /// The bytes flow control counts: the payload with its padding.
    pub(super) len: i64,
    /// The data, without the padding.
    pub(super) bytes: &'a [u8],
    pub(super) end_stream: bool,
}

/// What the frames about streams do at one end, after the frame loop's checks.
pub(super) trait StreamFrames {
    /// `len` flow-controlled bytes of DATA were taken off the connection's receive window
    /// (before the frame's other checks).
    fn on_conn_data(&mut self, _len: i64) {}
    /// DATA on a stream.
    fn on_data(&mut self, frame: Data<'_>) -> Result<(), ConnError>;
    /// A whole header block (HEADERS and its CONTINUATIONs).
    fn on_block(&mut self, block: Block) -> Result<(), ConnError>;
    /// RST_STREAM on stream `id` (not 0, not idle).
    fn on_rst(&mut self, id: u32, reason: Reason) -> Result<(), ConnError>;
    /// GOAWAY from the peer (the connection is already marked draining).
    fn on_goaway(&mut self, _last: u32, _reason: Reason) {}
    /// A stream error the peer caused on stream `id`: reset it.
    fn stream_error(&mut self, id: u32, reason: Reason, why: &'static str)
        -> Result<(), ConnError>;
}

/// One end of an HTTP/2 connection: what it must provide, and the frame loop it gets.
pub(super) trait Endpoint: StreamFrames + Sized {
    type Io: AsyncRead + AsyncWrite + Unpin;
    type Stream: FlowStream;

    /// The reason of the GOAWAY for a first frame that is not SETTINGS.
    const NOT_SETTINGS: &'static str;
    /// The reason of the GOAWAY for a PUSH_PROMISE (neither end takes one).
    const PUSH_PROMISE: &'static str;

    fn link(&mut self) -> &mut Link<Self::Io>;
    fn streams(&mut self) -> &mut BTreeMap<u32, Self::Stream>;

    /// A stream id the peer may not use yet (not opened by it, nor by us).
    fn idle(&self, id: u32) -> bool;

    /// The socket ended (`link.eof` is set).
    fn on_eof(&mut self);
    /// The end's work between reading and writing; true if it made progress.
    fn work(&mut self, cx: &mut Context<'_>) -> bool;
    /// After the write: anything else that makes progress (the server's shutdown signal).
    fn poll_more(&mut self, _cx: &mut Context<'_>) -> bool {
        false
    }
    /// Everything is said: the connection may close.
    fn finished(&self) -> bool;
    /// Nothing made progress: arm the timer for the nearest deadline, handle it if passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    /// A connection error: GOAWAY, and the streams dropped.
    fn fail(&mut self, e: ConnError);

    /// Sends one DATA frame of stream `id` if its body and the windows allow; true if it did
    /// something.
    fn send_one(&mut self, id: u32, cx: &mut Context<'_>) -> bool;

    /// The connection's poll: loops while anything makes progress, then waits.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..POLL_BUDGET {
            let mut progress = false;
            if self.link().ending == Ending::Now {
                return Poll::Ready(());
            }
            if self.link().ending != Ending::Failed {
                let link = self.link();
                let was_eof = link.eof;
                progress |= link.read(cx);
                if link.eof && !was_eof {
                    self.on_eof();
                }
                if let Err(e) = self.handle_frames() {
                    self.fail(e);
                }
            }
            if self.link().ending != Ending::Failed {
                progress |= self.work(cx);
            }
            progress |= self.link().write(cx);
            if self.finished() {
                return Poll::Ready(());
            }
            progress |= self.poll_more(cx);
            if !progress {
                return self.poll_timer(cx);
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Handles the whole frames read.
    fn handle_frames(&mut self) -> Result<(), ConnError> {
        let link = self.link();
        if link.expect_preface {
            let held = &link.rbuf[link.rpos..];
            let n = held.len().min(PREFACE.len());
            if held[..n] != PREFACE[..n] {
                return Err(ConnError(Reason::PROTOCOL_ERROR, "not the HTTP/2 preface"));
            }
            if n < PREFACE.len() {
                return Ok(());
            }
            link.rpos += PREFACE.len();
            link.expect_preface = false;
        }
        loop {
            let link = self.link();
            if link.ending == Ending::Failed {
                return Ok(());
            }
            let held = &link.rbuf[link.rpos..];
            if held.len() < frame::HEAD_LEN {
                return Ok(());
            }
            let head = Head::parse(held);
            if head.len > MAX_FRAME {
                return Err(ConnError(
                    Reason::FRAME_SIZE_ERROR,
                    "a frame over MAX_FRAME_SIZE",
                ));
            }
            if held.len() < frame::HEAD_LEN + head.len {
                return Ok(());
            }
            let start = link.rpos + frame::HEAD_LEN;
            link.rpos = start + head.len;
            let rbuf = std::mem::take(&mut link.rbuf);
            let handled = self.handle_frame(head, &rbuf[start..start + head.len]);
            let link = self.link();
            link.rbuf = rbuf;
            handled?;
            if link.control_queued > CONTROL_MAX {
                return Err(ConnError(
                    Reason::ENHANCE_YOUR_CALM,
                    "too many unread answers",
                ));
            }
        }
    }

    /// Handles one frame.
    fn handle_frame(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnError> {
        let link = self.link();
        if !link.settings_seen {
            if head.kind != kind::SETTINGS || head.flags & flag::ACK != 0 {
                return Err(ConnError(Reason::PROTOCOL_ERROR, Self::NOT_SETTINGS));
            }
            link.settings_seen = true;
        }
        if let Some(block) = &link.block {
            if head.kind != kind::CONTINUATION || head.stream != block.stream {
                return Err(ConnError(
                    Reason::PROTOCOL_ERROR,
                    "a header block interrupted",
                ));
            }
        }
        match head.kind {
            kind::DATA => self.on_data_frame(head, payload),
            kind::HEADERS => self.on_headers(head, payload),
            kind::PRIORITY => {
                if head.stream == 0 {
                    return Err(ConnError(Reason::PROTOCOL_ERROR, "PRIORITY on stream 0"));
                }
                if payload.len() != 5 {
                    return self.stream_error(
                        head.stream,
                        Reason::FRAME_SIZE_ERROR,
                        "a bad PRIORITY",
                    );
                }
                Ok(())
            }
            kind::RST_STREAM => {
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
                self.on_rst(head.stream, Reason(u32_at(payload, 0)))
            }
            kind::SETTINGS => self.on_settings(head, payload),
            kind::PUSH_PROMISE => Err(ConnError(Reason::PROTOCOL_ERROR, Self::PUSH_PROMISE)),
            kind::PING => {
                if head.stream != 0 {
                    return Err(ConnError(Reason::PROTOCOL_ERROR, "PING on a stream"));
                }
                if payload.len() != 8 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR, "PING not of 8 bytes"));
                }
                if head.flags & flag::ACK == 0 {
                    frame::ping_ack(&mut link.wbuf, payload);
                    link.control_queued += 1;
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
                if link.ending == Ending::No {
                    link.ending = Ending::Draining;
                }
                let last = u32_at(payload, 0) & 0x7fff_ffff;
                self.on_goaway(last, Reason(u32_at(payload, 4)));
                Ok(())
            }
            kind::WINDOW_UPDATE => self.on_window_update(head, payload),
            kind::CONTINUATION => self.on_continuation(head, payload),
            // Unknown frame types are ignored (RFC 9113 section 4.1).
            _ => Ok(()),
        }
    }

    /// DATA: the connection's window, the padding and the stream id are checked here.
    fn on_data_frame(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnError> {
        if head.stream == 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "DATA on stream 0"));
        }
        let link = self.link();
        let len = payload.len() as i64;
        if len > link.recv_window {
            return Err(ConnError(
                Reason::FLOW_CONTROL_ERROR,
                "DATA past the connection window",
            ));
        }
        link.recv_window -= len;
        self.on_conn_data(len);
        let data = frame::unpad(head.flags, payload)
            .ok_or(ConnError(Reason::PROTOCOL_ERROR, "padding past the frame"))?;
        if self.idle(head.stream) {
            return Err(ConnError(Reason::PROTOCOL_ERROR, "DATA on an idle stream"));
        }
        self.on_data(Data {
            id: head.stream,
            len,
            bytes: data,
            end_stream: head.flags & flag::END_STREAM != 0,
        })
    }

    fn on_headers(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnError> {
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
            let link = self.link();
            check_block(link, &block)?;
            link.block = Some(block);
            Ok(())
        }
    }

    fn on_continuation(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnError> {
        let link = self.link();
        let Some(mut block) = link.block.take() else {
            return Err(ConnError(
                Reason::PROTOCOL_ERROR,
                "CONTINUATION without HEADERS",
            ));
        };
        block.bytes.extend_from_slice(payload);
        block.frames += 1;
        check_block(link, &block)?;
        if head.flags & flag::END_HEADERS != 0 {
            self.on_block(block)
        } else {
            link.block = Some(block);
            Ok(())
        }
    }

    fn on_settings(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnError> {
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
            let value = u32_at(entry, 2);
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
                    let link = self.link();
                    let delta = value - link.peer_initial_window;
                    link.peer_initial_window = value;
                    for s in self.streams().values_mut() {
                        let window = s.send_window();
                        *window += delta;
                        if *window > MAX_WINDOW {
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
                    self.link().peer_max_frame = value as usize;
                }
                setting::MAX_CONCURRENT_STREAMS => {
                    self.link().peer_max_streams = usize::try_from(value).unwrap_or(usize::MAX);
                }
                // The encoder uses no dynamic table; the header lists we send are the
                // handler's or the caller's.
                setting::HEADER_TABLE_SIZE | setting::MAX_HEADER_LIST_SIZE => {}
                _ => {}
            }
        }
        let link = self.link();
        frame::settings_ack(&mut link.wbuf);
        link.control_queued += 1;
        Ok(())
    }

    fn on_window_update(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnError> {
        if payload.len() != 4 {
            return Err(ConnError(
                Reason::FRAME_SIZE_ERROR,
                "WINDOW_UPDATE not of 4 bytes",
            ));
        }
        let increment = i64::from(u32_at(payload, 0) & 0x7fff_ffff);
        if head.stream == 0 {
            if increment == 0 {
                return Err(ConnError(Reason::PROTOCOL_ERROR, "a WINDOW_UPDATE of 0"));
            }
            let link = self.link();
            link.send_window += increment;
            if link.send_window > MAX_WINDOW {
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
        let Some(stream) = self.streams().get_mut(&head.stream) else {
            return Ok(());
        };
        if increment == 0 {
            return self.stream_error(head.stream, Reason::PROTOCOL_ERROR, "a WINDOW_UPDATE of 0");
        }
        let window = stream.send_window();
        *window += increment;
        if *window > MAX_WINDOW {
            return self.stream_error(
                head.stream,
                Reason::FLOW_CONTROL_ERROR,
                "a stream window past 2^31-1",
            );
        }
        Ok(())
    }

    /// DATA, one frame per stream a round, while the windows and the write buffer allow;
    /// each round starts after the stream that sent last, so that the write buffer's limit
    /// does not always fall on the same streams. True if any went.
    fn send_rounds(&mut self, cx: &mut Context<'_>) -> bool {
        let mut any = false;
        for _ in 0..POLL_BUDGET {
            let mut sent = false;
            let last = self.link().sent_last;
            let ids: Vec<u32> = {
                let streams = self.streams();
                streams
                    .range(last + 1..)
                    .chain(streams.range(..=last))
                    .filter(|(_, s)| s.sending())
                    .map(|(&id, _)| id)
                    .collect()
            };
            for id in ids {
                if self.link().unwritten() > WRITE_HIGH {
                    break;
                }
                if self.send_one(id, cx) {
                    sent = true;
                    self.link().sent_last = id;
                }
            }
            any |= sent;
            if !sent || self.link().unwritten() > WRITE_HIGH {
                break;
            }
        }
        any
    }
}

/// The CONTINUATION flood defence: a header block is held only up to a bound.
fn check_block<S>(link: &Link<S>, block: &Block) -> Result<(), ConnError> {
    if block.bytes.len() > link.max_block || block.frames > CONTINUATION_MAX {
        return Err(ConnError(
            Reason::ENHANCE_YOUR_CALM,
            "a header block too large",
        ));
    }
    Ok(())
}

/// The big-endian `u32` at `at` of `p`, which must hold it.
fn u32_at(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}
