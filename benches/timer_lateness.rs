//! How late sleeps wake up, and how much memory a sleeping task takes: weft, tokio and smol
//! (async-executor with async-io timers) side by side in one process, 2 workers each.
//!
//! For N tasks each sleeping a random 1-50 ms (the same sequence for every runtime), prints the
//! wall time of the whole batch and the lateness of each wake-up (time it resumed minus its
//! deadline): p50, p99 and max. Then the bytes per task of 1,000,000 tasks parked in a one-hour
//! sleep. Run with `cargo bench -p weft-benches --bench timer_lateness`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: weft_benches::Counting = weft_benches::Counting;

const WORKERS: usize = 2;

fn durations(n: usize) -> Vec<Duration> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(1_000 + x % 49_000)
        })
        .collect()
}

/// The three runtimes behind one interface: spawn a batch of futures, wait for their outputs.
trait Runtime {
    const NAME: &'static str;
    fn run_all<F>(&self, futs: Vec<F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

struct Weft(weft::Executor);
struct Tokio(tokio::runtime::Runtime);
struct Smol(&'static async_executor::Executor<'static>);

impl Runtime for Weft {
    const NAME: &'static str = "weft";
    fn run_all<F>(&self, futs: Vec<F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let hs: Vec<_> = futs.into_iter().map(|f| self.0.spawn(f)).collect();
        self.0.block_on(async move {
            let mut out = Vec::with_capacity(hs.len());
            for h in hs {
                out.push(h.await);
            }
            out
        })
    }
}

impl Runtime for Tokio {
    const NAME: &'static str = "tokio";
    fn run_all<F>(&self, futs: Vec<F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let hs: Vec<_> = futs.into_iter().map(|f| self.0.spawn(f)).collect();
        self.0.block_on(async move {
            let mut out = Vec::with_capacity(hs.len());
            for h in hs {
                out.push(h.await.unwrap());
            }
            out
        })
    }
}

impl Runtime for Smol {
    const NAME: &'static str = "smol";
    fn run_all<F>(&self, futs: Vec<F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let hs: Vec<_> = futs.into_iter().map(|f| self.0.spawn(f)).collect();
        futures_lite::future::block_on(async move {
            let mut out = Vec::with_capacity(hs.len());
            for h in hs {
                out.push(h.await);
            }
            out
        })
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn lateness<R: Runtime>(
    rt: &R,
    n: usize,
    sleep: fn(Instant) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) {
    let ds = durations(n);
    let start = Instant::now();
    let futs: Vec<_> = ds
        .into_iter()
        .map(|d| async move {
            let deadline = Instant::now() + d;
            sleep(deadline).await;
            Instant::now().saturating_duration_since(deadline)
        })
        .collect();
    let mut late = rt.run_all(futs);
    let wall = start.elapsed();
    late.sort_unstable();
    println!(
        "  {:>6} {n:>7} sleeps: wall {:>8.1} ms, late p50 {:>7.3} ms, p99 {:>8.3} ms, max {:>8.3} ms",
        R::NAME,
        wall.as_secs_f64() * 1e3,
        percentile(&late, 0.5).as_secs_f64() * 1e3,
        percentile(&late, 0.99).as_secs_f64() * 1e3,
        late.last().unwrap().as_secs_f64() * 1e3,
    );
    let ms = |q: f64| percentile(&late, q).as_secs_f64() * 1e3;
    weft_benches::record(
        "timer_lateness",
        &[
            ("runtime", R::NAME.into()),
            ("sleeps", n.into()),
            ("wall_ms", (wall.as_secs_f64() * 1e3).into()),
            ("p10_ms", ms(0.10).into()),
            ("p25_ms", ms(0.25).into()),
            ("p50_ms", ms(0.50).into()),
            ("p75_ms", ms(0.75).into()),
            ("p90_ms", ms(0.90).into()),
            ("p99_ms", ms(0.99).into()),
            ("p999_ms", ms(0.999).into()),
            ("max_ms", (late.last().unwrap().as_secs_f64() * 1e3).into()),
        ],
    );
}

const SLEEPERS: usize = 1_000_000;

fn wait_registered(polled: &AtomicUsize) {
    let start = Instant::now();
    while polled.load(Relaxed) < SLEEPERS {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "tasks never ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The counter moves just before each task's first poll of its sleep; let those finish.
    std::thread::sleep(Duration::from_millis(200));
}

/// Bytes per task of `SLEEPERS` tasks parked in a one-hour sleep, handles excluded.
fn per_task<H>(before: isize, handles: &Vec<H>) -> f64 {
    let grown = (weft_benches::live_bytes() - before) as f64;
    let handle_bytes = (handles.capacity() * std::mem::size_of::<H>()) as f64;
    (grown - handle_bytes) / SLEEPERS as f64
}

/// Spawns `SLEEPERS` tasks with `spawn` (each gets the counter to bump before its first poll
/// of an hour-long sleep) and returns the bytes per task once all have registered, with the
/// handles, which the caller cancels.
fn measure_sleepers<H>(spawn: impl Fn(Arc<AtomicUsize>) -> H) -> (f64, Vec<H>) {
    let polled = Arc::new(AtomicUsize::new(0));
    let before = weft_benches::live_bytes();
    let hs: Vec<H> = (0..SLEEPERS).map(|_| spawn(polled.clone())).collect();
    wait_registered(&polled);
    (per_task(before, &hs), hs)
}

fn sleeping_task_memory(weft: &Weft, tokio: &Tokio, smol: &Smol) {
    const HOUR: Duration = Duration::from_secs(3600);
    println!("memory per task parked in a one-hour sleep ({SLEEPERS} tasks, handles excluded):");
    let mut rows = Vec::new();
    let (bytes, hs) = measure_sleepers(|polled| {
        weft.0.spawn(async move {
            polled.fetch_add(1, Relaxed);
            weft::sleep(HOUR).await;
        })
    });
    rows.push(("weft", bytes));
    hs.iter().for_each(weft::JoinHandle::abort);
    let (bytes, hs) = measure_sleepers(|polled| {
        tokio.0.spawn(async move {
            polled.fetch_add(1, Relaxed);
            tokio::time::sleep(HOUR).await;
        })
    });
    rows.push(("tokio", bytes));
    hs.iter().for_each(tokio::task::JoinHandle::abort);
    let (bytes, hs) = measure_sleepers(|polled| {
        smol.0.spawn(async move {
            polled.fetch_add(1, Relaxed);
            async_io::Timer::after(HOUR).await;
        })
    });
    rows.push(("smol", bytes));
    drop(hs); // dropping smol's tasks cancels them
    let tokio_bytes = rows[1].1;
    for (name, bytes) in rows {
        println!(
            "  {name:>6}: {bytes:6.1} B/task ({:.2}x tokio)",
            bytes / tokio_bytes
        );
        weft_benches::record(
            "sleep_memory",
            &[("runtime", name.into()), ("bytes_per_task", bytes.into())],
        );
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let weft = Weft(weft::Executor::new(WORKERS));
    let tokio = Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_time()
            .build()
            .unwrap(),
    );
    let smol_ex: &'static async_executor::Executor<'static> =
        Box::leak(Box::new(async_executor::Executor::new()));
    for _ in 0..WORKERS {
        std::thread::spawn(move || {
            futures_lite::future::block_on(smol_ex.run(std::future::pending::<()>()))
        });
    }
    let smol = Smol(smol_ex);

    fn weft_sleep(d: Instant) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(weft::sleep_until(d))
    }
    fn tokio_sleep(d: Instant) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep_until(d.into()))
    }
    fn smol_sleep(d: Instant) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            async_io::Timer::at(d).await;
        })
    }

    println!("sleep lateness, random 1-50 ms, {WORKERS} workers:");
    for n in [1_000, 100_000] {
        for round in 0..2 {
            if round == 1 {
                println!("  (second round)");
            }
            lateness(&weft, n, weft_sleep);
            lateness(&tokio, n, tokio_sleep);
            lateness(&smol, n, smol_sleep);
        }
    }
    sleeping_task_memory(&weft, &tokio, &smol);
}
