//! The guide's Example 5, an async HTTP client: fetch JSON documents from many URLs at once,
//! check each status, parse each body, and report what failed.
//!
//! `cargo run --example fetch_json`. It needs no network: it starts a local JSON server with
//! a few documents, one broken one and one missing.

use weft::http::{self, Body, Request, Response, StatusCode};
use weft::net::TcpListener;
use weft::sync::Event;

async fn fetch_json(url: String) -> Result<serde_json::Value, String> {
    let response = http::get(url.as_str()).await.map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("HTTP {} for {url}", response.status()));
    }
    let data = response.json().await.map_err(|e| e.to_string())?;
    Ok(data)
}

async fn fetch_multiple(urls: Vec<String>) {
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| weft::spawn(fetch_json(url)))
        .collect();
    for task in tasks {
        match task.await {
            Ok(data) => println!("Success: {data}"),
            Err(error) => println!("Error: {error}"),
        }
    }
}

/// `/users/N` for N in 1..=3 is a JSON document; `/users/broken` is not JSON; the rest are 404s.
async fn api(req: Request<Body>) -> Response<Body> {
    let path = req.uri().path();
    let id = path.strip_prefix("/users/").unwrap_or("");
    match id {
        "broken" => Response::new(Body::from("{\"id\": ")),
        "1" | "2" | "3" => {
            let doc = serde_json::json!({ "id": id.parse::<u32>().unwrap_or(0), "name": format!("user {id}") });
            let mut response = Response::new(Body::from(doc.to_string()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
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
        http::serve(listener, api)
            .with_graceful_shutdown(async move { stop.wait().await })
            .await
    });

    let urls = ["1", "2", "3", "broken", "404"]
        .iter()
        .map(|id| format!("http://{addr}/users/{id}"))
        .collect();
    fetch_multiple(urls).await;

    done.set();
    server.await
}
