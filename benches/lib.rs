//! Side-by-side benchmarks of weft against tokio and smol's async-executor.
//!
//! The bench targets are `rt` (tokio's own scheduler workloads, on every runtime) and
//! `task_memory` (bytes per pending task). `python3 benches/report.py` turns criterion's
//! results into the ns-per-operation table of the README.
