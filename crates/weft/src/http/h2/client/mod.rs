//! HTTP/2 connections of the client: the connection task, its streams and flow control.
//!
//! A connection is a task (`weft::spawn`) that owns the socket and drives every frame: it
//! reads and handles the server's frames, opens the streams requests asked for (in the
//! order of their ids, up to the server's `MAX_CONCURRENT_STREAMS`; the others wait), sends
//! their bodies within the server's windows, and writes. Requests talk to it through
//! [`Shared`], one mutex around the state both sides see: a request queues its head and body
//! there and wakes the task; the task files each response's head and data there and wakes
//! the request. Bodies are polled by the task only, outside the lock (a body stream may be
//! another response of this very connection).
//!
//! Flow control: the response data of a stream waits in its slot until its reader takes
//! it, and only then is the window given back (the stream's, and the connection's), so a
//! slow reader holds at most a stream window of data, and the connection at most its window.
//!
//! A request whose stream the server did not process (above the last stream id of its
//! GOAWAY, refused with REFUSED_STREAM, or never sent before the connection went away) ends
//! with [`Failure::Retry`], and its body comes back if none of it was sent.

//!
//! The files: `shared.rs` the state the task and its requests share (the pool's [`Handle`],
//! a request's [`StreamRef`]); `conn.rs` the task (opening streams, request bodies, the
//! windows readers give back, timeouts and the ending); `recv.rs` what the server's frames
//! do to streams (response heads, data, trailers, resets, GOAWAY). The frame loop itself is
//! shared with the server ([`super::endpoint`]).

#![forbid(unsafe_code)]

mod conn;
mod recv;
mod shared;

use self::conn::Conn;
pub(crate) use self::shared::{Handle, StreamRef};
use self::shared::{Inner, Shared};
pub(crate) use super::message::ResponseHead;
use crate::http::{Body, Error, HeaderMap, Method};
use crate::io::{AsyncRead, AsyncWrite};
use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Our receive window for the connection, raised to this by a WINDOW_UPDATE at the start.
const CONN_WINDOW: i64 = 8 << 20;

/// A response header list larger than this is refused (as on HTTP/1.1).
const MAX_HEADER_LIST: usize = 64 * 1024;

/// A response with more header fields than this is refused (as on HTTP/1.1).
const MAX_HEADERS: usize = 100;

/// Informational (1xx) heads skipped before the final one, at most.
const MAX_INFORMATIONAL: usize = 16;

/// The largest stream id.
const MAX_STREAM_ID: u32 = (1 << 31) - 1;

/// How a request on the connection ended without a response.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server did not process the request: it may go again on another connection. The
    /// body comes back if none of it was sent.
    Retry(Option<Body>),
    /// The request failed.
    Error(Error),
}

/// A request for the connection: its head (the `host` field, if any, is replaced by
/// `authority`) and body.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) scheme: &'static str,
    pub(crate) authority: String,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

/// The connection's own settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// A connection with no stream open for this long closes.
    pub(crate) idle_timeout: Option<Duration>,
}

/// Starts a connection on `io` (whose first bytes are ours to write: the preface goes first)
/// and its task; `keep` is dropped when the task ends (a permit of the pool's cap).
pub(crate) fn spawn<S>(io: S, cfg: Config, keep: Box<dyn Any + Send>) -> Handle
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            slots: BTreeMap::new(),
            queued: VecDeque::new(),
            todo: Vec::new(),
            conn_released: 0,
            conn_low: false,
            next_id: 1,
            accepting: true,
            closed: false,
            handles: 1,
            waker: None,
        }),
    });
    let mut conn = Conn::new(io, cfg, shared.clone());
    crate::spawn(async move {
        poll_fn(|cx| super::endpoint::Endpoint::poll(&mut conn, cx)).await;
        conn.close().await;
        conn.finish(true);
        drop(keep);
    });
    Handle { shared }
}
