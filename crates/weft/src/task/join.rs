//! `JoinHandle`, the handle to a spawned task, and `JoinError`.

use crate::runtime::block_on;
use crate::runtime::scheduler::coop;
pub(crate) use crate::runtime::task::{Output, Panic};
use crate::runtime::task::{Task, TaskMeta};
use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{ready, Context, Poll};

/// Why a task did not produce its value.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let handle = weft::spawn(async { panic!("boom") });
/// let err: weft::JoinError = handle.catch().await.unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.to_string(), "task panicked: boom");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task panicked; this is the panic message (`&str` and `String` payloads), or a note
    /// that the payload was of another type.
    Panicked(String),
    /// The task was aborted, or its executor shut down, before it finished.
    Cancelled,
}

impl JoinError {
    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    fn from_panic(panic: &Panic) -> Self {
        let msg = if let Some(s) = panic.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = panic.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic payload of a type other than &str or String".to_owned()
        };
        JoinError::Panicked(msg)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(msg) => write!(f, "task panicked: {msg}"),
            JoinError::Cancelled => f.write_str("task was cancelled"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The task, and its metadata (kept apart: `FallibleTask` does not expose it).
struct Running<T>(async_task::FallibleTask<Output<T>, TaskMeta>, MetaRef);

/// A pointer to the metadata inside a task allocation.
struct MetaRef(NonNull<TaskMeta>);

impl MetaRef {
    fn get(&self) -> &TaskMeta {
        // SAFETY: the pointer was taken from the task's own metadata, which lives in the task
        // allocation; `MetaRef` sits beside the `FallibleTask` in `Inner::Running`, and that
        // handle keeps the allocation alive for as long as the variant (and so this) exists.
        unsafe { self.0.as_ref() }
    }
}

// SAFETY: `MetaRef` only hands out `&TaskMeta`, and `TaskMeta` is `Sync` (atomics and an
// `Arc<Shared>`); it is equivalent to the `&TaskMeta` that `Task::metadata` would give.
unsafe impl Send for MetaRef {}
// SAFETY: as above.
unsafe impl Sync for MetaRef {}

/// A handle to a spawned task.
///
/// - `.await` gives the task's output; if the task panicked, the panic resumes in the awaiter.
/// - [`catch`](JoinHandle::catch) gives `Result<T, JoinError>` instead.
/// - [`join`](JoinHandle::join) blocks the calling (non-worker) thread until the output is ready.
/// - [`abort`](JoinHandle::abort) cancels the task; its future is dropped on a worker.
/// - Dropping the handle detaches the task: it keeps running, and its output is dropped.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let handle = weft::spawn(async { 40 + 2 });
/// assert_eq!(handle.await, 42);
/// # });
/// ```
pub struct JoinHandle<T> {
    /// `None` once the output has been taken.
    inner: Option<Running<T>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: Task<T>) -> Self {
        let meta = MetaRef(NonNull::from(task.metadata()));
        Self {
            inner: Some(Running(task.fallible(), meta)),
        }
    }

    /// Cancels the task. If it has not finished, its future is dropped (on a worker, soon after
    /// this call) and awaiting the handle gives [`JoinError::Cancelled`] through
    /// [`catch`](JoinHandle::catch). A task that already finished keeps its output. A task on
    /// the blocking pool can be aborted only before it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// # weft::block_on(async {
    /// let handle = weft::spawn(std::future::pending::<()>());
    /// handle.abort();
    /// assert!(handle.catch().await.unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn abort(&self) {
        if let Some(Running(task, meta)) = &self.inner {
            // A finished task's registry slot may already belong to another task.
            if !task.is_finished() {
                meta.get().abort();
            }
        }
    }

    /// True once the task has completed, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Some(Running(task, _)) => task.is_finished(),
            None => true,
        }
    }

    /// A future that resolves to the task's output, or to a [`JoinError`] if it panicked or was
    /// cancelled, instead of resuming the panic.
    pub fn catch(self) -> Catch<T> {
        Catch(self)
    }

    /// Blocks the calling thread until the task finishes and returns its output; a panic in the
    /// task resumes here.
    ///
    /// # Panics
    ///
    /// Panics if called on a weft worker thread (inside async code): blocking a worker could
    /// deadlock it. Use `.await` there.
    pub fn join(self) -> T {
        block_on::assert_not_worker("JoinHandle::join");
        block_on::block_on(self, None)
    }

    /// Polls for the output as `catch` would, without consuming the handle.
    pub(crate) fn poll_catch(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        Poll::Ready(match ready!(self.poll_output(cx)) {
            Ok(v) => Ok(v),
            Err(Some(panic)) => Err(JoinError::from_panic(&panic)),
            Err(None) => Err(JoinError::Cancelled),
        })
    }

    /// Polls for the output; `Err(Some(payload))` if the task panicked, `Err(None)` if it was
    /// cancelled.
    fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Option<Panic>>> {
        let Some(Running(task, _)) = &mut self.inner else {
            panic!("JoinHandle polled after it returned the output");
        };
        let coop = ready!(coop::poll_proceed(cx));
        let out = ready!(Pin::new(task).poll(cx));
        coop.made_progress();
        self.inner = None;
        Poll::Ready(match out {
            Some(Ok(v)) => Ok(v),
            Some(Err(panic)) => Err(Some(panic)),
            None => Err(None),
        })
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    /// Resolves to the task's output.
    ///
    /// # Panics
    ///
    /// Resumes the task's panic if it panicked, and panics if the task was cancelled (aborted,
    /// or its executor shut down); use [`JoinHandle::catch`] to handle those as values.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match ready!(self.get_mut().poll_output(cx)) {
            Ok(v) => Poll::Ready(v),
            Err(Some(panic)) => resume_unwind(panic),
            Err(None) => panic!(
                "awaited a task that was cancelled (aborted, or its executor shut down); \
                 use JoinHandle::catch to handle cancellation"
            ),
        }
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(Running(task, _)) = self.inner.take() {
            task.detach();
        }
    }
}

/// The future returned by [`JoinHandle::catch`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Catch<T>(JoinHandle<T>);

impl<T> Catch<T> {
    /// Cancels the task, as [`JoinHandle::abort`] does.
    pub fn abort(&self) {
        self.0.abort();
    }
}

impl<T> Future for Catch<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.get_mut().0.poll_output(cx)) {
            Ok(v) => Ok(v),
            Err(Some(panic)) => Err(JoinError::from_panic(&panic)),
            Err(None) => Err(JoinError::Cancelled),
        })
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use crate::Executor;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn wait_for(flag: &AtomicBool) {
        let start = Instant::now();
        while !flag.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn output_panic_and_cancellation_come_back_through_the_handle() {
        let ex = Executor::new(1);
        assert_eq!(ex.spawn(async { 7 }).join(), 7);
        let err = ex.block_on(ex.spawn(async { panic!("boom") }).catch());
        assert_eq!(err, Err(JoinError::Panicked("boom".into())));
        let pending = ex.spawn(std::future::pending::<()>());
        pending.abort();
        assert_eq!(ex.block_on(pending.catch()), Err(JoinError::Cancelled));
    }

    #[test]
    fn a_dropped_handle_detaches_its_task() {
        let ex = Executor::new(1);
        let ran = Arc::new(AtomicBool::new(false));
        let (go, wait) = crate::sync::oneshot::channel::<()>();
        let flag = ran.clone();
        drop(ex.spawn(async move {
            let _ = wait.await;
            flag.store(true, Ordering::SeqCst);
        }));
        go.send(()).unwrap();
        wait_for(&ran);
    }

    /// Aborting through a handle whose task finished touches no registry slot: the slot may
    /// belong to another task by then, which must keep running.
    #[test]
    fn aborting_a_finished_task_leaves_its_old_slot_alone() {
        let ex = Executor::new(1);
        let finished = ex.spawn(async { 1 });
        while !finished.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Likely reuses the finished task's registry slot.
        let (go, wait) = crate::sync::oneshot::channel::<u32>();
        let other = ex.spawn(async move { wait.await.unwrap() });
        finished.abort();
        go.send(5).unwrap();
        assert_eq!(other.join(), 5);
        assert!(finished.is_finished());
    }

    #[test]
    fn is_finished_follows_the_task() {
        let ex = Executor::new(1);
        let (go, wait) = crate::sync::oneshot::channel::<()>();
        let h = ex.spawn(async move {
            let _ = wait.await;
        });
        assert!(!h.is_finished());
        go.send(()).unwrap();
        let start = Instant::now();
        while !h.is_finished() {
            assert!(start.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
        h.join();
    }
}
