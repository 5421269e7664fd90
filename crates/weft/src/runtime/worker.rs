//! The worker loop: find a task, run it, and park when there is nothing to do.
//!
//! Where a worker looks, in order:
//! 1. every [`GLOBAL_QUEUE_INTERVAL`] ticks, the injector first, so remote spawns are never
//!    starved by a worker that keeps feeding itself (and, at the same point, its driver's
//!    events, every wheel's due timers, and the tasks of workers stuck in one poll: see
//!    [`WorkerCtx::take_stranded`]);
//! 2. its LIFO slot, holding the task it just woke (message-passing locality), at most
//!    [`MAX_LIFO_POLLS`] times in a row so two tasks that wake each other cannot starve the
//!    queue;
//! 3. its local queue;
//! 4. the injector (taking a batch into the local queue);
//! 5. other workers' queues, stealing half, if fewer than half of the workers are searching,
//!    the I/O events their drivers hold (a busy worker looks at its own only every 61 ticks),
//!    and the LIFO slots of workers stuck in one poll for [`STRANDED_AFTER`];
//! 6. otherwise it parks until woken (or, as the watcher, until it is time to look at the
//!    running workers again: see `scheduler/idle.rs`).
//!
//! A worker stuck in one poll (a blocking call, a long computation) does not get to the tasks
//! in its LIFO slot and queue. Idle workers steal from its queue anyway; its LIFO slot, and
//! its queue when every other worker always has work of its own, are taken by whoever sees
//! that its poll count has not moved for [`STRANDED_AFTER`] while tasks wait there: a
//! searching worker, the watcher, and every running worker at its maintenance point.

#![forbid(unsafe_code)]

use super::context;
use super::metrics::WorkerCounters;
use super::scheduler::coop;
use super::scheduler::queue::LocalQueue;
use super::shared::{Shared, WorkerLifo};
use crate::runtime::task::{self, Runnable};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

/// Ticks between two forced checks of the injector (tokio uses 61 too: a prime, so it does
/// not line up with other periodic work).
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// LIFO-slot tasks run back to back before the slot's task goes to the back of the queue.
const MAX_LIFO_POLLS: usize = 3;

/// Tasks at most moved from the injector into the local queue at once.
const MAX_INJECTOR_BATCH: usize = 64;

/// How long (ns of clock time, 5 ms) tasks may wait in the LIFO slot or queue of a worker that
/// started no poll meanwhile before another worker takes them. Far above a normal poll, so
/// locality is kept, and short next to how long a blocking call stalls.
const STRANDED_AFTER: u64 = 5_000_000;

/// How often (ns, 1 ms) at most a running worker looks for workers stuck in one poll, at its
/// maintenance point (so at most every [`GLOBAL_QUEUE_INTERVAL`] ticks as well): the other
/// workers' poll counts, which their owners write on every poll, are then read a thousand
/// times a second at most, which costs nothing measurable, and often next to
/// [`STRANDED_AFTER`].
const RUNNING_LOOK_PERIOD: u64 = 1_000_000;

/// How often the watcher looks at the running workers' LIFO slots: a task stuck there waits at
/// most about this plus [`STRANDED_AFTER`].
const WATCH_PERIOD: Duration = Duration::from_millis(5);

/// What a worker saw of another at its last look for stuck workers: that worker's poll count,
/// and when (clock time) the looker first saw that count with tasks waiting in its LIFO slot or
/// queue.
type StuckSeen = Option<(u64, Option<u64>)>;

/// A worker's state, owned by its thread and reachable from the thread-local context so that
/// wake-ups on this thread can use the local queue.
pub(crate) struct WorkerCtx {
    pub(crate) index: usize,
    shared: Arc<Shared>,
    local: LocalQueue<Runnable>,
    searching: Cell<bool>,
    /// True while this worker is the watcher (see `scheduler/idle.rs`).
    watching: Cell<bool>,
    /// Per other worker, what this worker saw at its last look.
    stuck_seen: RefCell<Vec<StuckSeen>>,
    /// When (clock time) this worker, running, last looked for stuck workers.
    last_running_look: Cell<u64>,
    /// Set while this worker's thread runs a blocking job inline (see `run_blocking`).
    blocking: Cell<bool>,
    tick: Cell<u32>,
    /// At least the number of this worker's deferred tasks (`WorkerLifo::deferred`; only a
    /// worker taking a stuck one's tasks removes any behind its back), so that finding none
    /// takes no lock.
    deferred: Cell<usize>,
    /// Wakers of fired timers, reused between rounds.
    fired: RefCell<Vec<Waker>>,
    /// The real clock's last reading on this worker (ns; at most 61 ticks or a park old): the
    /// time task dumps give the polls that start now.
    clock_seen: Cell<u64>,
    /// When (real clock) the time this worker has been busy was last added up.
    busy_since: Cell<u64>,
    /// Set while this worker reaps a driver: the tasks its events wake are queued without
    /// waking an idle worker for each, and [`WorkerCtx::reaped`] wakes one for the batch.
    reaping: Cell<bool>,
    /// A task woken during the reap went where another worker could take it.
    reap_queued: Cell<bool>,
}

impl WorkerCtx {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn belongs_to(&self, shared: &Shared) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.shared), shared)
    }

    fn lifo(&self) -> &WorkerLifo {
        &self.shared.lifos[self.index]
    }

    /// This worker's counters (only this thread writes them).
    pub(crate) fn counters(&self) -> &WorkerCounters {
        &self.shared.counters[self.index]
    }

    /// The real clock read `real` (ns): adds the time since the last reading to the busy time
    /// (unless `busy` is false: the worker was parked since).
    fn saw_clock(&self, real: u64, busy: bool) {
        if busy {
            let since = self.busy_since.get();
            self.counters().busy_ns.add(real.saturating_sub(since));
        }
        self.busy_since.set(real);
        self.clock_seen.set(real);
    }

    /// The real clock's time, given the executor clock's `now`, which it is unless a test
    /// paused the clock.
    fn real_time(&self, now: u64) -> u64 {
        if self.shared.clock.touched() {
            self.shared.clock.real()
        } else {
            now
        }
    }

    /// Polls one task, counted, with the task published for the stall watchdog.
    #[inline(always)]
    fn poll_task(&self, lifo: &WorkerLifo, runnable: Runnable) {
        self.count_poll(lifo);
        lifo.running
            .store(runnable.metadata().slot_word(), Ordering::Relaxed);
        task::run_at(runnable, self.clock_seen.get());
        lifo.running.store(0, Ordering::Relaxed);
    }

    /// Schedules a task woken on this worker.
    pub(crate) fn schedule_local(&self, runnable: Runnable, woken_while_running: bool) {
        let should_notify = if self.blocking.get() {
            // Woken by a blocking job this thread runs: it goes where idle workers can take it,
            // for this thread will not get to it before the job ends (and the job may wait for
            // it), so an idle worker is woken for it.
            self.local.push_back(runnable, &*self.shared);
            true
        } else if woken_while_running {
            // A task that woke itself (its budget ran out, `yield_now`) is deferred: it runs
            // once this worker's queue is empty, or at its next maintenance point, as tokio
            // defers it. It brings no new work, so nobody is woken for it, and idle workers do
            // not steal it: a producer that yields stays on its consumer's worker instead of
            // moving to another and contending with it for their channel on every message.
            // Should this worker get stuck in one poll meanwhile, the watcher takes it (one is
            // woken if there is none).
            self.defer(runnable);
            self.shared.idle.needs_watcher()
        } else {
            match self.lifo().slot.put(runnable) {
                Some(prev) => {
                    self.local.push_back(prev, &*self.shared);
                    true
                }
                // Nobody is woken for it (this worker runs it next), unless workers are parked
                // and none of them watches for the case where this worker never gets to it.
                None => self.shared.idle.needs_watcher(),
            }
        };
        if should_notify {
            if self.reaping.get() {
                self.reap_queued.set(true);
            } else {
                self.shared.notify_parked();
            }
        }
    }

    /// Runs `reap` (a driver poll or park, whose events wake tasks) with wake-ups of idle
    /// workers held back: one reap can wake dozens of tasks, and each displaced from the LIFO
    /// slot would otherwise wake a worker (and, while this one is parked, perhaps itself).
    fn reaping<R>(&self, reap: impl FnOnce() -> R) -> R {
        self.reaping.set(true);
        let out = reap();
        self.reaping.set(false);
        out
    }

    /// After a reap (and, from a park, once this worker counts as awake again): wakes one
    /// idle worker if the reap queued tasks it could take.
    fn reaped(&self) {
        if self.reap_queued.replace(false) {
            self.shared.notify_parked();
        }
    }

    /// Runs a blocking job on this worker's thread (no pool thread could start). First puts the
    /// LIFO task, which no other worker can steal, in the ring, and wakes an idle worker if the
    /// ring holds anything, so no task waits behind the block; tasks the job wakes go to the
    /// ring too.
    pub(crate) fn run_blocking(&self, job: impl FnOnce()) {
        if let Some(t) = self.lifo().slot.take() {
            self.local.push_back(t, &*self.shared);
        }
        self.undefer_all();
        if !self.local.is_empty() {
            self.shared.notify_parked();
        }
        struct Restore<'a>(&'a Cell<bool>, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Restore(&self.blocking, self.blocking.replace(true));
        job();
    }

    /// Defers a task that woke itself (see `schedule_local`). Out of line: it is the rare case,
    /// and `schedule_local` is on every wake-up.
    #[inline(never)]
    fn defer(&self, runnable: Runnable) {
        self.lifo().deferred().push_back(runnable);
        self.deferred.set(self.deferred.get() + 1);
    }

    /// Moves the deferred tasks to the back of the local queue, where other workers can take
    /// them.
    fn undefer_all(&self) {
        if self.deferred.get() == 0 {
            return;
        }
        self.deferred.set(0);
        let mut deferred = self.lifo().deferred();
        while let Some(t) = deferred.pop_front() {
            self.local.push_back(t, &*self.shared);
        }
    }

    /// The oldest deferred task, to run now that nothing else is queued here.
    fn undefer_one(&self) -> Option<Runnable> {
        if self.deferred.get() == 0 {
            return None;
        }
        let mut deferred = self.lifo().deferred();
        let t = deferred.pop_front();
        self.deferred.set(deferred.len());
        t
    }

    /// Fires the due timers of every wheel at clock time `now` (another worker's may be overdue
    /// while it is busy in one poll); returns true if any fired (their tasks are queued here).
    fn process_timers_at(&self, now: u64) -> bool {
        // Take the buffer out so no borrow is held while wakers run.
        let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
        if !self.shared.timers.fire_due(self.index, now, &mut fired) {
            *self.fired.borrow_mut() = fired;
            return false;
        }
        let any = !fired.is_empty();
        for w in fired.drain(..) {
            w.wake();
        }
        *self.fired.borrow_mut() = fired;
        any
    }

    fn next_task(&self, tick: u32) -> Option<Runnable> {
        if tick % GLOBAL_QUEUE_INTERVAL == 0 {
            let now = self.shared.clock.now();
            self.process_timers_at(now);
            // Completions are not left waiting behind a worker that keeps busy.
            self.reaping(|| self.shared.drivers[self.index].poll());
            self.reaped();
            // Nor are tasks behind another worker stuck in one poll, should every other worker
            // keep busy too (then none of them searches).
            // By the real clock: a paused test clock must not hide a stuck worker.
            let real = if self.shared.clock.touched() {
                self.shared.clock.real()
            } else {
                now
            };
            self.saw_clock(real, true);
            if real.wrapping_sub(self.last_running_look.get()) >= RUNNING_LOOK_PERIOD {
                self.last_running_look.set(real);
                self.take_stranded(Some(real));
            }
            // Tasks that yielded are not starved by tasks that keep waking each other here.
            self.undefer_all();
            if let Some(t) = self.shared.pop_injector() {
                self.counters().injector_pops.incr();
                return Some(t);
            }
        }
        // Woken outside a task run (by a timer), so not picked up by `run_task`'s LIFO loop.
        if let Some(t) = self.lifo().slot.take() {
            return Some(t);
        }
        if let Some(t) = self.local.pop() {
            return Some(t);
        }
        self.pop_injector_batch().or_else(|| self.undefer_one())
    }

    /// Takes one task from the injector to run and moves a fair share of the rest into the
    /// local queue, so the next ticks do not hit the injector again.
    fn pop_injector_batch(&self) -> Option<Runnable> {
        if self.shared.injector.is_empty() {
            return None;
        }
        let first = self.shared.pop_injector()?;
        let share = self.shared.injector.len() / self.shared.num_workers();
        let n = share
            .min(self.local.remaining() / 2)
            .min(MAX_INJECTOR_BATCH);
        let mut taken = 1;
        for _ in 0..n {
            match self.shared.pop_injector() {
                Some(t) => {
                    self.local.push_back(t, &*self.shared);
                    taken += 1;
                }
                None => break,
            }
        }
        self.counters().injector_pops.add(taken);
        Some(first)
    }

    fn steal_work(&self) -> Option<Runnable> {
        if !self.searching.get() {
            if !self.shared.idle.transition_to_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let n = self.shared.stealers.len();
        let start = crate::rng::index_below(n);
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let before = self.local.len();
            if let Some(t) = self.shared.stealers[victim].steal_into(&self.local) {
                let counters = self.counters();
                counters.steals.incr();
                counters
                    .stolen
                    .add(1 + self.local.len().saturating_sub(before) as u64);
                return Some(t);
            }
            // Events its busy owner has not looked at yet: their tasks run here.
            let foreign = self.reaping(|| self.shared.drivers[victim].poll_foreign());
            self.reaped();
            if foreign {
                if let Some(t) = self.lifo().slot.take().or_else(|| self.local.pop()) {
                    return Some(t);
                }
            }
        }
        if self.take_stranded(None) {
            if let Some(t) = self.local.pop() {
                return Some(t);
            }
        }
        self.pop_injector_batch()
    }

    /// Moves into this worker's queue the tasks of every worker that has started no poll, with
    /// tasks waiting in its LIFO slot or queue, since this worker first saw it so, at least
    /// [`STRANDED_AFTER`] ago: that worker is stuck in one poll (blocking, or computing for
    /// long), and its tasks would wait for it. Takes its LIFO task and half of its queue (the
    /// rest at the next looks, while it stays stuck). Returns true if it took any.
    ///
    /// `running`: the real clock's time, when called between this worker's own tasks (at most every
    /// [`RUNNING_LOOK_PERIOD`]). A worker whose count moved since the last look is then only
    /// noted, so the usual case costs one relaxed load per other worker; a stuck worker is
    /// taken from at the earliest two looks and [`STRANDED_AFTER`] after it stopped.
    fn take_stranded(&self, running: Option<u64>) -> bool {
        let shared = &*self.shared;
        let mut seen = self.stuck_seen.borrow_mut();
        let mut now = running;
        let mut took = false;
        for (victim, lifo) in shared.lifos.iter().enumerate() {
            if victim == self.index {
                continue;
            }
            let polls = lifo.polls.load(Ordering::Relaxed);
            let since = match seen[victim] {
                Some((p, since)) if p == polls => since,
                _ => {
                    seen[victim] = Some((polls, None));
                    if running.is_some() {
                        continue;
                    }
                    None
                }
            };
            let queue = &shared.stealers[victim];
            if lifo.slot.is_empty() && queue.is_empty() && lifo.deferred().is_empty() {
                // Parked, or between polls: nothing waits for it.
                seen[victim] = Some((polls, None));
                continue;
            }
            let now = *now.get_or_insert_with(|| shared.clock.real());
            match since {
                None => seen[victim] = Some((polls, Some(now))),
                // Still stuck at later looks: whatever it queued since is taken at once.
                Some(since) if now.saturating_sub(since) >= STRANDED_AFTER => {
                    // The queue's older tasks first, then the one its owner woke last.
                    let before = self.local.len();
                    if let Some(t) = queue.steal_into(&self.local) {
                        self.local.push_back(t, shared);
                        took = true;
                    }
                    if let Some(t) = lifo.slot.take() {
                        self.local.push_back(t, shared);
                        took = true;
                    }
                    // And the tasks that yielded there, oldest first.
                    let mut deferred = lifo.deferred();
                    while let Some(t) = deferred.pop_front() {
                        self.local.push_back(t, shared);
                        took = true;
                    }
                    drop(deferred);
                    self.counters()
                        .stranded_taken
                        .add(self.local.len().saturating_sub(before) as u64);
                }
                Some(_) => {}
            }
        }
        took
    }

    /// Counts a poll about to start, for other workers' [`WorkerCtx::take_stranded`].
    fn count_poll(&self, lifo: &WorkerLifo) {
        let polls = &lifo.polls;
        // Only this thread writes the count.
        polls.store(
            polls.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    fn run_task(&self, runnable: Runnable) {
        if self.searching.replace(false) && self.shared.idle.transition_from_searching() {
            // We were the last searcher: wake someone to look for more work.
            self.shared.notify_parked();
        }
        if self.watching.replace(false) {
            self.shared.idle.stop_watching(self.index);
        }
        let _budget = coop::with_budget();
        let lifo = self.lifo();
        self.poll_task(lifo, runnable);
        for _ in 0..MAX_LIFO_POLLS {
            match lifo.slot.take() {
                Some(t) => {
                    self.counters().lifo_hits.incr();
                    self.poll_task(lifo, t);
                }
                None => return,
            }
        }
        if let Some(t) = self.lifo().slot.take() {
            self.local.push_back(t, &*self.shared);
            self.shared.notify_parked();
        }
    }

    fn park(&self) {
        let shared = &*self.shared;
        let now = shared.clock.now();
        if self.process_timers_at(now) {
            // Timers woke tasks onto this worker: run them instead of parking.
            return;
        }
        if cfg!(feature = "metrics") {
            self.saw_clock(self.real_time(now), true);
        }
        shared
            .idle
            .transition_to_parked(self.index, self.searching.replace(false));
        // Pairs with the fence in `Shared::notify_parked`.
        fence(Ordering::SeqCst);
        let watching = shared.idle.watch_while_parked(self.index);
        self.watching.set(watching);
        let next_timer = shared.timers.prepare_park(self.index);
        // A paused clock moves only when advanced (by `advance`, or here once nothing can
        // run), so parking waits for no timer then.
        let paused = shared.clock.touched() && shared.clock.is_paused();
        let advanced = || paused && shared.try_auto_advance();
        if !shared.has_visible_work() && !shared.is_shutdown() && !advanced() {
            let mut timeout = next_timer
                .filter(|_| !paused)
                .map(|t| Duration::from_nanos(t.saturating_sub(shared.clock.now())));
            if watching {
                timeout = Some(timeout.map_or(WATCH_PERIOD, |t| t.min(WATCH_PERIOD)));
            }
            self.counters().parks.incr();
            #[cfg(feature = "tracing")]
            tracing::trace!(target: "weft::worker", worker = self.index, ?timeout, "park");
            self.reaping(|| shared.drivers[self.index].park(timeout));
        }
        shared.timers.awake(self.index);
        if shared.idle.transition_from_parked(self.index) {
            self.searching.set(true);
        }
        self.reaped();
        let now = shared.clock.now();
        self.saw_clock(self.real_time(now), false);
        self.process_timers_at(now);
        if self.watching.get() {
            self.take_stranded(None);
        }
    }

    fn run(&self) {
        while !self.shared.is_shutdown() {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if let Some(t) = self.next_task(tick) {
                self.run_task(t);
            } else if let Some(t) = self.steal_work() {
                self.run_task(t);
            } else {
                self.park();
            }
        }
        // Shutting down: cancel what is queued here.
        if self.searching.replace(false) {
            self.shared.idle.transition_from_searching();
        }
        if self.watching.replace(false) {
            self.shared.idle.stop_watching(self.index);
        }
        drop(self.lifo().slot.take());
        let deferred = std::mem::take(&mut *self.lifo().deferred());
        drop(deferred);
        while let Some(t) = self.local.pop() {
            drop(t);
        }
    }
}

/// The body of worker thread `index`.
pub(crate) fn main(shared: Arc<Shared>, index: usize, local: LocalQueue<Runnable>) {
    let ctx = Rc::new(WorkerCtx {
        index,
        shared: shared.clone(),
        local,
        searching: Cell::new(false),
        watching: Cell::new(false),
        stuck_seen: RefCell::new(vec![None; shared.num_workers()]),
        last_running_look: Cell::new(0),
        blocking: Cell::new(false),
        tick: Cell::new(0),
        deferred: Cell::new(0),
        fired: RefCell::new(Vec::new()),
        clock_seen: Cell::new(shared.clock.real()),
        busy_since: Cell::new(shared.clock.real()),
        reaping: Cell::new(false),
        reap_queued: Cell::new(false),
    });
    // Counted as exited however the thread ends, so `shutdown` never waits for a dead worker
    // (a panic can only escape from a waker or destructor that panics).
    struct Exited(Arc<Shared>);
    impl Drop for Exited {
        fn drop(&mut self) {
            self.0.worker_exited();
        }
    }
    let _exited = Exited(shared.clone());
    context::set_worker(Some(ctx.clone()));
    {
        let _enter = context::enter(shared.clone());
        ctx.run();
    }
    context::set_worker(None);
    drop(ctx);
}
