//! An echo server and its client over loopback TCP: the server echoes every connection
//! through `weft::io::copy` on the stream's split halves; the client sends lines and reads
//! them back. `cargo run --example echo`.

use std::io;
use weft::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use weft::net::{TcpListener, TcpStream};

async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (conn, peer) = listener.accept().await?;
        weft::spawn(async move {
            let (mut reader, mut writer) = conn.into_split();
            match weft::io::copy(&mut reader, &mut writer).await {
                Ok(n) => println!("server: {peer} sent {n} bytes, all echoed"),
                Err(e) => println!("server: {peer}: {e}"),
            }
        });
    }
}

#[weft::main]
async fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("echo server on {addr}");
    let server = weft::spawn(serve(listener));

    let clients: Vec<_> = (0..3)
        .map(|id| {
            weft::spawn(async move {
                let (reader, mut writer) = TcpStream::connect(&addr).await?.into_split();
                let mut reader = BufReader::new(reader);
                for n in 0..3 {
                    writer
                        .write_all(format!("client {id} line {n}\n").as_bytes())
                        .await?;
                    let mut echoed = String::new();
                    reader.read_line(&mut echoed).await?;
                    println!("client {id}: {}", echoed.trim_end());
                }
                io::Result::Ok(())
            })
        })
        .collect();
    for result in weft::join(clients).await {
        result?;
    }
    server.abort();
    Ok(())
}
