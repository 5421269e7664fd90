//! `retry`: run an operation again, with a backoff, until it succeeds or attempts run out.

#![forbid(unsafe_code)]

use crate::time::{sleep, Sleep};
use pin_project_lite::pin_project;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// How long to wait between attempts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::Backoff;
///
/// let b = Backoff::exponential(Duration::from_millis(100)).max_delay(Duration::from_secs(2));
/// let f = Backoff::fixed(Duration::from_millis(50));
/// # let _ = (b, f);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    factor: u32,
    max_delay: Duration,
    jitter: bool,
}

impl Backoff {
    /// Waits `base`, then twice as long after each failure, up to `max_delay` (30 s unless
    /// set), each delay randomised between half and all of its value (jitter) so that many
    /// clients retrying at once spread out.
    pub fn exponential(base: Duration) -> Self {
        Self {
            base,
            factor: 2,
            max_delay: Duration::from_secs(30),
            jitter: true,
        }
    }

    /// Waits `delay` between attempts, without jitter.
    pub fn fixed(delay: Duration) -> Self {
        Self {
            base: delay,
            factor: 1,
            max_delay: delay,
            jitter: false,
        }
    }

    /// Caps the delay.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// Turns jitter on or off.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        // In nanoseconds, saturating: the delay keeps growing until `max_delay` however small
        // the base, and never overflows however large.
        let scale = u128::from(self.factor)
            .checked_pow(attempt.saturating_sub(1))
            .unwrap_or(u128::MAX);
        let nanos = self.base.as_nanos().saturating_mul(scale);
        let d = duration_from_nanos(nanos).min(self.max_delay);
        if self.jitter {
            let half = d / 2;
            half.saturating_add(half.mul_f64(random_unit()))
        } else {
            d
        }
    }
}

/// A `Duration` of `nanos`, saturating at `Duration::MAX`.
fn duration_from_nanos(nanos: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / PER_SEC) {
        // The remainder is below a second, so it fits in a u32.
        Ok(secs) => Duration::new(secs, (nanos % PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

impl Default for Backoff {
    /// Exponential from 100 ms, up to 30 s, with jitter.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(100))
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A number in [0, 1), from a per-thread xorshift generator.
fn random_unit() -> f64 {
    RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            x = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
                | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Runs `op` until it returns `Ok`, at most `max_attempts` times (at least once), waiting
/// between attempts as the backoff says (exponential with jitter by default). Gives up with the
/// last error. Errors for which the [`when`](Retry::when) predicate says false are returned at
/// once.
///
/// The [`Retry`] it returns is a future: configure it with [`backoff`](Retry::backoff) and
/// [`when`](Retry::when), then await it, spawn it, or pass it to `timeout`, `race` or a
/// `select!` arm. Nothing runs until it is first polled.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// # weft::block_on(async {
/// let calls = AtomicU32::new(0);
/// let out = weft::retry(5, || async {
///     if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err("busy") } else { Ok(42) }
/// })
/// .backoff(weft::Backoff::fixed(Duration::from_millis(1)))
/// .await;
/// assert_eq!(out, Ok(42));
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # });
/// ```
pub fn retry<Op, Fut, T, E>(max_attempts: u32, op: Op) -> Retry<Op, Fut, fn(&E) -> bool>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    fn always<E>(_: &E) -> bool {
        true
    }
    Retry {
        op,
        max_attempts: max_attempts.max(1),
        backoff: Backoff::default(),
        when: always::<E>,
        attempt: 0,
        state: State::Idle,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut> {
        // Between attempts, or before the first.
        Idle,
        Running { #[pin] future: Fut },
        Waiting { sleep: Sleep },
    }
}

pin_project! {
    /// A retrying operation, created by [`retry`]: a future of the first `Ok`, or of the error
    /// that ended the retries. The builder methods configure it before it is first polled.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Retry<Op, Fut, When> {
        op: Op,
        max_attempts: u32,
        backoff: Backoff,
        when: When,
        // Attempts started so far.
        attempt: u32,
        #[pin]
        state: State<Fut>,
    }
}

impl<Op, Fut, When> fmt::Debug for Retry<Op, Fut, When> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("attempt", &self.attempt)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl<Op, Fut, When> Retry<Op, Fut, When> {
    /// Sets the backoff between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Retries only errors for which `retryable` returns true; others are returned at once.
    pub fn when<W, E>(self, retryable: W) -> Retry<Op, Fut, W>
    where
        W: FnMut(&E) -> bool,
    {
        Retry {
            op: self.op,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            when: retryable,
            attempt: self.attempt,
            state: self.state,
        }
    }
}

impl<Op, Fut, T, E, When> Future for Retry<Op, Fut, When>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    When: FnMut(&E) -> bool,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Idle => {
                    *this.attempt += 1;
                    let next = (this.op)();
                    this.state.set(State::Running { future: next });
                }
                StateProj::Running { future } => {
                    let err = match ready!(future.poll(cx)) {
                        Ok(v) => return Poll::Ready(Ok(v)),
                        Err(e) => e,
                    };
                    if *this.attempt >= *this.max_attempts || !(this.when)(&err) {
                        this.state.set(State::Idle);
                        return Poll::Ready(Err(err));
                    }
                    let delay = this.backoff.delay(*this.attempt);
                    this.state.set(State::Waiting {
                        sleep: sleep(delay),
                    });
                }
                StateProj::Waiting { sleep } => {
                    ready!(Pin::new(sleep).poll(cx));
                    this.state.set(State::Idle);
                }
            }
        }
    }
}
