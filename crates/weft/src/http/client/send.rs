//! A request's way through the client: the deadline, the redirects, the connection taken from
//! the pool or opened, and the one retry on a new connection when a pooled one was stale.

#![forbid(unsafe_code)]

use super::conn::{self, Return};
use super::pool::{Key, Reserve};
use super::request::{self, Request};
use super::{h2, redirect, Client, ClientRef, Proto, Response};
use crate::http::h1::{self, Framing};
use crate::http::h2::client::{self as h2c, Failure};
use crate::http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION,
    PROXY_AUTHORIZATION, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use crate::http::upgrade::Upgraded;
use crate::http::{Body, Error, HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use crate::time::Instant;
use bytes::Bytes;

/// The most of a redirect response's body read so that its connection can be reused; a
/// longer one is dropped with its connection.
const DRAIN_REDIRECT_BODY: u64 = 64 * 1024;

pub(crate) async fn execute(client: &Client, req: Request) -> Result<Response, Error> {
    let inner = &*client.inner;
    let limit = req.timeout.or(inner.timeout);
    let deadline = limit.and_then(|d| Instant::now().checked_add(d));
    let url = req.url.clone();
    let fut = follow(inner, req, deadline);
    match (deadline, limit) {
        (Some(at), Some(limit)) => match crate::time::timeout_at(fut, at).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout()
                .with_source(format!("no response within the timeout of {limit:?}"))
                .with_url(&url)),
        },
        _ => fut.await,
    }
}

/// Sends the request, and again to each redirect's target the policy lets it follow.
async fn follow(
    client: &ClientRef,
    req: Request,
    deadline: Option<Instant>,
) -> Result<Response, Error> {
    let Request {
        mut method,
        mut url,
        mut headers,
        mut body,
        ..
    } = req;
    // A body in memory can be sent again (on a 307 or 308); a stream only once.
    let mut replay: Option<Body> = body.try_clone();
    let mut visited: Vec<Uri> = Vec::new();
    loop {
        // The first request sends the body itself; a redirect a copy, if there is one.
        let this_body = match visited.is_empty() {
            true => std::mem::take(&mut body),
            false => replay
                .as_ref()
                .and_then(Body::try_clone)
                .unwrap_or_default(),
        };
        let response = send_once(client, &method, &url, &headers, this_body, deadline).await?;
        let Some(max) = client.redirect.max() else {
            return Ok(response);
        };
        let status = response.status();
        let changes_to_get = match status {
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => true,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {
                if replay.is_none() {
                    // The body was a stream, already sent: it cannot go again.
                    return Ok(response);
                }
                false
            }
            _ => return Ok(response),
        };
        let Some(location) = response.headers().get(LOCATION) else {
            return Ok(response);
        };
        let location = location.to_str().map_err(|_| {
            Error::redirect("the Location header is not a valid URL (not ASCII)").with_url(&url)
        })?;
        let next = redirect::resolve(&url, location)?;
        let next = request::check(next.clone()).map_err(|_| {
            Error::redirect(format!(
                "the redirect goes to {next}, not an http or https URL"
            ))
            .with_url(&url)
        })?;
        if is_https(&url) && !is_https(&next) {
            return Err(Error::redirect(format!(
                "refusing to follow a redirect from https to http ({next})"
            ))
            .with_url(&url));
        }
        visited.push(url.clone());
        if visited.contains(&next) {
            return Err(
                Error::redirect(format!("redirect loop: {next} was visited already"))
                    .with_url(&url),
            );
        }
        if visited.len() > max {
            return Err(
                Error::redirect(format!("more than {max} redirects, the last to {next}"))
                    .with_url(&url),
            );
        }
        if changes_to_get {
            if method != Method::HEAD {
                method = Method::GET;
            }
            replay = Some(Body::empty());
            for name in [
                CONTENT_TYPE,
                CONTENT_LENGTH,
                CONTENT_ENCODING,
                TRANSFER_ENCODING,
            ] {
                headers.remove(name);
            }
        }
        if origin(&url) != origin(&next) {
            for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST] {
                headers.remove(name);
            }
        }
        // Read a short redirect body to its end so that its connection goes back to the pool;
        // one that runs to the connection's close leaves no connection to reuse: it is dropped.
        if delimited(&response) {
            let _ = response
                .into_body()
                .limit(DRAIN_REDIRECT_BODY)
                .bytes()
                .await;
        }
        url = next;
    }
}

/// True if the response's body has an end of its own (a length, or chunked coding), rather
/// than running to the connection's close.
fn delimited(response: &Response) -> bool {
    if response.version() == Version::HTTP_2 {
        // HTTP/2 frames every body.
        return true;
    }
    let chunked = response
        .headers()
        .get_all(TRANSFER_ENCODING)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
    response.content_length().is_some() || chunked
}

/// How many times a request goes again at most, on another connection, because the one it
/// was on did not process it (a GOAWAY, a refused stream, a stale pooled connection).
const MAX_ATTEMPTS: usize = 8;

/// One request and its response head, on the origin's HTTP/2 connection, a pooled HTTP/1.1
/// one, or a new one.
async fn send_once(
    client: &ClientRef,
    method: &Method,
    url: &Uri,
    headers: &HeaderMap,
    mut body: Body,
    deadline: Option<Instant>,
) -> Result<Response, Error> {
    let key = key(url);
    let prior = client.proto == Proto::PriorKnowledge;
    let may_h2 = match client.proto {
        Proto::Http1Only => false,
        Proto::PriorKnowledge => true,
        Proto::Auto => key.https,
    };
    // A body in memory can go again on another connection.
    let replay: Option<Body> = body.try_clone();
    let mut fresh_only = false;
    let mut attempts = 0;
    // Waiting for another request's connection is bounded too, in case connects keep failing
    // for the leaders and succeeding for nobody.
    for _ in 0..MAX_ATTEMPTS * 8 {
        if attempts > MAX_ATTEMPTS {
            break;
        }
        let handle = match client.pool.reserve(&key, may_h2, prior) {
            Reserve::H2(handle) => handle,
            Reserve::Wait(event) => {
                event.wait().await;
                continue;
            }
            Reserve::Connect(guard) => {
                attempts += 1;
                let permit = client.pool.permit(&key).await;
                let pooled = match prior || fresh_only {
                    true => None,
                    false => client.pool.checkout(&key),
                };
                let (conn, reused) = match pooled {
                    Some(conn) => (conn, true),
                    None => (client.connector.connect(&key, url).await?, false),
                };
                if !(prior || conn.alpn_h2()) {
                    if let (Some(guard), false) = (guard, reused) {
                        guard.h1();
                    }
                    let replayable = conn::idempotent(method) && replay.is_some();
                    match send_h1(
                        client, &key, conn, permit, method, url, headers, body, deadline,
                    )
                    .await
                    {
                        Ok(response) => return Ok(response),
                        // A pooled connection the server closed while it was idle: once more,
                        // on a new connection, if sending the request again is safe.
                        Err(failed) if reused && failed.nothing_received && replayable => {
                            fresh_only = true;
                            body = replay
                                .as_ref()
                                .and_then(Body::try_clone)
                                .unwrap_or_default();
                            continue;
                        }
                        Err(failed) => return Err(failed.error.with_url(url)),
                    }
                }
                let cfg = h2c::Config {
                    idle_timeout: client.pool.idle_timeout(),
                };
                let handle = h2c::spawn(conn.io, cfg, Box::new(permit));
                match guard {
                    Some(guard) => guard.h2(handle.clone()),
                    None => client.pool.put_h2(&key, handle.clone()),
                }
                handle
            }
        };
        if *method == Method::CONNECT || headers.contains_key(UPGRADE) {
            return Err(Error::builder(
                "upgrades (Upgrade and CONNECT) are HTTP/1.1 only, and this connection is \
                 HTTP/2 (a client built with http1_only() keeps to HTTP/1.1)",
            )
            .with_url(url));
        }
        let req = h2_request(client, method, url, headers, body)?;
        match h2::exchange(&handle, req, url, deadline).await {
            Ok(response) => return Ok(response),
            Err(Failure::Error(e)) => return Err(e.with_url(url)),
            Err(Failure::Retry(returned)) => {
                attempts += 1;
                body = match (returned, &replay) {
                    (Some(b), _) => b,
                    (None, Some(copy)) => copy.try_clone().unwrap_or_default(),
                    (None, None) => {
                        return Err(Error::io(std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "the server did not process the request, and its body was a \
                             stream, partly sent: it cannot go again",
                        ))
                        .with_url(url))
                    }
                };
            }
        }
    }
    Err(Error::io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        format!("the request was not processed after {MAX_ATTEMPTS} connections"),
    ))
    .with_url(url))
}

/// The request for an HTTP/2 stream: the client's default fields and the request's (which
/// replace defaults of the same name), `:authority` from a `Host` field the request set or
/// from the URL, and `content-length` when the body's length is known.
fn h2_request(
    client: &ClientRef,
    method: &Method,
    url: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<h2c::Request, Error> {
    let mut all = HeaderMap::with_capacity(client.headers.len() + headers.len() + 1);
    for (name, value) in &client.headers {
        if !headers.contains_key(name) {
            all.append(name.clone(), value.clone());
        }
    }
    for (name, value) in headers {
        all.append(name.clone(), value.clone());
    }
    let authority = match all.remove(HOST) {
        Some(v) => v
            .to_str()
            .map_err(|_| Error::builder("the Host field is not ASCII"))?
            .to_owned(),
        None => host_value(url)?
            .to_str()
            .map_err(|_| Error::builder("the URL's host is not ASCII"))?
            .to_owned(),
    };
    all.remove(CONTENT_LENGTH);
    all.remove(TRANSFER_ENCODING);
    match body.len() {
        Some(0) if *method == Method::GET || *method == Method::HEAD => {}
        Some(n) => {
            all.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        None => {}
    }
    Ok(h2c::Request {
        method: method.clone(),
        scheme: if is_https(url) { "https" } else { "http" },
        authority,
        path: url
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
        headers: all,
        body,
    })
}

/// A request over HTTP/1.1 on `conn` (from the pool or new), and its response head.
#[allow(clippy::too_many_arguments)]
async fn send_h1(
    client: &ClientRef,
    key: &Key,
    mut conn: conn::Conn,
    permit: Option<crate::sync::SemaphoreGuardArc>,
    method: &Method,
    url: &Uri,
    headers: &HeaderMap,
    body: Body,
    deadline: Option<Instant>,
) -> Result<Response, conn::Failed> {
    let (framing, head) =
        encode_head(client, method, url, headers, &body).map_err(conn::Failed::late)?;
    let (response, out) = conn::exchange(&mut conn, head, body, framing).await?;
    // RFC 9110 sections 7.8 and 9.3.6: a 101, or a 2xx to CONNECT, makes the connection the
    // new protocol's (once the request has gone out whole): it never goes back to the pool.
    let switched = response.status == StatusCode::SWITCHING_PROTOCOLS
        || (*method == Method::CONNECT && response.status.is_success());
    if switched && out.is_sent() {
        let rest = Bytes::copy_from_slice(conn.buf.data());
        let upgraded = Upgraded::new(conn.io, rest).holding(permit);
        let response = Response::new(
            response.status,
            response.version,
            response.headers,
            url.clone(),
            Body::empty(),
        );
        return Ok(response.with_upgraded(upgraded));
    }
    let framing = h1::response_framing(method, &response).map_err(|e| {
        conn::Failed::late(
            Error::protocol(format!("invalid response framing: {}", e.reason())).with_url(url),
        )
    })?;
    // Whether the request went out whole is settled with the body (it may still be going).
    let keep_alive = h1::keep_alive(response.version, &response.headers)
        && h1::keep_alive(Version::HTTP_11, headers)
        && framing != Framing::Close
        && response.status != StatusCode::SWITCHING_PROTOCOLS;
    let ret = Return {
        pool: client.pool.clone(),
        key: key.clone(),
        keep_alive,
        permit,
    };
    let body = conn::response_body(conn, out, framing, ret, url.clone(), deadline);
    Ok(Response::new(
        response.status,
        response.version,
        response.headers,
        url.clone(),
        body,
    ))
}

/// The request head: `Host` first, the client's default fields, the request's (which replace
/// defaults of the same name), and the framing for `body`.
fn encode_head(
    client: &ClientRef,
    method: &Method,
    url: &Uri,
    headers: &HeaderMap,
    body: &Body,
) -> Result<(Framing, Vec<u8>), Error> {
    let mut all = HeaderMap::with_capacity(client.headers.len() + headers.len() + 1);
    if !headers.contains_key(HOST) {
        all.insert(HOST, host_value(url)?);
    }
    for (name, value) in &client.headers {
        if !headers.contains_key(name) {
            all.append(name.clone(), value.clone());
        }
    }
    for (name, value) in headers {
        all.append(name.clone(), value.clone());
    }
    // Trailers go after the last chunk: a body with them goes chunked, its length known or
    // not, with a `Trailer` field naming them when they are known and none was set.
    let framing = match body.len() {
        Some(n) if !body.has_trailers() => Framing::Length(n),
        _ => Framing::Chunked,
    };
    if body.has_trailers() && !all.contains_key(TRAILER) {
        if let Some(names) = body.trailers().and_then(h1::trailer_names) {
            all.insert(TRAILER, names);
        }
    }
    // CONNECT names the host and port to tunnel to (RFC 9112 section 3.2.3: authority-form).
    let authority;
    let target = if *method == Method::CONNECT {
        authority = format!(
            "{}:{}",
            url.host().unwrap_or_default(),
            url.port_u16().unwrap_or_else(|| default_port(url))
        );
        &authority
    } else {
        url.path_and_query().map_or("/", |pq| pq.as_str())
    };
    let mut out = Vec::with_capacity(256);
    h1::write_request_head(&mut out, method, target, &all, framing);
    Ok((framing, out))
}

/// The `Host` field: the URL's host, and its port unless it is the scheme's default.
fn host_value(url: &Uri) -> Result<HeaderValue, Error> {
    let host = url.host().unwrap_or_default();
    let value = match url.port_u16() {
        Some(port) if port != default_port(url) => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    HeaderValue::from_str(&value)
        .map_err(|e| Error::builder("the URL's host is not a valid Host").with_source(e))
}

fn is_https(url: &Uri) -> bool {
    url.scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("https"))
}

fn default_port(url: &Uri) -> u16 {
    if is_https(url) {
        443
    } else {
        80
    }
}

/// The pool key of a URL checked by `request::check`.
pub(crate) fn key(url: &Uri) -> Key {
    let host = url.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Key {
        https: is_https(url),
        host: host.to_ascii_lowercase(),
        port: url.port_u16().unwrap_or_else(|| default_port(url)),
    }
}

/// Where credentials may go: the same scheme, host and port.
fn origin(url: &Uri) -> Key {
    key(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keys_and_host_fields_name_the_origin() {
        let url: Uri = "http://[::1]:8080/x".parse().unwrap();
        assert_eq!(
            key(&url),
            Key {
                https: false,
                host: "::1".into(),
                port: 8080
            }
        );
        assert_eq!(host_value(&url).unwrap(), "[::1]:8080");
        let url: Uri = "https://Example.COM:443/".parse().unwrap();
        assert_eq!(key(&url).host, "example.com");
        assert_eq!(key(&url).port, 443);
        assert!(key(&url).https);
        assert_eq!(host_value(&url).unwrap(), "Example.COM");
        let url: Uri = "http://h/".parse().unwrap();
        assert_eq!(key(&url).port, 80);
        assert_eq!(host_value(&url).unwrap(), "h");
    }
}
