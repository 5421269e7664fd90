//! The stall watchdog: a report for a worker stuck in one poll, within twice the threshold,
//! once per stall, naming the spawn site; none for a task that yields regularly; and the
//! stuck worker's queued tasks run meanwhile. Run once per I/O backend (`WEFT_IO=uring` and
//! `WEFT_IO=epoll`); every wait is bounded.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft::runtime::StallReport;
use weft::Executor;

const THRESHOLD: Duration = Duration::from_millis(100);

/// An executor whose stall reports (with the instant each arrived) come out of the receiver.
fn watched(workers: usize) -> (Executor, mpsc::Receiver<(StallReport, Instant)>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let ex = Executor::builder()
        .workers(workers)
        .stall_threshold(Some(THRESHOLD))
        .on_stall(move |r| {
            let _ = tx.lock().unwrap().send((r.clone(), Instant::now()));
        })
        .build()
        .unwrap();
    (ex, rx)
}

/// Blocks the calling worker's thread for `d`, and says when the block started.
fn block(d: Duration, started: &Mutex<Option<Instant>>) {
    *started.lock().unwrap() = Some(Instant::now());
    std::thread::sleep(d);
}

#[test]
fn a_stuck_poll_is_reported_once_within_twice_the_threshold_with_its_spawn_site() {
    let (ex, reports) = watched(2);
    let started = Arc::new(Mutex::new(None));
    let s = started.clone();
    let sleeper = weft::task::Builder::new().name("sleeper");
    let body = async move { block(Duration::from_millis(600), &s) };
    let line = line!() + 1;
    let task = sleeper.spawn_on(body, &ex);
    let (report, at) = reports
        .recv_timeout(Duration::from_secs(5))
        .expect("no stall report");
    let began = started.lock().unwrap().expect("the task ran");
    let delay = at.duration_since(began);
    assert!(
        delay <= 2 * THRESHOLD,
        "reported {delay:?} after the poll began"
    );
    assert!(report.elapsed() >= THRESHOLD * 3 / 4, "{report}");
    assert_eq!(report.task_name(), Some("sleeper"));
    assert!(
        report.location().file().ends_with("rt_stall.rs"),
        "{}",
        report.location()
    );
    assert_eq!(report.location().line(), line);
    assert!(report.worker() < 2);
    task.join();
    // Once per stall: nothing more for the rest of that poll.
    assert!(
        reports.recv_timeout(Duration::from_millis(300)).is_err(),
        "a second report for one stall"
    );
    assert_eq!(ex.metrics().stalls(), 1);
}

#[test]
fn two_stalls_in_two_polls_are_two_reports() {
    let (ex, reports) = watched(1);
    let task = ex.spawn(async {
        let started = Mutex::new(None);
        block(Duration::from_millis(350), &started);
        weft::yield_now().await;
        block(Duration::from_millis(350), &started);
    });
    task.join();
    let first = reports.recv_timeout(Duration::from_secs(5)).expect("first");
    let second = reports
        .recv_timeout(Duration::from_secs(5))
        .expect("second");
    assert_eq!(first.0.task_id(), second.0.task_id());
    assert!(
        reports.recv_timeout(Duration::from_millis(300)).is_err(),
        "more than one report per stall"
    );
}

#[test]
fn a_task_that_yields_regularly_is_never_reported() {
    let (ex, reports) = watched(1);
    let task = ex.spawn(async {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(600) {
            let slice = Instant::now();
            while slice.elapsed() < Duration::from_millis(2) {
                std::hint::spin_loop();
            }
            weft::yield_now().await;
        }
    });
    task.join();
    assert!(
        reports.recv_timeout(Duration::from_millis(200)).is_err(),
        "a task that yields every 2 ms was reported"
    );
}

#[test]
fn no_watchdog_without_a_threshold() {
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let ex = Executor::builder()
        .workers(1)
        .stall_threshold(None)
        .on_stall(move |_| {
            let _ = tx.lock().unwrap().send(());
        })
        .build()
        .unwrap();
    ex.spawn(async { std::thread::sleep(Duration::from_millis(300)) })
        .join();
    assert!(rx.try_recv().is_err());
}

/// Tasks woken or spawned by a task that then blocks its worker, with the other worker parked:
/// they run while the block lasts (the one in the LIFO slot included).
#[test]
fn tasks_queued_behind_a_stalled_worker_run_while_it_is_stalled() {
    for round in 0..3 {
        let (ex, _reports) = watched(2);
        let (ran_tx, ran_rx) = mpsc::channel::<Instant>();
        let blocker = ex.spawn(async move {
            // The other worker, woken when this task was queued, goes back to sleep.
            std::thread::sleep(Duration::from_millis(150));
            for _ in 0..4 {
                let ran_tx = ran_tx.clone();
                // The last one spawned sits in the LIFO slot, the others in the queue.
                weft::spawn(async move {
                    let _ = ran_tx.send(Instant::now());
                });
            }
            let started = Instant::now();
            std::thread::sleep(Duration::from_millis(1_500));
            started
        });
        let mut ran = Vec::new();
        for _ in 0..4 {
            ran.push(
                ran_rx
                    .recv_timeout(Duration::from_secs(5))
                    .expect("a queued task never ran"),
            );
        }
        let started = blocker.join();
        for at in ran {
            let waited = at.saturating_duration_since(started);
            assert!(
                waited < Duration::from_millis(1_000),
                "round {round}: a task waited {waited:?} behind the stalled worker"
            );
        }
    }
}
