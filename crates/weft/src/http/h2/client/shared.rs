//! What a client connection's task and its requests share: one mutex around each stream's
//! [`Slot`] (the request until its stream opens, the response head and data, the failure,
//! the window the reader gave back, the reader's waker), the queue of streams to open and
//! the task's waker; and the handles on it, the pool's [`Handle`] and a request's
//! [`StreamRef`].
//!
//! A reader gives window back as it takes data: it wakes the task only when a window
//! update is due (the stream's in quarters, the connection's at a quarter, or at once while
//! the connection's window is under half open), not per chunk.

#![forbid(unsafe_code)]

use super::{Failure, Request, ResponseHead, CONN_WINDOW, MAX_STREAM_ID};
use crate::http::h2::link::STREAM_WINDOW;
use crate::http::{Body, Error, HeaderMap};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The state the connection task and its requests share.
pub(super) struct Shared {
    pub(super) inner: Mutex<Inner>,
}

pub(super) struct Inner {
    /// Every stream that a request holds or that the task has not finished with.
    pub(super) slots: BTreeMap<u32, Slot>,
    /// Streams waiting for the task to open them, in id order.
    pub(super) queued: VecDeque<u32>,
    /// Streams whose reader gave back window or went away: the task looks at them.
    pub(super) todo: Vec<u32>,
    /// Response bytes read by requests and not given back to the connection's window yet.
    pub(super) conn_released: i64,
    /// The connection's window is under half open: every read gives its bytes back at
    /// once (a reader waiting for more must not wait on bytes other streams hold unread).
    pub(super) conn_low: bool,
    pub(super) next_id: u32,
    /// False once no new stream may start here (GOAWAY, closing, failed).
    pub(super) accepting: bool,
    /// The task ended: nothing more happens on this connection.
    pub(super) closed: bool,
    /// The pool's handles to the connection; at 0 it closes once its streams are done.
    pub(super) handles: usize,
    /// The connection task's waker.
    pub(super) waker: Option<Waker>,
}

/// The part of a stream the request sees.
#[derive(Default)]
pub(super) struct Slot {
    /// The request, until the task opens the stream.
    pub(super) request: Option<Request>,
    /// The final response head, until the request takes it.
    pub(super) head: Option<ResponseHead>,
    pub(super) head_seen: bool,
    /// Response data not read yet.
    pub(super) data: VecDeque<Bytes>,
    /// The response ended (END_STREAM).
    pub(super) end: bool,
    /// The response's trailers, if a HEADERS frame ended it.
    pub(super) trailers: Option<Box<HeaderMap>>,
    pub(super) failure: Option<Failure>,
    /// Bytes the reader took and the task has not given back to the stream's window yet.
    pub(super) released: i64,
    /// The request went away (its response future or body was dropped).
    pub(super) dropped: bool,
    /// The task is done with the stream (closed or reset).
    pub(super) finished: bool,
    pub(super) waker: Option<Waker>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change under the lock leaves the state consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Wakes the connection task (after the lock is released).
    pub(super) fn wake_task(&mut self) -> Option<Waker> {
        self.waker.take()
    }

    /// Ends every stream still queued (never sent) with a retry, its body handed back; the
    /// wakers of their requests go to `wakers`, to wake once the lock is released.
    pub(super) fn retry_queued(&mut self, wakers: &mut Vec<Waker>) {
        for id in self.queued.drain(..) {
            if let Some(slot) = self.slots.get_mut(&id) {
                let body = slot.request.take().map(|r| r.body);
                slot.end_with(Failure::Retry(body), wakers);
            }
        }
    }
}

impl Slot {
    /// The task is done with the stream, which ended with `failure`; its request's waker
    /// goes to `wakers`.
    pub(super) fn end_with(&mut self, failure: Failure, wakers: &mut Vec<Waker>) {
        self.finished = true;
        self.failure = Some(failure);
        wakers.extend(self.waker.take());
    }
}

pub(super) fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// The pool's handle to a connection: it opens streams. The connection closes once every
/// handle is gone and its streams are done.
pub(crate) struct Handle {
    pub(super) shared: Arc<Shared>,
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
            trailers: None,
        })
    }
}

/// A request's stream: its response head, then its body. Dropped before the response's end,
/// it resets the stream (RST_STREAM CANCEL).
pub(crate) struct StreamRef {
    shared: Arc<Shared>,
    id: u32,
    /// The response's trailers, taken from the slot at the body's end.
    trailers: Option<Box<HeaderMap>>,
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
            let more = !slot.end || !slot.data.is_empty() || slot.trailers.is_some();
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
            if slot.trailers.is_some() {
                self.trailers = slot.trailers.take();
            }
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

impl StreamRef {
    /// The response's trailers, once [`poll_data`](StreamRef::poll_data) has returned `None`.
    pub(crate) fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take().map(|t| *t)
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

pub(super) fn refresh(slot: &mut Option<Waker>, cx: &mut Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

pub(super) fn gone() -> Error {
    Error::io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the HTTP/2 connection closed before the response ended",
    ))
}
