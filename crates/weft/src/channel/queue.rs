//! A FIFO of waiters kept in a slab and linked by index.
//!
//! Parked senders and receivers wait here. A waiter that is served is unlinked from the FIFO
//! but keeps its slab entry, holding its outcome, until its owner (the future that parked it)
//! collects the outcome or is dropped; a key is therefore never reused under its owner. Memory
//! is bounded by the number of futures parked at once: a dropped future frees its entry, and
//! a slab that grew large (a burst of parked futures) is given back once nobody waits.

use slab::Slab;

const NIL: usize = usize::MAX;

/// A slab holding more entries than this is freed once it is empty. Below it, the entries are
/// kept for the next waiters (a busy channel parks and unparks all the time).
const KEEP_CAPACITY: usize = 64;

#[derive(Debug)]
struct Node<W> {
    waiter: W,
    prev: usize,
    next: usize,
    linked: bool,
}

#[derive(Debug)]
pub(crate) struct WaitQueue<W> {
    nodes: Slab<Node<W>>,
    head: usize,
    tail: usize,
}

impl<W> Default for WaitQueue<W> {
    fn default() -> Self {
        Self {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl<W> WaitQueue<W> {
    /// Parks a waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, waiter: W) -> usize {
        let key = self.nodes.insert(Node {
            waiter,
            prev: self.tail,
            next: NIL,
            linked: true,
        });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.nodes[self.tail].next = key;
        }
        self.tail = key;
        key
    }

    /// The first linked waiter at or after `from` (`None` to start at the head).
    pub(crate) fn next_linked(&self, from: Option<usize>) -> Option<usize> {
        let key = match from {
            None => self.head,
            Some(k) => self.nodes[k].next,
        };
        (key != NIL).then_some(key)
    }

    /// Unlinks a waiter from the FIFO (it was served); its entry stays until removed.
    pub(crate) fn unlink(&mut self, key: usize) {
        let node = &mut self.nodes[key];
        if !node.linked {
            return;
        }
        node.linked = false;
        let (prev, next) = (node.prev, node.next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
    }

    /// True if the waiter is still parked in the FIFO.
    #[cfg(test)]
    pub(crate) fn is_linked(&self, key: usize) -> bool {
        self.nodes.get(key).is_some_and(|n| n.linked)
    }

    pub(crate) fn get(&self, key: usize) -> &W {
        &self.nodes[key].waiter
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> &mut W {
        &mut self.nodes[key].waiter
    }

    /// Removes a waiter, linked or not, and returns it.
    pub(crate) fn remove(&mut self, key: usize) -> W {
        self.unlink(key);
        let waiter = self.nodes.remove(key).waiter;
        if self.nodes.is_empty() && self.nodes.capacity() > KEEP_CAPACITY {
            self.nodes = Slab::new();
        }
        waiter
    }

    /// Entries the slab can hold.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// Number of entries held (parked or served but not yet collected).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if no waiter is parked.
    #[inline]
    pub(crate) fn is_empty_fifo(&self) -> bool {
        self.head == NIL
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    fn fifo(q: &WaitQueue<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = q.next_linked(None);
        while let Some(k) = at {
            out.push(*q.get(k));
            at = q.next_linked(Some(k));
        }
        out
    }

    #[test]
    fn fifo_unlink_remove() {
        let mut q = WaitQueue::default();
        let a = q.push_back(1);
        let b = q.push_back(2);
        let c = q.push_back(3);
        assert_eq!(fifo(&q), vec![1, 2, 3]);
        q.unlink(b);
        assert_eq!(fifo(&q), vec![1, 3]);
        assert!(!q.is_linked(b));
        assert_eq!(q.len(), 3, "served entries stay until collected");
        assert_eq!(q.remove(b), 2);
        assert_eq!(q.remove(a), 1);
        assert_eq!(fifo(&q), vec![3]);
        q.unlink(c);
        assert!(q.is_empty_fifo());
        let d = q.push_back(4);
        assert_eq!(fifo(&q), vec![4]);
        assert_eq!(q.remove(c), 3);
        assert_eq!(q.remove(d), 4);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_large_slab_is_given_back_once_empty() {
        let mut q = WaitQueue::default();
        let keys: Vec<_> = (0..1_000).map(|i| q.push_back(i)).collect();
        assert!(q.capacity() >= 1_000);
        for (i, k) in keys.into_iter().enumerate() {
            assert_eq!(q.remove(k), i);
        }
        assert_eq!(
            q.capacity(),
            0,
            "memory follows the waiters, not their peak"
        );
        let small: Vec<_> = (0..8).map(|i| q.push_back(i)).collect();
        let cap = q.capacity();
        for k in small {
            q.remove(k);
        }
        assert_eq!(
            q.capacity(),
            cap,
            "a small slab is kept for the next waiters"
        );
    }
}
