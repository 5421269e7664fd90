//! The `send` and `recv` futures, and the polling steps they share with streams and `select`.

use super::chan::{Chan, Notify, RecvOutcome, RecvWaiter, SendOutcome, SendWaiter, Wakeups};
use super::error::SendError;
use crate::runtime::scheduler::coop;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

fn update_waker(notify: &mut Notify, waker: &Waker) {
    if let Notify::Waker(w) = notify {
        if !w.will_wake(waker) {
            w.clone_from(waker);
        }
    }
}

/// One receive step: collects a parked waiter's outcome, or receives now, or parks.
/// `key` is the caller's parked waiter, kept across polls.
pub(crate) fn poll_recv<T>(
    chan: &Chan<T>,
    key: &mut Option<usize>,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    let coop = ready!(coop::poll_proceed(cx));
    let mut st = chan.lock();
    if key.is_none() {
        if let Some(v) = chan.try_recv_fast(&mut st) {
            drop(st);
            coop.made_progress();
            return Poll::Ready(Some(v));
        }
    }
    let mut wake = Wakeups::default();
    let out = match *key {
        Some(k) => match st.receivers.get(k).outcome {
            RecvOutcome::Pending => {
                update_waker(&mut st.receivers.get_mut(k).notify, cx.waker());
                None
            }
            _ => {
                *key = None;
                match st.receivers.remove(k).outcome {
                    RecvOutcome::Value(v) => {
                        chan.collected_locked(&mut st, &mut wake);
                        Some(Some(v))
                    }
                    _ => Some(None),
                }
            }
        },
        None => match chan.try_recv_locked(&mut st, None, &mut wake) {
            Some(v) => Some(Some(v)),
            None if st.drained() => Some(None),
            None => {
                st.changed();
                *key = Some(st.receivers.push_back(RecvWaiter {
                    outcome: RecvOutcome::Pending,
                    notify: Notify::Waker(cx.waker().clone()),
                }));
                None
            }
        },
    };
    drop(st);
    wake.wake();
    match out {
        Some(v) => {
            coop.made_progress();
            Poll::Ready(v)
        }
        None => Poll::Pending,
    }
}

/// Removes a parked receiver; a value it had been handed is offered to the next in line.
#[inline]
pub(crate) fn cancel_recv<T>(chan: &Chan<T>, key: &mut Option<usize>) {
    if let Some(k) = key.take() {
        cancel_parked_recv(chan, k);
    }
}

#[inline(never)]
fn cancel_parked_recv<T>(chan: &Chan<T>, k: usize) {
    let mut wake = Wakeups::default();
    let mut st = chan.lock();
    // Bound to a local, so its waker is dropped after the lock is released.
    let waiter = st.receivers.remove(k);
    if let RecvOutcome::Value(v) = waiter.outcome {
        // Offered again first (so the channel never looks drained in between), then counted
        // as no longer held by this receiver.
        chan.reoffer_locked(&mut st, v, &mut wake);
        chan.collected_locked(&mut st, &mut wake);
    }
    drop(st);
    wake.wake();
}

/// One send step. `value` is `Some` until the value has been handed to the channel.
pub(crate) fn poll_send<T>(
    chan: &Chan<T>,
    value: &mut Option<T>,
    key: &mut Option<usize>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<T>>> {
    let coop = ready!(coop::poll_proceed(cx));
    // Taken before locking: a misuse panics with the lock free.
    let mut fresh = match *key {
        Some(_) => None,
        None => Some(value.take().expect("send polled after completion")),
    };
    let mut st = chan.lock();
    if let Some(v) = fresh.take() {
        match chan.try_send_fast(&mut st, v) {
            Ok(()) => {
                drop(st);
                coop.made_progress();
                return Poll::Ready(Ok(()));
            }
            Err(v) => fresh = Some(v),
        }
    }
    let mut wake = Wakeups::default();
    let out = match *key {
        Some(k) => match st.senders.get(k).outcome {
            SendOutcome::Pending => {
                update_waker(&mut st.senders.get_mut(k).notify, cx.waker());
                None
            }
            SendOutcome::Delivered => {
                *key = None;
                st.senders.remove(k);
                Some(Ok(()))
            }
            SendOutcome::Closed => {
                *key = None;
                let w = st.senders.remove(k);
                Some(Err(SendError(
                    w.value.expect("a closed send keeps its value"),
                )))
            }
        },
        None => {
            let v = fresh.expect("taken above when not parked");
            match chan.try_send_locked(&mut st, v, None, &mut wake) {
                Ok(()) => Some(Ok(())),
                Err(v) if st.closed => Some(Err(SendError(v))),
                Err(v) => {
                    st.changed();
                    *key = Some(st.senders.push_back(SendWaiter {
                        value: Some(v),
                        outcome: SendOutcome::Pending,
                        notify: Notify::Waker(cx.waker().clone()),
                    }));
                    None
                }
            }
        }
    };
    drop(st);
    wake.wake();
    match out {
        Some(r) => {
            coop.made_progress();
            Poll::Ready(r)
        }
        None => Poll::Pending,
    }
}

/// Removes a parked sender; an undelivered value is dropped after the lock is released.
#[inline]
pub(crate) fn cancel_send<T>(chan: &Chan<T>, key: &mut Option<usize>) {
    if let Some(k) = key.take() {
        cancel_parked_send(chan, k);
    }
}

#[inline(never)]
fn cancel_parked_send<T>(chan: &Chan<T>, k: usize) {
    let waiter = chan.lock().senders.remove(k);
    drop(waiter);
}

/// The future of [`Channel::recv`](super::Channel::recv).
///
/// Cancel-safe: dropped before it completes, it has taken nothing (a value already handed to it
/// goes to the next receiver in line).
#[must_use = "futures do nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    pub(crate) chan: &'a Chan<T>,
    pub(crate) key: Option<usize>,
}

impl<T> Unpin for RecvFuture<'_, T> {}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("parked", &self.key.is_some())
            .finish()
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        poll_recv(this.chan, &mut this.key, cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        cancel_recv(self.chan, &mut self.key);
    }
}

/// The future of [`Channel::send`](super::Channel::send).
///
/// Cancel-safe: dropped before it completes, its value was either delivered or not sent at all
/// (and is dropped with the future).
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    pub(crate) chan: &'a Chan<T>,
    pub(crate) value: Option<T>,
    pub(crate) key: Option<usize>,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("parked", &self.key.is_some())
            .finish()
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_send(this.chan, &mut this.value, &mut this.key, cx)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        cancel_send(self.chan, &mut self.key);
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::super::chan::{Capacity, Chan};
    use super::*;

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(f).poll(&mut cx)
    }

    #[test]
    fn cancelled_waiters_are_freed() {
        let chan = Chan::<u32>::new(Capacity::Bounded(0));
        for _ in 0..1_000 {
            let mut r = RecvFuture {
                chan: &chan,
                key: None,
            };
            assert!(poll_once(&mut r).is_pending());
            let mut s = SendFuture {
                chan: &chan,
                value: Some(1),
                key: None,
            };
            // The parked receiver takes the value straight away, so the send completes.
            assert!(poll_once(&mut s).is_ready());
            drop(r); // handed a value it never collected: re-offered into the channel
            let mut r2 = RecvFuture {
                chan: &chan,
                key: None,
            };
            assert_eq!(poll_once(&mut r2), Poll::Ready(Some(1)));
            let mut s2 = SendFuture {
                chan: &chan,
                value: Some(2),
                key: None,
            };
            assert!(poll_once(&mut s2).is_pending());
            drop(s2);
        }
        let st = chan.lock();
        assert_eq!(
            st.receivers.len() + st.senders.len(),
            0,
            "no waiter entry leaked"
        );
        assert!(st.buf.is_empty());
    }
}
