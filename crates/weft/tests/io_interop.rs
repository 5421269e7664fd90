//! Code written against the `futures-io` traits runs on weft's streams unchanged.

use futures_util::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use futures_util::StreamExt;
use std::time::Duration;
use weft::net::{TcpListener, TcpStream};

/// A line protocol through futures' `BufReader::lines()` on a weft stream.
#[weft::test]
async fn futures_bufreader_lines_over_tcp() {
    let run = async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (r, mut w) = conn.into_split();
            let mut lines = BufReader::new(r).lines();
            let mut n = 0;
            while let Some(line) = lines.next().await {
                let line = line.unwrap();
                w.write_all(format!("{}:{}\n", n, line.len()).as_bytes())
                    .await
                    .unwrap();
                n += 1;
            }
            n
        });
        let conn = TcpStream::connect(&addr).await.unwrap();
        let (r, mut w) = conn.into_split();
        let writer = weft::spawn(async move {
            for i in 0..100 {
                w.write_all(format!("{}\n", "x".repeat(i)).as_bytes())
                    .await
                    .unwrap();
            }
        });
        let replies: Vec<String> = BufReader::new(r)
            .lines()
            .map(|l| l.unwrap())
            .collect()
            .await;
        writer.await;
        assert_eq!(server.await, 100);
        assert_eq!(replies.len(), 100);
        for (i, r) in replies.iter().enumerate() {
            assert_eq!(r, &format!("{i}:{i}"));
        }
    };
    weft::timeout(run, Duration::from_secs(20))
        .await
        .expect("timed out");
}
