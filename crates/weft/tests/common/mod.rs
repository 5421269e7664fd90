//! What the HTTP test files share: a weft server on 127.0.0.1 stopped gracefully when the
//! test ends, and raw HTTP/1.1 clients on `std` sockets (timeouts on every socket, every
//! loop bounded).
//!
//! Each test file uses part of it.

#![allow(dead_code)]

pub mod h2;

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use weft::http::{Body, IntoResponse, Request, Response, Serve};
use weft::sync::Event;

/// How long any wait for the server may take before the test fails ("did not hang").
pub const DEADLINE: Duration = Duration::from_secs(10);

pub type BoxFut = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// The handler type of every test server (whatever the test's handler returns is turned
/// into a response inside it, as the server itself would).
pub type Handler = Box<dyn Fn(Request<Body>) -> BoxFut + Send + Sync>;

/// What a test handler saw, for tests that wait on it.
#[derive(Default)]
pub struct Seen {
    pub slow_started: Event,
    pub requests: AtomicUsize,
}

/// A weft server on 127.0.0.1 on the global runtime, stopped gracefully by `stop`. Dropped,
/// it shuts down and checks that `serve` returns `Ok` within [`DEADLINE`] (unless the test
/// is already failing).
pub struct Server {
    pub addr: SocketAddr,
    pub stop: Arc<Event>,
    pub seen: Arc<Seen>,
    /// The server's task; a test that takes it waits for it itself.
    pub task: Option<weft::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `handler`, configured by `configure`.
    pub fn with<F, R>(
        configure: impl FnOnce(Serve<Handler>) -> Serve<Handler>,
        handler: impl Fn(Request<Body>) -> F + Send + Sync + 'static,
    ) -> Server
    where
        F: Future<Output = R> + Send + 'static,
        R: IntoResponse + 'static,
    {
        Self::with_seen(configure, move |req, _| handler(req))
    }

    /// Serves `handler`, which also gets the server's [`Seen`].
    pub fn with_seen<F, R>(
        configure: impl FnOnce(Serve<Handler>) -> Serve<Handler>,
        handler: impl Fn(Request<Body>, Arc<Seen>) -> F + Send + Sync + 'static,
    ) -> Server
    where
        F: Future<Output = R> + Send + 'static,
        R: IntoResponse + 'static,
    {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(Event::new());
        let signal = stop.clone();
        let s = seen.clone();
        let handler: Handler = Box::new(move |req| {
            let fut = handler(req, s.clone());
            Box::pin(async move { fut.await.into_response() })
        });
        let serve = configure(weft::http::serve(listener, handler))
            .with_graceful_shutdown(async move { signal.wait().await });
        let task = weft::spawn(std::future::IntoFuture::into_future(serve));
        Server {
            addr,
            stop,
            seen,
            task: Some(task),
        }
    }

    /// Stops the server; `Err` if `serve` did not return within [`DEADLINE`].
    pub fn try_shutdown(&mut self) -> Result<std::io::Result<()>, &'static str> {
        self.stop.set();
        let task = self.task.take().expect("shut down once");
        weft::block_on(weft::timeout(task, DEADLINE)).map_err(|_| "serve did not return in time")
    }

    /// Stops the server and waits for `serve` to return (panics if it does not in time).
    pub fn shutdown(&mut self) -> std::io::Result<()> {
        self.try_shutdown().expect("serve did not return in time")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.task.is_some() && !std::thread::panicking() {
            self.shutdown().unwrap();
        } else {
            self.stop.set();
        }
    }
}

/// A TCP connection with read and write timeouts of [`DEADLINE`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    conn.set_write_timeout(Some(DEADLINE)).unwrap();
    conn
}

/// A connection and a buffered reader on it, for several requests in a row.
pub fn kept_alive(addr: SocketAddr) -> (BufReader<TcpStream>, TcpStream) {
    let conn = connect(addr);
    (BufReader::new(conn.try_clone().unwrap()), conn)
}

/// Everything read until the peer closes (or resets).
pub fn read_to_close(conn: &mut impl Read) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    for _ in 0..100_000 {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading: {e} (got {:?})", String::from_utf8_lossy(&out)),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `raw` on a new connection and reads until the server closes it.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut conn = connect(addr);
    conn.write_all(raw).unwrap();
    read_to_close(&mut conn)
}

/// The status of the one response `reply` starts with.
pub fn status_of(reply: &str) -> u16 {
    assert!(reply.starts_with("HTTP/1.1 "), "not a response: {reply:?}");
    reply[9..12].parse().unwrap()
}

/// The statuses of the responses in `wire`, in order.
pub fn statuses(wire: &str) -> Vec<u16> {
    wire.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| wire.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// One response read from a kept-alive connection: status, head, body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// A response head, read line by line up to its blank line (nothing past it).
pub fn read_head(r: &mut impl BufRead) -> String {
    let mut head = String::new();
    for _ in 0..200 {
        let before = head.len();
        r.read_line(&mut head).unwrap();
        assert!(head.len() > before, "closed inside a head: {head:?}");
        if head.ends_with("\r\n\r\n") {
            break;
        }
    }
    head
}

/// The next response on a kept-alive connection, its body framed as its head says.
pub fn read_reply(r: &mut BufReader<TcpStream>) -> Reply {
    read_reply_to(r, false)
}

/// The next response; `head_request`: it answers a HEAD (no body, whatever its head says).
pub fn read_reply_to(r: &mut BufReader<TcpStream>, head_request: bool) -> Reply {
    let head = read_head(r);
    let status = head[9..12].parse().unwrap();
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if head_request || status == 204 || status == 304 {
        return Reply { status, head, body };
    }
    if let Some(i) = lower.find("content-length: ") {
        let rest = &lower[i + 16..];
        let n: usize = rest[..rest.find('\r').unwrap()].parse().unwrap();
        body = vec![0; n];
        r.read_exact(&mut body).unwrap();
    } else if lower.contains("transfer-encoding: chunked") {
        for _ in 0..1000 {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Reply { status, head, body }
}

/// Runs curl (silent, 10 s at most) and gives its output; fails the test if curl fails.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (install it: apt-get install -y curl)");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A rustls server config for `localhost` with a fresh self-signed certificate, and that
/// certificate (DER) for a client to trust.
#[cfg(feature = "tls")]
pub fn tls_config() -> (weft::http::rustls::ServerConfig, Vec<u8>) {
    use weft::http::rustls::{self, pki_types};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let chain = vec![pki_types::CertificateDer::from(cert.cert.der().to_vec())];
    let key = pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(
        cert.key_pair.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (config, cert.cert.der().to_vec())
}

/// A rustls client config that trusts `cert_der` and offers `alpn`.
#[cfg(feature = "tls")]
pub fn tls_client_config(cert_der: Vec<u8>, alpn: &[&[u8]]) -> weft::http::rustls::ClientConfig {
    use weft::http::rustls::{self, pki_types};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki_types::CertificateDer::from(cert_der))
        .unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}
