//! The machinery behind `select!` and [`select`](crate::select()): arms, the driver that polls
//! them in random order, and the commit protocol through the select's token.
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

use super::chan::{Chan, Notify, RecvOutcome, RecvWaiter, SendOutcome, SendWaiter, Wakeups};
use super::error::SendError;
use super::ops::{RecvFuture, SendFuture};
use super::token::{self, Park, SelectToken};
use super::waiter::{pin_each, Waiter};
use super::Channel;
use crate::loom::sync::Arc;
use crate::runtime::scheduler::coop;
use pin_project_lite::pin_project;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An arm of a select, as the driver sees it.
pub trait Arm {
    /// Tries to take effect now, without waiting; stores the output and returns true if it did.
    fn attempt(
        self: Pin<&mut Self>,
        token: Option<&Arc<SelectToken>>,
        cx: &mut Context<'_>,
    ) -> bool;
    /// Parks a waiter carrying the token (channel arms only; once per select).
    fn register(self: Pin<&mut Self>, token: &Arc<SelectToken>, arm: usize, cx: &mut Context<'_>);
    /// A peer completed this arm: collects its outcome as the output.
    fn collect(self: Pin<&mut Self>);
    /// Removes a parked waiter, if any.
    fn unregister(self: Pin<&mut Self>);
    /// The version of the arm's channel state (0 for future arms), see `Select::poll`.
    fn version(&self) -> u64 {
        0
    }
}

pin_project! {
    /// A receive arm.
    pub struct RecvArm<'a, T> {
        #[pin]
        waiter: Waiter<&'a Chan<T>, RecvWaiter<T>>,
        out: Option<Option<T>>,
    }
}

pin_project! {
    /// A send arm. Its value is in `value` until the arm parks, then in its waiter.
    pub struct SendArm<'a, T> {
        #[pin]
        waiter: Waiter<&'a Chan<T>, SendWaiter<T>>,
        value: Option<T>,
        out: Option<Result<(), SendError<T>>>,
    }
}

pin_project! {
    /// An arm that is an arbitrary future.
    pub struct FutureArm<F: Future> {
        #[pin]
        future: F,
        out: Option<F::Output>,
    }
}

impl<T> fmt::Debug for RecvArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvArm").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SendArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendArm").finish_non_exhaustive()
    }
}

impl<F: Future> fmt::Debug for FutureArm<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureArm").finish_non_exhaustive()
    }
}

impl<'a, T> RecvArm<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>) -> Self {
        Self {
            waiter: Waiter::new(chan),
            out: None,
        }
    }

    /// The received value (`None`: the channel is closed and drained).
    pub fn take_output(self: Pin<&mut Self>) -> Option<T> {
        self.project()
            .out
            .take()
            .expect("select arm output taken twice")
    }
}

impl<'a, T> SendArm<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>, value: T) -> Self {
        Self {
            waiter: Waiter::new(chan),
            value: Some(value),
            out: None,
        }
    }
}

impl<T> SendArm<'_, T> {
    /// The send's result.
    pub fn take_output(self: Pin<&mut Self>) -> Result<(), SendError<T>> {
        self.project()
            .out
            .take()
            .expect("select arm output taken twice")
    }
}

impl<F: Future> FutureArm<F> {
    /// Wraps a future as an arm.
    pub fn new(future: F) -> Self {
        Self { future, out: None }
    }

    /// The future's output.
    pub fn take_output(self: Pin<&mut Self>) -> F::Output {
        self.project()
            .out
            .take()
            .expect("select arm output taken twice")
    }
}

impl<T> Arm for RecvArm<'_, T> {
    fn attempt(
        self: Pin<&mut Self>,
        token: Option<&Arc<SelectToken>>,
        _cx: &mut Context<'_>,
    ) -> bool {
        let this = self.project();
        let mut wake = Wakeups::default();
        let mut l = this.waiter.lock();
        let got = match l.chan().try_recv_locked(l.st(), token, &mut wake) {
            Some(v) => Some(Some(v)),
            None if l.st().drained() => Some(None),
            None => None,
        };
        drop(l);
        wake.wake();
        let done = got.is_some();
        *this.out = got;
        done
    }

    fn register(self: Pin<&mut Self>, token: &Arc<SelectToken>, arm: usize, _cx: &mut Context<'_>) {
        let waiter = self.project().waiter;
        if waiter.is_parked() {
            return;
        }
        let mut l = waiter.lock();
        l.st().changed();
        l.park(RecvWaiter {
            outcome: RecvOutcome::Pending,
            notify: Notify::Select(token.clone(), arm),
            weak: false,
        });
    }

    fn collect(self: Pin<&mut Self>) {
        let this = self.project();
        let mut wake = Wakeups::default();
        let mut l = this.waiter.lock();
        let RecvWaiter {
            outcome, notify, ..
        } = l.remove().expect("a completed recv arm was parked");
        *this.out = Some(match outcome {
            RecvOutcome::Value(v) => {
                l.chan().collected_locked(l.st(), &mut wake);
                Some(v)
            }
            RecvOutcome::Closed => None,
            RecvOutcome::Pending | RecvOutcome::Woken => {
                unreachable!("the token was won, so the outcome is set")
            }
        });
        drop(l);
        wake.wake();
        drop(notify);
    }

    fn unregister(self: Pin<&mut Self>) {
        self.project().waiter.leave();
    }

    fn version(&self) -> u64 {
        self.waiter.chan().version()
    }
}

impl<T> Arm for SendArm<'_, T> {
    fn attempt(
        self: Pin<&mut Self>,
        token: Option<&Arc<SelectToken>>,
        _cx: &mut Context<'_>,
    ) -> bool {
        let this = self.project();
        let mut wake = Wakeups::default();
        let mut l = this.waiter.lock();
        // Once parked, the value lives in the waiter; borrow it back for the attempt.
        let v = match l.waiter() {
            Some(w) => w.value.take(),
            None => this.value.take(),
        }
        .expect("a send arm holds its value until it takes effect");
        let done = if l.st().closed {
            *this.out = Some(Err(SendError(v)));
            true
        } else {
            match l.chan().try_send_locked(l.st(), v, token, &mut wake) {
                Ok(()) => {
                    *this.out = Some(Ok(()));
                    true
                }
                Err(v) => {
                    match l.waiter() {
                        Some(w) => w.value = Some(v),
                        None => *this.value = Some(v),
                    }
                    false
                }
            }
        };
        drop(l);
        wake.wake();
        done
    }

    fn register(self: Pin<&mut Self>, token: &Arc<SelectToken>, arm: usize, _cx: &mut Context<'_>) {
        let this = self.project();
        if this.waiter.is_parked() {
            return;
        }
        let mut l = this.waiter.lock();
        l.st().changed();
        l.park(SendWaiter {
            value: this.value.take(),
            outcome: SendOutcome::Pending,
            notify: Notify::Select(token.clone(), arm),
        });
    }

    fn collect(self: Pin<&mut Self>) {
        let this = self.project();
        let waiter = this
            .waiter
            .lock()
            .remove()
            .expect("a completed send arm was parked");
        *this.out = Some(match waiter.outcome {
            SendOutcome::Delivered => Ok(()),
            SendOutcome::Closed => Err(SendError(
                waiter.value.expect("a closed send keeps its value"),
            )),
            SendOutcome::Pending => unreachable!("the token was won, so the outcome is set"),
        });
    }

    fn unregister(self: Pin<&mut Self>) {
        // The arm lost this round but may take part in the next one (a refutable pattern on
        // the winning arm failed): take the value back from the waiter.
        let this = self.project();
        if !this.waiter.is_parked() {
            return;
        }
        let waiter = this.waiter.lock().remove().expect("parked");
        debug_assert_eq!(
            waiter.outcome,
            SendOutcome::Pending,
            "a losing arm was not served"
        );
        *this.value = waiter.value;
    }

    fn version(&self) -> u64 {
        self.waiter.chan().version()
    }
}

impl<F: Future> Arm for FutureArm<F> {
    fn attempt(
        self: Pin<&mut Self>,
        _token: Option<&Arc<SelectToken>>,
        cx: &mut Context<'_>,
    ) -> bool {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Ready(v) => {
                *this.out = Some(v);
                true
            }
            Poll::Pending => false,
        }
    }

    fn register(self: Pin<&mut Self>, _: &Arc<SelectToken>, _: usize, _: &mut Context<'_>) {}

    fn collect(self: Pin<&mut Self>) {}

    fn unregister(self: Pin<&mut Self>) {}
}

/// Holds an arm expression's value for the conversion below.
pub struct Wrap<T>(Cell<Option<T>>);

impl<T> fmt::Debug for Wrap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wrap(..)")
    }
}

impl<T> Wrap<T> {
    /// Wraps an arm expression.
    pub fn new(value: T) -> Self {
        Self(Cell::new(Some(value)))
    }

    fn take(&self) -> T {
        self.0.take().expect("arm converted twice")
    }
}

/// Turns `ch.recv()` and `ch.send(v)` into channel arms. Picked by method resolution before
/// [`IntoFutureArm`], which takes one more reference.
pub trait IntoChannelArm {
    /// The arm type.
    type Arm;
    /// Converts.
    fn __weft_arm(&self) -> Self::Arm;
}

// A future passed by value was never polled: polling pins it, and a pinned future cannot be
// moved. So it is not parked in its channel, and the arm starts afresh. (A future that was
// polled can still be an arm when passed pinned, as `fut.as_mut()`; it is then a future arm.)

impl<'a, T> IntoChannelArm for Wrap<RecvFuture<'a, T>> {
    type Arm = RecvArm<'a, T>;
    fn __weft_arm(&self) -> RecvArm<'a, T> {
        let f = self.take();
        debug_assert!(!f.waiter.is_parked(), "moved after being polled");
        RecvArm::new(f.waiter.handle())
    }
}

impl<'a, T> IntoChannelArm for Wrap<SendFuture<'a, T>> {
    type Arm = SendArm<'a, T>;
    fn __weft_arm(&self) -> SendArm<'a, T> {
        let mut f = self.take();
        debug_assert!(!f.waiter.is_parked(), "moved after being polled");
        let value = f.value.take().expect("an unpolled send holds its value");
        SendArm::new(f.waiter.handle(), value)
    }
}

/// Turns any other future into a future arm.
pub trait IntoFutureArm {
    /// The arm type.
    type Arm;
    /// Converts.
    fn __weft_arm(&self) -> Self::Arm;
}

impl<F: Future> IntoFutureArm for &Wrap<F> {
    type Arm = FutureArm<F>;
    fn __weft_arm(&self) -> FutureArm<F> {
        FutureArm::new(self.take())
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// xorshift64: fast, and plenty for picking arms.
struct Xorshift(u64);

impl Xorshift {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `f` with this thread's generator (one thread-local access for a whole shuffle).
#[inline]
fn with_rng<R>(f: impl FnOnce(&mut Xorshift) -> R) -> R {
    RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            // Seed from the address of a stack slot and the time: different per thread and run.
            let seed = &x as *const u64 as u64
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
            x = seed | 1;
        }
        let mut rng = Xorshift(x);
        let out = f(&mut rng);
        r.set(rng.0);
        out
    })
}

/// A uniform index below `n`, from 64 random bits: the high half of `rand * n` (Lemire's
/// reduction, one multiplication instead of a division; its bias, at most `n / 2^64`, is the
/// same as a modulo's).
fn below(rand: u64, n: usize) -> usize {
    ((u128::from(rand) * n as u128) >> 64) as usize
}

/// Selects of up to this many arms keep their polling order inline (no allocation).
const INLINE_ARMS: usize = 32;

/// The enabled arms' indices, in the order of one polling pass.
#[derive(Debug)]
enum Order {
    Inline(usize, [u8; INLINE_ARMS]),
    Heap(Vec<usize>),
}

impl Order {
    /// The enabled arms, in index order.
    fn fill(&mut self, arms: &[ArmSlot<'_>]) {
        if arms.len() <= INLINE_ARMS {
            let mut idx = [0; INLINE_ARMS];
            let mut len = 0;
            for (i, arm) in arms.iter().enumerate() {
                if arm.is_some() {
                    idx[len] = i as u8; // i < INLINE_ARMS <= 256
                    len += 1;
                }
            }
            *self = Order::Inline(len, idx);
        } else {
            let mut v = match std::mem::replace(self, Order::Inline(0, [0; INLINE_ARMS])) {
                Order::Heap(v) => v,
                Order::Inline(..) => Vec::new(),
            };
            v.clear();
            v.extend((0..arms.len()).filter(|&i| arms[i].is_some()));
            *self = Order::Heap(v);
        }
    }

    fn len(&self) -> usize {
        match self {
            Order::Inline(len, _) => *len,
            Order::Heap(v) => v.len(),
        }
    }

    fn get(&self, n: usize) -> usize {
        match self {
            Order::Inline(_, idx) => usize::from(idx[n]),
            Order::Heap(v) => v[n],
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        match self {
            Order::Inline(_, idx) => idx.swap(a, b),
            Order::Heap(v) => v.swap(a, b),
        }
    }

    /// Fisher-Yates: every order equally likely, so every ready arm is too.
    fn shuffle(&mut self) {
        with_rng(|rng| {
            for i in (1..self.len()).rev() {
                self.swap(i, below(rng.next(), i + 1));
            }
        });
    }
}

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
                Park::Parked => return Poll::Pending,
                Park::Repoll => {
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
    // The arms' waiters are linked into the channels while parked: pinned on the heap.
    let mut arms: Pin<Box<[RecvArm<'_, T>]>> = channels
        .iter()
        .map(|c| RecvArm::new(c.chan()))
        .collect::<Box<[_]>>()
        .into();
    let won = {
        // Built once, not on every poll. `sel` is declared last, so it is dropped (finishing
        // its token) before the arms remove their waiters, also if this future is dropped.
        let mut slots: Vec<ArmSlot<'_>> = pin_each(arms.as_mut())
            .map(|a| Some(a as Pin<&mut dyn Arm>))
            .collect();
        let mut sel = Select::new(false, false);
        std::future::poll_fn(|cx| sel.poll(cx, &mut slots))
            .await
            .expect("no default arm")
    };
    let out = pin_each(arms.as_mut())
        .nth(won)
        .expect("the winner is one of the arms")
        .take_output();
    (won, out)
}

#[cfg(all(test, not(weft_loom)))]
mod order_tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_spreads() {
        for n in 1..40 {
            assert_eq!(below(0, n), 0);
            assert_eq!(below(u64::MAX, n), n - 1);
        }
        // The midpoints of 4,000 equal slices of the input range land evenly: a quarter each.
        let mut hits = [0; 4];
        for k in 0..4_000u64 {
            hits[below((2 * k + 1) * (u64::MAX / 8_000), 4)] += 1;
        }
        assert_eq!(hits, [1_000; 4]);
    }

    #[test]
    fn shuffle_is_a_permutation_and_reaches_every_order() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_000 {
            let mut o = Order::Inline(4, [0; INLINE_ARMS]);
            if let Order::Inline(_, idx) = &mut o {
                idx[..4].copy_from_slice(&[0, 1, 2, 3]);
            }
            o.shuffle();
            let got: Vec<usize> = (0..4).map(|n| o.get(n)).collect();
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2, 3]);
            seen.insert(got);
        }
        assert_eq!(seen.len(), 24, "all 4! orders occur");
    }
}
