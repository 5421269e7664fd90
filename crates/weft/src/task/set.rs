//! `TaskSet`: a set of spawned tasks to join as they finish.

#![forbid(unsafe_code)]

use super::{spawn, JoinError, JoinHandle};
use slab::Slab;
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

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
    tasks: Slab<Entry<T>>,
    /// Keys of the tasks that woke since the last look (and of those never polled yet).
    ready: Arc<Ready>,
    /// Keys taken from `ready` and not looked at yet.
    to_poll: VecDeque<usize>,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    /// Puts this entry's key on the ready list: so a wake-up names the task that finished,
    /// and `join_next` polls only that one instead of scanning the set.
    waker: Waker,
}

type Ready = Mutex<ReadyState>;

#[derive(Default)]
struct ReadyState {
    keys: Vec<usize>,
    /// The task waiting in `join_next`.
    waker: Option<Waker>,
}

fn lock(ready: &Ready) -> std::sync::MutexGuard<'_, ReadyState> {
    ready.lock().unwrap_or_else(|e| e.into_inner())
}

/// The waker a task of the set is polled with.
struct KeyWaker {
    key: usize,
    ready: Arc<Ready>,
}

impl Wake for KeyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiter = {
            let mut st = lock(&self.ready);
            st.keys.push(self.key);
            st.waker.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
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
        Self {
            tasks: Slab::new(),
            ready: Arc::default(),
            to_poll: VecDeque::new(),
        }
    }
}

impl<T: Send + 'static> TaskSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns a task (as [`weft::spawn`](crate::spawn) does) into the set.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(spawn(future));
    }

    fn insert(&mut self, handle: JoinHandle<T>) {
        let key = self.tasks.vacant_key();
        let waker = Waker::from(Arc::new(KeyWaker {
            key,
            ready: self.ready.clone(),
        }));
        self.tasks.insert(Entry { handle, waker });
        // Polled at the next `join_next`, which registers its waker.
        self.to_poll.push_back(key);
    }

    /// Moves every task of `other` into this set, leaving `other` empty.
    pub(crate) fn append(&mut self, other: &mut TaskSet<T>) {
        for entry in other.tasks.drain() {
            self.insert(entry.handle);
        }
        other.to_poll.clear();
        lock(&other.ready).keys.clear();
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

    /// Polls only the tasks that woke since the last look: O(1) per finished task, whatever
    /// the size of the set. (A key may be listed twice, or outlive its entry, or name an entry
    /// that reused it: each costs one spurious poll.)
    pub(crate) fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        {
            let mut st = lock(&self.ready);
            match &st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.waker = Some(cx.waker().clone()),
            }
            self.to_poll.extend(st.keys.drain(..));
        }
        while let Some(key) = self.to_poll.pop_front() {
            let Some(entry) = self.tasks.get_mut(key) else {
                continue;
            };
            let mut task_cx = Context::from_waker(&entry.waker);
            if let Poll::Ready(res) = entry.handle.poll_catch(&mut task_cx) {
                drop(self.tasks.remove(key));
                return Poll::Ready(res);
            }
        }
        // Every task still in the set has its waker registered: each one that finishes (or
        // that ran out of budget above) lists itself and wakes us.
        Poll::Pending
    }

    /// Aborts every task in the set; they stay in it until joined (as `Cancelled`, unless they
    /// had already finished).
    pub fn abort_all(&self) {
        for (_, e) in &self.tasks {
            e.handle.abort();
        }
    }
}

impl<T> Drop for TaskSet<T> {
    fn drop(&mut self) {
        for (_, e) in &self.tasks {
            e.handle.abort();
        }
    }
}
