//! select! and select(): Go's semantics (exactly one arm, uniform choice, no self-match),
//! closed channels, default, biased, conditions, patterns, futures, cancellation.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use weft::channel::SendError;
use weft::{Channel, Executor};

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn takes_the_ready_arm() {
    weft::block_on(async {
        let a = Channel::<i32>::with_capacity(1);
        let b = Channel::<&str>::with_capacity(1);
        b.send("x").await.unwrap();
        let got = weft::select! {
            v = a.recv() => format!("a {v:?}"),
            s = b.recv() => format!("b {s:?}"),
        };
        assert_eq!(got, "b Some(\"x\")");
        assert_eq!(a.len() + b.len(), 0);
    });
}

#[test]
fn default_when_nothing_is_ready_consumes_nothing() {
    let a = Channel::<i32>::new();
    let b = Channel::<i32>::with_capacity(1);
    b.try_send(5).unwrap();
    weft::block_on(async {
        let got = weft::select! {
            v = a.recv() => v,
            default => None,
        };
        assert_eq!(got, None);
        // Only default: allowed, taken at once.
        let only = weft::select! { default => 1 };
        assert_eq!(only, 1);
    });
    assert_eq!(b.try_recv(), Ok(5));
}

#[test]
fn biased_takes_the_first_ready_arm() {
    weft::block_on(async {
        let a = Channel::<i32>::with_capacity(100);
        let b = Channel::<i32>::with_capacity(100);
        for i in 0..100 {
            a.send(i).await.unwrap();
            b.send(i).await.unwrap();
        }
        for _ in 0..100 {
            let first = weft::select! {
                biased;
                _ = a.recv() => true,
                _ = b.recv() => false,
            };
            assert!(first);
        }
    });
}

#[test]
fn ready_arms_are_chosen_uniformly() {
    const TRIALS: usize = 30_000;
    weft::block_on(async {
        let chans: Vec<Channel<u8>> = (0..3).map(|_| Channel::with_capacity(1)).collect();
        let mut counts = [0usize; 3];
        for _ in 0..TRIALS {
            for c in &chans {
                if c.is_empty() {
                    c.try_send(0).unwrap();
                }
            }
            let i = weft::select! {
                _ = chans[0].recv() => 0,
                _ = chans[1].recv() => 1,
                _ = chans[2].recv() => 2,
            };
            counts[i] += 1;
        }
        // Each arm should win a third of the time; a rotation from a random start is biased
        // when arms are ready in patterns, a shuffle is not. 5 sigma is about 1.4 %.
        for c in counts {
            let share = c as f64 / TRIALS as f64;
            assert!((share - 1.0 / 3.0).abs() < 0.02, "{counts:?}");
        }
    });
}

#[test]
fn send_arm_hands_off_to_a_parked_receiver() {
    let ex = Executor::new(2);
    ex.block_on(async {
        let ch = Channel::<u32>::new();
        let other = Channel::<u32>::new();
        let rx = ch.clone();
        let r = weft::spawn(async move { rx.recv().await });
        let sent = weft::select! {
            r = ch.send(42) => r.is_ok(),
            _ = other.recv() => false,
        };
        assert!(sent);
        assert_eq!(r.await, Some(42));
    });
}

#[test]
fn closed_channels_make_arms_ready() {
    weft::block_on(async {
        let closed = Channel::<u32>::new();
        closed.close();
        let open = Channel::<u32>::new();
        let got = weft::select! {
            v = closed.recv() => v,
            v = open.recv() => v,
        };
        assert_eq!(got, None);
        let res = weft::select! {
            r = closed.send(3) => r,
            v = open.recv() => if v.is_some() { Ok(()) } else { Err(SendError(0)) },
        };
        assert_eq!(res, Err(SendError(3)));
    });
}

#[test]
fn refutable_pattern_disables_its_arm() {
    weft::block_on(async {
        let closed = Channel::<u32>::new();
        closed.close();
        let data = Channel::<u32>::with_capacity(1);
        data.send(8).await.unwrap();
        for _ in 0..50 {
            if data.is_empty() {
                data.send(8).await.unwrap();
            }
            let got = weft::select! {
                Some(v) = closed.recv() => v,
                Some(v) = data.recv() => v + 1,
            };
            assert_eq!(got, 9);
        }
    });
}

#[test]
fn disabled_arm_is_not_evaluated() {
    weft::block_on(async {
        let evaluated = AtomicUsize::new(0);
        let ch = Channel::<u32>::with_capacity(1);
        ch.send(1).await.unwrap();
        let make = || {
            evaluated.fetch_add(1, Ordering::SeqCst);
            ch.recv()
        };
        let got = weft::select! {
            v = make(), if false => v,
            v = ch.recv() => v,
        };
        assert_eq!(got, Some(1));
        assert_eq!(evaluated.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn future_arm_as_timeout() {
    let ex = Executor::new(1);
    ex.block_on(async {
        let ch = Channel::<u32>::new();
        let timed_out = weft::select! {
            _ = ch.recv() => false,
            _ = weft::sleep(Duration::from_millis(10)) => true,
        };
        assert!(timed_out);
        // The recv arm left nothing behind: a rendezvous send now finds no receiver.
        assert!(ch.try_send(1).is_err());
    });
}

#[test]
fn handlers_can_break_continue_and_return() {
    async fn first_even(ch: &Channel<u32>) -> Option<u32> {
        loop {
            weft::select! {
                v = ch.recv() => match v {
                    Some(v) if v % 2 == 1 => continue,
                    Some(v) => return Some(v),
                    None => break,
                },
            }
        }
        None
    }
    weft::block_on(async {
        let ch = Channel::with_capacity(8);
        for v in [1, 3, 4, 5] {
            ch.send(v).await.unwrap();
        }
        assert_eq!(first_even(&ch).await, Some(4));
        ch.close();
        assert_eq!(first_even(&ch).await, None);
    });
}

#[test]
fn never_matches_its_own_send_and_recv() {
    let ex = Executor::new(1);
    ex.block_on(async {
        let ch = Channel::<u32>::new();
        let r = weft::select! {
            v = ch.recv() => Some(v),
            _ = ch.send(1) => None,
            default => Some(Some(99)),
        };
        assert_eq!(r, Some(Some(99)), "nothing else is there: default");
        let waited = weft::timeout(
            async {
                weft::select! {
                    v = ch.recv() => v,
                    _ = ch.send(1) => None,
                }
            },
            Duration::from_millis(20),
        )
        .await;
        assert!(waited.is_err(), "a lone select must not pair with itself");
    });
}

#[test]
fn selecting_tasks_pair_up_on_one_rendezvous_channel() {
    // Go's "select { case v := <-c: case c <- id: }" run by many goroutines at once.
    const TASKS: u32 = 64;
    let ex = Executor::new(2);
    for _round in 0..20 {
        let ch = Channel::<u32>::new();
        let hs: Vec<_> = (0..TASKS)
            .map(|id| {
                let ch = ch.clone();
                ex.spawn(async move {
                    weft::select! {
                        v = ch.recv() => (id, v),
                        r = ch.send(id) => {
                            r.unwrap();
                            (id, None)
                        }
                    }
                })
            })
            .collect();
        let results: Vec<(u32, Option<u32>)> = hs.into_iter().map(|h| h.join()).collect();
        let received: Vec<u32> = results.iter().filter_map(|r| r.1).collect();
        let receivers = received.len();
        assert_eq!(
            receivers * 2,
            TASKS as usize,
            "every task paired: half sent, half received"
        );
        for (id, v) in &results {
            assert_ne!(Some(*id), *v, "no self-match");
        }
        let unique: HashSet<u32> = received.iter().copied().collect();
        assert_eq!(unique.len(), receivers, "no value received twice");
        let senders: HashSet<u32> = results
            .iter()
            .filter(|r| r.1.is_none())
            .map(|r| r.0)
            .collect();
        assert_eq!(unique, senders, "exactly the senders' values arrived");
    }
}

#[test]
fn dropped_select_after_a_peer_claimed_an_arm_loses_nothing() {
    let a = Channel::<u32>::new();
    let b = Channel::<u32>::new();
    let mut sel = Box::pin(async {
        weft::select! {
            v = a.recv() => v,
            v = b.recv() => v,
        }
    });
    assert!(poll_once(sel.as_mut()).is_pending());
    a.try_send(5).unwrap(); // a peer claims the `a` arm and hands it the value
    assert_eq!(
        b.try_send(6).map_err(|e| e.into_inner()),
        Err(6),
        "only one arm can win"
    );
    drop(sel);
    assert_eq!(
        a.try_recv(),
        Ok(5),
        "the handed value is put back, first in line"
    );
}

#[test]
fn dropped_select_send_arm_delivers_nothing_later() {
    let a = Channel::<u32>::new();
    let b = Channel::<u32>::new();
    let mut sel = Box::pin(async {
        weft::select! {
            r = a.send(1) => r.is_ok(),
            r = b.send(2) => r.is_ok(),
        }
    });
    assert!(poll_once(sel.as_mut()).is_pending());
    drop(sel);
    assert!(a.try_recv().is_err());
    assert!(b.try_recv().is_err());
}

#[test]
fn function_form_over_same_typed_channels() {
    let ex = Executor::new(2);
    ex.block_on(async {
        let a = Channel::<u32>::new();
        let b = Channel::<u32>::new();
        let b2 = b.clone();
        weft::spawn(async move { b2.send(4).await.unwrap() });
        assert_eq!(weft::select(&[&a, &b]).await, (1, Some(4)));
        a.close();
        assert_eq!(weft::select(&[&a, &b]).await, (0, None));
    });
}

#[test]
fn exactly_one_arm_under_racing_peers() {
    // A select with two send arms on two rendezvous channels, raced by two receivers on other
    // threads: exactly one value arrives per select.
    let ex = Executor::new(2);
    let a = Channel::<u32>::new();
    let b = Channel::<u32>::new();
    let got = Arc::new(AtomicUsize::new(0));
    let rx: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|ch| {
            let got = got.clone();
            ex.spawn(async move {
                while ch.recv().await.is_some() {
                    got.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    const ROUNDS: usize = 2_000;
    let sent = ex.block_on(async {
        let mut sent = 0;
        for i in 0..ROUNDS as u32 {
            weft::select! {
                r = a.send(i) => { r.unwrap(); sent += 1; }
                r = b.send(i) => { r.unwrap(); sent += 1; }
            }
        }
        sent
    });
    a.close();
    b.close();
    for r in rx {
        r.join();
    }
    assert_eq!(sent, ROUNDS);
    assert_eq!(
        got.load(Ordering::SeqCst),
        ROUNDS,
        "each select delivered exactly once"
    );
}

#[test]
fn failed_pattern_keeps_a_parked_send_arm_usable() {
    // The winning arm's pattern fails after the send arm had parked its value: the next round
    // must still be able to send it, and nothing is lost.
    let a = Channel::<u32>::new();
    let out = Channel::<u32>::new();
    let mut sel = Box::pin(async {
        weft::select! {
            Some(v) = a.recv() => v,
            r = out.send(7) => { r.unwrap(); 100 }
        }
    });
    assert!(poll_once(sel.as_mut()).is_pending());
    a.close(); // the recv arm wins with None, fails `Some(v)`, and is disabled
    assert!(
        poll_once(sel.as_mut()).is_pending(),
        "the send arm waits for a receiver"
    );
    let mut r = Box::pin(out.recv());
    assert_eq!(poll_once(r.as_mut()), Poll::Ready(Some(7)));
    assert_eq!(poll_once(sel.as_mut()), Poll::Ready(100));
}

#[test]
fn polled_futures_are_arms_when_passed_pinned() {
    // A send or receive future that was polled is pinned (it is linked into its channel), so it
    // cannot be moved into a select. Passed as `fut.as_mut()` it is a future arm, and it keeps
    // its place in the channel whichever arm wins.
    let ch = Channel::<u32>::new();
    let other = Channel::<u32>::with_capacity(1);
    let mut f = Box::pin(ch.send(1));
    assert!(poll_once(f.as_mut()).is_pending());
    other.try_send(5).unwrap();
    let got = weft::block_on(async {
        weft::select! {
            biased;
            v = other.recv() => v,
            r = f.as_mut() => r.ok().map(|()| 0),
        }
    });
    assert_eq!(got, Some(5), "the other arm won");
    assert_eq!(
        ch.try_recv(),
        Ok(1),
        "the send stayed parked, value and all"
    );
    assert_eq!(poll_once(f.as_mut()), Poll::Ready(Ok(())));

    // As the winner: the select completes when a receiver takes the parked value.
    let mut f = Box::pin(ch.send(2));
    assert!(poll_once(f.as_mut()).is_pending());
    {
        let mut rx = Box::pin(async { ch.recv().await });
        let mut sel = Box::pin(async {
            weft::select! {
                r = f.as_mut() => r.is_ok(),
                _ = other.recv() => false,
            }
        });
        assert!(poll_once(sel.as_mut()).is_pending());
        assert_eq!(poll_once(rx.as_mut()), Poll::Ready(Some(2)));
        assert_eq!(poll_once(sel.as_mut()), Poll::Ready(true));
    }

    // A receive future that was already handed a value delivers it as the arm's output.
    let mut r = Box::pin(ch.recv());
    assert!(poll_once(r.as_mut()).is_pending());
    ch.try_send(9).unwrap();
    let got = weft::block_on(async {
        weft::select! {
            v = r.as_mut() => v,
            _ = other.recv() => None,
        }
    });
    assert_eq!(got, Some(9));
}

#[test]
fn select_over_more_channels_than_fit_inline() {
    // `weft::select` keeps up to 8 arms, and a select the order of up to 32 arms, inline;
    // beyond that they use the heap. Each finds the ready channel, first without parking, then
    // after parking on all of them.
    let ex = Executor::new(2);
    ex.block_on(async {
        for n in [2usize, 7, 8, 9, 31, 32, 33, 40] {
            let chans: Vec<_> = (0..n).map(|_| Channel::<usize>::with_capacity(1)).collect();
            let refs: Vec<&Channel<usize>> = chans.iter().collect();
            chans[n - 2].try_send(7).unwrap();
            assert_eq!(weft::select(&refs).await, (n - 2, Some(7)));
            let last = chans[n - 1].clone();
            weft::spawn(async move {
                weft::sleep(std::time::Duration::from_millis(5)).await;
                last.send(9).await.unwrap();
            });
            assert_eq!(weft::select(&refs).await, (n - 1, Some(9)));
        }
    });
}

/// A select whose polls keep being interrupted by peers yields to the scheduler after a
/// bounded number of passes. Until it is polled again it waits like any parked select: a peer
/// can complete one of its arms (Go: once a select sleeps, a non-blocking send to it succeeds).
#[test]
fn select_yielding_after_interrupted_polls_can_be_completed() {
    let ch = Channel::<u32>::new();
    let interruptions = std::cell::Cell::new(0u32);
    // A future arm that, each time the select polls it, has a peer try to send to the select's
    // own receive arm: the select is polling, so the peer must skip it and have it poll again.
    let interrupter = std::future::poll_fn(|_| {
        interruptions.set(interruptions.get() + 1);
        assert!(ch.try_send(0).is_err(), "the select is busy polling");
        Poll::<()>::Pending
    });
    let mut sel = Box::pin(async {
        weft::select! {
            v = ch.recv() => v,
            _ = interrupter => None,
        }
    });
    assert!(poll_once(sel.as_mut()).is_pending());
    assert!(
        interruptions.get() > 2,
        "the select was interrupted and polled its arms again"
    );
    assert_eq!(
        ch.try_send(5),
        Ok(()),
        "the yielded select waits to receive"
    );
    assert_eq!(poll_once(sel.as_mut()), Poll::Ready(Some(5)));
}
