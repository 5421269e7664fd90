//! Waiter nodes that live inside the futures that wait, linked into the channel's FIFOs.
//!
//! A parked `send` or `recv` (a future, a `select` arm, a stream handle) owns a [`Waiter`]: a
//! node pinned in place with the future, holding what the operation needs (a send's value, a
//! receive's outcome, who to wake) and the links of a doubly linked FIFO. Parking links the node
//! at the back of its channel's list; no memory is allocated for it, and a channel holds no
//! memory for waiters beyond its two lists' head and tail pointers.
//!
//! # Why this is sound
//!
//! All the unsafe code of the FIFOs is in this file, and rests on three rules:
//!
//! 1. **One lock.** A node's contents (links and data) are read and written only with its
//!    channel's lock held: peers reach it through the list (`&mut List`, which lives in the
//!    locked state), its owner through [`Locked`], which holds that channel's guard. The owner
//!    reaches its own node only through its own channel (`Waiter::chan`), so the two can never
//!    use different locks. This holds because a channel's two lists are private fields of its
//!    state, never moved, swapped or replaced, and because `ChanRef` and `Side` (unsafe traits)
//!    always name the same channel and the same list.
//! 2. **In the channel until removed.** From [`Locked::park`] until its owner calls
//!    [`Locked::remove`], the node is "in the channel": linked in the FIFO, or unlinked by a
//!    peer (that served it, closed the channel, or found its select finished) and waiting for
//!    its owner to collect the outcome. A `Waiter` that is in
//!    the channel when it is dropped removes itself first, under the lock (`Drop`). Its memory
//!    cannot be reused or moved before that: it is pinned, and pinned memory is not invalidated
//!    without running its destructor. So every node a list points to is alive.
//! 3. **No overlapping references.** References to a node's data handed out under the lock are
//!    borrowed from the list or from the `Locked` guard, so the borrow checker keeps a scan of
//!    the list and the owner's access to its own node from overlapping. The node is in an
//!    `UnsafeCell` and the `Waiter` is `!Unpin`, so the owner's `&mut Waiter` does not claim the
//!    node exclusively while a peer on another thread, holding the lock, writes to it. (That
//!    `&mut` to a `!Unpin` type is not assumed unique is what rustc and Miri do today, and
//!    what every intrusive async list relies on, tokio's included, rather than a language
//!    guarantee; Miri accepts this code under both Stacked and Tree Borrows.)

use super::chan::{Chan, State, Wakeups};
use super::lock::ChanGuard;
use crate::loom::UnsafeCell;
use std::fmt;
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;

type Link<W> = Option<NonNull<Node<W>>>;

/// A FIFO node. Its contents are written when it first parks: a future that never waits does
/// not pay for them. Under loom its cell records each time the contents are reached, so the
/// models also check that those moments are ordered by the channel lock.
struct Node<W> {
    cell: UnsafeCell<MaybeUninit<Contents<W>>>,
}

/// A node's contents: links, and the waiter's data while it is in the channel.
struct Contents<W> {
    prev: Link<W>,
    next: Link<W>,
    /// In the FIFO (a peer may still serve it).
    linked: bool,
    /// `Some` while the node is in the channel.
    data: Option<W>,
}

/// A FIFO of parked waiters, linked through nodes that live in their futures.
pub(crate) struct List<W> {
    head: Link<W>,
    tail: Link<W>,
}

// SAFETY: a list is a handle to the waiters it links; moving it to another thread lets that
// thread reach their data (under the channel lock, rule 1), which needs `W: Send`.
unsafe impl<W: Send> Send for List<W> {}

impl<W> fmt::Debug for List<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List")
            .field("empty", &self.is_empty())
            .finish()
    }
}

/// The contents of `node`, for the caller to read and write.
///
/// # Safety
///
/// `node` is alive and has parked at least once (its contents are written), the caller holds
/// the lock of the channel it belongs to (rule 1), and no other reference to its contents is
/// live while the returned one is.
#[inline]
unsafe fn contents<'n, W>(node: NonNull<Node<W>>) -> &'n mut Contents<W> {
    // SAFETY: the caller's contract; the node's cell is what makes writing through a pointer
    // derived from a shared reference to the node sound.
    unsafe { node.as_ref() }
        .cell
        .with_mut(|p| unsafe { (*p).assume_init_mut() })
}

/// What a scan does with a waiter it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Serve it: unlink it and stop the scan.
    Take,
    /// It can never be served: unlink it and go on.
    Unlink,
    /// Leave it parked and go on.
    Skip,
}

impl<W> List<W> {
    pub(crate) const fn new() -> Self {
        Self {
            head: None,
            tail: None,
        }
    }

    /// True if no waiter is parked.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// True if the first parked waiter (there is one) passes `f`: the common case of a scan,
    /// where the first waiter is taken (see `take_head`).
    #[inline]
    pub(crate) fn head_is(&mut self, f: impl FnOnce(&W) -> bool) -> bool {
        match self.head {
            // SAFETY: a linked node is alive (rule 2), and `&mut self` stands for the
            // channel's lock (rule 1); the reference ends with this call.
            Some(node) => f(unsafe { contents(node) }
                .data
                .as_ref()
                .expect("a linked node holds its waiter")),
            None => false,
        }
    }

    /// Unlinks the first parked waiter and returns it, as `take_first` does when it takes the
    /// first one. The waiter stays in the channel (its owner collects the outcome).
    #[inline]
    pub(crate) fn take_head(&mut self) -> Option<&mut W> {
        let node = self.head?;
        // SAFETY: a linked node is alive (rule 2), and `&mut self` stands for the channel's
        // lock (rule 1). The head has no predecessor; its successor, if any, is linked, so
        // alive, and is a different node, so the two references do not overlap. The returned
        // borrow is tied to `&mut self` (rule 3).
        unsafe {
            let n = contents(node);
            let next = n.next.take();
            n.prev = None;
            n.linked = false;
            self.head = next;
            match next {
                None => self.tail = None,
                Some(x) => contents(x).prev = None,
            }
            n.data.as_mut()
        }
    }

    /// Shows the parked waiters to `f`, oldest first, unlinking those it says to; the first one
    /// it takes is unlinked and returned. The waiter stays in the channel (its owner collects
    /// the outcome written into it).
    pub(crate) fn take_first(&mut self, mut f: impl FnMut(&mut W) -> Visit) -> Option<&mut W> {
        let mut at = self.head;
        while let Some(node) = at {
            let visit = {
                // SAFETY: a linked node is alive (rule 2), and `&mut self` stands for the
                // channel's lock (rule 1); the reference ends before the node is unlinked.
                let n = unsafe { contents(node) };
                at = n.next;
                f(n.data.as_mut().expect("a linked node holds its waiter"))
            };
            match visit {
                Visit::Take => {
                    // SAFETY: as above; the returned borrow is tied to `&mut self`, so it ends
                    // before the lock can be released (rule 3).
                    unsafe {
                        self.unlink(node);
                        return contents(node).data.as_mut();
                    }
                }
                // SAFETY: as above.
                Visit::Unlink => unsafe { self.unlink(node) },
                Visit::Skip => {}
            }
        }
        None
    }

    /// Unlinks every parked waiter, oldest first, after showing it to `f`.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(&mut W)) {
        while let Some(node) = self.head {
            // SAFETY: a linked node is alive (rule 2), and `&mut self` stands for the lock.
            let n = unsafe {
                self.unlink(node);
                contents(node)
            };
            if let Some(w) = n.data.as_mut() {
                f(w);
            }
        }
    }

    /// Contents `node` at the back.
    ///
    /// # Safety
    ///
    /// `node` is alive, not linked, and this list is the one its owner's channel holds, locked.
    unsafe fn push_back(&mut self, node: NonNull<Node<W>>) {
        // SAFETY: the caller's contract; `tail`, if any, is a linked node, so alive.
        unsafe {
            let n = contents(node);
            n.prev = self.tail;
            n.next = None;
            n.linked = true;
            match self.tail {
                None => self.head = Some(node),
                Some(t) => contents(t).next = Some(node),
            }
        }
        self.tail = Some(node);
    }

    /// Unlinks `node` if it is linked.
    ///
    /// # Safety
    ///
    /// `node` is alive and, if linked, linked in this list, whose lock the caller holds.
    unsafe fn unlink(&mut self, node: NonNull<Node<W>>) {
        // SAFETY: the caller's contract; its neighbours are linked, so alive.
        unsafe {
            let n = contents(node);
            if !n.linked {
                return;
            }
            n.linked = false;
            let (prev, next) = (n.prev.take(), n.next.take());
            match prev {
                None => self.head = next,
                Some(p) => contents(p).next = next,
            }
            match next {
                None => self.tail = prev,
                Some(x) => contents(x).prev = prev,
            }
        }
    }
}

/// A waiter's side of the channel: which list it parks in, and how its cancellation is settled.
///
/// # Safety
///
/// `list` returns the same list of the given state every time: a field of it. The lists are
/// never moved, swapped or replaced while the state lives (rule 1 relies on a node's list
/// being the one its owner's channel holds).
pub(crate) unsafe trait Side: Sized {
    /// The channel's item type.
    type Item;
    /// The list this kind of waiter parks in.
    fn list(st: &mut State<Self::Item>) -> &mut List<Self>;
    /// The owner is gone while the waiter was in the channel (already removed from it): settle
    /// what it holds, under the lock. What is left in `waiter` is dropped after the lock is
    /// released.
    fn cancel(
        chan: &Chan<Self::Item>,
        st: &mut State<Self::Item>,
        waiter: &mut Self,
        wake: &mut Wakeups,
    );
}

/// How a waiter reaches its channel: a borrow (futures), or a shared handle (streams).
///
/// # Safety
///
/// `chan` returns the same channel every time, for as long as the handle lives.
pub(crate) unsafe trait ChanRef {
    /// The channel's item type.
    type Item;
    /// The channel.
    fn chan(&self) -> &Chan<Self::Item>;
}

// SAFETY: a shared reference always points to the same channel.
unsafe impl<T> ChanRef for &Chan<T> {
    type Item = T;
    #[inline]
    fn chan(&self) -> &Chan<T> {
        self
    }
}

// SAFETY: the handle owns a share of one channel and never changes it.
unsafe impl<T> ChanRef for std::sync::Arc<super::Handles<T>> {
    type Item = T;
    #[inline]
    fn chan(&self) -> &Chan<T> {
        &self.chan
    }
}

/// A waiter node, owned by the future that waits and pinned with it.
pub(crate) struct Waiter<C: ChanRef, W: Side<Item = C::Item>> {
    chan: C,
    /// The node is in the channel (rule 2). Read and written by the owner only.
    in_chan: bool,
    node: Node<W>,
    _pin: PhantomPinned,
}

// SAFETY: a waiter owns its channel handle and, through its node, a `W` that peers on any thread
// reach under the channel lock; sending the waiter sends both.
unsafe impl<C: ChanRef + Send, W: Side<Item = C::Item> + Send> Send for Waiter<C, W> {}
// SAFETY: a shared `&Waiter` reaches only the channel handle (`chan`) and the owner's flag;
// the node is reached only through `Pin<&mut Waiter>` or the channel's list, under the lock.
unsafe impl<C: ChanRef + Sync, W: Side<Item = C::Item> + Send> Sync for Waiter<C, W> {}

impl<C: ChanRef, W: Side<Item = C::Item>> Waiter<C, W> {
    /// A waiter for `chan`, not parked.
    pub(crate) fn new(chan: C) -> Self {
        Self {
            chan,
            in_chan: false,
            node: Node {
                cell: UnsafeCell::new(MaybeUninit::uninit()),
            },
            _pin: PhantomPinned,
        }
    }

    /// The waiter's channel.
    #[inline]
    pub(crate) fn chan(&self) -> &Chan<C::Item> {
        self.chan.chan()
    }

    /// The node is in the channel: parked, or served and not yet collected.
    #[inline]
    pub(crate) fn is_in_chan(&self) -> bool {
        self.in_chan
    }

    /// A copy of the handle to the waiter's channel.
    pub(crate) fn handle(&self) -> C
    where
        C: Clone,
    {
        self.chan.clone()
    }

    /// Takes the waiter out of the channel if it is in, settling it as dropping it would.
    pub(crate) fn leave(self: Pin<&mut Self>) {
        // SAFETY: nothing is moved out of the waiter.
        let this = unsafe { self.get_unchecked_mut() };
        if this.in_chan {
            this.cancel();
        }
    }

    /// Locks the waiter's channel, giving access to the channel state and to this node.
    #[inline]
    pub(crate) fn lock(self: Pin<&mut Self>) -> Locked<'_, W> {
        // SAFETY: nothing is moved out of the waiter; `Locked` reaches the node in place.
        unsafe { self.get_unchecked_mut() }.lock_in_place()
    }

    #[inline]
    fn lock_in_place(&mut self) -> Locked<'_, W> {
        let chan = self.chan.chan();
        Locked {
            chan,
            st: chan.lock(),
            node: NonNull::from(&self.node),
            in_chan: &mut self.in_chan,
        }
    }

    #[inline(never)]
    fn cancel(&mut self) {
        let mut wake = Wakeups::default();
        let mut l = self.lock_in_place();
        let mut waiter = l.remove().expect("a parked waiter holds its data");
        W::cancel(l.chan(), l.st(), &mut waiter, &mut wake);
        drop(l);
        wake.wake();
        // Its waker and a send's value are dropped here, with the lock free.
        drop(waiter);
    }
}

impl<C: ChanRef, W: Side<Item = C::Item>> Drop for Waiter<C, W> {
    fn drop(&mut self) {
        // Rule 2: out of the channel before the memory goes.
        if self.in_chan {
            self.cancel();
        }
    }
}

impl<C: ChanRef, W: Side<Item = C::Item>> fmt::Debug for Waiter<C, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("parked", &self.in_chan)
            .finish()
    }
}

/// A waiter's channel, locked: the channel, its state, and this waiter's node. The fields are
/// private, so the guard is always the lock of the node's own channel (rule 1).
pub(crate) struct Locked<'a, W: Side> {
    chan: &'a Chan<W::Item>,
    st: ChanGuard<'a, State<W::Item>>,
    node: NonNull<Node<W>>,
    in_chan: &'a mut bool,
}

impl<'a, W: Side> Locked<'a, W> {
    /// The channel.
    #[inline]
    pub(crate) fn chan(&self) -> &'a Chan<W::Item> {
        self.chan
    }

    /// The channel's state, locked.
    #[inline]
    pub(crate) fn st(&mut self) -> &mut State<W::Item> {
        &mut self.st
    }

    /// The node is in the channel.
    #[inline]
    pub(crate) fn is_in_chan(&self) -> bool {
        *self.in_chan
    }

    /// This waiter's data, while it is in the channel.
    #[inline]
    pub(crate) fn waiter(&mut self) -> Option<&mut W> {
        if !*self.in_chan {
            return None;
        }
        // SAFETY: the node is alive (it is ours) and in this channel, whose lock `st` holds
        // (rule 1); the borrow is tied to `&mut self`, so no scan through `st` overlaps it.
        unsafe { contents(self.node).data.as_mut() }
    }

    /// Parks this waiter at the back of its list.
    ///
    /// # Panics
    ///
    /// Panics if it is already in the channel.
    pub(crate) fn park(&mut self, waiter: W) {
        assert!(!*self.in_chan, "a waiter is parked once at a time");
        // SAFETY: not in the channel, so no list points to the node and nobody else reaches it;
        // it is pinned, and is removed before it is dropped (rule 2). Its contents are written
        // whole here (they hold no data once out of the channel, so nothing is leaked by
        // overwriting them; the node is never dropped as such). The list is this channel's,
        // locked by `st`.
        unsafe {
            self.node.as_ref().cell.with_mut(|p| {
                (*p).write(Contents {
                    prev: None,
                    next: None,
                    linked: false,
                    data: Some(waiter),
                })
            });
            W::list(&mut self.st).push_back(self.node);
        }
        *self.in_chan = true;
    }

    /// Takes this waiter out of the channel (unlinking it if no peer did) and returns its data.
    #[inline]
    pub(crate) fn remove(&mut self) -> Option<W> {
        if !*self.in_chan {
            return None;
        }
        *self.in_chan = false;
        // SAFETY: the node is ours and in this channel, whose lock we hold; if linked, it is in
        // this list (it was parked here).
        unsafe {
            W::list(&mut self.st).unlink(self.node);
            contents(self.node).data.take()
        }
    }
}

/// The elements of a pinned slice, each pinned.
pub(crate) fn pin_each<A>(slice: Pin<&mut [A]>) -> impl Iterator<Item = Pin<&mut A>> {
    // SAFETY: the elements of a pinned slice are pinned with it; they are only handed out
    // pinned, and nothing is moved out of the slice.
    unsafe { slice.get_unchecked_mut() }
        .iter_mut()
        // SAFETY: as above.
        .map(|a| unsafe { Pin::new_unchecked(a) })
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use crate::channel::chan::{Capacity, Notify, SendOutcome, SendWaiter};
    use std::task::Waker;

    type SendNode<'a> = Pin<Box<Waiter<&'a Chan<u32>, SendWaiter<u32>>>>;

    fn parked(chan: &Chan<u32>, value: u32) -> SendNode<'_> {
        let mut w = Box::pin(Waiter::new(chan));
        w.as_mut().lock().park(SendWaiter {
            value: Some(value),
            outcome: SendOutcome::Pending,
            notify: Notify::Waker(Waker::noop().clone()),
        });
        w
    }

    /// The values of the parked senders, front to back, without serving them.
    fn fifo(chan: &Chan<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        SendWaiter::list(&mut chan.lock()).take_first(|w| {
            out.push(w.value.expect("parked with a value"));
            Visit::Skip
        });
        out
    }

    #[test]
    fn fifo_order_and_removal_anywhere() {
        let chan = Chan::new(Capacity::Bounded(0));
        let mut nodes: Vec<_> = (0..6).map(|v| Some(parked(&chan, v))).collect();
        assert_eq!(fifo(&chan), vec![0, 1, 2, 3, 4, 5]);
        // Dropped from the middle, the front and the back.
        nodes[2] = None;
        nodes[0] = None;
        nodes[5] = None;
        assert_eq!(fifo(&chan), vec![1, 3, 4]);
        // A newcomer goes to the back.
        nodes.push(Some(parked(&chan, 9)));
        assert_eq!(fifo(&chan), vec![1, 3, 4, 9]);
        nodes.clear();
        assert!(chan.lock().nobody_parked());
    }

    #[test]
    fn a_served_waiter_stays_in_the_channel_until_removed() {
        let chan = Chan::new(Capacity::Bounded(0));
        let mut a = parked(&chan, 1);
        let mut b = parked(&chan, 2);
        {
            let mut st = chan.lock();
            let served = SendWaiter::list(&mut st)
                .take_first(|_| Visit::Take)
                .expect("a is first");
            assert_eq!(served.value.take(), Some(1));
            served.outcome = SendOutcome::Delivered;
        }
        assert_eq!(fifo(&chan), vec![2], "a is unlinked");
        assert!(a.is_in_chan(), "but still holds its outcome for its owner");
        let got = a.as_mut().lock().remove().expect("in the channel");
        assert_eq!(got.outcome, SendOutcome::Delivered);
        assert!(!a.is_in_chan());
        assert!(a.as_mut().lock().remove().is_none(), "removed once");
        // A waiter can park again once out, and goes to the back.
        a.as_mut().lock().park(SendWaiter {
            value: Some(3),
            outcome: SendOutcome::Pending,
            notify: Notify::Waker(Waker::noop().clone()),
        });
        assert_eq!(fifo(&chan), vec![2, 3]);
        b.as_mut().leave();
        assert_eq!(fifo(&chan), vec![3]);
    }

    #[test]
    fn unlink_and_drain_keep_the_order() {
        let chan = Chan::new(Capacity::Bounded(0));
        let nodes: Vec<_> = (0..5).map(|v| parked(&chan, v)).collect();
        // Unlink the odd ones met on the way, take the first even one after 0; the scan stops
        // there, so 3 is not met.
        let took = SendWaiter::list(&mut chan.lock())
            .take_first(|w| match w.value {
                Some(v) if v % 2 == 1 => Visit::Unlink,
                Some(v) if v > 0 => Visit::Take,
                _ => Visit::Skip,
            })
            .and_then(|w| w.value);
        assert_eq!(took, Some(2));
        assert_eq!(fifo(&chan), vec![0, 3, 4]);
        let mut drained = Vec::new();
        SendWaiter::list(&mut chan.lock()).drain(|w| drained.extend(w.value));
        assert_eq!(drained, vec![0, 3, 4]);
        assert!(chan.lock().nobody_parked());
        // Every node is still in the channel (unlinked), and leaves when dropped.
        assert!(nodes.iter().all(|n| n.is_in_chan()));
        drop(nodes);
    }
}
