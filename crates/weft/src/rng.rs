//! The one random number generator of the runtime: a per-thread xorshift64, for the order in
//! which a select polls its arms and the worker a searching worker steals from first.

#![forbid(unsafe_code)]

use std::cell::Cell;

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// xorshift64: fast, and plenty for picking arms and victims.
pub(crate) struct Xorshift(u64);

impl Xorshift {
    #[inline]
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `f` with this thread's generator (one thread-local access for a whole shuffle).
#[inline]
pub(crate) fn with_rng<R>(f: impl FnOnce(&mut Xorshift) -> R) -> R {
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
pub(crate) fn below(rand: u64, n: usize) -> usize {
    ((u128::from(rand) * n as u128) >> 64) as usize
}

/// A uniform random index below `n` (`n > 0`), from this thread's generator.
pub(crate) fn index_below(n: usize) -> usize {
    with_rng(|rng| below(rng.next(), n))
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
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
}
