//! `weft::http::serve` over HTTP/2 against a hostile peer: random and mutated frame
//! sequences (a fixed seed, so a failure repeats), after each of which the server must still
//! answer a PING or say GOAWAY, never panic, and serve a good request at the end; and a
//! server whose peers neither open their windows nor read must not spin.
//!
//! Its own test binary: the panic hook counts every panic of the process, and the CPU time
//! measured is the process's, so the tests here take turns (`ALONE`).

#![cfg(feature = "http")]

mod common;

use common::h2::{
    Frame, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING, PREFACE, SETTINGS, WINDOW_UPDATE,
};
use common::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use weft::http::{Body, Request, Response};

static ALONE: Mutex<()> = Mutex::new(());
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

impl Server {
    /// The server the probes run against: short timeouts, small limits.
    fn start() -> Server {
        Server::with_seen(
            |s| {
                s.idle_timeout(Duration::from_secs(5))
                    .header_read_timeout(Duration::from_secs(2))
                    .max_body_size(4096)
                    .max_header_size(2048)
                    .shutdown_timeout(Duration::from_millis(500))
            },
            |req: Request<Body>, seen| {
                seen.requests.fetch_add(1, Ordering::SeqCst);
                async move {
                    match req.uri().path() {
                        "/big" => Response::new(Body::from(vec![b'x'; 1 << 20])),
                        path => Response::new(Body::from(format!("hello {path}"))),
                    }
                }
            },
        )
    }
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

fn connect(addr: SocketAddr, timeout: Duration) -> TcpStream {
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(timeout)).unwrap();
    conn.set_write_timeout(Some(timeout)).unwrap();
    conn
}

/// The next frame; `Err(true)` once the server has closed, `Err(false)` on a timeout.
fn read_frame(conn: &mut TcpStream) -> Result<Frame, bool> {
    let mut head = [0u8; 9];
    let closed = |e: std::io::Error| {
        !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    conn.read_exact(&mut head).map_err(closed)?;
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let mut payload = vec![0; len];
    conn.read_exact(&mut payload).map_err(closed)?;
    Ok(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// xorshift64*: enough randomness for frames, and the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

/// A good request block, with `:authority` indexed so that the table fills.
fn request_block(rng: &mut Rng) -> Vec<u8> {
    let path = rng.pick(&["/", "/a", "/big", "/x?y=z", "*", "admin"]);
    let mut block = vec![rng.pick(&[0x82, 0x83]), rng.pick(&[0x86, 0x87])];
    block.extend_from_slice(&[0x41, 0x01, b'h', 0x04, path.len() as u8]);
    block.extend_from_slice(path.as_bytes());
    match rng.below(6) {
        0 => block.extend_from_slice(&[0x0f, 0x0d, 0x01, b'0' + rng.below(10) as u8]),
        1 => block.push(0xbe),
        2 => block.extend_from_slice(&[0x00, 0x02, b't', b'e', 0x03, b'a', b'b', b'c']),
        3 => block.extend_from_slice(&[0x3f, 0xe1, 0x1f]),
        _ => {}
    }
    block
}

/// Flips, inserts, deletes or cuts bytes of `v`.
fn mutate(rng: &mut Rng, v: &mut Vec<u8>) {
    for _ in 0..rng.below(4) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len() as u64) as usize;
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len() as u64 + 1) as usize;
                v.insert(i, rng.byte());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len() as u64) as usize;
                v.remove(i);
            }
            3 => {
                let n = rng.below(v.len() as u64 + 1) as usize;
                v.truncate(n);
            }
            _ => {}
        }
    }
}

/// A plausible frame: what a client might send, on stream `next` (a new odd id, bumped
/// here) or the last one opened.
fn plausible_frame(rng: &mut Rng, out: &mut Vec<u8>, next: &mut u32) {
    let last = next.saturating_sub(2).max(1);
    match rng.below(10) {
        0..=3 => {
            let id = *next;
            *next += 2;
            let end = if rng.below(3) == 0 { 0 } else { END_STREAM };
            frame(out, HEADERS, END_HEADERS | end, id, &request_block(rng));
        }
        4 | 5 => {
            let n = rng.pick(&[0, 1, 100, 3000]);
            let end = if rng.below(2) == 0 { 0 } else { END_STREAM };
            frame(out, DATA, end, last, &vec![b'd'; n]);
        }
        6 => {
            let id = rng.pick(&[0, last]);
            let n = 1 + rng.below(1 << 20) as u32;
            frame(out, WINDOW_UPDATE, 0, id, &n.to_be_bytes());
        }
        7 => {
            let mut p = Vec::new();
            match rng.below(3) {
                0 => p.extend_from_slice(&[0, 4, 0, 0, 0, rng.byte()]),
                1 => p.extend_from_slice(&[0, 5, 0, 0, 0x40, 0]),
                _ => p.extend_from_slice(&[0, 1, 0, 0, 0, 0]),
            }
            frame(out, SETTINGS, 0, 0, &p);
        }
        8 => frame(
            out,
            2,
            0,
            *next + 2 * rng.below(3) as u32,
            &[0, 0, 0, 0, 16],
        ),
        _ => frame(out, 3, 0, last, &8u32.to_be_bytes()),
    }
}

/// One random frame (always framed right: its length is its payload's).
fn random_frame(rng: &mut Rng, out: &mut Vec<u8>) {
    let stream = match rng.below(8) {
        0 => 0,
        1 => 0x7fff_ffff,
        2 => rng.below(1 << 31) as u32,
        _ => 2 * rng.below(6) as u32 + 1 - u32::from(rng.below(8) == 0),
    };
    let flags = if rng.below(3) == 0 {
        rng.byte()
    } else {
        rng.pick(&[
            0,
            END_STREAM,
            END_HEADERS,
            END_STREAM | END_HEADERS,
            0x8,
            0x20,
            0x2d,
        ])
    };
    let kind = match rng.below(20) {
        0..=5 => HEADERS,
        6..=8 => DATA,
        9 => 9,  // CONTINUATION
        10 => 2, // PRIORITY
        11 => 3, // RST_STREAM
        12 | 13 => SETTINGS,
        14 => PING,
        15 => GOAWAY,
        16 | 17 => WINDOW_UPDATE,
        18 => 5, // PUSH_PROMISE
        _ => rng.byte(),
    };
    let mut payload = match kind {
        HEADERS | 9 => {
            let mut p = Vec::new();
            if flags & 0x8 != 0 {
                p.push(rng.below(8) as u8);
            }
            if flags & 0x20 != 0 {
                p.extend_from_slice(&rng.bytes(5));
            }
            p.extend_from_slice(&request_block(rng));
            if flags & 0x8 != 0 {
                p.extend_from_slice(&vec![0; rng.below(8) as usize]);
            }
            p
        }
        DATA => {
            let n = rng.pick(&[0, 1, 3, 100, 5000]);
            let mut p = vec![b'd'; n];
            if flags & 0x8 != 0 {
                p.insert(0, rng.byte());
            }
            p
        }
        SETTINGS => {
            let mut p = Vec::new();
            for _ in 0..rng.below(4) {
                p.extend_from_slice(&(rng.below(8) as u16).to_be_bytes());
                let value = match rng.below(5) {
                    0 => 0,
                    1 => 1,
                    2 => 0x7fff_ffff,
                    3 => 0x8000_0000,
                    _ => rng.next() as u32,
                };
                p.extend_from_slice(&value.to_be_bytes());
            }
            p
        }
        WINDOW_UPDATE => {
            let any = rng.next() as u32;
            let v = rng.pick(&[0u32, 1, 65_535, 0x7fff_ffff, 0xffff_ffff, any]);
            v.to_be_bytes().to_vec()
        }
        PING => rng.bytes(8),
        GOAWAY => rng.bytes(8),
        3 => rng.bytes(4),
        2 => rng.bytes(5),
        _ => {
            let n = rng.below(20) as usize;
            rng.bytes(n)
        }
    };
    if rng.below(4) == 0 {
        mutate(rng, &mut payload);
    }
    if rng.below(200) == 0 {
        payload.resize(16_385, 0);
    }
    frame(out, kind, flags, stream, &payload);
}

#[test]
fn random_frames_never_break_the_server() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    count_panics();
    let server = Server::start();
    let mut rng = Rng(0x5eed_f4e1_1c0d_e000);
    let mut answered = 0;
    let mut refused = 0;
    for round in 0..2_000 {
        let mut conn = connect(server.addr, Duration::from_secs(3));
        let mut out = PREFACE.to_vec();
        if rng.below(10) != 0 {
            frame(&mut out, SETTINGS, 0, 0, &[]);
        }
        let mut next = 1;
        for _ in 0..1 + rng.below(10) {
            if rng.below(8) == 0 {
                random_frame(&mut rng, &mut out);
            } else {
                plausible_frame(&mut rng, &mut out, &mut next);
            }
        }
        frame(&mut out, PING, 0, 0, b"fuzzping");
        // The server may close before it has read all: that shows in what is read.
        let _ = conn.write_all(&out);
        let mut outcome = None;
        for _ in 0..10_000 {
            match read_frame(&mut conn) {
                Ok(f) if f.kind == PING && f.flags & 1 != 0 && f.payload == b"fuzzping" => {
                    outcome = Some(true);
                    break;
                }
                Ok(f) if f.kind == GOAWAY => {
                    outcome = Some(false);
                    break;
                }
                Ok(_) => {}
                Err(true) => {
                    outcome = Some(false);
                    break;
                }
                Err(false) => break,
            }
        }
        match outcome {
            Some(true) => answered += 1,
            Some(false) => refused += 1,
            None => panic!("round {round}: neither a PING answer nor GOAWAY nor a close"),
        }
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic in round {round}");
    }
    // Both outcomes happened: the sequences reach past the first frames.
    assert!(answered > 100 && refused > 100, "{answered} {refused}");
    assert!(server.seen.requests.load(Ordering::SeqCst) > 0);
    // A good request is still served.
    let mut conn = connect(server.addr, Duration::from_secs(10));
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    frame(
        &mut out,
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &[0x82, 0x86, 0x84, 0x41, 0x01, b'h'],
    );
    conn.write_all(&out).unwrap();
    let mut body = Vec::new();
    for _ in 0..100 {
        let f = read_frame(&mut conn).expect("an answer");
        if f.kind == DATA && f.stream == 1 {
            body.extend_from_slice(&f.payload);
            if f.flags & END_STREAM != 0 {
                break;
            }
        }
    }
    assert_eq!(body, b"hello /");
    assert_eq!(PANICS.load(Ordering::SeqCst), 0);
}

/// The process's CPU time so far (user and system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15, in clock ticks of 10 ms (USER_HZ on Linux).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[test]
fn shut_windows_and_a_peer_that_does_not_read_cost_no_cpu() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start();
    let get = |id: u32| {
        let mut out = Vec::new();
        frame(
            &mut out,
            HEADERS,
            END_HEADERS | END_STREAM,
            id,
            &[
                0x82, 0x86, 0x41, 0x01, b'h', 0x04, 0x04, b'/', b'b', b'i', b'g',
            ],
        );
        out
    };
    // One peer keeps its windows shut on 60 large responses; another opens them wide and
    // does not read.
    let mut shut = connect(server.addr, Duration::from_secs(10));
    let mut deaf = connect(server.addr, Duration::from_secs(10));
    let mut a = PREFACE.to_vec();
    frame(&mut a, SETTINGS, 0, 0, &[]);
    let mut b = PREFACE.to_vec();
    frame(&mut b, SETTINGS, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]);
    frame(
        &mut b,
        WINDOW_UPDATE,
        0,
        0,
        &(0x7fff_ffffu32 - 65_535).to_be_bytes(),
    );
    for i in 0..60 {
        a.extend_from_slice(&get(2 * i + 1));
        b.extend_from_slice(&get(2 * i + 1));
    }
    shut.write_all(&a).unwrap();
    deaf.write_all(&b).unwrap();
    // What the windows allow comes, then nothing.
    let mut got = 0;
    for _ in 0..10_000 {
        let f = read_frame(&mut shut).expect("open");
        if f.kind == DATA {
            got += f.payload.len();
            if got == 65_535 {
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_time();
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_time() - before;
    assert!(
        spent < Duration::from_millis(100),
        "{spent:?} of CPU in a second"
    );
    drop((shut, deaf));
}
