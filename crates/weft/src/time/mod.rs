//! Time: sleeping, timeouts and intervals.
//!
//! ```
//! use std::time::Duration;
//!
//! # weft::block_on(async {
//! weft::sleep(Duration::from_millis(10)).await;
//!
//! match weft::timeout(weft::sleep(Duration::from_secs(5)), Duration::from_millis(10)).await {
//!     Ok(()) => println!("finished in time"),
//!     Err(weft::TimeoutError) => println!("timed out"),
//! }
//! # });
//! ```
//!
//! Timers never fire early: a sleep completes only once `Instant::now()` has reached its
//! deadline. The wheels sort timers into 1 ms slots but keep each exact deadline, and a worker
//! parks until the exact deadline of its earliest timer, so wake-ups are not rounded up to the
//! next millisecond. Each worker keeps its own hierarchical timing wheel (6 levels of 64 slots);
//! an idle worker parks until the next timer of any wheel and fires what is due on all of
//! them, so a worker stuck in a long poll does not hold up its timers. A sleep polled outside
//! the workers (in `block_on` on a plain thread) registers on a worker of the executor it is
//! inside, or of the global runtime.
//!
//! # Paused time in tests
//!
//! [`pause`] stops the executor's clock: [`Instant::now`] stands still, [`advance`] moves it,
//! and while nothing in the executor can run it jumps to the next timer by itself, so tests
//! of long timeouts, backoffs and rate limits take no real time. `#[weft::test(start_paused =
//! true)]` starts a test that way. Read the time through [`Instant`] (a `std::time::Instant`
//! underneath) to follow the paused clock; `std::time::Instant::now()` keeps reading the real
//! one.
//!
//! ```
//! use std::time::Duration;
//!
//! let executor = weft::Executor::new(2);
//! let took = executor.block_on(async {
//!     weft::time::pause();
//!     let start = weft::time::Instant::now();
//!     let out = weft::timeout(std::future::pending::<()>(), Duration::from_secs(3600)).await;
//!     assert_eq!(out, Err(weft::TimeoutError));
//!     start.elapsed()
//! });
//! assert_eq!(took, Duration::from_secs(3600));
//! ```

mod instant;
mod interval;
mod pause;
mod sleep;
mod timeout;

pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use pause::{advance, pause, resume};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Timeout, TimeoutError};
