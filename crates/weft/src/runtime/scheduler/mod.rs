//! The scheduler's pure parts: the local run queue, the idle/searching bookkeeping and the
//! cooperative budget. Nothing here makes a syscall, so loom and unit tests drive it directly.

pub(crate) mod coop;
pub(crate) mod idle;
pub(crate) mod queue;
