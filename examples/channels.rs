//! The guide's channels, section by section: 4.1 (a producer and a consumer over an unbuffered
//! channel; closing it ends the consumer), 4.2 (a buffered channel takes sends nobody is
//! waiting for), 4.3 (`select!` over an `i32` channel and a `String` channel, and the function
//! form `weft::select` for channels of one type) and 4.4 (fan-out and fan-in). Run it with
//! `cargo run --example channels`.

use std::time::Duration;
use weft::channel::{SendError, TrySendError};
use weft::{sleep, spawn, Channel, JoinHandle};

/// 4.1 Sends 0..5, then closes the channel so the consumer knows nothing more is coming.
async fn producer(ch: Channel<i32>) {
    for i in 0..5 {
        if let Err(SendError(v)) = ch.send(i).await {
            println!("  channel closed, {v} not sent");
            return;
        }
        sleep(Duration::from_millis(5)).await;
    }
    ch.close();
}

/// 4.1 Prints every value until the channel is closed and drained (`recv` gives `None`).
async fn consumer(ch: Channel<i32>) {
    while let Some(value) = ch.recv().await {
        println!("  received: {value}");
    }
    println!("  channel closed, consumer done");
}

/// 4.4 One of several consumers sharing a channel: each value goes to exactly one of them.
async fn numbered_consumer(ch: Channel<i32>, id: u32) -> Vec<i32> {
    let mut got = Vec::new();
    while let Some(value) = ch.recv().await {
        got.push(value);
        // Simulate a little work so the other consumers get a turn.
        sleep(Duration::from_millis(2)).await;
    }
    println!("  consumer {id} got {got:?}");
    got
}

/// 4.4 One of several producers sharing a channel. It does not close the channel: the others
/// may still be sending.
async fn numbered_producer(ch: Channel<i32>, id: i32) {
    for k in 0..3 {
        if ch.send(id * 100 + k).await.is_err() {
            return;
        }
        sleep(Duration::from_millis(1)).await;
    }
    println!("  producer {id} done");
}

async fn basics() {
    println!("4.1 channel basics: producer -> consumer over an unbuffered channel");
    let ch = Channel::<i32>::new();
    let p = spawn(producer(ch.clone()));
    let c = spawn(consumer(ch));
    // Instead of the guide's `sleep(2.0)`, wait for both tasks to finish.
    p.await;
    c.await;
}

async fn buffered() {
    println!("4.2 buffered channels");
    let unbuffered = Channel::<i32>::new();
    match unbuffered.try_send(1) {
        Ok(()) => println!("  unbuffered: sent"),
        Err(TrySendError::Full(v)) => {
            println!("  unbuffered: no receiver waiting, so {v} cannot be sent without waiting")
        }
        Err(TrySendError::Closed(v)) => println!("  unbuffered: closed, {v} not sent"),
    }

    let ch = Channel::<String>::with_capacity(5);
    // These sends complete at once: the buffer has room, no receiver is needed.
    for msg in ["msg1", "msg2", "msg3"] {
        if ch.send(msg.to_owned()).await.is_err() {
            println!("  channel closed");
            return;
        }
    }
    println!(
        "  buffered: sent 3 messages with no receiver, {} buffered",
        ch.len()
    );
    let msg = ch.recv().await;
    println!("  received {msg:?}, {} still buffered", ch.len());
}

async fn select_demo() {
    println!("4.3 select over an Int channel and a String channel");
    let ints = Channel::<i32>::new();
    let words = Channel::<String>::new();
    let sender = spawn({
        let ints = ints.clone();
        let words = words.clone();
        async move {
            // Nothing closes these two channels, so the sends cannot fail.
            sleep(Duration::from_millis(5)).await;
            let _ = words.send("hello".to_owned()).await;
            sleep(Duration::from_millis(5)).await;
            let _ = ints.send(42).await;
        }
    });
    for _ in 0..2 {
        weft::select! {
            Some(value) = ints.recv() => println!("  Int: {value}"),
            Some(value) = words.recv() => println!("  String: {value}"),
            _ = sleep(Duration::from_secs(1)) => println!("  nothing within a second"),
        }
    }
    sender.await;

    // With a `default` arm, select does not wait: nothing is ready, so default is taken.
    weft::select! {
        Some(value) = ints.recv() => println!("  Int: {value}"),
        default => println!("  nothing ready, default arm taken"),
    }

    println!("    and the function form for channels of one type");
    let a = Channel::<i32>::with_capacity(3);
    let b = Channel::<i32>::with_capacity(3);
    let sender = spawn({
        let (a, b) = (a.clone(), b.clone());
        async move {
            // Only this task closes `a` and `b`, so the sends cannot fail.
            for i in 1..=3 {
                let _ = a.send(i).await;
                let _ = b.send(i * 10).await;
            }
            a.close();
            b.close();
        }
    });
    // `select` reports which channel answered. A closed channel is always ready (with
    // `None`), so it is dropped from the list once it has been drained.
    let mut open = vec![("a", &a), ("b", &b)];
    while !open.is_empty() {
        let channels: Vec<&Channel<i32>> = open.iter().map(|&(_, ch)| ch).collect();
        match weft::select(&channels).await {
            (i, Some(value)) => println!("  from {}: {value}", open[i].0),
            (i, None) => {
                println!("  {} is closed and drained", open[i].0);
                open.remove(i);
            }
        }
    }
    sender.await;
}

async fn fan_out() {
    println!("4.4 fan-out: one producer, three consumers");
    let ch = Channel::<i32>::new();
    let p = spawn({
        let ch = ch.clone();
        async move {
            for i in 0..9 {
                if ch.send(i).await.is_err() {
                    return;
                }
            }
            // The only producer is done: closing ends all three consumers.
            ch.close();
        }
    });
    let consumers: Vec<JoinHandle<Vec<i32>>> = (1..=3)
        .map(|id| spawn(numbered_consumer(ch.clone(), id)))
        .collect();
    p.await;
    let mut received = 0;
    for c in consumers {
        received += c.await.len();
    }
    println!("  {received} values received in all, each by exactly one consumer");
}

async fn fan_in() {
    println!("4.4 fan-in: three producers, one consumer");
    let ch = Channel::<i32>::new();
    let producers: Vec<JoinHandle<()>> = (1..=3)
        .map(|id| spawn(numbered_producer(ch.clone(), id)))
        .collect();
    // No single producer may close the channel; a task that waits for all of them does.
    let closer = spawn({
        let ch = ch.clone();
        async move {
            for p in producers {
                p.await;
            }
            ch.close();
            println!("  all producers done, channel closed");
        }
    });
    let mut got = Vec::new();
    while let Some(value) = ch.recv().await {
        got.push(value);
    }
    closer.await;
    println!("  consumer got {} values: {got:?}", got.len());
}

#[weft::main]
async fn main() {
    basics().await;
    buffered().await;
    select_demo().await;
    fan_out().await;
    fan_in().await;
}
