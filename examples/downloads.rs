//! The guide's Example 2, concurrent downloads: each URL is fetched by a task of its own, all
//! at once; a failed download is reported and the others go on.
//!
//! `cargo run --example downloads`. It needs no network: it starts a local server with a few
//! files (and a missing one) and also asks a port where nothing listens.

use std::time::Duration;
use weft::http::{self, Body, Bytes, Request, Response, StatusCode};
use weft::net::TcpListener;
use weft::sync::Event;

async fn download(url: String) -> Result<Bytes, http::Error> {
    println!("Downloading {url}");
    let response = http::get(url.as_str()).await?.error_for_status()?;
    let data = response.bytes().await?;
    println!("Downloaded {url}: {} bytes", data.len());
    Ok(data)
}

async fn download_all(urls: Vec<String>) -> Vec<Bytes> {
    // Start all downloads.
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| weft::spawn(download(url)))
        .collect();
    // Wait for all.
    let mut results = Vec::new();
    for task in tasks {
        match task.await {
            Ok(data) => results.push(data),
            Err(e) => println!("Download failed: {e}"),
        }
    }
    results
}

/// The files to download: `/small`, `/large` (1 MiB, sent in chunks), `/slow`; a 404 for the rest.
async fn files(req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/small" => Response::new(Body::from("a small file")),
        "/large" => {
            let chunks = futures_lite::stream::iter((0..16).map(|_| vec![b'x'; 64 * 1024]));
            Response::new(Body::from_chunks(chunks))
        }
        "/slow" => {
            weft::sleep(Duration::from_millis(200)).await;
            Response::new(Body::from("worth the wait"))
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("no such file"))
            .expect("a valid response"),
    }
}

#[weft::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let done = std::sync::Arc::new(Event::new());
    let stop = done.clone();
    let server = weft::spawn(async move {
        http::serve(listener, files)
            .with_graceful_shutdown(async move { stop.wait().await })
            .await
    });

    // A port where nothing listens: bind one and let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let urls = vec![
        format!("http://{addr}/small"),
        format!("http://{addr}/large"),
        format!("http://{addr}/slow"),
        format!("http://{addr}/missing"),
        format!("http://{closed}/refused"),
    ];
    let n = urls.len();
    let results = download_all(urls).await;
    let total: usize = results.iter().map(Bytes::len).sum();
    println!(
        "{} of {n} downloads succeeded, {total} bytes in all",
        results.len()
    );

    done.set();
    server.await
}
