//! HTTP/1.1 on the wire, shared by the server and the client: a read buffer over a stream,
//! message heads parsed with `httparse`, the framing rules of RFC 9112 section 6, a chunked
//! decoder, and head and chunk encoding.
//!
//! Framing is where request smuggling lives, so it is strict: a message with both
//! `Transfer-Encoding` and `Content-Length`, a `Content-Length` that is not one decimal number
//! (or a list of the same one), or a request whose transfer codings do not end in `chunked` is
//! refused, never guessed at. So is the chunked decoder: chunk lines end in CRLF, a chunk size
//! is followed only by whitespace and `;` extensions, and the trailer section is bounded.

#![forbid(unsafe_code)]

use super::Error;
use crate::io::{AsyncRead, AsyncReadExt};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};
use std::mem::MaybeUninit;

/// How much a read asks for at least: a buffer with less room left grows or is compacted.
const MIN_READ: usize = 4096;

/// Header slots a request parse keeps on the stack (a higher `max_headers` allocates them).
const STACK_HEADERS: usize = 128;

/// A chunk-size line (size and extensions) longer than this is refused.
const MAX_CHUNK_LINE: usize = 4096;

/// A chunked body's trailer section larger than this is refused: the peer could otherwise
/// make the reader read trailers for as long as it sends.
const MAX_TRAILER_SECTION: usize = 64 * 1024;

/// A trailer section with more fields than this is refused.
const MAX_TRAILER_FIELDS: usize = 100;

/// Bytes read from a stream and not consumed yet.
///
/// The buffer is initialised once, when it grows, and reused: reads go straight into its
/// spare part, so no read zero-fills memory first.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The bytes read and not consumed.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n.min(self.end - self.start);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Takes the first `n` bytes (at most what is there).
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.end - self.start);
        let out = Bytes::copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        out
    }

    /// Reads more from `io`, keeping what is there; `max` caps the unconsumed bytes the
    /// buffer may hold. Returns the bytes read: 0 at the end of the stream, or when the
    /// buffer already holds `max` bytes (the caller's message is too large).
    pub(crate) async fn fill<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut S,
        max: usize,
    ) -> std::io::Result<usize> {
        let held = self.end - self.start;
        if held >= max {
            return Ok(0);
        }
        if self.buf.len() - self.end < MIN_READ {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.start = 0;
                self.end = held;
            }
            if self.buf.len() - self.end < MIN_READ {
                let want = (self.buf.len() * 2)
                    .max(8192)
                    .min(max.max(MIN_READ) + MIN_READ);
                self.buf.resize(want.max(self.end + MIN_READ), 0);
            }
        }
        let room = (self.buf.len() - self.end).min(max - held);
        let n = io.read(&mut self.buf[self.end..self.end + room]).await?;
        self.end += n;
        Ok(n)
    }
}

/// Why a message head was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// More bytes than the head limit without its end (431 for a request).
    TooLarge,
    /// More header fields than the limit (431 for a request).
    TooManyHeaders,
    /// Not HTTP/1.x (505 for a request).
    Version,
    /// Malformed (400 for a request).
    Invalid(&'static str),
}

impl HeadError {
    /// The status a server answers a request head refused for this reason with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HeadError::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HeadError::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn reason(&self) -> &'static str {
        match self {
            HeadError::TooLarge => "the message head is larger than the limit",
            HeadError::TooManyHeaders => "the message has more header fields than the limit",
            HeadError::Version => "only HTTP/1.0 and HTTP/1.1 are supported",
            HeadError::Invalid(why) => why,
        }
    }
}

impl From<httparse::Error> for HeadError {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
            httparse::Error::Version => HeadError::Version,
            httparse::Error::HeaderName => HeadError::Invalid("malformed header name"),
            httparse::Error::HeaderValue => HeadError::Invalid("malformed header value"),
            httparse::Error::NewLine => HeadError::Invalid("malformed line ending"),
            httparse::Error::Status => HeadError::Invalid("malformed status"),
            httparse::Error::Token => HeadError::Invalid("malformed method or token"),
        }
    }
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) method: Method,
    pub(crate) target: String,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
}

/// Which of the fields weft itself interprets a head carries, found in one pass over its
/// fields: most requests carry none but `Host`, and a lookup in a `HeaderMap` hashes the name,
/// so the absent ones are not looked up at all.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Present {
    /// How many `Host` fields.
    pub(crate) hosts: usize,
    pub(crate) content_length: bool,
    pub(crate) transfer_encoding: bool,
    pub(crate) connection: bool,
    pub(crate) expect: bool,
    pub(crate) upgrade: bool,
    pub(crate) te: bool,
}

impl Present {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        use http::header::{CONNECTION, EXPECT, HOST, TE, UPGRADE};
        let mut p = Present::default();
        for (name, _) in headers {
            if name == HOST {
                p.hosts += 1;
            } else if name == CONTENT_LENGTH {
                p.content_length = true;
            } else if name == TRANSFER_ENCODING {
                p.transfer_encoding = true;
            } else if name == CONNECTION {
                p.connection = true;
            } else if name == EXPECT {
                p.expect = true;
            } else if name == UPGRADE {
                p.upgrade = true;
            } else if name == TE {
                p.te = true;
            }
        }
        p
    }
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
}

fn version(minor: Option<u8>) -> Result<Version, HeadError> {
    match minor {
        Some(0) => Ok(Version::HTTP_10),
        Some(1) => Ok(Version::HTTP_11),
        _ => Err(HeadError::Version),
    }
}

fn header_map(raw: &[httparse::Header<'_>]) -> Result<HeaderMap, HeadError> {
    let mut headers = HeaderMap::with_capacity(raw.len());
    for h in raw {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HeadError::Invalid("malformed header name"))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| HeadError::Invalid("malformed header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Parses a request head from the start of `buf`: `Ok(None)` if it is not complete yet,
/// else the head and its length in bytes. `max_head` caps the head's size, `max_headers` the
/// number of its fields.
pub(crate) fn parse_request(
    buf: &[u8],
    max_head: usize,
    max_headers: usize,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    // A client may send empty lines before a request (RFC 9112 section 2.2); skip them.
    let mut skip = 0;
    while buf[skip..].starts_with(b"\r\n") {
        skip += 2;
    }
    while buf[skip..].starts_with(b"\n") {
        skip += 1;
    }
    let buf = &buf[skip..];
    // The header slots live on the stack, uninitialised, unless the limit is unusually high.
    let mut on_stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let raw = if max_headers <= STACK_HEADERS {
        &mut on_stack[..max_headers]
    } else {
        on_heap.resize_with(max_headers, MaybeUninit::uninit);
        &mut on_heap[..]
    };
    let mut req = httparse::Request::new(&mut []);
    let status = req.parse_with_uninit_headers(buf, raw)?;
    let httparse::Status::Complete(len) = status else {
        if buf.len() >= max_head {
            return Err(HeadError::TooLarge);
        }
        return Ok(None);
    };
    if len > max_head {
        return Err(HeadError::TooLarge);
    }
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| HeadError::Invalid("malformed method"))?;
    let target = req.path.unwrap_or_default().to_owned();
    let head = RequestHead {
        method,
        target,
        version: version(req.version)?,
        headers: header_map(req.headers)?,
    };
    Ok(Some((head, skip + len)))
}

/// Parses a response head from the start of `buf`, as [`parse_request`] does.
pub(crate) fn parse_response(
    buf: &[u8],
    max_head: usize,
    max_headers: usize,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let mut raw = vec![httparse::EMPTY_HEADER; max_headers];
    let mut res = httparse::Response::new(&mut raw);
    let httparse::Status::Complete(len) = res.parse(buf)? else {
        if buf.len() >= max_head {
            return Err(HeadError::TooLarge);
        }
        return Ok(None);
    };
    if len > max_head {
        return Err(HeadError::TooLarge);
    }
    let status = StatusCode::from_u16(res.code.unwrap_or_default())
        .map_err(|_| HeadError::Invalid("malformed status code"))?;
    let head = ResponseHead {
        status,
        version: version(res.version)?,
        headers: header_map(res.headers)?,
    };
    Ok(Some((head, len)))
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length` bytes (0: no body).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// The single `Content-Length` of `headers`, if any. A list of equal values counts as one
/// (RFC 9110 section 8.6); differing values, or anything but digits, are refused.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, HeadError> {
    let mut found: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let s = value
            .to_str()
            .map_err(|_| HeadError::Invalid("malformed Content-Length"))?;
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() || part.len() > 19 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::Invalid("malformed Content-Length"));
            }
            let n: u64 = part
                .parse()
                .map_err(|_| HeadError::Invalid("malformed Content-Length"))?;
            match found {
                Some(prev) if prev != n => {
                    return Err(HeadError::Invalid("conflicting Content-Length values"));
                }
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// True if the transfer codings of `headers` end in `chunked`; `None` if there are none.
fn chunked(headers: &HeaderMap) -> Result<Option<bool>, HeadError> {
    let mut last: Option<String> = None;
    for value in headers.get_all(TRANSFER_ENCODING) {
        let s = value
            .to_str()
            .map_err(|_| HeadError::Invalid("malformed Transfer-Encoding"))?;
        for coding in s.split(',') {
            let coding = coding.trim();
            if coding.is_empty() {
                continue;
            }
            if last
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
            {
                return Err(HeadError::Invalid(
                    "chunked applied more than once, or not last",
                ));
            }
            last = Some(coding.to_owned());
        }
    }
    Ok(last.map(|c| c.eq_ignore_ascii_case("chunked")))
}

/// The framing of a request's body (RFC 9112 section 6.3, strictly).
pub(crate) fn request_framing(head: &RequestHead, present: Present) -> Result<Framing, HeadError> {
    let te = if present.transfer_encoding {
        chunked(&head.headers)?
    } else {
        None
    };
    let cl = if present.content_length {
        content_length(&head.headers)?
    } else {
        None
    };
    match (te, cl) {
        (Some(_), Some(_)) => Err(HeadError::Invalid(
            "both Transfer-Encoding and Content-Length",
        )),
        (Some(_), None) if head.version == Version::HTTP_10 => Err(HeadError::Invalid(
            "Transfer-Encoding in an HTTP/1.0 request",
        )),
        (Some(true), None) => Ok(Framing::Chunked),
        (Some(false), None) => Err(HeadError::Invalid(
            "the request's transfer codings do not end in chunked",
        )),
        (None, Some(n)) => Ok(Framing::Length(n)),
        (None, None) => Ok(Framing::Length(0)),
    }
}

/// The framing of a response's body, given the request's method.
pub(crate) fn response_framing(method: &Method, head: &ResponseHead) -> Result<Framing, HeadError> {
    let status = head.status;
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || (method == Method::CONNECT && status.is_success())
    {
        return Ok(Framing::Length(0));
    }
    let te = chunked(&head.headers)?;
    let cl = content_length(&head.headers)?;
    match (te, cl) {
        (Some(_), Some(_)) => Err(HeadError::Invalid(
            "both Transfer-Encoding and Content-Length",
        )),
        (Some(true), None) => Ok(Framing::Chunked),
        (Some(false), None) => Ok(Framing::Close),
        (None, Some(n)) => Ok(Framing::Length(n)),
        (None, None) => Ok(Framing::Close),
    }
}

/// True if the `TE` fields of `headers` list `trailers`: the client reads trailer fields.
pub(crate) fn te_trailers(headers: &HeaderMap) -> bool {
    headers.get_all(http::header::TE).iter().any(|v| {
        v.to_str().unwrap_or("").split(',').any(|t| {
            let t = t.split(';').next().unwrap_or("").trim();
            t.eq_ignore_ascii_case("trailers")
        })
    })
}

/// True if the connection stays open after this message, by its version and `Connection`
/// header.
pub(crate) fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let mut close = false;
    let mut keep = false;
    for value in headers.get_all(http::header::CONNECTION) {
        for opt in value.to_str().unwrap_or("").split(',') {
            let opt = opt.trim();
            close |= opt.eq_ignore_ascii_case("close");
            keep |= opt.eq_ignore_ascii_case("keep-alive");
        }
    }
    if close {
        return false;
    }
    version == Version::HTTP_11 || keep
}

/// Where a body being read is.
#[derive(Debug)]
pub(crate) enum BodyState {
    /// This many bytes are left.
    Length(u64),
    /// Inside a chunked body, with the trailer fields kept so far.
    Chunked(ChunkedState, Option<Box<HeaderMap>>),
    /// Until the end of the stream.
    Close,
    Done,
    /// At the end of a chunked body that had trailers, not taken yet.
    Trailed(Box<HeaderMap>),
}

impl BodyState {
    pub(crate) fn new(framing: Framing) -> Self {
        match framing {
            Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(ChunkedState::Size, None),
            Framing::Close => BodyState::Close,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, BodyState::Done | BodyState::Trailed(_))
    }

    /// The trailer fields of a chunked body that has ended (those that may be trailers, RFC
    /// 9110 section 6.5.1), taken out; `None` if it had none, or has not ended.
    pub(crate) fn take_trailers(&mut self) -> Option<Box<HeaderMap>> {
        match std::mem::replace(self, BodyState::Done) {
            BodyState::Trailed(fields) => Some(fields),
            other => {
                *self = other;
                None
            }
        }
    }

    /// Reads the next piece of the body from `buf`, refilling it from `io`; `None` at the
    /// body's end. A stream that ends before the body does is an [`is_body`](Error::is_body)
    /// error, as is a malformed chunk.
    pub(crate) async fn next<S: AsyncRead + Unpin + ?Sized>(
        &mut self,
        buf: &mut ReadBuf,
        io: &mut S,
        max_chunk: usize,
    ) -> Result<Option<Bytes>, Error> {
        loop {
            match self {
                BodyState::Done | BodyState::Trailed(_) => return Ok(None),
                BodyState::Length(left) => {
                    if buf.is_empty() && fill(buf, io, max_chunk).await? == 0 {
                        return Err(Error::body("the connection closed inside the body"));
                    }
                    let n = (*left).min(buf.data().len() as u64) as usize;
                    let out = buf.split_to(n);
                    *left -= n as u64;
                    if *left == 0 {
                        *self = BodyState::Done;
                    }
                    return Ok(Some(out));
                }
                BodyState::Close => {
                    if buf.is_empty() && fill(buf, io, max_chunk).await? == 0 {
                        *self = BodyState::Done;
                        return Ok(None);
                    }
                    let n = buf.data().len();
                    return Ok(Some(buf.split_to(n)));
                }
                BodyState::Chunked(state, fields) => match state.step(buf, fields)? {
                    Step::Data(n) => return Ok(Some(buf.split_to(n))),
                    Step::Again => {}
                    Step::Done => {
                        *self = match fields.take() {
                            Some(fields) => BodyState::Trailed(fields),
                            None => BodyState::Done,
                        }
                    }
                    Step::NeedMore => {
                        let cap = max_chunk.max(MAX_CHUNK_LINE * 2);
                        if fill(buf, io, cap).await? == 0 {
                            return Err(Error::body("the connection closed inside a chunked body"));
                        }
                    }
                },
            }
        }
    }
}

async fn fill<S: AsyncRead + Unpin + ?Sized>(
    buf: &mut ReadBuf,
    io: &mut S,
    max: usize,
) -> Result<usize, Error> {
    buf.fill(io, max.max(MIN_READ)).await.map_err(Error::io)
}

/// The chunked decoder's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkedState {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left.
    Data(u64),
    /// After a chunk's data, at its CRLF.
    DataEnd,
    /// After the last chunk, in the trailer section, with this many of its bytes and fields
    /// read.
    Trailers { read: usize, fields: usize },
}

enum Step {
    /// The first this many bytes of the buffer are body data.
    Data(usize),
    /// Moved on; call again.
    Again,
    NeedMore,
    Done,
}

/// The end of the CRLF-terminated line at the start of `data`: the index of its `\n` and the
/// length of the line without its CRLF. `Ok(None)` if the line is not complete yet; a bare LF
/// (or a CR not followed by LF) is an error: in chunked framing, a peer that reads bare LFs
/// otherwise would see chunks start elsewhere.
fn crlf_line(data: &[u8]) -> Result<Option<(usize, usize)>, Error> {
    let Some(end) = data.iter().position(|&b| b == b'\n' || b == b'\r') else {
        return Ok(None);
    };
    match (data[end], data.get(end + 1)) {
        (b'\r', Some(b'\n')) => Ok(Some((end + 1, end))),
        (b'\r', None) => Ok(None),
        _ => Err(Error::body("a chunked body's line does not end in CRLF")),
    }
}

impl ChunkedState {
    /// One step of the decoder; trailer fields that may be trailers go into `kept`.
    fn step(
        &mut self,
        buf: &mut ReadBuf,
        kept: &mut Option<Box<HeaderMap>>,
    ) -> Result<Step, Error> {
        let data = buf.data();
        match *self {
            ChunkedState::Size => {
                let Some((nl, len)) = crlf_line(data)? else {
                    if data.len() > MAX_CHUNK_LINE {
                        return Err(Error::body("chunk-size line too long"));
                    }
                    return Ok(Step::NeedMore);
                };
                if len > MAX_CHUNK_LINE {
                    return Err(Error::body("chunk-size line too long"));
                }
                let line = &data[..len];
                let size_end = line
                    .iter()
                    .position(|&b| b == b';' || b == b' ' || b == b'\t')
                    .unwrap_or(len);
                let digits = &line[..size_end];
                if digits.is_empty()
                    || digits.len() > 15
                    || !digits.iter().all(u8::is_ascii_hexdigit)
                {
                    return Err(Error::body("malformed chunk size"));
                }
                // After the size: optional whitespace, then nothing or `;` extensions
                // (RFC 9112 section 7.1.1), never other bytes a peer might read as the size.
                let rest = &line[size_end..];
                let ext = rest
                    .iter()
                    .position(|&b| b != b' ' && b != b'\t')
                    .map_or(&[][..], |i| &rest[i..]);
                if !(ext.is_empty() || ext[0] == b';')
                    || ext.iter().any(|&b| b.is_ascii_control() && b != b'\t')
                {
                    return Err(Error::body("malformed chunk size"));
                }
                let size = digits.iter().fold(0u64, |n, &d| {
                    n * 16 + u64::from((d as char).to_digit(16).unwrap_or(0))
                });
                buf.consume(nl + 1);
                *self = if size == 0 {
                    ChunkedState::Trailers { read: 0, fields: 0 }
                } else {
                    ChunkedState::Data(size)
                };
                Ok(Step::Again)
            }
            ChunkedState::Data(left) => {
                if data.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = left.min(data.len() as u64);
                *self = if n == left {
                    ChunkedState::DataEnd
                } else {
                    ChunkedState::Data(left - n)
                };
                Ok(Step::Data(n as usize))
            }
            ChunkedState::DataEnd => {
                if data.starts_with(b"\r\n") {
                    buf.consume(2);
                } else if data.is_empty() || data == b"\r" {
                    return Ok(Step::NeedMore);
                } else {
                    return Err(Error::body("chunk data not followed by CRLF"));
                }
                *self = ChunkedState::Size;
                Ok(Step::Again)
            }
            ChunkedState::Trailers { read, fields } => {
                // Trailer fields, one line each, up to the empty line.
                let Some((nl, len)) = crlf_line(data)? else {
                    if data.len() > MAX_CHUNK_LINE || read + data.len() > MAX_TRAILER_SECTION {
                        return Err(Error::body("trailer section too large"));
                    }
                    return Ok(Step::NeedMore);
                };
                if read + nl + 1 > MAX_TRAILER_SECTION {
                    return Err(Error::body("trailer section too large"));
                }
                if len == 0 {
                    buf.consume(nl + 1);
                    return Ok(Step::Done);
                }
                if fields == MAX_TRAILER_FIELDS {
                    return Err(Error::body("too many trailer fields"));
                }
                let (name, value) = trailer_field(&data[..len])?;
                if may_be_trailer(&name) {
                    keep(kept.get_or_insert_with(Default::default), name, value);
                }
                buf.consume(nl + 1);
                *self = ChunkedState::Trailers {
                    read: read + nl + 1,
                    fields: fields + 1,
                };
                Ok(Step::Again)
            }
        }
    }
}

/// Adds a trailer field, through `entry` rather than `append`: a second caller of `append`
/// would stop it being inlined where every head's fields are added.
#[inline(never)]
fn keep(fields: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    match fields.entry(name) {
        http::header::Entry::Occupied(mut e) => e.append(value),
        http::header::Entry::Vacant(e) => {
            e.insert(value);
        }
    }
}

/// One trailer field line (without its CRLF), checked as a head's fields are: a token name
/// right before the colon, a value of visible characters (and obs-text) between optional
/// whitespace; an obsolete line folding is refused.
fn trailer_field(line: &[u8]) -> Result<(HeaderName, HeaderValue), Error> {
    let malformed = || Error::body("malformed trailer field");
    let colon = line.iter().position(|&b| b == b':').ok_or_else(malformed)?;
    let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| malformed())?;
    let value = &line[colon + 1..];
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    let value = HeaderValue::from_bytes(&value[start..end]).map_err(|_| malformed())?;
    Ok((name, value))
}

/// True for a field that may be sent, and is kept, as a trailer (RFC 9110 section 6.5.1):
/// not one that frames the message, routes it, authenticates, sets cookies, describes its
/// content, controls caching or the request's handling, or belongs to the connection.
pub(crate) fn may_be_trailer(name: &HeaderName) -> bool {
    use http::header::*;
    let refused = [
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        TRAILER,
        TE,
        HOST,
        MAX_FORWARDS,
        AUTHORIZATION,
        PROXY_AUTHORIZATION,
        WWW_AUTHENTICATE,
        PROXY_AUTHENTICATE,
        COOKIE,
        SET_COOKIE,
        CACHE_CONTROL,
        EXPECT,
        PRAGMA,
        RANGE,
        IF_MATCH,
        IF_NONE_MATCH,
        IF_MODIFIED_SINCE,
        IF_UNMODIFIED_SINCE,
        IF_RANGE,
        AGE,
        DATE,
        EXPIRES,
        LOCATION,
        RETRY_AFTER,
        VARY,
        CONNECTION,
        UPGRADE,
    ];
    !refused.contains(name)
        && !name.as_str().starts_with("content-")
        && name.as_str() != "keep-alive"
        && name.as_str() != "proxy-connection"
}

/// The names of the fields of `trailers` that may be trailers, as a `Trailer` field's value;
/// `None` if there are none.
pub(crate) fn trailer_names(trailers: &HeaderMap) -> Option<HeaderValue> {
    let mut names = String::new();
    for name in trailers.keys().filter(|n| may_be_trailer(n)) {
        if !names.is_empty() {
            names.push_str(", ");
        }
        names.push_str(name.as_str());
    }
    HeaderValue::from_str(&names)
        .ok()
        .filter(|_| !names.is_empty())
}

/// Appends a request head: the request line, `Host`, the framing header and `headers`.
pub(crate) fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    framing: Framing,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_fields(
        out,
        headers,
        framing,
        method != Method::GET && method != Method::HEAD,
        false,
    );
}

/// What the server adds to a response's own fields, written straight into the head (not
/// inserted into the response's `HeaderMap`, which would allocate it for most responses).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Added<'a> {
    /// A `connection` value replacing any the handler set.
    pub(crate) connection: Option<&'static str>,
    /// A `date` value, when the handler set none.
    pub(crate) date: Option<&'a [u8]>,
}

/// Appends a response head: the status line, what the server adds, the framing header and
/// `headers`.
pub(crate) fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    body_allowed: bool,
    added: Added<'_>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(c) = added.connection {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(c.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(d) = added.date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(d);
        out.extend_from_slice(b"\r\n");
    }
    write_fields(
        out,
        headers,
        framing,
        body_allowed,
        added.connection.is_some(),
    );
}

/// The header fields, with the framing header weft computed in place of any the caller set
/// (and without the caller's `connection`, if `skip_connection`: weft wrote its own).
fn write_fields(
    out: &mut Vec<u8>,
    headers: &HeaderMap,
    framing: Framing,
    length_always: bool,
    skip_connection: bool,
) {
    for (name, value) in headers {
        if name == CONTENT_LENGTH
            || name == TRANSFER_ENCODING
            || (skip_connection && name == http::header::CONNECTION)
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(0) if !length_always => {}
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            write_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Close => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal, without a `String` in between.
fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends one chunk of a chunked body (nothing for an empty one: that would end the body).
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the end of a chunked body: the last chunk, and `trailers` (those of its fields
/// that may be trailers).
pub(crate) fn write_last_chunk(out: &mut Vec<u8>, trailers: Option<&HeaderMap>) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers.into_iter().flatten() {
        if may_be_trailer(name) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_request(raw.as_bytes(), 8192, 64)
    }

    #[test]
    fn parses_a_request_head_and_its_length() {
        let raw = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nrest";
        let (head, len) = req(raw).unwrap().unwrap();
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.target, "/a?b=1");
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers["host"], "x");
        assert_eq!(&raw[len..], "rest");
    }

    #[test]
    fn an_incomplete_head_asks_for_more_until_the_limit() {
        assert!(req("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000));
        assert_eq!(req(&long).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn too_many_headers_and_bad_versions_are_refused() {
        let mut raw = String::from("GET / HTTP/1.1\r\n");
        for i in 0..100 {
            raw += &format!("X-{i}: v\r\n");
        }
        raw += "\r\n";
        assert_eq!(req(&raw).unwrap_err(), HeadError::TooManyHeaders);
        assert_eq!(
            req("GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            HeadError::Version
        );
        assert!(matches!(
            req("G@T / HTTP/1.1\r\n\r\n"),
            Err(HeadError::Invalid(_))
        ));
    }

    fn framing(raw: &str) -> Result<Framing, HeadError> {
        let head = req(raw).unwrap().unwrap().0;
        let present = Present::of(&head.headers);
        request_framing(&head, present)
    }

    #[test]
    fn request_framing_is_strict() {
        assert_eq!(framing("GET / HTTP/1.1\r\n\r\n"), Ok(Framing::Length(0)));
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(framing(bad), Err(HeadError::Invalid(_))),
                "accepted: {bad:?}"
            );
        }
    }

    fn decode(wire: &[u8], framing: Framing) -> Result<Vec<u8>, Error> {
        decode_with_trailers(wire, framing).map(|(body, _)| body)
    }

    fn decode_with_trailers(
        wire: &[u8],
        framing: Framing,
    ) -> Result<(Vec<u8>, Option<HeaderMap>), Error> {
        crate::block_on(async {
            let mut io = crate::io::Cursor::new(wire.to_vec());
            let mut buf = ReadBuf::new();
            let mut state = BodyState::new(framing);
            let mut out = Vec::new();
            while let Some(chunk) = state.next(&mut buf, &mut io, 1 << 16).await? {
                out.extend_from_slice(&chunk);
            }
            assert!(state.is_done());
            Ok((out, state.take_trailers().map(|t| *t)))
        })
    }

    #[test]
    fn trailer_fields_are_kept_checked_and_filtered() {
        let wire = b"3\r\nabc\r\n0\r\nX-Checksum: \t abc \r\nx-a: 1\r\nX-A: 2\r\nX-Empty:\r\n\
                     Content-Type: text/plain\r\nContent-Length: 3\r\nHost: h\r\n\
                     Authorization: secret\r\nSet-Cookie: a=b\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (body, trailers) = decode_with_trailers(wire, Framing::Chunked).unwrap();
        assert_eq!(body, b"abc");
        let trailers = trailers.unwrap();
        assert_eq!(trailers["x-checksum"], "abc");
        let a: Vec<_> = trailers.get_all("x-a").iter().collect();
        assert_eq!(a, ["1", "2"]);
        assert_eq!(trailers["x-empty"], "");
        assert_eq!(trailers.len(), 4, "{trailers:?}");
        // No trailer section, or only refused fields: none.
        let (_, none) = decode_with_trailers(b"1\r\na\r\n0\r\n\r\n", Framing::Chunked).unwrap();
        assert!(none.is_none());
        let only_refused = b"1\r\na\r\n0\r\nContent-Length: 1\r\n\r\n";
        assert!(decode_with_trailers(only_refused, Framing::Chunked)
            .unwrap()
            .1
            .is_none());
        for bad in [
            &b"1\r\na\r\n0\r\nno colon\r\n\r\n"[..],
            b"1\r\na\r\n0\r\nX-A : 1\r\n\r\n",
            b"1\r\na\r\n0\r\n: 1\r\n\r\n",
            b"1\r\na\r\n0\r\nX-A: 1\r\n folded\r\n\r\n",
            b"1\r\na\r\n0\r\nX\x01A: 1\r\n\r\n",
            b"1\r\na\r\n0\r\nX-A: a\x7fb\r\n\r\n",
            b"1\r\na\r\n0\r\nX-A: 1\r\n",
        ] {
            assert!(
                decode(bad, Framing::Chunked).unwrap_err().is_body(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Too many fields, each short.
        let mut wire = b"1\r\na\r\n0\r\n".to_vec();
        for i in 0..=MAX_TRAILER_FIELDS {
            wire.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        assert!(decode(&wire, Framing::Chunked).unwrap_err().is_body());
    }

    #[test]
    fn the_last_chunk_carries_the_fields_that_may_be_trailers() {
        let mut t = HeaderMap::new();
        t.insert("x-checksum", HeaderValue::from_static("abc"));
        t.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        t.insert("content-md5", HeaderValue::from_static("x"));
        t.append("x-b", HeaderValue::from_static("1"));
        t.append("x-b", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        write_last_chunk(&mut out, Some(&t));
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "0\r\nx-checksum: abc\r\nx-b: 1\r\nx-b: 2\r\n\r\n"
        );
        assert_eq!(trailer_names(&t).unwrap(), "x-checksum, x-b");
        let mut refused = HeaderMap::new();
        refused.insert(http::header::HOST, HeaderValue::from_static("h"));
        assert!(trailer_names(&refused).is_none());
        // What is written is read back the same.
        let mut wire = b"2\r\nhi\r\n".to_vec();
        wire.extend_from_slice(&out);
        let (_, back) = decode_with_trailers(&wire, Framing::Chunked).unwrap();
        let back = back.unwrap();
        assert_eq!(back["x-checksum"], "abc");
        assert_eq!(back.get_all("x-b").iter().count(), 2);
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn te_trailers_is_found_among_codings() {
        let mut h = HeaderMap::new();
        assert!(!te_trailers(&h));
        h.insert(
            http::header::TE,
            HeaderValue::from_static("gzip;q=0.5, Trailers"),
        );
        assert!(te_trailers(&h));
        h.insert(http::header::TE, HeaderValue::from_static("gzip"));
        assert!(!te_trailers(&h));
    }

    #[test]
    fn decodes_chunked_bodies_with_extensions_and_trailers() {
        let wire = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(decode(wire, Framing::Chunked).unwrap(), b"hello, world");
        assert_eq!(
            decode(b"3\r\nabc\r\n0\r\n\r\n", Framing::Chunked).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn malformed_or_cut_chunked_bodies_are_errors() {
        for bad in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\r\nab",
            b"ffffffffffffffffff\r\n",
            b"\r\n",
            // Bytes after the size other than whitespace and `;` extensions.
            b"3 junk\r\nabc\r\n0\r\n\r\n",
            b"3 4\r\nabc\r\n0\r\n\r\n",
            b"3;a\rb\r\nabc\r\n0\r\n\r\n",
            // Bare LFs, where a peer that reads only CRLF would frame chunks elsewhere.
            b"2;\nxx\r\n0\r\n\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"3\r\nabc\n0\r\n\r\n",
            b"3\r\nabc\r\n0\n\n",
            b"3\r\nabc\r\n0\r\nX: 1\n\r\n",
        ] {
            assert!(
                decode(bad, Framing::Chunked).unwrap_err().is_body(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn chunk_sizes_take_whitespace_before_extensions_and_trailers_are_bounded() {
        assert_eq!(
            decode(b"3 ;a=b\r\nabc\r\n2\t\r\nde\r\n0\r\n\r\n", Framing::Chunked).unwrap(),
            b"abcde"
        );
        let mut wire = b"1\r\na\r\n0\r\n".to_vec();
        for _ in 0..100 {
            wire.extend_from_slice(format!("X-T: {}\r\n", "t".repeat(1000)).as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        assert!(decode(&wire, Framing::Chunked).unwrap_err().is_body());
    }

    #[test]
    fn length_and_close_framing_read_exactly() {
        assert_eq!(decode(b"abcdef", Framing::Length(4)).unwrap(), b"abcd");
        assert!(decode(b"ab", Framing::Length(4)).unwrap_err().is_body());
        assert_eq!(decode(b"abcdef", Framing::Close).unwrap(), b"abcdef");
    }

    #[test]
    fn heads_are_written_with_weft_framing() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        let mut out = Vec::new();
        let none = Added {
            connection: None,
            date: None,
        };
        write_response_head(
            &mut out,
            StatusCode::OK,
            &headers,
            Framing::Length(2),
            true,
            none,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n".to_vec()
        );
        // The server's own `connection` replaces the handler's; its `date` goes in as given.
        headers.insert(
            http::header::CONNECTION,
            HeaderValue::from_static("keep-alive"),
        );
        out.clear();
        let added = Added {
            connection: Some("close"),
            date: Some(b"Thu, 03 Dec 2026 15:00:00 GMT"),
        };
        write_response_head(
            &mut out,
            StatusCode::NOT_FOUND,
            &headers,
            Framing::Length(18_446_744_073_709_551_615),
            true,
            added,
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ndate: Thu, 03 Dec 2026 15:00:00 GMT\r\n\
             x-a: 1\r\ncontent-length: 18446744073709551615\r\n\r\n"
        );
        for n in [0u64, 7, 10, 1234567890] {
            let mut v = Vec::new();
            write_decimal(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
        }
        out.clear();
        write_chunk(&mut out, b"hi");
        write_last_chunk(&mut out, None);
        assert_eq!(out, b"2\r\nhi\r\n0\r\n\r\n".to_vec());
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let mut h = HeaderMap::new();
        assert!(keep_alive(Version::HTTP_11, &h));
        assert!(!keep_alive(Version::HTTP_10, &h));
        h.insert("connection", HeaderValue::from_static("Keep-Alive"));
        assert!(keep_alive(Version::HTTP_10, &h));
        h.insert("connection", HeaderValue::from_static("close"));
        assert!(!keep_alive(Version::HTTP_11, &h));
    }
}
