//! The arms of a select as its driver sees them: receive and send arms on channels, arms that
//! are arbitrary futures, and the conversions the `select!` macro expands to.

#![forbid(unsafe_code)]

use super::chan::{Chan, Notify, RecvOutcome, RecvWaiter, SendOutcome, SendWaiter, Wakeups};
use super::error::SendError;
use super::ops::{RecvFuture, SendFuture};
use super::token::SelectToken;
use super::waiter::Waiter;
use crate::loom::sync::Arc;
use pin_project_lite::pin_project;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An arm of a select, as the driver sees it.
pub trait Arm {
    /// Tries to take effect now, without waiting; stores the output and returns true if it did.
    fn attempt(
        self: Pin<&mut Self>,
        token: Option<&Arc<SelectToken>>,
        cx: &mut Context<'_>,
    ) -> bool;
    /// Parks a waiter carrying the token (channel arms only; once per select).
    fn register(self: Pin<&mut Self>, token: &Arc<SelectToken>, arm: usize, cx: &mut Context<'_>);
    /// A peer completed this arm: collects its outcome as the output.
    fn collect(self: Pin<&mut Self>);
    /// Removes a parked waiter, if any.
    fn unregister(self: Pin<&mut Self>);
    /// The version of the arm's channel state (0 for future arms), see `Select::poll`.
    fn version(&self) -> u64 {
        0
    }
}

pin_project! {
    /// A receive arm.
    pub struct RecvArm<'a, T> {
        #[pin]
        waiter: Waiter<&'a Chan<T>, RecvWaiter<T>>,
        out: Option<Option<T>>,
    }
}

pin_project! {
    /// A send arm. Its value is in `value` until the arm parks, then in its waiter.
    pub struct SendArm<'a, T> {
        #[pin]
        waiter: Waiter<&'a Chan<T>, SendWaiter<T>>,
        value: Option<T>,
        out: Option<Result<(), SendError<T>>>,
    }
}

pin_project! {
    /// An arm that is an arbitrary future.
    pub struct FutureArm<F: Future> {
        #[pin]
        future: F,
        out: Option<F::Output>,
    }
}

impl<T> fmt::Debug for RecvArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvArm").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SendArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendArm").finish_non_exhaustive()
    }
}

impl<F: Future> fmt::Debug for FutureArm<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureArm").finish_non_exhaustive()
    }
}

impl<'a, T> RecvArm<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            waiter: Waiter::new(chan),
            out: None,
        }
    }

    /// The received value (`None`: the channel is closed and drained).
    pub fn take_output(self: Pin<&mut Self>) -> Option<T> {
        self.project()
            .out
            .take()
            .expect("select arm output taken twice")
    }
}

impl<'a, T> SendArm<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>, value: T) -> Self {
        Self {
            waiter: Waiter::new(chan),
            value: Some(value),
            out: None,
        }
    }
}

impl<T> SendArm<'_, T> {
    /// The send's result.
    pub fn take_output(self: Pin<&mut Self>) -> Result<(), SendError<T>> {
        self.project()
            .out
            .take()
            .expect("select arm output taken twice")
    }
}

impl<F: Future> FutureArm<F> {
    /// Wraps a future as an arm.
    pub fn new(future: F) -> Self {
        Self { future, out: None }
    }

    /// The future's output.
    pub fn take_output(self: Pin<&mut Self>) -> F::Output {
        self.project()
            .out
            .take()
            .expect("select arm output taken twice")
    }
}

impl<T> Arm for RecvArm<'_, T> {
    fn attempt(
        self: Pin<&mut Self>,
        token: Option<&Arc<SelectToken>>,
        _cx: &mut Context<'_>,
    ) -> bool {
        let this = self.project();
        let mut wake = Wakeups::default();
        let mut l = this.waiter.lock();
        let got = match l.chan().try_recv_locked(l.st(), token, &mut wake) {
            Some(v) => Some(Some(v)),
            None if l.st().drained() => Some(None),
            None => None,
        };
        drop(l);
        wake.wake();
        let done = got.is_some();
        *this.out = got;
        done
    }

    fn register(self: Pin<&mut Self>, token: &Arc<SelectToken>, arm: usize, _cx: &mut Context<'_>) {
        let waiter = self.project().waiter;
        if waiter.is_in_chan() {
            return;
        }
        let mut l = waiter.lock();
        l.st().changed();
        l.park(RecvWaiter {
            outcome: RecvOutcome::Pending,
            notify: Notify::Select(token.clone(), arm),
            weak: false,
        });
    }

    fn collect(self: Pin<&mut Self>) {
        let this = self.project();
        let mut wake = Wakeups::default();
        let mut l = this.waiter.lock();
        let RecvWaiter {
            outcome, notify, ..
        } = l.remove().expect("a completed recv arm was parked");
        *this.out = Some(match outcome {
            RecvOutcome::Value(v) => {
                l.chan().collected_locked(l.st(), &mut wake);
                Some(v)
            }
            RecvOutcome::Closed => None,
            RecvOutcome::Pending | RecvOutcome::Woken => {
                unreachable!("the token was won, so the outcome is set")
            }
        });
        drop(l);
        wake.wake();
        drop(notify);
    }

    fn unregister(self: Pin<&mut Self>) {
        self.project().waiter.leave();
    }

    fn version(&self) -> u64 {
        self.waiter.chan().version()
    }
}

impl<T> Arm for SendArm<'_, T> {
    fn attempt(
        self: Pin<&mut Self>,
        token: Option<&Arc<SelectToken>>,
        _cx: &mut Context<'_>,
    ) -> bool {
        let this = self.project();
        let mut wake = Wakeups::default();
        let mut l = this.waiter.lock();
        // Once parked, the value lives in the waiter; borrow it back for the attempt.
        let v = match l.waiter() {
            Some(w) => w.value.take(),
            None => this.value.take(),
        }
        .expect("a send arm holds its value until it takes effect");
        let done = if l.st().closed {
            *this.out = Some(Err(SendError(v)));
            true
        } else {
            match l.chan().try_send_locked(l.st(), v, token, &mut wake) {
                Ok(()) => {
                    *this.out = Some(Ok(()));
                    true
                }
                Err(v) => {
                    match l.waiter() {
                        Some(w) => w.value = Some(v),
                        None => *this.value = Some(v),
                    }
                    false
                }
            }
        };
        drop(l);
        wake.wake();
        done
    }

    fn register(self: Pin<&mut Self>, token: &Arc<SelectToken>, arm: usize, _cx: &mut Context<'_>) {
        let this = self.project();
        if this.waiter.is_in_chan() {
            return;
        }
        let mut l = this.waiter.lock();
        l.st().changed();
        l.park(SendWaiter {
            value: this.value.take(),
            outcome: SendOutcome::Pending,
            notify: Notify::Select(token.clone(), arm),
        });
    }

    fn collect(self: Pin<&mut Self>) {
        let this = self.project();
        let waiter = this
            .waiter
            .lock()
            .remove()
            .expect("a completed send arm was parked");
        *this.out = Some(match waiter.outcome {
            SendOutcome::Delivered => Ok(()),
            SendOutcome::Closed => Err(SendError(
                waiter.value.expect("a closed send keeps its value"),
            )),
            SendOutcome::Pending => unreachable!("the token was won, so the outcome is set"),
        });
    }

    fn unregister(self: Pin<&mut Self>) {
        // The arm lost this round but may take part in the next one (a refutable pattern on
        // the winning arm failed): take the value back from the waiter.
        let this = self.project();
        if !this.waiter.is_in_chan() {
            return;
        }
        let waiter = this.waiter.lock().remove().expect("parked");
        debug_assert_eq!(
            waiter.outcome,
            SendOutcome::Pending,
            "a losing arm was not served"
        );
        *this.value = waiter.value;
    }

    fn version(&self) -> u64 {
        self.waiter.chan().version()
    }
}

impl<F: Future> Arm for FutureArm<F> {
    fn attempt(
        self: Pin<&mut Self>,
        _token: Option<&Arc<SelectToken>>,
        cx: &mut Context<'_>,
    ) -> bool {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Ready(v) => {
                *this.out = Some(v);
                true
            }
            Poll::Pending => false,
        }
    }

    fn register(self: Pin<&mut Self>, _: &Arc<SelectToken>, _: usize, _: &mut Context<'_>) {}

    fn collect(self: Pin<&mut Self>) {}

    fn unregister(self: Pin<&mut Self>) {}
}

/// Holds an arm expression's value for the conversion below.
pub struct ArmInput<T>(Cell<Option<T>>);

impl<T> fmt::Debug for ArmInput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ArmInput(..)")
    }
}

impl<T> ArmInput<T> {
    /// Wraps an arm expression.
    pub fn new(value: T) -> Self {
        Self(Cell::new(Some(value)))
    }

    fn take(&self) -> T {
        self.0.take().expect("arm converted twice")
    }
}

/// Turns `ch.recv()` and `ch.send(v)` into channel arms. Picked by method resolution before
/// [`IntoFutureArm`], which takes one more reference.
pub trait IntoChannelArm {
    /// The arm type.
    type Arm;
    /// Converts.
    fn __weft_arm(&self) -> Self::Arm;
}

// A future passed by value was never polled: polling pins it, and a pinned future cannot be
// moved. So it is not parked in its channel, and the arm starts afresh. (A future that was
// polled can still be an arm when passed pinned, as `fut.as_mut()`; it is then a future arm.)

impl<'a, T> IntoChannelArm for ArmInput<RecvFuture<'a, T>> {
    type Arm = RecvArm<'a, T>;
    fn __weft_arm(&self) -> RecvArm<'a, T> {
        let f = self.take();
        debug_assert!(!f.waiter.is_in_chan(), "moved after being polled");
        RecvArm::new(f.waiter.handle())
    }
}

impl<'a, T> IntoChannelArm for ArmInput<SendFuture<'a, T>> {
    type Arm = SendArm<'a, T>;
    fn __weft_arm(&self) -> SendArm<'a, T> {
        let mut f = self.take();
        debug_assert!(!f.waiter.is_in_chan(), "moved after being polled");
        let value = f.value.take().expect("an unpolled send holds its value");
        SendArm::new(f.waiter.handle(), value)
    }
}

/// Turns any other future into a future arm.
pub trait IntoFutureArm {
    /// The arm type.
    type Arm;
    /// Converts.
    fn __weft_arm(&self) -> Self::Arm;
}

impl<F: Future> IntoFutureArm for &ArmInput<F> {
    type Arm = FutureArm<F>;
    fn __weft_arm(&self) -> FutureArm<F> {
        FutureArm::new(self.take())
    }
}
