//! The guide's pipeline pattern (5.5): three stages, fetch -> process -> store, each a task
//! joined to the next by a channel. Each stage closes its output channel once its input is
//! closed and drained, so the end of the input flows down the pipeline and every stage
//! finishes. Run it with `cargo run --example pipeline`.

use std::time::Duration;
use weft::{sleep, spawn, Channel};

/// Stands in for downloading `url`.
async fn fetch(url: &str) -> String {
    sleep(Duration::from_millis(3)).await;
    format!("<page {url}>")
}

/// Stands in for some processing of fetched data.
async fn process(data: String) -> String {
    sleep(Duration::from_millis(2)).await;
    data.to_uppercase()
}

/// Stands in for writing to a database; returns what was stored.
async fn store(data: String) -> String {
    sleep(Duration::from_millis(1)).await;
    println!("  store:   {data}");
    data
}

#[weft::main]
async fn main() {
    let urls = [
        "example.com/a",
        "example.com/b",
        "example.com/c",
        "example.com/d",
    ];
    let ch1 = Channel::<String>::new();
    let ch2 = Channel::<String>::new();

    // Stage 1: Fetch.
    let fetcher = spawn({
        let ch1 = ch1.clone();
        async move {
            for url in urls {
                let data = fetch(url).await;
                println!("  fetch:   {data}");
                // A send fails only if the next stage closed the channel: stop fetching then.
                if ch1.send(data).await.is_err() {
                    break;
                }
            }
            ch1.close();
        }
    });

    // Stage 2: Process.
    let processor = spawn({
        let (ch1, ch2) = (ch1.clone(), ch2.clone());
        async move {
            while let Some(data) = ch1.recv().await {
                let processed = process(data).await;
                println!("  process: {processed}");
                if ch2.send(processed).await.is_err() {
                    break;
                }
            }
            ch2.close();
        }
    });

    // Stage 3: Store. The guide closes a third channel here that nothing reads; this stage
    // hands back what it stored through its join handle instead.
    let storer = spawn({
        let ch2 = ch2.clone();
        async move {
            let mut stored = Vec::new();
            while let Some(data) = ch2.recv().await {
                stored.push(store(data).await);
            }
            stored
        }
    });

    let stored = storer.await;
    // The last stage finished, so the earlier ones have closed their channels; join them too.
    fetcher.await;
    processor.await;
    println!("pipeline done, {} items stored:", stored.len());
    for item in &stored {
        println!("  {item}");
    }
}
