//! The cooperative budget on the synchronisation futures: each acquire or wait that completes
//! spends one unit, so a loop over an uncontended lock or a set `Event` yields in time.

#![forbid(unsafe_code)]

use crate::runtime::scheduler::coop;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pin_project! {
    /// `inner`, spending one unit of the task's budget when it completes (and yielding first,
    /// without polling it, if none is left).
    #[derive(Debug)]
    pub(crate) struct Budgeted<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Budgeted<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F: Future> Future for Budgeted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let coop = ready!(coop::poll_proceed(cx));
        let out = ready!(self.project().inner.poll(cx));
        coop.made_progress();
        Poll::Ready(out)
    }
}

/// Declares a named future that runs an async-lock future under the budget.
macro_rules! budgeted_future {
    (
        $(#[$attr:meta])*
        $name:ident [$($gen:tt)*] [$($arg:tt)*] ($inner:ty) -> $out:ty
    ) => {
        pin_project_lite::pin_project! {
            $(#[$attr])*
            #[must_use = "futures do nothing unless awaited"]
            pub struct $name<$($gen)*> {
                #[pin]
                inner: $crate::sync::budget::Budgeted<$inner>,
            }
        }

        impl<$($gen)*> $name<$($arg)*> {
            fn new(inner: $inner) -> Self {
                Self {
                    inner: $crate::sync::budget::Budgeted::new(inner),
                }
            }
        }

        impl<$($gen)*> std::future::Future for $name<$($arg)*> {
            type Output = $out;

            fn poll(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<$out> {
                self.project().inner.poll(cx)
            }
        }

        impl<$($gen)*> std::fmt::Debug for $name<$($arg)*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use budgeted_future;
