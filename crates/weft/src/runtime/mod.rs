//! The executor: worker threads, their scheduler, and the ways to run futures on them.
//!
//! ```
//! use weft::Executor;
//!
//! let executor = Executor::new(4);                       // 4 worker threads
//! let handle = executor.spawn(async { 6 * 7 });
//! assert_eq!(handle.join(), 42);                          // block until complete
//! assert_eq!(executor.block_on(async { 1 + 1 }), 2);     // drive a future on this thread
//! executor.shutdown();                                    // cancel what is left, join workers
//! ```
//!
//! # How it schedules
//!
//! Each worker owns a bounded lock-free run queue (256 slots; idle workers steal half of it at
//! once) and a LIFO slot for the task it just woke. A worker that stays stuck in one poll has
//! its LIFO task and queue taken by the others, idle or busy. Tasks spawned or woken from
//! outside the workers go to a lock-free global injector, which every worker checks first once
//! every 61 ticks. Idle workers steal from a random victim, at most half of them search at once, and a
//! parked worker is woken only when nobody is searching. Each poll gets a cooperative budget
//! of 128 operations that weft's own futures spend, so a task that is always ready still
//! yields. See `docs/architecture.md` for the details and the reasoning.

pub(crate) mod block_on;
pub(crate) mod blocking;
pub(crate) mod clock;
pub(crate) mod context;
mod dump;
pub(crate) mod executors;
mod global;
pub(crate) mod metrics;
pub(crate) mod park;
pub(crate) mod registry;
pub(crate) mod scheduler;
pub(crate) mod shared;
pub(crate) mod task;
pub(crate) mod timers;
mod watchdog;
pub(crate) mod worker;

use crate::task::JoinHandle;
use shared::Shared;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub use crate::sys::IoBackend;
pub use dump::{dump, TaskDump, TaskSnapshot, TaskState};
pub(crate) use global::{global, try_global};
pub use metrics::{metrics, Metrics, WorkerMetrics};
pub use watchdog::StallReport;

/// A multi-threaded work-stealing executor.
///
/// Dropping an `Executor` shuts it down, as [`Executor::shutdown`] does.
///
/// # Examples
///
/// ```
/// let executor = weft::Executor::new(2);
/// let handles: Vec<_> = (0..10u64).map(|i| executor.spawn(async move { i * i })).collect();
/// let total: u64 = handles.into_iter().map(|h| h.join()).sum();
/// assert_eq!(total, 285);
/// ```
pub struct Executor {
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
    watchdog: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("workers", &self.shared.num_workers())
            .finish()
    }
}

/// Configures an [`Executor`].
///
/// # Examples
///
/// ```
/// let executor = weft::Executor::builder()
///     .workers(2)
///     .thread_name("my-app")
///     .build()
///     .expect("threads start");
/// assert_eq!(executor.block_on(async { 5 }), 5);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    thread_name: String,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    io: IoBackend,
    stack_size: Option<usize>,
    start_paused: bool,
    stall_threshold: Option<Duration>,
    on_stall: watchdog::StallHook,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            workers: None,
            thread_name: "weft".to_owned(),
            max_blocking_threads: 512,
            blocking_keep_alive: Duration::from_secs(10),
            io: IoBackend::Auto,
            stack_size: None,
            start_paused: false,
            stall_threshold: Some(watchdog::DEFAULT_THRESHOLD),
            on_stall: watchdog::StallHook::default(),
        }
    }
}

/// The number of cores, or 1 if it cannot be read.
pub(crate) fn default_workers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

impl Builder {
    /// A builder with the defaults: one worker per core, threads named `weft-N`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of worker threads (at least 1; the default is one per core).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n.max(1));
        self
    }

    /// Sets the prefix of the worker threads' names (`NAME-0`, `NAME-1`, ...).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Caps the blocking pool behind [`spawn_blocking`](crate::spawn_blocking) (default 512).
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking thread waits for work before it exits (default 10 s).
    pub fn blocking_keep_alive(mut self, d: Duration) -> Self {
        self.blocking_keep_alive = d;
        self
    }

    /// Sets the stack size, in bytes, of the worker and blocking-pool threads (default: the
    /// standard library's, 2 MiB unless `RUST_MIN_STACK` says otherwise). Deeply recursive
    /// futures need more.
    ///
    /// # Examples
    ///
    /// ```
    /// let executor = weft::Executor::builder()
    ///     .workers(1)
    ///     .thread_stack_size(16 << 20)
    ///     .build()
    ///     .expect("threads start");
    /// assert_eq!(executor.block_on(executor.spawn(async { 3 })), 3);
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the executor with its clock paused (default false), as
    /// [`weft::time::pause`](crate::time::pause) would: for tests of timeouts and backoffs,
    /// which then take no real time. `#[weft::test(start_paused = true)]` sets it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let executor = weft::Executor::builder().workers(1).start_paused(true).build().unwrap();
    /// let real = std::time::Instant::now();
    /// executor.block_on(weft::sleep(Duration::from_secs(24 * 3600)));
    /// assert!(real.elapsed() < Duration::from_secs(60));
    /// ```
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    /// How long a worker may stay inside one poll before the stall watchdog reports it
    /// (default 100 ms; `None` turns the watchdog off). The watchdog is one sleeping thread per
    /// executor that looks at the workers every quarter of the threshold; see
    /// [`Builder::on_stall`] for what it reports, and [`StallReport`].
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.stall_threshold = threshold;
        self
    }

    /// Sets what the stall watchdog does with a stall: called once per stall, on the
    /// watchdog's thread, while the worker is still stuck (the default writes one line to
    /// stderr). A panic in the hook is caught.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let executor = weft::Executor::builder()
    ///     .workers(1)
    ///     .stall_threshold(Some(Duration::from_millis(50)))
    ///     .on_stall(move |report| {
    ///         let _ = tx.lock().unwrap().send(report.location().line());
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let line = line!() + 1;
    /// let blocker = executor.spawn(async { std::thread::sleep(Duration::from_millis(200)) });
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(line));
    /// blocker.join();
    /// ```
    pub fn on_stall(mut self, hook: impl Fn(&StallReport) + Send + Sync + 'static) -> Self {
        self.on_stall = watchdog::StallHook(Arc::new(hook));
        self
    }

    /// Chooses the I/O backend (default [`IoBackend::Auto`]: io_uring where it works, else
    /// epoll; the `WEFT_IO` environment variable overrides `Auto`).
    pub fn io(mut self, backend: IoBackend) -> Self {
        self.io = backend;
        self
    }

    /// Starts the executor's worker threads.
    ///
    /// # Errors
    ///
    /// Fails if the operating system refuses to start a thread (the threads already started
    /// are stopped again), if the I/O drivers cannot be set up, if io_uring was asked for
    /// (by [`Builder::io`] or `WEFT_IO=uring`) and cannot start here, or if `WEFT_IO` holds
    /// something other than `uring`, `epoll` or `auto`.
    pub fn build(self) -> io::Result<Executor> {
        let n = self.workers.unwrap_or_else(default_workers);
        let backend = match self.io {
            IoBackend::Auto => IoBackend::from_env()?.unwrap_or(IoBackend::Auto),
            forced => forced,
        };
        let drivers = crate::sys::Driver::start(n, backend)?;
        let (locals, stealers): (Vec<_>, Vec<_>) =
            (0..n).map(|_| scheduler::queue::local()).unzip();
        let number = executors::ExecutorNumber::take().ok_or_else(|| {
            io::Error::other(format!(
                "more than {} executors alive",
                executors::MAX_EXECUTORS
            ))
        })?;
        let shared = Arc::new(Shared::new(
            number,
            stealers.into_boxed_slice(),
            drivers.into_boxed_slice(),
            self.thread_name.clone(),
            self.max_blocking_threads,
            self.blocking_keep_alive,
            self.stack_size,
        ));
        executors::ExecutorNumber::publish(&shared);
        if self.start_paused {
            shared.pause_clock();
        }
        let mut executor = Executor {
            shared: shared.clone(),
            threads: Vec::with_capacity(n),
            watchdog: None,
        };
        for (index, local) in locals.into_iter().enumerate() {
            let shared = shared.clone();
            let mut builder = thread::Builder::new().name(format!("{}-{index}", self.thread_name));
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            let started = builder.spawn(move || worker::main(shared, index, local));
            match started {
                Ok(t) => executor.threads.push(t),
                Err(e) => {
                    // Account for the workers that will never run, then stop the rest.
                    for _ in index..n {
                        executor.shared.worker_exited();
                    }
                    return Err(e);
                }
            }
        }
        if let Some(threshold) = self.stall_threshold {
            let shared = shared.clone();
            let hook = self.on_stall.clone();
            let watchdog = thread::Builder::new()
                .name(format!("{}-watchdog", self.thread_name))
                .spawn(move || watchdog::run(shared, threshold, hook))?;
            executor.watchdog = Some(watchdog);
        }
        Ok(executor)
    }
}

impl Executor {
    /// Starts an executor with `workers` worker threads (at least 1).
    ///
    /// # Panics
    ///
    /// Panics if the operating system refuses to start the threads; use
    /// [`Executor::builder`] to get the error instead.
    pub fn new(workers: usize) -> Self {
        Builder::new()
            .workers(workers)
            .build()
            .expect("weft: failed to start the executor's worker threads")
    }

    /// A builder to configure an executor.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// The alive tasks: id, name, spawn site, state (idle, scheduled, running), time since
    /// the last poll and polls so far. Its `Display` prints one line per task.
    pub fn dump(&self) -> TaskDump {
        TaskDump::collect(&self.shared)
    }

    /// A snapshot of this executor's figures: tasks, polls, steals, parks, queue depths,
    /// the blocking pool, timers and I/O. See [`Metrics`].
    pub fn metrics(&self) -> Metrics {
        Metrics::collect(&self.shared)
    }

    /// The I/O backend the workers use ([`IoBackend::Uring`] or [`IoBackend::Epoll`]).
    pub fn io_backend(&self) -> IoBackend {
        self.shared.drivers[0].backend()
    }

    /// Spawns a task onto this executor and returns a handle to await, join, catch or abort it.
    ///
    /// # Examples
    ///
    /// ```
    /// let executor = weft::Executor::new(1);
    /// let handle = executor.spawn(async { "done" });
    /// assert_eq!(handle.join(), "done");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future)
    }

    /// Runs a blocking function on this executor's blocking pool.
    #[track_caller]
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.shared.spawn_blocking(f)
    }

    /// Drives `future` to completion on the calling thread; `weft::spawn` inside it spawns onto
    /// this executor.
    ///
    /// # Panics
    ///
    /// Panics when called on a worker thread (inside async code), where blocking would stall
    /// the worker: use `.await` there.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on::assert_not_worker("Executor::block_on");
        let _enter = context::enter(self.shared.clone());
        block_on::block_on(future, Some(self.shared.clone()))
    }

    /// Stops the executor: cancels every unfinished task (their handles resolve to
    /// [`JoinError::Cancelled`](crate::JoinError::Cancelled)), joins every worker thread and
    /// returns. Tasks running on the blocking pool are not interrupted.
    pub fn shutdown(mut self) {
        self.stop(None);
    }

    /// Like [`Executor::shutdown`], but waits at most `timeout` for the workers. Returns true
    /// if every worker stopped in time; workers still busy then are left to finish on their own.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.stop(Some(timeout))
    }

    fn stop(&mut self, timeout: Option<Duration>) -> bool {
        if self.threads.is_empty() && self.shared.is_shutdown() {
            return true;
        }
        let all_exited = self.shared.shutdown(timeout);
        let me = thread::current().id();
        if let Some(w) = self.watchdog.take() {
            // It stops at once (shutdown told it to), unless it is running a stall hook.
            if w.thread().id() != me {
                let _ = w.join();
            }
        }
        for t in self.threads.drain(..) {
            if all_exited && t.thread().id() != me {
                let _ = t.join();
            }
        }
        all_exited
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.stop(None);
    }
}
