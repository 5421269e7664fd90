//! `RateLimiter`: a token bucket with no background task.

use crate::time::sleep_until;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Allows `rate_per_sec` operations per second on average, with bursts of up to `burst`
/// (1 unless set): the guide's Example 4.
///
/// A token bucket computed on demand, so no task refills it. Waiters are served in arrival
/// order: each [`acquire`](RateLimiter::acquire) reserves the next token as it arrives (the
/// bucket may go into debt) and sleeps until that token's time, so a later caller never
/// overtakes an earlier one, and [`try_acquire`](RateLimiter::try_acquire) succeeds only when
/// nobody is waiting. A dropped `acquire` future hands its reservation back.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use weft::sync::RateLimiter;
///
/// # weft::block_on(async {
/// let limiter = RateLimiter::new(100.0); // 100 per second
/// let start = Instant::now();
/// for _ in 0..5 {
///     limiter.acquire().await;
/// }
/// assert!(start.elapsed() >= Duration::from_millis(40)); // the first token is there at once
/// # });
/// ```
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens available at `at`; negative when reserved ahead.
    tokens: f64,
    at: Instant,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate_per_sec", &self.rate)
            .field("burst", &self.burst)
            .finish()
    }
}

/// Hands a reservation back if the `acquire` future is dropped before its token's time.
struct Reservation<'a> {
    limiter: &'a RateLimiter,
    armed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut b = self.limiter.bucket();
            b.tokens = (b.tokens + 1.0).min(self.limiter.burst);
        }
    }
}

impl RateLimiter {
    /// A limiter of `rate_per_sec` operations per second, bursts of 1, starting full.
    ///
    /// # Panics
    ///
    /// Panics unless `rate_per_sec` is positive and finite.
    pub fn new(rate_per_sec: f64) -> Self {
        assert!(
            rate_per_sec.is_finite() && rate_per_sec > 0.0,
            "RateLimiter::new: the rate must be positive and finite"
        );
        Self {
            rate: rate_per_sec,
            burst: 1.0,
            state: Mutex::new(Bucket {
                tokens: 1.0,
                at: Instant::now(),
            }),
        }
    }

    /// Allows bursts of up to `n` operations (at least 1); the bucket starts full.
    pub fn with_burst(mut self, n: u32) -> Self {
        self.burst = f64::from(n.max(1));
        self.bucket().tokens = self.burst;
        self
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the bucket up to `now`.
    fn refill(&self, b: &mut Bucket, now: Instant) {
        if now > b.at {
            let earned = now.duration_since(b.at).as_secs_f64() * self.rate;
            b.tokens = (b.tokens + earned).min(self.burst);
            b.at = now;
        }
    }

    /// Takes a token if one is available now and nobody is waiting.
    pub fn try_acquire(&self) -> bool {
        let mut b = self.bucket();
        self.refill(&mut b, Instant::now());
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Waits for a token. Cancel-safe: dropped before it completes, it takes none.
    pub async fn acquire(&self) {
        let wait = {
            let mut b = self.bucket();
            let now = Instant::now();
            self.refill(&mut b, now);
            b.tokens -= 1.0;
            if b.tokens >= 0.0 {
                return;
            }
            // In debt: this token exists once the debt is paid back.
            Duration::from_secs_f64(-b.tokens / self.rate)
        };
        let mut reservation = Reservation {
            limiter: self,
            armed: true,
        };
        sleep_until(Instant::now() + wait).await;
        reservation.armed = false;
    }
}
