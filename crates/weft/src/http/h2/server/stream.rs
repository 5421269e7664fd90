//! The server's streams: a request's state from its body arriving, through its handler
//! running, to its response going out, and the polling of handlers and response bodies.

#![forbid(unsafe_code)]

use super::Conn;
use crate::http::h2::endpoint::Endpoint;
use crate::http::h2::frame::{self, Reason};
use crate::http::h2::link::Ending;
use crate::http::h2::message;
use crate::http::server::response::{date, status_response, HandlerError, IntoResponse};
use crate::http::{header, Body, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use crate::io::{AsyncRead, AsyncWrite};
use crate::time::Instant;
use bytes::{Bytes, BytesMut};
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

type Panic = Box<dyn Any + Send>;

pin_project_lite::pin_project! {
    /// A handler's future, resolving to its response, or to its panic.
    pub(super) struct Call<F> {
        #[pin]
        fut: F,
    }
}

impl<F, R> Future for Call<F>
where
    F: Future<Output = R>,
    R: IntoResponse,
{
    type Output = Result<Response<Body>, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match fut.poll(cx) {
            Poll::Ready(r) => Poll::Ready(r.into_response()),
            Poll::Pending => Poll::Pending,
        }));
        match polled {
            Ok(Poll::Ready(res)) => Poll::Ready(Ok(res)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

pub(super) enum State<F> {
    /// The request's body is arriving.
    Receiving {
        request: Request<()>,
        body: BytesMut,
        content_length: Option<u64>,
        /// The trailer fields that ended the request, if it had any.
        trailers: Option<Box<HeaderMap>>,
    },
    /// The handler runs.
    Running {
        call: Pin<Box<Call<F>>>,
        method: Method,
        path: String,
    },
    /// The response's DATA is going out.
    Sending {
        body: Body,
        /// Bytes taken from the body and not sent yet (windows or frame size).
        pending: Bytes,
    },
    /// The response is sent.
    Done,
}

pub(super) struct Stream<F> {
    pub(super) state: State<F>,
    /// The peer's window for what we send.
    pub(super) send_window: i64,
    /// Our window for what the peer sends.
    pub(super) recv_window: i64,
    /// Received bytes not yet given back with a WINDOW_UPDATE.
    pub(super) recv_unacked: i64,
    /// The peer ended its side (END_STREAM).
    pub(super) recv_closed: bool,
    /// What may still be read and dropped of a body that is not wanted.
    pub(super) discard_left: i64,
}

impl<S, H, F, R> Conn<'_, S, H, F>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<Body>) -> F,
    F: Future<Output = R>,
    R: IntoResponse,
{
    /// The request of stream `id` is complete: its handler starts.
    pub(super) fn start(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let State::Receiving {
            request,
            body,
            trailers,
            ..
        } = std::mem::replace(&mut stream.state, State::Done)
        else {
            return;
        };
        let (parts, ()) = request.into_parts();
        let method = parts.method.clone();
        let path = parts.uri.path().to_owned();
        let mut body = Body::from(body.freeze());
        if let Some(trailers) = trailers {
            body = body.with_trailers(*trailers);
        }
        let mut req = Request::from_parts(parts, body);
        if self.cfg.connect_info {
            req.extensions_mut().insert(self.info);
        }
        let handler = self.handler;
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler(req))) {
            Ok(fut) => {
                stream.state = State::Running {
                    call: Box::pin(Call { fut }),
                    method,
                    path,
                };
            }
            Err(panic) => {
                report_panic(&method, &path, panic.as_ref());
                let res = status_response(StatusCode::INTERNAL_SERVER_ERROR);
                self.respond(id, res, &method);
            }
        }
    }

    /// Sends the head of `res` on stream `id`; its body follows as the windows allow.
    pub(super) fn respond(&mut self, id: u32, res: Response<Body>, method: &Method) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let (mut parts, body) = res.into_parts();
        let status = parts.status;
        let no_body = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        let headers = &mut parts.headers;
        if !headers.contains_key(header::DATE) {
            headers.insert(header::DATE, date());
        }
        let send_body = !no_body && *method != Method::HEAD;
        match body.len() {
            Some(0) if *method == Method::HEAD => {}
            Some(n) if !no_body => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            _ => {}
        }
        if no_body {
            headers.remove(header::CONTENT_LENGTH);
        }
        let block = message::response_block(&mut self.link.encoder, status, headers);
        // A body with trailers ends with them, in a HEADERS frame of their own.
        let end = !send_body || (body.is_empty() && !body.has_trailers());
        self.link.headers(id, &block, end);
        stream.state = if end {
            State::Done
        } else {
            State::Sending {
                body,
                pending: Bytes::new(),
            }
        };
    }

    /// Polls the handlers and response bodies; true if any made progress.
    pub(super) fn poll_streams(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            if let State::Running { call, method, path } = &mut stream.state {
                let res = match call.as_mut().poll(cx) {
                    Poll::Pending => continue,
                    Poll::Ready(Ok(mut res)) => {
                        if let Some(HandlerError(msg)) =
                            res.extensions_mut().remove::<HandlerError>()
                        {
                            eprintln!("weft::http: the handler failed on {method} {path}: {msg}");
                        }
                        if res.status().is_informational() {
                            eprintln!(
                                "weft::http: the handler answered {method} {path} with {}, not a final status; a 500 was sent",
                                res.status()
                            );
                            res = status_response(StatusCode::INTERNAL_SERVER_ERROR);
                        }
                        res
                    }
                    Poll::Ready(Err(panic)) => {
                        report_panic(method, path, panic.as_ref());
                        status_response(StatusCode::INTERNAL_SERVER_ERROR)
                    }
                };
                let method = method.clone();
                progress = true;
                self.respond(id, res, &method);
            }
        }
        let any_sent = self.send_rounds(cx);
        progress |= any_sent;
        let window = self.link.send_window;
        let flow_blocked = self.streams.values().any(|s| {
            matches!(&s.state, State::Sending { pending, .. } if !pending.is_empty())
                && s.send_window.min(window) <= 0
        });
        if any_sent || !flow_blocked {
            self.flow_stalled = None;
        } else if self.flow_stalled.is_none() {
            self.flow_stalled = Some(Instant::now());
        }
        // Streams whose response is out are forgotten, but one whose request is still
        // arriving is kept while its rest is dropped (see DISCARD_MAX); a draining
        // connection tells it to stop sending instead (RFC 9113 section 8.1).
        let draining = self.link.ending != Ending::No;
        let done: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| matches!(s.state, State::Done) && (s.recv_closed || draining))
            .map(|(&id, _)| id)
            .collect();
        for id in done {
            if let Some(s) = self.streams.remove(&id) {
                if !s.recv_closed {
                    frame::rst_stream(&mut self.link.wbuf, id, Reason::NO_ERROR);
                    self.remember_reset(id);
                }
                progress = true;
            }
        }
        progress
    }

    /// Sends one DATA frame of stream `id` if its body and the windows allow; true if it did
    /// something.
    pub(super) fn send_data(&mut self, id: u32, cx: &mut Context<'_>) -> bool {
        let Some(stream) = self.streams.get_mut(&id) else {
            return false;
        };
        let State::Sending { body, pending } = &mut stream.state else {
            return false;
        };
        if pending.is_empty() {
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| body.poll_chunk(cx)));
            match polled {
                Ok(Poll::Pending) => return false,
                Ok(Poll::Ready(None)) => {
                    self.link.end(id, body);
                    stream.state = State::Done;
                    return true;
                }
                Ok(Poll::Ready(Some(Ok(chunk)))) => {
                    *pending = chunk;
                    if pending.is_empty() {
                        return true;
                    }
                }
                Ok(Poll::Ready(Some(Err(_)))) | Err(_) => {
                    self.reset(id, Reason::INTERNAL_ERROR);
                    return true;
                }
            }
        }
        let Some(end) = self
            .link
            .send_data(id, &mut stream.send_window, pending, body)
        else {
            return false;
        };
        if end {
            stream.state = State::Done;
        }
        true
    }
}

fn report_panic(method: &Method, path: &str, panic: &(dyn Any + Send)) {
    let msg = if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a panic with a non-text payload"
    };
    eprintln!("weft::http: the handler panicked on {method} {path}: {msg}");
}
