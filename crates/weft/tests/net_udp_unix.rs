//! UDP and Unix-domain round trips, on whichever backend `WEFT_IO` picks.

use std::time::Duration;
use weft::io::{AsyncReadExt, AsyncWriteExt};
use weft::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    weft::timeout(f, Duration::from_secs(20))
        .await
        .expect("timed out")
}

#[weft::test]
async fn udp_round_trips() {
    bounded(async {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let echo = weft::spawn(async move {
            let mut buf = [0u8; 1500];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], &from).await.unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(&addr).await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), addr);
        let mut buf = [0u8; 1500];
        for i in 0..100u32 {
            let msg = i.to_le_bytes();
            client.send(&msg).await.unwrap();
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &msg);
        }
        echo.await;
    })
    .await;
}

#[weft::test]
async fn udp_recv_waits_for_a_datagram() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 8];
    assert!(
        weft::timeout(a.recv_from(&mut buf), Duration::from_millis(20))
            .await
            .is_err(),
        "nothing was sent"
    );
    b.send_to(b"late", &a.local_addr().unwrap()).await.unwrap();
    let (n, from) = bounded(a.recv_from(&mut buf)).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"late"[..], b.local_addr().unwrap()));
}

fn socket_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("sock")
}

#[weft::test]
async fn unix_round_trips() {
    let path = socket_path("unix-round-trip");
    bounded(async {
        let listener = UnixListener::bind(&path).unwrap();
        let server = weft::spawn(async move {
            for _ in 0..10 {
                let (mut conn, _) = listener.accept().await.unwrap();
                weft::spawn(async move {
                    let mut s = String::new();
                    conn.read_to_string(&mut s).await.unwrap();
                    conn.write_all(s.to_uppercase().as_bytes()).await.unwrap();
                });
            }
        });
        for i in 0..10 {
            let mut conn = UnixStream::connect(&path).await.unwrap();
            conn.write_all(format!("hello {i}").as_bytes())
                .await
                .unwrap();
            conn.shutdown(std::net::Shutdown::Write).unwrap();
            let mut s = String::new();
            conn.read_to_string(&mut s).await.unwrap();
            assert_eq!(s, format!("HELLO {i}"));
        }
        server.await;
    })
    .await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[weft::test]
async fn unix_connect_to_nothing_is_an_error() {
    let path = socket_path("unix-nothing");
    assert!(bounded(UnixStream::connect(&path)).await.is_err());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[weft::test]
async fn unix_pair() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.write_all(b"x").await.unwrap();
    let mut buf = [0u8; 1];
    bounded(b.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"x");
}

#[weft::test]
async fn unix_datagrams_round_trip_by_path_and_by_connection() {
    bounded(async {
        let server_path = socket_path("dgram-server");
        let client_path = socket_path("dgram-client");
        let server = UnixDatagram::bind(&server_path).unwrap();
        let echo = weft::spawn(async move {
            let mut buf = [0u8; 256];
            for _ in 0..50 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                let to = from.as_pathname().expect("the client is bound").to_owned();
                server.send_to(&buf[..n], &to).await.unwrap();
            }
        });
        let client = UnixDatagram::bind(&client_path).unwrap();
        client.connect(&server_path).unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(server_path.as_path())
        );
        let mut buf = [0u8; 256];
        for i in 0..50u32 {
            let msg = i.to_le_bytes();
            client.send(&msg).await.unwrap();
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &msg);
        }
        echo.await;
        let _ = std::fs::remove_dir_all(server_path.parent().unwrap());
        let _ = std::fs::remove_dir_all(client_path.parent().unwrap());
    })
    .await;
}

/// A receive waits for its datagram, and one dropped before any arrives takes none.
#[weft::test]
async fn a_cancelled_unix_datagram_receive_takes_nothing() {
    let (a, b) = UnixDatagram::pair().unwrap();
    let mut buf = [0u8; 8];
    assert!(
        weft::timeout(a.recv(&mut buf), Duration::from_millis(20))
            .await
            .is_err(),
        "nothing was sent"
    );
    b.send(b"one").await.unwrap();
    b.send(b"two").await.unwrap();
    let n = bounded(a.recv(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"one");
    let n = bounded(a.recv(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"two");
    let unbound = UnixDatagram::unbound().unwrap();
    assert!(unbound.send(b"x").await.is_err(), "no peer");
}

/// Owned reads and writes on a Unix stream, and an owned read dropped after it received
/// (on io_uring, from a worker, a `RECV` on the ring): its bytes come out of the next read.
#[weft::test(workers = 1)]
async fn unix_owned_reads_keep_the_bytes_of_a_dropped_read() {
    weft::spawn(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, _) = a.write_all_owned(b"hello".to_vec()).await;
        r.unwrap();
        let (n, buf) = b.read_owned(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"hello");
        let mut read = Box::pin(b.read_owned(Vec::with_capacity(16)));
        assert!(futures_lite::future::poll_once(&mut read).await.is_none());
        (&a).write_all(b"kept").await.unwrap();
        // A syscall on this thread: on io_uring it runs the receive's completion.
        std::thread::sleep(Duration::from_millis(20));
        drop(read);
        let mut got = [0u8; 4];
        bounded((&b).read_exact(&mut got)).await.unwrap();
        assert_eq!(&got, b"kept");
    })
    .await;
}
