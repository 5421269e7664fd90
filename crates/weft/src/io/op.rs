//! A completion-based io_uring operation as a future: it lends the kernel its resources
//! (buffers, a path, the file) and gets them back with the result.

use super::source::{home, on_worker};
use crate::runtime::shared::Shared;
use crate::sys::ops::Resources;
use io_uring::squeue;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// An operation in flight on one worker's ring. Dropping it before it completes cancels it;
/// the ring keeps the resources until the kernel is done with them.
#[derive(Debug)]
pub(crate) struct Op {
    shared: Arc<Shared>,
    ring: usize,
    key: usize,
    done: bool,
}

impl Op {
    /// Submits `entry` on the ring of the worker [`home`] picks, or returns `resources` back if
    /// the executor's backend is not io_uring.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` points into heap memory owned by `resources` (which does not
    /// move when the box does), valid for what the operation does with it.
    pub(crate) unsafe fn submit(
        entry: squeue::Entry,
        resources: Resources,
        returns_fd: bool,
    ) -> io::Result<Result<Op, Resources>> {
        let (shared, ring, local) = home()?;
        let Some(driver) = shared.drivers[ring].uring() else {
            return Ok(Err(resources));
        };
        // SAFETY: this function's own contract.
        let key = unsafe { driver.submit_op(entry, resources, returns_fd, local)? };
        Ok(Ok(Op {
            shared,
            ring,
            key,
            done: false,
        }))
    }

    fn driver(&self) -> &crate::sys::uring::UringDriver {
        self.shared.drivers[self.ring]
            .uring()
            .expect("an operation is submitted on an io_uring driver")
    }
}

impl Future for Op {
    type Output = (io::Result<u32>, Resources);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (result, resources) = std::task::ready!(self.driver().poll_op(self.key, cx));
        self.done = true;
        let result = if result < 0 {
            Err(io::Error::from_raw_os_error(-result))
        } else {
            Ok(result as u32)
        };
        Poll::Ready((result, resources))
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if !self.done {
            let local = on_worker(&self.shared, self.ring);
            self.driver().drop_op(self.key, local);
        }
    }
}
