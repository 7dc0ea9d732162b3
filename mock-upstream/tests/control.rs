//! The control surface over HTTP (`/_mock/faults`, `/_mock/stats`, `/_mock/reset`), its placement
//! options, and the `mock-upstream` binary driven by its flags and profile files.

mod util;
use mock_upstream::{ControlSettings, MockConfig};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use util::*;

#[tokio::test]
async fn faults_endpoint_reads_and_replaces_the_config() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    let current = c.get("/_mock/faults").await.json();
    assert_eq!(current["seed"], 7);
    assert_eq!(current["latency"], "0s");

    let put = r#"{"seed":7,"errors":{"503":1.0},"retry_after":"4s"}"#;
    let r = c.request("PUT", "/_mock/faults", &[], put).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["errors"]["503"], 1.0);
    let refused = c.post("/v1/chat/completions", CHAT).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, Some("4"))
    );

    let r = c
        .request("PUT", "/_mock/faults", &[], r#"{"faults":{"resett":0.5}}"#)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resett"),
        "names the unknown key"
    );
    let r = c
        .request("PUT", "/_mock/faults", &[], r#"{"faults":{"reset":7}}"#)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("faults.reset"));
    assert_eq!(
        c.post("/v1/chat/completions", CHAT).await.status,
        503,
        "bad PUTs changed nothing"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn stats_and_reset_endpoints() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    for _ in 0..3 {
        c.post("/v1/chat/completions", CHAT).await;
    }
    c.post("/v1/nope", "{}").await;
    let s: mock_upstream::StatsSnapshot =
        serde_json::from_slice(&c.get("/_mock/stats").await.body).unwrap();
    assert_eq!(s.requests_by_route["/v1/chat/completions"], 3);
    assert_eq!(s.requests_by_route["other"], 1);
    assert_eq!(s.responses_by_status[&200], 3);
    assert_eq!(s.responses_by_status[&404], 1);
    assert_eq!(s.connections_open, 1);
    assert_eq!(s.requests_total, 5, "the stats request itself counts");
    assert_eq!(c.post("/_mock/reset", "").await.status, 200);
    let s = mock.stats();
    assert_eq!(s.requests_by_route.get("/v1/chat/completions"), None);
    assert_eq!(s.connections_open, 1, "live gauges survive a reset");
    mock.shutdown().await;
}

#[tokio::test]
async fn control_routes_can_be_disabled_or_moved() {
    let off = start(MockConfig {
        control: ControlSettings {
            enabled: false,
            listen: None,
        },
        ..seeded()
    })
    .await;
    assert_eq!(off.control_addr(), None);
    assert_eq!(
        Conn::open(off.addr())
            .await
            .get("/_mock/stats")
            .await
            .status,
        404
    );
    off.shutdown().await;

    let moved = start(MockConfig {
        control: ControlSettings {
            enabled: true,
            listen: Some("127.0.0.1:0".parse().unwrap()),
        },
        ..seeded()
    })
    .await;
    let control = moved.control_addr().unwrap();
    assert_ne!(control, moved.addr());
    assert_eq!(
        Conn::open(moved.addr())
            .await
            .get("/_mock/stats")
            .await
            .status,
        404
    );
    assert_eq!(
        Conn::open(control).await.get("/_mock/stats").await.status,
        200
    );
    assert_eq!(
        Conn::open(control)
            .await
            .post("/v1/chat/completions", CHAT)
            .await
            .status,
        404,
        "no API on the control address"
    );
    moved.shutdown().await;
}

/// Kills the child it holds when dropped, so a failing assertion never leaks a server.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary; returns the child and its base URL (read from its first stdout line).
fn spawn_binary(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child = Running(child);
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
    (child, url)
}

#[tokio::test]
async fn binary_flags_override_the_profile() {
    let dir = std::env::temp_dir().join(format!("mock-upstream-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("p.toml");
    std::fs::write(
        &profile,
        "seed = 3\nlatency = \"1ms\"\nerrors = { \"500\" = 1.0 }\n",
    )
    .unwrap();
    let (child, url) = spawn_binary(&[
        "--profile",
        profile.to_str().unwrap(),
        "--error-rate",
        "500=0",
        "--error-rate",
        "429=1",
        "--retry-after",
        "3s",
        "--require-key",
        "k",
    ]);
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let mut c = Conn::open(addr).await;
    let r = c
        .request(
            "POST",
            "/v1/chat/completions",
            &[("authorization", "Bearer k")],
            CHAT,
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 401);
    assert_eq!(c.get("/_mock/faults").await.json()["seed"], 3);
    drop(child);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn binary_rejects_a_bad_profile_with_exit_code_2_naming_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("mock-upstream-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("bad.toml");
    std::fs::write(&profile, "latency = \"5ms\"\n\n[faults]\nrset = 0.1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
        .args(["--listen", "127.0.0.1:0", "--profile"])
        .arg(&profile)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("line 4") && err.contains("rset"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-control",
            "--reset-rate",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("faults.reset"));
    std::fs::remove_dir_all(&dir).ok();
}
