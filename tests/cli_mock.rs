//! `relaybench mock` is mock-upstream standalone: it serves on the loopback port it is given, answers /healthz, and stops cleanly on SIGTERM and SIGINT sent to its pid.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now (the OS picks it; we release it for the child).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `relaybench mock` and waits for its "listening on" line.
fn start(port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relaybench"))
        .args([
            "mock",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "1",
        ])
        .args(["--latency", "5ms", "--seed", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("mock-upstream listening on http://127.0.0.1:{port}")
    );
    child
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Sends `signal` to this child only, by pid, and waits (bounded) for it to exit.
fn stop(mut child: Child, signal: &str) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relaybench mock did not stop within 20 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serves_healthz_and_stops_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let port = free_port();
        let child = start(port);
        let health = get(port, "/healthz");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let stats = get(port, "/_mock/stats");
        assert!(
            stats.contains("\"requests_total\""),
            "control routes are on: {stats}"
        );
        let status = stop(child, signal);
        assert_eq!(status.code(), Some(0), "clean exit after {signal}");
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the port is released"
        );
    }
}

#[test]
fn shares_the_mock_upstream_flags_and_exit_codes() {
    let help = Command::new(env!("CARGO_BIN_EXE_relaybench"))
        .args(["mock", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--profile",
        "--error-rate",
        "--handshake-delay",
        "--control-listen",
        "--workers",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_relaybench"))
        .args([
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--no-control",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("contradict"));
}
