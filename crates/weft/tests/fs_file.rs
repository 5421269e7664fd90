//! Files on both backends: round trips, large files, seeks, appends, errors, and dropped
//! operations.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;
use weft::fs::{self, File, OpenOptions};
use weft::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("weft-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[weft::test]
async fn write_then_read_round_trips() {
    let dir = TempDir::new("round-trip");
    let p = dir.path("a.txt");
    fs::write(&p, "hello weft").await.unwrap();
    assert_eq!(fs::read_to_string(&p).await.unwrap(), "hello weft");
    assert_eq!(fs::read(&p).await.unwrap(), b"hello weft");
    assert_eq!(std::fs::read(&p).unwrap(), b"hello weft", "std agrees");
    assert_eq!(fs::metadata(&p).await.unwrap().len(), 10);
    fs::remove_file(&p).await.unwrap();
    assert_eq!(
        fs::metadata(&p).await.unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

#[weft::test]
async fn a_large_file_round_trips() {
    let dir = TempDir::new("large");
    let p = dir.path("big.bin");
    let data: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut f = File::create(&p).await.unwrap();
    // In uneven pieces, so writes cross the file's buffer boundaries.
    for chunk in data.chunks(100_003) {
        f.write_all(chunk).await.unwrap();
    }
    f.sync_all().await.unwrap();
    drop(f);
    let back = fs::read(&p).await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "contents differ");
    // Small reads through the read-ahead buffer.
    let mut f = File::open(&p).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        let n = f.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == data, "small reads reassemble the file");
}

#[weft::test]
async fn seeks_reads_and_writes_keep_one_position() {
    let dir = TempDir::new("seek");
    let p = dir.path("s.txt");
    fs::write(&p, "0123456789").await.unwrap();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p)
        .await
        .unwrap();
    let mut b = [0u8; 3];
    f.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"012");
    // Read-ahead holds more than that; the write still lands at position 3.
    f.write_all(b"abc").await.unwrap();
    assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 6);
    f.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"678");
    assert_eq!(f.seek(SeekFrom::End(-1)).await.unwrap(), 9);
    f.read_exact(&mut b[..1]).await.unwrap();
    assert_eq!(b[0], b'9');
    f.seek(SeekFrom::Start(0)).await.unwrap();
    let mut all = String::new();
    f.read_to_string(&mut all).await.unwrap();
    assert_eq!(all, "012abc6789");
    assert!(f.seek(SeekFrom::Current(-100)).await.is_err());
}

#[weft::test]
async fn append_and_create_new() {
    let dir = TempDir::new("append");
    let p = dir.path("log");
    let mut f = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&p)
        .await
        .unwrap();
    f.write_all(b"one\n").await.unwrap();
    f.write_all(b"two\n").await.unwrap();
    f.flush().await.unwrap();
    assert_eq!(fs::read_to_string(&p).await.unwrap(), "one\ntwo\n");
    let err = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    let err = OpenOptions::new().open(&p).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = File::open(dir.path("missing")).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[weft::test]
async fn directories() {
    let dir = TempDir::new("dirs");
    let deep = dir.path("a/b/c");
    fs::create_dir_all(&deep).await.unwrap();
    assert!(fs::metadata(&deep).await.unwrap().is_dir());
    fs::write(deep.join("f"), "x").await.unwrap();
    fs::rename(deep.join("f"), deep.join("g")).await.unwrap();
    assert_eq!(fs::copy(deep.join("g"), deep.join("h")).await.unwrap(), 1);
    fs::remove_dir_all(dir.path("a")).await.unwrap();
    assert!(fs::metadata(dir.path("a")).await.is_err());
}

/// Reads and opens dropped while in flight (over and over) leave nothing broken: the file
/// still reads back whole and no descriptor is left open by a cancelled open.
#[test]
fn dropped_file_operations_are_safe() {
    let dir = TempDir::new("dropped");
    let p = dir.path("data");
    std::fs::write(&p, vec![5u8; 4 << 20]).unwrap();
    let ex = weft::Executor::new(2);
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = fds();
    ex.block_on(async {
        for _ in 0..200 {
            let _ = weft::timeout(File::open(&p), Duration::ZERO).await;
            let mut f = File::open(&p).await.unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let _ = weft::timeout(f.read(&mut buf), Duration::ZERO).await;
            drop(f);
        }
        let back = fs::read(&p).await.unwrap();
        assert!(back.iter().all(|&b| b == 5) && back.len() == 4 << 20);
    });
    ex.shutdown();
    // Give pool threads finishing cancelled jobs a moment; other tests run alongside.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        fds() <= before + 20,
        "descriptors before {before}, after {}",
        fds()
    );
}
