//! Retries and the breaker against mock-upstream: Retry-After honoured (measured), hints above the bound stop retrying, the budget caps retries in a 100% 503 phase (counted on the mock), the deadline bounds attempts, and the breaker sheds an outage and recovers.

mod support;

use mock_upstream::{ErrorRates, Latency, MockConfig, Phase as MockPhase};
use relaybench_client::units::{Dur, Ratio};
use relaybench_client::{BreakerState, RetryReason};
use relaybench_client::{Outcome, Phase};
use std::time::{Duration, Instant};
use support::*;

fn outage(status: u16) -> ErrorRates {
    ErrorRates::none().with(status, 1.0)
}

#[tokio::test]
async fn retry_after_is_honoured_within_ten_percent() {
    // 429s for the first 400 ms, advertising a 1 s wait; healthy afterwards.
    let mock = mock(MockConfig {
        retry_after: Duration::from_secs(1),
        schedule: vec![MockPhase {
            start: Duration::ZERO,
            end: Some(Duration::from_millis(400)),
            errors: Some(outage(429)),
            ..MockPhase::default()
        }],
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.retry.max_retries = 2;
    let ex = client(&mock, s).execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    assert_eq!(ex.attempts, 2);
    assert_eq!(ex.retries, vec![RetryReason::Status(429)]);
    // What a trace shows of the attempts: the 429 with the 1 s it waited, then the answer.
    assert_eq!(ex.retried.len(), 1);
    assert_eq!(ex.retried[0].outcome, Outcome::Status(429));
    assert_eq!(ex.retried[0].backoff, Duration::from_secs(1));
    assert!(ex.retried[0].ended < ex.attempt_sent.unwrap());
    assert_eq!((ex.last_attempt, ex.status), (Some(Outcome::Ok), Some(200)));
    let took = ex.finished - ex.sent.unwrap();
    assert!(
        took >= Duration::from_millis(1000) && took <= Duration::from_millis(1100),
        "waited {took:?} for a 1 s retry-after"
    );
    assert_eq!(mock.stats().requests_total, 2);
    mock.shutdown().await;
}

#[tokio::test]
async fn a_hint_above_max_retry_after_is_not_retried() {
    let mock = mock(MockConfig {
        retry_after: Duration::from_secs(5),
        errors: outage(429),
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.retry.max_retries = 3;
    s.retry.max_retry_after = Dur::secs(2);
    let t = Instant::now();
    let ex = client(&mock, s).execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::Status(429));
    assert_eq!(ex.attempts, 1);
    assert!(t.elapsed() < Duration::from_secs(2));
    mock.shutdown().await;
}

#[tokio::test]
async fn retries_stop_at_max_retries_with_reasons() {
    let mock = mock(MockConfig {
        errors: outage(502),
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.retry.max_retries = 3;
    fast_backoff(&mut s);
    let ex = client(&mock, s).execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::Status(502));
    assert_eq!(ex.attempts, 4);
    assert_eq!(ex.retries, vec![RetryReason::Status(502); 3]);
    assert!(ex.retried.iter().all(|a| a.outcome == Outcome::Status(502)));
    assert_eq!(
        ex.retried.len(),
        3,
        "the last attempt is not among the retried"
    );
    assert_eq!(
        (ex.last_attempt, ex.status),
        (Some(Outcome::Status(502)), Some(502))
    );
    assert_eq!(mock.stats().requests_total, 4);
    mock.shutdown().await;
}

#[tokio::test]
async fn the_budget_caps_retries_during_a_total_outage() {
    let mock = mock(MockConfig {
        errors: outage(503),
        retry_after: Duration::ZERO,
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.retry.max_retries = 3;
    s.retry.respect_retry_after = false;
    fast_backoff(&mut s);
    s.retry.budget_ratio = Some(Ratio(0.1));
    s.retry.budget_min_per_sec = 1;
    s.retry.budget_window = Dur::secs(10);
    let client = client(&mock, s);
    let spec = chat();
    let mut outcomes = std::collections::BTreeMap::<Outcome, u64>::new();
    let mut retries = 0;
    for _ in 0..100 {
        let ex = client.execute(&spec).await;
        *outcomes.entry(ex.outcome).or_default() += 1;
        retries += ex.retries.len() as u64;
    }
    // Allowed: 1/s × 10 s + 10% of 100 requests = 20 retries; without a budget it would be 300.
    assert_eq!(retries, 20, "{outcomes:?}");
    assert_eq!(mock.stats().requests_total, 120, "the mock counts the same");
    assert!(
        outcomes[&Outcome::BudgetExhausted] >= 80 - 7,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.values().sum::<u64>(), 100);
    mock.shutdown().await;
}

#[tokio::test]
async fn no_attempt_starts_after_the_deadline() {
    let mock = mock(MockConfig {
        errors: outage(500),
        latency: Latency::fixed_ms(100),
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.retry.max_retries = 10;
    s.retry.multiplier = Dur::ms(200);
    s.retry.min_backoff = Dur::ms(200);
    s.retry.max_backoff = Dur::ms(200);
    s.timeouts.deadline = Some(Dur::ms(1000));
    let ex = client(&mock, s).execute(&chat()).await;
    // Injected errors come back at once: attempts at ~0, 200, 400, 600, 800 ms; the next
    // would start at ~1000 ms, at the deadline, so it is never made.
    assert!(ex.attempts >= 3 && ex.attempts <= 5, "{}", ex.attempts);
    assert_eq!(mock.stats().requests_total, ex.attempts as u64);
    assert!(
        matches!(
            ex.outcome,
            Outcome::Status(500) | Outcome::Timeout(Phase::Deadline)
        ),
        "{} {:?} {:?}",
        ex.outcome,
        ex.retries,
        ex.detail
    );
    assert!(ex.finished - ex.sent.unwrap() <= Duration::from_millis(1100));
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_sheds_an_outage_and_recovers() {
    // Healthy, then a 2 s outage from 1 s to 3 s, then healthy until the 5 s end.
    // A scaled-down form of the acceptance (10 s outage in a 30 s run), kept short
    // so the suite stays fast; the full-size scenario is `scenarios/outage.toml`
    // (`relaybench run scenarios/outage.toml`), whose breaker-on variant shows the same
    // shedding and recovery at that size.
    let mock = mock(MockConfig {
        latency: Latency::fixed_ms(10),
        schedule: vec![MockPhase {
            start: Duration::from_secs(1),
            end: Some(Duration::from_secs(3)),
            errors: Some(outage(503)),
            ..MockPhase::default()
        }],
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.breaker.enabled = true;
    s.breaker.failure_threshold = 5;
    s.breaker.recovery_timeout = Dur::ms(500);
    s.breaker.half_open_max_calls = 1;
    let client = client(&mock, s);
    let start = Instant::now();
    let users: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let spec = chat();
                let mut seen = Vec::new();
                while start.elapsed() < Duration::from_secs(5) {
                    let ex = client.execute(&spec).await;
                    seen.push((ex.finished - start, ex.outcome));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for u in users {
        all.extend(u.await.unwrap());
    }
    let stats = mock.stats();
    let failures = stats.responses_by_status.get(&503).copied().unwrap_or(0);
    // threshold + in-flight when it opened (4 users) + one probe per recovery period (≤ 4 in 2 s).
    assert!(
        failures <= 5 + 4 + 4,
        "mock served {failures} 503s during the outage"
    );
    let shed = all
        .iter()
        .filter(|(_, o)| *o == Outcome::CircuitOpen)
        .count();
    assert!(
        shed > 50,
        "requests during the outage must be rejected fast: {shed}"
    );
    let recovered = all
        .iter()
        .filter(|(t, o)| *t > Duration::from_millis(4200) && *o == Outcome::Ok)
        .count();
    assert!(
        recovered > 20,
        "traffic recovers after the outage: {recovered}"
    );
    assert!(all
        .iter()
        .filter(|(t, _)| *t > Duration::from_millis(4200))
        .all(|(_, o)| *o == Outcome::Ok));
    let events = client.breaker_events();
    assert_eq!(events.first().map(|e| e.to), Some(BreakerState::Open));
    assert_eq!(events.last().map(|e| e.to), Some(BreakerState::Closed));
    let opened = events[0].at - start;
    assert!(
        opened >= Duration::from_millis(900) && opened < Duration::from_millis(2000),
        "{opened:?}"
    );
    mock.shutdown().await;
}
