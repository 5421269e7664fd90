//! `RateLimiter`: a token bucket with no background task.

#![forbid(unsafe_code)]

use crate::runtime::scheduler::coop;
use crate::time::Instant;
use crate::time::{sleep, Sleep};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

/// Allows `rate_per_sec` operations per second on average, with bursts of up to `burst`
/// (1 unless set): the guide's Example 4.
///
/// A token bucket computed on demand, so no task refills it. Waiters are served in arrival
/// order: an [`acquire`](RateLimiter::acquire) that finds others waiting joins the back of the
/// queue, only the first in line waits for the next token, and each token is taken when it is
/// handed out, so a later caller never overtakes an earlier one and no more than `burst`
/// tokens ever come out at once. [`try_acquire`](RateLimiter::try_acquire) succeeds only when
/// nobody is waiting. A dropped `acquire` future leaves the queue and takes nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
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
    /// Tokens available at `at`, between 0 and `burst`.
    tokens: f64,
    at: Instant,
    /// The queued `acquire` calls, first come first.
    waiters: VecDeque<Waiter>,
    next_id: u64,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    /// Woken when the waiter becomes first in line.
    waker: Waker,
}

impl Bucket {
    /// Wakes the first waiter: it is first in line now and waits for the next token itself.
    fn wake_first(&self) {
        if let Some(w) = self.waiters.front() {
            w.waker.wake_by_ref();
        }
    }
}

/// A token counts as there once this close to whole: the float arithmetic of the refill may
/// leave it a hair short at the very instant it was due.
const WHOLE: f64 = 1.0 - 1e-9;

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate_per_sec", &self.rate)
            .field("burst", &self.burst)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter of `rate_per_sec` operations per second, bursts of 1, starting full. A rate
    /// so low that the next token is centuries away makes `acquire` wait that long (in
    /// practice, forever); it does not overflow.
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
                waiters: VecDeque::new(),
                next_id: 0,
            }),
        }
    }

    /// Allows bursts of up to `n` operations (0 counts as 1); the bucket starts full.
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
        if b.waiters.is_empty() && b.tokens >= WHOLE {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Waits for a token, after every earlier caller still waiting has had theirs.
    /// Cancel-safe: dropped before it completes, it takes none and gives up its place.
    pub async fn acquire(&self) {
        Acquire {
            limiter: self,
            id: None,
            sleep: None,
        }
        .await;
    }
}

/// The future of [`RateLimiter::acquire`].
struct Acquire<'a> {
    limiter: &'a RateLimiter,
    /// Its place in the queue, once it has one.
    id: Option<u64>,
    /// The wait for the next token, while first in line.
    sleep: Option<Sleep>,
}

impl Future for Acquire<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let coop = ready!(coop::poll_proceed(cx));
        let limiter = this.limiter;
        // Bounded: each turn either returns or finds its sleep elapsed, which moves the clock
        // past the token's time.
        loop {
            let mut b = limiter.bucket();
            limiter.refill(&mut b, Instant::now());
            let id = match this.id {
                Some(id) => id,
                None if b.waiters.is_empty() && b.tokens >= WHOLE => {
                    b.tokens -= 1.0;
                    coop.made_progress();
                    return Poll::Ready(());
                }
                None => {
                    let id = b.next_id;
                    b.next_id += 1;
                    b.waiters.push_back(Waiter {
                        id,
                        waker: cx.waker().clone(),
                    });
                    this.id = Some(id);
                    id
                }
            };
            let first = b.waiters.front().is_some_and(|w| w.id == id);
            if !first {
                if let Some(w) = b.waiters.iter_mut().find(|w| w.id == id) {
                    if !w.waker.will_wake(cx.waker()) {
                        w.waker = cx.waker().clone();
                    }
                }
                return Poll::Pending;
            }
            if b.tokens >= WHOLE {
                b.tokens -= 1.0;
                b.waiters.pop_front();
                b.wake_first();
                this.id = None;
                this.sleep = None;
                coop.made_progress();
                return Poll::Ready(());
            }
            // First in line: nobody takes tokens meanwhile, so the time computed once holds.
            let sleep = this.sleep.get_or_insert_with(|| {
                let secs = (1.0 - b.tokens) / limiter.rate;
                // A wait past `Duration::MAX` (a tiny rate) saturates; `sleep` then saturates
                // the deadline.
                sleep(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
            });
            drop(b);
            ready!(Pin::new(&mut *sleep).poll(cx));
            this.sleep = None;
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let mut b = self.limiter.bucket();
        if let Some(pos) = b.waiters.iter().position(|w| w.id == id) {
            b.waiters.remove(pos);
            if pos == 0 {
                b.wake_first();
            }
        }
    }
}
