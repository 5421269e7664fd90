//! The HTTP client: [`Client`], with a pool of keep-alive connections, HTTP/2, redirects,
//! timeouts that cover the whole exchange, and `https://` through rustls.
//!
//! The guide's Example 5, fetching and parsing JSON:
//!
//! ```no_run
//! # weft::block_on(async {
//! let response = weft::http::get("https://api.example.com/users/1").await?;
//! if response.status() != 200 {
//!     eprintln!("unexpected status: {}", response.status());
//! }
//! let data: serde_json::Value = response.json().await?;
//! println!("user: {}", data["name"]);
//! # Ok::<(), weft::http::Error>(()) }).unwrap();
//! ```
//!
//! [`get`] uses one client shared by the process; build your own with [`Client::builder`]
//! for other timeouts, headers or roots.
//!
//! # Connections
//!
//! A request goes over a connection to its origin (scheme, host, port) taken from the pool, or
//! a new one. Reading a response body to its end hands the connection back to the pool (if
//! the response lets it stay open); dropping a response or its body before that closes it.
//! At most [`pool_max_idle_per_host`](ClientBuilder::pool_max_idle_per_host) connections per
//! origin wait idle, the most recently used taken first, and one idle for longer than
//! [`pool_idle_timeout`](ClientBuilder::pool_idle_timeout) is closed (by a task of the pool
//! that sleeps until the next one expires, while any wait). That
//! bounds idle connections, not concurrent requests: requests in flight at the same time
//! each have their own connection. To bound those, set
//! [`max_connections_per_host`](ClientBuilder::max_connections_per_host): requests beyond it
//! wait for one in flight to finish (its body read or dropped).
//!
//! # HTTP/2
//!
//! Over `https://` the client offers `h2` then `http/1.1` in TLS's ALPN and speaks what the
//! server picks ([`http1_only`](ClientBuilder::http1_only) offers only `http/1.1`). Plain
//! `http://` is HTTP/1.1, unless [`http2_prior_knowledge`](ClientBuilder::http2_prior_knowledge)
//! says the server speaks HTTP/2. An HTTP/2 connection is shared: all the requests to its
//! origin go over it at once, as streams, up to the server's `MAX_CONCURRENT_STREAMS`
//! (beyond it they wait for a stream; no second connection is opened). While the first
//! connection to an origin is being opened, requests that could share it wait for it rather
//! than open their own. A response body's flow-control window is given back as it is read,
//! so a slow reader holds the server back rather than fill memory. Requests the server did
//! not process (those past the last stream of its GOAWAY, or refused) go again on a new
//! connection; a stream the server resets fails its request; a response (or its body)
//! dropped early resets its stream only.
//!
//! A pooled connection that the server has closed while it was idle is noticed when it is
//! taken from the pool, and a new one is opened instead. A request that still fails on a
//! pooled connection before any byte of the response arrived (the server closed it just as
//! the request went out) is sent once more on a new connection, if its method is idempotent
//! and its body is in memory.
//!
//! A server may answer before it has read the whole request, and close: a `413` to an upload
//! it refuses, say. The write of the body then fails, but the answer is what [`send`]
//! returns (as with hyper or Go's `net/http`), not the write's error.
//!
//! # Request bodies and the response
//!
//! A request body goes out while its response comes in, so a server that answers as it
//! reads (an echo, a proxy, a streaming transform) does not deadlock with the client: [`send`]
//! returns once the response's head is there, even if the body is still going, and reading
//! the response's body sends the rest of the request as it goes. The request advances only
//! while the response is read (in `send`, then through the body): a response whose body is
//! left unread holds its upload where it stands. If the request's body stream fails after the
//! head has arrived, reading the response's body fails with that error. A connection goes back
//! to the pool only once the request was sent whole and the response read to its end; a
//! response that ends while the request is still going out closes its connection rather than
//! wait for the upload.
//!
//! [`send`]: RequestBuilder::send

#![forbid(unsafe_code)]

mod conn;
mod h2;
mod pool;
mod redirect;
mod request;
mod response;
mod send;
#[cfg(feature = "tls")]
mod tls;
mod upload;

pub use redirect::Policy;
pub use request::{IntoUrl, RequestBuilder};
pub use response::Response;

use crate::http::header::USER_AGENT;
use crate::http::{Error, HeaderMap, HeaderValue, Method};
use conn::Connector;
use pool::Pool;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Which HTTP versions a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// HTTP/2 where TLS's ALPN picks it, HTTP/1.1 otherwise.
    Auto,
    /// HTTP/1.1 only.
    Http1Only,
    /// HTTP/2 on every connection, without asking.
    PriorKnowledge,
}

/// The `User-Agent` a client sends unless told otherwise.
const DEFAULT_USER_AGENT: &str = concat!("weft/", env!("CARGO_PKG_VERSION"));

/// An HTTP client (HTTP/1.1 and HTTP/2) with a connection pool.
///
/// A `Client` is cheap to clone (the clones share one pool and configuration): make one and
/// pass it around rather than one per request.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use weft::http::Client;
///
/// # weft::block_on(async {
/// let client = Client::builder()
///     .timeout(Duration::from_secs(10))
///     .user_agent("my-app/1.0")
///     .build()?;
/// let page = client
///     .get("http://127.0.0.1:8080/search")
///     .query(&[("q", "weft")])
///     .send()
///     .await?
///     .error_for_status()?
///     .text()
///     .await?;
/// println!("{page}");
/// # Ok::<(), weft::http::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientRef>,
}

struct ClientRef {
    pool: Arc<Pool>,
    proto: Proto,
    connector: Connector,
    headers: HeaderMap,
    timeout: Option<Duration>,
    redirect: Policy,
}

impl Client {
    /// A client with the defaults of [`ClientBuilder`].
    ///
    /// # Panics
    ///
    /// If TLS cannot be set up (the crypto provider fails to start), which
    /// [`builder`](Client::builder)`.build()` returns as an error instead.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default HTTP client cannot be built")
    }

    /// A builder to configure a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// Starts a `GET` request to `url`.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// Starts a `POST` request to `url`.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// Starts a `PUT` request to `url`.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// Starts a `DELETE` request to `url`.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// Starts a `HEAD` request to `url`.
    pub fn head(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Starts a request with `method` to `url`.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.into_url())
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("pool", &self.inner.pool)
            .field("connector", &self.inner.connector)
            .field("timeout", &self.inner.timeout)
            .field("redirect", &self.inner.redirect)
            .finish_non_exhaustive()
    }
}

/// Sends a `GET` request to `url` with a client shared by the whole process (made on first
/// use, with the defaults of [`ClientBuilder`]).
///
/// # Errors
///
/// As [`RequestBuilder::send`].
///
/// # Examples
///
/// ```no_run
/// # weft::block_on(async {
/// let response = weft::http::get("http://127.0.0.1:8080/health").await?;
/// assert_eq!(response.status(), 200);
/// let body = response.text().await?;
/// # drop(body);
/// # Ok::<(), weft::http::Error>(()) }).unwrap();
/// ```
pub async fn get(url: impl IntoUrl) -> Result<Response, Error> {
    static SHARED: OnceLock<Client> = OnceLock::new();
    SHARED.get_or_init(Client::new).get(url).send().await
}

/// Configures a [`Client`].
///
/// The defaults: no timeouts, at most 32 idle connections per host kept for 90 seconds, no
/// cap on connections per host, up to 10 redirects followed, `User-Agent: weft/<version>`,
/// the webpki roots trusted for `https`, and HTTP/2 where TLS's ALPN picks it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::http::client::Policy;
/// use weft::http::{Client, HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-api-key", HeaderValue::from_static("secret"));
/// let client = Client::builder()
///     .connect_timeout(Duration::from_secs(3))
///     .timeout(Duration::from_secs(30))
///     .pool_max_idle_per_host(8)
///     .redirect(Policy::limited(3))
///     .default_headers(headers)
///     .build()
///     .unwrap();
/// # drop(client);
/// ```
pub struct ClientBuilder {
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    max_idle: usize,
    idle_timeout: Option<Duration>,
    max_per_host: Option<usize>,
    redirect: Policy,
    headers: HeaderMap,
    proto: Proto,
    #[cfg(feature = "tls")]
    roots: Vec<Vec<u8>>,
    error: Option<Error>,
}

impl ClientBuilder {
    fn new() -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
        Self {
            connect_timeout: None,
            timeout: None,
            max_idle: 32,
            idle_timeout: Some(Duration::from_secs(90)),
            max_per_host: None,
            redirect: Policy::default(),
            headers,
            proto: Proto::Auto,
            #[cfg(feature = "tls")]
            roots: Vec::new(),
            error: None,
        }
    }

    /// Limits connecting (resolving the host, TCP, and the TLS handshake) to `timeout`; past
    /// it the request fails with an [`is_timeout`](Error::is_timeout) error.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Limits each request, from `send` until its response's body is read (redirects
    /// included), to `timeout`; a request's own [`timeout`](RequestBuilder::timeout) replaces
    /// it. Past it, `send` or the body read fails with an [`is_timeout`](Error::is_timeout)
    /// error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Keeps at most `max` idle connections per origin (default 32; 0 keeps none: each
    /// request opens its own connection).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.max_idle = max;
        self
    }

    /// Closes a connection that has been idle for longer than `timeout` (default 90
    /// seconds; `None`: never): an HTTP/1.1 one waiting in the pool, an HTTP/2 one with no
    /// request on it.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// Lets at most `max` requests to one origin be in flight at once (sent, and their
    /// response bodies not read to the end or dropped yet); the others wait their turn. As
    /// each request in flight holds one connection, this caps the connections to the origin
    /// at `max` too. An HTTP/2 connection, which all the requests to its origin share,
    /// counts as one for as long as it is open (its requests take no turn of their own).
    /// Default: no cap. A `max` of 0 counts as 1.
    pub fn max_connections_per_host(mut self, max: usize) -> Self {
        self.max_per_host = Some(max.max(1));
        self
    }

    /// Speaks HTTP/1.1 only: TLS offers only `http/1.1` in ALPN (by default it offers `h2`
    /// first, and the server's choice decides).
    pub fn http1_only(mut self) -> Self {
        self.proto = Proto::Http1Only;
        self
    }

    /// Speaks HTTP/2 on every connection without asking first: on `http://` (h2c, for a
    /// server known to take it) and on `https://` (ALPN then offers only `h2`, and HTTP/2 is
    /// spoken whatever the server answers). Without it, `http://` is HTTP/1.1.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.proto = Proto::PriorKnowledge;
        self
    }

    /// Sets the redirect policy (default: [`Policy::limited(10)`](Policy::limited)).
    pub fn redirect(mut self, policy: Policy) -> Self {
        self.redirect = policy;
        self
    }

    /// Header fields sent with every request (a request's own fields of the same name replace
    /// them); each name in `headers` replaces what was set for it before, the `User-Agent`
    /// included.
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            if let Some(name) = name {
                self.headers.remove(&name);
                last = Some(name);
            }
            if let Some(name) = &last {
                self.headers.append(name.clone(), value);
            }
        }
        self
    }

    /// Sets the `User-Agent` (default `weft/<version>`).
    pub fn user_agent<V>(mut self, value: V) -> Self
    where
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        match HeaderValue::try_from(value) {
            Ok(v) => {
                self.headers.insert(USER_AGENT, v);
            }
            Err(e) => {
                self.error = Some(Error::builder("invalid User-Agent").with_source(e.into()));
            }
        }
        self
    }

    /// Trusts `der` (a DER-encoded certificate) as a root for `https`, besides the webpki
    /// roots.
    #[cfg(feature = "tls")]
    pub fn add_root_certificate(mut self, der: impl AsRef<[u8]>) -> Self {
        self.roots.push(der.as_ref().to_vec());
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// An [`is_builder`](Error::is_builder) error for an invalid `User-Agent` or root
    /// certificate, or if TLS cannot be set up.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let connector = Connector {
            connect_timeout: self.connect_timeout,
            #[cfg(feature = "tls")]
            tls: tls::connector(
                &self.roots,
                match self.proto {
                    Proto::Auto => &[b"h2", b"http/1.1"],
                    Proto::Http1Only => &[b"http/1.1"],
                    Proto::PriorKnowledge => &[b"h2"],
                },
            )?,
        };
        Ok(Client {
            inner: Arc::new(ClientRef {
                pool: Arc::new(Pool::new(
                    self.max_idle,
                    self.idle_timeout,
                    self.max_per_host,
                )),
                proto: self.proto,
                connector,
                headers: self.headers,
                timeout: self.timeout,
                redirect: self.redirect,
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("pool_max_idle_per_host", &self.max_idle)
            .field("pool_idle_timeout", &self.idle_timeout)
            .field("max_connections_per_host", &self.max_per_host)
            .field("redirect", &self.redirect)
            .field("proto", &self.proto)
            .field("default_headers", &self.headers)
            .finish_non_exhaustive()
    }
}
