//! Between HTTP/2 header blocks and the `http` types: a request from its decoded fields
//! (RFC 9113 section 8.3.1), a response's fields for the encoder.

#![forbid(unsafe_code)]

use super::hpack::{DecodeError, Decoder, Encoder};
use crate::http::h1::may_be_trailer;
use crate::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version};
use http::header::HeaderName;

/// Fields a header block carried.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    list: Vec<(Vec<u8>, Vec<u8>)>,
    /// The list exceeded the size (RFC 9113 section 6.5.2) or count limit; `list` is cut.
    pub(crate) too_large: bool,
}

/// Decodes `block` (the whole block must be decoded, to keep the table in step) and keeps
/// its fields while they stay within `max_size` bytes and `max_count` fields.
pub(crate) fn decode(
    dec: &mut Decoder,
    block: &[u8],
    max_size: usize,
    max_count: usize,
) -> Result<Fields, DecodeError> {
    let mut fields = Fields::default();
    let mut size = 0usize;
    dec.decode(block, |name, value| {
        size = size.saturating_add(name.len() + value.len() + 32);
        if size > max_size || fields.list.len() >= max_count {
            fields.too_large = true;
            fields.list.clear();
        }
        if !fields.too_large {
            fields.list.push((name.to_vec(), value.to_vec()));
        }
    })?;
    Ok(fields)
}

/// A request as its handler gets it, and the `content-length` it announced.
pub(crate) struct Head {
    pub(crate) request: Request<()>,
    pub(crate) content_length: Option<u64>,
}

/// Fields that are only HTTP/1.1's and make an HTTP/2 message malformed.
/// RFC 9113 section 8.2: field names are lowercase, and connection-specific fields have no
/// place in HTTP/2.
fn check_regular_name(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().any(u8::is_ascii_uppercase) {
        return Err("an uppercase field name");
    }
    if CONNECTION_SPECIFIC.contains(&name) {
        return Err("a connection-specific field");
    }
    Ok(())
}

const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// The request the fields of a HEADERS block describe; `Err` names why it is malformed.
pub(crate) fn request(fields: Fields) -> Result<Head, &'static str> {
    let mut method = None;
    let mut scheme = None;
    let mut authority = None;
    let mut path = None;
    let mut headers = HeaderMap::new();
    let mut regular = false;
    for (name, value) in fields.list {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular {
                return Err("a pseudo-header after a regular field");
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                _ => return Err("an unknown pseudo-header"),
            };
            if slot.replace(value).is_some() {
                return Err("a repeated pseudo-header");
            }
            continue;
        }
        regular = true;
        check_regular_name(&name)?;
        if name == b"te" && value != b"trailers" {
            return Err("a te field other than trailers");
        }
        let name = HeaderName::from_bytes(&name).map_err(|_| "an invalid field name")?;
        let value = HeaderValue::from_bytes(&value).map_err(|_| "an invalid field value")?;
        headers.append(name, value);
    }
    let method = Method::from_bytes(&method.ok_or("no :method")?).map_err(|_| "a bad :method")?;
    if method == Method::CONNECT {
        return Err("CONNECT is not served");
    }
    let scheme = scheme.ok_or("no :scheme")?;
    let path = path.ok_or("no :path")?;
    // RFC 9113 section 8.3.1: an absolute path, or `*` for OPTIONS (what a handler would
    // otherwise route or check as a path would be no path at all).
    match path.first() {
        None => return Err("an empty :path"),
        Some(b'*') if path.len() == 1 => {
            if method != Method::OPTIONS {
                return Err("a :path of * on a request other than OPTIONS");
            }
        }
        Some(b'/') => {}
        Some(_) => return Err("a :path that is not absolute"),
    }
    let path = std::str::from_utf8(&path).map_err(|_| "a bad :path")?;
    let uri = match &authority {
        Some(auth) if path != "*" => Uri::builder()
            .scheme(std::str::from_utf8(&scheme).map_err(|_| "a bad :scheme")?)
            .authority(auth.as_slice())
            .path_and_query(path)
            .build()
            .map_err(|_| "a bad :authority, :scheme or :path")?,
        _ => path.parse().map_err(|_| "a bad :path")?,
    };
    if let Some(auth) = authority {
        // Handlers read the host the same way on both versions.
        if !headers.contains_key(header::HOST) {
            let value = HeaderValue::from_bytes(&auth).map_err(|_| "a bad :authority")?;
            headers.insert(header::HOST, value);
        }
    }
    let content_length = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => {
            if headers.get_all(header::CONTENT_LENGTH).iter().count() > 1 {
                return Err("more than one content-length");
            }
            let text = v.to_str().map_err(|_| "a bad content-length")?;
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err("a bad content-length");
            }
            Some(text.parse::<u64>().map_err(|_| "a bad content-length")?)
        }
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_2;
    *request.headers_mut() = headers;
    Ok(Head {
        request,
        content_length,
    })
}

/// The trailer fields of a request or a response (RFC 9113 section 8.1): regular fields
/// only, by the rules of a head's; `Err` names why they are malformed. Of the valid ones,
/// only those that may be trailers are kept (RFC 9110 section 6.5.1, as on HTTP/1.1).
pub(crate) fn trailers(fields: Fields) -> Result<HeaderMap, &'static str> {
    let mut headers = HeaderMap::new();
    for (name, value) in fields.list {
        if name.starts_with(b":") {
            return Err("a pseudo-header in trailers");
        }
        check_regular_name(&name)?;
        let name = HeaderName::from_bytes(&name).map_err(|_| "an invalid field name")?;
        let value = HeaderValue::from_bytes(&value).map_err(|_| "an invalid field value")?;
        if may_be_trailer(&name) {
            headers.append(name, value);
        }
    }
    Ok(headers)
}

/// The header block of `trailers`, the fields of it that may be trailers (RFC 9110 section
/// 6.5.1) and have a place in HTTP/2; `None` if none has.
pub(crate) fn trailers_block(enc: &mut Encoder, trailers: &HeaderMap) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (name, value) in trailers {
        if CONNECTION_SPECIFIC.contains(&name.as_str().as_bytes()) || !may_be_trailer(name) {
            continue;
        }
        if out.is_empty() {
            out.reserve(16 + trailers.len() * 32);
            enc.begin(&mut out);
        }
        enc.field(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    (!out.is_empty()).then_some(out)
}

/// The header block of a response with `status` and `headers` (minus the fields HTTP/2 has
/// no place for).
pub(crate) fn response_block(
    enc: &mut Encoder,
    status: StatusCode,
    headers: &HeaderMap,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + headers.len() * 32);
    enc.begin(&mut out);
    enc.status(&mut out, status.as_u16());
    for (name, value) in headers {
        let name = name.as_str().as_bytes();
        if CONNECTION_SPECIFIC.contains(&name) {
            continue;
        }
        enc.field(&mut out, name, value.as_bytes());
    }
    out
}

/// A response head as the client reads it from a HEADERS block.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The `content-length` the response announced.
    pub(crate) content_length: Option<u64>,
}

/// The response the fields of a HEADERS block describe (RFC 9113 section 8.3.2); `Err`
/// names why it is malformed. Informational (1xx) heads are returned too: the caller skips
/// them.
pub(crate) fn response(fields: Fields) -> Result<ResponseHead, &'static str> {
    let mut status = None;
    let mut headers = HeaderMap::new();
    let mut regular = false;
    for (name, value) in fields.list {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular {
                return Err("a pseudo-header after a regular field");
            }
            if pseudo != b"status" {
                return Err("a pseudo-header other than :status in a response");
            }
            if status.replace(value).is_some() {
                return Err("a repeated :status");
            }
            continue;
        }
        regular = true;
        check_regular_name(&name)?;
        let name = HeaderName::from_bytes(&name).map_err(|_| "an invalid field name")?;
        let value = HeaderValue::from_bytes(&value).map_err(|_| "an invalid field value")?;
        headers.append(name, value);
    }
    let status = status.ok_or("no :status")?;
    if status.len() != 3 {
        return Err("a bad :status");
    }
    let status = StatusCode::from_bytes(&status).map_err(|_| "a bad :status")?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err("a 101 status, which HTTP/2 has no place for");
    }
    let content_length = content_length(&headers)?;
    Ok(ResponseHead {
        status,
        headers,
        content_length,
    })
}

/// The one valid `content-length` of `headers`, if there is one.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, &'static str> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one content-length");
    }
    let text = v.to_str().map_err(|_| "a bad content-length")?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a bad content-length");
    }
    text.parse::<u64>()
        .map(Some)
        .map_err(|_| "a bad content-length")
}

/// The header block of a request: the pseudo-headers, then `headers` minus the fields
/// HTTP/2 has no place for (`host` is carried by `:authority`).
pub(crate) fn request_block(
    enc: &mut Encoder,
    method: &Method,
    scheme: &str,
    authority: &str,
    path: &str,
    headers: &HeaderMap,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + headers.len() * 32);
    enc.begin(&mut out);
    enc.field(&mut out, b":method", method.as_str().as_bytes());
    enc.field(&mut out, b":scheme", scheme.as_bytes());
    enc.field(&mut out, b":authority", authority.as_bytes());
    enc.field(&mut out, b":path", path.as_bytes());
    for (name, value) in headers {
        let bytes = name.as_str().as_bytes();
        if CONNECTION_SPECIFIC.contains(&bytes) || name == header::HOST {
            continue;
        }
        if name == header::TE && value != "trailers" {
            continue;
        }
        enc.field(&mut out, bytes, value.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Fields {
        Fields {
            list: list
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            too_large: false,
        }
    }

    #[test]
    fn builds_a_request() {
        let head = request(fields(&[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "example.com:8443"),
            (":path", "/a?b=c"),
            ("content-length", "3"),
        ]))
        .unwrap();
        let req = head.request;
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/a");
        assert_eq!(req.uri().query(), Some("b=c"));
        assert_eq!(req.uri().host(), Some("example.com"));
        assert_eq!(req.headers()[header::HOST], "example.com:8443");
        assert_eq!(req.version(), Version::HTTP_2);
        assert_eq!(head.content_length, Some(3));
    }

    #[test]
    fn refuses_malformed_requests() {
        let base = [(":method", "GET"), (":scheme", "http"), (":path", "/")];
        let mut cases: Vec<Vec<(&str, &str)>> = vec![
            vec![(":method", "GET"), (":scheme", "http")],
            vec![(":scheme", "http"), (":path", "/")],
            vec![
                (":method", "GET"),
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
            ],
        ];
        for path in ["", "admin", "*", "http://example.com/", "*x"] {
            cases.push(vec![
                (":method", "GET"),
                (":scheme", "http"),
                (":path", path),
            ]);
        }
        for extra in [
            ("connection", "close"),
            ("Upper", "x"),
            ("te", "gzip"),
            (":status", "200"),
            ("content-length", "x"),
        ] {
            let mut c = base.to_vec();
            c.push(extra);
            cases.push(c);
        }
        let mut late = vec![("a", "b")];
        late.extend_from_slice(&base);
        cases.push(late);
        for c in cases {
            assert!(request(fields(&c)).is_err(), "{c:?}");
        }
        assert!(request(fields(&base)).is_ok());
        let options = [(":method", "OPTIONS"), (":scheme", "http"), (":path", "*")];
        assert!(request(fields(&options)).is_ok());
    }

    #[test]
    fn trailers_are_regular_fields_only() {
        let ok = trailers(fields(&[
            ("x-sum", "1"),
            ("x-sum", "2"),
            ("grpc-status", "0"),
        ]))
        .unwrap();
        assert_eq!(ok.get_all("x-sum").iter().count(), 2);
        assert_eq!(ok["grpc-status"], "0");
        for bad in [
            (":path", "/"),
            ("Upper", "x"),
            ("connection", "close"),
            ("a b", "c"),
        ] {
            assert!(trailers(fields(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_a_response() {
        let head = response(fields(&[
            (":status", "404"),
            ("content-length", "12"),
            ("x-a", "b"),
        ]))
        .unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.content_length, Some(12));
        assert_eq!(head.headers["x-a"], "b");
        for bad in [
            vec![("content-length", "1")],
            vec![(":status", "2000")],
            vec![(":status", "abc")],
            vec![(":status", "101")],
            vec![(":status", "200"), (":status", "200")],
            vec![(":status", "200"), (":path", "/")],
            vec![("x", "y"), (":status", "200")],
            vec![(":status", "200"), ("connection", "close")],
            vec![
                (":status", "200"),
                ("content-length", "1"),
                ("content-length", "1"),
            ],
            vec![(":status", "200"), ("content-length", "-1")],
        ] {
            assert!(response(fields(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_request_block_decodes_to_the_request() {
        let mut enc = Encoder::default();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("ignored"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert("x-y", HeaderValue::from_static("z"));
        let block = request_block(&mut enc, &Method::PUT, "https", "h:1", "/p?q", &headers);
        let mut dec = Decoder::new(4096);
        let fields = decode(&mut dec, &block, 1 << 16, 100).unwrap();
        let head = request(fields).unwrap();
        assert_eq!(head.request.method(), Method::PUT);
        assert_eq!(head.request.uri().to_string(), "https://h:1/p?q");
        assert_eq!(head.request.headers()[header::HOST], "h:1");
        assert_eq!(head.request.headers()["x-y"], "z");
        assert!(!head.request.headers().contains_key(header::CONNECTION));
    }
}
