//! Probes of the runtime and I/O paths: cancellations submitted from threads that do not own
//! the ring, reads and writes after a short transfer cleared the readiness, `into_std` while
//! receives are in flight, self-woken tasks beside idle workers, and shutdown with spawns
//! racing it. Loopback only; every loop is bounded in count and time. Run once per I/O
//! backend (`WEFT_IO=uring` and `WEFT_IO=epoll`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use weft::io::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};
use weft::Executor;

/// Fails a test that would otherwise hang.
async fn bounded<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    weft::timeout(f, Duration::from_secs(secs))
        .await
        .expect("timed out")
}

struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (a, b) = weft::join!(TcpStream::connect(&addr), listener.accept());
    (a.unwrap(), b.unwrap().0)
}

/// Reads started on workers are cancelled (by timeouts run from plain threads' `block_on`) from
/// many threads at once while the workers are busy or parked; afterwards every stream still
/// reads every byte its peer sends, in order, and nothing hangs.
#[test]
fn reads_cancelled_from_many_threads_lose_nothing() {
    let ex = Arc::new(Executor::new(2));
    let streams: Vec<(Arc<TcpStream>, Arc<TcpStream>)> = ex.block_on(async {
        let mut v = Vec::new();
        for _ in 0..16 {
            let (a, b) = pair().await;
            v.push((Arc::new(a), Arc::new(b)));
        }
        v
    });
    // Keep one worker busy in long polls part of the time.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        ex.spawn(async move {
            for _ in 0..2000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(3));
                weft::yield_now().await;
            }
        })
    };
    let threads: Vec<_> = streams
        .iter()
        .map(|(a, _)| {
            let a = a.clone();
            let ex = ex.clone();
            std::thread::spawn(move || {
                for round in 0..40u32 {
                    // A read on a worker (so its receive is on that worker's ring), dropped from
                    // this thread.
                    let a2 = a.clone();
                    let h = ex.spawn(async move {
                        let mut buf = [0u8; 16];
                        let _ = (&*a2).read(&mut buf).await;
                        panic!("nothing was sent yet");
                    });
                    if round % 2 == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    h.abort();
                    let r = ex.block_on(async { bounded(10, h.catch()).await });
                    assert!(r.unwrap_err().is_cancelled());
                    // And one driven from this thread, cancelled here by its timeout.
                    let a3 = a.clone();
                    ex.block_on(async move {
                        let mut buf = [0u8; 16];
                        let r =
                            weft::timeout((&*a3).read(&mut buf), Duration::from_micros(300)).await;
                        assert!(r.is_err(), "nothing was sent yet");
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    ex.block_on(async { bounded(20, busy).await });
    // Every byte sent now arrives, in order, on each stream (or in a stash the reads return).
    ex.block_on(async {
        bounded(20, async {
            let mut tasks = Vec::new();
            for (i, (a, b)) in streams.iter().enumerate() {
                let (a, b) = (a.clone(), b.clone());
                tasks.push(weft::spawn(async move {
                    let want: Vec<u8> = (0..200u32).map(|x| (x as u8) ^ (i as u8)).collect();
                    (&*b).write_all(&want).await.unwrap();
                    let mut got = vec![0u8; want.len()];
                    (&*a).read_exact(&mut got).await.unwrap();
                    assert_eq!(got, want, "stream {i}");
                }));
            }
            for t in tasks {
                t.await;
            }
        })
        .await
    });
}

/// Two tasks read the same stream through `&TcpStream` while a third writes many small
/// messages: a short read by one clears the readiness the other may be waiting on; every byte
/// must still be read by one of them.
#[weft::test(workers = 3)]
async fn two_readers_of_one_stream_get_every_byte() {
    for _ in 0..20 {
        let (a, b) = pair().await;
        let a = Arc::new(a);
        const N: usize = 4000;
        let got = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let a = a.clone();
                let got = got.clone();
                weft::spawn(async move {
                    let mut buf = [0u8; 7];
                    loop {
                        if got.load(Ordering::SeqCst) >= N {
                            return;
                        }
                        match weft::timeout((&*a).read(&mut buf), Duration::from_millis(200)).await
                        {
                            Ok(Ok(0)) => return,
                            Ok(Ok(n)) => {
                                got.fetch_add(n, Ordering::SeqCst);
                            }
                            Ok(Err(e)) => panic!("{e}"),
                            // The other reader may have the rest; look again.
                            Err(_) => {}
                        }
                    }
                })
            })
            .collect();
        let writer = weft::spawn(async move {
            let mut b = b;
            for i in 0..N / 5 {
                b.write_all(&[i as u8; 5]).await.unwrap();
                if i % 64 == 0 {
                    weft::yield_now().await;
                }
            }
            b
        });
        let b = bounded(20, writer).await;
        bounded(20, async {
            while got.load(Ordering::SeqCst) < N {
                weft::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        drop(b);
        for r in readers {
            bounded(20, r).await;
        }
        assert_eq!(got.load(Ordering::SeqCst), N);
    }
}

/// Split halves echo many small messages in both directions at once (a read and a write on the
/// same socket concurrently, each clearing its own readiness on short transfers), then a
/// half-close: every byte arrives and both ends see the end of stream.
#[weft::test(workers = 2)]
async fn split_halves_full_duplex_small_messages_then_half_close() {
    const N: usize = 3000;
    let (a, b) = pair().await;
    let (ar, aw) = a.into_split();
    let (br, bw) = b.into_split();
    let send = |mut w: weft::net::OwnedWriteHalf, tag: u8| {
        weft::spawn(async move {
            for i in 0..N {
                w.write_all(&[tag, i as u8, (i >> 8) as u8]).await.unwrap();
            }
            w.close().await.unwrap();
        })
    };
    let recv = |mut r: weft::net::OwnedReadHalf, tag: u8| {
        weft::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 11];
            loop {
                let n = r.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let want: Vec<u8> = (0..N)
                .flat_map(|i| [tag, i as u8, (i >> 8) as u8])
                .collect();
            assert_eq!(got, want);
        })
    };
    let t1 = send(aw, 1);
    let t2 = send(bw, 2);
    let t3 = recv(br, 1);
    let t4 = recv(ar, 2);
    bounded(30, async {
        t1.await;
        t2.await;
        t3.await;
        t4.await;
    })
    .await;
}

/// `into_std` on a worker for a stream whose dropped owned read sits on another worker's ring,
/// while that worker is stuck in a long poll: it must not wait for the busy worker, and no byte
/// may be lost.
#[test]
fn into_std_while_the_rings_worker_is_busy() {
    use std::io::{Read, Write};
    let ex = Executor::new(2);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    let (tx, rx) = mpsc::channel();
    // Start an owned read on some worker, leave it pending, then block that worker.
    let _busy = ex.spawn(async move {
        let conn = TcpStream::from_std(server).unwrap();
        let mut read = Box::pin(conn.read_owned(Vec::with_capacity(64)));
        assert!(futures_lite::future::poll_once(&mut read).await.is_none());
        drop(read);
        tx.send(conn).unwrap();
        std::thread::sleep(Duration::from_secs(3));
    });
    let conn = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    client.write_all(b"abcdef").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    let h = ex.spawn(async move {
        match conn.into_std() {
            Ok(s) => (s, Vec::new()),
            Err(e) => e.into_parts(),
        }
    });
    let (mut std_stream, mut got) = h.join();
    let took = start.elapsed();
    client.write_all(b"ghi").unwrap();
    drop(client);
    std_stream.set_nonblocking(false).unwrap();
    std_stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std_stream.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"abcdefghi");
    assert!(
        took < Duration::from_millis(2000),
        "into_std waited for the busy worker ({took:?})"
    );
}

/// A task yields in a loop until another task runs; that other task sits in the queue of a
/// worker stuck in a 3 s poll. Some worker must run it long before the stuck poll ends.
fn yield_loop_beside_a_stuck_worker(workers: usize) {
    yield_loop_beside_a_stuck_worker_on(Executor::builder().workers(workers).build().unwrap());
}

fn yield_loop_beside_a_stuck_worker_on(ex: Executor) {
    for round in 0..5 {
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let f2 = flag.clone();
        let spinner = ex.spawn(async move {
            let start = Instant::now();
            for _ in 0..10_000_000u64 {
                if f2.load(Ordering::SeqCst) || start.elapsed() > Duration::from_secs(10) {
                    break;
                }
                weft::yield_now().await;
            }
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        let f3 = flag.clone();
        let stuck = ex.spawn(async move {
            // Spawned here, so it is queued on this worker, which then blocks.
            let setter = weft::spawn(async move { f3.store(true, Ordering::SeqCst) });
            if round % 2 == 1 {
                // Behind the LIFO slot: in the local queue.
                let _filler = weft::spawn(async {});
            }
            tx.send(Instant::now()).unwrap();
            std::thread::sleep(Duration::from_secs(3));
            drop(setter);
        });
        let spawned_at = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let waited = spinner.join();
        let after_spawn = spawned_at.elapsed();
        stuck.join();
        assert!(
            flag.load(Ordering::SeqCst),
            "round {round}: the setter never ran"
        );
        let _ = waited;
        eprintln!("round {round}: {after_spawn:?} after the spawn the spinner saw the flag");
        assert!(
            after_spawn < Duration::from_millis(1500),
            "round {round}: the setter waited for the stuck poll ({after_spawn:?})"
        );
    }
}

/// A task yields in a loop until another task runs; that other task sits in the queue of a
/// worker stuck in a 3 s poll while a third worker is idle. The idle worker must take it long
/// before the stuck poll ends.
#[test]
fn a_yield_loop_does_not_wait_for_a_stuck_worker() {
    yield_loop_beside_a_stuck_worker(3);
}

/// As above with two workers: none is idle, the yielding one has to take the task itself (at
/// its maintenance point, every 61 ticks, it sees that the other worker's poll count has not
/// moved while tasks wait in its LIFO slot or queue).
#[test]
fn a_yield_loop_on_the_only_free_worker_does_not_wait_for_a_stuck_worker() {
    yield_loop_beside_a_stuck_worker(2);
}

/// As above on two workers with the executor's clock paused: the workers time a stuck poll by
/// the real clock, so a paused test clock does not leave the task stranded.
#[test]
fn a_stuck_worker_is_noticed_with_the_clock_paused() {
    yield_loop_beside_a_stuck_worker_on(
        Executor::builder()
            .workers(2)
            .start_paused(true)
            .build()
            .unwrap(),
    );
}

/// A task that yielded waits, out of the other workers' reach, for its worker to finish its
/// queue; should that worker get stuck in one poll instead, another worker takes it.
#[test]
fn a_task_that_yielded_does_not_wait_for_its_stuck_worker() {
    let ex = Executor::builder().workers(2).build().unwrap();
    for round in 0..3 {
        let resumed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let r2 = resumed.clone();
        let stuck = ex.spawn(async move {
            // Runs next on this worker (its LIFO slot), yields once and is deferred.
            let yielder = weft::spawn(async move {
                weft::yield_now().await;
                r2.store(true, Ordering::SeqCst);
            });
            // Let the yielder run and yield; then this task is polled again after it.
            weft::yield_now().await;
            tx.send(Instant::now()).unwrap();
            std::thread::sleep(Duration::from_secs(3));
            drop(yielder);
        });
        let stuck_at = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let deadline = stuck_at + Duration::from_millis(1500);
        while !resumed.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let waited = stuck_at.elapsed();
        assert!(
            resumed.load(Ordering::SeqCst),
            "round {round}: the yielded task waited for the stuck poll ({waited:?})"
        );
        stuck.join();
    }
}

/// Spawns from worker tasks, blocking-pool threads and destructors race the shutdown: every
/// future that was handed to a spawn is dropped by the time shutdown has returned and the
/// spawning threads are done (a spawn after shutdown drops its future, or panics, which drops
/// it too).
#[test]
fn shutdown_drops_every_future_spawned_around_it() {
    fn spawn_pending(spawned: &Arc<AtomicUsize>, dropped: &Arc<AtomicUsize>, nested: bool) {
        spawned.fetch_add(1, Ordering::SeqCst);
        let d = DropCount(dropped.clone());
        let (s2, d2) = (spawned.clone(), dropped.clone());
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            drop(weft::spawn(async move {
                let _g = OnDrop(Some(Box::new(move || {
                    if nested {
                        spawn_pending(&s2, &d2, false);
                    }
                })));
                let _d = d;
                std::future::pending::<()>().await
            }))
        }));
    }
    struct OnDrop(Option<Box<dyn FnOnce() + Send>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    for round in 0..10 {
        let ex = Executor::new(2);
        let spawned = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<()>();
        for t in 0..4 {
            let (s, d) = (spawned.clone(), dropped.clone());
            drop(ex.spawn(async move {
                for i in 0..100_000u32 {
                    spawn_pending(&s, &d, (t + i) % 2 == 0);
                    if i % 8 == 0 {
                        weft::yield_now().await;
                    }
                }
            }));
            let (s, d) = (spawned.clone(), dropped.clone());
            let tx = tx.clone();
            drop(ex.spawn_blocking(move || {
                let start = Instant::now();
                for i in 0..100_000u32 {
                    if start.elapsed() > Duration::from_millis(200) {
                        break;
                    }
                    spawn_pending(&s, &d, i % 2 == 0);
                }
                drop(tx);
            }));
        }
        drop(tx);
        std::thread::sleep(Duration::from_millis(2 + round));
        assert!(
            ex.shutdown_timeout(Duration::from_secs(20)),
            "shutdown hung"
        );
        // The blocking jobs end within their 200 ms.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(20)),
            Err(mpsc::RecvTimeoutError::Disconnected),
            "the blocking jobs did not end"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while dropped.load(Ordering::SeqCst) != spawned.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            spawned.load(Ordering::SeqCst),
            "round {round}: futures left alive after shutdown"
        );
    }
}

/// Aborting many tasks spawned from several threads (so in every shard) cancels exactly those,
/// whatever slot reuse happened meanwhile.
#[test]
fn abort_finds_the_right_task() {
    let ex = Arc::new(Executor::new(2));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ex = ex.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let hs: Vec<_> = (0..40u32)
                        .map(|i| {
                            ex.spawn(async move {
                                if i % 2 == 0 {
                                    std::future::pending::<()>().await;
                                }
                                weft::sleep(Duration::from_millis(1)).await;
                                i
                            })
                        })
                        .collect();
                    for (i, h) in hs.iter().enumerate() {
                        if i % 2 == 0 {
                            h.abort();
                        }
                    }
                    for (i, h) in hs.into_iter().enumerate() {
                        let r = ex.block_on(async { bounded(10, h.catch()).await });
                        if i % 2 == 0 {
                            assert!(r.unwrap_err().is_cancelled(), "task {i}");
                        } else {
                            assert_eq!(r.unwrap(), i as u32);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// One task writes large buffers through `&TcpStream` (short writes fill the send buffer and
/// clear the writable readiness) while another task reads through another `&TcpStream` to the
/// same socket; the peer echoes in small pieces. Every byte comes back, nothing hangs.
#[weft::test(workers = 2)]
async fn shared_stream_large_writes_and_reads_at_once() {
    const TOTAL: usize = 4 << 20;
    let (a, b) = pair().await;
    let a = Arc::new(a);
    let echo = weft::spawn(async move {
        let (mut r, mut w) = b.into_split();
        let mut buf = [0u8; 1500];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).await.unwrap();
        }
        w.close().await.unwrap();
    });
    let writer = {
        let a = a.clone();
        weft::spawn(async move {
            let chunk: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
            let mut sent = 0;
            while sent < TOTAL {
                let off = sent % chunk.len();
                let end = chunk.len().min(off + TOTAL - sent);
                let n = (&*a).write(&chunk[off..end]).await.unwrap();
                assert!(n > 0);
                sent += n;
            }
            a.shutdown(weft::net::Shutdown::Write).unwrap();
        })
    };
    let reader = {
        let a = a.clone();
        weft::spawn(async move {
            let mut got = 0usize;
            let mut buf = vec![0u8; 3000];
            loop {
                let n = (&*a).read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                for (k, byte) in buf[..n].iter().enumerate() {
                    assert_eq!(
                        *byte,
                        ((got + k) % (256 * 1024) % 251) as u8,
                        "at {}",
                        got + k
                    );
                }
                got += n;
            }
            got
        })
    };
    bounded(60, async {
        writer.await;
        assert_eq!(reader.await, TOTAL);
        echo.await;
    })
    .await;
}

/// Many connections, each with many tiny writes from a plain thread and a reader with a buffer
/// a little larger than each write (so nearly every read is short): every byte arrives and the
/// end of stream is seen, within a generous deadline.
#[weft::test(workers = 2)]
async fn many_tiny_writes_on_many_connections_all_arrive() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writers = std::thread::spawn(move || {
        use std::io::Write;
        let conns: Vec<_> = (0..8)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        for _round in 0..500u32 {
            for (i, mut c) in conns.iter().enumerate() {
                c.write_all(&[i as u8; 3]).unwrap();
            }
        }
    });
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (mut conn, _) = bounded(10, listener.accept()).await.unwrap();
        readers.push(weft::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 4];
            loop {
                let n = bounded(20, conn.read(&mut buf)).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            got
        }));
    }
    let mut lens = Vec::new();
    for r in readers {
        let got = bounded(30, r).await;
        assert!(
            got.windows(2).all(|w| w[0] == w[1]),
            "one value per connection"
        );
        lens.push(got.len());
    }
    writers.join().unwrap();
    assert!(lens.iter().all(|&l| l == 1500), "{lens:?}");
}

/// Shutdown cancels tasks by waking them, and a woken task of a shut-down executor is dropped.
/// Dropping one here wakes another from inside a notification (a `WaitGroup` count guard ends
/// and `done` notifies the waiting task while the notifier holds its lock); if that second task
/// were dropped right inside the wake-up, its own waiter would take the same lock on the same
/// thread and shutdown would never return. Both orders are tried (the registry's order decides
/// which task is woken first).
#[test]
fn shutdown_does_not_drop_a_task_inside_the_wake_up_of_another() {
    struct Done(Arc<weft::sync::WaitGroup>);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.done();
        }
    }
    for round in 0..20 {
        let ex = Executor::new(2);
        for i in 0..8 {
            let wg = Arc::new(weft::sync::WaitGroup::new());
            wg.add(1);
            let guard = Done(wg.clone());
            let waiter = async move { wg.wait().await };
            let holder = async move {
                let _guard = guard;
                std::future::pending::<()>().await
            };
            if (round + i) % 2 == 0 {
                drop(ex.spawn(waiter));
                drop(ex.spawn(holder));
            } else {
                drop(ex.spawn(holder));
                drop(ex.spawn(waiter));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            ex.shutdown();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("round {round}: shutdown hung"));
    }
}
