//! Signals: `ctrl_c` in a child process, and a signal stream with two listeners.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use weft::signal::unix::{signal, SignalKind};

#[test]
fn ctrl_c_is_delivered_to_a_child_process() {
    const NAME: &str = "ctrl_c_is_delivered_to_a_child_process";
    if std::env::var_os("WEFT_SIGNAL_CHILD").is_some() {
        weft::block_on(async {
            // Listening starts before the parent is told to send.
            let interrupted = weft::spawn(weft::signal::ctrl_c());
            weft::sleep(Duration::from_millis(50)).await;
            println!("ready");
            weft::timeout(interrupted, Duration::from_secs(20))
                .await
                .expect("SIGINT arrives")
                .unwrap();
            println!("got ctrl-c");
        });
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env("WEFT_SIGNAL_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended: {seen}");
        seen.push_str(&line);
        if line.contains("ready") {
            break;
        }
    }
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {seen}{rest}");
    assert!(rest.contains("got ctrl-c"), "{seen}{rest}");
}

#[weft::test]
async fn every_listener_sees_each_delivery() {
    let mut a = signal(SignalKind::user_defined1()).unwrap();
    let mut b = signal(SignalKind::user_defined1()).unwrap();
    let waiter = weft::spawn(async move {
        a.recv().await;
        a
    });
    weft::sleep(Duration::from_millis(20)).await;
    // SAFETY: kill(2) of this process with a signal a handler is installed for.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
    let mut a = weft::timeout(waiter, Duration::from_secs(10))
        .await
        .expect("the parked listener is woken");
    weft::timeout(b.recv(), Duration::from_secs(10))
        .await
        .expect("the other listener sees it too");
    // Nothing more was sent: both wait again.
    assert!(weft::timeout(a.recv(), Duration::from_millis(30))
        .await
        .is_err());
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
    weft::timeout(a.recv(), Duration::from_secs(10))
        .await
        .expect("the second delivery");
}

#[test]
fn signals_that_cannot_be_handled_are_refused() {
    assert_eq!(
        signal(SignalKind::from_raw(libc::SIGKILL))
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert!(signal(SignalKind::from_raw(0)).is_err());
    assert!(signal(SignalKind::from_raw(1000)).is_err());
}
