//! Combinators over futures: [`join`], [`try_join`], [`race`], [`retry`] with [`Backoff`],
//! and [`FutureExt::timeout`]; the `join!` and `try_join!` macros are at the crate root.

#![forbid(unsafe_code)]

mod join;
#[doc(hidden)]
pub mod maybe_done;
mod retry;

pub use join::{join, race, try_join, Join, Race, TryJoin};
pub use retry::{retry, Backoff, Retry};

use crate::time::{timeout, Timeout};
use std::future::Future;
use std::time::Duration;

/// Extra methods on every future.
pub trait FutureExt: Future + Sized {
    /// Runs the future with a time limit; see [`weft::timeout`](crate::timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft::FutureExt;
    /// # weft::block_on(async {
    /// let out = async { 5 }.timeout(Duration::from_secs(1)).await;
    /// assert_eq!(out, Ok(5));
    /// # });
    /// ```
    fn timeout(self, duration: Duration) -> Timeout<Self> {
        timeout(self, duration)
    }
}

impl<F: Future> FutureExt for F {}
