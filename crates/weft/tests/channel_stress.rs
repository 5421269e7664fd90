//! 8 producers x 8 consumers x 1,000,000 messages on each flavour: every message is received
//! exactly once.

use weft::{Channel, Executor};

const PRODUCERS: u64 = 8;
const CONSUMERS: usize = 8;
const MESSAGES: u64 = 1_000_000;

fn run(ch: Channel<u64>, ex: &Executor) {
    let per = MESSAGES / PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let ch = ch.clone();
            ex.spawn(async move {
                for i in 0..per {
                    ch.send(p * per + i).await.expect("open while producing");
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let ch = ch.clone();
            ex.spawn(async move {
                let mut got = Vec::with_capacity((MESSAGES as usize) / CONSUMERS);
                while let Some(v) = ch.recv().await {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    ex.block_on(async {
        for p in producers {
            p.await;
        }
    });
    ch.close();
    let mut seen = vec![false; MESSAGES as usize];
    let mut count = 0u64;
    for c in consumers {
        for v in c.join() {
            assert!(!seen[v as usize], "message {v} received twice");
            seen[v as usize] = true;
            count += 1;
        }
    }
    assert_eq!(count, MESSAGES, "every message received");
}

#[test]
fn stress_rendezvous() {
    run(Channel::new(), &Executor::new(2));
}

#[test]
fn stress_capacity_1() {
    run(Channel::with_capacity(1), &Executor::new(2));
}

#[test]
fn stress_capacity_1024() {
    run(Channel::with_capacity(1024), &Executor::new(2));
}

#[test]
fn stress_unbounded() {
    run(Channel::unbounded(), &Executor::new(2));
}
