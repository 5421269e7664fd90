//! `scope`: structured concurrency. Every task spawned on a scope has finished before the
//! scope returns.

#![forbid(unsafe_code)]

use super::{JoinError, TaskSet};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};

/// A handle to spawn tasks that [`scope`] waits for. Cheap to clone.
#[derive(Clone)]
pub struct Scope {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Tasks spawned since [`scope`] last looked; it moves them into its own set.
    tasks: TaskSet<()>,
    /// A task panicked, or the scope ended or was dropped: what is left is being cancelled,
    /// and nothing spawned from now on runs.
    cancelled: bool,
    /// The `scope` future, woken by each spawn so that it watches the new task at once.
    waker: Option<Waker>,
}

/// What the children of a scope are doing.
enum Children {
    /// One of them panicked, with this message.
    Panicked(String),
    /// Some are still running; the caller is woken when one finishes or is spawned.
    Running,
    /// None is left.
    Done,
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl Scope {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Aborts every task left, and every task spawned from now on.
    fn cancel(&self) {
        let mut st = self.state();
        st.cancelled = true;
        st.tasks.abort_all();
    }

    /// Spawns a task that the scope waits for. Once a task of the scope has panicked, the
    /// scope is cancelling: a task spawned then is dropped without running.
    #[track_caller]
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut st = self.state();
        if st.cancelled {
            // Dropped after the lock is released: its destructor may use the scope.
            drop(st);
            drop(future);
            return;
        }
        st.tasks.spawn(future);
        let waker = st.waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Moves newly spawned tasks into `children` and joins those that finished, stopping at the
    /// first panic. With `closing` (the body has returned), finding no task left closes the
    /// scope under the same lock, so no spawn can slip in after the last look.
    fn poll_children(
        &self,
        children: &mut TaskSet<()>,
        closing: bool,
        cx: &mut Context<'_>,
    ) -> Children {
        loop {
            {
                let mut st = self.state();
                match &st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.waker = Some(cx.waker().clone()),
                }
                if !st.tasks.is_empty() {
                    children.append(&mut st.tasks);
                } else if children.is_empty() {
                    st.cancelled |= closing;
                    return Children::Done;
                }
            }
            match children.poll_join_next(cx) {
                Poll::Ready(Err(JoinError::Panicked(msg))) => return Children::Panicked(msg),
                Poll::Ready(_) => {}
                Poll::Pending => return Children::Running,
            }
        }
    }
}

/// Runs `body` with a [`Scope`] and waits, before returning, for every task spawned on it
/// (including tasks those tasks spawn on it). The children are watched while the body runs:
/// as soon as one panics, the other children and the body itself are cancelled (a task
/// spawned on the scope after that does not run) and, once the children are gone, the panic
/// resumes here, without waiting for the body to return. If the scope future itself is
/// dropped, its tasks are cancelled. A `Scope` kept past the end of `scope` spawns nothing.
///
/// The guide's structured concurrency: "all tasks complete before the function returns".
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// # weft::block_on(async {
/// let done = Arc::new(AtomicU32::new(0));
/// weft::scope(|s| {
///     let done = done.clone();
///     async move {
///         for _ in 0..3 {
///             let done = done.clone();
///             s.spawn(async move {
///                 weft::yield_now().await;
///                 done.fetch_add(1, Ordering::SeqCst);
///             });
///         }
///     }
/// })
/// .await;
/// assert_eq!(done.load(Ordering::SeqCst), 3);
/// # });
/// ```
pub async fn scope<F, Fut, R>(body: F) -> R
where
    F: FnOnce(Scope) -> Fut,
    Fut: Future<Output = R>,
{
    let scope = Scope {
        state: Arc::new(Mutex::new(State::default())),
    };
    // Dropping `guard` (also when this future is cancelled) aborts what is left in the shared
    // set; dropping `children` aborts the rest.
    let guard = ScopeGuard(scope.clone());
    let mut children = TaskSet::new();
    let mut body = pin!(Some(body(scope.clone())));
    let mut out = None;
    let end = poll_fn(|cx| loop {
        let closing = out.is_some();
        match scope.poll_children(&mut children, closing, cx) {
            Children::Panicked(msg) => return Poll::Ready(Err(msg)),
            Children::Done => {
                if let Some(v) = out.take() {
                    return Poll::Ready(Ok(v));
                }
            }
            Children::Running => {}
        }
        let Some(fut) = body.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let v = ready!(fut.poll(cx));
        out = Some(v);
        body.set(None);
    })
    .await;
    match end {
        Ok(v) => {
            drop(guard);
            v
        }
        Err(msg) => {
            children.abort_all();
            scope.cancel();
            // Spawns made by the body's destructors find the scope cancelled.
            body.set(None);
            let mut late = std::mem::take(&mut scope.state().tasks);
            children.append(&mut late);
            while children.join_next().await.is_some() {}
            drop(guard);
            std::panic::resume_unwind(Box::new(msg))
        }
    }
}

struct ScopeGuard(Scope);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
