//! TCP on weft: echo, many connections, refused connects, resets, cancelled reads, descriptor
//! leaks. Loopback only; every loop is bounded in count and time. Run once per I/O backend
//! (`WEFT_IO=uring` and `WEFT_IO=epoll`).

use std::time::Duration;
use weft::io::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};

/// Fails a test that would otherwise hang.
async fn bounded<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    weft::timeout(f, Duration::from_secs(secs))
        .await
        .expect("timed out")
}

#[weft::test]
async fn echo_one_message() {
    bounded(10, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            let (mut conn, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, conn.peer_addr().unwrap());
            let mut buf = Vec::new();
            conn.read_to_end(&mut buf).await.unwrap();
            conn.write_all(&buf).await.unwrap();
            conn.close().await.unwrap();
        });
        let mut client = TcpStream::connect(&addr).await.unwrap();
        client.write_all(b"hello, weft").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let reply = weft::io::read_to_string(&mut client).await.unwrap();
        assert_eq!(reply, "hello, weft");
        server.await;
    })
    .await;
}

/// 32 connections, each echoing 1 MB through `into_split` (reader and writer in two tasks).
#[weft::test]
async fn echo_1mb_on_32_connections_through_split_halves() {
    const CONNS: usize = 32;
    const SIZE: usize = 1 << 20;
    bounded(60, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            let mut handles = Vec::new();
            for _ in 0..CONNS {
                let (conn, _) = listener.accept().await.unwrap();
                handles.push(weft::spawn(async move {
                    let (mut r, mut w) = conn.into_split();
                    let copied = weft::io::copy(&mut r, &mut w).await.unwrap();
                    assert_eq!(copied, SIZE as u64);
                }));
            }
            weft::join(handles).await;
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                weft::spawn(async move {
                    let conn = TcpStream::connect(&addr).await.unwrap();
                    let (mut r, mut w) = conn.into_split();
                    let payload: Vec<u8> = (0..SIZE).map(|j| (i + j * 7) as u8).collect();
                    let expected = payload.clone();
                    let writer = weft::spawn(async move {
                        w.write_all(&payload).await.unwrap();
                        // Dropping the write half sends the end of the stream.
                    });
                    let mut got = Vec::with_capacity(SIZE);
                    r.read_to_end(&mut got).await.unwrap();
                    writer.await;
                    assert!(got == expected, "connection {i}: echo differs");
                })
            })
            .collect();
        weft::join(clients).await;
        server.await;
    })
    .await;
}

#[weft::test]
async fn a_thousand_concurrent_connections() {
    const CONNS: usize = 1000;
    bounded(60, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CONNS {
                let (conn, _) = listener.accept().await.unwrap();
                conns.push(weft::spawn(async move {
                    let mut conn = conn;
                    let mut b = [0u8; 8];
                    conn.read_exact(&mut b).await.unwrap();
                    conn.write_all(&b).await.unwrap();
                }));
            }
            weft::join(conns).await;
        });
        // Every client connects first and holds its connection open until all have answered.
        let mut streams = Vec::new();
        for _ in 0..CONNS {
            streams.push(TcpStream::connect(&addr).await.unwrap());
        }
        let checks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                weft::spawn(async move {
                    let msg = (i as u64).to_le_bytes();
                    s.write_all(&msg).await.unwrap();
                    let mut b = [0u8; 8];
                    s.read_exact(&mut b).await.unwrap();
                    assert_eq!(b, msg);
                    s
                })
            })
            .collect();
        let streams = weft::join(checks).await;
        assert_eq!(streams.len(), CONNS);
        server.await;
    })
    .await;
}

/// Reads that fill their buffer exactly, as `read_exact` of a fixed-size frame does: a read
/// that also drains the socket clears its readiness (the kernel says nothing is left), so the
/// next message and the end of the stream must still wake the reader.
#[weft::test(workers = 2)]
async fn reads_that_fill_their_buffer_exactly_still_see_what_comes_next() {
    bounded(20, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut frames = 0u32;
            let mut frame = [0u8; 512];
            loop {
                match conn.read(&mut frame).await.unwrap() {
                    0 => return frames,
                    n => {
                        assert_eq!(n, frame.len(), "a frame arrives whole, written at once");
                        assert!(frame.iter().all(|&b| b == frames as u8));
                        frames += 1;
                        conn.write_all(&[1]).await.unwrap();
                    }
                }
            }
        });
        let mut client = TcpStream::connect(&addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        let mut ack = [0u8; 1];
        for i in 0..200u32 {
            client.write_all(&[i as u8; 512]).await.unwrap();
            // The server answers each frame before the next is sent: every one of its reads
            // fills the buffer and finds the socket empty behind it.
            client.read_exact(&mut ack).await.unwrap();
            if i % 50 == 49 {
                weft::sleep(Duration::from_millis(5)).await;
            }
        }
        client.close().await.unwrap();
        assert_eq!(server.await, 200);
    })
    .await;
}

#[weft::test]
async fn a_refused_connect_is_an_error() {
    // Bind and drop to find a port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = bounded(10, TcpStream::connect(&addr)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[weft::test]
async fn host_names_resolve() {
    let listener = TcpListener::bind("localhost:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = weft::spawn(async move { listener.accept().await.map(|_| ()) });
    let conn = bounded(10, TcpStream::connect(&("localhost", port))).await;
    // localhost may resolve to ::1 first where the listener took 127.0.0.1: each address is
    // tried in turn, so one of them connects.
    conn.unwrap();
    bounded(10, accept).await.unwrap();
}

#[weft::test]
async fn a_peer_reset_mid_write_is_an_error() {
    bounded(20, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let s = std::net::TcpStream::connect(addr).unwrap();
            // Linger 0: closing sends a reset instead of a FIN.
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(s);
        });
        let (mut conn, _) = listener.accept().await.unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut result = Ok(());
        for _ in 0..10_000 {
            if let Err(e) = conn.write_all(&chunk).await {
                result = Err(e);
                break;
            }
        }
        peer.join().unwrap();
        let err = result.expect_err("writes to a reset peer fail");
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
    })
    .await;
}

/// A read timed out 50 times in a row loses nothing: the late data arrives intact.
#[weft::test]
async fn cancelled_reads_lose_no_byte() {
    bounded(20, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = weft::sync::oneshot::channel::<()>();
        let writer = weft::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            rx.await.unwrap();
            conn.write_all(b"late but whole").await.unwrap();
            conn.close().await.unwrap();
        });
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..50 {
            assert!(weft::timeout(conn.read(&mut buf), Duration::from_millis(2))
                .await
                .is_err());
        }
        tx.send(()).unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "late but whole");
        writer.await;
    })
    .await;
}

/// A read parked while its task ran on one worker, cancelled after the task moved.
#[weft::test(workers = 2)]
async fn a_read_cancelled_after_its_task_moved() {
    bounded(20, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move { listener.accept().await.unwrap().0 });
        let conn = TcpStream::connect(&addr).await.unwrap();
        let mut peer = server.await;
        let reader = weft::spawn(async move {
            let mut conn = conn;
            let mut buf = [0u8; 16];
            for round in 0..20 {
                // Each yield may move the task to the other worker between the two reads.
                let r = weft::timeout(conn.read(&mut buf), Duration::from_millis(1)).await;
                assert!(r.is_err(), "round {round}: nothing was sent yet");
                weft::yield_now().await;
                std::thread::sleep(Duration::from_millis(1));
            }
            let n = conn.read(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        weft::sleep(Duration::from_millis(100)).await;
        peer.write_all(b"moved").await.unwrap();
        assert_eq!(bounded(10, reader).await, b"moved");
    })
    .await;
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Set in the environment of a child run of this binary.
const CHILD: &str = "WEFT_NET_TEST_CHILD";

/// Runs test `name` alone in a child process of this binary (so descriptors other tests open
/// meanwhile do not count) and fails if it fails there.
fn in_child(name: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .status()
        .unwrap();
    assert!(status.success(), "the child run of {name} failed");
}

#[test]
fn no_descriptor_leaks_after_connect_close_cycles_and_aborted_readers() {
    const NAME: &str = "no_descriptor_leaks_after_connect_close_cycles_and_aborted_readers";
    if std::env::var(CHILD).as_deref() != Ok(NAME) {
        in_child(NAME);
        return;
    }
    let ex = weft::Executor::new(2);
    let before = open_fds();
    ex.block_on(bounded(120, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            for _ in 0..10_000 {
                let (conn, _) = listener.accept().await.unwrap();
                drop(conn);
            }
            listener
        });
        for _ in 0..10_000 {
            let conn = TcpStream::connect(&addr).await.unwrap();
            conn.close().await.unwrap();
        }
        let listener = server.await;
        // 100 readers parked on connections that never send, then aborted.
        let mut peers = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..100 {
            let mut conn = TcpStream::connect(&addr).await.unwrap();
            peers.push(listener.accept().await.unwrap().0);
            readers.push(weft::spawn(async move {
                let mut b = [0u8; 1];
                let _ = conn.read(&mut b).await;
            }));
        }
        weft::sleep(Duration::from_millis(50)).await;
        for r in &readers {
            r.abort();
        }
        for r in readers {
            assert!(r.catch().await.is_err(), "the reader was cancelled");
        }
    }));
    ex.shutdown();
    let after = open_fds();
    // Alone in its process; a little slack for the runtime's own (the global runtime's
    // drivers if something started it), far below the 10,100 this test opened.
    assert!(
        after <= before + 20,
        "descriptors before {before}, after {after}"
    );
}

/// `WEFT_IO` picks the backend the suite runs on; `Executor::io_backend` reports it.
#[test]
fn weft_io_selects_the_backend() {
    let ex = weft::Executor::new(1);
    match std::env::var("WEFT_IO").as_deref() {
        Ok("uring") => assert_eq!(ex.io_backend(), weft::runtime::IoBackend::Uring),
        Ok("epoll") => assert_eq!(ex.io_backend(), weft::runtime::IoBackend::Epoll),
        _ => assert_ne!(ex.io_backend(), weft::runtime::IoBackend::Auto),
    }
}

/// `read_owned` and `write_all_owned` carry 1 MB each way, on a worker (the ring's `RECV` and
/// `SEND` on io_uring) and from a `block_on` thread (the readiness path).
#[weft::test(workers = 2)]
async fn owned_buffer_reads_and_writes_round_trip() {
    bounded(20, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let server = weft::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let mut got = Vec::with_capacity(expected.len());
            let mut buf = Vec::with_capacity(16 * 1024);
            loop {
                buf.clear();
                let (n, b) = conn.read_owned(buf).await;
                buf = b;
                if n.unwrap() == 0 {
                    break;
                }
                got.extend_from_slice(&buf);
            }
            assert!(got == expected, "the server got other bytes");
            let (r, back) = conn.write_all_owned(got).await;
            r.unwrap();
            assert_eq!(back.len(), expected.len(), "the buffer comes back whole");
        });
        // On a worker too: the client runs in a task.
        let client = weft::spawn(async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            let (r, back) = conn.write_all_owned(payload).await;
            r.unwrap();
            conn.shutdown(std::net::Shutdown::Write).unwrap();
            let mut echo = Vec::new();
            conn.read_to_end(&mut echo).await.unwrap();
            assert!(echo == back, "the echo differs");
        });
        server.await;
        client.await;
    })
    .await;
    // Off the workers: `block_on` on this thread.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let conn = TcpStream::connect(addr).await.unwrap();
    let (r, _) = conn.write_all_owned(b"hello".to_vec()).await;
    r.unwrap();
    let mut buf = Vec::with_capacity(5);
    while buf.len() < 5 {
        let (n, b) = conn.read_owned(buf).await;
        buf = b;
        assert_ne!(n.unwrap(), 0, "early end of stream");
    }
    assert_eq!(buf, b"hello");
    peer.join().unwrap();
}

/// An owned read dropped after the kernel received into its buffer (on io_uring the `RECV` is
/// in flight while the task sleeps, and completes before the cancel reaches it): the bytes go
/// to the next read of the stream, in order.
#[weft::test(workers = 1)]
async fn a_dropped_owned_read_keeps_the_bytes_it_received() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    const ROUNDS: u8 = 20;
    let task = weft::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        for _ in 0..ROUNDS {
            let mut read = Box::pin(conn.read_owned(Vec::with_capacity(64)));
            assert!(
                futures_lite::future::poll_once(&mut read).await.is_none(),
                "nothing was sent yet"
            );
            // The peer sends while the receive is in flight; this thread then makes a syscall
            // (the sleep), which on io_uring runs the receive's completion.
            go.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            drop(read);
            let mut buf = [0u8; 64];
            let n = weft::timeout(conn.read(&mut buf), Duration::from_secs(10))
                .await
                .expect("the bytes were lost")
                .unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        for round in 0..ROUNDS {
            go_rx.recv().unwrap();
            client.write_all(&[round, round, round]).unwrap();
        }
        client
    });
    let got = weft::timeout(task, Duration::from_secs(30))
        .await
        .expect("timed out");
    let _client = sender.join().unwrap();
    let want: Vec<u8> = (0..ROUNDS).flat_map(|r| [r, r, r]).collect();
    assert_eq!(got, want);
}

/// A stream dropped while the worker whose driver holds it is stuck in one long poll: the
/// peer still sees the connection close. On io_uring an owned read in flight holds the file
/// open until its cancellation reaches the kernel, which must not wait for that worker.
/// `read_dropped_on_worker`: the read is dropped by the busy task itself before it starts
/// computing; else on the other thread, with the stream.
fn dropped_stream_closes_while_its_worker_is_busy(read_dropped_on_worker: bool) {
    use std::io::Read;
    use std::sync::Arc;
    // One worker, so no other worker takes the task or handles the driver's events.
    let ex = weft::Executor::new(1);
    let listener = ex.block_on(async { TcpListener::bind("127.0.0.1:0").unwrap() });
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut client, b"x").unwrap();
    type PendingRead = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    let (tx, rx) = std::sync::mpsc::channel::<(Arc<TcpStream>, Option<PendingRead>)>();
    let busy = ex.spawn(async move {
        // Accepted on this worker, so registered with its driver; the read has the driver
        // watch the socket, and its wake-up brings the task back to this worker.
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut byte = [0u8; 1];
        conn.read_exact(&mut byte).await.unwrap();
        let conn = Arc::new(conn);
        let reader = conn.clone();
        let mut read: PendingRead = Box::pin(async move {
            let _ = reader.read_owned(Vec::with_capacity(64)).await;
        });
        assert!(futures_lite::future::poll_once(&mut read).await.is_none());
        if read_dropped_on_worker {
            drop(read);
            tx.send((conn, None)).unwrap();
        } else {
            tx.send((conn, Some(read))).unwrap();
        }
        // Stuck in this poll, computing, for 3 s.
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            std::hint::spin_loop();
        }
    });
    let (conn, read) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let dropped_at = std::time::Instant::now();
    drop(read);
    drop(conn);
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(client.read(&mut buf).unwrap(), 0, "end of stream");
    assert!(
        dropped_at.elapsed() < Duration::from_millis(2500),
        "the peer saw the close only after the busy poll ended ({:?})",
        dropped_at.elapsed()
    );
    ex.block_on(busy);
}

#[test]
fn a_read_dropped_on_a_busy_worker_lets_its_stream_close() {
    dropped_stream_closes_while_its_worker_is_busy(true);
}

#[test]
fn a_read_and_stream_dropped_off_a_busy_worker_close() {
    dropped_stream_closes_while_its_worker_is_busy(false);
}

/// `into_std` after an owned read was dropped: the bytes weft received for it come back with
/// the std stream (on io_uring the receive may have completed before its cancellation), and
/// everything the peer sent is read exactly once, in order.
#[weft::test(workers = 1)]
async fn into_std_after_a_dropped_owned_read_keeps_every_byte() {
    // On a worker, so the owned read is a receive on its ring (on io_uring).
    weft::spawn(async {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        let mut read = Box::pin(conn.read_owned(Vec::with_capacity(64)));
        assert!(futures_lite::future::poll_once(&mut read).await.is_none());
        client.write_all(b"first").unwrap();
        // A syscall on this thread: on io_uring it runs the receive's completion.
        std::thread::sleep(Duration::from_millis(20));
        drop(read);
        let (mut std_conn, mut got) = match conn.into_std() {
            Ok(s) => (s, Vec::new()),
            Err(e) => {
                assert_eq!(e.pending(), b"first");
                e.into_parts()
            }
        };
        client.write_all(b" second").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        std_conn.set_nonblocking(false).unwrap();
        std_conn
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        std_conn.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"first second");
    })
    .await;
}

/// A short read clears the socket's readiness (the buffer was drained), so the next read waits
/// for the next edge: bytes that come later still wake it, and bytes that came in between the
/// read and the clear are not missed.
#[weft::test(workers = 2)]
async fn reads_after_a_short_read_still_see_later_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        for round in 0..50u8 {
            c.write_all(&[round; 3]).unwrap();
            if round % 2 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let (mut conn, _) = listener.accept().await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < 150 {
        let n = bounded(20, conn.read(&mut buf)).await.unwrap();
        assert!(n > 0, "the peer sends 150 bytes before closing");
        got.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    let want: Vec<u8> = (0..50u8).flat_map(|r| [r; 3]).collect();
    assert_eq!(got, want);
}

/// The peer sends bytes, one urgent (out-of-band) byte and more bytes, and keeps the
/// connection open. A read stops short at the urgent mark although the bytes after it are in
/// the socket: the next read must return them, not wait for an edge that never comes (a
/// short read may not clear the readiness then).
#[weft::test(workers = 2)]
async fn a_read_short_at_the_urgent_mark_does_not_hide_the_rest() {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_nodelay(true).unwrap();
        c.write_all(b"abc").unwrap();
        // SAFETY: a valid, connected socket and a one-byte buffer that outlives the call.
        let n = unsafe { libc::send(c.as_raw_fd(), b"X".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(n, 1);
        c.write_all(b"def").unwrap();
        // Open (no end-of-stream edge) until the reader is done.
        let _ = rx.recv_timeout(Duration::from_secs(20));
    });
    let (mut conn, _) = bounded(10, listener.accept()).await.unwrap();
    // Every byte arrives before the first read.
    weft::sleep(Duration::from_millis(100)).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < 6 {
        let n = bounded(5, conn.read(&mut buf)).await.unwrap();
        assert!(n > 0, "the peer keeps the connection open");
        got.extend_from_slice(&buf[..n]);
    }
    drop(tx);
    peer.join().unwrap();
    assert_eq!(got, b"abcdef");
}

/// An accepted socket comes out of `accept4` already non-blocking and close-on-exec, and
/// inherits the listener's `TCP_INQ` (no extra syscalls per connection, nothing lost).
#[weft::test]
async fn accepted_sockets_are_non_blocking_close_on_exec_and_report_what_is_left() {
    use std::os::fd::AsRawFd;
    bounded(10, async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(&addr).await.unwrap();
        let (mut conn, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let fd = conn.as_raw_fd();
        // SAFETY: fcntl and getsockopt on a descriptor this test owns, with a live out-value.
        let (status, fd_flags, inq) = unsafe {
            let mut inq: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            let rc = libc::getsockopt(
                fd,
                libc::SOL_TCP,
                libc::TCP_INQ,
                (&mut inq as *mut libc::c_int).cast(),
                &mut len,
            );
            assert_eq!(rc, 0);
            (
                libc::fcntl(fd, libc::F_GETFL),
                libc::fcntl(fd, libc::F_GETFD),
                inq,
            )
        };
        assert_ne!(status & libc::O_NONBLOCK, 0, "accepted socket is blocking");
        assert_ne!(
            fd_flags & libc::FD_CLOEXEC,
            0,
            "accepted socket survives exec"
        );
        assert_eq!(inq, 1, "accepted socket lacks TCP_INQ");
        // And it carries bytes both ways.
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        conn.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    })
    .await;
}

/// An accept loop that ignores errors (`if let Ok(..)`) spins on the executor's shut-down
/// error once shutdown begins while it runs; the error spends the cooperative budget, so the
/// loop yields and `shutdown` returns instead of waiting for that worker forever. Clients keep
/// connecting so that the loop is inside its poll when shutdown begins.
#[test]
fn shutdown_returns_while_an_accept_loop_ignores_its_errors() {
    for _ in 0..10 {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ex = weft::Executor::builder().workers(2).build().unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let _server = ex.spawn(async move {
                let l = TcpListener::from_std(listener).unwrap();
                loop {
                    if let Ok((s, _)) = l.accept().await {
                        drop(s);
                    }
                }
            });
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let clients: Vec<_> = (0..2)
                .map(|_| {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        let start = std::time::Instant::now();
                        while !stop.load(std::sync::atomic::Ordering::Relaxed)
                            && start.elapsed() < Duration::from_secs(10)
                        {
                            let _ = std::net::TcpStream::connect(addr);
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(100));
            ex.shutdown();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for c in clients {
                c.join().unwrap();
            }
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("shutdown hung behind an accept loop spinning on its error");
    }
}
