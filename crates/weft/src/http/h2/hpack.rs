//! HPACK (RFC 7541): the header compression of HTTP/2.
//!
//! The [`Decoder`] keeps the dynamic table the peer's encoder fills, within the size our
//! settings allow and the size updates the peer sends. The [`Encoder`] uses the static table
//! only: it opens its first block with a size update to 0 and never indexes, so the peer's
//! table size never matters to it and its blocks decode alone.

#![forbid(unsafe_code)]

use super::huffman;
use std::collections::VecDeque;

/// RFC 7541 appendix A.
#[rustfmt::skip]
const STATIC: [(&str, &str); 61] = [
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
    (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
    (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
    (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""),
    ("accept", ""), ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
    ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
    ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
    ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
    ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
    ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""),
    ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""),
    ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
    ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
    ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
];

/// What every table entry costs beyond its name and value (RFC 7541 section 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// A header block that does not decode: the connection's compression state is lost.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// The decoding side of one connection.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Newest first.
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    /// The table's current maximum, set by the peer's size updates.
    max: usize,
    /// The most the peer may set `max` to: our SETTINGS_HEADER_TABLE_SIZE.
    limit: usize,
}

impl Decoder {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            table: VecDeque::new(),
            size: 0,
            max: limit,
            limit,
        }
    }

    /// Decodes the block `src`, calling `field` with each name and value in order.
    pub(crate) fn decode(
        &mut self,
        mut src: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let mut fields_seen = false;
        while let Some(&first) = src.first() {
            if first & 0x80 != 0 {
                // Indexed field.
                let index = integer(&mut src, 7)?;
                let (name, value) = self.get(index)?;
                field(name, value);
                fields_seen = true;
            } else if first & 0xc0 == 0x40 {
                // Literal with incremental indexing.
                let index = integer(&mut src, 6)?;
                let name = if index == 0 {
                    string(&mut src)?
                } else {
                    self.get(index)?.0.to_vec()
                };
                let value = string(&mut src)?;
                field(&name, &value);
                self.insert(name, value);
                fields_seen = true;
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update: only before the block's first field.
                if fields_seen {
                    return Err(DecodeError("a table size update after a field"));
                }
                let max = integer(&mut src, 5)?;
                if max > self.limit {
                    return Err(DecodeError("a table size update past the limit"));
                }
                self.max = max;
                self.evict(0);
            } else {
                // Literal without indexing (0000) or never indexed (0001).
                let index = integer(&mut src, 4)?;
                let name = if index == 0 {
                    string(&mut src)?
                } else {
                    self.get(index)?.0.to_vec()
                };
                let value = string(&mut src)?;
                field(&name, &value);
                fields_seen = true;
            }
        }
        Ok(())
    }

    fn get(&self, index: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        match index {
            0 => Err(DecodeError("index 0")),
            1..=61 => {
                let (n, v) = STATIC[index - 1];
                Ok((n.as_bytes(), v.as_bytes()))
            }
            _ => self
                .table
                .get(index - 62)
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .ok_or(DecodeError("an index past the table")),
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max {
            // An entry larger than the table empties it (RFC 7541 section 4.4).
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.size += size;
        self.table.push_front((name, value));
    }

    /// Drops the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + ENTRY_OVERHEAD,
                None => break,
            }
        }
    }
}

/// An integer with an `n`-bit prefix (RFC 7541 section 5.1); at most 2^28 or so.
fn integer(src: &mut &[u8], n: u32) -> Result<usize, DecodeError> {
    let (&first, rest) = src.split_first().ok_or(DecodeError("cut integer"))?;
    *src = rest;
    let mask = (1usize << n) - 1;
    let mut value = usize::from(first) & mask;
    if value < mask {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let (&b, rest) = src.split_first().ok_or(DecodeError("cut integer"))?;
        *src = rest;
        if shift > 21 {
            return Err(DecodeError("an integer too large"));
        }
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// A string literal (RFC 7541 section 5.2).
fn string(src: &mut &[u8]) -> Result<Vec<u8>, DecodeError> {
    let huffman_coded = src.first().is_some_and(|&b| b & 0x80 != 0);
    let len = integer(src, 7)?;
    if len > src.len() {
        return Err(DecodeError("a string past the block"));
    }
    let (raw, rest) = src.split_at(len);
    *src = rest;
    if huffman_coded {
        let mut out = Vec::with_capacity(len + len / 2);
        huffman::decode(raw, &mut out).map_err(|_| DecodeError("bad Huffman coding"))?;
        Ok(out)
    } else {
        Ok(raw.to_vec())
    }
}

/// The encoding side of one connection: static table only.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    /// The size update to 0 has been sent.
    announced: bool,
}

impl Encoder {
    /// Starts a header block in `out`.
    pub(crate) fn begin(&mut self, out: &mut Vec<u8>) {
        if !self.announced {
            // A dynamic table size update to 0: whatever the peer allows, this encoder's
            // table is empty.
            out.push(0x20);
            self.announced = true;
        }
    }

    /// Appends `:status`.
    pub(crate) fn status(&mut self, out: &mut Vec<u8>, status: u16) {
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => {
                // Literal without indexing, name index 8.
                put_integer(out, 0x00, 4, 8);
                put_string(out, status.to_string().as_bytes());
                return;
            }
        };
        put_integer(out, 0x80, 7, index);
    }

    /// Appends a field (a lowercase name) as a literal without indexing.
    pub(crate) fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        // Fields that carry secrets are marked never indexed, for intermediaries.
        let flags = if name == b"set-cookie" || name == b"authorization" {
            0x10
        } else {
            0x00
        };
        match STATIC.iter().position(|(n, _)| n.as_bytes() == name) {
            Some(i) => put_integer(out, flags, 4, i + 1),
            None => {
                out.push(flags);
                put_string(out, name);
            }
        }
        put_string(out, value);
    }
}

fn put_integer(out: &mut Vec<u8>, flags: u8, n: u32, mut value: usize) {
    let mask = (1usize << n) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    value -= mask;
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a string literal, Huffman-coded when that is shorter.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        put_integer(out, 0x80, 7, coded);
        huffman::encode(s, out);
    } else {
        put_integer(out, 0x00, 7, s.len());
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
        let mut out = Vec::new();
        dec.decode(block, |n, v| {
            out.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        })?;
        Ok(out)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rfc_c3_requests_without_huffman() {
        let mut dec = Decoder::new(4096);
        let c31 = [
            0x82, 0x86, 0x84, 0x41, 0x0f, b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p',
            b'l', b'e', b'.', b'c', b'o', b'm',
        ];
        assert_eq!(
            decode_all(&mut dec, &c31).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        assert_eq!(dec.size, 57);
        let mut c32 = vec![0x82, 0x86, 0x84, 0xbe, 0x58, 0x08];
        c32.extend_from_slice(b"no-cache");
        assert_eq!(
            decode_all(&mut dec, &c32).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache")
            ])
        );
        assert_eq!(dec.size, 110);
    }

    #[test]
    fn rfc_c4_requests_with_huffman() {
        let mut dec = Decoder::new(4096);
        let c41 = [
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
            0x90, 0xf4, 0xff,
        ];
        assert_eq!(
            decode_all(&mut dec, &c41).unwrap()[3],
            (":authority".to_string(), "www.example.com".to_string())
        );
        let c43 = [
            0x82, 0x87, 0x85, 0xbf, 0x40, 0x88, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f,
            0x89, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf,
        ];
        // C.4.2 first, as the table expects.
        let c42 = [
            0x82, 0x86, 0x84, 0xbe, 0x58, 0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf,
        ];
        decode_all(&mut dec, &c42).unwrap();
        assert_eq!(
            decode_all(&mut dec, &c43).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value")
            ])
        );
        assert_eq!(dec.size, 164);
    }

    #[test]
    fn size_updates_evict_and_are_bounded() {
        let mut dec = Decoder::new(4096);
        decode_all(&mut dec, &[0x41, 0x01, b'a']).unwrap();
        assert_eq!(dec.table.len(), 1);
        decode_all(&mut dec, &[0x20]).unwrap();
        assert!(dec.table.is_empty());
        // Past our limit.
        assert!(decode_all(&mut dec, &[0x3f, 0xe2, 0x1f]).is_err());
        // After a field.
        assert!(decode_all(&mut dec, &[0x82, 0x20]).is_err());
    }

    #[test]
    fn refuses_bad_input() {
        let mut dec = Decoder::new(4096);
        for bad in [
            &[0x80][..],                                 // index 0
            &[0xbe],                                     // an empty dynamic table
            &[0x41, 0x05, b'a'],                         // a string past the block
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // a huge integer
            &[0x41],                                     // cut
        ] {
            assert!(decode_all(&mut dec, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn integers_at_and_past_the_bound() {
        // 127 + 0x7f + 0x7f<<7 + 0x7f<<14 + 0x7f<<21: four continuation bytes decode.
        let mut src = &[0x7f, 0xff, 0xff, 0xff, 0x7f][..];
        assert_eq!(integer(&mut src, 7), Ok(127 + (1 << 28) - 1));
        assert!(src.is_empty());
        // A fifth continuation byte is refused, however small its bits, and so is a long
        // run of them (no shift overflow, no loop past the input).
        for bad in [
            vec![0x7f, 0x80, 0x80, 0x80, 0x80, 0x00],
            vec![
                0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f,
            ],
            [vec![0xff], vec![0xff; 10_000]].concat(),
            vec![0x7f, 0x80],
        ] {
            let mut src = &bad[..];
            assert!(integer(&mut src, 7).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_more_bad_blocks() {
        let mut dec = Decoder::new(4096);
        for bad in [
            // A name string longer than the block (a huge length, then a cut one).
            &[0x40, 0x7f, 0xff, 0xff, 0xff, 0x7f][..],
            &[0x00, 0x03, b'a', b'b'],
            // A value string past the block after a good name.
            &[0x00, 0x01, b'a', 0x02, b'b'],
            // An index past the static table, and a huge one.
            &[0xbe],
            &[0xff, 0xff, 0xff, 0xff, 0x7f],
            // A name index past the tables in each literal form.
            &[0x7f, 0x00, 0x00],
            &[0x0f, 0x70, 0x00],
            &[0x1f, 0x70, 0x00],
            // A Huffman string with a whole byte of padding, and EOS inside.
            &[0x00, 0x01, b'a', 0x82, 0x1f, 0xff],
            &[0x00, 0x01, b'a', 0x85, 0x1f, 0xff, 0xff, 0xff, 0xff],
            // A size update above the limit, a huge one, and one after a field.
            &[0x3f, 0xe2, 0x1f],
            &[0x3f, 0xff, 0xff, 0xff, 0x7f],
            &[0x82, 0x3f, 0x01],
        ] {
            assert!(decode_all(&mut dec, bad).is_err(), "{bad:?}");
        }
        // Two size updates at the start are allowed (RFC 7541 section 4.2).
        let mut dec = Decoder::new(4096);
        assert_eq!(
            decode_all(&mut dec, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).unwrap(),
            pairs(&[(":method", "GET")])
        );
        assert_eq!(dec.max, 4096);
    }

    #[test]
    fn the_table_stays_within_its_size() {
        let mut dec = Decoder::new(256);
        let mut block = Vec::new();
        for i in 0..100u8 {
            block.extend_from_slice(&[0x40, 0x01, b'a' + i % 26, 0x20]);
            block.extend_from_slice(&[b'v'; 32]);
        }
        decode_all(&mut dec, &block).unwrap();
        assert!(dec.size <= 256);
        assert_eq!(dec.size, dec.table.len() * (1 + 32 + 32));
        // An entry larger than the table empties it.
        let mut big = vec![0x40, 0x01, b'z', 0x7f, 0x82, 0x01];
        big.extend_from_slice(&[b'v'; 257]);
        decode_all(&mut dec, &big).unwrap();
        assert!(dec.table.is_empty() && dec.size == 0);
    }

    #[test]
    fn encoder_output_decodes() {
        let mut enc = Encoder::default();
        let mut out = Vec::new();
        enc.begin(&mut out);
        enc.status(&mut out, 200);
        enc.status(&mut out, 418);
        enc.field(&mut out, b"content-type", b"text/plain");
        enc.field(&mut out, b"x-long", "v".repeat(300).as_bytes());
        let mut dec = Decoder::new(4096);
        let got = decode_all(&mut dec, &out).unwrap();
        assert_eq!(got[0], (":status".into(), "200".into()));
        assert_eq!(got[1], (":status".into(), "418".into()));
        assert_eq!(got[2], ("content-type".into(), "text/plain".into()));
        assert_eq!(got[3].1.len(), 300);
        assert_eq!(dec.max, 0);
    }
}
