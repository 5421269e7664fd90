//! The select token: one state word per `select`, claimed by compare-and-swap.
//!
//! A select parks one waiter per channel arm, each carrying the select's token. A peer may
//! complete such a waiter only by winning the token (`WAITING -> SELECTED(arm)`), so at most one
//! arm of a select ever takes effect, even for send arms on unbuffered channels with peers
//! racing on other threads.
//!
//! While the select's own task is polling it (`POLLING`), peers must not complete its waiters:
//! the select may be completing another arm itself. A peer that meets a polling select sets
//! `REPOLL` instead and moves on; the select then cannot go back to `WAITING` and polls its
//! arms again, so no wake-up is lost. Once the select has finished or been dropped (`DONE`),
//! nobody can claim it.

#![forbid(unsafe_code)]

use crate::loom::sync::atomic::{AtomicUsize, Ordering::AcqRel, Ordering::Acquire};
use crate::loom::sync::{Arc, Mutex};
use std::task::Waker;

const WAITING: usize = 0;
const POLLING: usize = 1;
const REPOLL: usize = 2;
const DONE: usize = 4;
const SELECTED: usize = 8;

/// What a peer got when it tried to claim a select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The peer won: it must complete the arm's operation and wake the select.
    Won,
    /// The select is polling; it was told to poll again. Skip its waiter.
    Busy,
    /// The select already has its arm, or is gone: for good, as a select's state never goes
    /// back to waiting. Its waiter can be dropped from the queue.
    Lost,
    /// The waiter is the caller's own select's (never matched with itself). Skip it.
    Own,
}

/// The state a select's owner finds when it tries to park.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryPark {
    /// Parked: peers may claim it now.
    Parked,
    /// A peer came by while it was polling: poll the arms again.
    Repoll,
}

/// A select's state word and waker; see the module docs.
#[derive(Debug)]
pub struct SelectToken {
    state: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl SelectToken {
    /// A token in the `POLLING` state: its owner is about to poll the arms.
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(POLLING),
            waker: Mutex::new(None),
        }
    }

    /// Peer side: tries to win the select for `arm`.
    pub(crate) fn claim(&self, arm: usize) -> Claim {
        let mut s = self.state.load(Acquire);
        loop {
            let (next, outcome) = match s {
                WAITING => (SELECTED + arm, Claim::Won),
                POLLING => (POLLING | REPOLL, Claim::Busy),
                _ if s == POLLING | REPOLL => return Claim::Busy,
                _ => return Claim::Lost,
            };
            match self.state.compare_exchange(s, next, AcqRel, Acquire) {
                Ok(_) => return outcome,
                Err(actual) => s = actual,
            }
        }
    }

    /// Peer side, after winning: wakes the select's task.
    pub(crate) fn waker(&self) -> Option<Waker> {
        self.waker.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Owner side: stores the waker to use once parked.
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Owner side, at the start of a poll: returns the arm a peer completed, if one did;
    /// otherwise enters `POLLING`.
    pub(crate) fn begin_poll(&self) -> Option<usize> {
        let mut s = self.state.load(Acquire);
        loop {
            if s >= SELECTED {
                return Some(s - SELECTED);
            }
            debug_assert_ne!(s, DONE, "select polled after it finished");
            match self.state.compare_exchange(s, POLLING, AcqRel, Acquire) {
                Ok(_) => return None,
                Err(actual) => s = actual,
            }
        }
    }

    /// Owner side: after finding no arm ready and registering every arm, tries to park.
    pub(crate) fn park(&self) -> TryPark {
        match self
            .state
            .compare_exchange(POLLING, WAITING, AcqRel, Acquire)
        {
            Ok(_) => TryPark::Parked,
            Err(_) => {
                // REPOLL: clear it and poll again.
                self.state
                    .store(POLLING, crate::loom::sync::atomic::Ordering::Release);
                TryPark::Repoll
            }
        }
    }

    /// Owner side: parks even if a peer came by while it was polling, for a select that gives
    /// up re-polling in this poll and has woken itself to poll again. Peers may complete it from
    /// now on, as any parked select; what the peer that came by made ready is found when it
    /// polls again.
    pub(crate) fn park_and_repoll_later(&self) {
        // Only the owner leaves POLLING; a peer only adds REPOLL to it.
        self.state.swap(WAITING, AcqRel);
    }

    /// Owner side: the select is finishing (an arm won while polling) or being dropped.
    /// Returns the arm a peer completed first, if any: that arm took effect.
    pub(crate) fn finish(&self) -> Option<usize> {
        let prev = self.state.swap(DONE, AcqRel);
        (prev >= SELECTED).then(|| prev - SELECTED)
    }
}

#[cfg(not(weft_loom))]
thread_local! {
    /// This thread's spare token, see `take_token`.
    static SPARE: std::cell::Cell<Option<Arc<SelectToken>>> = const { std::cell::Cell::new(None) };
}

/// A token for a select about to park, in the `POLLING` state: this thread's spare one if it
/// has one, else a new one. With `give_back`, a select run in a loop usually reuses its token
/// instead of allocating one per wait (Go keeps its select waiters in a cache the same way); it
/// allocates again when the peer that completed it still held it at the end.
pub(crate) fn take_token() -> Arc<SelectToken> {
    #[cfg(not(weft_loom))]
    if let Ok(Some(token)) = SPARE.try_with(std::cell::Cell::take) {
        return token;
    }
    Arc::new(SelectToken::new())
}

/// A finished select's token: kept as this thread's spare if nobody else holds it (no waiter
/// is left in a channel, no peer is about to wake it), reset to a new token's state.
pub(crate) fn give_back(token: Arc<SelectToken>) {
    #[cfg(not(weft_loom))]
    {
        let mut token = token;
        if let Some(t) = Arc::get_mut(&mut token) {
            *t.state.get_mut() = POLLING;
            let waker = t.waker.get_mut().unwrap_or_else(|e| e.into_inner()).take();
            // Fails only while the thread is exiting; the token is then dropped.
            let _ = SPARE.try_with(|spare| spare.set(Some(token)));
            drop(waker);
        }
    }
    #[cfg(weft_loom)]
    drop(token);
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    #[test]
    fn claim_only_while_waiting() {
        let t = SelectToken::new();
        assert_eq!(t.claim(0), Claim::Busy, "owner is polling");
        assert_eq!(
            t.park(),
            TryPark::Repoll,
            "the peer's visit forces a re-poll"
        );
        assert_eq!(t.park(), TryPark::Parked);
        assert_eq!(t.claim(3), Claim::Won);
        assert_eq!(t.claim(1), Claim::Lost, "exactly one arm");
        assert_eq!(t.begin_poll(), Some(3));
        assert_eq!(t.finish(), Some(3));
        assert_eq!(t.claim(1), Claim::Lost);
    }

    #[test]
    fn a_token_is_reused_only_when_nobody_else_holds_it() {
        let t = take_token();
        let held = t.clone();
        let addr = Arc::as_ptr(&t);
        give_back(t);
        assert_ne!(
            Arc::as_ptr(&take_token()),
            addr,
            "still held elsewhere: not kept"
        );
        held.set_waker(std::task::Waker::noop());
        assert_eq!(held.park(), TryPark::Parked);
        assert_eq!(held.finish(), None);
        give_back(held);
        let again = take_token();
        assert_eq!(Arc::as_ptr(&again), addr, "kept as the spare");
        assert!(again.waker().is_none(), "reset: no waker");
        assert_eq!(
            again.claim(0),
            Claim::Busy,
            "reset: polling, as a new token"
        );
    }

    #[test]
    fn a_select_that_parks_to_repoll_later_can_be_claimed() {
        let t = SelectToken::new();
        assert_eq!(t.claim(0), Claim::Busy, "owner is polling");
        t.park_and_repoll_later();
        assert_eq!(t.claim(2), Claim::Won, "parked, though a peer came by");
        assert_eq!(t.begin_poll(), Some(2));
        assert_eq!(t.finish(), Some(2));
    }

    #[test]
    fn finish_blocks_later_claims() {
        let t = SelectToken::new();
        assert_eq!(t.park(), TryPark::Parked);
        assert_eq!(t.begin_poll(), None);
        assert_eq!(t.finish(), None);
        assert_eq!(t.claim(0), Claim::Lost);
    }
}

#[cfg(all(test, weft_loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use crate::loom::sync::Arc;
    use loom::thread;

    /// Two peers race to claim a parked select while its owner re-polls and then finishes:
    /// at most one claim wins, and the owner sees exactly the winner's arm (or none, if it
    /// finished first, in which case no claim won).
    #[test]
    fn loom_token_two_peers_and_owner() {
        loom::model(|| {
            let t = Arc::new(SelectToken::new());
            assert_eq!(t.park(), TryPark::Parked);
            let wins = Arc::new(AtomicUsize::new(0));
            let won_arm = Arc::new(AtomicUsize::new(usize::MAX));
            let peers: Vec<_> = (0..2)
                .map(|arm| {
                    let t = t.clone();
                    let wins = wins.clone();
                    let won_arm = won_arm.clone();
                    thread::spawn(move || {
                        if t.claim(arm) == Claim::Won {
                            wins.fetch_add(1, SeqCst);
                            won_arm.store(arm, SeqCst);
                        }
                    })
                })
                .collect();
            // The owner wakes (spuriously or not) and polls.
            let seen = match t.begin_poll() {
                Some(arm) => Some(arm),
                None => t.finish(),
            };
            for p in peers {
                p.join().unwrap();
            }
            let wins = wins.load(SeqCst);
            assert!(wins <= 1, "at most one arm takes effect");
            match seen {
                Some(arm) => {
                    assert_eq!(wins, 1);
                    assert_eq!(arm, won_arm.load(SeqCst));
                }
                None => assert_eq!(wins, 0, "a claim after finish must lose"),
            }
        });
    }
}
