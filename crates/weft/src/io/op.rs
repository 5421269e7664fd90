//! A completion-based io_uring operation as a future: it lends the kernel its resources
//! (buffers, a path, the file) and gets them back with the result.

use super::source::{home, on_worker};
use crate::runtime::shared::Shared;
pub(crate) use crate::sys::ops::OpKind;
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

/// Where [`Op::submit`] sent an operation.
#[derive(Debug)]
pub(crate) enum Submitted {
    /// In flight on a ring.
    Ring(Op),
    /// The executor's backend is not io_uring: the resources come back untouched.
    NotRing(Resources),
    /// It could not be submitted (the executor is shut down, the ring failed); the kernel never
    /// saw the resources.
    Failed(io::Error, Resources),
}

impl Op {
    /// Submits `entry` on the ring of the worker [`home`] picks. `borrowed_fd` says that the
    /// entry names a descriptor the caller only borrows: it is submitted at once, so the kernel
    /// takes its own reference to the file while the descriptor is surely open. Only a ring's
    /// own worker may do that (the kernel runs a request's completion work on the thread that
    /// submitted it, and with `COOP_TASKRUN` a thread asleep outside the ring would never run
    /// it), so off the workers such an entry comes back as `NotRing`.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` points into heap memory owned by `resources` (which does not
    /// move when the box does), valid for what the operation does with it; a descriptor in it
    /// is owned by `resources` or, with `borrowed_fd`, open until this call returns.
    pub(crate) unsafe fn submit(
        entry: squeue::Entry,
        resources: Resources,
        kind: OpKind,
        borrowed_fd: bool,
    ) -> Submitted {
        let (shared, ring, local) = match home() {
            Ok(home) => home,
            Err(e) => return Submitted::Failed(e, resources),
        };
        let Some(driver) = shared.drivers[ring].uring() else {
            return Submitted::NotRing(resources);
        };
        if borrowed_fd && !local {
            return Submitted::NotRing(resources);
        }
        // SAFETY: this function's own contract.
        match unsafe { driver.submit_op(entry, resources, kind, local, borrowed_fd) } {
            Ok(key) => Submitted::Ring(Op {
                shared,
                ring,
                key,
                done: false,
            }),
            Err((e, resources)) => Submitted::Failed(e, resources),
        }
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
