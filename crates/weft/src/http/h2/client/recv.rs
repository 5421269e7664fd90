//! What the server's frames do to a client connection's streams: response heads
//! (informational ones skipped, the final one checked), data filed for the reader, trailers,
//! RST_STREAM and GOAWAY, and the stream errors a malformed response is.

#![forbid(unsafe_code)]

use super::conn::Conn;
use super::shared::{wake, Slot};
use super::{Failure, MAX_HEADERS, MAX_HEADER_LIST, MAX_INFORMATIONAL};
use crate::http::h2::endpoint::{Data, Endpoint, StreamFrames};
use crate::http::h2::frame::{self, Reason};
use crate::http::h2::link::{Block, ConnError};
use crate::http::h2::message;
use crate::http::{Error, StatusCode};
use crate::io::{AsyncRead, AsyncWrite};
use bytes::Bytes;
use std::task::Waker;

impl<S> StreamFrames for Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// DATA on stream `id`: filed in its slot for the reader, or its window given back at once
    /// if nobody will read it.
    fn on_data(&mut self, frame: Data<'_>) -> Result<(), ConnError> {
        let Data {
            id,
            len,
            bytes: data,
            end_stream,
        } = frame;
        let Some(stream) = self.streams.get_mut(&id) else {
            // A stream we are done with: its bytes go back to the connection at once.
            self.shared.lock().conn_released += len;
            return Ok(());
        };
        if stream.recv_closed {
            self.fail_stream(id, Reason::STREAM_CLOSED, "DATA after END_STREAM");
            self.shared.lock().conn_released += len;
            return Ok(());
        }
        if !stream.head_seen {
            self.fail_stream(id, Reason::PROTOCOL_ERROR, "DATA before the head");
            self.shared.lock().conn_released += len;
            return Ok(());
        }
        if len > stream.recv_window {
            self.fail_stream(
                id,
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
            self.fail_stream(
                id,
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
            match inner.slots.get_mut(&id) {
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
            self.maybe_done(id);
        }
        Ok(())
    }

    /// A complete header block: a response head (informational or final), or trailers.
    fn on_block(&mut self, block: Block) -> Result<(), ConnError> {
        // Decoded whatever becomes of it, to keep the table in step.
        let fields = self.link.decode(&block, MAX_HEADER_LIST, MAX_HEADERS + 1)?;
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
            self.fail_stream(id, Reason::STREAM_CLOSED, "HEADERS after END_STREAM");
            return Ok(());
        }
        if stream.head_seen {
            // Trailers: they end the stream, and the body has them at its end.
            if !block.end_stream {
                self.fail_stream(id, Reason::PROTOCOL_ERROR, "trailers without END_STREAM");
                return Ok(());
            }
            if stream.expect_len.is_some_and(|n| stream.received != n) {
                self.fail_stream(
                    id,
                    Reason::PROTOCOL_ERROR,
                    "response DATA that does not match its content-length",
                );
                return Ok(());
            }
            if fields.too_large {
                self.fail_stream(
                    id,
                    Reason::PROTOCOL_ERROR,
                    "trailers over 64 KiB or 100 fields",
                );
                return Ok(());
            }
            let trailers = match message::trailers(fields) {
                Ok(trailers) => trailers,
                Err(why) => {
                    self.fail_stream(id, Reason::PROTOCOL_ERROR, why);
                    return Ok(());
                }
            };
            stream.recv_closed = true;
            self.file(id, |slot| {
                slot.end = true;
                slot.trailers = Some(Box::new(trailers));
            });
            self.maybe_done(id);
            return Ok(());
        }
        if fields.too_large {
            self.fail_stream(
                id,
                Reason::PROTOCOL_ERROR,
                "a response head over 64 KiB or 100 fields",
            );
            return Ok(());
        }
        let head = match message::response(fields) {
            Ok(head) => head,
            Err(why) => {
                self.fail_stream(id, Reason::PROTOCOL_ERROR, why);
                return Ok(());
            }
        };
        if head.status.is_informational() {
            stream.informational += 1;
            if block.end_stream || stream.informational > MAX_INFORMATIONAL {
                self.fail_stream(
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
            self.fail_stream(
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

    /// RST_STREAM from the server: the stream's request fails, or goes again if the server
    /// refused it.
    fn on_rst(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
        let Some(stream) = self.streams.remove(&id) else {
            return Ok(());
        };
        let untouched = stream
            .upload
            .map(|u| (!u.started).then_some(u.body))
            .unwrap_or(None);
        self.file(id, |slot| {
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

    /// GOAWAY from the server: no new streams; those above `last` and the queued ones go
    /// again elsewhere.
    fn on_goaway(&mut self, last: u32, reason: Reason) {
        let last = self.goaway_last.map_or(last, |l| l.min(last));
        self.goaway_last = Some(last);
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
                    slot.end_with(Failure::Retry(body), &mut wakers);
                }
            }
            // Queued ones were never sent.
            inner.retry_queued(&mut wakers);
            wakers
        };
        for w in wakers {
            w.wake();
        }
    }

    fn stream_error(
        &mut self,
        id: u32,
        reason: Reason,
        why: &'static str,
    ) -> Result<(), ConnError> {
        self.fail_stream(id, reason, why);
        Ok(())
    }
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Changes the slot of stream `id` and wakes its request.
    pub(super) fn file(&self, id: u32, change: impl FnOnce(&mut Slot)) {
        let waker = {
            let mut inner = self.shared.lock();
            inner.slots.get_mut(&id).and_then(|slot| {
                change(slot);
                slot.waker.take()
            })
        };
        wake(waker);
    }

    /// A stream error the server caused: the stream is reset and its request fails.
    pub(super) fn fail_stream(&mut self, id: u32, reason: Reason, why: &str) {
        if self.streams.remove(&id).is_none() {
            return;
        }
        self.link.reset(id, reason);
        let why = why.to_owned();
        self.file(id, |slot| {
            slot.finished = true;
            slot.failure = Some(Failure::Error(Error::protocol(format!(
                "malformed HTTP/2 response: {why}"
            ))));
        });
    }

    /// Forgets stream `id` once both sides are closed.
    /// Forgets stream `id` once both sides are closed.
    pub(super) fn maybe_done(&mut self, id: u32) {
        let Some(stream) = self.streams.get(&id) else {
            return;
        };
        if !stream.recv_closed {
            return;
        }
        if stream.upload.is_some() {
            // The response ended before the request: the server wants no more of it.
            frame::rst_stream(&mut self.link.wbuf, id, Reason::NO_ERROR);
        }
        self.streams.remove(&id);
        self.file(id, |slot| slot.finished = true);
    }
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
