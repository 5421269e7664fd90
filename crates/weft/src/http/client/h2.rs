//! A request over HTTP/2: its stream on a shared connection (`http/h2/client.rs`), the
//! response head, and the body that streams the stream's data.

#![forbid(unsafe_code)]

use super::conn::with_deadline;
use super::Response;
use crate::http::body::Chunks;
use crate::http::h2::client::{Failure, Handle, Request, StreamRef};
use crate::http::{Body, Error, HeaderMap, Method, StatusCode, Uri, Version};
use crate::time::Instant;
use bytes::Bytes;
use futures_core::Stream;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Sends `req` on `conn` and waits for the response's head. Dropped before it, the stream
/// is reset.
pub(crate) async fn exchange(
    conn: &Handle,
    req: Request,
    url: &Uri,
    deadline: Option<Instant>,
) -> Result<Response, Failure> {
    let head_only = req.method == Method::HEAD;
    let mut stream = conn.send(req).map_err(|body| Failure::Retry(Some(body)))?;
    let (head, more) = poll_fn(|cx| stream.poll_head(cx))
        .await
        .map_err(|f| match f {
            Failure::Error(e) => Failure::Error(e.with_url(url)),
            retry => retry,
        })?;
    let bodiless = head_only
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED;
    let body = if !more {
        drop(stream);
        Body::empty()
    } else {
        let len = if bodiless {
            Some(0)
        } else {
            head.content_length
        };
        Body::streaming(
            with_deadline(Box::pin(Data { stream }), deadline, url.clone()),
            len,
        )
    };
    Ok(Response::new(
        head.status,
        Version::HTTP_2,
        head.headers,
        url.clone(),
        body,
    ))
}

/// The response data of a stream, as a body's chunks, and its trailers at the end; dropped
/// before the end, it resets the stream.
struct Data {
    stream: StreamRef,
}

impl Stream for Data {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().stream.poll_data(cx)
    }
}

impl Chunks for Data {
    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        self.get_mut().stream.take_trailers()
    }
}
