//! Phase timeouts: each is triggered by the matching fault and reported as its own outcome; a slow but steady stream does not time out; SSE timing and tokens arrive in the exchange.

mod support;

use mock_upstream::{
    config::ConnectionFaults, config::StreamTiming, Latency, MockConfig, TokenCount,
};
use relaybench_client::units::Dur;
use relaybench_client::{ClientSettings, Origin};
use relaybench_client::{IoKind, Outcome, Phase};
use std::time::{Duration, Instant};
use support::scripted::{Reply, Scripted, Then};
use support::*;
use tokio::net::TcpListener;

#[tokio::test]
async fn accept_and_hang_is_a_read_timeout() {
    let mock = mock(MockConfig {
        faults: ConnectionFaults {
            hang: 1.0,
            ..ConnectionFaults::default()
        },
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.timeouts.read = Dur::ms(300);
    let ex = client(&mock, s).execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::Timeout(Phase::Read));
    let took = ex.finished - ex.sent.unwrap();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn slow_body_under_a_deadline_is_a_deadline_timeout() {
    let mock = mock(MockConfig {
        faults: ConnectionFaults {
            slow_body: 1.0,
            slow_body_rate: 64,
            ..ConnectionFaults::default()
        },
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.timeouts.read = Dur::secs(2);
    s.timeouts.deadline = Some(Dur::ms(700));
    let ex = client(&mock, s).execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::Timeout(Phase::Deadline));
    assert!(ex.ttfb.is_some(), "the head arrived; the body was too slow");
    mock.shutdown().await;
}

#[tokio::test]
async fn a_steady_stream_longer_than_the_read_timeout_does_not_time_out() {
    let mock = mock(MockConfig {
        output_tokens: TokenCount::Fixed(200),
        stream: StreamTiming {
            ttft: Latency::fixed_ms(50),
            inter_token: Latency::fixed_ms(50),
        },
        ..MockConfig::default()
    })
    .await;
    let mut s = quiet();
    s.timeouts.read = Dur::secs(1);
    let ex = client(&mock, s).execute(&chat_stream(200, true)).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    let stream = ex.stream.expect("stream timing");
    assert_eq!(stream.content_chunks, 200);
    assert_eq!(stream.inter_token.len(), 199);
    let tokens = ex.tokens.unwrap();
    assert!(tokens.from_usage && tokens.output == 200, "{tokens:?}");
    let total = ex.finished - ex.sent.unwrap();
    assert!(
        total > Duration::from_secs(5),
        "{total:?}: the stream outlived the read timeout"
    );
    let ttft = stream.first_token.unwrap() - ex.sent.unwrap();
    assert!(
        ttft >= Duration::from_millis(50) && ttft < Duration::from_secs(1),
        "{ttft:?}"
    );
    mock.shutdown().await;
}

/// A stream that stalls after a few tokens times out on the read timeout counted from its
/// last piece: the body's read timer is pushed on by every piece (a timer that only ran from
/// the first would fire mid-stream) and still fires once the pieces stop.
#[tokio::test]
async fn a_stream_that_stalls_mid_way_times_out_a_read_timeout_after_its_last_piece() {
    let mut reply = Reply::sse(&[r#"{"choices":[{"delta":{"content":"a"}}]}"#; 6])
        .gap(Duration::from_millis(120))
        .then(Then::Hang);
    reply.pieces.pop(); // no last chunk: the upstream goes silent mid-stream
    let server = Scripted::replies(vec![reply]).await;
    let mut s = quiet();
    s.timeouts.read = Dur::ms(400);
    let client = relaybench_client::Client::new(Origin::parse(&server.url()).unwrap(), s).unwrap();
    let ex = tokio::time::timeout(
        Duration::from_secs(20),
        client.execute(&chat_stream(6, false)),
    )
    .await
    .expect("the read timeout fires");
    assert_eq!(ex.outcome, Outcome::Timeout(Phase::Read), "{:?}", ex.detail);
    let writes = server.writes(0);
    assert_eq!(writes.len(), 7, "the head and six events were written");
    let last = *writes.last().unwrap();
    assert!(
        last - writes[0] > Duration::from_millis(600),
        "the stream outlived the read timeout"
    );
    let silent = ex.finished - last;
    assert!(
        silent >= Duration::from_millis(400) && silent < Duration::from_secs(3),
        "{silent:?} after the last piece"
    );
    assert_eq!(
        ex.tokens.map(|t| t.output),
        Some(6),
        "the tokens it delivered"
    );
}

#[tokio::test]
async fn a_cut_stream_is_truncated_and_chunks_are_counted_without_usage() {
    let mock = mock(MockConfig {
        output_tokens: TokenCount::Fixed(5),
        ..MockConfig::default()
    })
    .await;
    let ex = client(&mock, quiet()).execute(&chat_stream(5, false)).await;
    assert_eq!(ex.outcome, Outcome::Ok);
    let tokens = ex.tokens.unwrap();
    assert_eq!((tokens.output, tokens.from_usage), (5, false));
    mock.set_config(MockConfig {
        faults: ConnectionFaults {
            stream_cut: 1.0,
            ..ConnectionFaults::default()
        },
        ..MockConfig::default()
    });
    let ex = client(&mock, quiet()).execute(&chat_stream(5, false)).await;
    assert_eq!(
        ex.outcome,
        Outcome::Io(IoKind::Truncated),
        "a stream cut without [DONE] is truncated"
    );
    mock.shutdown().await;
}

/// A TCP server that accepts and then neither reads nor writes; returns its address and the task.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
            if held.len() > 16 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    (format!("{addr}"), task)
}

#[tokio::test]
async fn a_tls_handshake_that_never_answers_is_a_connect_timeout() {
    let (addr, server) = silent_server().await;
    let mut s = quiet();
    s.timeouts.connect = Dur::ms(300);
    let client =
        relaybench_client::Client::new(Origin::parse(&format!("https://{addr}")).unwrap(), s)
            .unwrap();
    let t = Instant::now();
    let ex = client.execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::Timeout(Phase::Connect));
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(client.pool_stats().connect_failures, 1);
    server.abort();
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_a_write_timeout() {
    let (addr, server) = silent_server().await;
    let mut s: ClientSettings = quiet();
    s.timeouts.write = Dur::ms(300);
    s.timeouts.read = Dur::secs(20);
    let client =
        relaybench_client::Client::new(Origin::parse(&format!("http://{addr}")).unwrap(), s)
            .unwrap();
    let mut spec = chat();
    // Far more than the socket buffers hold, so the write stalls.
    spec.body = bytes::Bytes::from(vec![b'x'; 64 << 20]);
    let t = Instant::now();
    let ex = client.execute(&spec).await;
    assert_eq!(
        ex.outcome,
        Outcome::Timeout(Phase::Write),
        "{:?}",
        ex.detail
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    server.abort();
}

#[tokio::test]
async fn refused_connections_are_connect_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client =
        relaybench_client::Client::new(Origin::parse(&format!("http://{addr}")).unwrap(), quiet())
            .unwrap();
    assert_eq!(client.execute(&chat()).await.outcome, Outcome::ConnectError);
}
