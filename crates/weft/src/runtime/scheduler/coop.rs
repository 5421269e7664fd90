//! The cooperative budget.
//!
//! Each task poll on a worker starts with [`BUDGET`] units. weft's own leaf futures (join
//! handles, channels, selects and timers) spend one unit per operation that completes, and
//! return `Pending` (after waking the task) once the budget is gone. A task that is always
//! ready therefore yields back to the scheduler after a bounded number of operations and
//! cannot starve the other tasks on its worker. `weft::task::unconstrained` opts a future out.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may complete in one poll before it is made to yield (tokio uses 128 too).
pub(crate) const BUDGET: u8 = 128;

thread_local! {
    static CURRENT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Restores the previous budget when dropped.
#[derive(Debug)]
pub(crate) struct BudgetGuard(Option<u8>);

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Gives the current thread a fresh budget until the guard drops.
pub(crate) fn with_budget() -> BudgetGuard {
    BudgetGuard(CURRENT.with(|c| c.replace(Some(BUDGET))))
}

/// Spends one unit of budget, or wakes the task and returns `Pending` if none is left.
///
/// Outside a worker (no budget set) this always returns `Ready`. The unit is given back when
/// the returned guard is dropped without [`RestoreOnPending::made_progress`]: only operations
/// that complete spend budget, so a future that keeps waiting (a join handle, a sleep) does not
/// drain it.
// Inline: channels and other generic leaf futures are instantiated in the user's crate, and
// this is on their every operation.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    CURRENT.with(|c| match c.get() {
        Some(0) => {
            exhausted();
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            c.set(Some(n - 1));
            Poll::Ready(RestoreOnPending(true))
        }
        None => Poll::Ready(RestoreOnPending(false)),
    })
}

/// Counts an exhausted budget on this worker.
#[cold]
fn exhausted() {
    if cfg!(feature = "metrics") {
        crate::runtime::context::with_worker(|w| {
            if let Some(w) = w {
                w.counters().budget_exhausted.incr();
            }
        });
    }
}

/// Gives a spent unit back unless the operation made progress.
#[derive(Debug)]
pub(crate) struct RestoreOnPending(bool);

impl RestoreOnPending {
    /// The operation completed: the unit stays spent.
    #[inline]
    pub(crate) fn made_progress(mut self) {
        self.0 = false;
    }
}

impl Drop for RestoreOnPending {
    #[inline]
    fn drop(&mut self) {
        if self.0 {
            CURRENT.with(|c| {
                if let Some(n) = c.get() {
                    c.set(Some(n.saturating_add(1)));
                }
            });
        }
    }
}

/// Runs `f` with no budget limit (the previous budget is restored after).
pub(crate) fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(None));
    let _restore = BudgetGuard(prev);
    f()
}

/// Units left to the current task, if it runs under a budget.
#[cfg(test)]
pub(crate) fn remaining() -> Option<u8> {
    CURRENT.with(Cell::get)
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_and_restores() {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert_eq!(remaining(), None);
        {
            let _g = with_budget();
            // A unit whose operation did not complete is given back.
            drop(poll_proceed(&mut cx));
            assert_eq!(remaining(), Some(BUDGET));
            for _ in 0..BUDGET {
                match poll_proceed(&mut cx) {
                    Poll::Ready(g) => g.made_progress(),
                    Poll::Pending => panic!("budget ran out early"),
                }
            }
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(unconstrained(|| poll_proceed(&mut cx).is_ready()));
        }
        assert_eq!(remaining(), None);
        assert!(poll_proceed(&mut cx).is_ready());
    }
}
