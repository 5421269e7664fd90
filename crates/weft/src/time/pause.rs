//! Pausing the clock in tests: `pause`, `resume` and `advance`.

#![forbid(unsafe_code)]

use crate::runtime::clock::nanos;
use crate::runtime::shared::Shared;
use crate::runtime::{context, global};
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// The executor these calls act on: the current one, else the global runtime.
fn target() -> Arc<Shared> {
    context::current().unwrap_or_else(|| global().shared().clone())
}

/// Stops the current executor's clock (the global runtime's outside any), for tests.
///
/// From then on [`Instant::now`](crate::time::Instant::now) stands still and moves only when
/// [advanced](advance), or by itself when nothing in the executor can run: once every worker
/// is parked, no `block_on` thread of the executor is running its future, and no
/// [`spawn_blocking`](crate::spawn_blocking) job is queued or running, the clock jumps to the
/// next timer's deadline and fires it (auto-advance). So a test of a one-hour backoff
/// finishes at once, and deterministically. I/O does not hold auto-advance back: a task
/// waiting on a socket under a timeout sees the timeout at once if nothing else runs. Every
/// weft timer follows the paused clock (`sleep`, `timeout`, `interval`, `retry`'s backoff,
/// `RateLimiter`, the accept back-off, the HTTP timeouts). Does nothing if already paused.
///
/// `#[weft::test(start_paused = true)]` runs a test with its clock paused from the start.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
///
/// let executor = weft::Executor::new(2);
/// executor.block_on(async {
///     weft::time::pause();
///     let start = Instant::now();
///     let real = std::time::Instant::now();
///     weft::sleep(Duration::from_secs(3600)).await; // jumps: nothing else to run
///     assert!(start.elapsed() >= Duration::from_secs(3600));
///     assert!(real.elapsed() < Duration::from_secs(60));
/// });
/// ```
pub fn pause() {
    target().pause_clock();
}

/// Lets the current executor's clock run again, from the time it was paused at (plus what it
/// was advanced by). Does nothing if it is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
///
/// let executor = weft::Executor::new(1);
/// executor.block_on(async {
///     weft::time::pause();
///     let start = Instant::now();
///     weft::time::advance(Duration::from_secs(60)).await;
///     weft::time::resume();
///     weft::sleep(Duration::from_millis(5)).await; // real time again
///     assert!(start.elapsed() >= Duration::from_secs(60) + Duration::from_millis(5));
/// });
/// ```
pub fn resume() {
    target().resume_clock();
}

/// Moves the current executor's paused clock forward by `duration`, firing the timers due on
/// the way in deadline order. It first waits until the tasks that can run have run (and
/// registered their timers); then the clock steps to each deadline in turn, fires its timers, and
/// waits until the tasks they woke have nothing left to run (every worker parked, as for
/// auto-advance) before taking the next step. It ends at exactly `duration` after the time it
/// started from.
///
/// A task that never stops running (a loop that only yields) holds each step back, as it
/// holds back auto-advance.
///
/// # Panics
///
/// Panics if the clock is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let executor = weft::Executor::new(2);
/// executor.block_on(async {
///     weft::time::pause();
///     let done = weft::spawn(weft::sleep(Duration::from_secs(10)));
///     weft::time::advance(Duration::from_secs(10)).await;
///     assert!(done.is_finished());
/// });
/// ```
pub async fn advance(duration: Duration) {
    let shared = target();
    assert!(
        shared.clock.is_paused(),
        "weft::time::advance: the clock is not paused (call weft::time::pause first)"
    );
    let target = shared.clock.now().saturating_add(nanos(duration));
    // What is runnable now runs first (and registers its timers).
    settled(&shared).await;
    while shared.advance_step(target) {
        settled(&shared).await;
    }
}

/// Waits until nothing else in the executor can run.
async fn settled(shared: &Shared) {
    let mut registered = false;
    poll_fn(|cx| {
        if registered {
            Poll::Ready(())
        } else {
            registered = true;
            shared.wait_settled(cx.waker());
            Poll::Pending
        }
    })
    .await;
}
