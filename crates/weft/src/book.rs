//! The book's chapters (`docs/book/src/`) as doctests: every Rust block in them is compiled
//! and run by `cargo test`, so the book cannot drift from the code.

macro_rules! chapters {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[doc = include_str!(concat!("../../../docs/book/src/", $file))]
            pub struct $name;
        )*
    };
}

chapters! {
    Introduction => "introduction.md",
    AsyncAwait => "async-await.md",
    FuturesAndTasks => "futures-and-tasks.md",
    Channels => "channels.md",
    ConcurrentPatterns => "concurrent-patterns.md",
    ErrorHandling => "error-handling.md",
    RuntimeInternals => "runtime-internals.md",
    BestPractices => "best-practices.md",
    Examples => "examples.md",
    CancelSafety => "cancel-safety.md",
    Select => "select.md",
    BlockingAndBudget => "blocking-and-budget.md",
    IoBackends => "io-backends.md",
    HttpShutdown => "http-shutdown.md",
    Testing => "testing.md",
    ComingFrom => "coming-from.md",
    QuickReference => "quick-reference.md",
}
