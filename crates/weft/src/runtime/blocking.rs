//! The blocking thread pool behind `spawn_blocking`.
//!
//! Jobs go through a lock-free unbounded channel (crossbeam's list flavour); each idle thread
//! blocks on it with its own parker. The pool grows when more jobs are queued than threads are
//! idle (up to `max_threads`) and shrinks as threads sit idle for `keep_alive`. Two counters make
//! the grow decision without a shared lock: `queued` (sent, not yet received) and `idle`
//! (threads waiting). A thread that times out re-checks `queued` before leaving, so a job sent
//! while it was leaving is never stranded; both sides use `SeqCst` for that hand-shake.

#![forbid(unsafe_code)]

use crate::runtime::task::Runnable;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Weak;
use std::time::Duration;

enum Job {
    Run(Runnable),
    Stop,
}

#[derive(Debug)]
pub(crate) struct BlockingPool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    queued: AtomicUsize,
    idle: AtomicUsize,
    threads: AtomicUsize,
    max_threads: usize,
    keep_alive: Duration,
    shutdown: AtomicBool,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Run(_) => "Run",
            Job::Stop => "Stop",
        })
    }
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self {
            tx,
            rx,
            queued: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
            max_threads: max_threads.max(1),
            keep_alive,
            shutdown: AtomicBool::new(false),
        }
    }

    /// Threads of the pool now.
    pub(crate) fn threads(&self) -> usize {
        self.threads.load(SeqCst)
    }

    /// Threads waiting for a job.
    pub(crate) fn idle_threads(&self) -> usize {
        self.idle.load(SeqCst)
    }

    /// Jobs sent and not yet taken by a thread.
    pub(crate) fn queue_depth(&self) -> usize {
        self.queued.load(SeqCst)
    }

    /// Queues a blocking task, starting a thread for it if none is idle.
    ///
    /// `spawn_thread` starts a pool thread running [`BlockingPool::thread_main`] and says
    /// whether the OS gave it one. If it did not and the pool has no thread left to take the
    /// queued jobs, they run here, through `run_inline`, on the caller's thread: slower (a
    /// worker stalls meanwhile) but never stranded.
    pub(crate) fn push(
        &self,
        runnable: Runnable,
        spawn_thread: impl FnOnce() -> bool,
        run_inline: impl Fn(Runnable),
    ) {
        if self.shutdown.load(SeqCst) {
            drop(runnable);
            return;
        }
        self.queued.fetch_add(1, SeqCst);
        // The receiver lives as long as `self`, so this send cannot fail.
        let _ = self.tx.send(Job::Run(runnable));
        if self.shutdown.load(SeqCst) {
            // Shutdown may have drained the queue before this job arrived: cancel it here.
            self.drain();
            return;
        }
        if self.queued.load(SeqCst) > self.idle.load(SeqCst) {
            let mut n = self.threads.load(SeqCst);
            while n < self.max_threads {
                match self.threads.compare_exchange(n, n + 1, SeqCst, SeqCst) {
                    Ok(_) => {
                        if !spawn_thread() {
                            self.thread_failed(run_inline);
                        }
                        break;
                    }
                    Err(actual) => n = actual,
                }
            }
        }
    }

    /// `spawn_thread` failed to start a thread: give its slot back, and if no pool thread is
    /// left, run what is queued on this thread. (A thread started meanwhile by another push
    /// takes jobs from the same queue; each job runs once either way.)
    fn thread_failed(&self, run_inline: impl Fn(Runnable)) {
        if self.threads.fetch_sub(1, SeqCst) != 1 {
            return;
        }
        while self.threads.load(SeqCst) == 0 {
            match self.rx.try_recv() {
                Ok(Job::Run(runnable)) => {
                    self.queued.fetch_sub(1, SeqCst);
                    run_inline(runnable);
                }
                Ok(Job::Stop) => {
                    // Meant for a pool thread (shutdown raced us): put it back and stop.
                    let _ = self.tx.send(Job::Stop);
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// The body of a pool thread. It holds the pool weakly between jobs; shutdown's `Stop`
    /// messages make idle threads leave.
    pub(crate) fn thread_main(pool: Weak<Self>, on_job: impl Fn(Runnable)) {
        let Some(this) = pool.upgrade() else { return };
        let rx = this.rx.clone();
        let keep_alive = this.keep_alive;
        drop(this);
        loop {
            let Some(this) = pool.upgrade() else { return };
            this.idle.fetch_add(1, SeqCst);
            drop(this);
            let got = rx.recv_timeout(keep_alive);
            let Some(this) = pool.upgrade() else { return };
            this.idle.fetch_sub(1, SeqCst);
            match got {
                Ok(Job::Run(runnable)) => {
                    this.queued.fetch_sub(1, SeqCst);
                    drop(this);
                    on_job(runnable);
                }
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    this.threads.fetch_sub(1, SeqCst);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Leave, then look once more: a job pushed while we were leaving may have
                    // seen the pool at its limit and started no thread. If one is waiting,
                    // take a thread slot back and stay.
                    this.threads.fetch_sub(1, SeqCst);
                    if this.queued.load(SeqCst) > this.idle.load(SeqCst) && this.reclaim_slot() {
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// Takes a thread slot if the pool is below its limit.
    fn reclaim_slot(&self) -> bool {
        let mut n = self.threads.load(SeqCst);
        while n < self.max_threads {
            match self.threads.compare_exchange(n, n + 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
        false
    }

    /// Cancels every queued job.
    fn drain(&self) {
        while let Ok(job) = self.rx.try_recv() {
            if let Job::Run(r) = job {
                self.queued.fetch_sub(1, SeqCst);
                drop(r);
            }
        }
    }

    /// Refuses new jobs, cancels queued ones and tells idle threads to leave. Jobs already
    /// running are not interrupted (they cannot be).
    pub(crate) fn shutdown(&self) {
        if self.shutdown.swap(true, SeqCst) {
            return;
        }
        self.drain();
        for _ in 0..self.threads.load(SeqCst) {
            let _ = self.tx.send(Job::Stop);
        }
    }
}
