//! Go-style channels: unbuffered (rendezvous), buffered and unbounded, many producers and many
//! consumers, `close`, and `select!` over several of them with Go's semantics.
//!
//! ```
//! use weft::Channel;
//!
//! # weft::block_on(async {
//! let ch = Channel::<i32>::with_capacity(2);
//! let producer = {
//!     let ch = ch.clone();
//!     weft::spawn(async move {
//!         for i in 0..5 {
//!             ch.send(i).await.unwrap();
//!         }
//!         ch.close();
//!     })
//! };
//! let mut got = Vec::new();
//! while let Some(v) = ch.recv().await {
//!     got.push(v);
//! }
//! producer.await;
//! assert_eq!(got, vec![0, 1, 2, 3, 4]);
//! # });
//! ```
//!
//! # Guarantees
//!
//! - **Nothing lost, nothing duplicated.** A `send` future dropped before it completes either
//!   delivered its value or did not send it; a `recv` future dropped before it completes took
//!   nothing (a value already handed to it goes to the next receiver in line).
//! - **FIFO.** Parked senders and parked receivers are served in arrival order; a value sent
//!   while receivers are parked goes to the one that has waited longest.
//! - **Unbuffered means rendezvous.** On `Channel::new()` a send completes only when a receiver
//!   takes the value, and `try_send` succeeds only if a receiver is parked.
//! - **Closing** refuses new sends (the value comes back in the error), lets receivers drain
//!   what is buffered, hands parked senders their values back and wakes them, and wakes parked
//!   receivers (with `None`) once nothing is left to receive.
//! - **No allocation to wait.** A parked operation's waiter lives inside its future, linked into
//!   the channel's queue; the channel keeps no memory per waiter. So `send` and `recv` futures
//!   are `!Unpin`: `.await` them, or pin them (`std::pin::pin!`, `Box::pin`) to poll them by
//!   hand. Used as a [`Stream`], a `Channel` or `Receiver` handle keeps one boxed waiter, made
//!   on its first poll and reused.
//! - **Streams give up nothing.** A `next()` on a handle can be dropped after it parked (under
//!   a timeout, as a losing `select!` arm or race) without the handle knowing, so a waiting
//!   stream is woken when a value arrives but never handed one: the value waits in the channel,
//!   first in line, for the stream's next poll or any other receive. A waiting stream still
//!   counts as a parked receiver (a `try_send` on an unbuffered channel succeeds, and the
//!   value takes no slot of the buffer), but not in the FIFO of receivers: a `recv` future
//!   parked behind it takes the value first.
//! - Channel operations spend the task's cooperative budget.
//!
//! See [`select!`](crate::select!) for waiting on several operations at once.

mod arms;
mod chan;
mod error;
mod lock;
#[cfg(all(test, weft_loom))]
mod loom_tests;
mod ops;
mod order;
#[doc(hidden)]
pub mod select;
#[doc(hidden)]
pub mod token;
mod waiter;

pub use error::{SendError, TryRecvError, TrySendError};
pub use ops::{RecvFuture, SendFuture};

use chan::{Capacity, Chan, RecvWaiter, Wakeups};
use futures_core::Stream;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use waiter::Waiter;

/// The internals the `select!` macro expands to. Not a public API.
#[doc(hidden)]
pub mod __select {
    pub use super::select::{
        Arm, ArmInput, ArmSlot, FutureArm, IntoChannelArm, IntoFutureArm, RecvArm, Select, SendArm,
    };
}

/// A channel and the count of handles on each side: what every `Channel`, `Sender` and
/// `Receiver` shares.
struct Handles<T> {
    chan: Chan<T>,
    /// Handles that can send (`Channel` and `Sender`); the channel closes when none is left.
    senders: AtomicUsize,
    /// Handles that can receive (`Channel` and `Receiver`); the channel closes when none is left.
    receivers: AtomicUsize,
}

impl<T> Handles<T> {
    fn new(capacity: Capacity, senders: usize, receivers: usize) -> Arc<Self> {
        Arc::new(Self {
            chan: Chan::new(capacity),
            senders: AtomicUsize::new(senders),
            receivers: AtomicUsize::new(receivers),
        })
    }

    fn close(&self) -> bool {
        let mut wake = Wakeups::default();
        let closed = self.chan.close_locked(&mut self.chan.lock(), &mut wake);
        wake.wake();
        closed
    }

    fn release(&self, count: &AtomicUsize) {
        if count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }
}

/// A handle's waiter when it is used as a `Stream`: on the heap, made once per handle on its
/// first poll and reused for every wait after (a handle moves, its waiter must not).
type StreamWaiter<T> = Option<Pin<Box<Waiter<Arc<Handles<T>>, RecvWaiter<T>>>>>;

fn poll_stream<T>(
    inner: &Arc<Handles<T>>,
    waiter: &mut StreamWaiter<T>,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    let waiter = waiter.get_or_insert_with(|| Box::pin(Waiter::new(inner.clone())));
    ops::poll_recv(waiter.as_mut(), cx, true)
}

/// A channel handle with both ends, as in the guide: clone it to share it between producers
/// and consumers. Closed by [`close`](Channel::close) or when its last handle is dropped.
///
/// A `Channel` is also a [`Stream`] of received values.
pub struct Channel<T> {
    inner: Arc<Handles<T>>,
    /// This handle's receiver when used as a `Stream`.
    stream: StreamWaiter<T>,
}

/// The sending half of a channel; see [`Channel::sender`] and [`bounded`].
pub struct Sender<T> {
    inner: Arc<Handles<T>>,
}

/// The receiving half of a channel; see [`Channel::receiver`] and [`bounded`]. Also a
/// [`Stream`].
pub struct Receiver<T> {
    inner: Arc<Handles<T>>,
    stream: StreamWaiter<T>,
}

/// A buffered channel with room for `capacity` values (0: unbuffered), as split halves. The
/// channel closes when every sender (or every receiver) is dropped.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let (tx, rx) = weft::channel::bounded::<u8>(4);
/// tx.send(1).await.unwrap();
/// drop(tx);
/// assert_eq!(rx.recv().await, Some(1));
/// assert_eq!(rx.recv().await, None);
/// # });
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    split(Capacity::Bounded(capacity))
}

/// An unbounded channel, as split halves.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    split(Capacity::Unbounded)
}

fn split<T>(capacity: Capacity) -> (Sender<T>, Receiver<T>) {
    let inner = Handles::new(capacity, 1, 1);
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver {
            inner,
            stream: None,
        },
    )
}

macro_rules! shared_methods {
    () => {
        /// True once the channel is closed, even while values remain buffered.
        pub fn is_closed(&self) -> bool {
            self.inner.chan.lock().closed
        }

        /// Closes the channel; returns true if this call closed it. Buffered values stay
        /// receivable; parked senders get their values back.
        ///
        /// # Examples
        ///
        /// ```
        /// # weft::block_on(async {
        /// let ch = weft::channel::Channel::with_capacity(2);
        /// ch.send(1).await.unwrap();
        /// assert!(ch.close());
        /// assert!(!ch.close()); // already closed
        /// assert_eq!(ch.send(2).await.unwrap_err().into_inner(), 2);
        /// assert_eq!(ch.recv().await, Some(1)); // drained first
        /// assert_eq!(ch.recv().await, None);
        /// # });
        /// ```
        pub fn close(&self) -> bool {
            self.inner.close()
        }

        /// Number of buffered values: at most [`capacity`](Self::capacity), and always 0 on
        /// an unbuffered channel, as in Go.
        ///
        /// A value handed off to a receiver that did not take it takes no slot and is not
        /// counted, as a value handed to a parked receiver is not: one a dropped `recv` future
        /// (or select) had been handed and gave back, or one sent while only a stream handle
        /// was waiting (see [`Stream`]). Such a value waits first in line for the next
        /// receive.
        pub fn len(&self) -> usize {
            self.inner.chan.lock().buffered()
        }

        /// True if no value is buffered.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// `Some(0)` unbuffered, `Some(n)` buffered, `None` unbounded.
        pub fn capacity(&self) -> Option<usize> {
            match self.inner.chan.capacity {
                Capacity::Bounded(n) => Some(n),
                Capacity::Unbounded => None,
            }
        }
    };
}

macro_rules! send_methods {
    () => {
        /// Sends a value, waiting for room (or, unbuffered, for a receiver to take it).
        /// `Err(SendError(value))` once the channel is closed.
        ///
        /// Cancel-safe: see [`SendFuture`].
        ///
        /// # Examples
        ///
        /// ```
        /// # weft::block_on(async {
        /// let ch = weft::channel::Channel::new(); // unbuffered: a rendezvous
        /// let rx = ch.clone();
        /// let consumer = weft::spawn(async move { rx.recv().await });
        /// ch.send("hi").await.unwrap(); // completes once the consumer took it
        /// assert_eq!(consumer.await, Some("hi"));
        /// # });
        /// ```
        pub fn send(&self, value: T) -> SendFuture<'_, T> {
            SendFuture::new(&self.inner.chan, value)
        }

        /// Sends without waiting. On an unbuffered channel this succeeds only if a receiver is
        /// parked (Go's non-blocking send).
        ///
        /// # Examples
        ///
        /// ```
        /// use weft::channel::{Channel, TrySendError};
        ///
        /// let ch = Channel::with_capacity(1);
        /// assert!(ch.try_send(1).is_ok());
        /// assert_eq!(ch.try_send(2), Err(TrySendError::Full(2))); // the value comes back
        /// ch.close();
        /// assert_eq!(ch.try_send(3), Err(TrySendError::Closed(3)));
        /// ```
        pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
            let chan = &self.inner.chan;
            let mut wake = Wakeups::default();
            let mut st = chan.lock();
            let res = match chan.try_send_locked(&mut st, value, None, &mut wake) {
                Ok(()) => Ok(()),
                Err(v) if st.closed => Err(TrySendError::Closed(v)),
                Err(v) => Err(TrySendError::Full(v)),
            };
            drop(st);
            wake.wake();
            res
        }
    };
}

macro_rules! recv_methods {
    () => {
        /// Receives a value, waiting for one; `None` once the channel is closed and drained.
        ///
        /// Cancel-safe: see [`RecvFuture`].
        ///
        /// # Examples
        ///
        /// ```
        /// # weft::block_on(async {
        /// let ch = weft::channel::Channel::with_capacity(4);
        /// ch.send(1).await.unwrap();
        /// ch.send(2).await.unwrap();
        /// ch.close();
        /// assert_eq!(ch.recv().await, Some(1));
        /// assert_eq!(ch.recv().await, Some(2));
        /// assert_eq!(ch.recv().await, None); // closed and drained
        /// # });
        /// ```
        pub fn recv(&self) -> RecvFuture<'_, T> {
            RecvFuture::new(&self.inner.chan)
        }

        /// Receives without waiting. On an unbuffered channel this succeeds only if a sender
        /// is parked.
        ///
        /// # Examples
        ///
        /// ```
        /// use weft::channel::{Channel, TryRecvError};
        ///
        /// let ch = Channel::with_capacity(1);
        /// assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
        /// ch.try_send(7).unwrap();
        /// assert_eq!(ch.try_recv(), Ok(7));
        /// ch.close();
        /// assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
        /// ```
        pub fn try_recv(&self) -> Result<T, TryRecvError> {
            let chan = &self.inner.chan;
            let mut wake = Wakeups::default();
            let mut st = chan.lock();
            let res = match chan.try_recv_locked(&mut st, None, &mut wake) {
                Some(v) => Ok(v),
                None if st.drained() => Err(TryRecvError::Closed),
                None => Err(TryRecvError::Empty),
            };
            drop(st);
            wake.wake();
            res
        }
    };
}

impl<T> Channel<T> {
    /// An unbuffered channel: a send completes when a receiver takes the value.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A buffered channel with room for `capacity` values; `with_capacity(0)` is
    /// [`Channel::new`].
    pub fn with_capacity(capacity: usize) -> Self {
        Self::from_inner(Handles::new(Capacity::Bounded(capacity), 1, 1))
    }

    /// A channel whose buffer grows without bound: sends never wait.
    pub fn unbounded() -> Self {
        Self::from_inner(Handles::new(Capacity::Unbounded, 1, 1))
    }

    fn from_inner(inner: Arc<Handles<T>>) -> Self {
        Self {
            inner,
            stream: None,
        }
    }

    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.inner.chan
    }

    /// A sending half for this channel.
    pub fn sender(&self) -> Sender<T> {
        self.inner.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            inner: self.inner.clone(),
        }
    }

    /// A receiving half for this channel.
    pub fn receiver(&self) -> Receiver<T> {
        self.inner.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            inner: self.inner.clone(),
            stream: None,
        }
    }

    shared_methods!();
    send_methods!();
    recv_methods!();
}

impl<T> Sender<T> {
    shared_methods!();
    send_methods!();
}

impl<T> Receiver<T> {
    shared_methods!();
    recv_methods!();
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        self.inner.senders.fetch_add(1, Ordering::Relaxed);
        self.inner.receivers.fetch_add(1, Ordering::Relaxed);
        Self::from_inner(self.inner.clone())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.inner.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.inner.receivers.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: self.inner.clone(),
            stream: None,
        }
    }
}

impl<T> Drop for Channel<T> {
    fn drop(&mut self) {
        // Out of the channel before it may close.
        self.stream = None;
        self.inner.release(&self.inner.senders);
        self.inner.release(&self.inner.receivers);
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.inner.release(&self.inner.senders);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Out of the channel before it may close.
        self.stream = None;
        self.inner.release(&self.inner.receivers);
    }
}

impl<T> Stream for Channel<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        poll_stream(&this.inner, &mut this.stream, cx)
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        poll_stream(&this.inner, &mut this.stream, cx)
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("closed", &self.is_closed())
            .finish()
    }
}
