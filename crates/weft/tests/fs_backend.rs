//! On io_uring, file opens, reads and writes go through the ring: counted by the process's
//! syscalls under `strace` where it is installed (skipped, and said so, where it is not).

use std::process::Command;

#[test]
fn file_io_on_io_uring_makes_no_read_or_write_syscalls() {
    if std::env::var_os("WEFT_FS_CHILD").is_some() {
        let ex = weft::Executor::builder()
            .workers(1)
            .io(weft::runtime::IoBackend::Uring)
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("weft-fs-backend-{}", std::process::id()));
        ex.block_on(async {
            weft::fs::create_dir_all(&dir).await.unwrap();
            let p = dir.join("marker-file");
            weft::fs::write(&p, vec![1u8; 100_000]).await.unwrap();
            assert_eq!(weft::fs::read(&p).await.unwrap().len(), 100_000);
            weft::fs::remove_dir_all(&dir).await.unwrap();
        });
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace is not installed: skipping");
        return;
    }
    if weft::Executor::builder()
        .workers(1)
        .io(weft::runtime::IoBackend::Uring)
        .build()
        .is_err()
    {
        eprintln!("io_uring cannot start here: skipping");
        return;
    }
    let log = std::env::temp_dir().join(format!("weft-strace-{}", std::process::id()));
    let out = Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=openat,open,read,write,pread64,pwrite64",
            "-o",
        ])
        .arg(&log)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "file_io_on_io_uring_makes_no_read_or_write_syscalls",
            "--test-threads=1",
        ])
        .env("WEFT_FS_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let touching: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("marker-file"))
        .collect();
    assert!(
        touching.is_empty(),
        "syscalls opened the file: {touching:?}"
    );
    // The 100,000-byte write and read would show as large read/write calls.
    let big: Vec<&str> = trace
        .lines()
        .filter(|l| {
            (l.contains("read(") || l.contains("write("))
                && l.rsplit('=')
                    .next()
                    .and_then(|n| n.trim().parse::<i64>().ok())
                    >= Some(65536)
        })
        .collect();
    assert!(big.is_empty(), "file data went through syscalls: {big:?}");
}
