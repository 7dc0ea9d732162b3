//! The circuit breaker against a scripted upstream that logs what it answered: an outage that recovers through a spell of 429s (the way LLM upstreams come back) ends with the breaker closed and the healthy tail served.

mod support;

use relaybench_client::units::Dur;
use relaybench_client::{BreakerState, Client, Exchange, Origin, Outcome};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use support::scripted::{Reply, Scripted};
use support::{chat, quiet};

/// A valid, tiny chat completion.
const COMPLETION: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// Serves by time since start: 503 before `outage_end`, 429 before `limited_end`, 200 after;
/// the status chosen for every request is logged by request index.
async fn recovering_upstream(
    outage_end: Duration,
    limited_end: Duration,
) -> (Scripted, Arc<Mutex<Vec<u16>>>) {
    let start = Instant::now();
    let answered = Arc::new(Mutex::new(Vec::new()));
    let log = answered.clone();
    let server = Scripted::start(move |_, _| {
        let at = start.elapsed();
        let (status, reply) = if at < outage_end {
            (
                503,
                Reply::status(503, &[], b"{\"error\":{\"message\":\"down\"}}"),
            )
        } else if at < limited_end {
            (
                429,
                Reply::status(429, &[], b"{\"error\":{\"message\":\"slow down\"}}"),
            )
        } else {
            (200, Reply::json(COMPLETION))
        };
        log.lock().unwrap().push(status);
        Some(reply.gap(Duration::ZERO))
    })
    .await;
    (server, answered)
}

/// `users` closed-model users sending back to back (a 5 ms pause after each request) until `run`.
async fn users(client: &Client, users: usize, run: Duration) -> Vec<(Duration, Exchange)> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..users)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let spec = chat();
                let mut seen = Vec::new();
                while start.elapsed() < run {
                    let ex = client.execute(&spec).await;
                    seen.push((ex.finished - start, ex));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn count(all: &[(Duration, Exchange)], outcome: Outcome) -> usize {
    all.iter().filter(|(_, ex)| ex.outcome == outcome).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_that_recovers_through_429s_does_not_lock_the_breaker_shut() {
    // 503 for 1 s, 429 ("recovering") until 2.5 s, healthy until the 4.5 s end. With
    // `count_429 = false` a 429 probe is neutral: it must hand its probe slot back.
    let (server, answered) =
        recovering_upstream(Duration::from_secs(1), Duration::from_millis(2500)).await;
    let mut s = quiet();
    s.breaker.enabled = true;
    s.breaker.failure_threshold = 3;
    s.breaker.recovery_timeout = Dur::ms(300);
    s.breaker.half_open_max_calls = 1;
    let client = Client::new(Origin::parse(&server.url()).unwrap(), s).unwrap();
    let all = users(&client, 4, Duration::from_millis(4500)).await;

    // Every request either reached the server (one attempt each: retries are off) or was
    // rejected by the breaker without a byte sent; the server's log and the outcomes agree.
    let answered = answered.lock().unwrap().clone();
    assert_eq!(server.request_count(), answered.len());
    let rejected = count(&all, Outcome::CircuitOpen);
    assert_eq!(all.len() - rejected, answered.len(), "sent = served");
    assert!(all
        .iter()
        .filter(|(_, ex)| ex.outcome == Outcome::CircuitOpen)
        .all(|(_, ex)| ex.attempts == 0 && ex.sent.is_none()));
    for (status, outcome) in [
        (503, Outcome::Status(503)),
        (429, Outcome::Status(429)),
        (200, Outcome::Ok),
    ] {
        let served = answered.iter().filter(|s| **s == status).count();
        assert_eq!(count(&all, outcome), served, "{outcome}");
    }
    assert!(rejected > 0, "the outage opened the circuit");
    assert!(answered.contains(&429), "probes met the 429 spell");

    // The healthy tail is served: the breaker closed again and nothing after 3 s is rejected.
    let tail: Vec<_> = all
        .iter()
        .filter(|(t, _)| *t > Duration::from_secs(3))
        .collect();
    let ok = tail
        .iter()
        .filter(|(_, ex)| ex.outcome == Outcome::Ok)
        .count();
    assert!(ok > 20, "healthy tail served: {ok} ok of {}", tail.len());
    assert!(
        tail.iter().all(|(_, ex)| ex.outcome == Outcome::Ok),
        "{:?}",
        tail.iter().map(|(_, ex)| ex.outcome).collect::<Vec<_>>()
    );
    assert_eq!(
        client.breaker_events().last().map(|e| e.to),
        Some(BreakerState::Closed)
    );
}

#[tokio::test]
async fn a_request_that_sent_nothing_says_when_sending_again_makes_sense() {
    // One 503 opens the circuit for 400 ms.
    let server = Scripted::start(|_, _| Some(Reply::status(503, &[], b"down"))).await;
    let mut s = quiet();
    s.breaker.enabled = true;
    s.breaker.failure_threshold = 1;
    s.breaker.recovery_timeout = Dur::ms(400);
    let client = Client::new(Origin::parse(&server.url()).unwrap(), s).unwrap();
    let failed = client.execute(&chat()).await;
    assert_eq!(failed.outcome, Outcome::Status(503));
    assert_eq!(failed.retry_not_before, None, "the upstream answered");
    let opened = client.breaker_events()[0].at;
    let rejected = client.execute(&chat()).await;
    assert_eq!(rejected.outcome, Outcome::CircuitOpen);
    assert_eq!(
        rejected.retry_not_before,
        Some(opened + Duration::from_millis(400)),
        "when the breaker admits probes again"
    );
    tokio::time::sleep_until(rejected.retry_not_before.unwrap().into()).await;
    assert_eq!(
        client.execute(&chat()).await.outcome,
        Outcome::Status(503),
        "admitted as a probe at that time"
    );
    assert_eq!(server.request_count(), 2);

    // Nothing listening: no connection, nothing reached an upstream; wait the backoff.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut s = quiet();
    s.retry.min_backoff = Dur::ms(700);
    let refused = Client::new(
        Origin::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        s,
    )
    .unwrap()
    .execute(&chat())
    .await;
    assert_eq!(refused.outcome, Outcome::ConnectError);
    assert_eq!(
        refused.retry_not_before,
        Some(refused.finished + Duration::from_millis(700))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_that_wait_as_told_do_not_spin_on_an_open_circuit() {
    // An upstream down for good; the breaker opens after 2 failures and probes every 300 ms.
    // Four users send back to back with no pause of their own, waiting only when an exchange
    // says so: without `retry_not_before` this is a hot loop (millions of `circuit_open`).
    let server = Scripted::start(|_, _| Some(Reply::status(503, &[], b"down"))).await;
    let mut s = quiet();
    s.breaker.enabled = true;
    s.breaker.failure_threshold = 2;
    s.breaker.recovery_timeout = Dur::ms(300);
    s.breaker.half_open_max_calls = 1;
    let client = Client::new(Origin::parse(&server.url()).unwrap(), s).unwrap();
    let start = Instant::now();
    let run = Duration::from_millis(1500);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let spec = chat();
                let mut outcomes = Vec::new();
                while start.elapsed() < run {
                    let ex = client.execute(&spec).await;
                    outcomes.push(ex.outcome);
                    match ex.retry_not_before {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => tokio::task::yield_now().await,
                    }
                }
                outcomes
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rejected = all.iter().filter(|o| **o == Outcome::CircuitOpen).count();
    // Five open periods of 300 ms; per period each user is told to wait at most twice (the
    // open period, then a half-open recheck while another user's probe is out).
    assert!(
        rejected > 0 && rejected <= 4 * 5 * 3,
        "{rejected} circuit_open"
    );
    let sent = all.len() - rejected;
    assert_eq!(
        sent,
        server.request_count(),
        "every other request reached the server"
    );
    // The threshold's failures (plus those in flight when it opened), then one probe per period.
    assert!(
        sent <= 2 + 4 + 6,
        "{sent} requests reached the failing upstream"
    );
}
