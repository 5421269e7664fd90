//! A hierarchical timing wheel: 6 levels of 64 slots, 1 ms per level-0 slot.
//!
//! Level `L` has slots of `64^L` ms, so the wheel spans `64^6` ms (about 2.2 years); later
//! deadlines are parked in the last level and cascade down when their slot comes round. Each
//! level keeps a `u64` bitmap of occupied slots, so finding the next expiration is a rotate and
//! a `trailing_zeros` per level.
//!
//! Entries live in a slab and are linked into their slot's list by slab index (a doubly linked
//! list without pointers), which makes insert and cancel O(1) without unsafe code. An entry
//! that fires is unlinked and its payload handed out, but its slab slot stays reserved until
//! its owner removes it, so a key is never reused while its owner still holds it.
//!
//! This file is pure: no clock, no locks. Time is a `u64` count of milliseconds since the
//! wheel's start, advanced by the caller.

use slab::Slab;

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
const NIL: u32 = u32::MAX;

/// The largest delay the wheel represents directly (in ms); later deadlines cascade.
pub(crate) const MAX_SPAN: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64);

#[derive(Debug)]
struct Entry<T> {
    when: u64,
    payload: Option<T>,
    prev: u32,
    next: u32,
    /// Where the entry is linked, if it is.
    level: u8,
    slot: u8,
    linked: bool,
}

#[derive(Debug, Clone)]
struct Level {
    occupied: u64,
    heads: [u32; SLOTS],
}

/// A timing wheel holding payloads of type `T` (wakers, in the runtime).
#[derive(Debug)]
pub(crate) struct TimerWheel<T> {
    levels: [Level; LEVELS],
    entries: Slab<Entry<T>>,
    elapsed: u64,
}

/// The level on which a deadline `when` belongs, seen from time `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
    // The highest bit in which the two times differ decides the level.
    let mut masked = (elapsed ^ when) | SLOT_MASK;
    if masked >= MAX_SPAN {
        masked = MAX_SPAN - 1;
    }
    let significant = 63 - masked.leading_zeros() as usize;
    significant / SLOT_BITS as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1)
}

/// Milliseconds covered by one slot of `level`.
fn slot_range(level: usize) -> u64 {
    1 << (level as u32 * SLOT_BITS)
}

/// Milliseconds covered by the whole of `level`.
fn level_range(level: usize) -> u64 {
    slot_range(level) * SLOTS as u64
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerWheel<T> {
    pub(crate) fn new() -> Self {
        Self {
            levels: std::array::from_fn(|_| Level {
                occupied: 0,
                heads: [NIL; SLOTS],
            }),
            entries: Slab::new(),
            elapsed: 0,
        }
    }

    /// Number of entries, fired or not, still held.
    #[cfg(any(test, loom))]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a timer firing at `when` and returns its key. A deadline at or before the current
    /// time fires at the next advance.
    pub(crate) fn insert(&mut self, when: u64, payload: T) -> usize {
        let key = self.entries.insert(Entry {
            when,
            payload: Some(payload),
            prev: NIL,
            next: NIL,
            level: 0,
            slot: 0,
            linked: false,
        });
        self.link(key);
        key
    }

    /// The payload of a pending (not yet fired) timer, to update it in place.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries
            .get_mut(key)
            .filter(|e| e.linked)
            .and_then(|e| e.payload.as_mut())
    }

    /// True if the timer `key` has fired (or does not exist).
    #[cfg(test)]
    pub(crate) fn has_fired(&self, key: usize) -> bool {
        self.entries.get(key).is_none_or(|e| !e.linked)
    }

    /// Removes a timer, fired or not; returns its payload if it had not fired.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        if !self.entries.contains(key) {
            return None;
        }
        self.unlink(key);
        self.entries.remove(key).payload
    }

    /// The time of the earliest pending timer, if any.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, deadline)| deadline)
    }

    /// Advances the wheel to `now`, handing the payload of every timer due by then to `fire`.
    /// Fired entries stay reserved until [`TimerWheel::remove`].
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(T)) {
        while let Some((level, slot, deadline)) = self.next_slot() {
            if deadline > now {
                break;
            }
            self.elapsed = self.elapsed.max(deadline);
            // Take the whole slot; entries due later than this slot's deadline (from higher
            // levels) cascade down to where they now belong.
            let mut key = self.levels[level].heads[slot];
            self.levels[level].heads[slot] = NIL;
            self.levels[level].occupied &= !(1 << slot);
            while key != NIL {
                let entry = &mut self.entries[key as usize];
                let next = entry.next;
                entry.linked = false;
                entry.prev = NIL;
                entry.next = NIL;
                if entry.when <= now {
                    if let Some(p) = entry.payload.take() {
                        fire(p);
                    }
                } else {
                    self.link(key as usize);
                }
                key = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Finds the earliest occupied slot: `(level, slot, deadline)`.
    ///
    /// Lower levels always hold earlier deadlines than higher ones (an entry sits on the lowest
    /// level whose current turn contains it), so the first occupied level wins. A slot found
    /// behind the current one belongs to the next turn of its level (only the top level wraps:
    /// see `link`); the current slot itself is due now, which cascades its entries down.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let occupied = self.levels[level].occupied;
            if occupied == 0 {
                continue;
            }
            let range = slot_range(level);
            let now_slot = ((self.elapsed / range) % SLOTS as u64) as u32;
            let slot = (occupied.rotate_right(now_slot).trailing_zeros() + now_slot) % SLOTS as u32;
            let level_start = self.elapsed & !(level_range(level) - 1);
            let mut deadline = level_start + u64::from(slot) * range;
            if slot < now_slot {
                deadline += level_range(level);
            }
            return Some((level, slot as usize, deadline.max(self.elapsed)));
        }
        None
    }

    fn link(&mut self, key: usize) {
        // Place the entry no further than one turn of the top level from the start of the
        // current top-level slot, so the top level never holds an entry in its current slot
        // that is really a whole turn ahead. Such an entry fires later, after re-linking.
        let top_slot_start = self.elapsed & !(slot_range(LEVELS - 1) - 1);
        let place = self.entries[key]
            .when
            .max(self.elapsed)
            .min(top_slot_start + MAX_SPAN - 1);
        let level = level_for(self.elapsed, place);
        let slot = slot_for(place, level);
        let head = self.levels[level].heads[slot];
        {
            let e = &mut self.entries[key];
            e.level = level as u8;
            e.slot = slot as u8;
            e.prev = NIL;
            e.next = head;
            e.linked = true;
        }
        if head != NIL {
            self.entries[head as usize].prev = key as u32;
        }
        self.levels[level].heads[slot] = key as u32;
        self.levels[level].occupied |= 1 << slot;
    }

    fn unlink(&mut self, key: usize) {
        let (level, slot, prev, next) = {
            let e = &mut self.entries[key];
            if !e.linked {
                return;
            }
            e.linked = false;
            (e.level as usize, e.slot as usize, e.prev, e.next)
        };
        if prev == NIL {
            self.levels[level].heads[slot] = next;
            if next == NIL {
                self.levels[level].occupied &= !(1 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn fired_at(wheel: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        wheel.advance(now, |p| out.push(p));
        out.sort_unstable();
        out
    }

    #[test]
    fn levels_and_slots() {
        assert_eq!(level_for(0, 0), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(100, 120), 0);
        assert_eq!(level_for(0, u64::MAX), LEVELS - 1);
        assert_eq!(slot_for(65, 1), 1);
    }

    #[test]
    fn fires_at_the_millisecond_boundary_not_before() {
        let mut w = TimerWheel::new();
        w.insert(10, 1);
        assert_eq!(w.next_expiration(), Some(10));
        assert!(fired_at(&mut w, 9).is_empty());
        assert_eq!(fired_at(&mut w, 10), vec![1]);
        assert!(fired_at(&mut w, 11).is_empty());
    }

    #[test]
    fn cascades_from_higher_levels() {
        let mut w = TimerWheel::new();
        for (i, when) in [70u64, 5_000, 300_000, 20_000_000].into_iter().enumerate() {
            w.insert(when, i as u32);
        }
        let mut seen = Vec::new();
        let mut now = 0;
        while let Some(next) = w.next_expiration() {
            assert!(next >= now, "time never goes backwards");
            now = next;
            let fired = fired_at(&mut w, now);
            for &p in &fired {
                seen.push((p, now));
            }
        }
        assert_eq!(
            seen,
            vec![(0, 70), (1, 5_000), (2, 300_000), (3, 20_000_000)]
        );
    }

    #[test]
    fn never_early_many_random_deadlines() {
        let mut w = TimerWheel::new();
        let mut x = 12345u64;
        let mut deadlines = Vec::new();
        for i in 0..5_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let when = x % 1_000_000;
            deadlines.push(when);
            w.insert(when, i);
        }
        let mut now = 0;
        let mut count = 0;
        // Advance in uneven steps; every timer must fire in the step that passes its deadline.
        while count < deadlines.len() {
            let step = 1 + (now * 7919) % 3_000;
            let prev = now;
            now += step;
            w.advance(now, |i| {
                let when = deadlines[i as usize];
                assert!(when <= now, "fired early: {when} at {now}");
                assert!(
                    when > prev || prev == 0 || when == 0,
                    "fired late: {when} at {now}, after {prev}"
                );
                count += 1;
            });
        }
    }

    #[test]
    fn cancel_is_o1_and_unlinks() {
        let mut w = TimerWheel::new();
        let a = w.insert(30, 1);
        let b = w.insert(30, 2);
        let c = w.insert(30, 3);
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(fired_at(&mut w, 30), vec![3]);
        assert!(w.has_fired(c));
        assert_eq!(w.remove(c), None, "fired: payload already handed out");
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_expiration(), None);
    }

    #[test]
    fn far_future_deadline_is_kept() {
        let mut w = TimerWheel::new();
        let far = MAX_SPAN * 3 + 17;
        w.insert(far, 9);
        let mut now = 0;
        let mut fired = Vec::new();
        while fired.is_empty() {
            now = w.next_expiration().expect("still pending");
            assert!(now <= far);
            fired = fired_at(&mut w, now);
        }
        assert_eq!((fired, now), (vec![9], far));
    }

    #[test]
    fn wrap_around_level_zero() {
        let mut w: TimerWheel<u32> = TimerWheel::new();
        w.advance(60, |_| {});
        w.insert(65, 1); // slot 1 of the next turn of level 0, or level 1
        w.insert(61, 2);
        assert_eq!(w.next_expiration(), Some(61));
        assert_eq!(fired_at(&mut w, 61), vec![2]);
        // Entry 65 sits in level 1 until its slot (starting at 64) comes round and cascades it;
        // the wheel may report that cascade point, never a time after the entry's deadline.
        let next = w.next_expiration().unwrap();
        assert!((62..=65).contains(&next), "{next}");
        assert!(fired_at(&mut w, 64).is_empty());
        assert_eq!(w.next_expiration(), Some(65));
        assert_eq!(fired_at(&mut w, 100), vec![1]);
    }

    #[test]
    fn insert_in_the_past_fires_next_advance() {
        let mut w = TimerWheel::new();
        w.advance(1_000, |_: u32| {});
        w.insert(10, 5);
        assert_eq!(w.next_expiration(), Some(1_000));
        assert_eq!(fired_at(&mut w, 1_000), vec![5]);
    }

    #[test]
    fn update_payload_in_place() {
        let mut w = TimerWheel::new();
        let k = w.insert(5, 1);
        *w.get_mut(k).unwrap() = 7;
        assert_eq!(fired_at(&mut w, 5), vec![7]);
        assert!(w.get_mut(k).is_none());
    }
}
