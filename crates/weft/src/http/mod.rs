//! HTTP servers and clients (HTTP/1.1 and HTTP/2) on weft (cargo feature `http`, on by default).
//!
//! The types are the [`http`](https://docs.rs/http) crate's, re-exported here; [`Body`] is the
//! body type of both sides.
//!
//! The protocol is weft's own code on top of `httparse` (the request and response heads) and
//! the `http` crate's types: hyper, the usual choice, depends on tokio, and weft depends on no
//! other runtime. Framing follows RFC 9112 strictly (see the `h1` module), so a message whose
//! length two parties could read differently is refused rather than guessed at.
//!
//! The server is [`serve`] (see the [`server`] module for what it does and a hello world);
//! with the `tls` feature (on by default) it serves HTTPS through rustls, re-exported as
//! [`rustls`](mod@rustls) for its configuration types.

#![forbid(unsafe_code)]

mod body;
pub mod client;
mod error;
pub(crate) mod h1;
pub(crate) mod h2;
pub mod server;
pub mod upgrade;

pub use body::Body;
pub use bytes::Bytes;
pub use client::{get, Client, ClientBuilder, RequestBuilder};
pub use error::Error;
pub use server::{serve, ConnectInfo, IntoResponse, Serve};

/// rustls, the TLS library of `weft::http` (cargo feature `tls`): its `ServerConfig` is what
/// [`Serve::tls`] takes.
#[cfg(feature = "tls")]
pub use futures_rustls::rustls;
pub use http::{
    header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
