//! The client's `Response`: the head, the URL it came from, and the body still to be read.

#![forbid(unsafe_code)]

use crate::http::upgrade::{OnUpgrade, Upgraded};
use crate::http::{Body, Error, HeaderMap, StatusCode, Uri, Version};
use bytes::Bytes;
use std::fmt;

/// A response received by a [`Client`](super::Client): its status, version and headers, the
/// URL it came from (after redirects), and its body, read on demand.
///
/// The body streams from the connection: reading it to its end hands the connection back to
/// the pool, and dropping the response before that closes the connection. A request's
/// [`timeout`](super::RequestBuilder::timeout) covers reading the body too.
///
/// # Examples
///
/// ```no_run
/// # weft::block_on(async {
/// let response = weft::http::get("http://127.0.0.1:8080/").await?;
/// println!("{} from {}", response.status(), response.url());
/// let text = response.error_for_status()?.text().await?;
/// # drop(text);
/// # Ok::<(), weft::http::Error>(()) }).unwrap();
/// ```
pub struct Response {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    url: Uri,
    body: Body,
    /// The connection, if the response switched protocols.
    upgraded: Option<Box<Upgraded>>,
}

impl Response {
    pub(crate) fn new(
        status: StatusCode,
        version: Version,
        headers: HeaderMap,
        url: Uri,
        body: Body,
    ) -> Self {
        Self {
            status,
            version,
            headers,
            url,
            body,
            upgraded: None,
        }
    }

    /// This response, switching protocols on `upgraded`.
    pub(crate) fn with_upgraded(mut self, upgraded: Upgraded) -> Self {
        self.upgraded = Some(Box::new(upgraded));
        self
    }

    /// The response's [`OnUpgrade`], taken out.
    pub(crate) fn take_upgrade(&mut self) -> OnUpgrade {
        OnUpgrade::of_response(self.upgraded.take().map(|u| *u), self.status, self.version)
    }

    /// The connection, after a response that switched protocols: a `101 Switching
    /// Protocols` to a request that asked with `Connection: upgrade` and `Upgrade`, or a `2xx`
    /// to `CONNECT` (a tunnel). It reads first the bytes the server sent after the response
    /// head. It is no longer the client's: it never goes back to the pool, and the request's
    /// timeout does not cover it (it still counts towards
    /// [`max_connections_per_host`](super::ClientBuilder::max_connections_per_host) until it
    /// is dropped). [`upgrade::on(&mut response)`](crate::http::upgrade::on) is the same,
    /// as hyper spells it.
    ///
    /// Upgrades are HTTP/1.1's: a request that asks for one is refused with an
    /// [`is_builder`](Error::is_builder) error when its connection would be HTTP/2 (build the
    /// client with [`http1_only`](super::ClientBuilder::http1_only) for `https://` servers
    /// that offer HTTP/2).
    ///
    /// # Errors
    ///
    /// An error that says so if the response did not switch protocols (the server declined:
    /// the response is then an ordinary one, whose body was dropped with it).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use weft::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # weft::block_on(async {
    /// let response = weft::http::Client::new()
    ///     .get("http://127.0.0.1:8080/echo")
    ///     .header("connection", "upgrade")
    ///     .header("upgrade", "echo")
    ///     .send()
    ///     .await?;
    /// let mut conn = response.upgrade().await?;
    /// conn.write_all(b"ping").await?;
    /// let mut buf = [0u8; 4];
    /// conn.read_exact(&mut buf).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn upgrade(mut self) -> Result<Upgraded, Error> {
        let url = self.url.clone();
        self.take_upgrade().await.map_err(|e| e.with_url(&url))
    }

    /// The trailer fields that came after the body, once it has been read to its end
    /// ([`chunk`](Response::chunk) returned `None`); see [`Body::trailers`]. To read the body
    /// and its trailers at once: `response.into_body().bytes_and_trailers()`. Over HTTP/1.1,
    /// servers may send trailers only to a request whose `TE` lists `trailers` (a weft
    /// server, like hyper, does so): set `.header("te", "trailers")` to ask. Over HTTP/2
    /// they come whenever the server sends them.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.body.trailers()
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the server answered with (`HTTP_2` over an HTTP/2 connection).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The header fields, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The URL this response came from: the request's, or the last one redirected to.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The body's length, if the server announced it (`Content-Length`) or it is already read.
    pub fn content_length(&self) -> Option<u64> {
        self.body.len()
    }

    /// Reads the whole body.
    ///
    /// # Errors
    ///
    /// An [`is_body`](Error::is_body) error if the connection fails or closes before the body's
    /// end, or the body is malformed; an [`is_timeout`](Error::is_timeout) one at the request's
    /// deadline.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let url = self.url;
        self.body.bytes().await.map_err(|e| e.with_url(&url))
    }

    /// Reads the whole body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Response::bytes), and an [`is_body`](Error::is_body) error if it is not
    /// UTF-8.
    pub async fn text(self) -> Result<String, Error> {
        let url = self.url;
        self.body.text().await.map_err(|e| e.with_url(&url))
    }

    /// Reads the whole body and parses it as JSON.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Response::bytes), and an [`is_body`](Error::is_body) error if it is not
    /// valid JSON for `T`.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url;
        self.body.json().await.map_err(|e| e.with_url(&url))
    }

    /// The next chunk of the body; `None` at its end.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Response::bytes).
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        let url = &self.url;
        self.body
            .chunk()
            .await
            .map(|r| r.map_err(|e| e.with_url(url)))
    }

    /// Turns a 4xx or 5xx response into an [`is_status`](Error::is_status) error that names the
    /// URL (its body is dropped); any other response comes back as it is.
    ///
    /// # Errors
    ///
    /// The status error, for a client (4xx) or server (5xx) error status.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status.is_client_error() || self.status.is_server_error() {
            return Err(Error::status_error(self.status).with_url(&self.url));
        }
        Ok(self)
    }

    /// The body, to read or to pass on.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// The response as the `http` crate's [`Response`](http::Response): status, version,
    /// headers and body (the URL goes into its extensions, as a [`Uri`], and an upgraded
    /// connection as an [`OnUpgrade`], for [`upgrade::on`](crate::http::upgrade::on)).
    pub fn into_http(self) -> http::Response<Body> {
        let mut res = http::Response::new(self.body);
        if let Some(upgraded) = self.upgraded {
            res.extensions_mut().insert(OnUpgrade::of_response(
                Some(*upgraded),
                self.status,
                self.version,
            ));
        }
        *res.status_mut() = self.status;
        *res.version_mut() = self.version;
        *res.headers_mut() = self.headers;
        res.extensions_mut().insert(self.url);
        res
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .finish()
    }
}
