//! What the runtime counts about itself, and the snapshot users read ([`Metrics`]).
//!
//! Counters live where they are written: each worker's on a cache line of its own, written by
//! that worker only with a relaxed load and store (no read-modify-write), the I/O drivers'
//! under the locks their paths already hold, and the task counts in the registry's shards,
//! under the lock that spawning and finishing a task take anyway. A snapshot sums them; it is
//! not atomic across counters (a task may be counted spawned and not yet alive, say), but
//! every counter only grows.
//!
//! The cargo feature `metrics` (on by default) compiles the counters out: they then read 0.
//! Figures read from the structures themselves (queue depths, tasks alive, timers armed,
//! blocking threads) stay.

#![forbid(unsafe_code)]

use super::shared::Shared;
use crate::sys::IoBackend;
use std::fmt;
#[cfg(feature = "metrics")]
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A counter that one thread at a time writes (its owner, or whoever holds the lock that
/// guards what it counts), and any thread reads.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    #[cfg(feature = "metrics")]
    n: AtomicU64,
}

impl Counter {
    /// Adds `n`. Callers are the counter's only writer at the time.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        #[cfg(feature = "metrics")]
        self.n.store(self.n.load(Relaxed).wrapping_add(n), Relaxed);
        #[cfg(not(feature = "metrics"))]
        let _ = n;
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    pub(crate) fn get(&self) -> u64 {
        #[cfg(feature = "metrics")]
        return self.n.load(Relaxed);
        #[cfg(not(feature = "metrics"))]
        0
    }
}

/// A counter any thread may bump, for rare events (a read-modify-write, off the hot paths).
#[derive(Debug, Default)]
pub(crate) struct SharedCounter {
    #[cfg(feature = "metrics")]
    n: AtomicU64,
}

impl SharedCounter {
    pub(crate) fn incr(&self) {
        #[cfg(feature = "metrics")]
        self.n.fetch_add(1, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        #[cfg(feature = "metrics")]
        return self.n.load(Relaxed);
        #[cfg(not(feature = "metrics"))]
        0
    }
}

/// One worker's counters, written by that worker only.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub(crate) lifo_hits: Counter,
    pub(crate) steals: Counter,
    pub(crate) stolen: Counter,
    pub(crate) stranded_taken: Counter,
    pub(crate) parks: Counter,
    pub(crate) busy_ns: Counter,
    pub(crate) budget_exhausted: Counter,
    pub(crate) injector_pops: Counter,
}

/// An I/O driver's counters.
#[derive(Debug, Default)]
pub(crate) struct IoCounters {
    /// Readiness events handed to sources (written under the event buffer's or the
    /// completion queue's lock).
    pub(crate) events: Counter,
}

/// The spawn-site-free part of an I/O driver's state, as a snapshot reads it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IoFigures {
    pub(crate) events: u64,
    pub(crate) submitted: u64,
    pub(crate) completed: u64,
    pub(crate) in_flight: u64,
    pub(crate) sources: u64,
}

/// A snapshot of an executor's figures, from [`Executor::metrics`](crate::Executor::metrics)
/// or [`weft::runtime::metrics`](crate::runtime::metrics) for the global runtime.
///
/// Counters (`polls`, `steals`, `tasks_spawned`...) only grow; depths and counts of what is
/// there now (`tasks_alive`, `injector_depth`, `timers_armed`...) are read as the snapshot is
/// taken. Counters read 0 when weft is built without its `metrics` feature.
///
/// # Examples
///
/// ```
/// let executor = weft::Executor::new(2);
/// let handles: Vec<_> = (0..10).map(|i| executor.spawn(async move { i })).collect();
/// for h in handles {
///     h.join();
/// }
/// let m = executor.metrics();
/// assert_eq!(m.workers(), 2);
/// assert_eq!(m.tasks_spawned(), 10);
/// assert!(m.polls() >= 10);
/// println!("{m}");
/// ```
#[derive(Debug, Clone)]
pub struct Metrics {
    workers: Vec<WorkerMetrics>,
    tasks_alive: u64,
    tasks_spawned: u64,
    tasks_completed: u64,
    tasks_panicked: u64,
    tasks_cancelled: u64,
    injector_depth: usize,
    blocking_threads: usize,
    blocking_idle_threads: usize,
    blocking_queue_depth: usize,
    io_backend: IoBackend,
    accept_backoffs: u64,
    stalls: u64,
}

/// One worker's figures, from [`Metrics::worker`].
#[derive(Debug, Clone, Default)]
pub struct WorkerMetrics {
    polls: u64,
    lifo_hits: u64,
    steals: u64,
    stolen_tasks: u64,
    stranded_tasks_taken: u64,
    parks: u64,
    busy: Duration,
    budget_exhaustions: u64,
    injector_pops: u64,
    local_queue_depth: usize,
    timers_armed: usize,
    io: IoFigures,
}

impl Metrics {
    pub(crate) fn collect(shared: &Shared) -> Self {
        let workers = (0..shared.num_workers())
            .map(|i| {
                let c = &shared.counters[i];
                WorkerMetrics {
                    // Kept for the stuck-worker looks anyway (so also without the feature).
                    polls: shared.lifos[i]
                        .polls
                        .load(std::sync::atomic::Ordering::Relaxed),
                    lifo_hits: c.lifo_hits.get(),
                    steals: c.steals.get(),
                    stolen_tasks: c.stolen.get(),
                    stranded_tasks_taken: c.stranded_taken.get(),
                    parks: c.parks.get(),
                    busy: Duration::from_nanos(c.busy_ns.get()),
                    budget_exhaustions: c.budget_exhausted.get(),
                    injector_pops: c.injector_pops.get(),
                    local_queue_depth: shared.stealers[i].len()
                        + usize::from(!shared.lifos[i].slot.is_empty()),
                    timers_armed: shared.timers[i].armed(),
                    io: shared.drivers[i].figures(),
                }
            })
            .collect();
        let (alive, tally) = shared.registry.counts();
        let blocking = &shared.blocking;
        Self {
            workers,
            tasks_alive: alive,
            tasks_spawned: tally.spawned,
            tasks_completed: tally.completed,
            tasks_panicked: tally.panicked,
            tasks_cancelled: tally.cancelled,
            injector_depth: shared.injector.len(),
            blocking_threads: blocking.threads(),
            blocking_idle_threads: blocking.idle_threads(),
            blocking_queue_depth: blocking.queue_depth(),
            io_backend: shared.drivers[0].backend(),
            accept_backoffs: shared.accept_backoffs.get(),
            stalls: shared.stalls.get(),
        }
    }

    fn sum(&self, f: impl Fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers.iter().map(f).sum()
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Worker `index`'s figures.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.workers()`.
    pub fn worker(&self, index: usize) -> &WorkerMetrics {
        &self.workers[index]
    }

    /// Tasks spawned and not finished (blocking-pool jobs are not tasks here).
    pub fn tasks_alive(&self) -> u64 {
        self.tasks_alive
    }

    /// Tasks ever spawned.
    pub fn tasks_spawned(&self) -> u64 {
        self.tasks_spawned
    }

    /// Tasks whose future returned.
    pub fn tasks_completed(&self) -> u64 {
        self.tasks_completed
    }

    /// Tasks that ended in a panic.
    pub fn tasks_panicked(&self) -> u64 {
        self.tasks_panicked
    }

    /// Tasks dropped before they finished: aborted, or cancelled by shutdown.
    pub fn tasks_cancelled(&self) -> u64 {
        self.tasks_cancelled
    }

    /// Polls started, all workers together.
    pub fn polls(&self) -> u64 {
        self.sum(|w| w.polls)
    }

    /// Successful steals from other workers' queues, all workers together.
    pub fn steals(&self) -> u64 {
        self.sum(|w| w.steals)
    }

    /// Tasks those steals moved.
    pub fn stolen_tasks(&self) -> u64 {
        self.sum(|w| w.stolen_tasks)
    }

    /// Tasks taken from workers stuck in one poll.
    pub fn stranded_tasks_taken(&self) -> u64 {
        self.sum(|w| w.stranded_tasks_taken)
    }

    /// Times a worker parked (slept in its I/O driver).
    pub fn parks(&self) -> u64 {
        self.sum(|w| w.parks)
    }

    /// Polls of a task its worker had just woken, run at once from the LIFO slot.
    pub fn lifo_hits(&self) -> u64 {
        self.sum(|w| w.lifo_hits)
    }

    /// Times a task's cooperative budget ran out and it was made to yield.
    pub fn budget_exhaustions(&self) -> u64 {
        self.sum(|w| w.budget_exhaustions)
    }

    /// Time the workers spent not parked, all together.
    pub fn busy_time(&self) -> Duration {
        self.workers.iter().map(|w| w.busy).sum()
    }

    /// Tasks waiting in the global injector.
    pub fn injector_depth(&self) -> usize {
        self.injector_depth
    }

    /// Tasks waiting in the workers' local queues and LIFO slots.
    pub fn local_queue_depth(&self) -> usize {
        self.workers.iter().map(|w| w.local_queue_depth).sum()
    }

    /// Threads of the blocking pool.
    pub fn blocking_threads(&self) -> usize {
        self.blocking_threads
    }

    /// Blocking-pool threads waiting for a job.
    pub fn blocking_idle_threads(&self) -> usize {
        self.blocking_idle_threads
    }

    /// Blocking jobs queued and not yet taken by a thread.
    pub fn blocking_queue_depth(&self) -> usize {
        self.blocking_queue_depth
    }

    /// Timers registered and not yet fired.
    pub fn timers_armed(&self) -> usize {
        self.workers.iter().map(|w| w.timers_armed).sum()
    }

    /// The workers' I/O backend.
    pub fn io_backend(&self) -> IoBackend {
        self.io_backend
    }

    /// Readiness events the I/O drivers handed to sockets and other sources.
    pub fn io_events(&self) -> u64 {
        self.sum(|w| w.io.events)
    }

    /// Completion-based I/O operations submitted (io_uring: file operations and owned-buffer
    /// reads and writes; 0 on epoll, where files use the blocking pool).
    pub fn io_submitted(&self) -> u64 {
        self.sum(|w| w.io.submitted)
    }

    /// Completion-based I/O operations the kernel completed.
    pub fn io_completed(&self) -> u64 {
        self.sum(|w| w.io.completed)
    }

    /// Completion-based I/O operations in flight now.
    pub fn io_in_flight(&self) -> u64 {
        self.sum(|w| w.io.in_flight)
    }

    /// Sources (sockets, pipes...) registered with the I/O drivers now.
    pub fn io_sources(&self) -> u64 {
        self.sum(|w| w.io.sources)
    }

    /// Times `TcpListener::accept` waited because descriptors or buffers ran out.
    pub fn accept_backoffs(&self) -> u64 {
        self.accept_backoffs
    }

    /// Stalls reported (a worker inside one poll for longer than the stall threshold).
    pub fn stalls(&self) -> u64 {
        self.stalls
    }
}

impl WorkerMetrics {
    /// Polls this worker started.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Polls of tasks it ran from its LIFO slot.
    pub fn lifo_hits(&self) -> u64 {
        self.lifo_hits
    }

    /// Its successful steals from other workers' queues.
    pub fn steals(&self) -> u64 {
        self.steals
    }

    /// Tasks its steals moved.
    pub fn stolen_tasks(&self) -> u64 {
        self.stolen_tasks
    }

    /// Tasks it took from workers stuck in one poll.
    pub fn stranded_tasks_taken(&self) -> u64 {
        self.stranded_tasks_taken
    }

    /// Times it parked.
    pub fn parks(&self) -> u64 {
        self.parks
    }

    /// Time it spent not parked (as of its last park or maintenance, every 61 ticks).
    pub fn busy_time(&self) -> Duration {
        self.busy
    }

    /// Times a task's budget ran out on it.
    pub fn budget_exhaustions(&self) -> u64 {
        self.budget_exhaustions
    }

    /// Tasks it took from the global injector.
    pub fn injector_pops(&self) -> u64 {
        self.injector_pops
    }

    /// Tasks waiting in its local queue and LIFO slot now.
    pub fn local_queue_depth(&self) -> usize {
        self.local_queue_depth
    }

    /// Timers armed on its wheel.
    pub fn timers_armed(&self) -> usize {
        self.timers_armed
    }

    /// Readiness events its I/O driver handed out.
    pub fn io_events(&self) -> u64 {
        self.io.events
    }

    /// Completion-based I/O operations submitted to its driver.
    pub fn io_submitted(&self) -> u64 {
        self.io.submitted
    }

    /// Completion-based I/O operations its driver saw complete.
    pub fn io_completed(&self) -> u64 {
        self.io.completed
    }

    /// Completion-based I/O operations in flight on its driver.
    pub fn io_in_flight(&self) -> u64 {
        self.io.in_flight
    }

    /// Sources registered with its driver.
    pub fn io_sources(&self) -> u64 {
        self.io.sources
    }
}

impl fmt::Display for Metrics {
    /// One line of totals, then one line per worker.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tasks: {} alive, {} spawned, {} completed, {} panicked, {} cancelled; \
             polls {}, steals {} ({} tasks), parks {}, injector {}, blocking {} threads \
             ({} idle, {} queued), timers {}, io {:?}: {} events, {} submitted, {} completed, \
             {} in flight",
            self.tasks_alive,
            self.tasks_spawned,
            self.tasks_completed,
            self.tasks_panicked,
            self.tasks_cancelled,
            self.polls(),
            self.steals(),
            self.stolen_tasks(),
            self.parks(),
            self.injector_depth,
            self.blocking_threads,
            self.blocking_idle_threads,
            self.blocking_queue_depth,
            self.timers_armed(),
            self.io_backend,
            self.io_events(),
            self.io_submitted(),
            self.io_completed(),
            self.io_in_flight(),
        )?;
        for (i, w) in self.workers.iter().enumerate() {
            write!(
                f,
                "\n  worker {i}: polls {}, lifo {}, steals {} ({} tasks), parks {}, busy {:?}, \
                 queue {}, budget out {}",
                w.polls,
                w.lifo_hits,
                w.steals,
                w.stolen_tasks,
                w.parks,
                w.busy,
                w.local_queue_depth,
                w.budget_exhaustions,
            )?;
        }
        Ok(())
    }
}

/// Counts an accept back-off on the executor running the caller (the global runtime outside
/// any).
pub(crate) fn accept_backoff() {
    match super::context::current() {
        Some(shared) => shared.accept_backoffs.incr(),
        None => {
            if let Some(global) = super::try_global() {
                global.shared().accept_backoffs.incr();
            }
        }
    }
}

/// The global runtime's figures (it starts if it has not yet).
///
/// # Examples
///
/// ```
/// weft::spawn(async {}).join();
/// assert!(weft::runtime::metrics().tasks_spawned() >= 1);
/// ```
pub fn metrics() -> Metrics {
    super::global().metrics()
}
