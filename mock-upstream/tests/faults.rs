//! Request-level faults, each measured from the client side: handshake delay, injected errors,
//! token buckets, capacity, schedule, run-time changes.

mod util;
use mock_upstream::{Capacity, ErrorRates, Latency, MockConfig, Phase, RateLimit};
use std::time::{Duration, Instant};
use util::*;

#[tokio::test]
async fn handshake_delay_is_paid_once_per_connection_not_on_reuse() {
    let mock = start(MockConfig {
        handshake_delay: Latency::fixed_ms(300),
        ..seeded()
    })
    .await;
    for _ in 0..2 {
        let mut c = Conn::open(mock.addr()).await;
        let t = Instant::now();
        assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
        let first = t.elapsed();
        assert!(
            first >= Duration::from_millis(300),
            "first request on a new connection waits: {first:?}"
        );
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
        }
        let reuse = t.elapsed();
        assert!(
            reuse < Duration::from_millis(300),
            "three reused requests together beat one handshake: {reuse:?}"
        );
    }
    assert_eq!(mock.stats().faults_injected["handshake_delay"], 2);
    mock.shutdown().await;
}

#[tokio::test]
async fn injected_429_carries_retry_after_and_rate_limit_headers() {
    let mock = start(MockConfig {
        errors: ErrorRates::none().with(429, 1.0),
        retry_after: Duration::from_millis(2500),
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    let r = c.post("/v1/chat/completions", CHAT).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"), "seconds, rounded up");
    assert_eq!(r.header("retry-after-ms"), Some("2500"));
    for h in ["limit", "remaining", "reset"] {
        for k in ["requests", "tokens"] {
            assert!(
                r.header(&format!("x-ratelimit-{h}-{k}")).is_some(),
                "x-ratelimit-{h}-{k}"
            );
        }
    }
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(mock.stats().faults_injected["error_429"], 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn error_probabilities_are_honoured_per_status() {
    let errors = ErrorRates::none()
        .with(500, 0.2)
        .with(502, 0.1)
        .with(503, 0.1)
        .with(504, 0.1);
    let mock = start(MockConfig { errors, ..seeded() }).await;
    let mut c = Conn::open(mock.addr()).await;
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..1000 {
        let r = c.post("/v1/chat/completions", CHAT).await;
        if r.status != 200 {
            assert_eq!(r.json()["error"]["type"], "server_error");
        }
        *counts.entry(r.status).or_insert(0u32) += 1;
    }
    let near = |status: u16, expected: u32| {
        let n = counts.get(&status).copied().unwrap_or(0);
        assert!(
            n.abs_diff(expected) <= expected / 4 + 15,
            "status {status}: {n}, expected about {expected}: {counts:?}"
        );
    };
    near(200, 500);
    near(500, 200);
    near(502, 100);
    near(503, 100);
    near(504, 100);
    let s = mock.stats();
    assert_eq!(s.responses_by_status[&500] as u32, counts[&500]);
    assert_eq!(s.faults_injected["error_500"] as u32, counts[&500]);
    mock.shutdown().await;
}

#[tokio::test]
async fn request_bucket_admits_the_configured_rate_within_two_percent_over_ten_seconds() {
    // 3000/min = 50/s, bucket of 5: over 10 s the mock must admit 5 + 50 * 10 = 505.
    let rate = RateLimit {
        requests_per_minute: Some(3000),
        request_burst: Some(5),
        ..Default::default()
    };
    let mock = start(MockConfig {
        rate_limit: rate,
        ..seeded()
    })
    .await;
    let started = Instant::now();
    let run_for = Duration::from_secs(10);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let addr = mock.addr();
        clients.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await;
            let (mut ok, mut limited) = (0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(4));
            while started.elapsed() < run_for {
                tick.tick().await;
                let r = c.post("/v1/chat/completions", CHAT).await;
                match r.status {
                    200 => ok += 1,
                    429 => {
                        assert_eq!(r.json()["error"]["type"], "requests");
                        assert!(r.header("retry-after-ms").is_some());
                        limited += 1
                    }
                    s => panic!("unexpected status {s}"),
                }
            }
            (ok, limited)
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for c in clients {
        let (o, l) = c.await.unwrap();
        ok += o;
        limited += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let expected = 5.0 + 50.0 * elapsed;
    assert!(
        limited > ok,
        "the clients offered far more than the limit ({ok} ok, {limited} limited)"
    );
    assert!(
        (ok as f64 - expected).abs() <= expected * 0.02,
        "admitted {ok}, expected {expected:.0} ±2% over {elapsed:.2}s"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn token_bucket_refuses_with_token_headers() {
    // Prompt "Say hello" in o200k_base with the chat framing = 3 + 3 + 1 + 2 = 9 tokens,
    // max_tokens 100: each request costs 109.
    let rate = RateLimit {
        tokens_per_minute: Some(6000),
        token_burst: Some(300),
        ..Default::default()
    };
    let mock = start(MockConfig {
        rate_limit: rate,
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    let body = CHAT.replace("\"messages\"", "\"max_tokens\":100,\"messages\"");
    let first = c.post("/v1/chat/completions", &body).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-tokens"), Some("6000"));
    assert_eq!(first.header("x-ratelimit-remaining-tokens"), Some("191"));
    assert_eq!(c.post("/v1/chat/completions", &body).await.status, 200);
    let refused = c.post("/v1/chat/completions", &body).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"]["type"], "tokens");
    let wait_ms: u64 = refused.header("retry-after-ms").unwrap().parse().unwrap();
    assert!(
        (150..=400).contains(&wait_ms),
        "100 tokens/s, 21 missing: about 210 ms, got {wait_ms}"
    );
    assert_eq!(mock.stats().faults_injected["rate_limit_tokens"], 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn capacity_serves_k_queues_q_and_refuses_the_rest() {
    let cfg = MockConfig {
        latency: Latency::fixed_ms(400),
        capacity: Capacity {
            max_concurrent: Some(2),
            max_queue: 1,
        },
        ..seeded()
    };
    let mock = start(cfg).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let addr = mock.addr();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await;
            let r = c.post("/v1/chat/completions", CHAT).await;
            (
                r.status,
                started.elapsed(),
                r.header("retry-after").map(String::from),
            )
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let ok: Vec<_> = results.iter().filter(|r| r.0 == 200).collect();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert_eq!((ok.len(), refused.len()), (3, 2), "{results:?}");
    assert!(
        refused
            .iter()
            .all(|r| r.1 < Duration::from_millis(400) && r.2.is_some()),
        "refused at once, with retry-after: {results:?}"
    );
    assert!(
        ok.iter().any(|r| r.1 >= Duration::from_millis(800)),
        "the queued one waited for a slot: {results:?}"
    );
    let s = mock.stats();
    assert_eq!(s.faults_injected["capacity_rejected"], 2);
    assert_eq!(s.faults_injected["capacity_queued"], 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn schedule_runs_an_outage_then_a_brown_out() {
    let cfg = MockConfig {
        latency: Latency::fixed_ms(10),
        schedule: vec![
            Phase {
                start: Duration::from_millis(400),
                end: Some(Duration::from_millis(1000)),
                errors: Some(ErrorRates::none().with(503, 1.0)),
                ..Default::default()
            },
            Phase {
                start: Duration::from_millis(1400),
                end: Some(Duration::from_millis(2200)),
                latency_multiplier: Some(20.0),
                ..Default::default()
            },
        ],
        ..seeded()
    };
    let mock = start(cfg).await;
    let t0 = Instant::now();
    let mut c = Conn::open(mock.addr()).await;
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_millis(2600) {
        let sent = t0.elapsed();
        let r = c.post("/v1/chat/completions", CHAT).await;
        seen.push((sent, t0.elapsed() - sent, r.status));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let within = |a: u64, b: u64| {
        seen.iter().filter(move |(s, _, _)| {
            *s >= Duration::from_millis(a) && *s < Duration::from_millis(b)
        })
    };
    assert!(
        within(0, 300).all(|x| x.2 == 200),
        "healthy before the outage: {seen:?}"
    );
    assert!(
        within(500, 900).count() >= 5 && within(500, 900).all(|x| x.2 == 503),
        "outage: {seen:?}"
    );
    assert!(
        within(1100, 1300).all(|x| x.2 == 200 && x.1 < Duration::from_millis(150)),
        "recovered: {seen:?}"
    );
    assert!(
        within(1500, 2000).count() >= 1
            && within(1500, 2000).all(|x| x.2 == 200 && x.1 >= Duration::from_millis(200)),
        "brown-out ×20: {seen:?}"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn set_config_changes_faults_at_run_time() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
    mock.set_config(MockConfig {
        errors: ErrorRates::none().with(502, 1.0),
        ..seeded()
    });
    assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 502);
    let bad = MockConfig {
        errors: ErrorRates::none().with(502, 2.0),
        ..seeded()
    };
    assert!(mock
        .try_set_config(bad)
        .unwrap_err()
        .to_string()
        .contains("errors.\"502\""));
    assert_eq!(
        c.post("/v1/chat/completions", CHAT).await.status,
        502,
        "a refused config changes nothing"
    );
    mock.set_config(seeded());
    assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
    mock.shutdown().await;
}
