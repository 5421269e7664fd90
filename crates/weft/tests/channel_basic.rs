//! Channel API: flavours, try_*, close, errors handing values back, len/capacity, halves,
//! streams, cancellation of send and recv futures.

use futures_lite::StreamExt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use weft::channel::{self, SendError, TryRecvError, TrySendError};
use weft::{Channel, Executor};

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn capacity_and_len() {
    assert_eq!(Channel::<u8>::new().capacity(), Some(0));
    assert_eq!(Channel::<u8>::with_capacity(0).capacity(), Some(0));
    assert_eq!(Channel::<u8>::with_capacity(3).capacity(), Some(3));
    assert_eq!(Channel::<u8>::unbounded().capacity(), None);
    let ch = Channel::with_capacity(3);
    assert!(ch.is_empty());
    ch.try_send(1).unwrap();
    ch.try_send(2).unwrap();
    assert_eq!(ch.len(), 2);
    assert!(!ch.is_empty());
}

#[test]
fn buffered_fifo_and_full() {
    let ch = Channel::with_capacity(2);
    ch.try_send(1).unwrap();
    ch.try_send(2).unwrap();
    assert_eq!(ch.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(ch.try_recv(), Ok(1));
    assert_eq!(ch.try_recv(), Ok(2));
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn unbuffered_try_send_needs_a_parked_receiver() {
    let ch = Channel::<u32>::new();
    assert_eq!(ch.try_send(1), Err(TrySendError::Full(1)));
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    let mut r = Box::pin(ch.recv());
    assert!(poll_once(r.as_mut()).is_pending(), "receiver parks");
    ch.try_send(5).unwrap();
    assert_eq!(ch.len(), 0, "a rendezvous never buffers");
    assert_eq!(poll_once(r.as_mut()), Poll::Ready(Some(5)));
}

#[test]
fn unbuffered_try_recv_needs_a_parked_sender() {
    let ch = Channel::<u32>::new();
    let mut s = Box::pin(ch.send(9));
    assert!(poll_once(s.as_mut()).is_pending());
    assert_eq!(ch.try_recv(), Ok(9));
    assert_eq!(poll_once(s.as_mut()), Poll::Ready(Ok(())));
}

#[test]
fn unbuffered_send_completes_only_when_taken() {
    let ex = Executor::new(2);
    ex.block_on(async {
        let ch = Channel::<u32>::new();
        let mut s = pin!(ch.send(1));
        // Nobody receives: the send cannot complete.
        let waited = weft::timeout(s.as_mut(), std::time::Duration::from_millis(20)).await;
        assert!(waited.is_err(), "a rendezvous send waits for a receiver");
        let ch2 = ch.clone();
        let r = weft::spawn(async move { ch2.recv().await });
        s.await.unwrap();
        assert_eq!(r.await, Some(1));
    });
}

#[test]
fn close_drains_then_none_and_returns_values() {
    let ch = Channel::with_capacity(4);
    ch.try_send("a").unwrap();
    ch.try_send("b").unwrap();
    assert!(ch.close());
    assert!(!ch.close(), "second close reports false");
    assert!(ch.is_closed());
    assert_eq!(ch.try_send("c"), Err(TrySendError::Closed("c")));
    assert_eq!(weft::block_on(ch.send("d")), Err(SendError("d")));
    assert_eq!(ch.try_recv(), Ok("a"));
    assert_eq!(weft::block_on(ch.recv()), Some("b"));
    assert_eq!(weft::block_on(ch.recv()), None);
    assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn close_hands_parked_senders_their_values_and_wakes_receivers() {
    let ch = Channel::<String>::new();
    let mut s = Box::pin(ch.send("kept".to_owned()));
    assert!(poll_once(s.as_mut()).is_pending());
    ch.close();
    match poll_once(s.as_mut()) {
        Poll::Ready(Err(SendError(v))) => assert_eq!(v, "kept"),
        other => panic!("unexpected {other:?}"),
    }
    let ch = Channel::<u8>::new();
    let mut r = Box::pin(ch.recv());
    assert!(poll_once(r.as_mut()).is_pending());
    ch.close();
    assert_eq!(poll_once(r.as_mut()), Poll::Ready(None));
}

#[test]
fn errors_are_debug_and_display_without_t_debug() {
    struct Opaque;
    let e = SendError(Opaque);
    assert_eq!(format!("{e:?}"), "SendError(..)");
    assert_eq!(e.to_string(), "sending on a closed channel");
    let e = TrySendError::Full(Opaque);
    assert!(e.is_full());
    assert_eq!(format!("{e:?} {e}"), "Full(..) sending on a full channel");
    assert_eq!(
        TryRecvError::Closed.to_string(),
        "receiving on a closed channel"
    );
}

#[test]
fn dropped_send_future_sends_nothing() {
    let ch = Channel::<u32>::new();
    let mut s = Box::pin(ch.send(1));
    assert!(poll_once(s.as_mut()).is_pending());
    drop(s);
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn dropped_recv_future_after_hand_off_reoffers_the_value() {
    let ch = Channel::<u32>::new();
    let mut a = Box::pin(ch.recv());
    let mut b = Box::pin(ch.recv());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    ch.try_send(7).unwrap(); // handed to `a`, the longest waiting
    drop(a); // never collected: goes to `b`, next in line
    assert_eq!(poll_once(b.as_mut()), Poll::Ready(Some(7)));
}

#[test]
fn dropped_recv_future_with_no_one_waiting_puts_value_first_in_line() {
    let ch = Channel::<u32>::with_capacity(2);
    let mut a = Box::pin(ch.recv());
    assert!(poll_once(a.as_mut()).is_pending());
    ch.try_send(1).unwrap(); // handed to `a`
    ch.try_send(2).unwrap(); // buffered
    drop(a);
    assert_eq!(ch.try_recv(), Ok(1), "the re-offered value comes first");
    assert_eq!(ch.try_recv(), Ok(2));
}

#[test]
fn idle_recv_future_does_not_strand_other_receivers() {
    // `a` is polled once and then left idle (not dropped, not polled). FIFO hands it the first
    // value; it keeps it for its owner. Later values go to the receiver that is waiting.
    let ex = Executor::new(2);
    let ch = Channel::<u32>::new();
    let mut a = Box::pin(ch.recv());
    assert!(poll_once(a.as_mut()).is_pending());
    let ch2 = ch.clone();
    let b = ex.spawn(async move { ch2.recv().await });
    std::thread::sleep(std::time::Duration::from_millis(20));
    ch.try_send(1).ok();
    ex.block_on(async {
        let ch3 = ch.clone();
        weft::spawn(async move { ch3.send(2).await.unwrap() }).await;
    });
    assert_eq!(b.join(), Some(2), "the active receiver is served");
    assert_eq!(
        poll_once(a.as_mut()),
        Poll::Ready(Some(1)),
        "the idle one kept its value"
    );
}

#[test]
fn last_handle_dropped_closes_halves() {
    let (tx, rx) = channel::bounded::<u8>(1);
    let tx2 = tx.clone();
    drop(tx);
    assert!(!rx.is_closed());
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (tx, rx) = channel::unbounded::<u8>();
    drop(rx);
    assert_eq!(
        tx.try_send(1),
        Err(TrySendError::Closed(1)),
        "no receiver left"
    );

    let ch = Channel::<u8>::with_capacity(1);
    let tx = ch.sender();
    drop(ch);
    assert!(tx.is_closed(), "no receiving handle is left");

    let ch = Channel::<u8>::with_capacity(1);
    let rx = ch.receiver();
    ch.try_send(4).unwrap();
    drop(ch);
    assert!(rx.is_closed(), "no sending handle is left");
    assert_eq!(rx.try_recv(), Ok(4), "buffered values stay receivable");
}

#[test]
fn stream_of_values() {
    let ex = Executor::new(2);
    let got: Vec<u32> = ex.block_on(async {
        let ch = Channel::with_capacity(4);
        let tx = ch.sender();
        weft::spawn(async move {
            for i in 0..10 {
                tx.send(i).await.unwrap();
            }
        });
        let rx = ch.receiver();
        drop(ch);
        rx.collect().await
    });
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn unbounded_never_waits() {
    let ch = Channel::unbounded();
    for i in 0..10_000 {
        ch.try_send(i).unwrap();
    }
    assert_eq!(ch.len(), 10_000);
    assert_eq!(ch.try_recv(), Ok(0));
}

#[test]
fn producer_consumer_many_to_many() {
    let ex = Executor::new(2);
    for cap in [0usize, 1, 16] {
        let ch = Channel::<u64>::with_capacity(cap);
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let ch = ch.clone();
                ex.spawn(async move {
                    for i in 0..1_000u64 {
                        ch.send(p * 1_000_000 + i).await.unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let ch = ch.clone();
                ex.spawn(async move {
                    let mut got = Vec::new();
                    while let Some(v) = ch.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.join();
        }
        ch.close();
        let mut all: Vec<u64> = consumers.into_iter().flat_map(|c| c.join()).collect();
        all.sort_unstable();
        let mut expect: Vec<u64> = (0..4u64)
            .flat_map(|p| (0..1_000).map(move |i| p * 1_000_000 + i))
            .collect();
        expect.sort_unstable();
        assert_eq!(all, expect, "capacity {cap}: every value exactly once");
    }
}

#[test]
fn closed_channel_is_not_drained_while_a_handed_value_may_come_back() {
    let ch = Channel::<u32>::new();
    let mut r1 = Box::pin(ch.recv());
    assert!(poll_once(r1.as_mut()).is_pending());
    ch.try_send(5).unwrap(); // handed to r1, not yet collected
    ch.close();
    // r1 may still be dropped and give 5 back: nobody may be told "closed and drained" yet.
    assert_eq!(ch.try_recv(), Err(TryRecvError::Empty));
    let mut r2 = Box::pin(ch.recv());
    assert!(poll_once(r2.as_mut()).is_pending());
    drop(r1);
    assert_eq!(
        poll_once(r2.as_mut()),
        Poll::Ready(Some(5)),
        "the value went on to r2"
    );
    assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(weft::block_on(ch.recv()), None);

    // And when the holder collects it, parked receivers are released with None.
    let ch = Channel::<u32>::new();
    let mut r1 = Box::pin(ch.recv());
    assert!(poll_once(r1.as_mut()).is_pending());
    ch.try_send(6).unwrap();
    ch.close();
    let mut r2 = Box::pin(ch.recv());
    assert!(poll_once(r2.as_mut()).is_pending());
    assert_eq!(poll_once(r1.as_mut()), Poll::Ready(Some(6)));
    assert_eq!(poll_once(r2.as_mut()), Poll::Ready(None));
}

fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}

/// A deadline no healthy run comes near: only a lost value makes a receive wait this long.
const HANG: std::time::Duration = std::time::Duration::from_secs(5);

/// The ways a `next()` on a stream handle can be given up after it parked.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    Timeout,
    LosesSelect,
    LosesRace,
}

async fn give_up<S: futures_lite::Stream<Item = u32> + Unpin>(rx: &mut S, how: GiveUp) {
    match how {
        GiveUp::Timeout => {
            assert!(
                weft::timeout(rx.next(), ms(20)).await.is_err(),
                "nothing sent yet"
            );
        }
        GiveUp::LosesSelect => weft::select! {
            v = rx.next() => panic!("nothing sent yet, got {v:?}"),
            _ = weft::sleep(ms(10)) => {},
        },
        GiveUp::LosesRace => {
            type Arm<'a> = std::pin::Pin<Box<dyn Future<Output = Option<u32>> + 'a>>;
            let next: Arm<'_> = Box::pin(rx.next());
            let sleep: Arm<'_> = Box::pin(async {
                weft::sleep(ms(10)).await;
                None
            });
            assert_eq!(weft::race(vec![next, sleep]).await, (1, None));
        }
    }
}

/// The ways a value can be taken after the stream gave up.
#[derive(Debug, Clone, Copy)]
enum Take {
    Recv,
    TryRecv,
    CloseDrain,
}

fn flavours() -> [Channel<u32>; 4] {
    [
        Channel::new(),
        Channel::with_capacity(1),
        Channel::with_capacity(4),
        Channel::unbounded(),
    ]
}

#[test]
fn stream_next_given_up_leaves_values_to_other_receivers() {
    for how in [GiveUp::Timeout, GiveUp::LosesSelect, GiveUp::LosesRace] {
        for take in [Take::Recv, Take::TryRecv, Take::CloseDrain] {
            for (i, ch) in flavours().into_iter().enumerate() {
                let what = format!("{how:?}, then {take:?}, capacity {:?}", ch.capacity());
                weft::block_on(async {
                    // A `Channel` handle and a `Receiver` half both keep a waiter as a stream.
                    let mut as_channel = ch.clone();
                    let mut as_receiver = ch.receiver();
                    if i % 2 == 0 {
                        give_up(&mut as_channel, how).await;
                    } else {
                        give_up(&mut as_receiver, how).await;
                    }
                    // The stream's handle still counts as a parked receiver: even a rendezvous
                    // takes the value.
                    ch.try_send(7).unwrap_or_else(|e| panic!("{what}: {e:?}"));
                    match take {
                        Take::Recv => {
                            assert_eq!(weft::timeout(ch.recv(), HANG).await, Ok(Some(7)), "{what}")
                        }
                        Take::TryRecv => assert_eq!(ch.try_recv(), Ok(7), "{what}"),
                        Take::CloseDrain => {
                            ch.close();
                            assert_eq!(weft::timeout(ch.recv(), HANG).await, Ok(Some(7)), "{what}");
                            assert_eq!(weft::timeout(ch.recv(), HANG).await, Ok(None), "{what}");
                        }
                    }
                    // Taken once: neither stream sees it again.
                    if ch.is_closed() {
                        assert_eq!(as_channel.next().await, None, "{what}");
                        assert_eq!(as_receiver.next().await, None, "{what}");
                    } else {
                        assert!(
                            weft::timeout(as_channel.next(), ms(20)).await.is_err(),
                            "{what}"
                        );
                        assert!(
                            weft::timeout(as_receiver.next(), ms(20)).await.is_err(),
                            "{what}"
                        );
                        assert_eq!(ch.try_recv(), Err(TryRecvError::Empty), "{what}");
                    }
                });
            }
        }
    }
}

#[test]
fn stream_next_given_up_keeps_values_in_order() {
    weft::block_on(async {
        let ch = Channel::<u32>::with_capacity(4);
        let mut rx = ch.receiver();
        give_up(&mut rx, GiveUp::Timeout).await;
        for v in 1..=3 {
            ch.try_send(v).unwrap();
        }
        assert_eq!(ch.recv().await, Some(1));
        assert_eq!(weft::timeout(rx.next(), HANG).await, Ok(Some(2)));
        assert_eq!(ch.try_recv(), Ok(3));
        give_up(&mut rx, GiveUp::LosesSelect).await;
        ch.try_send(4).unwrap();
        ch.try_send(5).unwrap();
        ch.close();
        assert_eq!(weft::timeout(rx.next(), HANG).await, Ok(Some(4)));
        assert_eq!(weft::timeout(ch.recv(), HANG).await, Ok(Some(5)));
        assert_eq!(weft::timeout(rx.next(), HANG).await, Ok(None));
        assert_eq!(ch.try_recv(), Err(TryRecvError::Closed));
    });
}

/// One producer, one consumer that keeps giving up on `next()` (timeouts, lost selects and
/// races) between its receives: every value arrives once, in order.
#[test]
fn stream_next_given_up_under_load_loses_nothing() {
    const N: u32 = 2_000;
    let ex = Executor::new(2);
    for ch in flavours() {
        let cap = ch.capacity();
        let producer = {
            let tx = ch.sender();
            ex.spawn(async move {
                for v in 0..N {
                    tx.send(v).await.unwrap();
                }
            })
        };
        let mut rx = ch.receiver();
        let got = ex.block_on(async {
            weft::timeout(
                async {
                    let mut got = Vec::new();
                    let mut round = 0u32;
                    while got.len() < N as usize {
                        round += 1;
                        let v = match round % 5 {
                            0 => weft::timeout(rx.next(), ms(1)).await.ok().flatten(),
                            1 => weft::select! {
                                v = rx.next() => v,
                                _ = weft::yield_now() => None,
                            },
                            2 => ch.try_recv().ok(),
                            3 => {
                                type Arm<'a> =
                                    std::pin::Pin<Box<dyn Future<Output = Option<u32>> + 'a>>;
                                let next: Arm<'_> = Box::pin(rx.next());
                                let other: Arm<'_> = Box::pin(async {
                                    weft::yield_now().await;
                                    None
                                });
                                weft::race(vec![other, next]).await.1
                            }
                            _ => ch.recv().await,
                        };
                        got.extend(v);
                    }
                    got
                },
                std::time::Duration::from_secs(30),
            )
            .await
            .expect("the consumer got every value")
        });
        producer.join();
        let first_wrong = got.iter().zip(0..N).position(|(&v, i)| v != i);
        assert_eq!(
            first_wrong, None,
            "capacity {cap:?}: out of order at this index"
        );
        assert_eq!(got.len(), N as usize, "capacity {cap:?}");
        assert_eq!(ch.try_recv(), Err(TryRecvError::Empty), "capacity {cap:?}");
    }
}

/// A waiting stream is woken, not served: a receive parked behind a stream whose `next()` was
/// given up is handed the value, and so is another stream that is still waiting.
#[test]
fn a_waiting_stream_strands_no_receiver_behind_it() {
    weft::block_on(async {
        for ch in flavours() {
            let cap = ch.capacity();
            let mut abandoned = ch.receiver();
            give_up(&mut abandoned, GiveUp::Timeout).await;
            let mut r = Box::pin(ch.recv());
            assert!(poll_once(r.as_mut()).is_pending());
            ch.try_send(1).unwrap();
            assert_eq!(
                poll_once(r.as_mut()),
                Poll::Ready(Some(1)),
                "capacity {cap:?}"
            );

            give_up(&mut abandoned, GiveUp::LosesSelect).await;
            let mut live = ch.receiver();
            let mut next = live.next();
            assert!(poll_once(std::pin::Pin::new(&mut next)).is_pending());
            ch.try_send(2).unwrap();
            assert_eq!(
                poll_once(std::pin::Pin::new(&mut next)),
                Poll::Ready(Some(2)),
                "capacity {cap:?}"
            );
            assert_eq!(ch.try_recv(), Err(TryRecvError::Empty), "capacity {cap:?}");
        }
    });
}

/// A value handed to a receive that is dropped comes back first in line, also to a full
/// buffer; `len` still never exceeds the capacity (as in Go), and the buffer has no room until
/// that value is out.
#[test]
fn len_stays_within_capacity_when_a_handed_value_comes_back() {
    let ch = Channel::<u32>::with_capacity(1);
    let mut r = Box::pin(ch.recv());
    assert!(poll_once(r.as_mut()).is_pending());
    ch.try_send(1).unwrap(); // handed to `r`
    ch.try_send(2).unwrap(); // buffered: full
    let mut s = Box::pin(ch.send(3));
    assert!(poll_once(s.as_mut()).is_pending(), "full: the sender parks");
    assert_eq!(ch.len(), 1);
    drop(r); // 1 comes back to a full buffer
    assert_eq!(ch.len(), 1, "at most the capacity");
    assert!(!ch.is_empty());
    assert_eq!(ch.try_send(4), Err(TrySendError::Full(4)), "still no room");
    assert_eq!(ch.try_recv(), Ok(1), "the given-back value first");
    assert_eq!(ch.len(), 1);
    assert!(poll_once(s.as_mut()).is_pending(), "no room for 3 yet");
    assert_eq!(ch.try_recv(), Ok(2));
    assert_eq!(
        poll_once(s.as_mut()),
        Poll::Ready(Ok(())),
        "3 moved into the buffer"
    );
    assert_eq!(ch.len(), 1);
    assert_eq!(ch.try_recv(), Ok(3));
    assert!(ch.is_empty());

    // Unbuffered: len is always 0, even with a value given back or handed off for a stream.
    let ch = Channel::<u32>::new();
    let mut r = Box::pin(ch.recv());
    assert!(poll_once(r.as_mut()).is_pending());
    ch.try_send(1).unwrap();
    drop(r);
    assert_eq!(ch.len(), 0);
    assert!(ch.is_empty());
    assert_eq!(ch.try_recv(), Ok(1));
    let mut rx = ch.receiver();
    let mut next = rx.next();
    assert!(poll_once(std::pin::Pin::new(&mut next)).is_pending());
    ch.try_send(2).unwrap();
    assert_eq!(ch.len(), 0);
    assert_eq!(
        ch.try_send(3),
        Err(TrySendError::Full(3)),
        "no receiver is waiting now"
    );
    assert_eq!(
        poll_once(std::pin::Pin::new(&mut next)),
        Poll::Ready(Some(2))
    );
}

/// A value sent while only a stream handle waits is handed off to it, as to a parked receive:
/// it takes no slot of the buffer (as in Go, the receiver has it), though it waits in the
/// channel for the stream's next poll, or any receive.
#[test]
fn a_value_handed_off_to_a_waiting_stream_takes_no_slot() {
    let ch = Channel::<u32>::with_capacity(1);
    let mut rx = ch.receiver();
    let mut next = rx.next();
    assert!(poll_once(std::pin::Pin::new(&mut next)).is_pending());
    ch.try_send(1).unwrap(); // handed off for the stream
    assert_eq!(ch.len(), 0);
    ch.try_send(2).unwrap(); // the buffer's one slot
    assert_eq!(ch.len(), 1);
    assert_eq!(ch.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(
        poll_once(std::pin::Pin::new(&mut next)),
        Poll::Ready(Some(1))
    );
    assert_eq!(ch.try_recv(), Ok(2));
    assert!(ch.is_empty());
}
