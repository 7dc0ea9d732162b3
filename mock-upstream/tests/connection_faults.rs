//! Transport faults seen from a raw socket: resets, hangs, truncation, slow bodies, stream cuts,
//! stream timing, close-after-N, exact connection counts, graceful shutdown.

mod util;
use mock_upstream::{ConnectionFaults, Latency, MockConfig, StreamTiming, TokenCount};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use util::*;

fn with_faults(faults: ConnectionFaults) -> MockConfig {
    MockConfig { faults, ..seeded() }
}

#[tokio::test]
async fn reset_is_seen_as_a_connection_reset() {
    let mock = start(with_faults(ConnectionFaults {
        reset: 1.0,
        ..Default::default()
    }))
    .await;
    for body in [CHAT, CHAT_STREAM] {
        let mut c = Conn::open(mock.addr()).await;
        match c.request("POST", "/v1/chat/completions", &[], body).await {
            Err(Broken::Reset { .. }) => {}
            other => panic!("expected ECONNRESET, got {other:?}"),
        }
    }
    assert_eq!(mock.stats().faults_injected["reset"], 2);
    mock.shutdown().await;
}

#[tokio::test]
async fn hang_never_answers_and_the_connection_count_stays_exact() {
    let mock = start(with_faults(ConnectionFaults {
        hang: 1.0,
        ..Default::default()
    }))
    .await;
    let mut c = Conn::open(mock.addr()).await;
    c.send("POST", "/v1/chat/completions", &[], CHAT).await;
    assert!(
        matches!(
            c.read_reply(Duration::from_millis(700)).await,
            Err(Broken::TimedOut)
        ),
        "no answer"
    );
    assert_eq!(mock.stats().connections_open, 1);
    assert_eq!(mock.stats().requests_in_flight, 1);
    drop(c);
    assert!(
        eventually(|| mock.stats().connections_open == 0).await,
        "client left: {:?}",
        mock.stats()
    );
    // A hung request must not hold up shutdown past the grace period.
    let mut c = Conn::open(mock.addr()).await;
    c.send("POST", "/v1/chat/completions", &[], CHAT).await;
    assert!(eventually(|| mock.stats().requests_in_flight == 1).await);
    let t = Instant::now();
    mock.shutdown().await;
    assert!(t.elapsed() < mock_upstream::SHUTDOWN_GRACE + Duration::from_secs(3));
}

#[tokio::test]
async fn truncated_body_ends_before_its_content_length() {
    let mock = start(with_faults(ConnectionFaults {
        truncate: 1.0,
        ..Default::default()
    }))
    .await;
    let mut c = Conn::open(mock.addr()).await;
    c.send("POST", "/v1/chat/completions", &[], CHAT).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(WAIT, c.stream.read_to_end(&mut raw))
        .await
        .expect("server closes");
    assert!(read.is_ok(), "closed with FIN, not reset: {read:?}");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("headers arrive");
    assert!(head.starts_with("HTTP/1.1 200"));
    let declared: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length declared");
    assert!(
        !body.is_empty() && body.len() < declared,
        "got {} of {declared} bytes",
        body.len()
    );
    assert_eq!(mock.stats().faults_injected["truncate"], 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn slow_body_arrives_at_the_configured_rate() {
    let cfg = MockConfig {
        output_tokens: TokenCount::Fixed(100),
        ..with_faults(ConnectionFaults {
            slow_body: 1.0,
            slow_body_rate: 2000,
            ..Default::default()
        })
    };
    let mock = start(cfg).await;
    let mut c = Conn::open(mock.addr()).await;
    let t = Instant::now();
    let r = c.post("/v1/chat/completions", CHAT).await;
    let took = t.elapsed().as_secs_f64();
    let expected = r.body.len() as f64 / 2000.0;
    assert!(r.body.len() > 600, "body is long enough to measure");
    assert_eq!(r.json()["object"], "chat.completion", "slow, but whole");
    assert!(
        took >= expected * 0.8 && took < expected * 2.0 + 0.2,
        "{} bytes took {took:.2}s, expected about {expected:.2}s",
        r.body.len()
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn stream_cut_stops_mid_stream_without_done() {
    let cfg = MockConfig {
        output_tokens: TokenCount::Fixed(20),
        ..with_faults(ConnectionFaults {
            stream_cut: 1.0,
            ..Default::default()
        })
    };
    let mock = start(cfg).await;
    let mut c = Conn::open(mock.addr()).await;
    c.send("POST", "/v1/chat/completions", &[], CHAT_STREAM)
        .await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, c.stream.read_to_end(&mut raw))
        .await
        .expect("server closes");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"));
    // Non-empty content deltas only (a role-only first chunk carries `"content":""`).
    let contents =
        text.matches("\"content\":\"").count() - text.matches("\"content\":\"\"").count();
    assert_eq!(contents, 10, "stopped halfway through 20 tokens");
    assert!(
        !text.contains("[DONE]") && !text.ends_with("0\r\n\r\n"),
        "no [DONE], no final chunk"
    );
    // A JSON reply on the same config is unaffected.
    let mut c = Conn::open(mock.addr()).await;
    assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
    assert_eq!(mock.stats().faults_injected["stream_cut"], 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn stream_timing_separates_ttft_and_inter_token() {
    let cfg = MockConfig {
        output_tokens: TokenCount::Fixed(10),
        stream: StreamTiming {
            ttft: Latency::fixed_ms(300),
            inter_token: Latency::fixed_ms(40),
        },
        ..seeded()
    };
    let mock = start(cfg).await;
    let mut c = Conn::open(mock.addr()).await;
    let t = Instant::now();
    c.send("POST", "/v1/chat/completions", &[], CHAT_STREAM)
        .await;
    let mut raw = Vec::new();
    let mut first_token = None;
    let mut role_at = None;
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&raw).contains("[DONE]") {
        let n = tokio::time::timeout(WAIT, c.stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream ended early");
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if role_at.is_none() && text.contains("\"role\":\"assistant\"") {
            role_at = Some(t.elapsed());
        }
        if first_token.is_none()
            && text.matches("\"content\":\"").count() > text.matches("\"content\":\"\"").count()
        {
            first_token = Some(t.elapsed());
        }
    }
    let total = t.elapsed();
    let (role_at, first_token) = (role_at.unwrap(), first_token.unwrap());
    assert!(
        role_at < Duration::from_millis(250),
        "headers and role chunk come before the ttft: {role_at:?}"
    );
    assert!(
        first_token >= Duration::from_millis(300),
        "ttft: {first_token:?}"
    );
    // Each token is due one gap after the previous one was due (not after it went out):
    // the last is due at the TTFT plus 9 gaps, however late the first one was sent.
    assert!(
        total >= Duration::from_millis(300 + 9 * 40),
        "ttft and 9 inter-token gaps: {total:?}"
    );
    assert!(total < Duration::from_secs(5));
    mock.shutdown().await;
}

#[tokio::test]
async fn keep_alive_connection_is_closed_after_n_responses() {
    let mock = start(with_faults(ConnectionFaults {
        close_after_requests: Some(3),
        ..Default::default()
    }))
    .await;
    let mut c = Conn::open(mock.addr()).await;
    for i in 1..=3 {
        let r = c.post("/v1/chat/completions", CHAT).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("connection") == Some("close"),
            i == 3,
            "only the 3rd says close"
        );
    }
    assert!(
        c.closed_by_server(WAIT).await,
        "server closed after the 3rd response"
    );
    assert!(eventually(|| mock.stats().connections_open == 0).await);
    assert_eq!(mock.stats().faults_injected["close_after_requests"], 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn connection_counters_are_exact() {
    let mock = start(seeded()).await;
    let mut conns = Vec::new();
    for _ in 0..5 {
        let mut c = Conn::open(mock.addr()).await;
        assert_eq!(c.get("/healthz").await.status, 200);
        conns.push(c);
    }
    assert!(eventually(|| mock.stats().connections_open == 5).await);
    conns.truncate(2);
    assert!(
        eventually(|| mock.stats().connections_open == 2).await,
        "{:?}",
        mock.stats()
    );
    let s = mock.stats();
    assert_eq!((s.connections_accepted, s.connections_peak), (5, 5));
    assert_eq!(s.requests_total, 5);
    drop(conns);
    assert!(eventually(|| mock.stats().connections_open == 0).await);
    mock.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_then_stops_accepting() {
    let mock = start(MockConfig {
        latency: Latency::fixed_ms(300),
        ..seeded()
    })
    .await;
    let addr = mock.addr();
    let mut c = Conn::open(addr).await;
    c.send("POST", "/v1/chat/completions", &[], CHAT).await;
    assert!(eventually(|| mock.stats().requests_in_flight == 1).await);
    let stopping = tokio::spawn(mock.shutdown());
    let r = c
        .read_reply(WAIT)
        .await
        .expect("in-flight request completes");
    assert_eq!(r.status, 200);
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
    let t = Instant::now();
    mock.shutdown().await;
    // Well inside the grace period: the connection task saw the signal and closed the idle
    // connection itself, rather than being dropped when the grace ran out.
    assert!(
        t.elapsed() < mock_upstream::SHUTDOWN_GRACE / 2,
        "{:?}",
        t.elapsed()
    );
    assert!(c.closed_by_server(WAIT).await);
}
