//! interval: first tick at once, period, and the three missed-tick behaviours.

use std::time::{Duration, Instant};
use weft::time::{interval, interval_at, MissedTickBehavior};

const P: Duration = Duration::from_millis(20);

#[test]
fn first_tick_is_immediate_then_every_period() {
    weft::block_on(async {
        let start = Instant::now();
        let mut iv = interval(P);
        let t0 = iv.tick().await;
        let t1 = iv.tick().await;
        let t2 = iv.tick().await;
        assert_eq!(t1 - t0, P);
        assert_eq!(t2 - t1, P);
        assert!(start.elapsed() >= 2 * P, "never early");
        assert!(Instant::now() >= t2);
    });
}

/// Ticks once, then blocks the task for 3.5 periods, then records the next ticks.
fn after_stall(behavior: MissedTickBehavior) -> (Instant, Vec<Instant>, Instant) {
    weft::block_on(async move {
        let start = Instant::now();
        let mut iv = interval_at(start, P);
        iv.set_missed_tick_behavior(behavior);
        assert_eq!(iv.missed_tick_behavior(), behavior);
        iv.tick().await;
        std::thread::sleep(P * 7 / 2);
        let resumed = Instant::now();
        let mut ticks = Vec::new();
        for _ in 0..4 {
            ticks.push(iv.tick().await.into_std());
        }
        (start, ticks, resumed)
    })
}

#[test]
fn burst_fires_missed_ticks_on_the_original_schedule() {
    let (start, ticks, _) = after_stall(MissedTickBehavior::Burst);
    let expect: Vec<_> = (1..=4).map(|k| start + P * k).collect();
    assert_eq!(ticks, expect);
}

#[test]
fn delay_restarts_the_schedule_from_now() {
    let (start, ticks, resumed) = after_stall(MissedTickBehavior::Delay);
    // The first late tick is the one due at 1 period; after it the schedule restarts.
    assert_eq!(ticks[0], start + P);
    assert!(ticks[1] >= resumed + P, "{:?} vs {:?}", ticks[1], resumed);
    assert_eq!(ticks[2] - ticks[1], P);
    assert_eq!(ticks[3] - ticks[2], P);
}

#[test]
fn skip_jumps_to_the_next_tick_of_the_original_schedule() {
    let (start, ticks, resumed) = after_stall(MissedTickBehavior::Skip);
    assert_eq!(ticks[0], start + P);
    for t in &ticks[1..] {
        let since = t.duration_since(start);
        assert_eq!(since.as_nanos() % P.as_nanos(), 0, "on the original grid");
        assert!(*t > resumed, "missed ticks were skipped");
    }
    assert_eq!(ticks[2] - ticks[1], P);
}

#[test]
fn reset_restarts_from_now() {
    weft::block_on(async {
        let mut iv = interval(P);
        iv.tick().await;
        let before = Instant::now();
        iv.reset();
        let t = iv.tick().await;
        assert!(t >= before + P);
        assert_eq!(iv.period(), P);
    });
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn zero_period_panics() {
    let _ = interval(Duration::ZERO);
}

#[test]
fn a_period_of_duration_max_ticks_once_then_waits_without_panicking() {
    weft::block_on(async {
        let mut iv = interval(Duration::MAX);
        iv.tick().await;
        let second = weft::timeout(iv.tick(), Duration::from_millis(50)).await;
        assert!(second.is_err(), "the second tick is centuries away");
        iv.reset();
        let after_reset = weft::timeout(iv.tick(), Duration::from_millis(50)).await;
        assert!(after_reset.is_err());
    });
}

#[test]
fn skip_far_behind_a_tiny_period_lands_ahead_of_now() {
    // 1 ns period, schedule started 10 s ago: ten billion ticks were missed, more than a
    // u32 counts. The tick after the first must still be on the grid and not in the past.
    let start = Instant::now()
        .checked_sub(Duration::from_secs(10))
        .expect("the clock has run for 10 s");
    weft::block_on(async {
        let mut iv = interval_at(start, Duration::from_nanos(1));
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        // The next tick is chosen when the first one completes: after this instant.
        let before = Instant::now();
        assert_eq!(iv.tick().await, start);
        let next = iv.tick().await;
        assert!(
            next >= before,
            "skipped to {:?} before now",
            before.duration_since(next.into_std())
        );
    });
}
