//! The `Expect` request field (RFC 9110 section 10.1.1), as both protocols read it.

#![forbid(unsafe_code)]

use crate::http::{header, HeaderMap};

/// What a request's `Expect` fields ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Nothing.
    None,
    /// `100-continue` (and nothing else).
    Continue,
    /// An expectation other than `100-continue`: answered `417 Expectation Failed`.
    Unknown,
}

/// The expectation of `headers` (RFC 9110 section 10.1.1: a list of members, compared
/// without regard to case; empty members are allowed and mean nothing).
pub(crate) fn expectation(headers: &HeaderMap) -> Expect {
    let mut found = Expect::None;
    for value in headers.get_all(header::EXPECT) {
        let Ok(text) = value.to_str() else {
            return Expect::Unknown;
        };
        for member in text.split(',') {
            let member = member.trim();
            if member.is_empty() {
                continue;
            }
            if !member.eq_ignore_ascii_case("100-continue") {
                return Expect::Unknown;
            }
            found = Expect::Continue;
        }
    }
    found
}
