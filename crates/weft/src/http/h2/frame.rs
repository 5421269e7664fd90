//! HTTP/2 frames (RFC 9113 section 4 and 6): the frame header, the types, flags, settings and
//! error codes, and the writers of the frames the server and the client send.

#![forbid(unsafe_code)]

/// The frame header's length.
pub(crate) const HEAD_LEN: usize = 9;

/// The frame types.
pub(crate) mod kind {
    pub(crate) const DATA: u8 = 0x0;
    pub(crate) const HEADERS: u8 = 0x1;
    pub(crate) const PRIORITY: u8 = 0x2;
    pub(crate) const RST_STREAM: u8 = 0x3;
    pub(crate) const SETTINGS: u8 = 0x4;
    pub(crate) const PUSH_PROMISE: u8 = 0x5;
    pub(crate) const PING: u8 = 0x6;
    pub(crate) const GOAWAY: u8 = 0x7;
    pub(crate) const WINDOW_UPDATE: u8 = 0x8;
    pub(crate) const CONTINUATION: u8 = 0x9;
}

/// The flags.
pub(crate) mod flag {
    pub(crate) const END_STREAM: u8 = 0x1;
    pub(crate) const ACK: u8 = 0x1;
    pub(crate) const END_HEADERS: u8 = 0x4;
    pub(crate) const PADDED: u8 = 0x8;
    pub(crate) const PRIORITY: u8 = 0x20;
}

/// The settings identifiers.
pub(crate) mod setting {
    pub(crate) const HEADER_TABLE_SIZE: u16 = 0x1;
    pub(crate) const ENABLE_PUSH: u16 = 0x2;
    pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub(crate) const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub(crate) const MAX_FRAME_SIZE: u16 = 0x5;
    pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// An error code of RST_STREAM and GOAWAY (RFC 9113 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reason(pub(crate) u32);

impl Reason {
    pub(crate) const NO_ERROR: Reason = Reason(0x0);
    pub(crate) const PROTOCOL_ERROR: Reason = Reason(0x1);
    pub(crate) const INTERNAL_ERROR: Reason = Reason(0x2);
    pub(crate) const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    pub(crate) const STREAM_CLOSED: Reason = Reason(0x5);
    pub(crate) const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    pub(crate) const REFUSED_STREAM: Reason = Reason(0x7);
    pub(crate) const CANCEL: Reason = Reason(0x8);
    pub(crate) const COMPRESSION_ERROR: Reason = Reason(0x9);
    pub(crate) const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
}

/// The largest flow-control window (RFC 9113 section 6.9.1).
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The window every stream and the connection start with.
pub(crate) const DEFAULT_WINDOW: i64 = 65_535;

/// The smallest (and default) and the largest SETTINGS_MAX_FRAME_SIZE.
pub(crate) const MIN_MAX_FRAME: u32 = 16_384;
pub(crate) const MAX_MAX_FRAME: u32 = (1 << 24) - 1;

/// A parsed frame header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
}

impl Head {
    /// Parses the first 9 bytes of `b`, which must be there.
    pub(crate) fn parse(b: &[u8]) -> Head {
        Head {
            len: (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

/// Appends a frame header.
pub(crate) fn head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len <= MAX_MAX_FRAME as usize);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a SETTINGS frame of `settings`.
pub(crate) fn settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    head(out, settings.len() * 6, kind::SETTINGS, 0, 0);
    for &(id, value) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub(crate) fn settings_ack(out: &mut Vec<u8>) {
    head(out, 0, kind::SETTINGS, flag::ACK, 0);
}

pub(crate) fn ping_ack(out: &mut Vec<u8>, data: &[u8]) {
    head(out, 8, kind::PING, flag::ACK, 0);
    out.extend_from_slice(data);
}

pub(crate) fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    head(out, 4, kind::WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

pub(crate) fn rst_stream(out: &mut Vec<u8>, stream: u32, reason: Reason) {
    head(out, 4, kind::RST_STREAM, 0, stream);
    out.extend_from_slice(&reason.0.to_be_bytes());
}

pub(crate) fn goaway(out: &mut Vec<u8>, last_stream: u32, reason: Reason, debug: &[u8]) {
    head(out, 8 + debug.len(), kind::GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&reason.0.to_be_bytes());
    out.extend_from_slice(debug);
}

pub(crate) fn data(out: &mut Vec<u8>, stream: u32, bytes: &[u8], end_stream: bool) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    head(out, bytes.len(), kind::DATA, flags, stream);
    out.extend_from_slice(bytes);
}

/// Appends the header block `block` as HEADERS and as many CONTINUATION frames as frames of
/// at most `max_frame` bytes need.
pub(crate) fn headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let mut chunks = block.chunks(max_frame.max(1)).peekable();
    let mut kind = kind::HEADERS;
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if chunks.peek().is_none() {
        head(out, 0, kind, flags | flag::END_HEADERS, stream);
        return;
    }
    while let Some(chunk) = chunks.next() {
        if chunks.peek().is_none() {
            flags |= flag::END_HEADERS;
        }
        head(out, chunk.len(), kind, flags, stream);
        out.extend_from_slice(chunk);
        kind = kind::CONTINUATION;
        flags = 0;
    }
}

/// Splits a padded payload (PADDED set in `flags`) into its content; `None` if the padding
/// does not fit.
pub(crate) fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & flag::PADDED == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    let pad = usize::from(pad);
    if pad > rest.len() {
        return None;
    }
    Some(&rest[..rest.len() - pad])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trips() {
        let mut out = Vec::new();
        head(&mut out, 0x12345, kind::HEADERS, 0x25, 0x8000_0007);
        let h = Head::parse(&out);
        assert_eq!((h.len, h.kind, h.flags, h.stream), (0x12345, 1, 0x25, 7));
    }

    #[test]
    fn headers_split_into_continuations() {
        let mut out = Vec::new();
        headers(&mut out, 1, &[7u8; 25], true, 10);
        let first = Head::parse(&out);
        assert_eq!(
            (first.len, first.kind, first.flags),
            (10, kind::HEADERS, flag::END_STREAM)
        );
        let second = Head::parse(&out[19..]);
        assert_eq!(
            (second.len, second.kind, second.flags),
            (10, kind::CONTINUATION, 0)
        );
        let third = Head::parse(&out[38..]);
        assert_eq!(
            (third.len, third.kind, third.flags),
            (5, kind::CONTINUATION, flag::END_HEADERS)
        );
        assert_eq!(out.len(), 3 * 9 + 25);
    }

    #[test]
    fn padding_of_the_whole_payload_is_refused() {
        // The pad length counts neither itself nor the content: 2 of 2 fits, 3 of 2 not.
        assert_eq!(unpad(flag::PADDED, b"\x02ab"), Some(&b""[..]));
        assert_eq!(unpad(flag::PADDED, b"\x00"), Some(&b""[..]));
        assert_eq!(unpad(flag::PADDED, &[0xff; 255]), None);
        let mut p = vec![0xff];
        p.extend_from_slice(&[0; 255]);
        assert_eq!(unpad(flag::PADDED, &p), Some(&b""[..]));
    }

    #[test]
    fn padding() {
        assert_eq!(unpad(0, b"abc"), Some(&b"abc"[..]));
        assert_eq!(unpad(flag::PADDED, b"\x01ab"), Some(&b"a"[..]));
        assert_eq!(unpad(flag::PADDED, b"\x03ab"), None);
        assert_eq!(unpad(flag::PADDED, b""), None);
    }
}
