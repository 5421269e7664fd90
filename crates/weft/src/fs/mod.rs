//! Files and directories.
//!
//! On io_uring, opening, reading, writing and syncing a file are operations submitted to the
//! worker's ring; on epoll (files are always "ready" to epoll) they run on the blocking pool.
//! Directory and metadata calls ([`metadata`], [`remove_file`], [`create_dir_all`]...) run on
//! the blocking pool on both.
//!
//! ```
//! # weft::block_on(async {
//! let dir = std::env::temp_dir().join(format!("weft-fs-doc-{}", std::process::id()));
//! weft::fs::create_dir_all(&dir).await?;
//! let path = dir.join("greeting.txt");
//! weft::fs::write(&path, "hello").await?;
//! assert_eq!(weft::fs::read_to_string(&path).await?, "hello");
//! assert_eq!(weft::fs::metadata(&path).await?.len(), 5);
//! weft::fs::remove_dir_all(&dir).await?;
//! # std::io::Result::Ok(()) }).unwrap();
//! ```

mod file;
mod op;
mod options;

pub use file::File;
pub use options::OpenOptions;
pub use std::fs::{FileType, Metadata, Permissions};

use crate::io::{AsyncReadExt, AsyncWriteExt};
use std::io;
use std::path::{Path, PathBuf};

/// Reads a whole file.
///
/// # Errors
///
/// As `open(2)` and `read(2)`.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut file = File::open(path).await?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).await?;
    Ok(out)
}

/// Reads a whole file as UTF-8 text.
///
/// # Errors
///
/// As [`read`], or `InvalidData` if it is not UTF-8.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path).await?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()))
}

/// Writes `contents` to a file, creating it or replacing what it held.
///
/// # Errors
///
/// As `open(2)` and `write(2)`.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let mut file = File::create(path).await?;
    file.write_all(contents.as_ref()).await?;
    file.flush().await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    crate::spawn_blocking(f)
        .catch()
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

/// The metadata of `path`, following symbolic links.
///
/// # Errors
///
/// As `stat(2)`.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::metadata(path)).await
}

/// Removes a file.
///
/// # Errors
///
/// As `unlink(2)`.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::remove_file(path)).await
}

/// Creates a directory.
///
/// # Errors
///
/// As `mkdir(2)`.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::create_dir(path)).await
}

/// Creates a directory and every missing parent.
///
/// # Errors
///
/// As `mkdir(2)` on the first directory that cannot be made.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::create_dir_all(path)).await
}

/// Removes an empty directory.
///
/// # Errors
///
/// As `rmdir(2)`.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::remove_dir(path)).await
}

/// Removes a directory and everything in it.
///
/// # Errors
///
/// As std's `remove_dir_all`.
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::remove_dir_all(path)).await
}

/// Renames a file or directory, replacing `to` if it exists.
///
/// # Errors
///
/// As `rename(2)`.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to): (PathBuf, PathBuf) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::rename(from, to)).await
}

/// Copies a file's contents (and permissions) to another, returning the bytes copied.
///
/// # Errors
///
/// As std's `copy`.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to): (PathBuf, PathBuf) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    blocking(move || std::fs::copy(from, to)).await
}
