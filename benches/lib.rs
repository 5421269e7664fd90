//! Side-by-side benchmarks of weft against tokio and smol's async-executor.
//!
//! The bench targets are `rt` (tokio's own scheduler workloads, on every runtime),
//! `task_memory` (bytes per pending task), `time` (timer costs) and `timer_lateness` (how late
//! sleeps wake, and bytes per sleeping task). `python3 benches/report.py` turns criterion's
//! results of `rt` into the ns-per-operation table of the README.
//!
//! This library holds what several benchmarks share: the counting allocator that the memory
//! figures come from, the server processes of the network benchmarks ([`procs`]), and
//! [`record`], which the benchmark report (`benches/report/run.py`) reads results from.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// The system allocator plus a count of live heap bytes. A memory benchmark installs it with
/// `#[global_allocator] static A: weft_benches::Counting = weft_benches::Counting;`.
#[derive(Debug)]
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Live heap bytes allocated through [`Counting`] so far.
pub fn live_bytes() -> isize {
    LIVE.load(Relaxed)
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A value in a [`record`]ed row.
#[derive(Debug, Clone)]
pub enum Val {
    /// Written as a JSON string.
    Str(String),
    /// Written as a JSON number (`null` if not finite).
    Num(f64),
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Str(s.to_owned())
    }
}

impl From<&String> for Val {
    fn from(s: &String) -> Self {
        Val::Str(s.clone())
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Num(v)
    }
}

impl From<usize> for Val {
    fn from(v: usize) -> Self {
        Val::Num(v as f64)
    }
}

impl From<u64> for Val {
    fn from(v: u64) -> Self {
        Val::Num(v as f64)
    }
}

/// Appends one result row, as a JSON object with `"bench": bench` and `fields`, to the file
/// named by `WEFT_BENCH_OUT`, if set (the report collects rows this way; the printed tables
/// stay as they are). A row that cannot be written is reported on stderr, not fatal.
pub fn record(bench: &str, fields: &[(&str, Val)]) {
    let Ok(path) = std::env::var("WEFT_BENCH_OUT") else {
        return;
    };
    fn quote(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    let mut line = format!("{{\"bench\":{}", quote(bench));
    for (k, v) in fields {
        let v = match v {
            Val::Str(s) => quote(s),
            Val::Num(n) if n.is_finite() => format!("{n}"),
            Val::Num(_) => "null".to_owned(),
        };
        line.push_str(&format!(",{}:{v}", quote(k)));
    }
    line.push_str("}\n");
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("could not record a result in {path}: {e}");
    }
}

/// Servers run in processes of their own, so their CPU time can be read apart from the load
/// generator's.
pub mod procs {
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// `std::env::var(key)`, or `default` when it is unset.
    pub fn env_or(key: &str, default: &str) -> String {
        std::env::var(key).unwrap_or_else(|_| default.to_owned())
    }

    /// A server process that printed `port N` as its first line; killed on `stop` or drop.
    #[derive(Debug)]
    pub struct ServerProcess {
        child: Child,
        /// Where it listens (on loopback).
        pub addr: SocketAddr,
    }

    impl ServerProcess {
        /// Starts `cmd` and waits for its `port N` line.
        pub fn start(mut cmd: Command, kind: &str) -> Self {
            let mut child = cmd
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the server");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let port: u16 = line
                .trim()
                .strip_prefix("port ")
                .unwrap_or_else(|| panic!("{kind}: no port in {line:?}"))
                .parse()
                .unwrap();
            Self {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            }
        }

        /// Starts this benchmark binary again with `--server KIND`.
        pub fn this_binary(kind: &str) -> Self {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["--server", kind]);
            Self::start(c, kind)
        }

        /// The process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Kills the server and waits for it.
        pub fn stop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for ServerProcess {
        fn drop(&mut self) {
            self.stop();
        }
    }

    /// Context switches (voluntary and not) of every thread of the process so far.
    pub fn context_switches(pid: u32) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return 0;
        };
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    /// The process's user + system CPU time.
    pub fn cpu_time(pid: u32) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_micros(ticks * 1_000_000 / hz)
    }
}
