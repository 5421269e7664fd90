//! A shim that swaps std's synchronisation types for loom's under `cfg(weft_loom)`, so the
//! lock-free cores can be model-checked without changing their code. The cfg has a name of
//! its own because dependencies such as event-listener react to a plain `cfg(loom)`.

#![forbid(unsafe_code)]

#[cfg(weft_loom)]
pub(crate) use loom::sync;

#[cfg(not(weft_loom))]
pub(crate) use std::sync;

/// An `UnsafeCell` with loom's closure-based access API, so the same code compiles both ways.
#[cfg(weft_loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(weft_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(weft_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
