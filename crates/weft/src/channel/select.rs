//! The driver behind `select!` and [`select`](crate::select()): it polls the arms (`arms.rs`) in
//! random order (`order.rs`) and commits one through the select's token (`token.rs`).
//!
//! One poll of a select:
//! 1. If a peer already completed one of its parked arms (won the token), that arm wins.
//! 2. Otherwise, with the token in `POLLING` (peers cannot complete any of its waiters now),
//!    try every enabled arm once, in a fresh uniformly random order (or in order if `biased`):
//!    a channel arm takes effect if it can without waiting; a future arm is polled. The first
//!    that takes effect wins.
//! 3. With a `default` arm, nothing ready means `default` wins.
//! 4. Otherwise park a waiter for every channel arm and go back to 2 once (a peer that looked
//!    before these waiters existed and parked itself is found now); then try to move the token
//!    to `WAITING`. If a peer came by while polling, go back to 2; after `MAX_REPOLLS` such
//!    passes, move to `WAITING` anyway, wake the select's own task and yield, so the next
//!    poll looks again (peers can complete the select in between, as a parked one).
//!
//! Whoever wins, every waiter is removed before the select returns, and a value handed to a
//! losing recv arm's waiter cannot exist: a peer hands a value only after winning the token.
//! A finished select's token goes back to a per-thread spare if nobody else holds it, so a
//! select in a loop usually reuses it instead of allocating each time it parks (not when the
//! peer that completed it still holds it, about to wake the select). A select dropped while
//! parked first finishes its token (no claim can succeed after), then its arms remove their
//! waiters, re-offering a value a peer handed to a recv arm.

#![forbid(unsafe_code)]

pub use super::arms::{Arm, ArmInput, FutureArm, IntoChannelArm, IntoFutureArm, RecvArm, SendArm};
use super::order::{Order, INLINE_ARMS};
use super::token::{self, SelectToken, TryPark};
use super::waiter::pin_each;
use super::Channel;
use crate::loom::sync::Arc;
use crate::runtime::scheduler::coop;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Drives the arms of one select. Declared after the arms, so it is dropped first and its token
/// is finished before the arms remove their waiters.
#[derive(Debug)]
pub struct Select {
    /// Created when the select first parks waiters; until then no peer can see it.
    token: Option<Arc<SelectToken>>,
    biased: bool,
    has_default: bool,
    finished: bool,
    /// Every enabled channel arm has a parked waiter (in this round).
    registered: bool,
    order: Order,
    /// Channel versions read before a non-blocking pass (selects with `default` only).
    versions: Vec<u64>,
    default_retries: u32,
}

/// Passes a select with `default` makes while its channels keep changing under it, before it
/// takes `default` anyway (each pass that sees no change settles it at once).
const MAX_DEFAULT_RETRIES: u32 = 64;

/// Times a select polls its arms again in one `poll` because peers came by, before it parks
/// anyway and yields (see step 4 of the module docs).
const MAX_REPOLLS: u32 = 16;

/// A disabled arm is `None`.
pub type ArmSlot<'a> = Option<Pin<&'a mut dyn Arm>>;

impl Select {
    /// A select over arms polled in random order (`biased`: in order), with or without a
    /// `default` arm.
    pub fn new(biased: bool, has_default: bool) -> Self {
        Self {
            token: None,
            biased,
            has_default,
            finished: false,
            registered: false,
            order: Order::Inline(0, [0; INLINE_ARMS]),
            versions: Vec::new(),
            default_retries: 0,
        }
    }

    /// Ends the round: no peer can claim the select any more, and every arm leaves its channel
    /// (a winner that a peer completed has already left, collecting its outcome; one that won in
    /// this poll still had a waiter, unserved).
    fn finish(&mut self, arms: &mut [ArmSlot<'_>]) {
        if let Some(token) = &self.token {
            token.finish();
        }
        self.finished = true;
        for a in arms.iter_mut().flatten() {
            a.as_mut().unregister();
        }
    }

    /// Polls the select: `Ready(Some(i))` when arm `i` took effect (its output is in the arm),
    /// `Ready(None)` when the `default` arm is taken.
    ///
    /// # Panics
    ///
    /// Panics if every arm is disabled and there is no `default` arm.
    pub fn poll(&mut self, cx: &mut Context<'_>, arms: &mut [ArmSlot<'_>]) -> Poll<Option<usize>> {
        if self.finished {
            // Polled again after a refutable pattern disabled the arm that won: a new round.
            if let Some(token) = self.token.take() {
                token::give_back(token);
            }
            self.finished = false;
            self.registered = false;
            self.default_retries = 0;
        }
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let out = self.poll_arms(cx, arms);
        if out.is_ready() {
            coop.made_progress();
        }
        out
    }

    fn poll_arms(&mut self, cx: &mut Context<'_>, arms: &mut [ArmSlot<'_>]) -> Poll<Option<usize>> {
        if let Some(token) = &self.token {
            token.set_waker(cx.waker());
            if let Some(won) = token.begin_poll() {
                if let Some(a) = &mut arms[won] {
                    a.as_mut().collect();
                }
                self.finish(arms);
                return Poll::Ready(Some(won));
            }
        }
        let mut repolls = 0;
        loop {
            self.order.fill(arms);
            if self.order.len() == 0 {
                if self.has_default {
                    self.finish(arms);
                    return Poll::Ready(None);
                }
                panic!("weft::select!: every arm is disabled and there is no `default` arm");
            }
            if self.has_default {
                // Indexed by arm, as the order is shuffled below.
                self.versions.clear();
                self.versions
                    .extend(arms.iter().map(|a| a.as_ref().map_or(0, |a| a.version())));
            }
            // Under loom the order is fixed: models must be deterministic, and what they check
            // (the commit protocol) does not depend on the order.
            if !self.biased && !cfg!(weft_loom) {
                self.order.shuffle();
            }
            for n in 0..self.order.len() {
                let i = self.order.get(n);
                let arm = arms[i].as_mut().expect("enabled arm");
                if arm.as_mut().attempt(self.token.as_ref(), cx) {
                    self.finish(arms);
                    return Poll::Ready(Some(i));
                }
            }
            if self.has_default {
                // Each arm was found not ready under its own lock, at a different moment. If no
                // channel changed since before the pass, they were all not ready at one moment
                // in between, and `default` is what Go would pick; otherwise look again.
                let unchanged = arms
                    .iter()
                    .zip(&self.versions)
                    .all(|(a, &v)| a.as_ref().map_or(0, |a| a.version()) == v);
                self.default_retries += 1;
                if unchanged || self.default_retries > MAX_DEFAULT_RETRIES {
                    self.finish(arms);
                    return Poll::Ready(None);
                }
                continue;
            }
            if !self.registered {
                // Park a waiter on every channel arm, then try every arm once more before
                // parking: a peer that looked before our waiters existed, and parked itself,
                // is found now. (Of two selects that could match, the one whose last attempt
                // comes later sees the other's waiters.)
                let token = self.token.get_or_insert_with(token::take_token);
                token.set_waker(cx.waker());
                for n in 0..self.order.len() {
                    let i = self.order.get(n);
                    let arm = arms[i].as_mut().expect("enabled arm");
                    arm.as_mut().register(token, i, cx);
                }
                self.registered = true;
                continue;
            }
            let token = self
                .token
                .as_ref()
                .expect("registered selects have a token");
            match token.park() {
                TryPark::Parked => return Poll::Pending,
                TryPark::Repoll => {
                    repolls += 1;
                    if repolls > MAX_REPOLLS {
                        // Two selects can keep interrupting each other's polls; yield to the
                        // scheduler instead of spinning here. Parked meanwhile, as a waiting
                        // select is: a peer may complete an arm (a non-blocking send to it
                        // succeeds), and the poll this wake-up brings finds what the
                        // interrupting peers made ready.
                        token.park_and_repoll_later();
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    continue;
                }
            }
        }
    }
}

impl Drop for Select {
    fn drop(&mut self) {
        // No peer may complete an arm from now on; the arms' own drops remove their waiters.
        if let Some(token) = self.token.take() {
            token.finish();
            token::give_back(token);
        }
    }
}

/// Receives from whichever of several same-typed channels has a value first: the guide's
/// `select([ch1, ch2])`. Returns the index of the channel and what it gave (`None` if that
/// channel is closed and drained). Among channels ready at once, one is chosen uniformly.
///
/// Cancel-safe: dropped before it completes, it has received nothing.
///
/// # Panics
///
/// Panics if `channels` is empty (there would be nothing to wait for).
///
/// # Examples
///
/// ```
/// use weft::Channel;
///
/// # weft::block_on(async {
/// let a = Channel::<i32>::with_capacity(1);
/// let b = Channel::<i32>::with_capacity(1);
/// b.send(7).await.unwrap();
/// assert_eq!(weft::select(&[&a, &b]).await, (1, Some(7)));
/// # });
/// ```
pub async fn select<T>(channels: &[&Channel<T>]) -> (usize, Option<T>) {
    // The arms' waiters are linked into the channels while parked: pinned with this future,
    // in place for up to `INLINE_SELECT` channels (no allocation), else on the heap.
    if channels.len() <= INLINE_SELECT {
        let mut arms = std::pin::pin!(std::array::from_fn::<_, INLINE_SELECT, _>(|i| channels
            .get(i)
            .map(|c| RecvArm::new(c.chan()))));
        let won = {
            let slice: Pin<&mut [Option<RecvArm<'_, T>>]> = arms.as_mut();
            let mut it = pin_each(slice);
            let mut slots: [ArmSlot<'_>; INLINE_SELECT] = std::array::from_fn(|_| {
                it.next()
                    .and_then(Option::as_pin_mut)
                    .map(|a| a as Pin<&mut dyn Arm>)
            });
            drive(&mut slots[..channels.len()]).await
        };
        let slice: Pin<&mut [Option<RecvArm<'_, T>>]> = arms.as_mut();
        let out = pin_each(slice)
            .nth(won)
            .and_then(Option::as_pin_mut)
            .expect("the winner is one of the arms")
            .take_output();
        return (won, out);
    }
    let mut arms: Pin<Box<[RecvArm<'_, T>]>> = channels
        .iter()
        .map(|c| RecvArm::new(c.chan()))
        .collect::<Box<[_]>>()
        .into();
    let won = {
        let mut slots: Vec<ArmSlot<'_>> = pin_each(arms.as_mut())
            .map(|a| Some(a as Pin<&mut dyn Arm>))
            .collect();
        drive(&mut slots).await
    };
    let out = pin_each(arms.as_mut())
        .nth(won)
        .expect("the winner is one of the arms")
        .take_output();
    (won, out)
}

/// Channels a [`select`](crate::select()) call takes without allocating.
const INLINE_SELECT: usize = 8;

/// Runs a select without `default` over `slots` to its end; returns the winning arm.
async fn drive(slots: &mut [ArmSlot<'_>]) -> usize {
    // Declared after the arms (the caller's), so it is dropped (finishing its token) before
    // they remove their waiters, also if this future is dropped.
    let mut sel = Select::new(false, false);
    std::future::poll_fn(|cx| sel.poll(cx, slots))
        .await
        .expect("no default arm")
}
