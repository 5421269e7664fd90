//! A small JSON API on `weft::http::serve`: a to-do list kept in memory, with graceful
//! shutdown on Ctrl-C (the guide's section 8.5 for a real server).
//!
//! - `GET /todos` lists them, `POST /todos` with `{"title": ".."}` adds one (201, the new
//!   item), `GET /todos/N` shows one (404 if there is none), anything else is a 404;
//! - a body that is not the JSON expected is a 400 with the reason, as JSON.
//!
//! `cargo run --example json_api` serves on a free port, runs its own client against it
//! (weft's `Client`), prints what it got and shuts down gracefully, so it exits by itself.
//! `cargo run --example json_api -- --serve` serves on 127.0.0.1:8080 until Ctrl-C: try
//! `curl -d '{"title":"milk"}' http://127.0.0.1:8080/todos`.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use weft::http::{self, Body, Method, Request, Response, StatusCode};
use weft::net::TcpListener;
use weft::sync::Event;

#[derive(Clone, Serialize, Deserialize, Debug)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

#[derive(Default)]
struct Store {
    todos: Vec<Todo>,
    next_id: u64,
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let mut response = Response::new(Body::json_of(value).unwrap_or_default());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

async fn handle(store: Arc<Mutex<Store>>, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/todos") => {
            let todos = store.lock().unwrap().todos.clone();
            json(StatusCode::OK, &todos)
        }
        (Method::POST, "/todos") => match req.into_body().json::<NewTodo>().await {
            Ok(new) => {
                let mut store = store.lock().unwrap();
                store.next_id += 1;
                let todo = Todo {
                    id: store.next_id,
                    title: new.title,
                    done: false,
                };
                store.todos.push(todo.clone());
                json(StatusCode::CREATED, &todo)
            }
            Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        (Method::GET, p) if p.starts_with("/todos/") => {
            let id = p["/todos/".len()..].parse::<u64>().ok();
            let found = id.and_then(|id| {
                let store = store.lock().unwrap();
                store.todos.iter().find(|t| t.id == id).cloned()
            });
            match found {
                Some(todo) => json(StatusCode::OK, &todo),
                None => error(StatusCode::NOT_FOUND, "no such to-do"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "no such route"),
    }
}

/// What a client of the API does: add two items, send one bad body, list, fetch one.
async fn demo(base: String) -> Result<(), http::Error> {
    let client = http::Client::new();
    for title in ["buy milk", "write the report"] {
        let todo: Todo = client
            .post(format!("{base}/todos"))
            .json(&serde_json::json!({ "title": title }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        println!("created {todo:?}");
    }
    let bad = client
        .post(format!("{base}/todos"))
        .body("not json")
        .send()
        .await?;
    println!("a bad body: {} {}", bad.status(), bad.text().await?);
    let all: Vec<Todo> = client
        .get(format!("{base}/todos"))
        .send()
        .await?
        .json()
        .await?;
    println!("all: {all:?}");
    let missing = client.get(format!("{base}/todos/99")).send().await?;
    println!("GET /todos/99: {}", missing.status());
    Ok(())
}

#[weft::main]
async fn main() -> std::io::Result<()> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let listener = if serve_forever {
        TcpListener::bind("127.0.0.1:8080")?
    } else {
        TcpListener::bind("127.0.0.1:0")?
    };
    let addr = listener.local_addr()?;
    println!("JSON API on http://{addr}/todos");

    // Shut down on Ctrl-C, or when the demo client is done.
    let stop = Arc::new(Event::new());
    let shutdown = {
        let stop = stop.clone();
        async move {
            weft::select! {
                _ = stop.wait() => {},
                _ = weft::signal::ctrl_c() => println!("Ctrl-C: finishing requests in flight"),
            }
        }
    };
    if !serve_forever {
        let stop = stop.clone();
        weft::spawn(async move {
            if let Err(e) = demo(format!("http://{addr}")).await {
                println!("the demo client failed: {e}");
            }
            stop.set();
        });
    }

    let store = Arc::new(Mutex::new(Store::default()));
    http::serve(listener, move |req| handle(store.clone(), req))
        .with_graceful_shutdown(shutdown)
        .await?;
    println!("Server stopped");
    Ok(())
}
