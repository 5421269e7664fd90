//! weft is an async runtime: a work-stealing executor with a worker per core, tasks you spawn
//! and await, block on, catch panics from or abort, and the guide's names at the crate root.
//!
//! ```
//! use weft::{spawn, JoinHandle};
//!
//! async fn worker(id: u32) -> u32 {
//!     weft::yield_now().await;
//!     id * 10
//! }
//!
//! #[weft::main]
//! async fn main() {
//!     let handles: Vec<JoinHandle<u32>> = (1..=3).map(|id| spawn(worker(id))).collect();
//!     let mut total = 0;
//!     for h in handles {
//!         total += h.await;
//!     }
//!     assert_eq!(total, 60);
//! }
//! ```
//!
//! # Running async code
//!
//! - [`block_on`] drives a future on the calling thread; [`spawn`] runs it as a task.
//! - `#[weft::main]` and `#[weft::test]` turn an `async fn` into a sync entry point.
//! - [`Executor`] is an executor you size, spawn on, block on and shut down.
//! - Outside any executor, [`spawn`] uses a global runtime started on first use.
//!
//! # Tasks and panics
//!
//! A panic in a task never takes down a worker. It is captured and resumes in whoever awaits
//! (or [`join`](JoinHandle::join)s) the handle; [`JoinHandle::catch`] returns it as
//! [`JoinError::Panicked`] with the panic message instead.

#![deny(unsafe_op_in_unsafe_fn)]
// Under loom only the lock-free cores are exercised; the rest of the runtime is idle there.
#![cfg_attr(weft_loom, allow(dead_code, unused_imports))]

// Lets `select!` (which names `::weft`) expand inside this crate's own tests.
extern crate self as weft;

// The book's chapters, compiled and run as doctests (see `book.rs`).
#[cfg(doctest)]
mod book;
pub mod channel;
pub mod fs;
pub mod future;
#[cfg(feature = "http")]
pub mod http;
pub mod io;
mod loom;
pub mod net;
mod rng;
pub mod runtime;
pub mod signal;
pub mod sync;
mod sys;
pub mod task;
pub mod time;

pub use channel::select::select;
pub use channel::{Channel, SendError, TryRecvError, TrySendError};
pub use future::{join, race, retry, try_join, Backoff, FutureExt};
pub use runtime::{Builder, Executor};
pub use task::{scope, spawn, spawn_blocking, yield_now, JoinError, JoinHandle};
pub use time::{sleep, sleep_until, timeout, TimeoutError};

/// Marks an `async fn main` to run on weft: the body is driven by [`block_on`] and `spawn`
/// uses the global runtime (one worker per core). `#[weft::main(workers = N)]` runs it on a
/// dedicated executor with `N` workers instead, shut down when `main` returns.
///
/// ```
/// #[weft::main(workers = 2)]
/// async fn main() {
///     let h = weft::spawn(async { 1 });
///     assert_eq!(h.await, 1);
/// }
/// ```
pub use weft_macros::main;

/// Marks an `async fn` test: each test runs on its own multi-thread executor (one worker per
/// core, or `#[weft::test(workers = N)]`), shut down when the test returns.
/// `start_paused = true` starts it with the executor's clock paused (see
/// [`time::pause`]): timers then take no real time.
///
/// (Documentation examples only compile `#[test]` functions; the paused-clock ones below run
/// in the crate's own test suite, `tests/time_paused.rs`.)
///
/// ```no_run
/// #[weft::test(workers = 2)]
/// async fn adds() {
///     assert_eq!(weft::spawn(async { 1 + 1 }).await, 2);
/// }
///
/// #[weft::test(workers = 2, start_paused = true)]
/// async fn an_hour_in_no_time() {
///     let start = weft::time::Instant::now();
///     weft::sleep(std::time::Duration::from_secs(3600)).await;
///     assert_eq!(start.elapsed(), std::time::Duration::from_secs(3600));
/// }
/// ```
pub use weft_macros::test;

/// Waits on several channel operations and futures at once; exactly one arm takes effect, as
/// in Go's `select`.
///
/// ```text
/// weft::select! {
///     biased;                                   // optional: poll arms in order, not at random
///     pattern = expression, if condition => handler,
///     default => handler,                       // optional: taken at once if nothing is ready
/// }
/// ```
///
/// - Arms are channel operations (`ch.recv()`, `ch.send(v)`, written as the arm's expression)
///   and any other futures. A channel future that was already polled is pinned (it is linked
///   into its channel), so it can only be passed pinned (`fut.as_mut()`): it is then polled as a
///   plain future and does not get the exactly-one guarantee, as it stays parked in its channel
///   whichever arm wins. Write the operation in the arm (or pass a future not yet polled, by
///   value) to get the guarantee. Every enabled arm's expression is evaluated once, in order,
///   before waiting; an arm whose `if` condition is false is not evaluated at all.
/// - **Exactly one arm takes effect.** A send arm that loses never delivers its value and a recv
///   arm that loses never consumes one, also on unbuffered channels with peers racing on other
///   threads. A select never matches its own send with its own receive.
/// - Among arms ready at once, one is chosen uniformly at random (`biased;` picks the first).
/// - A recv arm on a closed channel is ready with `None`; a send arm on a closed channel is
///   ready with `Err(SendError(v))`.
/// - A future arm is polled only while no channel arm can take effect at the same time.
/// - A refutable pattern that does not match disables its arm for the rest of that select and
///   drops the value it received (`Some(v) = ch.recv()` skips a closed channel).
/// - Handlers run after the select finished (its arms are dropped by then) and may `.await`,
///   `break`, `continue` and `return` as the enclosing code could.
/// - Dropped before it completes, a select has let at most one arm take effect; a value a peer
///   handed to one of its recv arms is put back, first in line.
///
/// # Panics
///
/// Panics if every arm is disabled (by `if` conditions or refutable patterns) and there is no
/// `default` arm, as `tokio::select!` does: there would be nothing left to wait for.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::Channel;
///
/// # weft::block_on(async {
/// let ints = Channel::<i32>::with_capacity(1);
/// let words = Channel::<String>::with_capacity(1);
/// words.send("hi".to_owned()).await.unwrap();
/// weft::select! {
///     v = ints.recv() => println!("int: {v:?}"),
///     s = words.recv() => assert_eq!(s.as_deref(), Some("hi")),
///     _ = weft::sleep(Duration::from_secs(1)) => println!("timeout"),
/// }
/// let picked = weft::select! {
///     v = ints.recv() => v,
///     default => None,
/// };
/// assert_eq!(picked, None);
/// # });
/// ```
pub use weft_macros::select;

/// Awaits several futures of any types concurrently (in the calling task) and evaluates to the
/// tuple of their outputs, like `tokio::join!`. Use it inside async code; it awaits by itself.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let (a, b) = weft::join!(async { 1 }, async { "two" });
/// assert_eq!((a, b), (1, "two"));
/// # });
/// ```
pub use weft_macros::join;

/// Awaits several futures of `Result`s concurrently: `Ok` with the tuple of their values, or
/// the first `Err`, in which case the futures still running are dropped (cancelled) before it
/// evaluates. All errors must have the same type.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let ok: Result<(i32, &str), String> = weft::try_join!(async { Ok(1) }, async { Ok("two") });
/// assert_eq!(ok, Ok((1, "two")));
/// let err: Result<(i32, i32), &str> = weft::try_join!(async { Ok(1) }, async { Err("no") });
/// assert_eq!(err, Err("no"));
/// # });
/// ```
pub use weft_macros::try_join;

/// Drives `future` to completion on the calling thread and returns its output.
///
/// `weft::spawn` inside it uses the global runtime (unless this thread is inside an
/// [`Executor::block_on`]).
///
/// # Panics
///
/// Panics when called on a worker thread (inside async code): use `.await` there.
///
/// # Examples
///
/// ```
/// let v = weft::block_on(async {
///     let h = weft::spawn(async { 21 });
///     h.await * 2
/// });
/// assert_eq!(v, 42);
/// ```
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    runtime::block_on::assert_not_worker("weft::block_on");
    runtime::block_on::block_on(future, runtime::try_global().map(|g| g.shared().clone()))
}
