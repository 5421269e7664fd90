//! Which workers are parked, and how many are searching for work.
//!
//! The protocol is tokio's: one atomic word packs the number of awake (not parked) workers and the number
//! of searching ones, so the hot check "should a push wake somebody?" is one load. A parked
//! worker is woken only when nobody is searching (a searcher will find the new task anyway),
//! and at most half of the workers search at once, so idle workers do not all pile onto the
//! same victims.
//!
//! A worker that is woken by [`Idle::worker_to_notify`] is counted as awake *and* searching
//! by the notifier, under the sleepers lock, and told so through its `notified` flag.
//!
//! While some workers run, one parked worker is the *watcher*: it parks with a short timeout
//! and takes the tasks that a running worker left in its LIFO slot or queue while stuck in one
//! long poll (nothing wakes a parked worker for a task put in an empty LIFO slot, since its
//! owner runs it next, unless that poll never ends; running workers look too, but only every
//! 61 ticks of their own). A worker that parks while others run becomes
//! the watcher if there is none; the watcher gives the role up when it runs a task, or when
//! every other worker has parked. A running worker that puts a task in its empty LIFO slot
//! while workers are parked and none watches wakes one ([`Idle::needs_watcher`]), which then
//! parks as the watcher. The resigning watcher publishes, then re-reads the idle word; the
//! worker that unparked published, then reads the watcher: one of them sees the other.

#![forbid(unsafe_code)]

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;

const AWAKE_SHIFT: usize = 16;
/// `watcher` when no parked worker watches.
const NO_WATCHER: usize = usize::MAX;
const SEARCH_MASK: usize = (1 << AWAKE_SHIFT) - 1;

#[derive(Debug)]
pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    notified: Box<[AtomicBool]>,
    num_workers: usize,
    /// The parked worker that watches the running ones' LIFO slots, or `NO_WATCHER`.
    watcher: AtomicUsize,
}

fn searching(state: usize) -> usize {
    state & SEARCH_MASK
}

fn awake(state: usize) -> usize {
    state >> AWAKE_SHIFT
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Self {
        Self {
            state: AtomicUsize::new(num_workers << AWAKE_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            notified: (0..num_workers).map(|_| AtomicBool::new(false)).collect(),
            num_workers,
            watcher: AtomicUsize::new(NO_WATCHER),
        }
    }

    fn should_wake_one(&self) -> bool {
        let state = self.state.load(SeqCst);
        searching(state) == 0 && awake(state) < self.num_workers
    }

    /// Picks a parked worker to wake, if waking one is useful, and counts it as unparked and
    /// searching. The caller unparks its thread.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake_one() {
            return None;
        }
        let mut sleepers = self.sleepers.lock().unwrap();
        if !self.should_wake_one() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add((1 << AWAKE_SHIFT) | 1, SeqCst);
        self.notified[worker].store(true, SeqCst);
        Some(worker)
    }

    /// Lets a worker start searching, unless half of the workers already are.
    pub(crate) fn transition_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searching worker found work. Returns true if it was the last searcher, in which case
    /// the caller should wake another worker to keep looking.
    pub(crate) fn transition_from_searching(&self) -> bool {
        searching(self.state.fetch_sub(1, SeqCst)) == 1
    }

    /// Records that `worker` is about to park.
    pub(crate) fn transition_to_parked(&self, worker: usize, is_searching: bool) {
        let mut sleepers = self.sleepers.lock().unwrap();
        let dec = (1 << AWAKE_SHIFT) | usize::from(is_searching);
        self.state.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
    }

    /// Records that `worker` is running again after a park (woken or not). Returns true if it
    /// was woken by [`Idle::worker_to_notify`], which already counted it as searching.
    pub(crate) fn transition_from_parked(&self, worker: usize) -> bool {
        if self.notified[worker].swap(false, SeqCst) {
            return true;
        }
        let mut sleepers = self.sleepers.lock().unwrap();
        // The flag is set under this lock, so it is final now.
        if self.notified[worker].swap(false, SeqCst) {
            return true;
        }
        if let Some(i) = sleepers.iter().position(|&w| w == worker) {
            sleepers.swap_remove(i);
            self.state.fetch_add(1 << AWAKE_SHIFT, SeqCst);
        }
        false
    }

    /// Called by `worker` after [`Idle::transition_to_parked`]: true if it is to park as the
    /// watcher (other workers run and no one else watches). A watcher that finds every other
    /// worker parked gives the role up.
    pub(crate) fn watch_while_parked(&self, worker: usize) -> bool {
        let current = self.watcher.load(SeqCst);
        if awake(self.state.load(SeqCst)) > 0 {
            return current == worker || self.try_watch(worker);
        }
        if current == worker {
            self.watcher.store(NO_WATCHER, SeqCst);
            // A worker that unparked just now may have seen us watching and asked for nobody.
            if awake(self.state.load(SeqCst)) > 0 {
                return self.try_watch(worker);
            }
        }
        false
    }

    fn try_watch(&self, worker: usize) -> bool {
        self.watcher
            .compare_exchange(NO_WATCHER, worker, SeqCst, SeqCst)
            .is_ok()
    }

    /// `worker` runs a task: it no longer watches.
    pub(crate) fn stop_watching(&self, worker: usize) {
        let _ = self
            .watcher
            .compare_exchange(worker, NO_WATCHER, SeqCst, SeqCst);
    }

    /// Called by a running worker that just put a task in its empty LIFO slot: true if some
    /// worker is parked and none watches, so one should be woken to watch.
    pub(crate) fn needs_watcher(&self) -> bool {
        self.watcher.load(SeqCst) == NO_WATCHER && awake(self.state.load(SeqCst)) < self.num_workers
    }

    /// True if every worker is parked (none awake, none notified).
    pub(crate) fn all_parked(&self) -> bool {
        awake(self.state.load(SeqCst)) == 0
    }

    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        let state = self.state.load(SeqCst);
        (awake(state), searching(state))
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    #[test]
    fn wakes_only_when_nobody_searches() {
        let idle = Idle::new(4);
        assert_eq!(idle.worker_to_notify(), None, "everyone is awake");
        idle.transition_to_parked(3, false);
        idle.transition_to_parked(2, false);
        assert_eq!(idle.counts(), (2, 0));
        assert_eq!(idle.worker_to_notify(), Some(2));
        assert_eq!(idle.counts(), (3, 1));
        // Worker 2 is searching now: no second wake-up.
        assert_eq!(idle.worker_to_notify(), None);
        assert!(idle.transition_from_parked(2));
        assert!(idle.transition_from_searching());
        assert_eq!(idle.worker_to_notify(), Some(3));
    }

    #[test]
    fn at_most_half_search() {
        let idle = Idle::new(4);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_searching());
        assert!(!idle.transition_to_searching());
        assert!(!idle.transition_from_searching());
        assert!(idle.transition_from_searching());
    }

    #[test]
    fn one_watcher_while_others_run() {
        let idle = Idle::new(3);
        assert!(!idle.needs_watcher(), "nobody is parked");
        idle.transition_to_parked(2, false);
        assert!(idle.needs_watcher(), "parked, and nobody watches");
        assert!(idle.watch_while_parked(2));
        assert!(!idle.needs_watcher());
        idle.transition_to_parked(1, false);
        assert!(!idle.watch_while_parked(1), "one watcher is enough");
        idle.transition_to_parked(0, false);
        assert!(
            !idle.watch_while_parked(2),
            "everyone parked: nothing to watch"
        );
        assert!(idle.needs_watcher());
        assert!(!idle.transition_from_parked(0));
        assert!(idle.watch_while_parked(1));
        idle.stop_watching(2);
        assert!(!idle.needs_watcher(), "only the watcher gives up its role");
        idle.stop_watching(1);
        assert!(idle.needs_watcher());
    }

    #[test]
    fn spurious_unpark_restores_count() {
        let idle = Idle::new(2);
        idle.transition_to_parked(1, false);
        assert!(!idle.transition_from_parked(1));
        assert_eq!(idle.counts(), (2, 0));
    }
}

#[cfg(all(test, weft_loom))]
mod loom_tests {
    //! The parking hand-shake: a worker announces that it parks, then re-checks for work; a
    //! pusher publishes work, then asks `Idle` whom to wake. The `SeqCst` fences on both sides
    //! (the same ones `Shared::notify_parked` and `WorkerCtx::park` use) must make it
    //! impossible for the work to sit in the queue while every worker sleeps: loom reports
    //! such an interleaving as a deadlock.
    use super::*;
    use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize};
    use crate::loom::sync::Arc;
    use crate::runtime::park::Parker;
    use loom::thread;

    struct World {
        idle: Idle,
        parkers: Vec<Parker>,
        /// Stands in for the run queues: the number of queued tasks.
        queued: AtomicUsize,
        ran: AtomicUsize,
        shutdown: AtomicBool,
    }

    impl World {
        fn new(workers: usize) -> Arc<Self> {
            Arc::new(World {
                idle: Idle::new(workers),
                parkers: (0..workers).map(|_| Parker::new()).collect(),
                queued: AtomicUsize::new(0),
                ran: AtomicUsize::new(0),
                shutdown: AtomicBool::new(false),
            })
        }

        fn push(&self) {
            self.queued.fetch_add(1, SeqCst);
            fence(SeqCst);
            if let Some(w) = self.idle.worker_to_notify() {
                self.parkers[w].unpark();
            }
        }

        fn try_take(&self) -> bool {
            let mut n = self.queued.load(SeqCst);
            while n > 0 {
                match self.queued.compare_exchange(n, n - 1, SeqCst, SeqCst) {
                    Ok(_) => return true,
                    Err(actual) => n = actual,
                }
            }
            false
        }

        /// One worker: runs tasks until shutdown, parking when there is nothing to do.
        fn worker(&self, me: usize) {
            let mut searching = false;
            loop {
                if self.try_take() {
                    if searching && self.idle.transition_from_searching() {
                        if let Some(w) = self.idle.worker_to_notify() {
                            self.parkers[w].unpark();
                        }
                    }
                    searching = false;
                    self.ran.fetch_add(1, SeqCst);
                    continue;
                }
                if self.shutdown.load(SeqCst) {
                    return;
                }
                self.idle.transition_to_parked(me, searching);
                fence(SeqCst);
                if self.queued.load(SeqCst) == 0 && !self.shutdown.load(SeqCst) {
                    self.parkers[me].park(None);
                }
                searching = self.idle.transition_from_parked(me);
            }
        }
    }

    /// The watcher finds every other worker parked and resigns while one of them unparks
    /// and puts a task in its LIFO slot: either the watcher stays, or the worker asks for one.
    #[test]
    fn loom_watcher_resigns_while_a_worker_unparks() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            idle.transition_to_parked(1, false);
            idle.transition_to_parked(0, false);
            idle.watcher.store(0, SeqCst);
            let worker = {
                let idle = idle.clone();
                thread::spawn(move || {
                    idle.transition_from_parked(1);
                    // (puts a task in its LIFO slot)
                    idle.needs_watcher()
                })
            };
            let watching = idle.watch_while_parked(0);
            let asked = worker.join().unwrap();
            assert!(
                watching || asked,
                "the LIFO slot of a running worker went unwatched"
            );
        });
    }

    #[test]
    fn loom_park_handshake_one_worker() {
        loom::model(|| {
            let world = World::new(1);
            let w = world.clone();
            let worker = thread::spawn(move || w.worker(0));
            world.push();
            // Wait for the task to run; if the wake-up were lost this never returns and loom
            // reports the deadlock.
            while world.ran.load(SeqCst) == 0 {
                thread::yield_now();
            }
            world.shutdown.store(true, SeqCst);
            world.parkers[0].unpark();
            worker.join().unwrap();
        });
    }

    #[test]
    fn loom_park_handshake_two_workers() {
        loom::model(|| {
            let world = World::new(2);
            let workers: Vec<_> = (0..2)
                .map(|i| {
                    let w = world.clone();
                    thread::spawn(move || w.worker(i))
                })
                .collect();
            world.push();
            world.push();
            while world.ran.load(SeqCst) < 2 {
                thread::yield_now();
            }
            world.shutdown.store(true, SeqCst);
            for p in &world.parkers {
                p.unpark();
            }
            for w in workers {
                w.join().unwrap();
            }
        });
    }
}
