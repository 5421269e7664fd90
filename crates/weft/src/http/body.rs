//! `Body`: the body of a request or a response, on the server and in the client.

#![forbid(unsafe_code)]

use super::{Error, HeaderMap};
use crate::sync::oneshot;
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A body's stream of chunks, and the trailers that came after them.
pub(crate) trait Chunks: Stream<Item = Result<Bytes, Error>> + Send {
    /// The trailers that followed the last chunk, taken out once the stream has ended (an
    /// HTTP/2 response's, which come in a HEADERS frame of their own); `None` for most.
    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        None
    }
}

pub(crate) type ChunkStream = Pin<Box<dyn Chunks>>;

type TrailersFuture = Pin<Box<dyn Future<Output = Option<HeaderMap>> + Send>>;

/// The body of a request or a response: bytes in memory, or a stream of chunks (a body being
/// received, or one a handler produces as it goes).
///
/// Build one from `&str`, `String`, `Vec<u8>`, `&'static [u8]` or [`Bytes`] with `From`, or
/// from a stream with [`from_stream`](Body::from_stream) or [`from_chunks`](Body::from_chunks)
/// (a weft [`Receiver`](crate::channel::Receiver) is such a stream). Read one whole with
/// [`bytes`](Body::bytes), [`text`](Body::text) or [`json`](Body::json), or chunk by chunk with
/// [`chunk`](Body::chunk). [`limit`](Body::limit) caps how much of it is read: beyond it, reading
/// fails with an [`is_body`](Error::is_body) error instead of filling memory.
///
/// # Examples
///
/// ```
/// use weft::http::Body;
///
/// # weft::block_on(async {
/// let body = Body::from("{\"n\": 3}");
/// let value: serde_json::Value = body.json().await.unwrap();
/// assert_eq!(value["n"], 3);
/// # });
/// ```
pub struct Body {
    kind: Kind,
    /// Bytes at most read through this handle; `None`: no limit.
    limit: Option<u64>,
    /// Bytes read so far through this handle.
    read: u64,
    /// The trailer fields after the body: known, or known once its chunks have all been read
    /// (boxed: most bodies have none, and a `Body` moves often).
    trailers: Option<Box<Trailers>>,
}

/// A body's trailer fields.
enum Trailers {
    Known(HeaderMap),
    /// Sent by the reader of a received chunked body when it reaches the body's end.
    Received(oneshot::Receiver<HeaderMap>),
    /// Produced by the body's owner, awaited once its chunks are all taken.
    Later(TrailersFuture),
}

enum Kind {
    Full(Bytes),
    Stream {
        stream: ChunkStream,
        /// The exact length, when it is known in advance (a `Content-Length`).
        len: Option<u64>,
    },
}

impl Body {
    /// A body of no bytes.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    fn full(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full(bytes),
            limit: None,
            read: 0,
            trailers: None,
        }
    }

    /// A body that streams the chunks of `stream` (sent with chunked transfer coding); an
    /// `Err` item ends the body with that error (the peer sees the message cut short).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft::http::Body;
    ///
    /// # weft::block_on(async {
    /// let chunks = futures_lite::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
    /// assert_eq!(Body::from_stream(chunks).text().await.unwrap(), "ab");
    /// # });
    /// ```
    pub fn from_stream<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Self::streaming(
            Box::pin(MapStream {
                inner: stream,
                map: |item: Result<B, E>| {
                    item.map(Into::into)
                        .map_err(|e| Error::body("the body's stream failed").with_source(e))
                },
            }),
            None,
        )
    }

    /// A body that streams the items of `stream` as its chunks: a channel's receiving end, for
    /// one.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft::http::Body;
    /// use weft::Channel;
    ///
    /// # weft::block_on(async {
    /// let ch = Channel::<&'static str>::with_capacity(4);
    /// let (tx, rx) = (ch.sender(), ch.receiver());
    /// drop(ch);
    /// weft::spawn(async move {
    ///     for part in ["hello", ", ", "world"] {
    ///         tx.send(part).await.unwrap();
    ///     }
    /// });
    /// assert_eq!(Body::from_chunks(rx).text().await.unwrap(), "hello, world");
    /// # });
    /// ```
    pub fn from_chunks<S>(stream: S) -> Self
    where
        S: Stream + Send + 'static,
        S::Item: Into<Bytes>,
    {
        Self::streaming(
            Box::pin(MapStream {
                inner: stream,
                map: |item: S::Item| Ok(item.into()),
            }),
            None,
        )
    }

    /// A streaming body of `len` bytes if that is known (what a received body with a
    /// `Content-Length` is).
    pub(crate) fn streaming(stream: ChunkStream, len: Option<u64>) -> Self {
        Self {
            kind: Kind::Stream { stream, len },
            limit: None,
            read: 0,
            trailers: None,
        }
    }

    /// The trailer fields that came (or go) after the body, once they are known.
    ///
    /// On the server, a request's trailers are known before the handler runs (the body is
    /// read whole first), on HTTP/1.1 (after a chunked body) as on HTTP/2. A body streamed from
    /// the connection (a client's response) knows its trailers only at its end: `trailers`
    /// is `None` until [`chunk`](Body::chunk) has returned `None`, and
    /// [`bytes_and_trailers`](Body::bytes_and_trailers) reads the body and its trailers in
    /// one go (the client keeps response trailers, HTTP/1.1's after a chunked body and
    /// HTTP/2's from the HEADERS frame that ends the stream). Only fields that may be trailers are kept (RFC 9110 section 6.5.1): framing
    /// (`Content-Length`, `Transfer-Encoding`, `Trailer`), routing (`Host`), authentication,
    /// cookies, `Content-*`, control fields such as `Cache-Control` and the conditionals, and
    /// connection-specific fields are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft::http::{Body, Request, Response};
    ///
    /// async fn checksum(req: Request<Body>) -> Response<Body> {
    ///     let body = req.into_body();
    ///     let sum = body
    ///         .trailers()
    ///         .and_then(|t| t.get("x-checksum"))
    ///         .and_then(|v| v.to_str().ok())
    ///         .map(str::to_owned);
    ///     let bytes = body.bytes().await.unwrap_or_default();
    ///     Response::new(Body::from(format!("{} bytes, checksum {sum:?}", bytes.len())))
    /// }
    /// # let _ = checksum;
    /// ```
    pub fn trailers(&self) -> Option<&HeaderMap> {
        match self.trailers.as_deref() {
            Some(Trailers::Known(t)) => Some(t),
            _ => None,
        }
    }

    /// This body with `trailers` after it.
    ///
    /// Sent on HTTP/1.1 after the last chunk (the body then goes chunked, even if its length
    /// is known, with a `Trailer` field naming them unless one is set): by the client
    /// always, by the server only when the request's `TE` lists `trailers` (as hyper does;
    /// otherwise they are dropped and the body goes as it would without them). On HTTP/2
    /// they always go, by both ends, in a HEADERS frame that ends the stream after the last
    /// DATA (gRPC's `grpc-status` is such a trailer). Fields that may not be trailers (see
    /// [`trailers`](Body::trailers)) are not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft::http::{Body, HeaderMap, HeaderValue};
    ///
    /// let mut trailers = HeaderMap::new();
    /// trailers.insert("x-checksum", HeaderValue::from_static("abc123"));
    /// let body = Body::from("payload").with_trailers(trailers);
    /// assert_eq!(body.trailers().unwrap()["x-checksum"], "abc123");
    /// ```
    pub fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.trailers = Some(Box::new(Trailers::Known(trailers)));
        self
    }

    /// This body with trailers that `trailers` produces once the body's chunks have all been
    /// taken (a checksum of a streamed body, say); `None` from it: no trailers. The body
    /// ends only once the future has resolved: [`chunk`](Body::chunk) awaits it before it
    /// returns `None`.
    ///
    /// Sent as [`with_trailers`](Body::with_trailers) says; their names are not known when
    /// the head goes out, so set a `Trailer` field yourself if the peer wants one.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft::http::{Body, HeaderMap, HeaderValue};
    ///
    /// # weft::block_on(async {
    /// let (tx, rx) = weft::sync::oneshot::channel::<HeaderMap>();
    /// let chunks = futures_lite::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
    /// let body = Body::from_stream(chunks).with_trailers_from(async move { rx.await.ok() });
    /// let mut trailers = HeaderMap::new();
    /// trailers.insert("x-count", HeaderValue::from_static("2"));
    /// tx.send(trailers).unwrap();
    /// let (bytes, trailers) = body.bytes_and_trailers().await.unwrap();
    /// assert_eq!(bytes, "ab");
    /// assert_eq!(trailers.unwrap()["x-count"], "2");
    /// # });
    /// ```
    pub fn with_trailers_from<F>(mut self, trailers: F) -> Self
    where
        F: Future<Output = Option<HeaderMap>> + Send + 'static,
    {
        self.trailers = Some(Box::new(Trailers::Later(Box::pin(trailers))));
        self
    }

    /// This body, with the trailers that `rx` gets at the body's end (a received chunked
    /// body: the connection's reader sends them).
    pub(crate) fn with_received_trailers(mut self, rx: oneshot::Receiver<HeaderMap>) -> Self {
        self.trailers = Some(Box::new(Trailers::Received(rx)));
        self
    }

    /// True if the body has trailers, or may have once it ends: what an HTTP/1.1 writer asks
    /// to choose chunked framing, and an HTTP/2 writer to hold END_STREAM back for a
    /// trailing HEADERS frame.
    pub(crate) fn has_trailers(&self) -> bool {
        self.trailers.is_some()
    }

    /// The trailers, taken out, once [`chunk`](Body::chunk) has returned `None`: what the
    /// HTTP/1.1 writers send after the last chunk, and HTTP/2's in a trailing HEADERS frame.
    pub(crate) fn take_trailers(&mut self) -> Option<HeaderMap> {
        match self.trailers.take().map(|t| *t) {
            Some(Trailers::Known(t)) => Some(t),
            other => {
                self.trailers = other.map(Box::new);
                None
            }
        }
    }

    /// A copy of a body held in memory (with its trailers, if they are known), to send again;
    /// `None` for a stream, or trailers still to come.
    #[inline(always)]
    pub(crate) fn try_clone(&self) -> Option<Body> {
        let Kind::Full(bytes) = &self.kind else {
            return None;
        };
        let trailers = match self.trailers.as_deref() {
            None => None,
            Some(Trailers::Known(t)) => Some(Box::new(Trailers::Known(t.clone()))),
            Some(_) => return None,
        };
        Some(Body {
            kind: Kind::Full(bytes.clone()),
            limit: self.limit,
            read: self.read,
            trailers,
        })
    }

    /// At the end of the chunks: resolves trailers still to come, then the end.
    #[inline]
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        match self.trailers.as_deref() {
            None | Some(Trailers::Known(_)) => Poll::Ready(None),
            Some(_) => self.poll_trailers(cx),
        }
    }

    /// Resolves trailers still to come.
    fn poll_trailers(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        let known = match self.trailers.as_deref_mut() {
            None | Some(Trailers::Known(_)) => return Poll::Ready(None),
            Some(Trailers::Received(rx)) => std::task::ready!(Pin::new(rx).poll(cx)).ok(),
            Some(Trailers::Later(fut)) => std::task::ready!(fut.as_mut().poll(cx)),
        };
        self.trailers = known.map(|t| Box::new(Trailers::Known(t)));
        Poll::Ready(None)
    }

    /// Caps the bytes read from this body at `max`: reading past it fails with an
    /// [`is_body`](Error::is_body) error.
    pub fn limit(mut self, max: u64) -> Self {
        self.limit = Some(self.limit.map_or(max, |l| l.min(max)));
        self
    }

    /// The body's exact length in bytes, if it is known before it is read: `Some` for bodies
    /// in memory and for received bodies with a `Content-Length`.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Full(b) => Some(b.len() as u64),
            Kind::Stream { len, .. } => *len,
        }
    }

    /// The bytes of a body held in memory; `None` for a stream. A body in memory can be sent
    /// again (a retried request, a redirect that keeps the body).
    pub(crate) fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Full(b) => Some(b),
            Kind::Stream { .. } => None,
        }
    }

    /// True for a body known to hold no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The next chunk of the body; `None` at its end.
    ///
    /// # Errors
    ///
    /// The stream's error, or an [`is_body`](Error::is_body) error past the
    /// [`limit`](Body::limit) or when a received body is cut short.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Polls for the next chunk, as [`chunk`](Body::chunk) awaits it.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        let next = match &mut self.kind {
            Kind::Full(b) if b.is_empty() => return self.poll_end(cx),
            Kind::Full(b) => std::mem::take(b),
            Kind::Stream { stream, len } => {
                match std::task::ready!(stream.as_mut().poll_next(cx)) {
                    None => {
                        if self.trailers.is_none() {
                            if let Some(t) = stream.as_mut().take_trailers() {
                                self.trailers = Some(Box::new(Trailers::Known(t)));
                            }
                        }
                        return self.poll_end(cx);
                    }
                    Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                    Some(Ok(chunk)) => {
                        if let Some(len) = len {
                            *len = len.saturating_sub(chunk.len() as u64);
                        }
                        chunk
                    }
                }
            }
        };
        self.read = self.read.saturating_add(next.len() as u64);
        if let Some(limit) = self.limit {
            if self.read > limit {
                return Poll::Ready(Some(Err(Error::body(format!(
                    "the body is larger than its limit of {limit} bytes"
                )))));
            }
        }
        Poll::Ready(Some(Ok(next)))
    }

    /// Reads the whole body.
    ///
    /// # Errors
    ///
    /// As [`chunk`](Body::chunk).
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        self.read_all().await
    }

    /// Reads the whole body and its trailers (`None` if it had none): the way to both for a
    /// body that streams from the connection, whose trailers come after its last chunk.
    ///
    /// # Errors
    ///
    /// As [`chunk`](Body::chunk); a malformed trailer section is an
    /// [`is_body`](Error::is_body) error.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft::http::{Body, HeaderMap, HeaderValue};
    ///
    /// # weft::block_on(async {
    /// let mut t = HeaderMap::new();
    /// t.insert("x-status", HeaderValue::from_static("done"));
    /// let (bytes, trailers) = Body::from("hi").with_trailers(t).bytes_and_trailers().await.unwrap();
    /// assert_eq!(bytes, "hi");
    /// assert_eq!(trailers.unwrap()["x-status"], "done");
    /// # });
    /// ```
    pub async fn bytes_and_trailers(mut self) -> Result<(Bytes, Option<HeaderMap>), Error> {
        let bytes = self.read_all().await?;
        if self.has_trailers() && self.trailers().is_none() {
            // Trailers still to come (a body in memory takes this way too).
            while let Some(chunk) = self.chunk().await {
                chunk?;
            }
        }
        Ok((bytes, self.take_trailers()))
    }

    async fn read_all(&mut self) -> Result<Bytes, Error> {
        if let Some(limit) = self.limit {
            if self.len().is_some_and(|len| len > limit) {
                return Err(Error::body(format!(
                    "the body is larger than its limit of {limit} bytes"
                )));
            }
        }
        if let Kind::Full(b) = &mut self.kind {
            return Ok(std::mem::take(b));
        }
        let first = match self.chunk().await {
            None => return Ok(Bytes::new()),
            Some(r) => r?,
        };
        let Some(second) = self.chunk().await else {
            return Ok(first);
        };
        let mut all = BytesMut::with_capacity(
            self.len()
                .map_or(0, |left| left.min(1 << 20) as usize)
                .saturating_add(first.len() * 2),
        );
        all.extend_from_slice(&first);
        all.extend_from_slice(&second?);
        while let Some(chunk) = self.chunk().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all.freeze())
    }

    /// Reads the whole body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Body::bytes), and an [`is_body`](Error::is_body) error if it is not UTF-8.
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.into())
            .map_err(|e| Error::body("the body is not UTF-8").with_source(e))
    }

    /// Reads the whole body and parses it as JSON.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Body::bytes), and an [`is_body`](Error::is_body) error if it is not valid
    /// JSON for `T`.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::body("the body is not valid JSON for the type").with_source(e))
    }

    /// A body holding `value` as JSON.
    ///
    /// # Errors
    ///
    /// An [`is_builder`](Error::is_builder) error if `value` cannot be serialised (a map with
    /// non-string keys, a `Serialize` impl that fails).
    pub fn json_of<T: serde::Serialize + ?Sized>(value: &T) -> Result<Body, Error> {
        serde_json::to_vec(value)
            .map(Body::from)
            .map_err(|e| Error::builder("the value cannot be written as JSON").with_source(e))
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Body");
        match &self.kind {
            Kind::Full(b) => d.field("len", &b.len()),
            Kind::Stream { len, .. } => d.field("streaming", &true).field("len", len),
        };
        d.finish()
    }
}

impl Stream for Body {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::full(Bytes::from_static(s))
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}

pin_project_lite::pin_project! {
    /// A stream with a function applied to each item, as a named type that can be boxed.
    struct MapStream<S, F> {
        #[pin]
        inner: S,
        map: F,
    }
}

impl<S, F> Chunks for MapStream<S, F>
where
    S: Stream + Send,
    F: FnMut(S::Item) -> Result<Bytes, Error> + Send,
{
}

/// `stream` as a body's chunks, with no trailers of its own.
pub(crate) fn chunks<S>(stream: S) -> ChunkStream
where
    S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
{
    Box::pin(MapStream {
        inner: stream,
        map: std::convert::identity::<Result<Bytes, Error>>,
    })
}

impl<S, F, T> Stream for MapStream<S, F>
where
    S: Stream,
    F: FnMut(S::Item) -> T,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.project();
        this.inner.poll_next(cx).map(|o| o.map(this.map))
    }
}
