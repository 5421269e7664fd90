//! `scope`: structured concurrency. Every task spawned on a scope has finished before the
//! scope returns.

use super::{JoinError, TaskSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// A handle to spawn tasks that [`scope`] waits for. Cheap to clone.
#[derive(Clone)]
pub struct Scope {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    tasks: TaskSet<()>,
    /// A task panicked (or the scope was dropped): what is left is being cancelled, and
    /// nothing spawned from now on runs.
    cancelled: bool,
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
    }
}

/// Runs `body` with a [`Scope`] and waits, before returning, for every task spawned on it
/// (including tasks those tasks spawn on it). If a task panics, the others are cancelled (a
/// task spawned on the scope after that does not run) and, once they are gone, the panic
/// resumes here. If the scope future itself is dropped, its tasks are cancelled. A `Scope`
/// kept past the end of `scope` spawns nothing.
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
    // Dropping `guard` (also when this future is cancelled) aborts what is left.
    let guard = ScopeGuard(scope.clone());
    let out = body(scope.clone()).await;
    let mut failure: Option<String> = None;
    loop {
        // Take the set out so no lock is held across the await; tasks spawned meanwhile land
        // in the (now empty) shared set and are picked up on the next round.
        let mut set = std::mem::take(&mut scope.state().tasks);
        if set.is_empty() {
            break;
        }
        while let Some(res) = set.join_next().await {
            if let Err(JoinError::Panicked(msg)) = res {
                if failure.is_none() {
                    failure = Some(msg);
                    set.abort_all();
                    scope.cancel();
                }
            }
        }
    }
    drop(guard);
    if let Some(msg) = failure {
        std::panic::resume_unwind(Box::new(msg));
    }
    out
}

struct ScopeGuard(Scope);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
