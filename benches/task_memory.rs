//! Bytes of memory per pending task: 1,000,000 tasks parked on a future that is never ready,
//! on weft and on tokio's multi-thread runtime (and smol's async-executor), measured with a
//! counting allocator as the growth of live heap bytes. Run with
//! `cargo bench -p weft-benches --bench task_memory`.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: weft_benches::Counting = weft_benches::Counting;

const TASKS: usize = 1_000_000;

/// A future that counts its first poll and then never completes.
async fn parked(polled: Arc<AtomicUsize>) {
    polled.fetch_add(1, Relaxed);
    std::future::pending::<()>().await;
}

fn wait_polled(polled: &AtomicUsize) {
    let start = Instant::now();
    while polled.load(Relaxed) < TASKS {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "tasks never ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let the workers finish any bookkeeping after the last poll.
    std::thread::sleep(Duration::from_millis(100));
}

/// One runtime's figures: bytes per task without and with the `JoinHandle`s kept alive.
struct Row {
    name: &'static str,
    task: f64,
    with_handle: f64,
}

fn row<H>(name: &'static str, before: isize, handles: &[H], handles_cap: usize) -> Row {
    let grown = (weft_benches::live_bytes() - before) as f64;
    let handle_bytes = (handles_cap * std::mem::size_of::<H>()) as f64;
    let _ = handles;
    Row {
        name,
        task: (grown - handle_bytes) / TASKS as f64,
        with_handle: (grown - handle_bytes) / TASKS as f64 + std::mem::size_of::<H>() as f64,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (such as `cargo test --benches`) skips.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let workers = 2;
    let mut rows: Vec<Row> = Vec::new();

    {
        let ex = weft::Executor::new(workers);
        let polled = Arc::new(AtomicUsize::new(0));
        let before = weft_benches::live_bytes();
        let handles: Vec<_> = (0..TASKS)
            .map(|_| ex.spawn(parked(polled.clone())))
            .collect();
        wait_polled(&polled);
        rows.push(row("weft", before, &handles, handles.capacity()));
        drop(handles);
        ex.shutdown();
    }

    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .unwrap();
        let polled = Arc::new(AtomicUsize::new(0));
        let before = weft_benches::live_bytes();
        let handles: Vec<_> = (0..TASKS)
            .map(|_| rt.spawn(parked(polled.clone())))
            .collect();
        wait_polled(&polled);
        rows.push(row("tokio", before, &handles, handles.capacity()));
        drop(handles);
        drop(rt);
    }

    {
        let ex: &'static async_executor::Executor<'static> =
            Box::leak(Box::new(async_executor::Executor::new()));
        let stop = Arc::new(event_stop::Stop::default());
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || futures_lite::future::block_on(ex.run(stop.wait())))
            })
            .collect();
        let polled = Arc::new(AtomicUsize::new(0));
        let before = weft_benches::live_bytes();
        let handles: Vec<_> = (0..TASKS)
            .map(|_| ex.spawn(parked(polled.clone())))
            .collect();
        wait_polled(&polled);
        rows.push(row("smol", before, &handles, handles.capacity()));
        drop(handles);
        stop.set();
        for t in threads {
            t.join().unwrap();
        }
    }

    println!("memory per pending task ({TASKS} tasks parked on a never-ready future, {workers} workers):");
    let tokio = rows.iter().find(|r| r.name == "tokio").expect("tokio row");
    let (t_task, t_handle) = (tokio.task, tokio.with_handle);
    for r in &rows {
        println!(
            "  {:>6}: {:6.1} B/task ({:.2}x tokio); {:6.1} B with its JoinHandle ({:.2}x tokio)",
            r.name,
            r.task,
            r.task / t_task,
            r.with_handle,
            r.with_handle / t_handle
        );
        weft_benches::record(
            "task_memory",
            &[
                ("runtime", r.name.into()),
                ("task", r.task.into()),
                ("with_handle", r.with_handle.into()),
            ],
        );
    }
}

mod event_stop {
    //! A tiny stop signal for the smol runner threads.
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::task::Waker;

    #[derive(Default)]
    pub struct Stop {
        set: AtomicBool,
        wakers: Mutex<Vec<Waker>>,
    }

    impl Stop {
        pub fn set(&self) {
            self.set.store(true, Ordering::SeqCst);
            for w in self.wakers.lock().unwrap().drain(..) {
                w.wake();
            }
        }

        pub async fn wait(&self) {
            std::future::poll_fn(|cx| {
                if self.set.load(Ordering::SeqCst) {
                    return std::task::Poll::Ready(());
                }
                self.wakers.lock().unwrap().push(cx.waker().clone());
                if self.set.load(Ordering::SeqCst) {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await
        }
    }
}
