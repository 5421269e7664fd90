//! HTTP/1.1 servers and clients on weft (cargo feature `http`, on by default).
//!
//! The types are the [`http`](https://docs.rs/http) crate's, re-exported here; [`Body`] is the
//! body type of both sides.
//!
//! The protocol is weft's own code on top of `httparse` (the request and response heads) and
//! the `http` crate's types: hyper, the usual choice, depends on tokio, and weft depends on no
//! other runtime. Framing follows RFC 9112 strictly (see the `h1` module), so a message whose
//! length two parties could read differently is refused rather than guessed at.

#![forbid(unsafe_code)]

mod body;
pub mod client;
mod error;
#[allow(dead_code)] // the request side is the server's
pub(crate) mod h1;

pub use body::Body;
pub use client::{get, Client, ClientBuilder, RequestBuilder};
pub use error::Error;
pub use http::{
    header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
