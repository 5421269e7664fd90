//! `File`: an open file with async reads, writes and seeks.

#![forbid(unsafe_code)]

use super::op::{self, FileOp};
use super::OpenOptions;
use crate::runtime::scheduler::coop;
use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
use std::fs::File as StdFile;
use std::future::Future;
use std::io::{self, SeekFrom};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// The most a single read or write hands the kernel at once.
const MAX_CHUNK: usize = 256 * 1024;

/// An open file.
///
/// Reads and writes go through [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`] (use
/// [`AsyncReadExt`](crate::io::AsyncReadExt) and friends), each at the file's current position.
/// On io_uring they are real asynchronous reads and writes submitted to the worker's ring; on
/// epoll they run on the blocking pool. Either way each goes through a buffer of the file's own,
/// which the operation owns until it completes, so dropping a read or write future, or the
/// file, is always safe.
///
/// As with tokio's `File`, a write completes as soon as its bytes are copied into that buffer:
/// call [`flush`](crate::io::AsyncWriteExt::flush) (or [`sync_all`](File::sync_all)) to learn
/// whether it reached the file. An error from a write is reported by the next operation.
///
/// # Examples
///
/// ```
/// use weft::io::{AsyncReadExt, AsyncWriteExt};
///
/// # weft::block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-file-doc-{}", std::process::id()));
/// let mut f = weft::fs::File::create(&path).await?;
/// f.write_all(b"hello file").await?;
/// f.flush().await?;
///
/// let mut f = weft::fs::File::open(&path).await?;
/// let mut s = String::new();
/// f.read_to_string(&mut s).await?;
/// assert_eq!(s, "hello file");
/// # weft::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct File {
    std: Arc<StdFile>,
    /// The logical position: where the next read or write starts.
    pos: u64,
    state: State,
    /// The outcome of a write that already returned to its caller, if it failed.
    write_error: Option<io::Error>,
}

#[derive(Debug)]
enum State {
    /// Nothing in flight. The buffer holds read-ahead bytes `buf[at..]`, which lie just before
    /// the file offset `pos + (buf.len() - at)`.
    Idle { buf: Vec<u8>, at: usize },
    /// A read in flight, for the logical position `pos`.
    Reading(FileOp),
    /// A write of `len` bytes in flight at `at`; `written` of them are done.
    Writing { op: FileOp, at: u64, written: usize },
}

impl File {
    /// Opens a file for reading.
    ///
    /// # Errors
    ///
    /// As `open(2)`: `NotFound`, `PermissionDenied`...
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file for writing, creating it if needed and truncating it if it exists.
    ///
    /// # Errors
    ///
    /// As `open(2)`.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// An [`OpenOptions`] to open a file with other flags.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    pub(crate) fn from_std_at(std: StdFile, pos: u64) -> File {
        File {
            std: Arc::new(std),
            pos,
            state: State::Idle {
                buf: Vec::new(),
                at: 0,
            },
            write_error: None,
        }
    }

    /// Wraps a std file; reads and writes start at its current offset.
    ///
    /// # Errors
    ///
    /// If the offset cannot be read (`lseek(2)`).
    pub fn from_std(std: StdFile) -> io::Result<File> {
        let pos = io::Seek::stream_position(&mut &std)?;
        Ok(File::from_std_at(std, pos))
    }

    /// Waits for what is in flight and drops read-ahead, leaving the state idle.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                State::Idle { buf, at } => {
                    buf.clear();
                    *at = 0;
                    return Poll::Ready(match self.write_error.take() {
                        Some(e) => Err(e),
                        None => Ok(()),
                    });
                }
                State::Reading(op) => {
                    let (_, buf) = ready!(Pin::new(op).poll(cx));
                    // The read's bytes were not asked for yet: dropped, the position is kept.
                    self.state = State::Idle { buf, at: 0 };
                }
                State::Writing { op, at, written } => {
                    let (res, buf) = ready!(Pin::new(&mut *op).poll(cx));
                    match res {
                        Ok(0) if *written < buf.len() => {
                            self.write_error = Some(io::ErrorKind::WriteZero.into());
                            self.state = State::Idle { buf, at: 0 };
                        }
                        Ok(n) if *written + n < buf.len() => {
                            // A short write: the rest goes next.
                            let done = *written + n;
                            let pos = *at + n as u64;
                            *op = FileOp::write(&self.std, buf, done, pos);
                            *at = pos;
                            *written = done;
                        }
                        Ok(_) => self.state = State::Idle { buf, at: 0 },
                        Err(e) => {
                            self.write_error = Some(e);
                            self.state = State::Idle { buf, at: 0 };
                        }
                    }
                }
            }
        }
    }

    /// Writes every buffered byte and waits for the kernel to report the data on the device
    /// (`fsync(2)`).
    ///
    /// # Errors
    ///
    /// An earlier write's error, or `fsync`'s.
    pub async fn sync_all(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_settle(cx)).await?;
        op::sync(&self.std, false).await
    }

    /// Like [`sync_all`](File::sync_all), without waiting for metadata that reading the data
    /// back does not need (`fdatasync(2)`).
    ///
    /// # Errors
    ///
    /// An earlier write's error, or `fdatasync`'s.
    pub async fn sync_data(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_settle(cx)).await?;
        op::sync(&self.std, true).await
    }

    /// Truncates or extends the file to `size` bytes (on the blocking pool). The position is
    /// left where it was.
    ///
    /// # Errors
    ///
    /// An earlier write's error, or `ftruncate(2)`'s.
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_settle(cx)).await?;
        let std = self.std.clone();
        crate::spawn_blocking(move || std.set_len(size))
            .catch()
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
    }

    /// The file's metadata (`fstat(2)`, on the blocking pool).
    ///
    /// # Errors
    ///
    /// As `fstat(2)`.
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let std = self.std.clone();
        crate::spawn_blocking(move || std.metadata())
            .catch()
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Idle { buf, at } if *at < buf.len() => {
                    let n = out.len().min(buf.len() - *at);
                    out[..n].copy_from_slice(&buf[*at..*at + n]);
                    *at += n;
                    this.pos += n as u64;
                    coop.made_progress();
                    return Poll::Ready(Ok(n));
                }
                State::Idle { buf, .. } => {
                    if let Some(e) = this.write_error.take() {
                        return Poll::Ready(Err(e));
                    }
                    if out.is_empty() {
                        return Poll::Ready(Ok(0));
                    }
                    let mut buf = std::mem::take(buf);
                    buf.clear();
                    let len = out.len().clamp(4096, MAX_CHUNK);
                    this.state = State::Reading(FileOp::read(&this.std, buf, len, this.pos));
                }
                State::Reading(op) => {
                    let (res, buf) = ready!(Pin::new(op).poll(cx));
                    this.state = State::Idle { buf, at: 0 };
                    match res {
                        Ok(0) => {
                            coop.made_progress();
                            return Poll::Ready(Ok(0));
                        }
                        Ok(_) => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                State::Writing { .. } => ready!(this.poll_settle(cx))?,
            }
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let coop = ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        // Read-ahead is dropped (the position stays logical) and any write in flight finishes
        // first, so writes land in order.
        ready!(this.poll_settle(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let State::Idle { buf, .. } = &mut this.state else {
            unreachable!("settled");
        };
        let mut buf = std::mem::take(buf);
        let n = data.len().min(MAX_CHUNK);
        buf.clear();
        buf.extend_from_slice(&data[..n]);
        let at = this.pos;
        this.state = State::Writing {
            op: FileOp::write(&this.std, buf, 0, at),
            at,
            written: 0,
        };
        this.pos += n as u64;
        coop.made_progress();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_settle(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_settle(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        to: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        ready!(this.poll_settle(cx))?;
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        };
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => this.pos.checked_add_signed(d),
            // The length is one `fstat`: cheap enough to ask for here.
            SeekFrom::End(d) => this.std.metadata()?.len().checked_add_signed(d),
        };
        this.pos = new.ok_or_else(invalid)?;
        Poll::Ready(Ok(this.pos))
    }
}
