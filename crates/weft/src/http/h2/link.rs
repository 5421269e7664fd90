//! What both ends of an HTTP/2 connection hold: the socket with its read and write buffers,
//! the HPACK coders, the header block being received, the connection's flow-control windows
//! and the peer's settings.
//!
//! A [`Link`] makes no protocol decisions of its own: it reads (not while [`WRITE_HIGH`]
//! bytes wait to be written: backpressure), writes what the frame writers of `frame.rs`
//! queued in its buffer (so that everything queued in one round of the connection goes out
//! in as few writes as the socket takes), and cuts DATA frames to the windows. The frame
//! loop that reads its frames and keeps its windows is [`super::endpoint::Endpoint`]'s.
//!
//! Invariants: `rpos <= rbuf.len()` and `wpos <= wbuf.len()`; bytes before `rpos` are
//! handled, bytes before `wpos` written. The send windows are at most
//! [`MAX_WINDOW`](super::frame::MAX_WINDOW) (a larger one is a connection or stream error
//! before it is used), and may go below 0 (a SETTINGS that shrinks the initial window).

#![forbid(unsafe_code)]

use super::frame::{self, Reason, DEFAULT_WINDOW};
use super::hpack::{Decoder, Encoder};
use super::message;
use crate::http::Body;
use crate::io::{AsyncRead, AsyncWrite};
use crate::time::Instant;
use bytes::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Our receive window for each stream (SETTINGS_INITIAL_WINDOW_SIZE): the client's is also
/// the most response data of one stream that waits unread.
pub(super) const STREAM_WINDOW: i64 = 1 << 20;

/// The most frame payload we accept (SETTINGS_MAX_FRAME_SIZE; the default).
pub(super) const MAX_FRAME: usize = frame::MIN_MAX_FRAME as usize;

/// Our HPACK table size (SETTINGS_HEADER_TABLE_SIZE; the default).
pub(super) const TABLE_SIZE: usize = 4096;

/// The most CONTINUATION frames one header block may have.
pub(super) const CONTINUATION_MAX: usize = 256;

/// Past this many unwritten bytes, no more frames are read nor DATA produced.
pub(super) const WRITE_HIGH: usize = 256 * 1024;

/// The most answers (SETTINGS and PING acknowledgements, RST_STREAMs) that may wait
/// unwritten: past it the peer sends faster than it reads, and the connection is closed.
pub(super) const CONTROL_MAX: usize = 1000;

/// How long, at most, a closing connection waits for its last frames to go out.
pub(super) const LINGER: Duration = Duration::from_secs(1);

/// How many times one poll may loop before it yields to other tasks.
pub(super) const POLL_BUDGET: usize = 64;

/// Streams the peer may have open at once before its SETTINGS say how many
/// (SETTINGS_MAX_CONCURRENT_STREAMS; only the client opens streams).
const DEFAULT_MAX_STREAMS: usize = 100;

/// A connection error: GOAWAY with this reason, then close.
#[derive(Debug)]
pub(super) struct ConnError(pub(super) Reason, pub(super) &'static str);

/// A header block being received in HEADERS and CONTINUATION frames.
#[derive(Debug)]
pub(super) struct Block {
    pub(super) stream: u32,
    pub(super) end_stream: bool,
    pub(super) bytes: Vec<u8>,
    pub(super) frames: usize,
}

/// How the connection is ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Open.
    No,
    /// GOAWAY(NO_ERROR) sent (server) or received: no new streams; the open ones finish,
    /// then the connection closes.
    Draining,
    /// A GOAWAY that ends the connection is queued: close once it is written.
    Failed,
    /// Close without writing anything more (the peer is gone or stalled).
    Now,
}

/// How a [`Link`] starts.
pub(super) struct Setup {
    /// Bytes read from the socket before (the server's sniffed preface).
    pub(super) already: Vec<u8>,
    /// What goes out first: our preface (the client's), SETTINGS and the connection window's
    /// first WINDOW_UPDATE.
    pub(super) hello: Vec<u8>,
    /// The server checks the client's preface before the first frame.
    pub(super) expect_preface: bool,
    /// Our receive window for the connection, as `hello` raised it.
    pub(super) recv_window: i64,
    /// The most bytes a header block may have while it is received (the CONTINUATION flood
    /// defence).
    pub(super) max_block: usize,
}

/// One HTTP/2 connection's socket, buffers, HPACK coders and connection-level flow control.
pub(super) struct Link<S> {
    pub(super) io: S,
    pub(super) rbuf: Vec<u8>,
    pub(super) rpos: usize,
    pub(super) eof: bool,
    /// Frames queued to go out.
    pub(super) wbuf: Vec<u8>,
    wpos: usize,
    /// A flush of `io` is owed (TLS buffers writes).
    flush: bool,
    /// A write (not a flush) to the socket failed.
    pub(super) write_failed: bool,
    /// Since when queued bytes wait with none written.
    pub(super) write_stalled: Option<Instant>,

    /// The client's preface is still to be checked (server).
    pub(super) expect_preface: bool,
    /// The peer's first SETTINGS came.
    pub(super) settings_seen: bool,
    pub(super) decoder: Decoder,
    pub(super) encoder: Encoder,
    pub(super) block: Option<Block>,
    pub(super) max_block: usize,
    pub(super) ending: Ending,

    /// The peer's window for what we send on the connection.
    pub(super) send_window: i64,
    /// Our window for what the peer sends on the connection.
    pub(super) recv_window: i64,
    pub(super) peer_initial_window: i64,
    pub(super) peer_max_frame: usize,
    pub(super) peer_max_streams: usize,

    /// Acknowledgements and resets queued since the buffer last emptied.
    pub(super) control_queued: usize,
    /// When bytes last came or went.
    pub(super) last_activity: Instant,
    /// The stream that last sent DATA: the next round of DATA starts after it, so that
    /// every stream gets its turn however many have data.
    pub(super) sent_last: u32,
}

impl<S> Link<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(super) fn new(io: S, setup: Setup) -> Self {
        Self {
            io,
            rbuf: setup.already,
            rpos: 0,
            eof: false,
            wbuf: setup.hello,
            wpos: 0,
            flush: false,
            write_failed: false,
            write_stalled: None,
            expect_preface: setup.expect_preface,
            settings_seen: false,
            decoder: Decoder::new(TABLE_SIZE),
            encoder: Encoder::default(),
            block: None,
            max_block: setup.max_block,
            ending: Ending::No,
            send_window: DEFAULT_WINDOW,
            recv_window: setup.recv_window,
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame: frame::MIN_MAX_FRAME as usize,
            peer_max_streams: DEFAULT_MAX_STREAMS,
            control_queued: 0,
            last_activity: Instant::now(),
            sent_last: 0,
        }
    }

    /// Bytes queued and not written yet.
    pub(super) fn unwritten(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Everything queued is written and flushed.
    pub(super) fn written(&self) -> bool {
        self.wpos == self.wbuf.len() && !self.flush
    }

    /// Reads what the socket has; true if bytes came, or the end (`eof` is then set).
    pub(super) fn read(&mut self, cx: &mut Context<'_>) -> bool {
        let held = self.rbuf.len() - self.rpos;
        if self.eof || held >= MAX_FRAME + frame::HEAD_LEN || self.unwritten() > WRITE_HIGH {
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
        } else {
            self.last_activity = Instant::now();
        }
        true
    }

    /// Writes what is queued; true if bytes went out, or the socket failed (`ending` is
    /// then [`Ending::Now`]).
    pub(super) fn write(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.wpos < self.wbuf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.write_failed = true;
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

    /// Queues one DATA frame of stream `id` with as much of `pending` as its window
    /// (`stream_window`), the connection's and the peer's frame size allow, and takes it off
    /// both windows. END_STREAM goes with it when that empties `pending` and `body` is known
    /// to have nothing more, neither bytes nor trailers (those follow in a HEADERS frame of
    /// their own, [`Link::end`]). `None` if a window is closed; else whether END_STREAM went.
    pub(super) fn send_data(
        &mut self,
        id: u32,
        stream_window: &mut i64,
        pending: &mut Bytes,
        body: &Body,
    ) -> Option<bool> {
        let window = (*stream_window).min(self.send_window);
        if window <= 0 {
            return None;
        }
        let n = pending.len().min(window as usize).min(self.peer_max_frame);
        let piece = pending.split_to(n);
        let end = pending.is_empty() && body.len() == Some(0) && !body.has_trailers();
        frame::data(&mut self.wbuf, id, &piece, end);
        *stream_window -= n as i64;
        self.send_window -= n as i64;
        Some(end)
    }

    /// Queues the header block `block` on stream `id` as HEADERS and as many CONTINUATION
    /// frames as the peer's frame size needs.
    pub(super) fn headers(&mut self, id: u32, block: &[u8], end_stream: bool) {
        frame::headers(&mut self.wbuf, id, block, end_stream, self.peer_max_frame);
    }

    /// Ends stream `id` once `body` has returned its last chunk (and all its DATA is
    /// queued): with its trailers in a HEADERS frame with END_STREAM (they are not flow
    /// controlled), or an empty DATA with END_STREAM if it has none to send.
    pub(super) fn end(&mut self, id: u32, body: &mut Body) {
        let block = body
            .take_trailers()
            .and_then(|t| message::trailers_block(&mut self.encoder, &t));
        match block {
            Some(block) => self.headers(id, &block, true),
            None => frame::data(&mut self.wbuf, id, &[], true),
        }
    }

    /// Decodes a whole header block with the connection's HPACK table (always, whatever
    /// becomes of the block, to keep the table in step with the peer's); a block that does
    /// not decode is a connection error.
    pub(super) fn decode(
        &mut self,
        block: &Block,
        max_size: usize,
        max_fields: usize,
    ) -> Result<message::Fields, ConnError> {
        message::decode(&mut self.decoder, &block.bytes, max_size, max_fields)
            .map_err(|e| ConnError(Reason::COMPRESSION_ERROR, e.0))
    }

    /// Gives `n` bytes back to the peer's window for what it sends on stream `id` (0: the
    /// connection's own window, which is then raised here too).
    pub(super) fn window_update(&mut self, id: u32, n: i64) {
        frame::window_update(&mut self.wbuf, id, n as u32);
        if id == 0 {
            self.recv_window += n;
        }
    }

    /// Queues RST_STREAM for stream `id`, counted against [`CONTROL_MAX`].
    pub(super) fn reset(&mut self, id: u32, reason: Reason) {
        frame::rst_stream(&mut self.wbuf, id, reason);
        self.control_queued += 1;
    }

    /// Queues a GOAWAY that ends the connection: nothing more is read, and it closes once
    /// the GOAWAY is written (or [`LINGER`] has passed).
    pub(super) fn end_with(&mut self, last: u32, reason: Reason, debug: &[u8]) {
        frame::goaway(&mut self.wbuf, last, reason, debug);
        self.block = None;
        self.ending = Ending::Failed;
        self.last_activity = Instant::now();
    }

    /// Closes the write side, within [`LINGER`]; false if that did not finish.
    pub(super) async fn close(&mut self) -> bool {
        if self.ending == Ending::Now {
            return false;
        }
        crate::time::timeout(crate::io::AsyncWriteExt::close(&mut self.io), LINGER)
            .await
            .is_ok()
    }
}
