//! Tasks: spawning, handles, yielding and the cooperative budget.
//!
//! A task is a future the executor drives to completion on its own, as in the guide's
//! `spawn(worker(1))`. Futures are lazy: nothing runs until one is spawned or awaited.
//!
//! ```
//! # weft::block_on(async {
//! async fn compute() -> i32 {
//!     weft::yield_now().await;
//!     42
//! }
//! let future = compute();              // nothing has run yet
//! let handle = weft::spawn(future);    // now it runs on a worker
//! assert_eq!(handle.await, 42);
//! # });
//! ```

mod builder;
mod join;
mod scope;
mod set;

pub use builder::Builder;
pub use join::{Catch, JoinError, JoinHandle};
pub use scope::{scope, Scope};
pub use set::TaskSet;

use crate::runtime::{context, global, scheduler::coop};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Spawns a task and returns a handle to it.
///
/// Inside a task, the task goes to the executor running it; inside
/// [`Executor::block_on`](crate::Executor::block_on), to that executor; anywhere else, to the
/// global runtime, which starts on first use with one worker per core (the `WEFT_WORKERS`
/// environment variable overrides the count).
///
/// # Examples
///
/// ```
/// // From plain synchronous code: the global runtime runs it.
/// let handle = weft::spawn(async { "hello" });
/// assert_eq!(handle.join(), "hello");
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match context::current() {
        Some(shared) => shared.spawn(future),
        None => global().spawn(future),
    }
}

/// Runs a blocking function on the current executor's blocking thread pool (or the global
/// runtime's), so it does not stall a worker.
///
/// The pool grows on demand up to a cap (512 threads by default, see
/// [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)) and idle threads
/// exit after 10 seconds.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let n = weft::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).await;
/// assert!(n > 0);
/// # });
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match context::current() {
        Some(shared) => shared.spawn_blocking(f),
        None => global().spawn_blocking(f),
    }
}

/// Yields once to the scheduler: the task goes to the back of its worker's queue so others run.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// for _ in 0..3 {
///     weft::yield_now().await;
/// }
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Spends one unit of the task's cooperative budget, yielding first if it is used up.
///
/// weft's own futures do this on every operation; call it in a loop of your own that may stay
/// ready for a long time (a CPU-heavy loop over an always-ready source) to keep the worker fair.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let mut sum = 0u64;
/// for i in 0..10_000u64 {
///     weft::task::consume_budget().await;
///     sum += i;
/// }
/// assert_eq!(sum, 49_995_000);
/// # });
/// ```
pub async fn consume_budget() {
    std::future::poll_fn(|cx| coop::poll_proceed(cx).map(coop::RestoreOnPending::made_progress))
        .await;
}

/// Runs `future` outside the cooperative budget: weft's channels, timers and join handles
/// inside it never make it yield (tokio's `task::unconstrained`).
///
/// A task that is always ready then keeps its worker until it returns `Pending` on its own, so
/// other tasks queued on that worker wait. Use it for a hot loop that should run to the end
/// (a producer filling a channel for a consumer on the same worker), not by default.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let ch = weft::Channel::unbounded();
/// weft::task::unconstrained(async {
///     for i in 0..1_000u32 {
///         ch.send(i).await.unwrap(); // never yields for the budget
///     }
/// })
/// .await;
/// assert_eq!(ch.len(), 1_000);
/// # });
/// ```
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

pin_project_lite::pin_project! {
    /// The future of [`unconstrained`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Unconstrained<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let future = self.project().future;
        coop::unconstrained(|| future.poll(cx))
    }
}
