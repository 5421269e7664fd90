//! Stall detection: one thread per executor, off the workers, that notices a worker inside one
//! poll for longer than a threshold and reports it once per stall.
//!
//! Each worker already publishes, with relaxed stores on its own line, the number of polls it
//! has started (`WorkerLifo::polls`) and the registry slot of the task it is polling
//! (`WorkerLifo::running`, 0 between polls). The watchdog sleeps, wakes every quarter of the
//! threshold (by the real clock, so a paused test clock does not hide a stall), and reads
//! both: a worker whose count and task have not changed since an earlier look, with a task
//! in a poll, has been inside that poll at least since that look. Once that is longer than
//! the threshold it reports the stall through the hook (once: the next report needs a new
//! poll), looking the task's name and spawn site up in the registry. So a report comes
//! between the threshold and the threshold plus a quarter of it after the poll started, and
//! `elapsed` is a lower bound (by at most that quarter). A worker costs the watchdog two
//! loads per look; the workers pay nothing beyond the stores.
//!
//! While a worker stays stuck, its tasks must not wait for it: workers that run or search
//! take them already (see `worker.rs`, `take_stranded`), and the watchdog makes sure this
//! happens when every other worker is parked: it moves the stuck worker's LIFO task to the
//! injector and wakes a parked worker, which also steals from the stuck worker's queue.

#![forbid(unsafe_code)]

use super::shared::Shared;
use super::task::slot_of;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The stall threshold when the builder sets none.
pub(crate) const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

/// A worker stayed inside one poll of a task for longer than the stall threshold
/// ([`Builder::stall_threshold`](crate::Builder::stall_threshold)), as given to the hook of
/// [`Builder::on_stall`](crate::Builder::on_stall).
///
/// A stall means the task blocks its worker's thread (a blocking call, a long computation):
/// the other tasks queued there wait, unless other workers take them. Move such work to
/// [`spawn_blocking`](crate::spawn_blocking), or yield in long loops.
#[derive(Debug, Clone)]
pub struct StallReport {
    task_id: u64,
    task_name: Option<String>,
    location: &'static Location<'static>,
    elapsed: Duration,
    worker: usize,
}

impl StallReport {
    /// The stalling task's id (as in [`TaskSnapshot::id`](crate::runtime::TaskSnapshot::id)).
    pub fn task_id(&self) -> u64 {
        self.task_id
    }

    /// Its name, if it was given one.
    pub fn task_name(&self) -> Option<&str> {
        self.task_name.as_deref()
    }

    /// Where it was spawned.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// How long the poll has lasted so far, at least.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The worker it stalls (`0..workers`).
    pub fn worker(&self) -> usize {
        self.worker
    }
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "worker {} has been inside one poll of task {}",
            self.worker, self.task_id
        )?;
        if let Some(name) = &self.task_name {
            write!(f, " {name:?}")?;
        }
        write!(
            f,
            " (spawned at {}) for {} ms; blocking work belongs in spawn_blocking",
            self.location,
            self.elapsed.as_millis()
        )
    }
}

/// The function the watchdog reports stalls to.
#[derive(Clone)]
pub(crate) struct StallHook(pub(crate) Arc<dyn Fn(&StallReport) + Send + Sync>);

impl fmt::Debug for StallHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StallHook")
    }
}

impl Default for StallHook {
    /// One line to stderr.
    fn default() -> Self {
        Self(Arc::new(|report: &StallReport| eprintln!("weft: {report}")))
    }
}

/// Tells the watchdog thread to stop.
#[derive(Debug, Default)]
pub(crate) struct WatchdogStop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl WatchdogStop {
    pub(crate) fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// What the watchdog saw of one worker at its last look.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    polls: u64,
    running: u64,
    /// Real clock (ns) when it first saw this poll.
    since: u64,
    reported: bool,
}

/// The body of the watchdog thread of `shared`.
pub(crate) fn run(shared: Arc<Shared>, threshold: Duration, hook: StallHook) {
    let period = (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
    let threshold_ns = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
    let mut seen = vec![Seen::default(); shared.num_workers()];
    let stop = &shared.watchdog;
    let mut stopped = stop.stopped.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if *stopped {
            return;
        }
        stopped = stop
            .wake
            .wait_timeout(stopped, period)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if *stopped {
            return;
        }
        drop(stopped);
        look(&shared, &mut seen, threshold_ns, &hook);
        stopped = stop.stopped.lock().unwrap_or_else(|e| e.into_inner());
    }
}

/// One look at every worker.
fn look(shared: &Arc<Shared>, seen: &mut [Seen], threshold_ns: u64, hook: &StallHook) {
    let now = shared.clock.real();
    for (worker, s) in seen.iter_mut().enumerate() {
        let lifo = &shared.lifos[worker];
        let running = lifo.running.load(Ordering::Relaxed);
        let polls = lifo.polls.load(Ordering::Relaxed);
        if running == 0 || polls != s.polls || running != s.running {
            *s = Seen {
                polls,
                running,
                since: now,
                reported: false,
            };
            continue;
        }
        let elapsed = now.saturating_sub(s.since);
        if elapsed < threshold_ns {
            continue;
        }
        if !s.reported {
            s.reported = true;
            if let Some(report) = report(shared, worker, running, polls, elapsed) {
                shared.stalls.incr();
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    target: "weft::stall",
                    worker,
                    task.id = report.task_id,
                    task.name = report.task_name.as_deref().unwrap_or(""),
                    location = %report.location,
                    elapsed_ms = elapsed / 1_000_000,
                    "stall"
                );
                // A panicking hook must not stop the watchdog.
                let _ = catch_unwind(AssertUnwindSafe(|| (hook.0)(&report)));
            }
        }
        // Its tasks must not wait for it, even with every other worker parked.
        if shared.is_shutdown() {
            continue;
        }
        if let Some(t) = lifo.slot.take() {
            shared.inject(t);
        } else if !shared.stealers[worker].is_empty() {
            shared.notify_parked();
        }
    }
}

/// The report on `worker`, stuck in a poll of the task at `running` since `polls` polls; None
/// if that poll ended meanwhile (or the task left the registry: shutdown).
fn report(
    shared: &Shared,
    worker: usize,
    running: u64,
    polls: u64,
    elapsed: u64,
) -> Option<StallReport> {
    let slot = slot_of(running)?;
    let report = shared.registry.with_task(slot, |meta| StallReport {
        task_id: meta.info.id(),
        task_name: meta.info.name().map(str::to_owned),
        location: meta.info.location(),
        elapsed: Duration::from_nanos(elapsed),
        worker,
    })?;
    // Same poll still: the task at that slot was the one being polled all along.
    (shared.lifos[worker].polls.load(Ordering::Relaxed) == polls).then_some(report)
}
