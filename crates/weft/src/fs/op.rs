//! One file read, write, open or sync in flight: on the worker's io_uring ring when the
//! executor runs on io_uring, on the blocking pool otherwise. Either way the buffer belongs to
//! the operation until it completes, so a dropped future never leaves the kernel (or a pool
//! thread) writing into freed memory.

use crate::io::op::{Op, OpKind, Submitted};
use crate::task::Catch;
use io_uring::{opcode, types};
use std::ffi::CString;
use std::fs::File as StdFile;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// A buffer lent to a read or write, with the file it works on (kept open until the operation
/// is done, even if the `File` is dropped first).
#[derive(Debug)]
pub(crate) struct FileBuf {
    pub(crate) buf: Vec<u8>,
    file: Arc<StdFile>,
    /// For a read: where in `buf` the bytes land (its length when the read started).
    filled_from: Option<usize>,
}

/// What a finished read or write gives back: the result and the buffer.
pub(crate) type Done = (io::Result<usize>, Vec<u8>);

#[derive(Debug)]
enum Backend {
    Ring(Op),
    Pool(Catch<Done>),
    /// Could not be started (the executor is shut down).
    Failed(Option<io::Error>),
}

/// A read or write in flight.
#[derive(Debug)]
pub(crate) struct FileOp(Backend);

fn pool_error(e: crate::JoinError) -> io::Error {
    io::Error::other(format!(
        "weft: a file operation on the blocking pool failed: {e}"
    ))
}

impl FileOp {
    /// Reads up to `len` bytes at `pos`, appended to `buf`.
    pub(crate) fn read(file: &Arc<StdFile>, mut buf: Vec<u8>, len: usize, pos: u64) -> Self {
        let len = len.min(u32::MAX as usize);
        buf.reserve(len);
        let start = buf.len();
        let fd = file.as_raw_fd();
        // SAFETY: `reserve` made room for `len` bytes after `start`.
        let ptr = unsafe { buf.as_mut_ptr().add(start) };
        let entry = opcode::Read::new(types::Fd(fd), ptr, len as u32)
            .offset(pos)
            .build();
        let res = FileBuf {
            buf,
            file: file.clone(),
            filled_from: Some(start),
        };
        // SAFETY: the entry points into the spare capacity of `res.buf` (heap memory owned by
        // the resources, which does not move with them) and at `res.file`'s descriptor.
        match unsafe { Op::submit(entry, Box::new(res), OpKind::Plain, false) } {
            Submitted::Ring(op) => FileOp(Backend::Ring(op)),
            Submitted::NotRing(res) => {
                Self::pool(*res.downcast::<FileBuf>().expect("ours"), move |f| {
                    let start = f.buf.len();
                    f.buf.resize(start + len, 0);
                    let r = f.file.read_at(&mut f.buf[start..], pos);
                    f.buf.truncate(start + *r.as_ref().unwrap_or(&0));
                    r
                })
            }
            Submitted::Failed(e, _) => FileOp(Backend::Failed(Some(e))),
        }
    }

    /// Writes `buf[from..]` at `pos` (one `pwrite`: it may write less).
    pub(crate) fn write(file: &Arc<StdFile>, buf: Vec<u8>, from: usize, pos: u64) -> Self {
        let len = (buf.len() - from).min(u32::MAX as usize);
        let fd = file.as_raw_fd();
        let entry = opcode::Write::new(types::Fd(fd), buf[from..].as_ptr(), len as u32)
            .offset(pos)
            .build();
        let res = FileBuf {
            buf,
            file: file.clone(),
            filled_from: None,
        };
        // SAFETY: the entry points into `res.buf` (heap memory owned by the resources) and at
        // `res.file`'s descriptor.
        match unsafe { Op::submit(entry, Box::new(res), OpKind::Plain, false) } {
            Submitted::Ring(op) => FileOp(Backend::Ring(op)),
            Submitted::NotRing(res) => {
                Self::pool(*res.downcast::<FileBuf>().expect("ours"), move |f| {
                    f.file.write_at(&f.buf[from..from + len], pos)
                })
            }
            Submitted::Failed(e, _) => FileOp(Backend::Failed(Some(e))),
        }
    }

    fn pool(
        mut res: FileBuf,
        f: impl FnOnce(&mut FileBuf) -> io::Result<usize> + Send + 'static,
    ) -> Self {
        FileOp(Backend::Pool(
            crate::spawn_blocking(move || {
                let r = f(&mut res);
                (r, res.buf)
            })
            .catch(),
        ))
    }
}

impl Future for FileOp {
    type Output = Done;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Done> {
        match &mut self.0 {
            Backend::Ring(op) => {
                let (result, res) = ready!(Pin::new(op).poll(cx));
                let mut res = *res.downcast::<FileBuf>().expect("ours");
                let result = result.map(|n| n as usize);
                if let (Ok(n), Some(start)) = (&result, res.filled_from) {
                    // SAFETY: the kernel wrote `n` bytes at `start`, within the capacity the
                    // read reserved.
                    unsafe { res.buf.set_len(start + n) };
                }
                Poll::Ready((result, res.buf))
            }
            Backend::Pool(job) => Poll::Ready(match ready!(Pin::new(job).poll(cx)) {
                Ok(done) => done,
                Err(e) => (Err(pool_error(e)), Vec::new()),
            }),
            Backend::Failed(e) => Poll::Ready((
                Err(e.take().unwrap_or_else(crate::io::source::shut_down)),
                Vec::new(),
            )),
        }
    }
}

/// Opens `path` with `flags` (`open(2)`'s, plus `O_CLOEXEC`) and `mode`.
pub(crate) async fn open(path: &std::path::Path, flags: i32, mode: u32) -> io::Result<StdFile> {
    let c_path = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let flags = flags | libc::O_CLOEXEC;
    let entry = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), c_path.as_ptr())
        .flags(flags)
        .mode(mode)
        .build();
    let c_path = Box::new(c_path);
    // SAFETY: the entry points at the path's heap bytes, owned by the resources. A descriptor
    // the open delivers after its future was dropped is closed by the driver.
    match unsafe { Op::submit(entry, c_path, OpKind::ReturnsFd, false) } {
        Submitted::Failed(e, _) => Err(e),
        Submitted::Ring(op) => {
            let (result, _path) = op.await;
            let fd = result? as i32;
            // SAFETY: the kernel handed this new descriptor to us alone.
            Ok(StdFile::from(unsafe { OwnedFd::from_raw_fd(fd) }))
        }
        Submitted::NotRing(c_path) => {
            let c_path = *c_path.downcast::<CString>().expect("ours");
            let fd = crate::spawn_blocking(move || {
                // SAFETY: a valid NUL-terminated path; the result is checked below.
                let fd = unsafe { libc::open(c_path.as_ptr(), flags, mode) };
                if fd < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    // SAFETY: a new descriptor nothing else owns.
                    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
                }
            })
            .catch()
            .await
            .map_err(pool_error)??;
            Ok(StdFile::from(fd))
        }
    }
}

/// `fsync(2)` (or `fdatasync(2)` if `data_only`).
pub(crate) async fn sync(file: &Arc<StdFile>, data_only: bool) -> io::Result<()> {
    let flags = if data_only {
        types::FsyncFlags::DATASYNC
    } else {
        types::FsyncFlags::empty()
    };
    let entry = opcode::Fsync::new(types::Fd(file.as_raw_fd()))
        .flags(flags)
        .build();
    // SAFETY: no pointers; the resources keep the descriptor open.
    match unsafe { Op::submit(entry, Box::new(file.clone()), OpKind::Plain, false) } {
        Submitted::Failed(e, _) => Err(e),
        Submitted::Ring(op) => op.await.0.map(drop),
        Submitted::NotRing(_) => {
            let file = file.clone();
            crate::spawn_blocking(move || {
                if data_only {
                    file.sync_data()
                } else {
                    file.sync_all()
                }
            })
            .catch()
            .await
            .map_err(pool_error)?
        }
    }
}
