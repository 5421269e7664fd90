//! State shared by an executor's workers, its handles and its tasks.

#![forbid(unsafe_code)]

use super::blocking::BlockingPool;
use super::clock::Clock;
use super::context;
use super::executors::ExecutorNumber;
use super::metrics::{SharedCounter, WorkerCounters};
use super::registry::Registry;
use super::scheduler::idle::Idle;
use super::scheduler::queue::{LifoSlot, Overflow, Stealer};
use super::task::{Runnable, TaskInfo, TaskMeta, TaskRef};
use super::timers::Timers;
use super::watchdog::WatchdogStop;
use crate::sys::Driver;
use crate::task::JoinHandle;
use crossbeam_deque::{Injector, Steal};
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// One executor's shared state.
pub(crate) struct Shared {
    /// What the executor's tasks call it (see `executors`).
    pub(crate) number: ExecutorNumber,
    /// Tasks spawned or woken from outside the workers, and local-queue overflow. Lock-free.
    pub(crate) injector: Injector<Runnable>,
    /// Every worker's queue, for stealing.
    pub(crate) stealers: Box<[Stealer<Runnable>]>,
    /// Every worker's LIFO slot and poll count, for taking the tasks of a worker stuck in one
    /// poll.
    pub(crate) lifos: Box<[CachePadded<WorkerLifo>]>,
    /// One I/O driver per worker: what the worker parks in.
    pub(crate) drivers: Box<[Driver]>,
    pub(crate) idle: Idle,
    pub(crate) registry: Registry,
    pub(crate) blocking: Arc<BlockingPool>,
    pub(crate) shutdown: AtomicBool,
    /// Set once `shutdown` has buried its last task: from then on whoever wakes a task buries it.
    closed: AtomicBool,
    /// Tasks woken while shutting down, to be dropped (cancelled) outside the wake-up that
    /// scheduled them (see `schedule`).
    graveyard: Mutex<Vec<Runnable>>,
    /// Workers still running, and a condvar signalled as each one exits.
    pub(crate) alive: Mutex<usize>,
    pub(crate) exited: Condvar,
    pub(crate) thread_name: String,
    /// Stack size of the blocking-pool threads (the workers' is set when they start).
    stack_size: Option<usize>,
    blocking_seq: AtomicUsize,
    /// Tests: pretend the OS refuses to start blocking-pool threads.
    #[cfg(test)]
    pub(crate) fail_thread_spawns: AtomicBool,
    /// One timer wheel per worker.
    pub(crate) timers: Timers,
    pub(crate) clock: Clock,
    /// Each worker's counters, written by that worker only.
    pub(crate) counters: Box<[CachePadded<WorkerCounters>]>,
    /// `TcpListener::accept` back-offs (rare: out of descriptors or buffers).
    pub(crate) accept_backoffs: SharedCounter,
    /// Stalls the watchdog reported.
    pub(crate) stalls: SharedCounter,
    /// Stops the stall watchdog's thread (if it runs) at shutdown.
    pub(crate) watchdog: WatchdogStop,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("workers", &self.drivers.len())
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

/// A worker's LIFO slot, and the number of polls it has started: tasks that stay in the slot or
/// the queue while the count stays put are stuck behind one long poll, and other workers take
/// them.
#[derive(Debug)]
pub(crate) struct WorkerLifo {
    pub(crate) slot: LifoSlot<Runnable>,
    /// 64 bits, so that it also serves as the worker's poll counter in metrics.
    pub(crate) polls: AtomicU64,
    /// The registry slot word ([`TaskMeta::slot_word`]) of the task in the poll under way, 0
    /// between polls: for the stall watchdog. Written by the owner only.
    pub(crate) running: AtomicU64,
    /// Tasks that woke themselves (an exhausted budget, `yield_now`), run when the worker's
    /// queue is empty and at its maintenance point. Out of the stealers' reach, so a producer
    /// that yields is not taken from its consumer's worker; only a worker stuck in one poll
    /// has them taken (with its LIFO task and queue).
    pub(crate) deferred: Mutex<VecDeque<Runnable>>,
}

impl WorkerLifo {
    /// The worker's deferred tasks (see the field).
    pub(crate) fn deferred(&self) -> std::sync::MutexGuard<'_, VecDeque<Runnable>> {
        self.deferred.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Overflow<Runnable> for Shared {
    fn push_batch(&self, tasks: impl Iterator<Item = Runnable>) {
        for t in tasks {
            self.injector.push(t);
        }
    }
}

impl Shared {
    pub(crate) fn new(
        number: ExecutorNumber,
        stealers: Box<[Stealer<Runnable>]>,
        drivers: Box<[Driver]>,
        thread_name: String,
        max_blocking: usize,
        keep_alive: Duration,
        stack_size: Option<usize>,
    ) -> Self {
        let n = stealers.len();
        Self {
            number,
            injector: Injector::new(),
            stealers,
            lifos: (0..n)
                .map(|_| {
                    CachePadded::new(WorkerLifo {
                        slot: LifoSlot::new(),
                        polls: AtomicU64::new(0),
                        running: AtomicU64::new(0),
                        deferred: Mutex::new(VecDeque::new()),
                    })
                })
                .collect(),
            drivers,
            idle: Idle::new(n),
            registry: Registry::new(n),
            blocking: Arc::new(BlockingPool::new(max_blocking, keep_alive)),
            shutdown: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            graveyard: Mutex::new(Vec::new()),
            alive: Mutex::new(n),
            exited: Condvar::new(),
            thread_name,
            stack_size,
            blocking_seq: AtomicUsize::new(0),
            #[cfg(test)]
            fail_thread_spawns: AtomicBool::new(false),
            timers: Timers::new(n),
            clock: Clock::new(),
            counters: (0..n).map(|_| CachePadded::default()).collect(),
            accept_backoffs: SharedCounter::default(),
            stalls: SharedCounter::default(),
            watchdog: WatchdogStop::default(),
        }
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.drivers.len()
    }

    /// Wakes worker `worker` if it is parked in its driver (or makes its next park return).
    pub(crate) fn unpark(&self, worker: usize) {
        self.drivers[worker].unpark();
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Spawns a task onto this executor; its spawn site is the caller's.
    #[track_caller]
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(future, TaskInfo::new(None, Location::caller()))
    }

    /// Spawns a task onto this executor, with its name and spawn site in `info`.
    #[inline]
    pub(crate) fn spawn_with<F>(
        self: &Arc<Self>,
        future: F,
        info: TaskInfo,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shard = self.registry.pick_shard();
        let (runnable, task) = self.registry.register(shard, &self.shutdown, |slot| {
            let (runnable, task) =
                crate::runtime::task::spawn(TaskMeta::new(self.clone(), slot, info), future);
            (slot.map(|_| TaskRef::new(&runnable)), (runnable, task))
        });
        if runnable.metadata().is_registered() {
            runnable.schedule();
        } else {
            // Refused (shut down): dropping the runnable cancels the task and drops the future,
            // so the handle reports `Cancelled`. Destructors that spawn get the same answer.
            let _enter = context::enter(self.clone());
            drop(runnable);
        }
        JoinHandle::new(task)
    }

    /// Runs `f` on the blocking pool.
    #[track_caller]
    pub(crate) fn spawn_blocking<F, T>(self: &Arc<Self>, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let info = TaskInfo::new(None, Location::caller());
        let (runnable, task) = crate::runtime::task::spawn(
            TaskMeta::new(self.clone(), None, info),
            async move { f() },
        );
        // Counted out by `run_blocking_job` (a paused clock does not jump while one runs).
        self.blocking_started();
        runnable.schedule();
        JoinHandle::new(task)
    }

    /// The schedule function of every task of this executor.
    ///
    /// `self` may be borrowed from the runnable's own metadata, so once the runnable has been
    /// handed to a queue (where another thread may run and free it) this function touches
    /// `self` only through an `Arc` it holds separately.
    pub(crate) fn schedule(&self, runnable: Runnable, woken_while_running: bool) {
        if runnable.metadata().is_blocking() {
            self.push_blocking(runnable);
            return;
        }
        if self.is_shutdown() {
            // Shutting down: a woken task is cancelled instead of run. Not here, though: this
            // may run inside a notifier's critical section (an `Event` waking its waiters under
            // its lock), and dropping the future may reach the same notifier (the task's own
            // listener), which would deadlock. `shutdown` buries it, or, once it has finished,
            // we do, right after queueing it (the fence pairs with the one in `shutdown`).
            let shared = runnable.metadata().shared_arc();
            shared.entomb(runnable);
            return;
        }
        let runnable = context::with_worker(|w| match w {
            Some(w) if w.belongs_to(self) => {
                // The worker holds its own `Arc<Shared>`.
                w.schedule_local(runnable, woken_while_running);
                None
            }
            _ => Some(runnable),
        });
        if let Some(runnable) = runnable {
            let shared = runnable.metadata().shared_arc();
            shared.injector.push(runnable);
            // One fence serves two hand-shakes: with `shutdown` (either its final drain sees
            // this task, or we see the flag and drain it ourselves) and with a parking worker
            // (either it sees this task, or we see that it parked).
            fence(Ordering::SeqCst);
            if shared.is_shutdown() {
                while let Some(r) = shared.pop_injector() {
                    shared.entomb(r);
                }
            } else {
                shared.wake_one_parked();
            }
        }
    }

    /// Queues a task from a thread that is not one of the workers (the stall watchdog moving
    /// a stuck worker's LIFO task), as `schedule` does for a wake-up from outside.
    pub(crate) fn inject(self: &Arc<Self>, runnable: Runnable) {
        self.injector.push(runnable);
        fence(Ordering::SeqCst);
        if self.is_shutdown() {
            while let Some(r) = self.pop_injector() {
                self.entomb(r);
            }
        } else {
            self.wake_one_parked();
        }
    }

    fn push_blocking(&self, runnable: Runnable) {
        let shared = runnable.metadata().shared_arc();
        let spawn_thread = || {
            #[cfg(test)]
            if shared.fail_thread_spawns.load(Ordering::Relaxed) {
                return false;
            }
            let seq = shared.blocking_seq.fetch_add(1, Ordering::Relaxed);
            let pool = Arc::downgrade(&shared.blocking);
            let handle = Arc::downgrade(&shared);
            let mut builder =
                std::thread::Builder::new().name(format!("{}-blocking-{seq}", shared.thread_name));
            if let Some(bytes) = shared.stack_size {
                builder = builder.stack_size(bytes);
            }
            builder
                .spawn(move || {
                    let _enter = handle.upgrade().map(context::enter);
                    BlockingPool::thread_main(pool, run_blocking_job);
                })
                .is_ok()
        };
        let run_inline = |r: Runnable| {
            let _enter = context::enter(shared.clone());
            // On one of this executor's workers, the tasks queued behind this thread, or woken
            // by the job, must not wait for it: idle workers take them.
            context::with_worker(|w| match w {
                Some(w) if w.belongs_to(&shared) => w.run_blocking(|| run_blocking_job(r)),
                _ => run_blocking_job(r),
            });
        };
        // A job refused or cancelled here (shut down) is dropped inside the executor's context.
        let _enter = context::enter(shared.clone());
        shared
            .clone()
            .blocking
            .push(runnable, spawn_thread, run_inline);
    }

    /// Wakes a parked worker if one should go looking for the work just published.
    pub(crate) fn notify_parked(&self) {
        // Pairs with the fence in `Worker::park`: either the parking worker sees our task, or we
        // see that it parked.
        fence(Ordering::SeqCst);
        self.wake_one_parked();
    }

    /// `notify_parked` without its fence, for a caller that has just issued one.
    fn wake_one_parked(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.unpark(worker);
        }
    }

    /// True if some queue holds a task a worker could take.
    pub(crate) fn has_visible_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Takes one task from the injector.
    pub(crate) fn pop_injector(&self) -> Option<Runnable> {
        loop {
            match self.injector.steal() {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    /// Stops the workers, cancels every unfinished task and the blocking pool's queued jobs.
    /// Returns true if every worker exited within `timeout`.
    ///
    /// The cancelled tasks' futures are dropped inside this executor's context, so a
    /// `weft::spawn` in a destructor is refused (its handle reports `Cancelled`) instead of
    /// starting the task elsewhere.
    pub(crate) fn shutdown(self: &Arc<Self>, timeout: Option<Duration>) -> bool {
        let _enter = context::enter(self.clone());
        self.shutdown.store(true, Ordering::SeqCst);
        self.watchdog.stop();
        for (worker, driver) in self.drivers.iter().enumerate() {
            driver.shutdown();
            self.unpark(worker);
        }
        let on_worker = context::with_worker(|w| w.is_some_and(|w| w.belongs_to(self)));
        let all_exited = {
            let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
            let own = usize::from(on_worker);
            match timeout {
                None => {
                    while *alive > own {
                        alive = self.exited.wait(alive).unwrap_or_else(|e| e.into_inner());
                    }
                    true
                }
                Some(t) => {
                    let (guard, _) = self
                        .exited
                        .wait_timeout_while(alive, t, |a| *a > own)
                        .unwrap_or_else(|e| e.into_inner());
                    *guard <= own
                }
            }
        };
        // Cancel every task still registered: waking one now queues it to be dropped (see
        // `schedule`), and dropping it may wake others.
        loop {
            let wakers = self.registry.drain();
            let woke = !wakers.is_empty();
            for w in wakers {
                w.wake();
            }
            if !self.bury() && !woke {
                break;
            }
        }
        // Timers still pending fire now and the wheels take no more: whoever polls such a timer
        // again (a thread outside, or a blocking job that outlives the executor) moves it to
        // the global runtime; this executor's own tasks are cancelled when woken.
        let mut fired = Vec::new();
        for timers in self.timers.iter() {
            timers.close(&mut fired);
        }
        for w in fired {
            w.wake();
        }
        fence(Ordering::SeqCst);
        self.drain_injector();
        self.bury();
        self.blocking.shutdown();
        // From now on a task woken (a spawn racing this shutdown, a worker that outlived the
        // timeout) is buried by whoever woke it; what was queued before, we bury.
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.bury();
        all_exited
    }

    /// Queues a task woken during shutdown for [`Shared::bury`]; buries at once if shutdown
    /// is over.
    fn entomb(self: &Arc<Self>, runnable: Runnable) {
        self.graveyard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(runnable);
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.bury();
        }
    }

    /// Drops (cancels) the tasks woken during shutdown, inside this executor's context, until
    /// none are left (dropping one may wake others). Returns true if there were any.
    fn bury(self: &Arc<Self>) -> bool {
        let _enter = context::enter(self.clone());
        let mut any = false;
        loop {
            let dead =
                std::mem::take(&mut *self.graveyard.lock().unwrap_or_else(|e| e.into_inner()));
            if dead.is_empty() {
                return any;
            }
            any = true;
            drop(dead);
        }
    }

    /// Drops (cancels) every task in the injector, inside this executor's context.
    fn drain_injector(self: &Arc<Self>) {
        let _enter = context::enter(self.clone());
        while let Some(r) = self.pop_injector() {
            drop(r);
        }
    }

    /// Called by a worker thread as it exits.
    pub(crate) fn worker_exited(&self) {
        let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        *alive -= 1;
        self.exited.notify_all();
    }
}

/// Runs a blocking job, then counts it out.
fn run_blocking_job(runnable: Runnable) {
    let shared = runnable.metadata().shared_arc();
    crate::runtime::task::run(runnable);
    shared.blocking_finished();
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use crate::Executor;
    use std::sync::atomic::Ordering;

    #[test]
    fn blocking_jobs_run_inline_when_no_thread_can_start() {
        let ex = Executor::new(1);
        ex.shared.fail_thread_spawns.store(true, Ordering::Relaxed);
        // From outside the executor and from a task: neither handle is left hanging.
        assert_eq!(ex.block_on(ex.spawn_blocking(|| 6 * 7)), 42);
        let nested = ex.block_on(ex.spawn(async { weft::spawn_blocking(|| "ran").await }));
        assert_eq!(nested, "ran");
        // Once threads can start again, jobs go to the pool as usual.
        ex.shared.fail_thread_spawns.store(false, Ordering::Relaxed);
        let name =
            ex.block_on(ex.spawn_blocking(|| std::thread::current().name().map(str::to_owned)));
        assert!(
            name.is_some_and(|n| n.contains("blocking")),
            "ran on a pool thread"
        );
    }

    /// Runs `body` on a 2-worker executor from outside; false if it did not finish in 5 s.
    fn finishes(
        inline_blocking: bool,
        body: impl std::future::Future<Output = u32> + Send + 'static,
    ) -> bool {
        let ex = Executor::new(2);
        ex.shared
            .fail_thread_spawns
            .store(inline_blocking, Ordering::Relaxed);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let h = ex.spawn(body);
        // On its own thread, so a hang is reported after the timeout instead of blocking the
        // test (that thread then never returns).
        std::thread::spawn(move || {
            let v = ex.block_on(h);
            let _ = done_tx.send(v);
        });
        done_rx.recv_timeout(std::time::Duration::from_secs(5)) == Ok(7)
    }

    /// From a task on a worker: lets the other worker go back to sleep, then spawns on this
    /// worker a task that sends 7, after yielding once if `yields` (and then yields itself, so
    /// the spawned task runs to its yield and queues up behind this one). The caller then
    /// blocks its worker's thread until the value comes.
    async fn task_behind_this_one(
        yields: bool,
    ) -> (std::sync::mpsc::Receiver<u32>, crate::JoinHandle<()>) {
        // The other worker, woken when the calling task was queued, goes back to sleep.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let handle = weft::spawn(async move {
            if yields {
                weft::yield_now().await;
            }
            tx.send(7).unwrap();
        });
        if yields {
            weft::yield_now().await;
        }
        (rx, handle)
    }

    /// A blocking job run inline on a worker (no pool thread can start) waits for a task that
    /// yielded on that same worker just before: an idle worker must take that task.
    #[test]
    fn inline_blocking_job_does_not_strand_a_task_that_yielded_on_its_worker() {
        assert!(
            finishes(true, async {
                let (rx, _sender) = task_behind_this_one(true).await;
                weft::spawn_blocking(move || rx.recv().unwrap()).await
            }),
            "hung: the yielded task was never taken by the idle worker"
        );
    }

    /// The same with the worker's thread blocked by the task itself (which the docs warn
    /// against): the task it waits for is still taken by the idle worker.
    #[test]
    fn a_blocked_worker_does_not_strand_a_task_that_yielded_behind_it() {
        assert!(
            finishes(false, async {
                let (rx, _sender) = task_behind_this_one(true).await;
                rx.recv().unwrap()
            }),
            "hung: the yielded task was never taken by the idle worker"
        );
    }

    /// A blocking job run inline on a worker wakes a task parked on a channel and then waits
    /// for that task's answer: the task, woken on this worker's thread, must not go to the
    /// LIFO slot of the worker the job is blocking.
    #[test]
    fn inline_blocking_job_does_not_strand_a_task_it_wakes() {
        assert!(
            finishes(true, async {
                // The other worker, woken when this task was queued, goes back to sleep.
                std::thread::sleep(std::time::Duration::from_millis(200));
                let (value_tx, value_rx) = crate::sync::oneshot::channel::<u32>();
                let (reply_tx, reply_rx) = std::sync::mpsc::channel();
                let _echo = weft::spawn(async move {
                    let _ = reply_tx.send(value_rx.await.unwrap_or(0));
                });
                // The echo task runs (from the LIFO slot) and parks on its receiver.
                weft::yield_now().await;
                weft::spawn_blocking(move || {
                    let _ = value_tx.send(7);
                    reply_rx.recv().unwrap_or(0)
                })
                .await
            }),
            "hung: the woken task waited behind the job that waits for it"
        );
    }

    /// A blocking job run inline waits for a task just spawned on the same worker, which sits
    /// in the worker's LIFO slot (where no other worker can steal it): it is handed over first.
    #[test]
    fn inline_blocking_job_does_not_strand_the_task_in_the_lifo_slot() {
        assert!(
            finishes(true, async {
                let (rx, _sender) = task_behind_this_one(false).await;
                weft::spawn_blocking(move || rx.recv().unwrap()).await
            }),
            "hung: the task in the LIFO slot waited behind the blocked worker"
        );
    }
}
