//! `Builder`: spawning a task with a name.

use super::JoinHandle;
use crate::runtime::task::TaskInfo;
use crate::runtime::{context, global};
use crate::Executor;
use std::future::Future;
use std::panic::Location;

/// Spawns a task with a name, which task dumps
/// ([`Executor::dump`](crate::Executor::dump)), stall reports and `tracing` spans show beside
/// its id and spawn site.
///
/// # Examples
///
/// ```
/// let executor = weft::Executor::new(1);
/// let handle = weft::task::Builder::new()
///     .name("fetcher")
///     .spawn_on(async { 7 }, &executor);
/// assert_eq!(handle.join(), 7);
///
/// // Inside a task (or anywhere, as `weft::spawn`):
/// let handle = weft::task::Builder::new().name("answer").spawn(async { 42 });
/// assert_eq!(handle.join(), 42);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
}

impl Builder {
    /// A builder for an unnamed task.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn info(self, location: &'static Location<'static>) -> TaskInfo {
        TaskInfo::new(self.name.map(String::into_boxed_str), location)
    }

    /// Spawns the task where [`weft::spawn`](crate::spawn) would: onto the executor running
    /// the caller, else the global runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let info = self.info(Location::caller());
        match context::current() {
            Some(shared) => shared.spawn_with(future, info),
            None => global().shared().spawn_with(future, info),
        }
    }

    /// Spawns the task onto `executor`.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, executor: &Executor) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let info = self.info(Location::caller());
        executor.shared().spawn_with(future, info)
    }
}
