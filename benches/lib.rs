//! Shared helpers for the side-by-side benchmarks live in the bench files themselves.
