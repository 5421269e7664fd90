//! The guide's Example 3, producer-consumer: one producer puts 20 values into a buffered
//! channel of capacity 5 and two consumers take them out, simulating work for each (more
//! slowly than values come in, so the buffer fills and the producer has to wait). The
//! producer closes the channel when it is done; each consumer stops once the channel is closed
//! and drained, and `main` waits for them rather than sleeping. Run it with
//! `cargo run --example producer_consumer`.

use std::time::Duration;
use weft::channel::SendError;
use weft::{sleep, spawn, Channel, JoinHandle};

async fn producer(ch: Channel<i32>, n: i32) {
    for i in 0..n {
        // Waits only while the buffer is full (5 values the consumers have not taken yet).
        if let Err(SendError(v)) = ch.send(i).await {
            println!("Channel closed, {v} not sent");
            return;
        }
        println!("Produced {i} ({} buffered)", ch.len());
        sleep(Duration::from_millis(1)).await;
    }
    ch.close();
    println!("Producer done, channel closed");
}

/// Returns how many values this consumer handled.
async fn consumer(ch: Channel<i32>, id: u32) -> usize {
    let mut handled = 0;
    while let Some(value) = ch.recv().await {
        println!("Consumer {id} got {value}");
        handled += 1;
        // Simulate work: slower than the producer, so the buffer fills up.
        sleep(Duration::from_millis(3)).await;
    }
    println!("Consumer {id} done");
    handled
}

#[weft::main]
async fn main() {
    let ch = Channel::<i32>::with_capacity(5);

    let producer = spawn(producer(ch.clone(), 20));
    let consumers: Vec<JoinHandle<usize>> =
        (1..=2).map(|id| spawn(consumer(ch.clone(), id))).collect();

    // Wait for everyone instead of the guide's `sleep(3.0)`: the consumers finish once the
    // producer has closed the channel and they have drained it.
    producer.await;
    for (id, c) in (1..).zip(consumers) {
        println!("Consumer {id} handled {} values", c.await);
    }
}
