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

mod interval;
mod sleep;
mod timeout;

pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Timeout, TimeoutError};
