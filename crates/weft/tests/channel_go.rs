//! Go's channel and select tests, ported to weft: `runtime/chan_test.go` and `test/chan/*.go`.
//!
//! Goroutines become tasks on a 2-worker executor. Every loop is bounded and every wait that
//! could block is under `weft::timeout`, so a bug fails the test instead of hanging it.
//!
//! Translations used throughout:
//! - Go's nil channel in a select is an arm disabled with `, if false`.
//! - Go's zero value (`v, ok == 0, false`) from a closed, drained channel is weft's `None`.
//! - Go's panic on a send to a closed channel is weft's `Err(SendError(v))`.
//! - `runtime.Gosched()` is `weft::yield_now()`; `time.Sleep` is `weft::sleep`.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use weft::channel::{SendError, TryRecvError, TrySendError};
use weft::{Channel, Executor};

/// The longest any single wait in these tests may take before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(5);
/// The longest a whole test may take.
const TEST_LIMIT: Duration = Duration::from_secs(30);

/// Awaits `f`, failing the test if it takes longer than [`LIMIT`].
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match weft::timeout(f, LIMIT).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

/// Runs a test body on a fresh 2-worker executor (Go's goroutines become its tasks).
fn run<F: Future>(f: F) -> F::Output {
    let ex = Executor::new(2);
    ex.block_on(async {
        match weft::timeout(f, TEST_LIMIT).await {
            Ok(v) => v,
            Err(_) => panic!("the whole test timed out after {TEST_LIMIT:?}"),
        }
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Go's `sleep()` between non-blocking retries: give the peer a chance to run.
async fn pause() {
    weft::yield_now().await;
    weft::sleep(Duration::from_micros(200)).await;
}

// ---------------------------------------------------------------------------------------------
// runtime/chan_test.go
// ---------------------------------------------------------------------------------------------

// Go: runtime/chan_test.go TestChan
#[test]
fn test_chan() {
    const N: usize = 20; // Go's -short number of capacities
    run(async {
        for cap in 0..N {
            {
                // Ensure that receive from empty chan blocks.
                let c = Channel::<i32>::with_capacity(cap);
                let recv1 = Arc::new(AtomicBool::new(false));
                let recv2 = Arc::new(AtomicBool::new(false));
                let receiver = |flag: &Arc<AtomicBool>| {
                    let (c, flag) = (c.clone(), flag.clone());
                    weft::spawn(async move {
                        let v = c.recv().await;
                        flag.store(true, SeqCst);
                        v
                    })
                };
                let h1 = receiver(&recv1);
                let h2 = receiver(&recv2);
                weft::sleep(ms(1)).await;
                assert!(
                    !recv1.load(SeqCst) && !recv2.load(SeqCst),
                    "chan[{cap}]: receive from empty chan"
                );
                // Ensure that non-blocking receive does not block.
                let got = weft::select! {
                    v = c.recv() => Some(v),
                    default => None,
                };
                assert_eq!(got, None, "chan[{cap}]: receive from empty chan");
                assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
                within("sends that unblock the receivers", async {
                    c.send(0).await.unwrap();
                    c.send(0).await.unwrap();
                })
                .await;
                assert_eq!(within("receiver 1", h1).await, Some(0));
                assert_eq!(within("receiver 2", h2).await, Some(0));
            }
            {
                // Ensure that send to full chan blocks.
                let c = Channel::<i32>::with_capacity(cap);
                for i in 0..cap as i32 {
                    c.send(i).await.unwrap();
                }
                let sent = Arc::new(AtomicBool::new(false));
                let h = {
                    let (c, sent) = (c.clone(), sent.clone());
                    weft::spawn(async move {
                        c.send(0).await.unwrap();
                        sent.store(true, SeqCst);
                    })
                };
                weft::sleep(ms(1)).await;
                assert!(!sent.load(SeqCst), "chan[{cap}]: send to full chan");
                // Ensure that non-blocking send does not block.
                let r = weft::select! {
                    r = c.send(0) => Some(r),
                    default => None,
                };
                assert!(r.is_none(), "chan[{cap}]: send to full chan");
                assert_eq!(c.try_send(0), Err(TrySendError::Full(0)));
                assert_eq!(c.len(), cap);
                within("receive from full chan", c.recv()).await.unwrap();
                within("blocked sender", h).await;
                assert!(sent.load(SeqCst));
            }
            {
                // Ensure that we receive 0 (weft: buffered values, then None) from closed chan.
                let c = Channel::<i32>::with_capacity(cap);
                for i in 0..cap as i32 {
                    c.send(i).await.unwrap();
                }
                assert!(c.close());
                for i in 0..cap as i32 {
                    assert_eq!(c.recv().await, Some(i), "chan[{cap}]");
                }
                assert_eq!(c.recv().await, None, "chan[{cap}]");
                assert_eq!(c.recv().await, None, "chan[{cap}]");
                assert_eq!(c.try_recv(), Err(TryRecvError::Closed));
            }
            {
                // Ensure that close unblocks receive.
                let c = Channel::<i32>::with_capacity(cap);
                let done = Channel::<bool>::new();
                let h = {
                    let (c, done) = (c.clone(), done.clone());
                    weft::spawn(async move {
                        let v = c.recv().await;
                        done.send(v.is_none()).await.unwrap();
                    })
                };
                weft::sleep(ms(1)).await;
                c.close();
                assert_eq!(
                    within("close unblocks receive", done.recv()).await,
                    Some(true),
                    "chan[{cap}]: received a value from a closed chan"
                );
                within("receiver", h).await;
            }
            {
                // Send 100 integers, ensure that we receive them non-corrupted in FIFO order.
                let c = Channel::<i32>::with_capacity(cap);
                let sender = || {
                    let c = c.clone();
                    weft::spawn(async move {
                        for i in 0..100 {
                            c.send(i).await.unwrap();
                        }
                    })
                };
                let h = sender();
                for i in 0..100 {
                    let v = within("fifo receive", c.recv()).await;
                    assert_eq!(v, Some(i), "chan[{cap}]");
                }
                within("fifo sender", h).await;
                // Same, but using recv2 (weft: receiving through a one-arm select).
                let h = sender();
                for i in 0..100 {
                    let v = within("fifo select receive", async {
                        weft::select! { v = c.recv() => v }
                    })
                    .await;
                    assert_eq!(v, Some(i), "chan[{cap}]: receive failed");
                }
                within("fifo sender", h).await;

                // Send 1000 integers in 4 tasks, ensure that we receive what we send.
                const P: usize = 4;
                const L: i32 = 1000;
                let senders: Vec<_> = (0..P)
                    .map(|_| {
                        let c = c.clone();
                        weft::spawn(async move {
                            for i in 0..L {
                                c.send(i).await.unwrap();
                            }
                        })
                    })
                    .collect();
                let receivers: Vec<_> = (0..P)
                    .map(|_| {
                        let c = c.clone();
                        weft::spawn(async move {
                            let mut recv = HashMap::<i32, usize>::new();
                            for _ in 0..L {
                                let v = c.recv().await.expect("channel is open");
                                *recv.entry(v).or_default() += 1;
                            }
                            recv
                        })
                    })
                    .collect();
                let mut recv = HashMap::<i32, usize>::new();
                for h in receivers {
                    for (k, v) in within("receiver", h).await {
                        *recv.entry(k).or_default() += v;
                    }
                }
                for h in senders {
                    within("sender", h).await;
                }
                assert_eq!(recv.len(), L as usize, "chan[{cap}]: distinct values");
                for (k, v) in &recv {
                    assert_eq!(*v, P, "chan[{cap}]: value {k} received {v} times");
                }
            }
            {
                // Test len/cap.
                let c = Channel::<i32>::with_capacity(cap);
                assert_eq!((c.len(), c.capacity()), (0, Some(cap)), "chan[{cap}]");
                for i in 0..cap as i32 {
                    c.send(i).await.unwrap();
                }
                assert_eq!((c.len(), c.capacity()), (cap, Some(cap)), "chan[{cap}]");
            }
        }
    });
}

// Go: runtime/chan_test.go TestNonblockRecvRace
#[test]
fn nonblock_recv_race() {
    const N: usize = 2_000; // Go: 10000, or 100 with -short
    run(async {
        for i in 0..N {
            let c = Channel::<i32>::with_capacity(1);
            c.try_send(1).unwrap();
            let h = {
                let c = c.clone();
                weft::spawn(async move {
                    weft::select! {
                        v = c.recv() => Some(v),
                        default => None,
                    }
                })
            };
            c.close();
            let mine = within("receive", c.recv()).await;
            let theirs = within("racing select", h).await;
            let theirs = theirs.unwrap_or_else(|| panic!("iteration {i}: chan is not ready"));
            // Exactly one of the two got the value; the other saw the channel closed.
            let mut got = [mine, theirs];
            got.sort();
            assert_eq!(got, [None, Some(1)], "iteration {i}");
        }
    });
}

/// Go's TestNonblockSelectRace (`close_c2`: false) and TestNonblockSelectRace2 (true).
///
/// From the time the racing task exists, at least one of c1 and c2 is always ready for
/// receiving, so its non-blocking select must receive from one or the other, never take
/// `default`: select acts on the channels' state at one moment, not over a smeared window.
fn nonblock_select_race(close_c2: bool) {
    // Go: 100000, or 1000 with -short. Before selects with `default` checked for a consistent
    // snapshot, this failed in about 1 of 20 runs at this count.
    const N: usize = 20_000;
    run(async {
        let done = Channel::<bool>::with_capacity(1);
        for i in 0..N {
            let c1 = Channel::<i32>::with_capacity(1);
            let c2 = Channel::<i32>::with_capacity(1);
            c1.try_send(1).unwrap();
            let h = {
                let (c1, c2, done) = (c1.clone(), c2.clone(), done.clone());
                weft::spawn(async move {
                    let ready = weft::select! {
                        _ = c1.recv() => true,
                        _ = c2.recv() => true,
                        default => false,
                    };
                    done.send(ready).await.unwrap();
                })
            };
            if close_c2 {
                c2.close();
            } else {
                c2.try_send(1).unwrap();
            }
            weft::select! {
                _ = c1.recv() => {},
                default => {},
            }
            let ready = within("done", done.recv()).await;
            assert_eq!(ready, Some(true), "iteration {i}: no chan is ready");
            within("racing select", h).await;
        }
    });
}

// Go: runtime/chan_test.go TestNonblockSelectRace
#[test]
fn nonblock_select_race_send() {
    nonblock_select_race(false);
}

// Go: runtime/chan_test.go TestNonblockSelectRace2
#[test]
fn nonblock_select_race_close() {
    nonblock_select_race(true);
}

// Go: runtime/chan_test.go TestSelfSelect
#[test]
fn self_select() {
    // Ensure that send/recv on the same chan in select does not crash nor deadlock, and (on
    // an unbuffered channel) never matches a select's send with its own receive.
    const ITERS: usize = 1000;
    run(async {
        for cap in [0usize, 10] {
            let c = Channel::<usize>::with_capacity(cap);
            let tasks: Vec<_> = (0..2usize)
                .map(|p| {
                    let c = c.clone();
                    weft::spawn(async move {
                        let (mut sent, mut received) = (0usize, 0usize);
                        for i in 0..ITERS {
                            let got = if p == 0 || i % 2 == 0 {
                                weft::select! {
                                    r = c.send(p) => { r.unwrap(); None }
                                    v = c.recv() => Some(v.expect("open")),
                                }
                            } else {
                                weft::select! {
                                    v = c.recv() => Some(v.expect("open")),
                                    r = c.send(p) => { r.unwrap(); None }
                                }
                            };
                            match got {
                                None => sent += 1,
                                Some(v) => {
                                    if cap == 0 {
                                        assert_ne!(v, p, "self receive");
                                    }
                                    received += 1;
                                }
                            }
                        }
                        (sent, received)
                    })
                })
                .collect();
            let (mut sent, mut received) = (0, 0);
            for h in tasks {
                let (s, r) = within("self-selecting task", h).await;
                assert_eq!(s + r, ITERS, "every select took exactly one arm");
                sent += s;
                received += r;
            }
            assert_eq!(
                sent - received,
                c.len(),
                "chan[{cap}]: sends and receives add up"
            );
            if cap == 0 {
                assert_eq!(sent, ITERS, "unbuffered: the two tasks paired up");
            }
        }
    });
}

// Go: runtime/chan_test.go TestSelectStress
#[test]
fn select_stress() {
    // 4 tasks send N values on each of the chans, 4 tasks receive N values on each, one task
    // sends N values on each in a single select, one task receives N values on each in a
    // single select. Senders send distinct values, so every channel must deliver exactly the
    // values 0..2N.
    const N: usize = 1_500; // Go: 1e5, or 1e4 with -short
    run(async {
        let c: [Channel<usize>; 4] = [
            Channel::new(),
            Channel::new(),
            Channel::with_capacity(2),
            Channel::with_capacity(3),
        ];
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for (k, ch) in c.iter().enumerate() {
            let tx = ch.clone();
            senders.push(weft::spawn(async move {
                for i in 0..N {
                    tx.send(2 * i).await.unwrap();
                }
            }));
            let rx = ch.clone();
            receivers.push(weft::spawn(async move {
                let mut got = Vec::with_capacity(N);
                for _ in 0..N {
                    got.push(rx.recv().await.expect("open"));
                }
                (k, got)
            }));
        }
        let select_sender = {
            let c = c.clone();
            weft::spawn(async move {
                let mut n = [0usize; 4];
                for _ in 0..4 * N {
                    weft::select! {
                        r = c[3].send(2 * n[3] + 1), if n[3] < N => { r.unwrap(); n[3] += 1; }
                        r = c[2].send(2 * n[2] + 1), if n[2] < N => { r.unwrap(); n[2] += 1; }
                        r = c[0].send(2 * n[0] + 1), if n[0] < N => { r.unwrap(); n[0] += 1; }
                        r = c[1].send(2 * n[1] + 1), if n[1] < N => { r.unwrap(); n[1] += 1; }
                    }
                }
                n
            })
        };
        let select_receiver = {
            let c = c.clone();
            weft::spawn(async move {
                let mut got: [Vec<usize>; 4] = Default::default();
                for _ in 0..4 * N {
                    weft::select! {
                        v = c[0].recv(), if got[0].len() < N => got[0].push(v.expect("open")),
                        v = c[1].recv(), if got[1].len() < N => got[1].push(v.expect("open")),
                        v = c[2].recv(), if got[2].len() < N => got[2].push(v.expect("open")),
                        v = c[3].recv(), if got[3].len() < N => got[3].push(v.expect("open")),
                    }
                }
                got
            })
        };
        for h in senders {
            within("sender", h).await;
        }
        assert_eq!(within("select sender", select_sender).await, [N; 4]);
        let mut all = within("select receiver", select_receiver).await;
        for h in receivers {
            let (k, got) = within("receiver", h).await;
            all[k].extend(got);
        }
        for (k, mut got) in all.into_iter().enumerate() {
            got.sort_unstable();
            assert!(
                got.iter().copied().eq(0..2 * N),
                "chan {k}: values lost or duplicated"
            );
            assert_eq!(c[k].len(), 0);
        }
    });
}

// Go: runtime/chan_test.go TestSelectFairness
#[test]
fn select_fairness() {
    const TRIALS: usize = 10_000;
    run(async {
        let c1 = Channel::<u8>::with_capacity(TRIALS + 1);
        let c2 = Channel::<u8>::with_capacity(TRIALS + 1);
        for _ in 0..TRIALS + 1 {
            c1.try_send(1).unwrap();
            c2.try_send(2).unwrap();
        }
        let c3 = Channel::<u8>::new();
        let c4 = Channel::<u8>::new();
        let out = Channel::<u8>::new();
        let done = Channel::<u8>::new();
        let h = {
            let (c1, c2, c3, c4) = (c1.clone(), c2.clone(), c3.clone(), c4.clone());
            let (out, done) = (out.clone(), done.clone());
            weft::spawn(async move {
                // Bounded: the main task takes TRIALS values, then closes `done`.
                for _ in 0..TRIALS + 1 {
                    let b = weft::select! {
                        b = c3.recv() => b,
                        b = c4.recv() => b,
                        b = c1.recv() => b,
                        b = c2.recv() => b,
                    };
                    let b = b.expect("c1 and c2 hold more values than are taken");
                    weft::select! {
                        r = out.send(b) => r.unwrap(),
                        _ = done.recv() => return,
                    }
                }
                panic!("the fairness task was never told to stop");
            })
        };
        let (mut cnt1, mut cnt2) = (0usize, 0usize);
        for _ in 0..TRIALS {
            match within("out", out.recv()).await {
                Some(1) => cnt1 += 1,
                Some(2) => cnt2 += 1,
                other => panic!("unexpected value {other:?} on channel"),
            }
        }
        done.close();
        within("fairness task", h).await;
        // If the select is fair, cnt1 and cnt2 are about the same. Go allows 10 sigma
        // (5 %); allow 6 sigma (3 %), still far from any chance failure.
        let mean = TRIALS as f64 * 0.5;
        let stddev = (TRIALS as f64 * 0.5 * 0.5).sqrt();
        assert!(
            (cnt1 as f64 - mean).abs() <= 6.0 * stddev,
            "unfair select: in {TRIALS} trials, results were {cnt1}, {cnt2}"
        );
        assert_eq!(cnt1 + cnt2, TRIALS);
        // Each select consumed exactly one value (one more may have been taken and not
        // delivered when `done` closed).
        let left = c1.len() + c2.len();
        assert!(
            left == TRIALS + 2 || left == TRIALS + 1,
            "{left} values left of {}",
            2 * (TRIALS + 1)
        );
    });
}

// Go: runtime/chan_test.go TestPseudoRandomSend
#[test]
fn pseudo_random_send() {
    const N: usize = 100;
    run(async {
        for cap in [0, N] {
            let c = Channel::<usize>::with_capacity(cap);
            let h = {
                let c = c.clone();
                weft::spawn(async move {
                    let mut l = Vec::with_capacity(N);
                    for _ in 0..N {
                        weft::yield_now().await;
                        l.push(c.recv().await.expect("open"));
                    }
                    l
                })
            };
            for _ in 0..N {
                within("select with two sends", async {
                    weft::select! {
                        r = c.send(1) => r.unwrap(),
                        r = c.send(0) => r.unwrap(),
                    }
                })
                .await;
            }
            let l = within("receiver", h).await;
            assert_eq!(l.len(), N);
            let n1: usize = l.iter().sum();
            let n0 = N - n1;
            assert!(l.iter().all(|&v| v <= 1));
            assert!(
                n0 > N / 10 && n1 > N / 10,
                "want pseudorandom, got {n0} zeros and {n1} ones (chan cap {cap})"
            );
        }
    });
}

// Go: runtime/chan_test.go TestMultiConsumer
#[test]
fn multi_consumer() {
    const NWORK: usize = 23;
    const NITER: usize = 20_000; // Go: 271828
    const PN: [usize; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
    run(async {
        let q = Channel::<usize>::with_capacity(NWORK * 3);
        let r = Channel::<usize>::with_capacity(NWORK * 3);
        // workers
        let workers: Vec<_> = (0..NWORK)
            .map(|w| {
                let (q, r) = (q.clone(), r.clone());
                weft::spawn(async move {
                    while let Some(v) = q.recv().await {
                        // mess with the fifo-ish nature of the receive loop
                        if PN[w % PN.len()] == v {
                            weft::yield_now().await;
                        }
                        r.send(v).await.unwrap();
                    }
                })
            })
            .collect();
        // feeder & closer
        let expect: usize = (0..NITER).map(|i| PN[i % PN.len()]).sum();
        let feeder = {
            let (q, r) = (q.clone(), r.clone());
            weft::spawn(async move {
                for i in 0..NITER {
                    q.send(PN[i % PN.len()]).await.unwrap();
                }
                q.close(); // no more work
                for w in workers {
                    w.await; // workers done
                }
                r.close(); // ... so there can be no more results
            })
        };
        // consume & check
        let (mut n, mut s) = (0, 0);
        for _ in 0..=NITER {
            match within("result", r.recv()).await {
                Some(v) => {
                    n += 1;
                    s += v;
                }
                None => break,
            }
        }
        within("feeder", feeder).await;
        assert!(
            n == NITER && s == expect,
            "expected sum {expect} (got {s}) from {NITER} iter (saw {n})"
        );
    });
}

// Go: runtime/chan_test.go TestSelectDuplicateChannel
#[test]
fn select_duplicate_channel() {
    // The same task queued on the same channel twice by one select.
    run(async {
        for _ in 0..20 {
            let c = Channel::<i32>::new();
            let d = Channel::<i32>::new();
            let e = Channel::<i32>::new();
            // task A
            let a = {
                let (c, d, e) = (c.clone(), d.clone(), e.clone());
                weft::spawn(async move {
                    let got = weft::select! {
                        v = c.recv() => ("c", v),
                        v = c.recv() => ("c", v),
                        v = d.recv() => ("d", v),
                    };
                    e.send(9).await.unwrap();
                    got
                })
            };
            // Make sure task A gets queued first on c.
            weft::sleep(ms(1)).await;
            // task B
            let b = {
                let c = c.clone();
                weft::spawn(async move { c.recv().await })
            };
            // Make sure task B gets queued on c before continuing.
            weft::sleep(ms(1)).await;
            // Wake up A; it dequeues itself from c.
            within("d <- 7", d.send(7)).await.unwrap();
            // A tells us it's done.
            assert_eq!(within("<-e", e.recv()).await, Some(9));
            assert_eq!(within("task A", a).await, ("d", Some(7)));
            // Wake up B: it must get the value, not a stale waiter of A's select.
            within("c <- 8", c.send(8)).await.unwrap();
            assert_eq!(within("task B", b).await, Some(8));
            assert_eq!(
                c.try_send(1),
                Err(TrySendError::Full(1)),
                "nobody left on c"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// test/chan/*.go
// ---------------------------------------------------------------------------------------------

// Go: test/chan/doubleselect.go
#[test]
fn doubleselect() {
    // Senders send a counter to one of four channels in a select. If two cases both ran in
    // one select, one value would arrive twice. (Go has one sender; two stress it more.)
    const ITERATIONS: usize = 4_000; // per sender; Go: 100000
    const SENDERS: usize = 2;
    run(async {
        let cs: Vec<Channel<usize>> = (0..4).map(|_| Channel::new()).collect();
        let cmux = Channel::<usize>::new();
        let done = Channel::<bool>::new();
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let cs = cs.clone();
                weft::spawn(async move {
                    for i in s * ITERATIONS..(s + 1) * ITERATIONS {
                        weft::select! {
                            r = cs[0].send(i) => r.unwrap(),
                            r = cs[1].send(i) => r.unwrap(),
                            r = cs[2].send(i) => r.unwrap(),
                            r = cs[3].send(i) => r.unwrap(),
                        }
                    }
                })
            })
            .collect();
        // Go's `defer close(c1..c4)`, once every sender is done.
        let closer = {
            let cs = cs.clone();
            weft::spawn(async move {
                for s in senders {
                    s.await;
                }
                for c in &cs {
                    c.close();
                }
            })
        };
        // mux receives the values from the senders and forwards them onto another channel.
        let muxes: Vec<_> = cs
            .iter()
            .map(|input| {
                let (input, out, done) = (input.clone(), cmux.clone(), done.clone());
                weft::spawn(async move {
                    while let Some(v) = input.recv().await {
                        out.send(v).await.unwrap();
                    }
                    done.send(true).await.unwrap();
                })
            })
            .collect();
        let cmux_closer = {
            let (cmux, done) = (cmux.clone(), done.clone());
            weft::spawn(async move {
                for _ in 0..4 {
                    done.recv().await.unwrap();
                }
                cmux.close();
            })
        };
        // recver checks for duplicates.
        let mut seen = HashSet::new();
        for _ in 0..=SENDERS * ITERATIONS {
            match within("cmux", cmux.recv()).await {
                Some(v) => assert!(seen.insert(v), "got duplicate value: {v}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), SENDERS * ITERATIONS, "values lost");
        within("closer", closer).await;
        for m in muxes {
            within("mux", m).await;
        }
        within("cmux closer", cmux_closer).await;
    });
}

// Go: test/chan/fifo.go AsynchFifo
#[test]
fn fifo_asynch() {
    const N: i32 = 10;
    run(async {
        let ch = Channel::<i32>::with_capacity(N as usize);
        for i in 0..N {
            ch.send(i).await.unwrap();
        }
        for i in 0..N {
            assert_eq!(ch.recv().await, Some(i), "bad receive");
        }
    });
}

// Go: test/chan/fifo.go SynchFifo
#[test]
fn fifo_synch() {
    // Thread together a daisy chain to read the elements in sequence: unbuffered channels act
    // as pure FIFOs.
    const N: i32 = 10;
    run(async {
        let ch = Channel::<i32>::new();
        let start = Channel::<i32>::new();
        let mut input = start.clone();
        let mut links = Vec::new();
        for i in 0..N {
            let out = Channel::<i32>::new();
            let (ch, inp, o) = (ch.clone(), input.clone(), out.clone());
            links.push(weft::spawn(async move {
                inp.recv().await.expect("open");
                assert_eq!(ch.recv().await, Some(i), "out of order");
                o.send(1).await.unwrap();
            }));
            input = out;
        }
        within("start <- 0", start.send(0)).await.unwrap();
        for i in 0..N {
            within("ch <- i", ch.send(i)).await.unwrap();
        }
        assert_eq!(within("<-in", input.recv()).await, Some(1));
        for l in links {
            within("chain link", l).await;
        }
    });
}

// Go: test/chan/fifo.go (extended: several senders, order kept per sender)
#[test]
fn fifo_per_sender_order() {
    const SENDERS: usize = 4;
    const PER_SENDER: usize = 500;
    run(async {
        for cap in [0usize, 8] {
            let c = Channel::<(usize, usize)>::with_capacity(cap);
            let senders: Vec<_> = (0..SENDERS)
                .map(|id| {
                    let c = c.clone();
                    weft::spawn(async move {
                        for seq in 0..PER_SENDER {
                            c.send((id, seq)).await.unwrap();
                        }
                    })
                })
                .collect();
            let mut next = [0usize; SENDERS];
            for _ in 0..SENDERS * PER_SENDER {
                let (id, seq) = within("receive", c.recv()).await.expect("open");
                assert_eq!(seq, next[id], "chan[{cap}]: sender {id} out of order");
                next[id] += 1;
            }
            assert_eq!(next, [PER_SENDER; SENDERS]);
            for s in senders {
                within("sender", s).await;
            }
        }
    });
}

// Go: test/chan/goroutines.go
#[test]
fn goroutines() {
    // Make a lot of tasks, threaded together, and tear them down cleanly. (Each link adds
    // one, so the value that arrives also counts the hops.)
    const N: usize = 1_000; // Go: 10000
    run(async {
        let leftmost = Channel::<usize>::new();
        let mut left = leftmost.clone();
        let mut links = Vec::with_capacity(N);
        for _ in 0..N {
            let right = Channel::<usize>::new();
            let (l, r) = (left.clone(), right.clone());
            links.push(weft::spawn(async move {
                let v = r.recv().await.expect("open");
                l.send(v + 1).await.unwrap();
            }));
            left = right;
        }
        let rightmost = left;
        let feeder = weft::spawn(async move { rightmost.send(1).await.unwrap() });
        assert_eq!(within("<-leftmost", leftmost.recv()).await, Some(N + 1));
        within("feeder", feeder).await;
        for l in links {
            within("link", l).await;
        }
    });
}

/// One type's part of Go's test/chan/nonblock.go: a receiver task that must eventually get
/// `to_receiver` from non-blocking sends, then a sender task whose `from_sender` non-blocking
/// receives must eventually get. `use_select`: non-blocking operations are selects with
/// `default` (as in Go); otherwise `try_send`/`try_recv`.
async fn nonblock_type<T>(buffer: usize, to_receiver: T, from_sender: T, use_select: bool)
where
    T: Clone + PartialEq + Debug + Send + 'static,
{
    const MAX_TRIES: usize = 2_000;
    let c = Channel::<T>::with_capacity(buffer);
    let strobe = Channel::<bool>::new();

    let got = if use_select {
        weft::select! {
            v = c.recv() => Some(v),
            default => None,
        }
    } else {
        c.try_recv().ok().map(Some)
    };
    assert!(got.is_none(), "blocked sender: buffer={buffer}");

    // Non-blocking sends to a receiver.
    let receiver = {
        let (c, strobe, want) = (c.clone(), strobe.clone(), to_receiver.clone());
        weft::spawn(async move {
            assert_eq!(c.recv().await, Some(want), "receiver value");
            strobe.send(true).await.unwrap();
        })
    };
    let mut tries = 0;
    loop {
        let sent = if use_select {
            weft::select! {
                r = c.send(to_receiver.clone()) => { r.unwrap(); true }
                default => false,
            }
        } else {
            match c.try_send(to_receiver.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => false,
                Err(e) => panic!("{e:?}"),
            }
        };
        if sent {
            break;
        }
        tries += 1;
        assert!(tries <= MAX_TRIES, "receiver buffer={buffer}: never ready");
        pause().await;
    }
    assert_eq!(within("strobe", strobe.recv()).await, Some(true));
    within("receiver", receiver).await;

    // Non-blocking receives from a sender.
    let sender = {
        let (c, strobe, v) = (c.clone(), strobe.clone(), from_sender.clone());
        weft::spawn(async move {
            c.send(v).await.unwrap();
            strobe.send(true).await.unwrap();
        })
    };
    if buffer > 0 {
        assert_eq!(within("strobe", strobe.recv()).await, Some(true));
    }
    let mut tries = 0;
    let got = loop {
        let got = if use_select {
            weft::select! {
                v = c.recv() => Some(v.expect("open")),
                default => None,
            }
        } else {
            match c.try_recv() {
                Ok(v) => Some(v),
                Err(TryRecvError::Empty) => None,
                Err(e) => panic!("{e:?}"),
            }
        };
        if let Some(v) = got {
            break v;
        }
        tries += 1;
        assert!(tries <= MAX_TRIES, "sender buffer={buffer}: never ready");
        pause().await;
    };
    assert_eq!(got, from_sender, "sender value");
    if buffer == 0 {
        assert_eq!(within("strobe", strobe.recv()).await, Some(true));
    }
    within("sender", sender).await;
    assert!(c.is_empty());
}

// Go: test/chan/nonblock.go
#[test]
fn nonblock() {
    run(async {
        for use_select in [true, false] {
            for buffer in 0..2 {
                nonblock_type::<i32>(buffer, 123, 234, use_select).await;
                nonblock_type::<i64>(buffer, 123_456, 234_567, use_select).await;
                nonblock_type::<bool>(buffer, true, true, use_select).await;
                nonblock_type::<bool>(buffer, false, false, use_select).await;
                nonblock_type::<String>(buffer, "hello".into(), "hello again".into(), use_select)
                    .await;
            }
        }
    });
}

// Go: test/chan/select2.go
#[test]
fn select2() {
    // Go checks that selects do not consume undue memory; weft's memory is not measurable
    // here, so check that a long loop of selects with a channel arm that never fires and a
    // timer arm completes with the right values and leaves the idle channel untouched.
    const N: usize = 5_000; // Go: 100000, twice
    run(async {
        let c = Channel::<i32>::new();
        let dummy = Channel::<i32>::new();
        for _round in 0..2 {
            let sender = {
                let c = c.clone();
                weft::spawn(async move {
                    for _ in 0..N {
                        c.send(1).await.unwrap();
                    }
                })
            };
            let mut got = 0;
            for _ in 0..N {
                let v = weft::select! {
                    v = c.recv() => v,
                    _ = dummy.recv() => panic!("dummy"),
                    _ = weft::sleep(LIMIT) => panic!("timer arm fired: receive hung"),
                };
                assert_eq!(v, Some(1));
                got += 1;
            }
            assert_eq!(got, N);
            within("sender", sender).await;
        }
        assert_eq!(c.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(dummy.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            dummy.try_send(5),
            Err(TrySendError::Full(5)),
            "no receiver is left parked on dummy"
        );
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocks {
    Always,
    Never,
}

/// Go's testBlock: runs `f` as a task and empirically checks that it always (does not
/// finish in 50 ms) or never (finishes) blocks.
async fn test_block<F>(signal: Blocks, what: &str, f: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut h = weft::spawn(f);
    let limit = match signal {
        Blocks::Always => ms(50),
        Blocks::Never => LIMIT,
    };
    let finished = weft::timeout(&mut h, limit).await.is_ok();
    h.abort();
    let observed = if finished {
        Blocks::Never
    } else {
        Blocks::Always
    };
    assert_eq!(observed, signal, "{what}");
}

fn closed_chan() -> Channel<i32> {
    let c = Channel::new();
    c.close();
    c
}

// Go: test/chan/select3.go
#[test]
fn select3() {
    const ASYNC: usize = 1; // asynchronous channels
    run(async {
        // Sending/receiving from a nil channel (a disabled arm) inside a select is never
        // selected.
        let nilch = Channel::<i32>::new();
        let r = weft::select! {
            _ = nilch.send(7), if false => unreachable!(),
            default => "default",
        };
        assert_eq!(r, "default");
        let r = weft::select! {
            _ = nilch.recv(), if false => unreachable!(),
            default => "default",
        };
        assert_eq!(r, "default");

        // Sending to an async channel with free buffer space never blocks.
        test_block(Blocks::Never, "send with free buffer space", async {
            let ch = Channel::with_capacity(ASYNC);
            ch.send(7).await.unwrap();
        })
        .await;

        // Receiving from a closed channel never blocks.
        test_block(Blocks::Never, "receive from closed channel", async {
            let closedch = closed_chan();
            for _ in 0..10 {
                assert_eq!(closedch.recv().await, None);
                assert_eq!(closedch.try_recv(), Err(TryRecvError::Closed));
            }
        })
        .await;

        // Sending to a closed channel (Go: panics) fails and hands the value back.
        assert_eq!(closed_chan().send(7).await, Err(SendError(7)));
        assert_eq!(closed_chan().try_send(7), Err(TrySendError::Closed(7)));

        // Receiving from a non-ready channel always blocks.
        test_block(Blocks::Always, "receive from non-ready channel", async {
            let ch = Channel::<i32>::new();
            ch.recv().await;
        })
        .await;

        // Selects with only nil channels always block. weft's select panics when every arm is
        // disabled and there is no default (documented), so the blocking form is nil arms
        // plus a future that never completes.
        test_block(Blocks::Always, "select with only nil channels", async {
            let nilch = Channel::<i32>::new();
            weft::select! {
                _ = nilch.recv(), if false => unreachable!(),
                _ = nilch.send(7), if false => unreachable!(),
                _ = std::future::pending::<()>() => {},
            }
        })
        .await;
        let all_disabled = weft::spawn(async {
            let nilch = Channel::<i32>::new();
            weft::select! {
                _ = nilch.recv(), if false => {},
            }
        });
        let err = within("all-disabled select", all_disabled.catch())
            .await
            .expect_err("a select with every arm disabled and no default panics");
        assert!(err.is_panic(), "{err:?}");

        // Selects with non-ready non-nil channels always block.
        test_block(Blocks::Always, "select on non-ready channel", async {
            let ch = Channel::<i32>::new();
            weft::select! {
                _ = ch.recv() => unreachable!(),
            }
        })
        .await;

        // Selects with default cases don't block.
        test_block(Blocks::Never, "select with only default", async {
            weft::select! { default => {} }
        })
        .await;
        test_block(Blocks::Never, "select with nil recv and default", async {
            let nilch = Channel::<i32>::new();
            weft::select! {
                _ = nilch.recv(), if false => unreachable!(),
                default => {},
            }
        })
        .await;
        test_block(Blocks::Never, "select with nil send and default", async {
            let nilch = Channel::<i32>::new();
            weft::select! {
                _ = nilch.send(7), if false => unreachable!(),
                default => {},
            }
        })
        .await;

        // Selects with ready channels don't block.
        test_block(Blocks::Never, "select with ready send", async {
            let ch = Channel::with_capacity(ASYNC);
            weft::select! {
                r = ch.send(7) => r.unwrap(),
                default => unreachable!(),
            }
            assert_eq!(ch.try_recv(), Ok(7));
        })
        .await;
        test_block(Blocks::Never, "select with ready receive", async {
            let ch = Channel::with_capacity(ASYNC);
            ch.send(7).await.unwrap();
            weft::select! {
                x = ch.recv() => assert_eq!(x, Some(7), "want 7"),
                default => unreachable!(),
            }
        })
        .await;

        // Selects with closed channels behave like ordinary operations.
        test_block(Blocks::Never, "select receive from closed channel", async {
            let closedch = closed_chan();
            weft::select! {
                x = closedch.recv() => assert_eq!(x, None),
            }
        })
        .await;
        test_block(Blocks::Never, "select send to closed channel", async {
            let closedch = closed_chan();
            weft::select! {
                r = closedch.send(7) => assert_eq!(r, Err(SendError(7))),
            }
        })
        .await;

        // Select should not get confused if it sees itself.
        test_block(
            Blocks::Always,
            "select sending to and receiving from itself",
            async {
                let c = Channel::<i32>::new();
                weft::select! {
                    _ = c.send(1) => unreachable!("self-match"),
                    _ = c.recv() => unreachable!("self-match"),
                }
            },
        )
        .await;
    });
}

// Go: test/chan/select4.go
#[test]
fn select4() {
    run(async {
        // Go's exact case: the non-ready arm's handler (Go: its `*f() =` target) never runs.
        let called_f = AtomicBool::new(false);
        let c = Channel::<i32>::with_capacity(1);
        let c1 = Channel::<i32>::new();
        c.send(42).await.unwrap();
        let x = within("select4", async {
            weft::select! {
                v = c1.recv() => {
                    called_f.store(true, SeqCst);
                    v
                }
                v = c.recv() => v,
            }
        })
        .await;
        assert_eq!(x, Some(42));
        assert!(!called_f.load(SeqCst), "BUG: called f");

        // A ready arm among many non-ready ones (unbuffered, empty buffered, nil), wherever it
        // is.
        let ch: Vec<Channel<i32>> = (0..8).map(|i| Channel::with_capacity(i % 2)).collect();
        for round in 0..64 {
            let k = round % 8;
            ch[k].try_send(round as i32).unwrap_or_else(|_| {
                // unbuffered: park a sender instead
                let tx = ch[k].clone();
                let v = round as i32;
                drop(weft::spawn(async move { tx.send(v).await.unwrap() }));
            });
            let got = within("select4 matrix", async {
                weft::select! {
                    v = ch[0].recv() => (0, v),
                    v = ch[1].recv() => (1, v),
                    v = ch[k].recv(), if false => (100, v),
                    v = ch[2].recv() => (2, v),
                    v = ch[3].recv() => (3, v),
                    v = ch[4].recv() => (4, v),
                    v = ch[5].recv() => (5, v),
                    v = ch[k].recv(), if false => (101, v),
                    v = ch[6].recv() => (6, v),
                    v = ch[7].recv() => (7, v),
                }
            })
            .await;
            assert_eq!(got, (k, Some(round as i32)));
            assert!(ch.iter().all(|c| c.is_empty()));
        }
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Recv,
    Send,
}

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Recv(usize, Option<i32>),
    Sent(usize, bool),
    Default,
}

/// A select over three slots: each may receive or send (per `recv`/`send` enable flags) on
/// its channel, with or without `default`.
macro_rules! select5 {
    ($ch:expr, $recv:expr, $send:expr, $val:expr $(, default => $def:expr)?) => {
        weft::select! {
            v = $ch[0].recv(), if $recv[0] => Got::Recv(0, v),
            r = $ch[0].send($val), if $send[0] => Got::Sent(0, r.is_ok()),
            v = $ch[1].recv(), if $recv[1] => Got::Recv(1, v),
            r = $ch[1].send($val), if $send[1] => Got::Sent(1, r.is_ok()),
            v = $ch[2].recv(), if $recv[2] => Got::Recv(2, v),
            r = $ch[2].send($val), if $send[2] => Got::Sent(2, r.is_ok()),
            $(default => $def,)?
        }
    };
}

/// One case of the select5 matrix: the live operation `op` sits in slot `pos` on a channel of
/// capacity `cap`; the next slot holds a never-ready unbuffered channel doing `dummy_op`; the
/// last slot is nil (disabled).
async fn select5_case(cap: usize, op: Op, dummy_op: Op, pos: usize, with_default: bool) {
    const MAX_TRIES: usize = 2_000;
    let val = 1_000 + pos as i32;
    let live = Channel::<i32>::with_capacity(cap);
    let dummy = Channel::<i32>::new();
    let dummy_pos = (pos + 1) % 3;
    let mut ch = [&dummy, &dummy, &dummy];
    ch[pos] = &live;
    let (mut recv_on, mut send_on) = ([false; 3], [false; 3]);
    for (slot, o) in [(pos, op), (dummy_pos, dummy_op)] {
        match o {
            Op::Recv => recv_on[slot] = true,
            Op::Send => send_on[slot] = true,
        }
    }
    let case = format!("cap {cap} {op:?} at {pos}, dummy {dummy_op:?}, default {with_default}");

    if with_default {
        // Nothing ready: default, and nothing happens.
        if cap > 0 && op == Op::Send {
            live.try_send(-1).unwrap(); // full
        }
        let got = select5!(ch, recv_on, send_on, val, default => Got::Default);
        assert_eq!(got, Got::Default, "{case}: not ready");
        if cap > 0 && op == Op::Send {
            assert_eq!(live.try_recv(), Ok(-1), "{case}");
        }
        assert!(live.is_empty(), "{case}");
    }

    // Make the live operation ready (buffered) or give it a peer (unbuffered).
    let peer = match (cap, op) {
        (0, Op::Recv) => {
            let tx = live.clone();
            Some(weft::spawn(async move {
                tx.send(val).await.unwrap();
                None
            }))
        }
        (0, Op::Send) => {
            let rx = live.clone();
            Some(weft::spawn(async move { rx.recv().await }))
        }
        (_, Op::Recv) => {
            live.try_send(val).unwrap();
            None
        }
        (_, Op::Send) => None,
    };
    let expected = match op {
        Op::Recv => Got::Recv(pos, Some(val)),
        Op::Send => Got::Sent(pos, true),
    };
    let got = if with_default {
        let mut tries = 0;
        loop {
            let got = select5!(ch, recv_on, send_on, val, default => Got::Default);
            if got != Got::Default {
                break got;
            }
            assert!(cap == 0, "{case}: default taken while the buffer was ready");
            tries += 1;
            assert!(tries <= MAX_TRIES, "{case}: peer never became ready");
            pause().await;
        }
    } else {
        within(&case, async { select5!(ch, recv_on, send_on, val) }).await
    };
    assert_eq!(got, expected, "{case}");
    match (peer, op) {
        (Some(p), Op::Send) => assert_eq!(within(&case, p).await, Some(val), "{case}"),
        (Some(p), Op::Recv) => assert_eq!(within(&case, p).await, None, "{case}"),
        (None, Op::Send) => assert_eq!(live.try_recv(), Ok(val), "{case}"),
        (None, Op::Recv) => {}
    }
    assert!(live.is_empty(), "{case}");
    assert_eq!(dummy.try_recv(), Err(TryRecvError::Empty), "{case}");
    assert_eq!(dummy.try_send(0), Err(TrySendError::Full(0)), "{case}");
}

// Go: test/chan/select5.go (a modest hand-written version of its generated matrix)
#[test]
fn select5() {
    run(async {
        for cap in [0, 1] {
            for op in [Op::Recv, Op::Send] {
                for dummy_op in [Op::Recv, Op::Send] {
                    for pos in 0..3 {
                        for with_default in [false, true] {
                            select5_case(cap, op, dummy_op, pos, with_default).await;
                        }
                    }
                }
            }
        }
    });
}

// Go: test/chan/select6.go
#[test]
fn select6() {
    // Issue 2075: a bug in select corrupted channel queues of failed cases if there were
    // several waiters on those channels and the select was last in the queue; later waiters on
    // the channel (c1 here) then never woke up.
    run(async {
        for _ in 0..100 {
            let c1 = Channel::<bool>::new();
            let c2 = Channel::<bool>::new();
            let c3 = Channel::<bool>::new();
            let first = {
                let c1 = c1.clone();
                weft::spawn(async move { c1.recv().await })
            };
            let second = {
                let (c1, c2, c3) = (c1.clone(), c2.clone(), c3.clone());
                weft::spawn(async move {
                    weft::select! {
                        _ = c1.recv() => panic!("dummy"),
                        _ = c2.recv() => c3.send(true).await.unwrap(),
                    }
                    c1.recv().await
                })
            };
            let third = {
                let c2 = c2.clone();
                weft::spawn(async move { c2.send(true).await.unwrap() })
            };
            assert_eq!(within("<-c3", c3.recv()).await, Some(true));
            within("c1 <- true (1)", c1.send(true)).await.unwrap();
            within("c1 <- true (2)", c1.send(true)).await.unwrap();
            assert_eq!(within("first", first).await, Some(true));
            assert_eq!(within("second", second).await, Some(true));
            within("third", third).await;
        }
    });
}

// Go: test/chan/select6.go (variant: the waiter ahead in line is cancelled)
#[test]
fn select6_cancelled_receiver_does_not_lose_wakeup() {
    // A parked receive is handed a value and then dropped (cancelled) before it collects it;
    // a select parked behind it on the same channel must be woken with that value.
    run(async {
        for _ in 0..50 {
            let c1 = Channel::<i32>::new();
            let c2 = Channel::<i32>::new();
            let mut cancelled = Box::pin(c1.recv());
            // Parks `cancelled` first in line on c1.
            assert!(weft::timeout(cancelled.as_mut(), ms(1)).await.is_err());
            let selecting = {
                let (c1, c2) = (c1.clone(), c2.clone());
                weft::spawn(async move {
                    weft::select! {
                        v = c1.recv() => ("c1", v),
                        v = c2.recv() => ("c2", v),
                    }
                })
            };
            weft::sleep(ms(1)).await; // let the select park behind it
            c1.try_send(5).unwrap(); // handed to `cancelled`, the longest waiting
            drop(cancelled);
            assert_eq!(within("selecting task", selecting).await, ("c1", Some(5)));
            assert!(c1.is_empty() && c2.is_empty());
        }
    });
}

#[derive(Debug, Clone, Copy)]
enum Select7Recv {
    Plain,
    OneArm,
    TwoArms,
}

#[derive(Debug, Clone, Copy)]
enum Select7Send {
    Plain,
    OneArm,
    TwoArms,
    Close,
}

// Go: test/chan/select7.go
#[test]
fn select7() {
    // Receive (plainly, in a one-arm select, in a two-arm select) racing a peer that sends
    // (plainly, one-arm select, two-arm select) or closes the channel.
    use Select7Recv as R;
    use Select7Send as S;
    run(async {
        for _ in 0..30 {
            for recv in [R::Plain, R::OneArm, R::TwoArms] {
                for send in [S::Plain, S::OneArm, S::TwoArms, S::Close] {
                    let what = format!("{send:?} to {recv:?}");
                    let c = Channel::<i32>::new();
                    let receiver = {
                        let c = c.clone();
                        weft::spawn(async move {
                            match recv {
                                R::Plain => c.recv().await,
                                R::OneArm => weft::select! { v = c.recv() => v },
                                R::TwoArms => {
                                    let c2 = Channel::<i32>::new();
                                    weft::select! {
                                        v = c.recv() => v,
                                        _ = c2.recv() => unreachable!(),
                                    }
                                }
                            }
                        })
                    };
                    weft::yield_now().await;
                    let c2 = Channel::<i32>::new();
                    within(&what, async {
                        match send {
                            S::Plain => c.send(1).await.unwrap(),
                            S::OneArm => weft::select! { r = c.send(1) => r.unwrap() },
                            S::TwoArms => weft::select! {
                                r = c.send(1) => r.unwrap(),
                                _ = c2.send(1) => unreachable!(),
                            },
                            S::Close => {
                                c.close();
                            }
                        }
                    })
                    .await;
                    let want = match send {
                        S::Close => None,
                        _ => Some(1),
                    };
                    assert_eq!(within(&what, receiver).await, want, "{what}");
                }
            }
        }
    });
}

// Go: test/chan/sieve1.go
#[test]
fn sieve() {
    // The prime sieve: a daisy chain of filter tasks. Split halves close the channel when
    // either side is gone, so dropping the last receiver tears the whole chain down.
    const PRIMES: usize = 100;
    let expected: Vec<u32> = (2u32..)
        .filter(|&n| (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .take(PRIMES)
        .collect();
    assert_eq!(expected[PRIMES - 1], 541);
    run(async {
        let (tx, mut rx) = weft::channel::bounded::<u32>(0);
        // Send the sequence 2, 3, 4, ... (bounded: far more than the sieve needs).
        let mut tasks = vec![weft::spawn(async move {
            for i in 2..1_000_000 {
                if tx.send(i).await.is_err() {
                    break;
                }
            }
        })];
        let mut primes = Vec::with_capacity(PRIMES);
        for _ in 0..PRIMES {
            let prime = within("next prime", rx.recv()).await.expect("open");
            primes.push(prime);
            let (tx1, rx1) = weft::channel::bounded::<u32>(0);
            let input = std::mem::replace(&mut rx, rx1);
            // Copy the values from `input` to `tx1`, removing those divisible by `prime`.
            tasks.push(weft::spawn(async move {
                while let Some(i) = input.recv().await {
                    if i % prime != 0 && tx1.send(i).await.is_err() {
                        break;
                    }
                }
            }));
        }
        assert_eq!(primes, expected);
        drop(rx);
        for t in tasks {
            within("sieve task shutting down", t).await;
        }
    });
}

// Go: test/chan/zerosize.go
#[test]
fn zerosize() {
    // Channels of a zero-sized type.
    run(async {
        let unbuffered = Channel::<()>::new();
        let buffered = Channel::<()>::with_capacity(1);
        assert_eq!(unbuffered.capacity(), Some(0));
        assert_eq!(buffered.capacity(), Some(1));

        assert_eq!(unbuffered.try_send(()), Err(TrySendError::Full(())));
        buffered.try_send(()).unwrap();
        assert_eq!(buffered.len(), 1);
        assert_eq!(buffered.try_send(()), Err(TrySendError::Full(())));
        let got = weft::select! {
            v = unbuffered.recv() => ("unbuffered", v),
            v = buffered.recv() => ("buffered", v),
            default => ("default", None),
        };
        assert_eq!(got, ("buffered", Some(())));
        assert_eq!(buffered.try_recv(), Err(TryRecvError::Empty));

        // Rendezvous with `()` values, counted.
        const N: usize = 200;
        let counter = Arc::new(AtomicUsize::new(0));
        let receiver = {
            let (c, counter) = (unbuffered.clone(), counter.clone());
            weft::spawn(async move {
                while let Some(()) = c.recv().await {
                    counter.fetch_add(1, SeqCst);
                }
            })
        };
        for _ in 0..N {
            within("send ()", unbuffered.send(())).await.unwrap();
        }
        unbuffered.close();
        within("receiver", receiver).await;
        assert_eq!(counter.load(SeqCst), N);

        // Many `()` values buffered.
        let many = Channel::<()>::unbounded();
        for _ in 0..10_000 {
            many.try_send(()).unwrap();
        }
        assert_eq!(many.len(), 10_000);
        many.close();
        let mut n = 0;
        while let Some(()) = many.recv().await {
            n += 1;
        }
        assert_eq!(n, 10_000);
    });
}
