//! The I/O driver where the process is constrained: io_uring forbidden by a seccomp filter,
//! and the descriptor table full. Each case runs in a child process (this test binary run
//! again with one test selected and a marker in its environment), so the constraint never
//! touches the other tests.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use weft::net::{TcpListener, TcpStream};
use weft::runtime::IoBackend;

const CHILD: &str = "WEFT_TEST_CHILD";

fn child_command(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env_remove("WEFT_IO");
    cmd
}

fn is_child(test: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(test)
}

/// Makes `io_uring_setup` fail with EPERM on this thread and the threads it starts, as
/// Docker's default seccomp profile does.
fn forbid_io_uring() {
    let filter = [
        // Load the syscall number.
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl calls; `prog` points to a filter that outlives the call (the kernel
    // copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0,
            "install the seccomp filter: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn io_uring_forbidden_by_seccomp_falls_back_to_epoll() {
    const NAME: &str = "io_uring_forbidden_by_seccomp_falls_back_to_epoll";
    if is_child(NAME) {
        forbid_io_uring();
        // Nothing forced: weft picks epoll by itself and serves.
        let ex = weft::Executor::builder().workers(2).build().unwrap();
        assert_eq!(ex.io_backend(), IoBackend::Epoll);
        let echoed = ex.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = weft::spawn(async move {
                let (mut c, _) = listener.accept().await.unwrap();
                let mut b = [0u8; 4];
                weft::io::AsyncReadExt::read_exact(&mut c, &mut b)
                    .await
                    .unwrap();
                weft::io::write_all(&mut c, b).await.unwrap();
            });
            let mut c = TcpStream::connect(&addr).await.unwrap();
            weft::io::write_all(&mut c, b"ping").await.unwrap();
            let mut b = [0u8; 4];
            weft::io::AsyncReadExt::read_exact(&mut c, &mut b)
                .await
                .unwrap();
            server.await;
            b
        });
        assert_eq!(&echoed, b"ping");
        // Forced, by the builder or by the environment: a clear error, no fallback.
        let err = weft::Executor::builder()
            .io(IoBackend::Uring)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("io_uring"), "{err}");
        std::env::set_var("WEFT_IO", "uring");
        let err = weft::Executor::builder().build().unwrap_err();
        assert_eq!(err.raw_os_error(), None);
        assert!(err.to_string().contains("io_uring_setup"), "{err}");
        println!("child: fell back to epoll, forcing io_uring failed");
        return;
    }
    let out = child_command(NAME).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: fell back"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child's user + system CPU time.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn accept_backs_off_when_descriptors_run_out() {
    const NAME: &str = "accept_backs_off_when_descriptors_run_out";
    const CLIENTS: usize = 24;
    if is_child(NAME) {
        let ex = weft::Executor::new(2);
        let listener = ex
            .block_on(async { TcpListener::bind("127.0.0.1:0") })
            .unwrap();
        println!("port {}", listener.local_addr().unwrap().port());
        // Room for a few connections only.
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        let lim = libc::rlimit {
            rlim_cur: open + 6,
            rlim_max: open + 6,
        };
        // SAFETY: plain setrlimit with a valid struct.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
        let (release_tx, release_rx) = weft::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            let _ = release_tx.send(());
        });
        let accepted = ex.block_on(async move {
            let mut held = Vec::new();
            let mut release = Some(release_rx);
            let mut total = 0;
            while total < CLIENTS {
                if let Some(rx) = release.as_mut() {
                    // Holds every connection until the parent says to let go.
                    weft::select! {
                        r = listener.accept() => { held.push(r.unwrap().0); total += 1; }
                        _ = rx => { held.clear(); release = None; }
                    }
                } else {
                    drop(listener.accept().await.unwrap());
                    total += 1;
                }
            }
            total
        });
        println!("accepted {accepted}");
        return;
    }
    let mut child = child_command(NAME)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port: u16 = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited early");
        // The harness prints `test NAME ... ` on the same line first.
        if let Some((_, p)) = line.trim().split_once("port ") {
            break p.parse().unwrap();
        }
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // The child has taken what its descriptor table allows and hits EMFILE on the rest.
    std::thread::sleep(Duration::from_millis(300));
    let start_cpu = cpu_time(pid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time(pid) - start_cpu;
    let wall = start.elapsed();
    assert!(
        used < wall / 4,
        "the child spent {used:?} of CPU in {wall:?} while out of descriptors: it spins"
    );
    // Descriptors freed: it serves again and takes every remaining connection.
    writeln!(child.stdin.take().unwrap(), "release").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {rest}");
    assert!(rest.contains(&format!("accepted {CLIENTS}")), "{rest}");
    drop(clients);
}
