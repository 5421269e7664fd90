//! What a handler may return ([`IntoResponse`]) and the `date` header the server adds.

#![forbid(unsafe_code)]

use crate::http::{header, Body, HeaderValue, Response, StatusCode};
use std::cell::RefCell;
use std::fmt::Display;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a handler's future may resolve to: anything the server can turn into a response.
///
/// Implemented for `Response<Body>`, for `Result<R, E>` where `R: IntoResponse` and
/// `E: Display` (an `Err` becomes a `500 Internal Server Error`, and its message is written to
/// stderr with the request's method and path, not to the client), for [`StatusCode`] (an
/// empty body), and for `&'static str` and `String` (a `200 OK` with a `text/plain` body).
///
/// # Examples
///
/// ```
/// use weft::http::server::IntoResponse;
/// use weft::http::{Body, Response, StatusCode};
///
/// let ok: Result<Response<Body>, String> = Ok(Response::new(Body::from("fine")));
/// assert_eq!(ok.into_response().status(), StatusCode::OK);
///
/// let failed: Result<Response<Body>, String> = Err("the database is down".into());
/// assert_eq!(failed.into_response().status(), StatusCode::INTERNAL_SERVER_ERROR);
/// ```
pub trait IntoResponse {
    /// Turns `self` into the response to send.
    fn into_response(self) -> Response<Body>;
}

/// The message of a handler's `Err`, carried in the 500's extensions to the connection, which
/// reports it with the method and path and removes it.
#[derive(Debug, Clone)]
pub(crate) struct HandlerError(pub(crate) String);

impl IntoResponse for Response<Body> {
    fn into_response(self) -> Response<Body> {
        self
    }
}

impl<R: IntoResponse, E: Display> IntoResponse for Result<R, E> {
    fn into_response(self) -> Response<Body> {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => {
                let mut res = status_response(StatusCode::INTERNAL_SERVER_ERROR);
                res.extensions_mut().insert(HandlerError(e.to_string()));
                res
            }
        }
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response<Body> {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self;
        res
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response<Body> {
        text(Body::from(self))
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response<Body> {
        text(Body::from(self))
    }
}

fn text(body: Body) -> Response<Body> {
    let mut res = Response::new(body);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// A response of `status` whose body is its reason phrase.
pub(crate) fn status_response(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("error");
    let mut res = text(Body::from(format!("{reason}\n")));
    *res.status_mut() = status;
    res
}

thread_local! {
    /// The `date` value of the current second, formatted once per second per thread.
    static DATE: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
}

/// The current time as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn date() -> HeaderValue {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.0 == secs {
            if let Some(v) = &cache.1 {
                return v.clone();
            }
        }
        let value = HeaderValue::from_str(&httpdate::fmt_http_date(now))
            .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
        *cache = (secs, Some(value.clone()));
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_err_is_a_500_that_carries_its_message() {
        let r: Result<Response<Body>, &str> = Err("boom");
        let res = r.into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.extensions().get::<HandlerError>().unwrap().0, "boom");
    }

    #[test]
    fn the_date_is_an_http_date() {
        let d = date();
        let s = d.to_str().unwrap();
        assert!(s.ends_with(" GMT"), "{s}");
        assert!(httpdate::parse_http_date(s).is_ok(), "{s}");
    }
}
