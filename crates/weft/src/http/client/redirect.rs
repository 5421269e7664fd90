//! Redirects: the policy, and resolving a `Location` against the URL it answered.

#![forbid(unsafe_code)]

use crate::http::{Error, Uri};

/// How many redirects a [`Client`](super::Client) follows.
///
/// The default is [`Policy::limited(10)`](Policy::limited). Whatever the policy, a redirect
/// from `https` to `http` is never followed (it is an [`is_redirect`](Error::is_redirect)
/// error), and `Authorization`, `Cookie` and `Proxy-Authorization` are not sent on to another
/// host.
///
/// # Examples
///
/// ```
/// use weft::http::client::Policy;
///
/// let client = weft::http::Client::builder()
///     .redirect(Policy::none())
///     .build()
///     .unwrap();
/// # drop(client);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    max: Option<usize>,
}

impl Policy {
    /// Follows at most `max` redirects; one more, or one back to a URL already visited, is an
    /// [`is_redirect`](Error::is_redirect) error naming the URL.
    pub fn limited(max: usize) -> Self {
        Self { max: Some(max) }
    }

    /// Follows no redirect: a 3xx response is returned as it is.
    pub fn none() -> Self {
        Self { max: None }
    }

    /// The most redirects followed; `None` for [`none`](Policy::none).
    pub(crate) fn max(&self) -> Option<usize> {
        self.max
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::limited(10)
    }
}

/// The URL `location` (a `Location` header's value) points to from `base`: an absolute URL,
/// a network-path (`//host/path`), an absolute path, a query, or a path relative to `base`'s
/// directory (RFC 3986 section 5.2, fragments dropped).
pub(crate) fn resolve(base: &Uri, location: &str) -> Result<Uri, Error> {
    let bad = |why: &str| {
        Error::redirect(format!(
            "the Location {location:?} is not a valid URL: {why}"
        ))
        .with_url(base)
    };
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    if location.is_empty() {
        return Ok(base.clone());
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let joined = if has_scheme(location) {
        location.to_owned()
    } else if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        let (path, query) = split_query(location);
        format!("{scheme}://{authority}{}{query}", remove_dots(path))
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let dir = match base.path().rfind('/') {
            Some(i) => &base.path()[..=i],
            None => "/",
        };
        let (path, query) = split_query(location);
        format!(
            "{scheme}://{authority}{}{query}",
            remove_dots(&format!("{dir}{path}"))
        )
    };
    let uri: Uri = joined.parse().map_err(|_| bad("it does not parse"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    Ok(uri)
}

/// `scheme:` at the start, as RFC 3986 section 3.1 spells a scheme.
fn has_scheme(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    let scheme = &s[..colon];
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
}

fn split_query(s: &str) -> (&str, &str) {
    match s.find('?') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Removes `.` and `..` segments from an absolute path (RFC 3986 section 5.2.4).
fn remove_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut joined = String::with_capacity(path.len());
    for seg in &out {
        joined.push('/');
        joined.push_str(seg);
    }
    if trailing_slash || joined.is_empty() {
        joined.push('/');
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, loc: &str) -> String {
        resolve(&base.parse().unwrap(), loc).unwrap().to_string()
    }

    #[test]
    fn resolves_the_forms_of_location() {
        let base = "http://a.test:8080/x/y/z?q=1";
        assert_eq!(r(base, "https://b.test/p"), "https://b.test/p");
        assert_eq!(r(base, "//c.test/p?x"), "http://c.test/p?x");
        assert_eq!(r(base, "/p/q"), "http://a.test:8080/p/q");
        assert_eq!(r(base, "w"), "http://a.test:8080/x/y/w");
        assert_eq!(r(base, "../w?k=v"), "http://a.test:8080/x/w?k=v");
        assert_eq!(r(base, "./"), "http://a.test:8080/x/y/");
        assert_eq!(r(base, "../../../../w"), "http://a.test:8080/w");
        assert_eq!(r(base, "?k=2"), "http://a.test:8080/x/y/z?k=2");
        assert_eq!(r(base, "/p#frag"), "http://a.test:8080/p");
        assert_eq!(r("http://a.test", "w"), "http://a.test/w");
    }

    #[test]
    fn a_location_that_is_no_url_is_a_redirect_error() {
        let base: Uri = "http://a.test/".parse().unwrap();
        for bad in ["http://", "/a b", "http://[::1/"] {
            let e = resolve(&base, bad).unwrap_err();
            assert!(e.is_redirect(), "{bad:?}: {e}");
        }
    }
}
