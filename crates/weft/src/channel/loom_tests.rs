//! loom models of the channel core and the select commit protocol, on the real code with
//! small capacities. Each model explores every interleaving (up to the preemption bound CI
//! sets) of a few threads; a lost wake-up shows up as a deadlock, a lost or duplicated value as
//! a failed assertion.

#![forbid(unsafe_code)]

use super::{Channel, TryRecvError};
use loom::future::block_on;
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn loom_buffered_hand_off() {
    loom::model(|| {
        let ch = Channel::<u32>::with_capacity(1);
        let tx = ch.clone();
        let t = thread::spawn(move || {
            block_on(async {
                tx.send(1).await.unwrap();
                tx.send(2).await.unwrap();
            })
        });
        let got = block_on(async { (ch.recv().await, ch.recv().await) });
        t.join().unwrap();
        assert_eq!(got, (Some(1), Some(2)));
    });
}

#[test]
fn loom_rendezvous_two_senders_one_receiver() {
    loom::model(|| {
        let ch = Channel::<u32>::new();
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|v| {
                let tx = ch.clone();
                thread::spawn(move || block_on(tx.send(v)).unwrap())
            })
            .collect();
        let mut got = block_on(async { vec![ch.recv().await.unwrap(), ch.recv().await.unwrap()] });
        for s in senders {
            s.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
    });
}

#[test]
fn loom_close_races_send_and_recv() {
    loom::model(|| {
        let ch = Channel::<u32>::with_capacity(1);
        let tx = ch.clone();
        let closer = ch.clone();
        let sender = thread::spawn(move || block_on(tx.send(1)).is_ok());
        let close = thread::spawn(move || {
            closer.close();
        });
        let mut received = 0;
        while block_on(ch.recv()).is_some() {
            received += 1;
            if received > 1 {
                break;
            }
        }
        let sent = sender.join().unwrap();
        close.join().unwrap();
        assert_eq!(
            received,
            usize::from(sent),
            "a value arrives iff its send succeeded"
        );
    });
}

#[test]
fn loom_recv_dropped_while_a_sender_races() {
    loom::model(|| {
        let ch = Channel::<u32>::new();
        let mut r = Box::pin(ch.recv());
        assert!(poll_once(r.as_mut()).is_pending(), "parked");
        let tx = ch.clone();
        let t = thread::spawn(move || tx.try_send(7).is_ok());
        drop(r);
        let sent = t.join().unwrap();
        match ch.try_recv() {
            Ok(v) => {
                assert!(sent);
                assert_eq!(v, 7);
            }
            Err(TryRecvError::Empty) => assert!(!sent, "a handed value must be put back"),
            Err(e) => panic!("{e:?}"),
        }
    });
}

#[test]
fn loom_select_raced_by_two_peers() {
    loom::model(|| {
        let a = Channel::<u32>::new();
        let b = Channel::<u32>::new();
        let mut sel = Box::pin(async {
            weft::select! {
                v = a.recv() => v,
                v = b.recv() => v,
            }
        });
        assert!(poll_once(sel.as_mut()).is_pending(), "parked on both");
        let peers: Vec<_> = [(a.clone(), 1), (b.clone(), 2)]
            .into_iter()
            .map(|(ch, v)| thread::spawn(move || ch.try_send(v).is_ok()))
            .collect();
        let ok: Vec<bool> = peers.into_iter().map(|p| p.join().unwrap()).collect();
        assert_eq!(
            ok.iter().filter(|&&x| x).count(),
            1,
            "exactly one arm takes effect"
        );
        let got = block_on(sel);
        assert_eq!(got, Some(if ok[0] { 1 } else { 2 }));
    });
}

#[test]
fn loom_two_selects_pair_on_one_rendezvous_channel() {
    loom::model(|| {
        let ch = Channel::<u32>::new();
        let run = |ch: Channel<u32>, id: u32| {
            block_on(async move {
                weft::select! {
                    v = ch.recv() => v,
                    r = ch.send(id) => { r.unwrap(); None }
                }
            })
        };
        let other = {
            let ch = ch.clone();
            thread::spawn(move || run(ch, 2))
        };
        let mine = run(ch, 1);
        let theirs = other.join().unwrap();
        // One sent, the other received the sender's id.
        match (mine, theirs) {
            (Some(2), None) | (None, Some(1)) => {}
            other => panic!("no pairing: {other:?}"),
        }
    });
}

/// Three receivers park in order; the middle one leaves the FIFO on another thread while two
/// sends walk it. Each value reaches exactly one receiver, the FIFO keeps its order for those
/// that stay, and a value the leaving one had been handed is put back.
#[test]
fn loom_waiter_leaves_the_middle_of_the_fifo_while_senders_scan() {
    loom::model(|| {
        let ch = Channel::<u32>::new();
        let mut first = Box::pin(ch.recv());
        assert!(poll_once(first.as_mut()).is_pending());
        let (parked_tx, parked_rx) = loom::sync::mpsc::channel();
        let (go_tx, go_rx) = loom::sync::mpsc::channel::<()>();
        let t = {
            let ch = ch.clone();
            thread::spawn(move || {
                let mut r = Box::pin(ch.recv());
                assert!(poll_once(r.as_mut()).is_pending());
                parked_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                drop(r);
            })
        };
        parked_rx.recv().unwrap();
        let mut last = Box::pin(ch.recv());
        assert!(poll_once(last.as_mut()).is_pending());
        go_tx.send(()).unwrap();
        let sent: Vec<bool> = [1, 2].iter().map(|&v| ch.try_send(v).is_ok()).collect();
        t.join().unwrap();
        assert!(sent[0], "the first receiver is parked throughout");
        assert_eq!(
            poll_once(first.as_mut()),
            Poll::Ready(Some(1)),
            "oldest first"
        );
        // The second value went to the middle receiver (then put back) or to the last one.
        let mut rest = Vec::new();
        if let Poll::Ready(v) = poll_once(last.as_mut()) {
            rest.push(v.unwrap());
        }
        while let Ok(v) = ch.try_recv() {
            rest.push(v);
        }
        assert!(sent[1], "the last receiver is parked throughout");
        assert_eq!(
            rest,
            vec![2],
            "exactly once, put back if the middle one had it"
        );
    });
}

/// A stream handle whose `next()` parked and was dropped, raced by a sender while it is polled
/// again: the value reaches either the stream or a later `try_recv`, exactly once.
#[test]
fn loom_stream_next_given_up_while_a_sender_races() {
    loom::model(|| {
        let ch = Channel::<u32>::new();
        let mut rx = ch.receiver();
        {
            let mut next = futures_lite::StreamExt::next(&mut rx);
            assert!(poll_once(Pin::new(&mut next)).is_pending(), "parked");
        }
        let tx = ch.clone();
        let t = thread::spawn(move || tx.try_send(7).is_ok());
        let mut next = futures_lite::StreamExt::next(&mut rx);
        let by_stream = poll_once(Pin::new(&mut next));
        drop(next);
        let sent = t.join().unwrap();
        assert!(sent, "a waiting stream counts as a receiver");
        match by_stream {
            Poll::Ready(v) => {
                assert_eq!(v, Some(7));
                assert_eq!(ch.try_recv(), Err(TryRecvError::Empty), "received once");
            }
            Poll::Pending => assert_eq!(ch.try_recv(), Ok(7), "left in the channel"),
        }
    });
}
