//! Asynchronous I/O: the `futures-io` traits every weft stream implements, their extension
//! traits, buffered adapters, and the guide's free functions.
//!
//! weft's streams implement [`AsyncRead`] and [`AsyncWrite`] from `futures-io`, so code written
//! against those traits (futures' `BufReader`, `lines()`, `io::copy`, TLS and WebSocket crates
//! built on them) runs on weft unchanged. The extension traits, [`BufReader`], [`BufWriter`]
//! and [`copy`] are futures-lite's, re-exported.
//!
//! ```no_run
//! use weft::io::{AsyncReadExt, AsyncWriteExt};
//! use weft::net::TcpStream;
//!
//! # weft::block_on(async {
//! let mut conn = TcpStream::connect("127.0.0.1:8080").await?;
//! conn.write_all(b"ping").await?;
//! let mut reply = [0u8; 4];
//! conn.read_exact(&mut reply).await?;
//! # std::io::Result::Ok(()) }).unwrap();
//! ```

pub(crate) mod op;
pub(crate) mod owned;
pub(crate) mod source;

pub use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
pub use futures_lite::io::{
    copy, empty, repeat, sink, AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt,
    BufReader, BufWriter, Cursor,
};
pub use std::io::{Error, ErrorKind, Result, SeekFrom};

/// Reads everything until the end of the stream into a `String` (the guide's
/// `read_to_string(conn)`).
///
/// # Errors
///
/// Any error from the stream, or `InvalidData` if the bytes are not UTF-8.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let mut input = weft::io::Cursor::new(b"hello".to_vec());
/// assert_eq!(weft::io::read_to_string(&mut input).await?, "hello");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn read_to_string<R>(reader: &mut R) -> Result<String>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut s = String::new();
    reader.read_to_string(&mut s).await?;
    Ok(s)
}

/// Writes all of `bytes` (the guide's `write_all(conn, response)`).
///
/// # Errors
///
/// Any error from the stream; `WriteZero` if it stops accepting bytes.
///
/// # Examples
///
/// ```
/// # weft::block_on(async {
/// let mut out = Vec::new();
/// weft::io::write_all(&mut out, "hi").await?;
/// assert_eq!(out, b"hi");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn write_all<W>(writer: &mut W, bytes: impl AsRef<[u8]>) -> Result<()>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    writer.write_all(bytes.as_ref()).await
}
