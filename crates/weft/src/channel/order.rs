//! The order in which one polling pass of a select tries its enabled arms: uniformly random
//! (Fisher-Yates over this thread's generator), or in index order for `biased`.

#![forbid(unsafe_code)]

use super::select::ArmSlot;
use crate::rng::{below, with_rng};

/// Selects of up to this many arms keep their polling order inline (no allocation).
pub(crate) const INLINE_ARMS: usize = 32;

/// The enabled arms' indices, in the order of one polling pass.
#[derive(Debug)]
pub(crate) enum Order {
    Inline(usize, [u8; INLINE_ARMS]),
    Heap(Vec<usize>),
}

impl Order {
    /// The enabled arms, in index order.
    pub(crate) fn fill(&mut self, arms: &[ArmSlot<'_>]) {
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

    pub(crate) fn len(&self) -> usize {
        match self {
            Order::Inline(len, _) => *len,
            Order::Heap(v) => v.len(),
        }
    }

    pub(crate) fn get(&self, n: usize) -> usize {
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
    pub(crate) fn shuffle(&mut self) {
        with_rng(|rng| {
            for i in (1..self.len()).rev() {
                self.swap(i, below(rng.next(), i + 1));
            }
        });
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

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
