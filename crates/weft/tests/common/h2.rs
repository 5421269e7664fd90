//! A raw HTTP/2 frame client on a `std` socket, for probing the server frame by frame.

use super::DEADLINE;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const WINDOW_UPDATE: u8 = 8;

pub const END_STREAM: u8 = 1;
pub const END_HEADERS: u8 = 4;

pub const PROTOCOL_ERROR: u32 = 1;
pub const FLOW_CONTROL_ERROR: u32 = 3;
pub const FRAME_SIZE_ERROR: u32 = 6;
pub const COMPRESSION_ERROR: u32 = 9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

pub struct Client {
    pub conn: TcpStream,
}

impl Client {
    /// Connects and sends the preface and an empty SETTINGS.
    pub fn connect(addr: SocketAddr) -> Client {
        let mut c = Client::raw(addr);
        c.conn.write_all(PREFACE).unwrap();
        c.send(SETTINGS, 0, 0, &[]);
        c
    }

    pub fn raw(addr: SocketAddr) -> Client {
        let conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(DEADLINE)).unwrap();
        conn.set_write_timeout(Some(DEADLINE)).unwrap();
        Client { conn }
    }

    pub fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len();
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        // The server may close first: a failed write shows in what is read next.
        let _ = self.conn.write_all(&out);
    }

    /// A GET of `path` on stream `id`.
    pub fn get(&mut self, id: u32, path: &str) {
        let mut block = vec![0x82, 0x86, 0x41, 1, b't', 0x04, path.len() as u8];
        block.extend_from_slice(path.as_bytes());
        self.send(HEADERS, END_HEADERS | END_STREAM, id, &block);
    }

    /// The next frame; `None` once the server has closed.
    pub fn read(&mut self) -> Option<Frame> {
        let mut head = [0u8; 9];
        self.conn.read_exact(&mut head).ok()?;
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let mut payload = vec![0; len];
        self.conn.read_exact(&mut payload).ok()?;
        Some(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }

    /// Reads until GOAWAY: its last stream id and error code; then the server closes.
    pub fn goaway(&mut self) -> (u32, u32) {
        for _ in 0..10_000 {
            match self.read() {
                None => panic!("closed without GOAWAY"),
                Some(f) if f.kind == GOAWAY => {
                    let p = &f.payload;
                    let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                    let code = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                    return (last, code);
                }
                Some(_) => {}
            }
        }
        panic!("no GOAWAY in 10,000 frames");
    }

    pub fn assert_closed(&mut self) {
        for _ in 0..10_000 {
            if self.read().is_none() {
                return;
            }
        }
        panic!("still open");
    }

    /// Reads the responses of `streams`: each one's status (from the first field of its
    /// HEADERS: the server indexes 200 and 500) and body.
    pub fn responses(&mut self, streams: &[u32]) -> Vec<(u16, Vec<u8>)> {
        let mut out: Vec<(u32, u16, Vec<u8>, bool)> = streams
            .iter()
            .map(|&id| (id, 0, Vec::new(), false))
            .collect();
        for _ in 0..10_000 {
            if out.iter().all(|r| r.3) {
                break;
            }
            let f = self.read().expect("closed before the responses");
            let Some(r) = out.iter_mut().find(|r| r.0 == f.stream) else {
                continue;
            };
            match f.kind {
                HEADERS => {
                    let first = f.payload.iter().find(|&&b| b != 0x20).copied();
                    r.1 = match first {
                        Some(0x88) => 200,
                        Some(0x8e) => 500,
                        other => panic!("unexpected status field {other:?}"),
                    };
                }
                DATA => r.2.extend_from_slice(&f.payload),
                RST_STREAM => panic!("stream {} reset", f.stream),
                _ => continue,
            }
            if f.flags & END_STREAM != 0 {
                r.3 = true;
            }
        }
        out.into_iter().map(|r| (r.1, r.2)).collect()
    }
}
