//! `timeout`: a future with a time limit.

#![forbid(unsafe_code)]

use super::sleep::{far_future, sleep_until, Sleep};
use super::Instant;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The error of a future that did not finish within its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for TimeoutError {}

/// Runs `future` with a time limit: `Ok(output)` if it finishes within `duration`, otherwise
/// `Err(TimeoutError)`, and the future has been dropped (cancelled) by the time this returns.
///
/// The limit starts when the timeout is first polled (futures are lazy: `.await` starts it).
/// A future that is ready at once never touches the timer, so timing out fast operations costs
/// almost nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # weft::block_on(async {
/// let fast = weft::timeout(async { 7 }, Duration::from_secs(1)).await;
/// assert_eq!(fast, Ok(7));
///
/// let slow = weft::timeout(weft::sleep(Duration::from_secs(60)), Duration::from_millis(10)).await;
/// assert_eq!(slow, Err(weft::TimeoutError));
/// # });
/// ```
pub fn timeout<F: Future>(future: F, duration: Duration) -> Timeout<F> {
    Timeout {
        state: State::Running { future },
        limit: Limit::After(duration),
    }
}

/// Like [`timeout`], with an absolute deadline (a [`weft::time::Instant`](Instant) or a
/// `std::time::Instant`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
/// # weft::block_on(async {
/// let deadline = Instant::now() + Duration::from_millis(10);
/// let out = weft::time::timeout_at(std::future::pending::<()>(), deadline).await;
/// assert_eq!(out, Err(weft::TimeoutError));
/// assert!(Instant::now() >= deadline);
/// # });
/// ```
pub fn timeout_at<F: Future>(future: F, deadline: impl Into<Instant>) -> Timeout<F> {
    Timeout {
        state: State::Running { future },
        limit: Limit::At(deadline.into()),
    }
}

#[derive(Debug)]
enum Limit {
    /// Not started: the limit is this long from the first poll.
    After(Duration),
    /// Started, or given as an instant, but no timer registered yet.
    At(Instant),
    /// Timer running.
    Timer(Sleep),
}

pin_project! {
    /// The future returned by [`timeout`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        state: State<F>,
        limit: Limit,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Running { #[pin] future: F },
        Done,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let future = match this.state.as_mut().project() {
            StateProj::Running { future } => future,
            StateProj::Done => panic!("Timeout polled after completion"),
        };
        if let Poll::Ready(out) = future.poll(cx) {
            this.state.set(State::Done);
            return Poll::Ready(Ok(out));
        }
        if let Limit::After(d) = *this.limit {
            let now = Instant::now();
            *this.limit = Limit::At(now.checked_add(d).unwrap_or_else(far_future));
        }
        if let Limit::At(deadline) = *this.limit {
            *this.limit = Limit::Timer(sleep_until(deadline));
        }
        let Limit::Timer(sleep) = this.limit else {
            unreachable!("the limit was turned into a timer above");
        };
        // The inner future may have spent the task's whole budget; the deadline is checked
        // regardless, or a busy future could never time out.
        match crate::runtime::scheduler::coop::unconstrained(|| Pin::new(sleep).poll(cx)) {
            Poll::Ready(()) => {
                // Drop the inner future before reporting the timeout.
                this.state.set(State::Done);
                Poll::Ready(Err(TimeoutError))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
