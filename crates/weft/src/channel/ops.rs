//! The `send` and `recv` futures, and the polling steps they share with streams and `select`.

#![forbid(unsafe_code)]

use super::chan::{Chan, Notify, RecvOutcome, RecvWaiter, SendOutcome, SendWaiter, Wakeups};
use super::error::SendError;
use super::waiter::{ChanRef, Waiter};
use crate::runtime::scheduler::coop;
use pin_project_lite::pin_project;
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

/// One receive step: collects the parked waiter's outcome, or receives now, or parks. A
/// `weak` receiver (a stream handle) parks a waiter that is woken when a value arrives but is
/// never handed one (see `chan.rs`).
#[inline]
pub(crate) fn poll_recv<C: ChanRef<Item = T>, T>(
    waiter: Pin<&mut Waiter<C, RecvWaiter<T>>>,
    cx: &mut Context<'_>,
    weak: bool,
) -> Poll<Option<T>> {
    let coop = ready!(coop::poll_proceed(cx));
    let mut l = waiter.lock();
    if !l.is_in_chan() {
        if let Some((v, wake)) = l.chan().try_recv_fast(l.st()) {
            drop(l);
            if let Some(w) = wake {
                w.wake();
            }
            coop.made_progress();
            return Poll::Ready(Some(v));
        }
    }
    let mut wake = Wakeups::default();
    let mut out = None;
    // Receive now, or park: not parked, or a weak waiter that was woken.
    let mut look = true;
    if let Some(w) = l.waiter() {
        match w.outcome {
            RecvOutcome::Pending => {
                update_waker(&mut w.notify, cx.waker());
                look = false;
            }
            // Out of the channel, to receive through the normal path. Its waker was taken by
            // the sender that woke it (a no-op waker is left), so dropping it here runs
            // nothing under the lock.
            RecvOutcome::Woken => drop(l.remove()),
            _ => {
                look = false;
                out = match l.remove().map(|w| w.outcome) {
                    Some(RecvOutcome::Value(v)) => {
                        l.chan().collected_locked(l.st(), &mut wake);
                        Some(Some(v))
                    }
                    _ => Some(None),
                };
            }
        }
    }
    if look {
        out = match l.chan().try_recv_locked(l.st(), None, &mut wake) {
            Some(v) => Some(Some(v)),
            None if l.st().drained() => Some(None),
            None => {
                l.st().changed();
                l.park(RecvWaiter {
                    outcome: RecvOutcome::Pending,
                    notify: Notify::Waker(cx.waker().clone()),
                    weak,
                });
                None
            }
        };
    }
    drop(l);
    wake.wake();
    match out {
        Some(v) => {
            coop.made_progress();
            Poll::Ready(v)
        }
        None => Poll::Pending,
    }
}

/// One send step. `value` is `Some` until the value has been handed to the channel.
pub(crate) fn poll_send<T>(
    waiter: Pin<&mut Waiter<&Chan<T>, SendWaiter<T>>>,
    value: &mut Option<T>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<T>>> {
    let coop = ready!(coop::poll_proceed(cx));
    // Taken before locking: a misuse panics with the lock free.
    let mut fresh = match waiter.is_in_chan() {
        true => None,
        false => Some(value.take().expect("send polled after completion")),
    };
    let mut l = waiter.lock();
    if let Some(v) = fresh.take() {
        match l.chan().try_send_fast(l.st(), v) {
            Ok(wake) => {
                drop(l);
                if let Some(w) = wake {
                    w.wake();
                }
                coop.made_progress();
                return Poll::Ready(Ok(()));
            }
            Err(v) => fresh = Some(v),
        }
    }
    let mut wake = Wakeups::default();
    // A value or a waker dropped here waits until the lock is released.
    let mut leftover = None;
    let out = match l.waiter() {
        Some(w) => match w.outcome {
            SendOutcome::Pending => {
                update_waker(&mut w.notify, cx.waker());
                None
            }
            SendOutcome::Delivered => {
                leftover = l.remove();
                Some(Ok(()))
            }
            SendOutcome::Closed => {
                let w = l.remove().expect("in the channel");
                Some(Err(SendError(
                    w.value.expect("a closed send keeps its value"),
                )))
            }
        },
        None => {
            let v = fresh.expect("taken above when not parked");
            match l.chan().try_send_locked(l.st(), v, None, &mut wake) {
                Ok(()) => Some(Ok(())),
                Err(v) if l.st().closed => Some(Err(SendError(v))),
                Err(v) => {
                    l.st().changed();
                    l.park(SendWaiter {
                        value: Some(v),
                        outcome: SendOutcome::Pending,
                        notify: Notify::Waker(cx.waker().clone()),
                    });
                    None
                }
            }
        }
    };
    drop(l);
    wake.wake();
    drop(leftover);
    match out {
        Some(r) => {
            coop.made_progress();
            Poll::Ready(r)
        }
        None => Poll::Pending,
    }
}

pin_project! {
    /// The future of [`Channel::recv`](super::Channel::recv).
    ///
    /// Cancel-safe: dropped before it completes, it has taken nothing (a value already handed
    /// to it goes to the next receiver in line).
    ///
    /// While parked, the future is linked into the channel's queue of receivers: it is `!Unpin`
    /// (pin it with [`std::pin::pin!`] or `Box::pin` to poll it by hand) and waiting allocates
    /// nothing.
    #[must_use = "futures do nothing unless awaited"]
    pub struct RecvFuture<'a, T> {
        #[pin]
        pub(crate) waiter: Waiter<&'a Chan<T>, RecvWaiter<T>>,
    }
}

impl<'a, T> RecvFuture<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            waiter: Waiter::new(chan),
        }
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("parked", &self.waiter.is_in_chan())
            .finish()
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        poll_recv(self.project().waiter, cx, false)
    }
}

pin_project! {
    /// The future of [`Channel::send`](super::Channel::send).
    ///
    /// Cancel-safe: dropped before it completes, its value was either delivered or not sent at
    /// all (and is dropped with the future).
    ///
    /// While parked, the future is linked into the channel's queue of senders, holding the
    /// value: it is `!Unpin` (pin it with [`std::pin::pin!`] or `Box::pin` to poll it by hand)
    /// and waiting allocates nothing.
    #[must_use = "futures do nothing unless awaited"]
    pub struct SendFuture<'a, T> {
        #[pin]
        pub(crate) waiter: Waiter<&'a Chan<T>, SendWaiter<T>>,
        pub(crate) value: Option<T>,
    }
}

impl<'a, T> SendFuture<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>, value: T) -> Self {
        Self {
            waiter: Waiter::new(chan),
            value: Some(value),
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("parked", &self.waiter.is_in_chan())
            .finish()
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_send(this.waiter, this.value, cx)
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::super::chan::{Capacity, Chan};
    use super::*;
    use std::pin::pin;

    fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        f.poll(&mut cx)
    }

    #[test]
    fn fast_paths_keep_the_order_with_a_parked_peer() {
        // Capacity 1: one buffered value, a sender parked behind it. A receive takes the
        // buffered value and refills the buffer from the sender, which completes.
        let chan = Chan::<u32>::new(Capacity::Bounded(1));
        assert!(poll_once(pin!(SendFuture::new(&chan, 1)).as_mut()).is_ready());
        let mut s = Box::pin(SendFuture::new(&chan, 2));
        assert!(poll_once(s.as_mut()).is_pending());
        assert_eq!(
            poll_once(pin!(RecvFuture::new(&chan)).as_mut()),
            Poll::Ready(Some(1))
        );
        assert_eq!(chan.lock().buf.len(), 1, "refilled from the parked sender");
        assert_eq!(poll_once(s.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(
            poll_once(pin!(RecvFuture::new(&chan)).as_mut()),
            Poll::Ready(Some(2))
        );
        // Capacity 0: a parked receiver is handed the value; a parked sender is taken from.
        let chan = Chan::<u32>::new(Capacity::Bounded(0));
        let mut r = Box::pin(RecvFuture::new(&chan));
        assert!(poll_once(r.as_mut()).is_pending());
        assert!(poll_once(pin!(SendFuture::new(&chan, 3)).as_mut()).is_ready());
        assert_eq!(poll_once(r.as_mut()), Poll::Ready(Some(3)));
        let mut s = Box::pin(SendFuture::new(&chan, 4));
        assert!(poll_once(s.as_mut()).is_pending());
        assert_eq!(
            poll_once(pin!(RecvFuture::new(&chan)).as_mut()),
            Poll::Ready(Some(4))
        );
        assert_eq!(poll_once(s.as_mut()), Poll::Ready(Ok(())));
        let st = chan.lock();
        assert!(st.nobody_parked());
        assert!(st.buf.is_empty());
        assert_eq!(st.handed, 0);
    }

    #[test]
    fn cancelled_waiters_leave_the_channel() {
        let chan = Chan::<u32>::new(Capacity::Bounded(0));
        for _ in 0..1_000 {
            let mut r = Box::pin(RecvFuture::new(&chan));
            assert!(poll_once(r.as_mut()).is_pending());
            let mut s = pin!(SendFuture::new(&chan, 1));
            // The parked receiver takes the value straight away, so the send completes.
            assert!(poll_once(s.as_mut()).is_ready());
            drop(r); // handed a value it never collected: re-offered into the channel
            let mut r2 = pin!(RecvFuture::new(&chan));
            assert_eq!(poll_once(r2.as_mut()), Poll::Ready(Some(1)));
            let mut s2 = Box::pin(SendFuture::new(&chan, 2));
            assert!(poll_once(s2.as_mut()).is_pending());
            assert!(!chan.lock().nobody_parked());
            drop(s2);
            assert!(chan.lock().nobody_parked(), "a dropped sender left");
        }
        let st = chan.lock();
        assert!(st.nobody_parked());
        assert!(st.buf.is_empty());
        assert_eq!(st.handed, 0);
    }
}
