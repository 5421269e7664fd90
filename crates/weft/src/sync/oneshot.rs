//! A channel for exactly one value: [`channel()`] gives a [`Sender`] and a [`Receiver`] that is a
//! future of the value.
//!
//! ```
//! # weft::block_on(async {
//! let (tx, rx) = weft::sync::oneshot::channel();
//! weft::spawn(async move { tx.send(42).unwrap() });
//! assert_eq!(rx.await, Ok(42));
//! # });
//! ```

#![forbid(unsafe_code)]

use crate::channel::{self, TrySendError};
use futures_core::Stream;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// Creates a one-shot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = channel::bounded(1);
    (Sender { inner: tx }, Receiver { inner: rx })
}

/// Sends the one value.
pub struct Sender<T> {
    inner: channel::Sender<T>,
}

/// Receives the one value; `.await` it.
pub struct Receiver<T> {
    inner: channel::Receiver<T>,
}

impl<T> Sender<T> {
    /// Sends the value; gives it back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        // A fresh channel of capacity 1 that is sent on once is never full.
        self.inner.try_send(value).map_err(TrySendError::into_inner)
    }

    /// True if the receiver was dropped.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = Pin::new(&mut self.get_mut().inner);
        Poll::Ready(ready!(inner.poll_next(cx)).ok_or(RecvError))
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
