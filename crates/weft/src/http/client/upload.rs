//! The request body on its way out while the response comes in.
//!
//! A server may answer while it still reads the request: an echo, a proxy or a streaming
//! transform sends each piece back as it takes it. A client that wrote the whole body before
//! reading would fill its own receive buffer, the server's write would block, the server
//! would stop reading, and both would wait for ever. So once the head has been written, the
//! rest of the request is an [`Upload`] that the reader of the response drives: every read
//! of the connection ([`Duplex`]) first pushes the upload as far as the socket and the body
//! stream allow without waiting, then reads. Both directions register the same task's waker,
//! so whichever becomes ready first wakes the reader, and no extra task is needed.
//!
//! The connection may go back to the pool only once the upload is [`Outgoing::Sent`] and the
//! response is read to its end.

#![forbid(unsafe_code)]

use super::conn::{Failed, Io};
use crate::http::h1::{self, Framing};
use crate::http::{Body, Error};
use crate::io::{AsyncRead, AsyncWrite};
use bytes::{Buf, Bytes};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Chunks of the body taken in one push at most, before the reader gets its turn (a stream
/// that always has an empty chunk ready must not keep the task for ever).
const MAX_CHUNKS_PER_PUSH: usize = 64;

/// Where the request is.
pub(crate) enum Outgoing {
    /// Still being written.
    Sending(Upload),
    /// Written whole, and flushed.
    Sent,
    /// A write failed because the server closed the connection: what it sent before is
    /// still there to read, but the connection is never reused.
    Broken(Failed),
    /// The request could not be sent (its body stream failed, had the wrong length, or a
    /// write failed otherwise): the exchange is over, with this error.
    Aborted(Failed),
}

impl Outgoing {
    /// Pushes the upload as far as it goes without waiting; on `Pending` the task's waker is
    /// registered for what it waits on (the socket, or the body stream).
    pub(crate) fn push(&mut self, io: &mut Io, cx: &mut Context<'_>) {
        let Outgoing::Sending(upload) = self else {
            return;
        };
        match upload.poll_send(io, cx) {
            Poll::Pending => {}
            Poll::Ready(Ok(())) => *self = Outgoing::Sent,
            Poll::Ready(Err(failed)) if failed.peer_closed => *self = Outgoing::Broken(failed),
            Poll::Ready(Err(failed)) => *self = Outgoing::Aborted(failed),
        }
    }

    pub(crate) fn is_sent(&self) -> bool {
        matches!(self, Outgoing::Sent)
    }

    pub(crate) fn is_sending(&self) -> bool {
        matches!(self, Outgoing::Sending(_))
    }
}

/// What is left of a request after its head: the head itself until it is written, then the
/// body, framed for `framing`.
pub(crate) struct Upload {
    body: Body,
    framing: Framing,
    /// Body bytes taken from `body` so far.
    taken: u64,
    /// Encoded bytes to write: the head, then each chunk of a chunked body with its framing.
    out: Vec<u8>,
    written: usize,
    /// A chunk of a body with a length, written as it is (no copy).
    data: Bytes,
    stage: Stage,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Taking chunks from the body.
    Body,
    /// The body has ended: the last bytes are flushed.
    Flush,
    Done,
}

impl Upload {
    /// The request: `head` (encoded for `framing`), then `body`.
    pub(crate) fn new(head: Vec<u8>, body: Body, framing: Framing) -> Self {
        Self {
            body,
            framing,
            taken: 0,
            out: head,
            written: 0,
            data: Bytes::new(),
            stage: Stage::Body,
        }
    }

    fn poll_send(&mut self, io: &mut Io, cx: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        let mut chunks = 0;
        loop {
            while self.written < self.out.len() {
                let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.out[self.written..]))
                    .map_err(Failed::write)?;
                if n == 0 {
                    return Poll::Ready(Err(Failed::write(io::ErrorKind::WriteZero.into())));
                }
                self.written += n;
            }
            while !self.data.is_empty() {
                let n =
                    ready!(Pin::new(&mut *io).poll_write(cx, &self.data)).map_err(Failed::write)?;
                if n == 0 {
                    return Poll::Ready(Err(Failed::write(io::ErrorKind::WriteZero.into())));
                }
                self.data.advance(n);
            }
            match self.stage {
                Stage::Body => {
                    if chunks == MAX_CHUNKS_PER_PUSH {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    chunks += 1;
                    match self.body.poll_chunk(cx) {
                        Poll::Ready(Some(Ok(chunk))) => self.take(chunk)?,
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Failed::late(e))),
                        Poll::Ready(None) => self.end()?,
                        Poll::Pending => {
                            // Waiting for the stream: what a TLS layer holds back goes now,
                            // not with the next chunk.
                            let _ = Pin::new(&mut *io).poll_flush(cx).map_err(Failed::write)?;
                            return Poll::Pending;
                        }
                    }
                }
                Stage::Flush => {
                    ready!(Pin::new(&mut *io).poll_flush(cx)).map_err(Failed::write)?;
                    self.stage = Stage::Done;
                }
                Stage::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Queues `chunk` for writing, framed.
    fn take(&mut self, chunk: Bytes) -> Result<(), Failed> {
        self.taken = self.taken.saturating_add(chunk.len() as u64);
        match self.framing {
            Framing::Length(n) if self.taken > n => Err(Failed::late(Error::body(format!(
                "the request body is longer than its length of {n} bytes"
            )))),
            Framing::Chunked => {
                self.out.clear();
                self.written = 0;
                h1::write_chunk(&mut self.out, &chunk);
                Ok(())
            }
            _ => {
                self.data = chunk;
                Ok(())
            }
        }
    }

    /// The body has ended: checks its length, or queues the last chunk.
    fn end(&mut self) -> Result<(), Failed> {
        match self.framing {
            Framing::Length(n) if self.taken != n => {
                return Err(Failed::late(Error::body(format!(
                    "the request body ended after {} of its {n} bytes",
                    self.taken
                ))));
            }
            Framing::Chunked => {
                self.out.clear();
                self.written = 0;
                let trailers = self.body.take_trailers();
                h1::write_last_chunk(&mut self.out, trailers.as_ref());
            }
            _ => {}
        }
        self.stage = Stage::Flush;
        Ok(())
    }
}

/// The connection's read side, pushing the upload before each read.
pub(crate) struct Duplex<'a> {
    pub(crate) io: &'a mut Io,
    pub(crate) out: &'a mut Outgoing,
}

impl AsyncRead for Duplex<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.out.push(this.io, cx);
        if let Outgoing::Aborted(_) = this.out {
            // The caller reports the upload's own error, kept in `out`.
            return Poll::Ready(Err(io::Error::other("the request could not be sent")));
        }
        Pin::new(&mut *this.io).poll_read(cx, buf)
    }
}
