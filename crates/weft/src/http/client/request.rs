//! Building a request: the URL, header fields, query, body and timeout, then `send`.

#![forbid(unsafe_code)]

use super::{send, Client, Response};
use crate::http::header::{HeaderName, CONTENT_TYPE};
use crate::http::{Body, Error, HeaderMap, HeaderValue, Method, Uri};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// What a request can be sent to: `&str`, `String` and [`Uri`]. Only `http://` and
/// `https://` URLs with a host are accepted; anything else is an
/// [`is_builder`](Error::is_builder) error.
pub trait IntoUrl {
    /// The URL, checked.
    ///
    /// # Errors
    ///
    /// An [`is_builder`](Error::is_builder) error for a string that is no URL, a scheme
    /// other than `http` and `https`, or a URL without a host.
    fn into_url(self) -> Result<Uri, Error>;
}

impl IntoUrl for Uri {
    fn into_url(self) -> Result<Uri, Error> {
        check(self)
    }
}

impl IntoUrl for &Uri {
    fn into_url(self) -> Result<Uri, Error> {
        check(self.clone())
    }
}

impl IntoUrl for &str {
    fn into_url(self) -> Result<Uri, Error> {
        let uri: Uri = self
            .parse()
            .map_err(|e| Error::builder(format!("{self:?} is not a URL")).with_source(e))?;
        check(uri)
    }
}

impl IntoUrl for String {
    fn into_url(self) -> Result<Uri, Error> {
        self.as_str().into_url()
    }
}

impl IntoUrl for &String {
    fn into_url(self) -> Result<Uri, Error> {
        self.as_str().into_url()
    }
}

/// Accepts `http` and `https` URLs with a host, and gives a URL without a path the path `/`.
pub(crate) fn check(uri: Uri) -> Result<Uri, Error> {
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        Some(s) => {
            return Err(Error::builder(format!(
                "the URL scheme {s:?} is not supported: only http and https are"
            ))
            .with_url(&uri))
        }
        None => {
            return Err(
                Error::builder("the URL has no scheme (http:// or https://)").with_url(&uri),
            )
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::builder("the URL has no host").with_url(&uri));
    }
    if uri.path_and_query().is_none() {
        let mut parts = uri.into_parts();
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        return Uri::from_parts(parts)
            .map_err(|e| Error::builder("the URL cannot be completed").with_source(e));
    }
    Ok(uri)
}

/// A request being built: made by [`Client::get`] and its siblings, sent by
/// [`send`](RequestBuilder::send).
///
/// A mistake while building (a malformed URL or header) is kept and returned by `send`, so
/// the calls chain without a `?` each.
pub struct RequestBuilder {
    client: Client,
    request: Result<Request, Error>,
}

/// A request ready to go.
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    pub(crate) timeout: Option<Duration>,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: Result<Uri, Error>) -> Self {
        Self {
            client,
            request: url.map(|url| Request {
                method,
                url,
                headers: HeaderMap::new(),
                body: Body::empty(),
                timeout: None,
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Request) -> Result<(), Error>) -> Self {
        if let Ok(req) = &mut self.request {
            if let Err(e) = f(req) {
                let e = e.with_url(&req.url);
                self.request = Err(e);
            }
        }
        self
    }

    /// Adds a header field (after the client's default fields of the same name, which it
    /// replaces).
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.with(|req| {
            let name = HeaderName::try_from(name)
                .map_err(|e| Error::builder("invalid header name").with_source(e.into()))?;
            let value = HeaderValue::try_from(value)
                .map_err(|e| Error::builder("invalid header value").with_source(e.into()))?;
            req.headers.append(name, value);
            Ok(())
        })
    }

    /// Sets header fields: each name in `headers` replaces the values set for it so far.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.with(|req| {
            let mut last: Option<HeaderName> = None;
            for (name, value) in headers {
                if let Some(name) = name {
                    req.headers.remove(&name);
                    last = Some(name);
                }
                // A name comes with the first of its values.
                if let Some(name) = &last {
                    req.headers.append(name.clone(), value);
                }
            }
            Ok(())
        })
    }

    /// Appends `pairs` to the URL's query, percent-encoded (`&` between pairs, `=` in each).
    ///
    /// # Examples
    ///
    /// ```
    /// # let client = weft::http::Client::new();
    /// let req = client.get("http://127.0.0.1/search").query(&[("q", "a b&c"), ("n", "2")]);
    /// # drop(req);
    /// ```
    pub fn query<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        self.with(|req| {
            if pairs.is_empty() {
                return Ok(());
            }
            let mut pq = req.url.path().to_owned();
            let mut sep = '?';
            if let Some(q) = req.url.query() {
                pq.push('?');
                pq.push_str(q);
                sep = '&';
                if q.is_empty() {
                    sep = '\0';
                }
            }
            for (k, v) in pairs {
                if sep != '\0' {
                    pq.push(sep);
                }
                sep = '&';
                encode(&mut pq, k.as_ref());
                pq.push('=');
                encode(&mut pq, v.as_ref());
            }
            let mut parts = req.url.clone().into_parts();
            parts.path_and_query = Some(
                pq.parse()
                    .map_err(|e| Error::builder("the query cannot be added").with_source(e))?,
            );
            req.url = Uri::from_parts(parts)
                .map_err(|e| Error::builder("the query cannot be added").with_source(e))?;
            Ok(())
        })
    }

    /// Sets the body. One in memory (`&str`, `String`, `Vec<u8>`, `Bytes`) is sent with a
    /// `Content-Length`, and can be sent again on a redirect or a retry; a streaming one is
    /// sent chunked (or with its length, if it knows it) and cannot. Either goes out while the
    /// response is read (see [the module docs](super#request-bodies-and-the-response)).
    pub fn body(self, body: impl Into<Body>) -> Self {
        let body = body.into();
        self.with(|req| {
            req.body = body;
            Ok(())
        })
    }

    /// Sets the body to `value` as JSON, and `Content-Type: application/json` unless a
    /// content type is set already.
    ///
    /// An error serialising `value` is returned by [`send`](RequestBuilder::send), as an
    /// [`is_builder`](Error::is_builder) one.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let body = Body::json_of(value);
        self.with(|req| {
            req.body = body?;
            if !req.headers.contains_key(CONTENT_TYPE) {
                req.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Ok(())
        })
    }

    /// Limits this request, from `send` until its response's body is read, to `timeout`
    /// (in place of the client's [`timeout`](super::ClientBuilder::timeout)).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|req| {
            req.timeout = Some(timeout);
            Ok(())
        })
    }

    /// Sends the request and waits for the response's head (following redirects as the
    /// client's policy says); the body is read from the [`Response`]. The head may come before
    /// the request's body has gone out whole: the rest goes as the response's body is read.
    ///
    /// # Errors
    ///
    /// The mistake made while building ([`is_builder`](Error::is_builder)), a failure to
    /// connect ([`is_connect`](Error::is_connect)), the deadline
    /// ([`is_timeout`](Error::is_timeout)), a redirect the policy refuses
    /// ([`is_redirect`](Error::is_redirect)), or a connection that failed or broke the protocol.
    /// Every error names the URL. A 4xx or 5xx status is no error here: see
    /// [`Response::error_for_status`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// # weft::block_on(async {
    /// let client = weft::http::Client::new();
    /// let response = client
    ///     .post("http://127.0.0.1:8080/items")
    ///     .json(&serde_json::json!({ "name": "weft" }))
    ///     .timeout(Duration::from_secs(5))
    ///     .send()
    ///     .await?;
    /// assert!(response.status().is_success());
    /// # Ok::<(), weft::http::Error>(()) }).unwrap();
    /// ```
    pub async fn send(self) -> Result<Response, Error> {
        let req = self.request?;
        send::execute(&self.client, req).await
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RequestBuilder");
        match &self.request {
            Ok(req) => d
                .field("method", &req.method)
                .field("url", &req.url)
                .field("headers", &req.headers),
            Err(e) => d.field("error", e),
        };
        d.finish()
    }
}

/// Percent-encodes `s` onto `out`: unreserved characters (RFC 3986) stay, every other byte
/// becomes `%XX`.
fn encode(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_percent_encoded_and_appended() {
        let client = Client::new();
        let url = |b: RequestBuilder| b.request.unwrap().url.to_string();
        assert_eq!(
            url(client
                .get("http://h/p")
                .query(&[("q", "a b&c=d/é"), ("n", "2")])),
            "http://h/p?q=a%20b%26c%3Dd%2F%C3%A9&n=2"
        );
        assert_eq!(
            url(client.get("http://h/p?x=1").query(&[("y", "2")])),
            "http://h/p?x=1&y=2"
        );
        assert_eq!(
            url(client.get("http://h").query(&[("y", "")])),
            "http://h/?y="
        );
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_accepted() {
        for bad in [
            "ftp://h/",
            "h/p",
            "/p",
            "http:///p",
            "not a url",
            "file:///etc/passwd",
        ] {
            let e = bad.into_url().unwrap_err();
            assert!(e.is_builder(), "{bad:?}: {e}");
        }
        assert_eq!("http://h".into_url().unwrap().path(), "/");
        assert!("HTTPS://h:1/x".into_url().is_ok());
    }
}
