//! Unix signals as futures and streams: [`ctrl_c`] and [`unix::signal`].
//!
//! The first time a signal is asked for, weft installs a handler for it (through
//! `signal-hook-registry`, so other libraries' handlers keep working). The handler does two
//! async-signal-safe things: it bumps a counter for the signal and writes one byte to a pipe,
//! whose read end is registered with the global runtime's I/O driver. Every listener compares
//! the counter with the last value it saw, so each one sees each delivery (signals that arrive
//! close together may be seen as one, as with every signal API). Once installed, the handler
//! stays for the life of the process: a signal weft listens for no longer has its default
//! effect (SIGINT no longer ends the process), as in tokio.
//!
//! ```no_run
//! # weft::block_on(async {
//! weft::signal::ctrl_c().await?;
//! println!("interrupted: shutting down");
//! # std::io::Result::Ok(()) });
//! ```

pub mod unix;

/// Waits for the next SIGINT (Ctrl-C in a terminal).
///
/// # Errors
///
/// If the handler cannot be installed.
pub async fn ctrl_c() -> std::io::Result<()> {
    let mut s = unix::signal(unix::SignalKind::interrupt())?;
    s.recv().await;
    Ok(())
}
