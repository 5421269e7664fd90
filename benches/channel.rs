//! Channel throughput, weft beside tokio's mpsc, flume, kanal and async-channel, in one
//! process, on weft's runtime and on tokio's (2 workers each).
//!
//! Workloads (`MESSAGES` u64 messages per iteration; reported per message by
//! `benches/report_channel.py`):
//! - `spsc`: one producer task, one consumer task.
//! - `mpsc`: 4 producers, 1 consumer.
//! - `mpmc`: 4 producers, 4 consumers.
//! - `select_rx`: 4 producers on 4 channels, one receiver selecting over all four.
//! - `select_both`: 4 tasks each selecting a send over 2 channels, 4 tasks each selecting a
//!   receive over the same 2 channels.
//!
//! `weft-unconstrained` (on weft's runtime only) runs weft's channel with each operation outside
//! the cooperative budget (`weft::task::unconstrained`): weft's futures otherwise make a task
//! yield every 128 operations. flume's, kanal's and async-channel's never do; tokio's mpsc
//! spends tokio's budget, which only tokio's runtime sets. On tokio's runtime weft's budget is
//! not set, so weft's channel never yields there either.
//!
//! Capacities 0 (rendezvous), 1, 1024 and unbounded. A peer is left out where it has no such
//! channel (tokio and async-channel have no capacity 0; tokio's receiver is single-consumer).
//! Not comparable, and flagged in the README: flume's async capacity 0 is not a rendezvous, and
//! kanal's receive futures lose messages when dropped inside a select (`select_*` rows count
//! what arrived and stop at a deadline instead of hanging).

#![allow(missing_docs)]
// criterion_group! generates undocumented items.
// The trait needs `+ Send` on its futures, which `async fn` in traits cannot state.
#![allow(clippy::manual_async_fn)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

const MESSAGES: u64 = 100_000;
const WORKERS: usize = 2;

/// A runtime that can run a batch of tasks to completion.
trait Rt: Sync + 'static {
    const NAME: &'static str;
    fn run(&self, tasks: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>);
}

struct WeftRt(weft::Executor);
struct TokioRt(tokio::runtime::Runtime);

impl Rt for WeftRt {
    const NAME: &'static str = "weft-rt";
    fn run(&self, tasks: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>) {
        let hs: Vec<_> = tasks.into_iter().map(|t| self.0.spawn(t)).collect();
        self.0.block_on(async {
            for h in hs {
                h.await;
            }
        });
    }
}

impl Rt for TokioRt {
    const NAME: &'static str = "tokio-rt";
    fn run(&self, tasks: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>) {
        let hs: Vec<_> = tasks.into_iter().map(|t| self.0.spawn(t)).collect();
        self.0.block_on(async {
            for h in hs {
                h.await.unwrap();
            }
        });
    }
}

type Task = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// One channel implementation: a cloneable handle pair.
trait Chan: 'static {
    const NAME: &'static str;
    type Tx: Clone + Send + Sync + 'static;
    type Rx: Send + Sync + 'static;
    /// `None` if this crate has no channel of that capacity.
    fn new(cap: Option<usize>) -> Option<(Self::Tx, Self::Rx)>;
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_;
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_;
    /// A second receiving handle, if the channel is multi-consumer.
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx>;
}

struct Weft;
impl Chan for Weft {
    const NAME: &'static str = "weft";
    type Tx = weft::channel::Sender<u64>;
    type Rx = weft::channel::Receiver<u64>;
    fn new(cap: Option<usize>) -> Option<(Self::Tx, Self::Rx)> {
        Some(match cap {
            Some(n) => weft::channel::bounded(n),
            None => weft::channel::unbounded(),
        })
    }
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_ {
        async move { tx.send(v).await.unwrap() }
    }
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_ {
        rx.recv()
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
}

/// weft's channel with each operation outside the cooperative budget
/// ([`weft::task::unconstrained`]), as flume's, kanal's and async-channel's futures always are.
struct WeftUnconstrained;
impl Chan for WeftUnconstrained {
    const NAME: &'static str = "weft-unconstrained";
    type Tx = weft::channel::Sender<u64>;
    type Rx = weft::channel::Receiver<u64>;
    fn new(cap: Option<usize>) -> Option<(Self::Tx, Self::Rx)> {
        Weft::new(cap)
    }
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_ {
        async move { weft::task::unconstrained(tx.send(v)).await.unwrap() }
    }
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_ {
        weft::task::unconstrained(rx.recv())
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
}

struct TokioMpsc;
enum TokioTx {
    Bounded(tokio::sync::mpsc::Sender<u64>),
    Unbounded(tokio::sync::mpsc::UnboundedSender<u64>),
}
impl Clone for TokioTx {
    fn clone(&self) -> Self {
        match self {
            TokioTx::Bounded(t) => TokioTx::Bounded(t.clone()),
            TokioTx::Unbounded(t) => TokioTx::Unbounded(t.clone()),
        }
    }
}
enum TokioRx {
    Bounded(tokio::sync::Mutex<tokio::sync::mpsc::Receiver<u64>>),
    Unbounded(tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<u64>>),
}
impl Chan for TokioMpsc {
    const NAME: &'static str = "tokio";
    type Tx = TokioTx;
    type Rx = TokioRx;
    fn new(cap: Option<usize>) -> Option<(Self::Tx, Self::Rx)> {
        match cap {
            Some(0) => None,
            Some(n) => {
                let (t, r) = tokio::sync::mpsc::channel(n);
                Some((
                    TokioTx::Bounded(t),
                    TokioRx::Bounded(tokio::sync::Mutex::new(r)),
                ))
            }
            None => {
                let (t, r) = tokio::sync::mpsc::unbounded_channel();
                Some((
                    TokioTx::Unbounded(t),
                    TokioRx::Unbounded(tokio::sync::Mutex::new(r)),
                ))
            }
        }
    }
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_ {
        async move {
            match tx {
                TokioTx::Bounded(t) => t.send(v).await.unwrap(),
                TokioTx::Unbounded(t) => t.send(v).unwrap(),
            }
        }
    }
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_ {
        // Single consumer only (`clone_rx` is None), so the lock is never contended.
        async move {
            match rx {
                TokioRx::Bounded(r) => r.lock().await.recv().await,
                TokioRx::Unbounded(r) => r.lock().await.recv().await,
            }
        }
    }
    fn clone_rx(_: &Self::Rx) -> Option<Self::Rx> {
        None
    }
}

struct Flume;
impl Chan for Flume {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn new(cap: Option<usize>) -> Option<(Self::Tx, Self::Rx)> {
        Some(match cap {
            Some(n) => flume::bounded(n),
            None => flume::unbounded(),
        })
    }
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_ {
        async move { tx.send_async(v).await.unwrap() }
    }
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_ {
        async move { rx.recv_async().await.ok() }
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
}

struct Kanal;
impl Chan for Kanal {
    const NAME: &'static str = "kanal";
    type Tx = kanal::AsyncSender<u64>;
    type Rx = kanal::AsyncReceiver<u64>;
    fn new(cap: Option<usize>) -> Option<(Self::Tx, Self::Rx)> {
        Some(match cap {
            Some(n) => kanal::bounded_async(n),
            None => kanal::unbounded_async(),
        })
    }
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_ {
        async move { tx.send(v).await.unwrap() }
    }
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_ {
        async move { rx.recv().await.ok() }
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
}

struct AsyncChannel;
impl Chan for AsyncChannel {
    const NAME: &'static str = "async-channel";
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn new(cap: Option<usize>) -> Option<(Self::Tx, Self::Rx)> {
        match cap {
            Some(0) => None,
            Some(n) => Some(async_channel::bounded(n)),
            None => Some(async_channel::unbounded()),
        }
    }
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = ()> + Send + '_ {
        async move { tx.send(v).await.unwrap() }
    }
    fn recv(rx: &Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_ {
        async move { rx.recv().await.ok() }
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
}

/// Builds the tasks of a producers x consumers workload, or `None` if unsupported.
fn pc_tasks<C: Chan>(cap: Option<usize>, producers: u64, consumers: usize) -> Option<Vec<Task>> {
    let (tx, rx) = C::new(cap)?;
    let rx = Arc::new(rx);
    let mut rxs = vec![rx.clone()];
    for _ in 1..consumers {
        rxs.push(Arc::new(C::clone_rx(&rx)?));
    }
    let per = MESSAGES / producers;
    let mut tasks: Vec<Task> = Vec::new();
    for _ in 0..producers {
        let tx = tx.clone();
        tasks.push(Box::pin(async move {
            for i in 0..per {
                C::send(&tx, i).await;
            }
        }));
    }
    drop(tx);
    for rx in rxs {
        tasks.push(Box::pin(
            async move { while C::recv(&rx).await.is_some() {} },
        ));
    }
    Some(tasks)
}

/// select_rx with weft's `select!`.
fn weft_select_rx(cap: Option<usize>) -> Vec<Task> {
    let chans: Vec<_> = (0..4).map(|_| Weft::new(cap).unwrap()).collect();
    let mut tasks: Vec<Task> = Vec::new();
    for (tx, _) in &chans {
        let tx = tx.clone();
        tasks.push(Box::pin(async move {
            for i in 0..MESSAGES / 4 {
                tx.send(i).await.unwrap();
            }
        }));
    }
    let rxs: Vec<_> = chans.into_iter().map(|(_, rx)| rx).collect();
    tasks.push(Box::pin(async move {
        let mut got = 0;
        while got < MESSAGES {
            weft::select! {
                Some(_) = rxs[0].recv() => got += 1,
                Some(_) = rxs[1].recv() => got += 1,
                Some(_) = rxs[2].recv() => got += 1,
                Some(_) = rxs[3].recv() => got += 1,
            }
        }
    }));
    tasks
}

/// select_rx with `tokio::select!` over another crate's receive futures.
macro_rules! tokio_select_rx {
    ($name:ident, $chan:ty) => {
        fn $name(cap: Option<usize>) -> Option<Vec<Task>> {
            let mut chans = Vec::new();
            for _ in 0..4 {
                chans.push(<$chan as Chan>::new(cap)?);
            }
            let mut tasks: Vec<Task> = Vec::new();
            for (tx, _) in &chans {
                let tx = tx.clone();
                tasks.push(Box::pin(async move {
                    for i in 0..MESSAGES / 4 {
                        <$chan as Chan>::send(&tx, i).await;
                    }
                }));
            }
            let rxs: Vec<_> = chans.into_iter().map(|(_, rx)| rx).collect();
            tasks.push(Box::pin(async move {
                let mut got = 0;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                while got < MESSAGES && std::time::Instant::now() < deadline.into_std() {
                    tokio::select! {
                        Some(_) = <$chan as Chan>::recv(&rxs[0]) => got += 1,
                        Some(_) = <$chan as Chan>::recv(&rxs[1]) => got += 1,
                        Some(_) = <$chan as Chan>::recv(&rxs[2]) => got += 1,
                        Some(_) = <$chan as Chan>::recv(&rxs[3]) => got += 1,
                        else => break,
                    }
                }
                static REPORTED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if got < MESSAGES && !REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    eprintln!(
                        "{}: select_rx received {got} of {MESSAGES} (messages lost)",
                        <$chan as Chan>::NAME
                    );
                    // Unblock the producers still waiting on full channels.
                    drop(rxs);
                }
            }));
            Some(tasks)
        }
    };
}

tokio_select_rx!(tokio_select_rx_tokio, TokioMpsc);
tokio_select_rx!(tokio_select_rx_flume, Flume);
tokio_select_rx!(tokio_select_rx_kanal, Kanal);
tokio_select_rx!(tokio_select_rx_async_channel, AsyncChannel);

/// select_both with weft: 4 selecting senders, 4 selecting receivers over 2 channels.
fn weft_select_both(cap: Option<usize>) -> Vec<Task> {
    let a = Arc::new(match cap {
        Some(n) => weft::Channel::<u64>::with_capacity(n),
        None => weft::Channel::unbounded(),
    });
    let b = Arc::new(match cap {
        Some(n) => weft::Channel::<u64>::with_capacity(n),
        None => weft::Channel::unbounded(),
    });
    let mut tasks: Vec<Task> = Vec::new();
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for _ in 0..4 {
        let (a, b) = (a.clone(), b.clone());
        tasks.push(Box::pin(async move {
            for i in 0..MESSAGES / 4 {
                weft::select! {
                    r = a.send(i) => r.unwrap(),
                    r = b.send(i) => r.unwrap(),
                }
            }
        }));
    }
    for _ in 0..4 {
        let (a, b, received) = (a.clone(), b.clone(), received.clone());
        tasks.push(Box::pin(async move {
            loop {
                let v = weft::select! {
                    v = a.recv() => v,
                    v = b.recv() => v,
                };
                match v {
                    Some(_) => {
                        if received.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
                            == MESSAGES
                        {
                            // Everything arrived: closing lets the other receivers finish.
                            a.close();
                            b.close();
                        }
                    }
                    None => break,
                }
            }
        }));
    }
    tasks
}

fn caps() -> [(Option<usize>, &'static str); 4] {
    [
        (Some(0), "cap0"),
        (Some(1), "cap1"),
        (Some(1024), "cap1024"),
        (None, "unbounded"),
    ]
}

fn bench_on<R: Rt>(c: &mut Criterion, rt: &R) {
    for (cap, cap_name) in caps() {
        for (workload, producers, consumers) in
            [("spsc", 1u64, 1usize), ("mpsc", 4, 1), ("mpmc", 4, 4)]
        {
            let mut g =
                c.benchmark_group(format!("{workload}/{cap_name}/{}/msgs={MESSAGES}", R::NAME));
            macro_rules! each {
                ($($c:ty),*) => {$(
                    if pc_tasks::<$c>(cap, producers, consumers).is_some() {
                        g.bench_function(BenchmarkId::from_parameter(<$c as Chan>::NAME), |bch| {
                            bch.iter(|| rt.run(pc_tasks::<$c>(cap, producers, consumers).unwrap()))
                        });
                    }
                )*};
            }
            if R::NAME == WeftRt::NAME {
                each!(WeftUnconstrained);
            }
            each!(Weft, TokioMpsc, Flume, Kanal, AsyncChannel);
            g.finish();
        }
        let mut g = c.benchmark_group(format!("select_rx/{cap_name}/{}/msgs={MESSAGES}", R::NAME));
        g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
            b.iter(|| rt.run(weft_select_rx(cap)))
        });
        macro_rules! sel {
            ($($f:ident => $name:expr),*) => {$(
                if $f(cap).is_some() {
                    g.bench_function(BenchmarkId::from_parameter($name), |b| b.iter(|| rt.run($f(cap).unwrap())));
                }
            )*};
        }
        sel!(tokio_select_rx_tokio => "tokio", tokio_select_rx_flume => "flume",
             tokio_select_rx_kanal => "kanal", tokio_select_rx_async_channel => "async-channel");
        g.finish();
        let mut g = c.benchmark_group(format!(
            "select_both/{cap_name}/{}/msgs={MESSAGES}",
            R::NAME
        ));
        g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
            b.iter(|| rt.run(weft_select_both(cap)))
        });
        g.finish();
    }
}

fn bench(c: &mut Criterion) {
    let weft_rt = WeftRt(weft::Executor::new(WORKERS));
    let tokio_rt = TokioRt(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_time()
            .build()
            .unwrap(),
    );
    bench_on(c, &weft_rt);
    bench_on(c, &tokio_rt);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
