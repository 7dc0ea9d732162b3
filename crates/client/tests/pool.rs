//! Pool acceptance: the connection cap holds under 100 concurrent users, handshakes are paid once per connection and connections reused, the pool timeout and idle timeout act — checked from both sides (client counters and mock-upstream stats).

mod support;

use mock_upstream::{Latency, MockConfig};
use relaybench_client::units::Dur;
use relaybench_client::{Outcome, Phase};
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_caps_open_connections_under_100_users() {
    let mock = mock(MockConfig {
        latency: Latency::fixed_ms(20),
        ..MockConfig::default()
    })
    .await;
    let mut settings = quiet();
    settings.max_connections = 10;
    settings.max_idle_connections = 10;
    let client = client(&mock, settings);
    let spec = chat();
    let users: Vec<_> = (0..100)
        .map(|_| {
            let (client, spec) = (client.clone(), spec.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for _ in 0..3 {
                    outcomes.push(client.execute(&spec).await.outcome);
                }
                outcomes
            })
        })
        .collect();
    for user in users {
        assert!(user.await.unwrap().iter().all(|o| *o == Outcome::Ok));
    }
    let seen = mock.stats();
    let ours = client.pool_stats();
    assert!(
        seen.connections_peak <= 10,
        "mock saw {} open",
        seen.connections_peak
    );
    assert_eq!(seen.connections_accepted, ours.opened);
    assert!(ours.peak_open <= 10 && ours.peak_open >= 2, "{ours:?}");
    assert!(
        ours.peak_waiting >= 50,
        "100 users on 10 slots must queue: {ours:?}"
    );
    assert_eq!(
        ours.reused + ours.opened,
        300,
        "every request got exactly one connection"
    );
    assert_eq!(seen.requests_total, 300);
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_delay_is_paid_per_new_connection_and_reuse_avoids_it() {
    let mock = mock(MockConfig {
        handshake_delay: Latency::fixed_ms(300),
        ..MockConfig::default()
    })
    .await;
    let mut settings = quiet();
    settings.max_connections = 100;
    settings.max_idle_connections = 100;
    let client = client(&mock, settings);
    let spec = chat();
    let round = |n: usize| {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (client, spec) = (client.clone(), spec.clone());
                tokio::spawn(async move { client.execute(&spec).await })
            })
            .collect();
        async move {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    };
    let first = round(30).await;
    assert!(first.iter().all(|e| e.outcome == Outcome::Ok && !e.reused));
    // Each new connection paid the handshake (seen as time to first byte).
    assert!(first
        .iter()
        .all(|e| e.ttfb.unwrap() >= Duration::from_millis(290)));
    let second = round(30).await;
    assert!(second.iter().all(|e| e.outcome == Outcome::Ok && e.reused));
    assert!(second
        .iter()
        .all(|e| e.ttfb.unwrap() < Duration::from_millis(290)));
    let (seen, ours) = (mock.stats(), client.pool_stats());
    assert_eq!(ours.opened, 30, "{ours:?}");
    assert_eq!(seen.connections_accepted, 30);
    assert_eq!(ours.reused, 30);
    mock.shutdown().await;
}

#[tokio::test]
async fn a_full_pool_ends_waiters_as_timeout_pool() {
    let mock = mock(MockConfig {
        latency: Latency::fixed_ms(600),
        ..MockConfig::default()
    })
    .await;
    let mut settings = quiet();
    settings.max_connections = 1;
    settings.timeouts.pool = Dur::ms(150);
    let client = client(&mock, settings);
    let spec = chat();
    let (a, b) = tokio::join!(client.execute(&spec), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.execute(&spec).await
    });
    assert_eq!(a.outcome, Outcome::Ok);
    assert_eq!(b.outcome, Outcome::Timeout(Phase::Pool));
    assert!(b.sent.is_none(), "a pool timeout never sent anything");
    assert!(
        b.pool_wait.is_zero(),
        "pool_wait is only set once a slot was had"
    );
    assert_eq!(mock.stats().requests_total, 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn idle_connections_expire_after_idle_timeout() {
    let mock = mock(MockConfig::default()).await;
    let mut settings = quiet();
    settings.idle_timeout = Dur::ms(200);
    let short = client(&mock, settings);
    let spec = chat();
    assert_eq!(short.execute(&spec).await.outcome, Outcome::Ok);
    // The reaper closes the idle connection: the mock sees it go.
    assert!(eventually(|| mock.stats().connections_open == 0).await);
    let again = short.execute(&spec).await;
    assert!(!again.reused);
    assert_eq!(mock.stats().connections_accepted, 2);
    assert_eq!(short.pool_stats().closed, 1);

    let mut settings = quiet();
    settings.idle_timeout = Dur::secs(30);
    let long = client(&mock, settings);
    for _ in 0..3 {
        assert_eq!(long.execute(&spec).await.outcome, Outcome::Ok);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        mock.stats().connections_accepted,
        3,
        "one more connection, reused"
    );
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_shares_connections_up_to_max_streams_and_never_exceeds_the_cap() {
    let mock = mock(MockConfig {
        latency: Latency::fixed_ms(200),
        ..MockConfig::default()
    })
    .await;
    let mut settings = quiet();
    settings.http = relaybench_client::HttpVersion::Http2;
    settings.max_connections = 2;
    settings.http2_max_streams = 5;
    let client = client(&mock, settings);
    let spec = chat();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (client, spec) = (client.clone(), spec.clone());
            tokio::spawn(async move { client.execute(&spec).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    let bad: Vec<_> = out
        .iter()
        .filter(|e| e.outcome != Outcome::Ok)
        .map(|e| (e.outcome, e.detail.clone(), e.conn_id))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    let (seen, ours) = (mock.stats(), client.pool_stats());
    assert_eq!(
        seen.connections_accepted, 2,
        "10 streams fit on 2 connections"
    );
    assert!(seen.concurrent_requests_peak <= 10 && seen.concurrent_requests_peak >= 6);
    assert_eq!(ours.opened, 2);
    assert!(
        ours.peak_waiting >= 5,
        "20 requests on 10 stream slots must queue: {ours:?}"
    );
    mock.shutdown().await;
}
