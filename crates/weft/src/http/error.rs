//! The one error type of `weft::http`, for the server, the client and bodies.

#![forbid(unsafe_code)]

use super::{StatusCode, Uri};
use std::fmt;

/// What went wrong in an HTTP exchange.
///
/// One type for the client, the server and [`Body`](super::Body): the `is_*` methods say what
/// kind of failure it was, [`status`](Error::status) gives the status of an
/// [`error_for_status`](super::client::Response::error_for_status) failure, and the message names the
/// URL when there is one.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let err = weft::http::Body::from("too long").limit(3).bytes().await.unwrap_err();
/// assert!(err.is_body());
/// assert_eq!(err.to_string(), "body error: the body is larger than its limit of 3 bytes");
/// # });
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    url: Option<Uri>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A malformed request or URL, refused before anything was sent.
    Builder(String),
    /// Connecting (resolving, TCP, TLS) failed.
    Connect,
    /// A deadline passed.
    Timeout,
    /// A status that `error_for_status` refuses.
    Status(StatusCode),
    /// Reading or decoding a body failed, or it is over its limit.
    Body(String),
    /// Too many redirects, or one the policy refuses.
    Redirect(String),
    /// The peer broke the protocol (a malformed message).
    Protocol(String),
    /// An I/O error on an established connection.
    Io,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                url: None,
                source: None,
            }),
        }
    }

    pub(crate) fn builder(msg: impl Into<String>) -> Self {
        Self::new(Kind::Builder(msg.into()))
    }

    pub(crate) fn body(msg: impl Into<String>) -> Self {
        Self::new(Kind::Body(msg.into()))
    }

    pub(crate) fn protocol(msg: impl Into<String>) -> Self {
        Self::new(Kind::Protocol(msg.into()))
    }

    pub(crate) fn redirect(msg: impl Into<String>) -> Self {
        Self::new(Kind::Redirect(msg.into()))
    }

    pub(crate) fn timeout() -> Self {
        Self::new(Kind::Timeout)
    }

    pub(crate) fn status_error(status: StatusCode) -> Self {
        Self::new(Kind::Status(status))
    }

    /// An I/O error; a `TimedOut` one counts as a timeout.
    pub(crate) fn io(e: std::io::Error) -> Self {
        let kind = if e.kind() == std::io::ErrorKind::TimedOut {
            Kind::Timeout
        } else {
            Kind::Io
        };
        Self::new(kind).with_source(e)
    }

    pub(crate) fn connect(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(Kind::Connect).with_source(e)
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Names the URL the error happened at (kept if one is already named).
    pub(crate) fn with_url(mut self, url: &Uri) -> Self {
        if self.inner.url.is_none() {
            self.inner.url = Some(url.clone());
        }
        self
    }

    #[allow(dead_code)]
    pub(crate) fn kind(&self) -> &Kind {
        &self.inner.kind
    }

    /// A deadline passed: the connect, request or header timeout.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// Connecting failed: the host did not resolve, refused the connection, or the TLS
    /// handshake failed.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// [`error_for_status`](super::client::Response::error_for_status) refused the response's status.
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, Kind::Status(_))
    }

    /// Reading or decoding a body failed (bad JSON, not UTF-8, over its limit, cut short).
    pub fn is_body(&self) -> bool {
        matches!(self.inner.kind, Kind::Body(_))
    }

    /// The redirect policy stopped: too many redirects, or one it refuses.
    pub fn is_redirect(&self) -> bool {
        matches!(self.inner.kind, Kind::Redirect(_))
    }

    /// The request could not be built: a malformed URL, header or JSON value.
    pub fn is_builder(&self) -> bool {
        matches!(self.inner.kind, Kind::Builder(_))
    }

    /// The status of an [`is_status`](Error::is_status) error.
    pub fn status(&self) -> Option<StatusCode> {
        match self.inner.kind {
            Kind::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The URL the error happened at, if it is known.
    pub fn url(&self) -> Option<&Uri> {
        self.inner.url.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::Builder(m) => write!(f, "invalid request: {m}")?,
            Kind::Connect => f.write_str("connect error")?,
            Kind::Timeout => f.write_str("timed out")?,
            Kind::Status(s) => write!(f, "HTTP status {s}")?,
            Kind::Body(m) => write!(f, "body error: {m}")?,
            Kind::Redirect(m) => write!(f, "redirect error: {m}")?,
            Kind::Protocol(m) => write!(f, "protocol error: {m}")?,
            Kind::Io => f.write_str("I/O error")?,
        }
        if let Some(url) = &self.inner.url {
            write!(f, " for {url}")?;
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("weft::http::Error");
        d.field("kind", &self.inner.kind);
        if let Some(url) = &self.inner.url {
            d.field("url", url);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(e)
    }
}
