//! HTTP/2 (RFC 9113): frames, HPACK (RFC 7541), and the connection of each end.
//!
//! - `frame`, `hpack` (with `huffman`), `message`: the wire format, and header blocks to and
//!   from requests and responses.
//! - `link`: what a connection holds whichever end it is (socket, buffers, HPACK coders,
//!   connection windows, the peer's settings); `endpoint`: the frame loop both ends run
//!   over it (SETTINGS, PING, WINDOW_UPDATE, GOAWAY, RST_STREAM checks, header blocks, DATA
//!   rounds), through the `Endpoint` and `StreamFrames` traits each end implements.
//! - `server`: the server's end (streams the client opens, handlers, responses); `client`:
//!   the client's (streams it opens for requests, the queue past the server's limit, GOAWAY
//!   retries).
//!
//! All of it is weft's own: the frame layer and the HPACK coder are small, and the usual
//! crates for them come with a tokio dependency (h2) or are unmaintained (hpack).

#![forbid(unsafe_code)]

pub(crate) mod client;
mod endpoint;
mod frame;
mod hpack;
mod huffman;
mod link;
mod message;
mod server;

pub(crate) use server::serve;

/// What an HTTP/2 client sends first (RFC 9113 section 3.4), before its SETTINGS.
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The preface's first line: a connection that starts with it is HTTP/2 (its rest is
/// checked by the HTTP/2 side, which answers a wrong one with GOAWAY).
pub(crate) const PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0\r\n";
