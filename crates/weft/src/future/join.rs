//! `join`, `try_join` and `race` over an iterator of futures.

#![forbid(unsafe_code)]

use super::maybe_done::MaybeDone;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Waits for every future and returns their outputs in input order: the guide's
/// `join(futures)`. The futures run concurrently (within the calling task); `JoinHandle`s are
/// futures too, so `join` also waits for spawned tasks.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let handles: Vec<_> = (1..=3).map(|i| weft::spawn(async move { i * 10 })).collect();
/// assert_eq!(weft::join(handles).await, vec![10, 20, 30]);
/// # });
/// ```
pub fn join<I>(futures: I) -> Join<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    Join {
        futures: futures
            .into_iter()
            .map(|f| Box::pin(MaybeDone::new(f)))
            .collect(),
    }
}

/// The future returned by [`join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<F: Future> {
    futures: Vec<Pin<Box<MaybeDone<F>>>>,
}

impl<F: Future> fmt::Debug for Join<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("len", &self.futures.len())
            .finish()
    }
}

impl<F: Future> Future for Join<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut all_done = true;
        for f in &mut this.futures {
            all_done &= f.as_mut().poll_done(cx);
        }
        if !all_done {
            return Poll::Pending;
        }
        Poll::Ready(this.futures.iter_mut().map(|f| f.as_mut().take()).collect())
    }
}

/// Waits for every future of `Result`s; the first `Err` wins, and the other futures are
/// dropped (cancelled) before it returns. Otherwise the `Ok` outputs in input order.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let parse = |s: &'static str| async move { s.parse::<i32>() };
/// assert_eq!(weft::try_join(vec![parse("1"), parse("2")]).await, Ok(vec![1, 2]));
/// assert!(weft::try_join(vec![parse("1"), parse("x")]).await.is_err());
/// # });
/// ```
pub fn try_join<I, T, E>(futures: I) -> TryJoin<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryJoin {
        futures: futures
            .into_iter()
            .map(|f| Box::pin(MaybeDone::new(f)))
            .collect(),
    }
}

/// The future returned by [`try_join`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryJoin<F: Future> {
    futures: Vec<Pin<Box<MaybeDone<F>>>>,
}

impl<F: Future> fmt::Debug for TryJoin<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryJoin")
            .field("len", &self.futures.len())
            .finish()
    }
}

impl<F, T, E> Future for TryJoin<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut all_done = true;
        for i in 0..this.futures.len() {
            let f = &mut this.futures[i];
            if !f.as_mut().poll_done(cx) {
                all_done = false;
                continue;
            }
            if matches!(f.as_mut().output_mut(), Some(Err(_))) {
                let err = match f.as_mut().take() {
                    Err(e) => e,
                    Ok(_) => unreachable!("checked above"),
                };
                // Cancel the rest before returning.
                this.futures.clear();
                return Poll::Ready(Err(err));
            }
        }
        if !all_done {
            return Poll::Pending;
        }
        Poll::Ready(Ok(this
            .futures
            .iter_mut()
            .map(|f| match f.as_mut().take() {
                Ok(v) => v,
                Err(_) => unreachable!("errors return early"),
            })
            .collect()))
    }
}

/// Waits for the first future to finish and returns its index and output: the guide's
/// `race([f1, f2])`. The others are dropped (cancelled) before it returns. Futures are polled
/// in input order, so among several ready at once the first wins.
///
/// # Panics
///
/// Panics if given no futures (there would be nothing to wait for).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # weft::block_on(async {
/// let slow = Box::pin(async { weft::sleep(Duration::from_secs(5)).await; "slow" });
/// let fast = Box::pin(async { "fast" });
/// let futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = &str> + Send>>> =
///     vec![slow, fast];
/// assert_eq!(weft::race(futures).await, (1, "fast"));
/// # });
/// ```
pub fn race<I>(futures: I) -> Race<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    assert!(!futures.is_empty(), "weft::race needs at least one future");
    Race { futures }
}

/// The future returned by [`race`].
#[must_use = "futures do nothing unless awaited"]
pub struct Race<F: Future> {
    futures: Vec<Pin<Box<F>>>,
}

impl<F: Future> fmt::Debug for Race<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("len", &self.futures.len())
            .finish()
    }
}

impl<F: Future> Future for Race<F> {
    type Output = (usize, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        for (i, f) in this.futures.iter_mut().enumerate() {
            if let Poll::Ready(out) = f.as_mut().poll(cx) {
                // The losers are dropped here, before the winner is returned.
                this.futures.clear();
                return Poll::Ready((i, out));
            }
        }
        Poll::Pending
    }
}
