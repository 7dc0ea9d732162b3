//! HTTP/2 per stream, against a scripted HTTP/2 server that logs what it did: the read timeout follows the stream (one stuck stream on a busy connection times out alone), waiting for a stream slot under the server's `MAX_CONCURRENT_STREAMS` is pool wait (and a limit lowered later holds), `REFUSED_STREAM` and `GOAWAY` are retried as unprocessed (or end as their own outcome), and a connection that said `GOAWAY` is not lent again.

mod support;

use relaybench_client::units::Dur;
use relaybench_client::{
    Client, ClientSettings, Exchange, HttpVersion, IoKind, Origin, Outcome, Phase, RetryReason,
};
use std::time::{Duration, Instant};
use support::{
    h2server::{Act, H2Event, H2Server},
    *,
};

/// Cleartext HTTP/2 (prior knowledge), no retries unless a test turns them on.
fn h2(server: &H2Server, tweak: impl FnOnce(&mut ClientSettings)) -> Client {
    let mut settings = quiet();
    settings.http = HttpVersion::Http2;
    tweak(&mut settings);
    Client::new(Origin::parse(&server.url()).unwrap(), settings).expect("client builds")
}

/// Sends `n` requests at once and waits for them all.
async fn burst(client: &Client, n: usize) -> Vec<Exchange> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.execute(&chat()).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn ok(ex: &Exchange) {
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_stream_times_out_on_its_own_while_the_others_on_its_connection_succeed() {
    let server = H2Server::start(None, |req| match req.index {
        0 => Act::Hang,
        _ => Act::ok_after(10),
    })
    .await;
    let client = h2(&server, |s| {
        s.max_connections = 1;
        s.timeouts.read = Dur::ms(300);
    });
    let stuck = tokio::spawn({
        let client = client.clone();
        async move { client.execute(&chat()).await }
    });
    let arrived = |server: &H2Server| {
        let events = server.events();
        events
            .iter()
            .any(|e| matches!(e, H2Event::Request { index: 0, .. }))
    };
    assert!(eventually(|| arrived(&server)).await);
    // Healthy traffic on the same connection, for well past the stuck stream's read timeout:
    // its writes must not keep the stuck stream's timer from firing.
    let busy_until = Instant::now() + Duration::from_millis(1500);
    let mut healthy = Vec::new();
    while Instant::now() < busy_until {
        healthy.push(client.execute(&chat()).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stuck = stuck.await.unwrap();
    assert_eq!(stuck.outcome, Outcome::Timeout(Phase::Read), "{stuck:?}");
    let took = stuck.finished - stuck.sent.unwrap();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1200),
        "the stuck stream ended after {took:?}, not 300 ms after its own send"
    );
    assert!(healthy.len() >= 10, "{}", healthy.len());
    for ex in &healthy {
        ok(ex);
        assert_eq!(ex.conn_id, stuck.conn_id, "one connection carried them all");
    }
    assert_eq!(server.connections(), 1);
    let events = server.events();
    let replied = events
        .iter()
        .filter(|e| matches!(e, H2Event::Replied { .. }))
        .count();
    assert_eq!(replied, healthy.len(), "{events:?}");
    // The stuck stream was given up by the client (reset), not answered.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, H2Event::ClientReset { stream: 1, .. })),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_stream_slot_under_the_servers_limit_is_pool_wait() {
    let server = H2Server::start(Some(2), |_| Act::ok_after(200)).await;
    let client = h2(&server, |s| {
        s.max_connections = 1;
        s.http2_max_streams = 100;
    });
    let out = burst(&client, 8).await;
    out.iter().for_each(ok);
    let events = server.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, H2Event::OverLimit { .. })),
        "a stream beyond the server's limit was opened: {events:?}"
    );
    assert_eq!(server.peak_open(), 2, "{events:?}");
    assert_eq!(server.connections(), 1);
    for ex in &out {
        let ttfb = ex.ttfb.unwrap();
        assert!(
            ttfb < Duration::from_millis(450),
            "TTFB {ttfb:?}: time waiting for a stream slot counted as the server's"
        );
    }
    // 8 streams, 2 at a time, 200 ms each: 6 waited for a slot at least one answer long.
    let waited = out
        .iter()
        .filter(|e| e.pool_wait >= Duration::from_millis(150))
        .count();
    let waits: Vec<_> = out.iter().map(|e| e.pool_wait).collect();
    assert!(waited >= 6, "pool waits {waits:?}");
    let stats = client.pool_stats();
    assert_eq!((stats.opened, stats.reused), (1, 7), "{stats:?}");
    assert_eq!(stats.waiting, 0);
    assert!(stats.peak_waiting >= 6, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_the_server_lowers_later_holds_from_then_on() {
    let server = H2Server::start(Some(4), |_| Act::ok_after(100)).await;
    let client = h2(&server, |s| {
        s.max_connections = 1;
        s.http2_max_streams = 100;
    });
    burst(&client, 4).await.iter().for_each(ok);
    assert_eq!(server.peak_open(), 4);
    server.set_max_streams(1);
    // Let the new SETTINGS reach the client.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let out = burst(&client, 4).await;
    out.iter().for_each(ok);
    let events = server.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, H2Event::OverLimit { .. })),
        "{events:?}"
    );
    for ex in &out {
        let ttfb = ex.ttfb.unwrap();
        assert!(ttfb < Duration::from_millis(300), "TTFB {ttfb:?}");
    }
    let waited = out
        .iter()
        .filter(|e| e.pool_wait >= Duration::from_millis(70))
        .count();
    assert!(
        waited >= 3,
        "{:?}",
        out.iter().map(|e| e.pool_wait).collect::<Vec<_>>()
    );
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn refused_streams_are_retried_as_unprocessed_or_end_as_refused_stream() {
    // Requests 1 and 3 are refused; each is retried (on the same healthy connection).
    let server = H2Server::start(None, |req| match req.index {
        1 | 3 => Act::Refuse,
        _ => Act::ok_after(10),
    })
    .await;
    let client = h2(&server, |s| {
        s.retry.max_retries = 2;
        s.retry.on_reset = false; // unprocessed streams are retried whatever `on_reset` says
        fast_backoff(s);
    });
    let mut out = Vec::new();
    for _ in 0..4 {
        out.push(client.execute(&chat()).await);
    }
    out.iter().for_each(ok);
    let retries: Vec<_> = out.iter().map(|e| e.retries.clone()).collect();
    assert_eq!(
        retries,
        vec![
            vec![],
            vec![RetryReason::Unprocessed],
            vec![RetryReason::Unprocessed],
            vec![]
        ]
    );
    let events = server.events();
    let refused: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            H2Event::Refused { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(refused, vec![1, 3]);
    // Each refusal is followed by its retry, answered.
    for index in [2, 4] {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, H2Event::Replied { index: i, .. } if *i == index)),
            "{events:?}"
        );
    }
    assert_eq!(
        server.connections(),
        1,
        "a refused stream leaves its connection healthy"
    );

    // Without retries the request ends as its own outcome; the next one succeeds.
    let server = H2Server::start(None, |req| match req.index {
        0 => Act::Refuse,
        _ => Act::ok_after(10),
    })
    .await;
    let client = h2(&server, |_| {});
    let refused = client.execute(&chat()).await;
    assert_eq!(refused.outcome, Outcome::Io(IoKind::RefusedStream));
    ok(&client.execute(&chat()).await);
    assert_eq!(
        server
            .events()
            .iter()
            .filter(|e| matches!(e, H2Event::Replied { .. }))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_retries_unprocessed_streams_on_a_new_connection_and_lets_processed_ones_finish() {
    // On the first connection, streams 1 and 3 are processed (answered after 300 ms); when
    // the request on stream 7 arrives the server says GOAWAY with last-stream-id 3, so
    // streams 5 and 7 were not processed.
    let server = H2Server::start(None, |req| match (req.conn, req.stream) {
        (0, 7) => Act::GoAway { last: 3 },
        (0, _) => Act::ok_after(300),
        _ => Act::ok_after(10),
    })
    .await;
    let client = h2(&server, |s| {
        s.max_connections = 4;
        s.retry.max_retries = 2;
        fast_backoff(s);
    });
    let out = burst(&client, 4).await;
    out.iter().for_each(ok);
    let first_conn = out.iter().filter_map(|e| e.conn_id).min().unwrap();
    let (retried, finished): (Vec<_>, Vec<_>) = out.iter().partition(|e| !e.retries.is_empty());
    assert_eq!(retried.len(), 2, "{out:?}");
    for ex in &retried {
        assert_eq!(ex.retries, vec![RetryReason::Unprocessed]);
        assert_ne!(ex.conn_id, Some(first_conn), "retried on a new connection");
    }
    for ex in &finished {
        assert_eq!(
            ex.conn_id,
            Some(first_conn),
            "processed streams finish where they began"
        );
    }
    let events = server.events();
    for expected in [
        H2Event::GoAway { conn: 0, last: 3 },
        H2Event::Unprocessed { conn: 0, stream: 5 },
        H2Event::Unprocessed { conn: 0, stream: 7 },
        H2Event::Closed { conn: 0 },
    ] {
        assert!(events.contains(&expected), "{expected:?} not in {events:?}");
    }
    for processed in [1, 3] {
        assert!(
            events.iter().any(
                |e| matches!(e, H2Event::Replied { conn: 0, stream, .. } if *stream == processed)
            ),
            "stream {processed} not answered: {events:?}"
        );
    }
    // The healthy part: later requests never go to the connection that said GOAWAY.
    for _ in 0..3 {
        let ex = client.execute(&chat()).await;
        ok(&ex);
        assert_ne!(ex.conn_id, Some(first_conn));
    }
    // Nothing new reached the first connection after GOAWAY: a stream opened there would
    // show as a request above the last-stream-id (3), or as unprocessed beyond 5 and 7.
    let events = server.events();
    let goaway = events
        .iter()
        .position(|e| matches!(e, H2Event::GoAway { .. }))
        .unwrap();
    let late: Vec<_> = events
        .iter()
        .skip(goaway)
        .filter(|e| {
            matches!(e, H2Event::Request { conn: 0, stream, .. } if *stream > 3)
                || matches!(e, H2Event::Unprocessed { conn: 0, stream } if *stream > 7)
        })
        .collect();
    assert!(late.is_empty(), "{late:?} in {events:?}");

    // Without retries an unprocessed stream ends as `io_goaway`; the processed one finishes.
    let server = H2Server::start(None, |req| match (req.conn, req.stream) {
        (0, 3) => Act::GoAway { last: 1 },
        _ => Act::ok_after(200),
    })
    .await;
    let client = h2(&server, |_| {});
    let mut outcomes: Vec<_> = burst(&client, 2).await.iter().map(|e| e.outcome).collect();
    outcomes.sort_by_key(|o| o.to_string());
    assert_eq!(outcomes, vec![Outcome::Io(IoKind::GoAway), Outcome::Ok]);
}

#[tokio::test]
async fn an_upload_the_server_never_makes_room_for_is_a_write_timeout() {
    // The scripted server never widens a stream's flow-control window (65,535 bytes), so a
    // 1 MiB body stalls after its first 64 KiB: the request is still being sent, not waiting
    // for an answer.
    let server = H2Server::start(None, |_| Act::ok_after(0)).await;
    let client = h2(&server, |s| {
        s.timeouts.write = Dur::ms(300);
        s.timeouts.read = Dur::secs(5);
    });
    let mut upload = chat();
    upload.body = bytes::Bytes::from(vec![b' '; 1 << 20]);
    let ex = client.execute(&upload).await;
    assert_eq!(
        ex.outcome,
        Outcome::Timeout(Phase::Write),
        "{:?}",
        ex.detail
    );
    let took = ex.finished - ex.sent.unwrap();
    assert!(took < Duration::from_secs(3), "{took:?}");
    let events = server.events();
    assert!(
        !events.iter().any(|e| matches!(e, H2Event::Request { .. })),
        "the request never arrived whole: {events:?}"
    );
    // The healthy part: a small request on the same connection succeeds.
    ok(&client.execute(&chat()).await);
}
