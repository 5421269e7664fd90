//! `TaskSet`: a set of spawned tasks to join as they finish.

use super::{spawn, JoinError, JoinHandle};
use std::fmt;
use std::future::{poll_fn, Future};
use std::task::{Context, Poll};

/// A set of tasks of the same output type: [`spawn`](TaskSet::spawn) into it,
/// [`join_next`](TaskSet::join_next) them in the order they finish, and
/// [`abort_all`](TaskSet::abort_all). Dropping the set aborts every task still in it.
///
/// # Examples
///
/// ```
/// use weft::task::TaskSet;
///
/// # weft::block_on(async {
/// let mut set = TaskSet::new();
/// for i in 0..3 {
///     set.spawn(async move { i * 2 });
/// }
/// let mut sum = 0;
/// while let Some(res) = set.join_next().await {
///     sum += res.unwrap();
/// }
/// assert_eq!(sum, 6);
/// # });
/// ```
pub struct TaskSet<T> {
    tasks: Vec<JoinHandle<T>>,
}

impl<T> fmt::Debug for TaskSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet")
            .field("len", &self.tasks.len())
            .finish()
    }
}

impl<T> Default for TaskSet<T> {
    fn default() -> Self {
        Self { tasks: Vec::new() }
    }
}

impl<T: Send + 'static> TaskSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns a task (as [`weft::spawn`](crate::spawn) does) into the set.
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.tasks.push(spawn(future));
    }

    /// Number of tasks not yet joined.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True if no task is left to join.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for the next task to finish and returns its result (`Err` if it panicked or was
    /// aborted); `None` once the set is empty. Cancel-safe: dropped before it completes, no
    /// task is lost from the set.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        if self.tasks.is_empty() {
            return None;
        }
        Some(poll_fn(|cx| self.poll_join_next(cx)).await)
    }

    fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        // Every handle registers the waker, so any task finishing wakes this one. The scan is
        // O(n) per wake-up; fine for the sets of tens to thousands this is used for.
        for i in 0..self.tasks.len() {
            if let Poll::Ready(res) = self.tasks[i].poll_catch(cx) {
                drop(self.tasks.swap_remove(i));
                return Poll::Ready(res);
            }
        }
        Poll::Pending
    }

    /// Aborts every task in the set; they stay in it until joined (as `Cancelled`, unless they
    /// had already finished).
    pub fn abort_all(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl<T> Drop for TaskSet<T> {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
