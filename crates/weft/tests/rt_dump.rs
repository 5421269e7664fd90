//! `Executor::dump`: every alive task, with its name, spawn site, state and polls; tasks that
//! finished are gone from it. Run once per I/O backend; every wait is bounded.

use std::sync::mpsc;
use std::time::{Duration, Instant};
use weft::runtime::TaskState;
use weft::Executor;

#[test]
fn a_dump_names_every_alive_task() {
    let ex = Executor::builder()
        .workers(2)
        .stall_threshold(None)
        .build()
        .unwrap();
    let names = ["alpha", "beta", "gamma", "delta"];
    let waiting: Vec<_> = names
        .iter()
        .map(|n| {
            weft::task::Builder::new()
                .name(*n)
                .spawn_on(std::future::pending::<()>(), &ex)
        })
        .collect();
    let line = line!() + 1;
    let unnamed = ex.spawn(std::future::pending::<()>());
    // One more, busy in its poll while the dump is taken.
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let busy = weft::task::Builder::new().name("busy").spawn_on(
        async move {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(10));
        },
        &ex,
    );
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // The pending tasks have been polled once each (they were spawned before the busy one).
    let start = Instant::now();
    let dump = loop {
        let dump = ex.dump();
        if dump.tasks().iter().all(|t| t.polls() >= 1) || !cfg!(feature = "metrics") {
            break dump;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{dump}");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(dump.len(), 6, "{dump}");
    for name in names {
        let t = dump
            .tasks()
            .iter()
            .find(|t| t.name() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from\n{dump}"));
        assert_eq!(t.state(), TaskState::Idle, "{dump}");
        assert!(t.location().file().ends_with("rt_dump.rs"));
    }
    let busy_line = dump
        .tasks()
        .iter()
        .find(|t| t.name() == Some("busy"))
        .unwrap();
    assert_eq!(busy_line.state(), TaskState::Running, "{dump}");
    let anonymous = dump.tasks().iter().find(|t| t.name().is_none()).unwrap();
    assert_eq!(anonymous.location().line(), line);
    if cfg!(feature = "metrics") {
        assert!(dump.tasks().iter().all(|t| t.since_last_poll().is_some()));
    }
    // One line per task, each naming its spawn site.
    let text = dump.to_string();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(text.lines().all(|l| l.contains("rt_dump.rs:")), "{text}");
    assert!(text.contains("\"gamma\""), "{text}");

    release_tx.send(()).unwrap();
    busy.join();
    for h in waiting {
        h.abort();
    }
    unnamed.abort();
    let start = Instant::now();
    while !ex.dump().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", ex.dump());
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn spawn_sites_follow_the_callers_of_every_spawn_path() {
    let ex = Executor::builder()
        .workers(1)
        .stall_threshold(None)
        .build()
        .unwrap();
    let lines = ex.block_on(async {
        let mut lines = Vec::new();
        let mut set = weft::task::TaskSet::new();
        lines.push(line!() + 1);
        set.spawn(std::future::pending::<()>());
        lines.push(line!() + 1);
        let h = weft::spawn(std::future::pending::<()>());
        lines.push(line!() + 1);
        let b = weft::task::Builder::new().spawn(std::future::pending::<()>());
        (lines, set, h, b)
    });
    let dump = ex.dump();
    let mut seen: Vec<u32> = dump.tasks().iter().map(|t| t.location().line()).collect();
    seen.sort_unstable();
    assert_eq!(seen, lines.0, "{dump}");
    assert!(dump
        .tasks()
        .iter()
        .all(|t| t.location().file().ends_with("rt_dump.rs")));
}
