//! A future, then its output: the building block of `join!` and `join`.

#![forbid(unsafe_code)]

use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// A future that keeps its output once it is ready, until taken.
    #[project = MaybeDoneProj]
    #[project_replace = MaybeDoneReplace]
    #[derive(Debug)]
    pub enum MaybeDone<F: Future> {
        /// Still running.
        Future { #[pin] future: F },
        /// Finished; the output waits to be taken.
        Done { output: F::Output },
        /// The output was taken.
        Gone,
    }
}

impl<F: Future> MaybeDone<F> {
    /// Wraps a future.
    pub fn new(future: F) -> Self {
        MaybeDone::Future { future }
    }

    /// Polls the future if it is still running; true once it has finished.
    pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let output = match self.as_mut().project() {
            MaybeDoneProj::Future { future } => match future.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return false,
            },
            MaybeDoneProj::Done { .. } => return true,
            MaybeDoneProj::Gone => panic!("MaybeDone polled after its output was taken"),
        };
        self.set(MaybeDone::Done { output });
        true
    }

    /// The output, if the future has finished and it was not taken yet.
    pub fn output_mut(self: Pin<&mut Self>) -> Option<&mut F::Output> {
        match self.project() {
            MaybeDoneProj::Done { output } => Some(output),
            _ => None,
        }
    }

    /// Takes the output.
    ///
    /// # Panics
    ///
    /// Panics if the future has not finished or the output was taken.
    pub fn take(self: Pin<&mut Self>) -> F::Output {
        match self.project_replace(MaybeDone::Gone) {
            MaybeDoneReplace::Done { output } => output,
            _ => panic!("MaybeDone::take before the future finished"),
        }
    }
}
