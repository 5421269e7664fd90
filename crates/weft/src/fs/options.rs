//! `OpenOptions`: how to open a file.

#![forbid(unsafe_code)]

use super::File;
use std::io;
use std::path::Path;

/// Flags to open a file with, as std's `OpenOptions`.
///
/// # Examples
///
/// ```
/// use weft::io::AsyncWriteExt;
///
/// # weft::block_on(async {
/// let path = std::env::temp_dir().join(format!("weft-options-doc-{}", std::process::id()));
/// weft::fs::write(&path, "a").await?;
/// let mut f = weft::fs::OpenOptions::new().append(true).open(&path).await?;
/// f.write_all(b"b").await?;
/// f.flush().await?;
/// assert_eq!(weft::fs::read_to_string(&path).await?, "ab");
/// # weft::fs::remove_file(&path).await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Every flag off; files are created with mode `0o666` (less the umask).
    pub fn new() -> Self {
        Self {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Open for writing at the end of the file.
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Empty the file when opening it (needs `write`).
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file if it does not exist (needs `write` or `append`).
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// The permission bits of a file this creates.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// `open(2)`'s flags, with std's checks of combinations that make no sense.
    fn flags(&self) -> io::Result<i32> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_owned());
        let access = match (self.read, self.write || self.append) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => return Err(invalid("open a file for reading, writing or both")),
        };
        if !(self.write || self.append) && (self.truncate || self.create || self.create_new) {
            return Err(invalid("truncate and create need write or append"));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid("append and truncate exclude each other"));
        }
        let mut flags = access;
        if self.append {
            flags |= libc::O_APPEND;
        }
        if self.truncate {
            flags |= libc::O_TRUNC;
        }
        if self.create_new {
            flags |= libc::O_CREAT | libc::O_EXCL;
        } else if self.create {
            flags |= libc::O_CREAT;
        }
        Ok(flags)
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a combination of flags that makes no sense, otherwise as `open(2)`.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        let std = super::op::open(path.as_ref(), flags, self.mode).await?;
        // In append mode every write goes to the end whatever the offset says; reads and
        // seeks start at 0, as with std.
        Ok(File::from_std_at(std, 0))
    }
}
