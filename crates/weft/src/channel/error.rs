//! Channel errors. Each one that stops a value from going through hands the value back.

#![forbid(unsafe_code)]

use std::fmt;

/// The channel was closed; the value that could not be sent is returned.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let ch = weft::channel::Channel::<String>::with_capacity(1);
/// ch.close();
/// let err = ch.send("lost?".to_string()).await.unwrap_err();
/// assert_eq!(err.into_inner(), "lost?"); // not lost: handed back
/// # });
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// Why [`try_send`](super::Channel::try_send) did not send; the value is returned.
///
/// # Examples
///
/// ```
/// use weft::channel::{Channel, TrySendError};
///
/// let ch = Channel::new(); // unbuffered, and no receiver waits
/// match ch.try_send(5) {
///     Err(TrySendError::Full(v)) => assert_eq!(v, 5),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// No room in the buffer (or, unbuffered, no receiver waiting).
    Full(T),
    /// The channel is closed.
    Closed(T),
}

/// Why [`try_recv`](super::Channel::try_recv) got nothing.
///
/// # Examples
///
/// ```
/// use weft::channel::{Channel, TryRecvError};
///
/// let ch = Channel::<u8>::unbounded();
/// assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
/// ch.close();
/// assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing buffered (or, unbuffered, no sender waiting).
    Empty,
    /// The channel is closed and drained.
    Closed,
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }

    /// True if the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// True if the channel was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Closed(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Closed => f.write_str("receiving on a closed channel"),
        }
    }
}

impl std::error::Error for TryRecvError {}
