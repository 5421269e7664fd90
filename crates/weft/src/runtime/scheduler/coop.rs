//! The cooperative budget.
//!
//! Each task poll on a worker starts with [`BUDGET`] units. weft's own leaf futures (join
//! handles today; channels, timers and I/O as they land) spend one unit per operation that
//! completes, and return `Pending` (after waking the task) once the budget is gone. A task that
//! is always ready therefore yields back to the scheduler after a bounded number of operations
//! and cannot starve the other tasks on its worker.

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
/// Outside a worker (no budget set) this always returns `Ready`.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    CURRENT.with(|c| match c.get() {
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            c.set(Some(n - 1));
            Poll::Ready(())
        }
        None => Poll::Ready(()),
    })
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
            for _ in 0..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending());
        }
        assert_eq!(remaining(), None);
        assert!(poll_proceed(&mut cx).is_ready());
    }
}
