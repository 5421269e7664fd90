//! A hierarchical timing wheel: 6 levels of 64 slots, 1 ms per level-0 slot.
//!
//! Level `L` has slots of `64^L` ms, so the wheel spans `64^6` ms (about 2.2 years); later
//! deadlines are parked in the last level and cascade down when their slot comes round. Each
//! level keeps a `u64` bitmap of occupied slots, so finding the next expiration is a rotate and
//! a `trailing_zeros` per level.
//!
//! Entries keep their exact deadline in nanoseconds; the wheel sorts them by millisecond tick.
//! A level-0 slot holds the entries of a single tick, so the earliest exact deadline is a scan
//! of one short list: the owner can sleep until exactly then, and an entry fires only once its
//! exact deadline has passed. Slots give the structure 1 ms resolution, the exact deadlines
//! keep wake-ups from being rounded up to the next millisecond.
//!
//! Entries live in a slab and are linked into their slot's list by slab index (a doubly linked
//! list without pointers), which makes insert and cancel O(1) without unsafe code. An entry
//! that fires is unlinked and its payload handed out, but its slab slot stays reserved until
//! its owner removes it, so a key is never reused while its owner still holds it.
//!
//! This file is pure: no clock, no locks. Time is a `u64` count of nanoseconds since the
//! wheel's start, advanced by the caller.

use slab::Slab;

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
const NIL: u32 = u32::MAX;

/// Nanoseconds per tick (one level-0 slot).
pub(crate) const TICK_NS: u64 = 1_000_000;

/// The largest delay the wheel represents directly (in ticks); later deadlines cascade.
pub(crate) const MAX_SPAN: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64);

#[derive(Debug)]
struct Entry<T> {
    /// Exact deadline, in ns.
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
    /// The wheel's current tick: every slot before it has been processed.
    elapsed: u64,
    /// Entries that have not fired (nor been removed).
    armed: usize,
}

/// The level on which a deadline tick `when` belongs, seen from tick `elapsed`.
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

/// Ticks covered by one slot of `level`.
fn slot_range(level: usize) -> u64 {
    1 << (level as u32 * SLOT_BITS)
}

/// Ticks covered by the whole of `level`.
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
            armed: 0,
        }
    }

    /// Number of entries, fired or not, still held.
    #[cfg(any(test, weft_loom))]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Number of timers that have not fired yet.
    pub(crate) fn armed(&self) -> usize {
        self.armed
    }

    /// Adds a timer firing at `when` (ns) and returns its key. A deadline at or before the
    /// current time fires at the next advance.
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
        self.armed += 1;
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
        let payload = self.entries.remove(key).payload;
        if payload.is_some() {
            self.armed -= 1;
        }
        payload
    }

    /// Hands out the payload of every pending timer, as if all had fired. Entries stay reserved
    /// until [`TimerWheel::remove`], like fired ones.
    pub(crate) fn fire_all(&mut self, mut fire: impl FnMut(T)) {
        for (_, e) in self.entries.iter_mut() {
            if e.linked {
                e.linked = false;
                if let Some(p) = e.payload.take() {
                    fire(p);
                }
            }
        }
        for level in &mut self.levels {
            level.occupied = 0;
            level.heads = [NIL; SLOTS];
        }
        self.armed = 0;
    }

    /// When the wheel next needs to be advanced (ns): the exact deadline of the earliest timer,
    /// or the start of a higher-level slot whose entries must cascade down by then.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        let (level, slot, deadline) = self.next_slot(false)?;
        if level > 0 {
            return Some(deadline * TICK_NS);
        }
        // A level-0 slot holds one tick's entries: the earliest exact deadline among them.
        let mut key = self.levels[0].heads[slot];
        let mut earliest = u64::MAX;
        while key != NIL {
            let e = &self.entries[key as usize];
            earliest = earliest.min(e.when);
            key = e.next;
        }
        Some(earliest)
    }

    /// Advances the wheel to `now` (ns), handing the payload of every timer whose deadline is
    /// at or before `now` to `fire`. Fired entries stay reserved until [`TimerWheel::remove`].
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(T)) {
        let now_tick = now / TICK_NS;
        // The level-0 slot of the current tick may keep entries due later within the tick;
        // it is processed once, then left out of the search.
        let mut current_done = false;
        while let Some((level, slot, deadline)) = self.next_slot(current_done) {
            if deadline > now_tick {
                break;
            }
            self.elapsed = self.elapsed.max(deadline);
            if level == 0 && deadline == now_tick {
                current_done = true;
            }
            // Take the whole slot; entries not yet due (cascading from a higher level, or later
            // in the current tick) are linked again where they now belong.
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
                        self.armed -= 1;
                        fire(p);
                    }
                } else {
                    self.link(key as usize);
                }
                key = next;
            }
        }
        self.elapsed = self.elapsed.max(now_tick);
    }

    /// Finds the earliest occupied slot: `(level, slot, deadline tick)`, optionally leaving out
    /// the level-0 slot of the current tick.
    ///
    /// Lower levels always hold earlier deadlines than higher ones (an entry sits on the lowest
    /// level whose current turn contains it), so the first occupied level wins. A slot found
    /// behind the current one belongs to the next turn of its level (only the top level wraps:
    /// see `link`); the current slot itself is due now, which cascades its entries down.
    fn next_slot(&self, skip_current_tick: bool) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let range = slot_range(level);
            let now_slot = ((self.elapsed / range) % SLOTS as u64) as u32;
            let mut occupied = self.levels[level].occupied;
            if level == 0 && skip_current_tick {
                occupied &= !(1 << now_slot);
            }
            if occupied == 0 {
                continue;
            }
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
        let place = (self.entries[key].when / TICK_NS)
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

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    /// `x` milliseconds in wheel time.
    fn ms(x: u64) -> u64 {
        x * TICK_NS
    }

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
    fn fires_at_the_exact_deadline_not_before() {
        let mut w = TimerWheel::new();
        let when = ms(10) + 300_000; // 10.3 ms
        w.insert(when, 1);
        assert_eq!(w.next_expiration(), Some(when));
        assert!(fired_at(&mut w, ms(9)).is_empty());
        assert!(
            fired_at(&mut w, ms(10)).is_empty(),
            "same tick, but 0.3 ms early"
        );
        assert!(fired_at(&mut w, when - 1).is_empty());
        assert_eq!(fired_at(&mut w, when), vec![1]);
        assert!(fired_at(&mut w, ms(11)).is_empty());
    }

    #[test]
    fn earliest_exact_deadline_within_a_tick() {
        let mut w = TimerWheel::new();
        w.insert(ms(5) + 900_000, 1);
        w.insert(ms(5) + 100_000, 2);
        w.insert(ms(5) + 500_000, 3);
        assert_eq!(w.next_expiration(), Some(ms(5) + 100_000));
        assert_eq!(fired_at(&mut w, ms(5) + 600_000), vec![2, 3]);
        assert_eq!(w.next_expiration(), Some(ms(5) + 900_000));
        assert_eq!(fired_at(&mut w, ms(6)), vec![1]);
    }

    #[test]
    fn cascades_from_higher_levels() {
        let mut w = TimerWheel::new();
        for (i, when) in [70u64, 5_000, 300_000, 20_000_000].into_iter().enumerate() {
            w.insert(ms(when), i as u32);
        }
        let mut seen = Vec::new();
        let mut now = 0;
        while let Some(next) = w.next_expiration() {
            assert!(next >= now, "time never goes backwards");
            now = next;
            for p in fired_at(&mut w, now) {
                seen.push((p, now));
            }
        }
        let expect: Vec<_> = [70u64, 5_000, 300_000, 20_000_000]
            .into_iter()
            .enumerate()
            .map(|(i, t)| (i as u32, ms(t)))
            .collect();
        assert_eq!(seen, expect);
    }

    #[test]
    fn never_early_never_late_many_random_deadlines() {
        let mut w = TimerWheel::new();
        let mut x = 12345u64;
        let mut deadlines = Vec::new();
        for i in 0..5_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let when = x % ms(1_000_000);
            deadlines.push(when);
            w.insert(when, i);
        }
        let mut now: u64 = 0;
        let mut count = 0;
        // Advance in uneven steps; every timer must fire in the step that passes its deadline.
        while count < deadlines.len() {
            let prev = now;
            now += 1 + (now.wrapping_mul(7919) >> 3) % ms(3_000);
            w.advance(now, |i| {
                let when = deadlines[i as usize];
                assert!(when <= now, "fired early: {when} at {now}");
                assert!(
                    when > prev || prev == 0,
                    "fired late: {when} at {now}, after {prev}"
                );
                count += 1;
            });
        }
    }

    #[test]
    fn following_next_expiration_fires_exactly_on_time() {
        let mut w = TimerWheel::new();
        let mut x = 99u64;
        let mut pending = 0;
        for i in 0..2_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.insert(x % ms(200_000), i);
            pending += 1;
        }
        while let Some(next) = w.next_expiration() {
            w.advance(next, |_| pending -= 1);
        }
        assert_eq!(pending, 0);
    }

    #[test]
    fn cancel_is_o1_and_unlinks() {
        let mut w = TimerWheel::new();
        let a = w.insert(ms(30), 1);
        let b = w.insert(ms(30), 2);
        let c = w.insert(ms(30), 3);
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(fired_at(&mut w, ms(30)), vec![3]);
        assert!(w.has_fired(c));
        assert_eq!(w.remove(c), None, "fired: payload already handed out");
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_expiration(), None);
    }

    #[test]
    fn far_future_deadline_is_kept() {
        let mut w = TimerWheel::new();
        let far = ms(MAX_SPAN * 3 + 17);
        w.insert(far, 9);
        let mut now;
        let mut fired = Vec::new();
        while fired.is_empty() {
            now = w.next_expiration().expect("still pending");
            assert!(now <= far);
            fired = fired_at(&mut w, now);
            if !fired.is_empty() {
                assert_eq!(now, far);
            }
        }
        assert_eq!(fired, vec![9]);
    }

    #[test]
    fn wrap_around_level_zero() {
        let mut w: TimerWheel<u32> = TimerWheel::new();
        w.advance(ms(60), |_| {});
        w.insert(ms(65), 1); // crosses into the next 64 ms block: level 1 first
        w.insert(ms(61), 2);
        assert_eq!(w.next_expiration(), Some(ms(61)));
        assert_eq!(fired_at(&mut w, ms(61)), vec![2]);
        // Entry 65 sits in level 1 until its slot (starting at 64) comes round and cascades it;
        // the wheel may report that cascade point, never a time after the entry's deadline.
        let next = w.next_expiration().unwrap();
        assert!((ms(62)..=ms(65)).contains(&next), "{next}");
        assert!(fired_at(&mut w, ms(64)).is_empty());
        assert_eq!(w.next_expiration(), Some(ms(65)));
        assert_eq!(fired_at(&mut w, ms(100)), vec![1]);
    }

    #[test]
    fn insert_in_the_past_fires_next_advance() {
        let mut w = TimerWheel::new();
        w.advance(ms(1_000), |_: u32| {});
        w.insert(ms(10), 5);
        assert!(w.next_expiration().unwrap() <= ms(1_000));
        assert_eq!(fired_at(&mut w, ms(1_000)), vec![5]);
    }

    #[test]
    fn fire_all_hands_out_pending_payloads_once() {
        let mut w = TimerWheel::new();
        let a = w.insert(ms(5), 1);
        w.insert(ms(70_000), 2);
        w.insert(ms(1), 3);
        assert_eq!(fired_at(&mut w, ms(1)), vec![3]);
        let mut all = Vec::new();
        w.fire_all(|p| all.push(p));
        all.sort_unstable();
        assert_eq!(all, vec![1, 2]);
        assert_eq!(w.next_expiration(), None);
        assert!(w.has_fired(a));
        assert_eq!(w.remove(a), None);
        assert_eq!(w.len(), 2, "fired entries stay reserved until removed");
    }

    #[test]
    fn update_payload_in_place() {
        let mut w = TimerWheel::new();
        let k = w.insert(ms(5), 1);
        *w.get_mut(k).unwrap() = 7;
        assert_eq!(fired_at(&mut w, ms(5)), vec![7]);
        assert!(w.get_mut(k).is_none());
    }
}
