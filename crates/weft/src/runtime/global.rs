//! The global runtime behind `weft::spawn` outside any executor.
//!
//! Started lazily on first use, with one worker per core (`WEFT_WORKERS` overrides), and never
//! shut down: it lives as long as the process, like the guide's implicit runtime.

#![forbid(unsafe_code)]

use super::{default_workers, Builder, Executor};
use std::sync::OnceLock;

static GLOBAL: OnceLock<Executor> = OnceLock::new();

/// The global executor, started on first use.
pub(crate) fn global() -> &'static Executor {
    GLOBAL.get_or_init(|| {
        let workers = std::env::var("WEFT_WORKERS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(default_workers);
        Builder::new()
            .workers(workers)
            .thread_name("weft-global")
            .build()
            .expect("weft: failed to start the global runtime's worker threads")
    })
}

/// The global runtime, if it has started.
pub(crate) fn try_global() -> Option<&'static Executor> {
    GLOBAL.get()
}
