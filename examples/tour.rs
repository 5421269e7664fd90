//! A walk through the guide with weft, section by section. Run it with
//! `cargo run --example tour`.
//!
//! The channel sections (4.1-4.4, 5.5) are brief here; `cargo run --example channels`,
//! `--example pipeline` and `--example producer_consumer` show them in full; I/O has
//! `--example echo`; HTTP has `--example http_server` (the guide's Example 1),
//! `--example downloads` (Example 2), `--example fetch_json` (Example 5) and
//! `--example json_api`. The tour's own HTTP stop starts a local server and asks it.

use std::time::{Duration, Instant};
use weft::{sleep, spawn, timeout, Channel, Executor, JoinError, JoinHandle, TimeoutError};

// 2.1 Async functions: an `async fn` returns a future; `?` works as usual.
async fn fetch_data(id: u32) -> Result<String, String> {
    weft::yield_now().await;
    if id == 0 {
        return Err("no such record".to_owned());
    }
    Ok(format!("record {id}"))
}

// 3.1 Futures are lazy: this prints only when the future is spawned or awaited.
async fn compute() -> i32 {
    println!("  compute() is running now");
    sleep(Duration::from_millis(10)).await;
    42
}

// 3.2 Spawning tasks.
async fn worker(id: u32) -> u32 {
    println!("  worker {id} starting");
    sleep(Duration::from_millis(10 * u64::from(id))).await;
    println!("  worker {id} done");
    id
}

// 7.3 I/O multiplexing: the accept loop spawns a task per connection; while a connection
// waits for bytes its task is parked and the worker runs others.
async fn handle_client(mut conn: weft::net::TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 64];
    let n = weft::io::AsyncReadExt::read(&mut conn, &mut buf).await?;
    weft::io::write_all(&mut conn, &buf[..n]).await?;
    conn.close().await
}

async fn io_multiplexing() -> std::io::Result<()> {
    let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = spawn(async move {
        for _ in 0..3 {
            let (conn, _addr) = listener.accept().await?;
            spawn(handle_client(conn)); // non-blocking
        }
        std::io::Result::Ok(())
    });
    for i in 0..3 {
        let mut conn = weft::net::TcpStream::connect(&addr).await?;
        weft::io::write_all(&mut conn, format!("hello {i}")).await?;
        let reply = weft::io::read_to_string(&mut conn).await?;
        println!("  connection {i} echoed {reply:?}");
    }
    server.await
}

// Examples 1 and 5 in small: a local HTTP server on `weft::http::serve`, asked by weft's
// client (`weft::http::get`), JSON in and out, then a graceful shutdown.
async fn http_round_trip() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use weft::http::{Body, Request, Response};
    let listener = weft::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = std::sync::Arc::new(weft::sync::Event::new());
    let server = {
        let stop = stop.clone();
        spawn(async move {
            weft::http::serve(listener, |req: Request<Body>| async move {
                let greeting = serde_json::json!({ "hello": req.uri().path() });
                Response::new(Body::from(greeting.to_string()))
            })
            .with_graceful_shutdown(async move { stop.wait().await })
            .await
        })
    };
    let response = weft::http::get(format!("http://{addr}/world")).await?;
    println!("  GET /world -> {}", response.status());
    let data: serde_json::Value = response.json().await?;
    println!("  JSON: {data}");
    stop.set();
    server.await?;
    println!("  server shut down gracefully");
    Ok(())
}

#[weft::main]
async fn main() {
    println!("2.2 await expressions");
    let a = fetch_data(1).await;
    let b = fetch_data(0).await;
    println!("  results: {a:?}, {b:?}");

    println!("3.1 futures are lazy");
    let future = compute();
    println!("  future created, nothing ran yet");
    let handle = spawn(future);
    println!("  result: {}", handle.await);

    println!("3.2 spawning tasks");
    let t1 = spawn(worker(1));
    let t2 = spawn(worker(2));
    let t3 = spawn(worker(3));
    let sum = t1.await + t2.await + t3.await;
    println!("  all workers done (ids sum to {sum})");

    println!("3.3 task handles: do other work while a task runs");
    let handle = spawn(async { (1..=10_000u64).sum::<u64>() });
    println!("  doing other work...");
    println!("  result: {}", handle.await);

    println!("3.4 joining many tasks");
    let handles: Vec<JoinHandle<String>> = (1..=3)
        .map(|i| spawn(async move { fetch_data(i).await.unwrap_or_default() }))
        .collect();
    for result in weft::join(handles).await {
        println!("  {result}");
    }

    println!("4.1 channels: a producer task sends, then closes; the consumer stops at None");
    let ch = Channel::<i32>::new();
    let producer = spawn({
        let ch = ch.clone();
        async move {
            for i in 0..3 {
                if ch.send(i).await.is_err() {
                    return;
                }
            }
            ch.close();
        }
    });
    while let Some(value) = ch.recv().await {
        println!("  received: {value}");
    }
    producer.await;
    println!("  channel closed");

    println!("4.2 buffered channels: sends complete without a receiver while there is room");
    let ch = Channel::<String>::with_capacity(5);
    for msg in ["msg1", "msg2", "msg3"] {
        if ch.send(msg.to_owned()).await.is_err() {
            break; // Only if the channel were closed.
        }
    }
    println!("  {} buffered, first out: {:?}", ch.len(), ch.recv().await);

    println!("4.3 select: whichever channel is ready first");
    let ints = Channel::<i32>::with_capacity(1);
    let words = Channel::<String>::with_capacity(1);
    let _ = words.send("hello".to_owned()).await; // Open with room: cannot fail or wait.
    weft::select! {
        Some(value) = ints.recv() => println!("  Int: {value}"),
        Some(value) = words.recv() => println!("  String: {value}"),
    }
    let (a, b) = (
        Channel::<i32>::with_capacity(1),
        Channel::<i32>::with_capacity(1),
    );
    let _ = b.send(7).await; // Likewise.
    let (index, value) = weft::select(&[&a, &b]).await;
    println!("  function form: channel {index} gave {value:?}");

    println!("4.4 fan-out: one producer, three consumers");
    let ch = Channel::<i32>::new();
    let consumers: Vec<JoinHandle<usize>> = (0..3)
        .map(|_| {
            let ch = ch.clone();
            spawn(async move {
                let mut count = 0;
                while ch.recv().await.is_some() {
                    count += 1;
                    weft::yield_now().await;
                }
                count
            })
        })
        .collect();
    for i in 0..9 {
        if ch.send(i).await.is_err() {
            break;
        }
    }
    ch.close();
    let mut counts = Vec::new();
    for c in consumers {
        counts.push(c.await);
    }
    println!("  values per consumer: {counts:?}");

    println!("    fan-in: three producers, one consumer");
    let ch = Channel::<i32>::new();
    let producers: Vec<JoinHandle<()>> = (1..=3)
        .map(|id| {
            let ch = ch.clone();
            spawn(async move {
                for k in 0..3 {
                    if ch.send(id * 10 + k).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let closer = spawn({
        let ch = ch.clone();
        async move {
            for p in producers {
                p.await;
            }
            ch.close();
        }
    });
    let mut got = Vec::new();
    while let Some(value) = ch.recv().await {
        got.push(value);
    }
    closer.await;
    got.sort_unstable();
    println!("  consumer got (sorted): {got:?}");

    println!("5.5 pipeline: fetch -> process -> store, each stage closing its output");
    let (ch1, ch2) = (Channel::<String>::new(), Channel::<String>::new());
    let fetch = spawn({
        let ch1 = ch1.clone();
        async move {
            for url in ["a", "b", "c"] {
                sleep(Duration::from_millis(2)).await; // Simulated fetch.
                if ch1.send(format!("page {url}")).await.is_err() {
                    break;
                }
            }
            ch1.close();
        }
    });
    let process = spawn({
        let (ch1, ch2) = (ch1.clone(), ch2.clone());
        async move {
            while let Some(data) = ch1.recv().await {
                if ch2.send(data.to_uppercase()).await.is_err() {
                    break;
                }
            }
            ch2.close();
        }
    });
    let store = spawn({
        let ch2 = ch2.clone();
        async move {
            let mut stored = Vec::new();
            while let Some(data) = ch2.recv().await {
                stored.push(data);
            }
            stored
        }
    });
    println!("  stored: {:?}", store.await);
    fetch.await;
    process.await;

    println!("5.1 parallel execution: several types at once with join!");
    let (a, b) = weft::join!(fetch_data(1), fetch_data(2));
    println!("  {a:?} and {b:?}");

    println!("5.2 race: the first to finish wins, the other is cancelled");
    let primary = Box::pin(async {
        sleep(Duration::from_millis(50)).await;
        "primary server"
    });
    let backup = Box::pin(async {
        sleep(Duration::from_millis(5)).await;
        "backup server"
    });
    let servers: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = &str> + Send>>> =
        vec![primary, backup];
    match weft::race(servers).await {
        (0, result) => println!("  primary: {result}"),
        (_, result) => println!("  backup: {result}"),
    }

    println!("5.4 retry: try again with a backoff");
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let result = weft::retry(5, || async {
        let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n < 3 {
            Err(format!("attempt {n} failed"))
        } else {
            Ok(format!("attempt {n} succeeded"))
        }
    })
    .backoff(weft::Backoff::fixed(Duration::from_millis(5)))
    .await;
    println!("  {result:?}");

    println!("5.3 timeout: a slow operation is cancelled");
    match timeout(sleep(Duration::from_secs(5)), Duration::from_millis(20)).await {
        Ok(()) => println!("  finished"),
        Err(TimeoutError) => println!("  timed out after 20 ms"),
    }

    println!("6.1 async result types: `?` propagates errors");
    async fn fallible_operation(id: u32) -> Result<String, String> {
        let data = fetch_data(id).await?;
        if data.is_empty() {
            return Err("empty record".to_owned());
        }
        Ok(data.to_uppercase())
    }
    println!("6.2 handle them with match");
    for id in [1, 0] {
        match fallible_operation(id).await {
            Ok(data) => println!("  success: {data}"),
            Err(error) => println!("  error: {error}"),
        }
    }

    println!("6.3 a panic in a task is caught, not fatal");
    let handle = spawn(async {
        if fetch_data(0).await.is_err() {
            panic!("could not fetch");
        }
    });
    match handle.catch().await {
        Err(JoinError::Panicked(msg)) => println!("  caught: {msg}"),
        other => println!("  unexpected: {other:?}"),
    }

    println!("    and abort cancels a task");
    let handle = spawn(std::future::pending::<()>());
    handle.abort();
    println!("  aborted task: {:?}", handle.catch().await);

    println!("7.1 work stealing: 100,000 tasks on every core");
    let start = Instant::now();
    let handles: Vec<_> = (0..100_000u64)
        .map(|i| spawn(async move { i % 7 }))
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await;
    }
    println!("  sum {total} in {:?}", start.elapsed());

    println!("7.3 I/O multiplexing: a listener, a task per connection, nothing blocks");
    io_multiplexing().await.expect("loopback I/O works");

    println!("8.3 structured concurrency: scope waits for every task it spawned");
    weft::scope(|s| async move {
        s.spawn(async { sleep(Duration::from_millis(10)).await });
        s.spawn(async { sleep(Duration::from_millis(5)).await });
    })
    .await;
    println!("  both tasks finished before scope returned");

    println!("Examples 1 and 5: an HTTP server and client, with JSON");
    if let Err(e) = http_round_trip().await {
        println!("  HTTP failed: {e}");
    }

    println!("8.5 graceful shutdown: an Event and select!");
    let shutdown = std::sync::Arc::new(weft::sync::Event::new());
    let jobs = weft::Channel::<u32>::with_capacity(4);
    let server = {
        let (shutdown, jobs) = (shutdown.clone(), jobs.clone());
        spawn(async move {
            let mut handled = 0;
            loop {
                weft::select! {
                    Some(_) = jobs.recv() => handled += 1,
                    _ = shutdown.wait() => break,
                }
            }
            handled
        })
    };
    for j in 0..3 {
        jobs.send(j).await.ok();
    }
    sleep(Duration::from_millis(5)).await;
    shutdown.set();
    println!("  server stopped after {} jobs", server.await);

    println!("Example 4: rate limiting with a token bucket");
    let limiter = weft::sync::RateLimiter::new(100.0);
    let start = Instant::now();
    for _ in 0..5 {
        limiter.acquire().await;
    }
    println!("  5 requests at 100/s took {:?}", start.elapsed());

    println!("8.1 blocking work goes to the blocking pool");
    let n = weft::spawn_blocking(|| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        7
    })
    .await;
    println!("  blocking result: {n}");

    // 7.2 An executor you size and shut down (from sync code; see `executor_demo`).
    weft::spawn_blocking(executor_demo).await;
}

fn executor_demo() {
    println!("7.2 an executor you size and shut down");
    let executor = Executor::new(4);
    let handle = executor.spawn(async { worker(4).await * 10 });
    println!("  result: {}", handle.join());
    executor.shutdown();
    println!("  executor shut down");
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use weft::time::Instant;

    const MIN: u64 = 60;
    const HOUR: u64 = 3600;

    /// A day of sleeps, intervals and timeouts on a paused clock: it takes well under a second
    /// of real time, and the events come in the order (and at the times) real time would give.
    #[weft::test(start_paused = true)]
    async fn a_paused_day_runs_in_order_in_under_a_second() {
        let real = std::time::Instant::now();
        let start = Instant::now();
        let log = Arc::new(Mutex::new(Vec::<(&'static str, u64)>::new()));
        let note = {
            let log = log.clone();
            move |what: &'static str| {
                let at = Instant::now().duration_since(start).as_secs();
                log.lock().unwrap().push((what, at));
            }
        };
        let tasks = vec![
            weft::spawn({
                let note = note.clone();
                async move {
                    weft::sleep(Duration::from_secs(6 * HOUR)).await;
                    note("sleep 6h");
                    weft::sleep(Duration::from_secs(30 * MIN)).await;
                    note("sleep 6h30");
                }
            }),
            weft::spawn({
                let note = note.clone();
                async move {
                    let mut every = weft::time::interval(Duration::from_secs(5 * HOUR));
                    for label in ["tick 0h", "tick 5h", "tick 10h", "tick 15h", "tick 20h"] {
                        every.tick().await;
                        note(label);
                    }
                }
            }),
            weft::spawn({
                let note = note.clone();
                async move {
                    let slow = weft::sleep(Duration::from_secs(10 * HOUR));
                    assert!(weft::timeout(slow, Duration::from_secs(3 * HOUR))
                        .await
                        .is_err());
                    note("timeout 3h");
                    let quick = weft::sleep(Duration::from_secs(MIN));
                    let in_time = weft::timeout(quick, Duration::from_secs(2 * HOUR)).await;
                    assert!(in_time.is_ok());
                    note("in time 3h01");
                }
            }),
            weft::spawn({
                let note = note.clone();
                async move {
                    weft::sleep_until(start + Duration::from_secs(24 * HOUR)).await;
                    note("until 24h");
                }
            }),
        ];
        weft::join(tasks).await;
        let log = log.lock().unwrap().clone();
        let expected = [
            ("tick 0h", 0),
            ("timeout 3h", 3 * HOUR),
            ("in time 3h01", 3 * HOUR + MIN),
            ("tick 5h", 5 * HOUR),
            ("sleep 6h", 6 * HOUR),
            ("sleep 6h30", 6 * HOUR + 30 * MIN),
            ("tick 10h", 10 * HOUR),
            ("tick 15h", 15 * HOUR),
            ("tick 20h", 20 * HOUR),
            ("until 24h", 24 * HOUR),
        ];
        assert_eq!(log, expected);
        assert!(
            real.elapsed() < Duration::from_secs(1),
            "a paused day took {:?}",
            real.elapsed()
        );
    }
}
