//! The channel core: one lock around the buffer and the two waiter FIFOs.
//!
//! Every operation takes the lock once. A value goes straight to the receiver that has waited
//! longest when one is parked (Go's direct hand-off), else into the buffer if there is room,
//! else the sender parks with the value. A receiver takes from the buffer (refilling it from the
//! first parked sender), else straight from the first parked sender, else parks.
//!
//! Parked waiters that belong to a `select` carry its token; a peer completes them only after
//! winning the token (see `token.rs`), and never completes a waiter of its own select.
//!
//! Cancellation keeps every value exactly once: a parked sender's value stays in its waiter
//! until a receiver takes it (then the send has happened) or the sender's future is dropped
//! (then it has not). A value handed to a parked receiver sits in that receiver's waiter until
//! its future collects it; if the future is dropped first, the value is offered again, first in
//! line (to the next parked receiver, else the front of the buffer).
//!
//! A `Channel` or `Receiver` used as a `Stream` parks a *weak* waiter: the handle outlives the
//! `next()` futures that poll it, and cannot tell when one is dropped (a timeout, a lost
//! `select!` or race), so a value handed to it could sit there unseen. A sender never hands
//! a value to a weak waiter: it wakes it (unlinking it) and goes on down the line; the value
//! goes to a plain receiver parked behind it, else into the buffer, where the woken stream (or
//! anyone else) takes it through the normal path. A parked weak waiter still counts as a
//! receiver waiting: a send that wakes one (with nobody else to serve) completes, as a hand-off
//! would, leaving its value at the front of the buffer without taking a slot (`State::owed`),
//! also on an unbuffered channel. So does a re-offered value. `len` counts only the values
//! that take a slot, so it never exceeds the capacity.
//!
//! Wakers are collected under the lock and woken after it is released.

use super::lock::{ChanGuard, ChanLock};
use super::token::{Claim, SelectToken};
use super::waiter::{List, Side, Visit};
use crate::loom::sync::Arc;
use std::collections::VecDeque;
use std::task::Waker;

/// How a parked waiter is told it was served.
#[derive(Debug)]
pub(crate) enum Notify {
    /// A plain `send`/`recv` future.
    Waker(Waker),
    /// Arm `arm` of a select.
    Select(Arc<SelectToken>, usize),
}

impl Notify {
    /// Claims the waiter for the caller (`me` is the caller's own select, if any).
    fn claim(&self, me: Option<&Arc<SelectToken>>) -> Claim {
        match self {
            Notify::Waker(_) => Claim::Won,
            Notify::Select(token, arm) => {
                if me.is_some_and(|m| Arc::ptr_eq(m, token)) {
                    // Never match a select's send with its own receive.
                    return Claim::Own;
                }
                token.claim(*arm)
            }
        }
    }

    /// What to wake once the waiter is served and the lock released. A plain waiter's waker
    /// is taken (its future reads the outcome next and never needs it again); a select's
    /// token is kept, and its waker read only after the lock is released (`Wakeups::wake`).
    fn take_wake(&mut self) -> Wake {
        match self {
            Notify::Waker(w) => Wake::Waker(std::mem::replace(w, Waker::noop().clone())),
            Notify::Select(token, _) => Wake::Select(token.clone()),
        }
    }
}

/// A party to wake once the channel lock is released.
#[derive(Debug)]
pub(crate) enum Wake {
    Waker(Waker),
    Select(Arc<SelectToken>),
}

impl Wake {
    #[inline]
    pub(crate) fn wake(self) {
        match self {
            Wake::Waker(w) => w.wake(),
            Wake::Select(token) => {
                if let Some(w) = token.waker() {
                    w.wake();
                }
            }
        }
    }
}

/// The outcome of a parked send.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    Pending,
    Delivered,
    /// The channel closed; the value is still in the waiter.
    Closed,
}

#[derive(Debug)]
pub(crate) struct SendWaiter<T> {
    pub(crate) value: Option<T>,
    pub(crate) outcome: SendOutcome,
    pub(crate) notify: Notify,
}

/// The outcome of a parked receive.
#[derive(Debug)]
pub(crate) enum RecvOutcome<T> {
    Pending,
    Value(T),
    Closed,
    /// A weak waiter was woken and unlinked: a value arrived for it to look for. It holds
    /// nothing; its owner receives through the normal path.
    Woken,
}

#[derive(Debug)]
pub(crate) struct RecvWaiter<T> {
    pub(crate) outcome: RecvOutcome<T>,
    pub(crate) notify: Notify,
    /// A stream handle's waiter (see the module docs): woken when a value arrives, never
    /// handed one. Always a plain waker, never a select's.
    pub(crate) weak: bool,
}

/// The buffer's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capacity {
    Bounded(usize),
    Unbounded,
}

#[derive(Debug)]
pub(crate) struct State<T> {
    pub(crate) buf: VecDeque<T>,
    pub(crate) closed: bool,
    /// Values handed to parked receivers and not yet collected. One of them may come back
    /// (its receiver dropped), so a closed channel is not drained while this is above zero.
    pub(crate) handed: usize,
    /// How many of the values at the front of `buf` were handed off to receivers that did
    /// not take them: re-offered by a dropped receive, or left for a woken stream handle (see
    /// the module docs). Like values handed to parked receivers, they take no slot of the
    /// capacity; they come out first.
    owed: usize,
    /// The buffer has room while it holds fewer values than this: the capacity plus `owed`
    /// (`usize::MAX` when unbounded). Kept so that the send fast path compares one number.
    limit: usize,
    /// Bumped by every change that can make an operation ready: a value buffered or taken, a
    /// waiter parked, the channel closed. A `select` with `default` reads it around its
    /// non-blocking pass to know that what it saw was one consistent state. A plain field
    /// under the lock: every operation bumps it, only `default` selects read it.
    version: u64,
    /// The parked waiters. Private: they are never moved, swapped or replaced (`waiter.rs`
    /// relies on it), and are reached elsewhere only through `Side::list`.
    senders: List<SendWaiter<T>>,
    receivers: List<RecvWaiter<T>>,
}

/// A parked waiter, as the FIFO scans see it (senders; receivers have `claim_receiver`).
trait Parked {
    fn notify(&self) -> &Notify;
}

impl<T> Parked for SendWaiter<T> {
    fn notify(&self) -> &Notify {
        &self.notify
    }
}

// SAFETY: always the `senders` field, which is never moved, swapped or replaced.
unsafe impl<T> Side for SendWaiter<T> {
    type Item = T;

    #[inline]
    fn list(st: &mut State<T>) -> &mut List<Self> {
        &mut st.senders
    }

    /// Nothing to settle: an undelivered value goes with the waiter (a send that did not
    /// happen), and a delivered one is the receiver's.
    fn cancel(_: &Chan<T>, _: &mut State<T>, _: &mut Self, _: &mut Wakeups) {}
}

// SAFETY: always the `receivers` field, which is never moved, swapped or replaced.
unsafe impl<T> Side for RecvWaiter<T> {
    type Item = T;

    #[inline]
    fn list(st: &mut State<T>) -> &mut List<Self> {
        &mut st.receivers
    }

    /// A value handed to the receiver is offered again, first in line (so the channel never
    /// looks drained in between), then counted as no longer held by it.
    fn cancel(chan: &Chan<T>, st: &mut State<T>, waiter: &mut Self, wake: &mut Wakeups) {
        if let RecvOutcome::Value(v) = std::mem::replace(&mut waiter.outcome, RecvOutcome::Pending)
        {
            chan.reoffer_locked(st, v, wake);
            chan.collected_locked(st, wake);
        }
    }
}

/// Claims, for the caller (`me` is its own select, if any), the first parked waiter it may
/// complete, and unlinks it from the FIFO. Waiters of selects that already won or are gone are
/// unlinked and passed over (Go's dequeue drops them too; their owners still remove them);
/// those of selects busy polling are skipped, which is recorded as a change of state so a
/// `default` select that looked at this channel looks again (see `State::version`).
#[inline]
fn claim_first<'l, W: Parked>(
    list: &'l mut List<W>,
    version: &mut u64,
    me: Option<&Arc<SelectToken>>,
) -> Option<&'l mut W> {
    // The common case on a busy channel: nobody parked on this side.
    if list.is_empty() {
        return None;
    }
    // Next most common: the first is a plain future's waiter, which is always claimed.
    if list.head_is(|w| matches!(w.notify(), Notify::Waker(_))) {
        return list.take_head();
    }
    claim_first_parked(list, version, me)
}

fn claim_first_parked<'l, W: Parked>(
    list: &'l mut List<W>,
    version: &mut u64,
    me: Option<&Arc<SelectToken>>,
) -> Option<&'l mut W> {
    list.take_first(|w| match w.notify().claim(me) {
        Claim::Won => Visit::Take,
        Claim::Busy => {
            *version = version.wrapping_add(1);
            Visit::Skip
        }
        // Its select took another arm or is gone, and will never be claimable again.
        Claim::Lost => Visit::Unlink,
        Claim::Own => Visit::Skip,
    })
}

impl<T> State<T> {
    /// Records a change of state (see `version`).
    pub(crate) fn changed(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// True if no sender and no receiver is parked.
    #[cfg(test)]
    pub(crate) fn nobody_parked(&self) -> bool {
        self.senders.is_empty() && self.receivers.is_empty()
    }

    /// Closed, and no value can still come out: receivers get `None` from now on.
    pub(crate) fn drained(&self) -> bool {
        self.closed && self.buf.is_empty() && self.handed == 0
    }

    /// The values that take a slot of the capacity: what `len` reports (see `owed`).
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.owed
    }

    /// Takes the value first in line from the buffer.
    #[inline]
    fn pop_front(&mut self) -> Option<T> {
        let v = self.buf.pop_front()?;
        // Owed values are at the front.
        if self.owed > 0 {
            self.owed -= 1;
            if self.limit != usize::MAX {
                self.limit -= 1;
            }
        }
        Some(v)
    }

    /// Counts the value just put at the front of the buffer as owed (see `owed`).
    fn owe(&mut self) {
        self.owed += 1;
        if self.limit != usize::MAX {
            self.limit += 1;
        }
    }

    /// Room for one more value that takes a slot.
    #[inline]
    fn has_room(&self) -> bool {
        self.buf.len() < self.limit
    }
}

/// Parties to wake once the lock is released: no waker is woken under the channel lock, and
/// the wakers of served or cancelled waiters are dropped after it too. (The one waker call made
/// under the lock is the clone a parking future stores, or its refresh when it is polled again
/// with another waker.) Most operations wake at most one party, so the first is kept inline;
/// only `close`, and the release of parked receivers once a closed channel is drained, need
/// the list.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    first: Option<Wake>,
    rest: Vec<Wake>,
}

impl Wakeups {
    #[inline]
    fn push(&mut self, w: Wake) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.rest.push(w);
        }
    }

    #[inline]
    pub(crate) fn wake(self) {
        // Most operations wake nobody: keep that check inline. `rest` is only filled once
        // `first` is, so it is empty (and free to drop) here.
        if self.first.is_some() {
            self.wake_all();
        } else {
            debug_assert!(self.rest.capacity() == 0, "`rest` grows only after `first`");
            // Nothing to drop: `first` is empty and `rest` never allocated.
            std::mem::forget(self);
        }
    }

    fn wake_all(self) {
        let Wakeups { first, rest } = self;
        if let Some(w) = first {
            w.wake();
        }
        if !rest.is_empty() {
            for w in rest {
                w.wake();
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Chan<T> {
    state: ChanLock<State<T>>,
    pub(crate) capacity: Capacity,
}

/// Claims, for a sender (`me` is its own select, if any), the first parked receiver it may
/// hand a value to, and unlinks it, as `claim_first` does. Weak waiters met on the way are
/// woken and unlinked instead (see the module docs); `woke` says whether there were any.
#[inline]
fn claim_receiver<'l, T>(
    list: &'l mut List<RecvWaiter<T>>,
    version: &mut u64,
    me: Option<&Arc<SelectToken>>,
    wake: &mut Wakeups,
    woke: &mut bool,
) -> Option<&'l mut RecvWaiter<T>> {
    if list.is_empty() {
        return None;
    }
    // The common case: the first is a plain receive future's waiter, always claimed.
    if list.head_is(|w| !w.weak && matches!(w.notify, Notify::Waker(_))) {
        return list.take_head();
    }
    claim_receiver_parked(list, version, me, wake, woke)
}

fn claim_receiver_parked<'l, T>(
    list: &'l mut List<RecvWaiter<T>>,
    version: &mut u64,
    me: Option<&Arc<SelectToken>>,
    wake: &mut Wakeups,
    woke: &mut bool,
) -> Option<&'l mut RecvWaiter<T>> {
    list.take_first(|w| {
        if w.weak {
            w.outcome = RecvOutcome::Woken;
            wake.push(w.notify.take_wake());
            *woke = true;
            return Visit::Unlink;
        }
        match w.notify.claim(me) {
            Claim::Won => Visit::Take,
            Claim::Busy => {
                *version = version.wrapping_add(1);
                Visit::Skip
            }
            Claim::Lost => Visit::Unlink,
            Claim::Own => Visit::Skip,
        }
    })
}

impl<T> Chan<T> {
    pub(crate) fn new(capacity: Capacity) -> Self {
        let prealloc = match capacity {
            Capacity::Bounded(n) => n.min(1024),
            Capacity::Unbounded => 0,
        };
        Self {
            state: ChanLock::new(State {
                buf: VecDeque::with_capacity(prealloc),
                closed: false,
                handed: 0,
                owed: 0,
                limit: match capacity {
                    Capacity::Bounded(n) => n,
                    Capacity::Unbounded => usize::MAX,
                },
                version: 0,
                senders: List::new(),
                receivers: List::new(),
            }),
            capacity,
        }
    }

    /// The state's version, see the field.
    pub(crate) fn version(&self) -> u64 {
        self.lock().version
    }

    pub(crate) fn lock(&self) -> ChanGuard<'_, State<T>> {
        self.state.lock()
    }

    /// The common sends on a busy channel, inline: open, and nobody parked to receive and room
    /// in the buffer, or a plain receive future parked first in line, which is handed the
    /// value (the party to wake once the lock is released is returned). Gives the value back
    /// otherwise (then `try_send_locked` decides).
    #[inline]
    pub(crate) fn try_send_fast(&self, st: &mut State<T>, value: T) -> Result<Option<Wake>, T> {
        if st.closed {
            return Err(value);
        }
        if st.receivers.is_empty() {
            if !st.has_room() {
                return Err(value);
            }
            st.buf.push_back(value);
            st.changed();
            return Ok(None);
        }
        Self::hand_off_fast(st, value).map(Some)
    }

    /// The hand-off of `try_send_fast`, out of line so that the buffered send stays short.
    #[inline(never)]
    fn hand_off_fast(st: &mut State<T>, value: T) -> Result<Wake, T> {
        if st
            .receivers
            .head_is(|w| !w.weak && matches!(w.notify, Notify::Waker(_)))
        {
            if let Some(waiter) = st.receivers.take_head() {
                waiter.outcome = RecvOutcome::Value(value);
                let wake = waiter.notify.take_wake();
                st.handed += 1;
                st.changed();
                return Ok(wake);
            }
        }
        Err(value)
    }

    /// The common receive on a busy channel, inline: a buffered value and no parked sender
    /// to refill the buffer from (else `try_recv_locked` decides).
    #[inline]
    pub(crate) fn try_recv_fast(&self, st: &mut State<T>) -> Option<(T, Option<Wake>)> {
        if !st.senders.is_empty() {
            return Self::recv_from_sender_fast(st).map(|(v, w)| (v, Some(w)));
        }
        let v = st.pop_front()?;
        st.changed();
        Some((v, None))
    }

    /// The receive of `try_recv_fast` when a plain send future is parked first in line: takes
    /// the value first in line (the buffer's front, the buffer refilled from the sender, or
    /// straight from the sender when the buffer is empty), as `try_recv_locked` would, and
    /// returns the sender to wake. Out of line so that the buffered receive stays short. Leaves
    /// owed values (see `State::owed`) to `try_recv_locked`.
    #[inline(never)]
    fn recv_from_sender_fast(st: &mut State<T>) -> Option<(T, Wake)> {
        if st.owed > 0
            || !st
                .senders
                .head_is(|w| w.value.is_some() && matches!(w.notify, Notify::Waker(_)))
        {
            return None;
        }
        let waiter = st.senders.take_head()?;
        // Some: checked above, under the same lock.
        let sent = waiter.value.take()?;
        waiter.outcome = SendOutcome::Delivered;
        let wake = waiter.notify.take_wake();
        // With no owed value, the buffer holds at most its capacity, so once its front is
        // taken there is room for the sender's value.
        let v = match st.buf.pop_front() {
            Some(front) => {
                st.buf.push_back(sent);
                front
            }
            None => sent,
        };
        st.changed();
        Some((v, wake))
    }

    /// Sends without waiting: to the longest-waiting receiver, else into the buffer.
    /// Gives the value back if neither is possible (or the channel is closed).
    pub(crate) fn try_send_locked(
        &self,
        st: &mut State<T>,
        value: T,
        me: Option<&Arc<SelectToken>>,
        wake: &mut Wakeups,
    ) -> Result<(), T> {
        if st.closed {
            return Err(value);
        }
        let mut woke = false;
        if let Some(waiter) =
            claim_receiver(&mut st.receivers, &mut st.version, me, wake, &mut woke)
        {
            waiter.outcome = RecvOutcome::Value(value);
            wake.push(waiter.notify.take_wake());
            st.handed += 1;
            st.changed();
            return Ok(());
        }
        // A weak waiter is a receiver waiting: the value is handed off for it, into the buffer,
        // taking no slot. (It parked on an empty buffer, and is woken by anything that enters.)
        if woke && st.buf.is_empty() {
            st.buf.push_back(value);
            st.owe();
            st.changed();
            return Ok(());
        }
        if st.has_room() {
            st.buf.push_back(value);
            st.changed();
            return Ok(());
        }
        Err(value)
    }

    /// Receives without waiting: from the buffer (refilling it from the first parked sender),
    /// else straight from the first parked sender.
    pub(crate) fn try_recv_locked(
        &self,
        st: &mut State<T>,
        me: Option<&Arc<SelectToken>>,
        wake: &mut Wakeups,
    ) -> Option<T> {
        if let Some(v) = st.pop_front() {
            if st.has_room() {
                if let Some(refill) = self.take_parked_sender(st, me, wake) {
                    st.buf.push_back(refill);
                }
            }
            st.changed();
            return Some(v);
        }
        let v = self.take_parked_sender(st, me, wake);
        if v.is_some() {
            st.changed();
        }
        v
    }

    #[inline]
    fn take_parked_sender(
        &self,
        st: &mut State<T>,
        me: Option<&Arc<SelectToken>>,
        wake: &mut Wakeups,
    ) -> Option<T> {
        let waiter = claim_first(&mut st.senders, &mut st.version, me)?;
        waiter.outcome = SendOutcome::Delivered;
        wake.push(waiter.notify.take_wake());
        waiter.value.take()
    }

    /// Puts back a value a dropped receiver had been handed: first in line.
    pub(crate) fn reoffer_locked(&self, st: &mut State<T>, value: T, wake: &mut Wakeups) {
        st.changed();
        // Weak waiters met on the way are woken to take it from the buffer.
        let mut woke = false;
        if let Some(waiter) =
            claim_receiver(&mut st.receivers, &mut st.version, None, wake, &mut woke)
        {
            waiter.outcome = RecvOutcome::Value(value);
            wake.push(waiter.notify.take_wake());
            st.handed += 1;
            return;
        }
        st.buf.push_front(value);
        st.owe();
    }

    /// Closes the channel: parked senders get their values back, parked receivers get `None`
    /// once no handed value can come back. Returns true if this call closed it.
    pub(crate) fn close_locked(&self, st: &mut State<T>, wake: &mut Wakeups) -> bool {
        if st.closed {
            return false;
        }
        st.closed = true;
        st.changed();
        st.senders.drain(|waiter| {
            // A busy select re-polls and sees the channel closed; one that lost keeps its value.
            if waiter.notify.claim(None) == Claim::Won {
                waiter.outcome = SendOutcome::Closed;
                wake.push(waiter.notify.take_wake());
            }
        });
        self.release_receivers_if_drained(st, wake);
        true
    }

    /// A receiver collected (or gave back) a value it had been handed.
    pub(crate) fn collected_locked(&self, st: &mut State<T>, wake: &mut Wakeups) {
        st.handed -= 1;
        self.release_receivers_if_drained(st, wake);
    }

    /// Once closed and drained, parked receivers get `None`. (Receivers park only when the
    /// buffer is empty; they stay parked after `close` while a handed value may come back.)
    fn release_receivers_if_drained(&self, st: &mut State<T>, wake: &mut Wakeups) {
        if !st.drained() {
            return;
        }
        st.receivers.drain(|waiter| {
            // A busy select re-polls and sees the channel drained; one that lost is leaving.
            if waiter.notify.claim(None) == Claim::Won {
                waiter.outcome = RecvOutcome::Closed;
                wake.push(waiter.notify.take_wake());
            }
        });
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use crate::channel::token::TryPark;
    use crate::channel::waiter::Waiter;
    use std::pin::pin;

    #[test]
    fn waiters_of_finished_selects_are_dropped_from_the_fifo() {
        let chan = Chan::<u32>::new(Capacity::Bounded(0));
        let token = Arc::new(SelectToken::new());
        assert_eq!(token.park(), TryPark::Parked);
        let mut dead = pin!(Waiter::<_, RecvWaiter<u32>>::new(&chan));
        dead.as_mut().lock().park(RecvWaiter {
            outcome: RecvOutcome::Pending,
            notify: Notify::Select(token.clone(), 0),
            weak: false,
        });
        // The select finishes some other way: this waiter can never be claimed again.
        assert_eq!(token.begin_poll(), None);
        assert_eq!(token.finish(), None);
        let mut wake = Wakeups::default();
        {
            let mut st = chan.lock();
            assert_eq!(
                chan.try_send_locked(&mut st, 5, None, &mut wake),
                Err(5),
                "nobody left to take it"
            );
            assert!(st.nobody_parked(), "the dead waiter was unlinked");
        }
        // Its owner still removes it, and it took nothing.
        let w = dead.as_mut().lock().remove().expect("still in the channel");
        assert!(matches!(w.outcome, RecvOutcome::Pending));
        // A waiter of the caller's own select stays for the others.
        let own = Arc::new(SelectToken::new());
        assert_eq!(own.park(), TryPark::Parked);
        let mut mine = pin!(Waiter::<_, RecvWaiter<u32>>::new(&chan));
        mine.as_mut().lock().park(RecvWaiter {
            outcome: RecvOutcome::Pending,
            notify: Notify::Select(own.clone(), 1),
            weak: false,
        });
        let mut st = chan.lock();
        assert_eq!(
            chan.try_send_locked(&mut st, 6, Some(&own), &mut wake),
            Err(6)
        );
        assert!(!st.nobody_parked(), "skipped, not dropped");
        drop(st);
        own.finish();
        // `mine` leaves the channel when dropped.
    }
}
