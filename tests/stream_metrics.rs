//! Stream metrics come from the attempt that produced the answer: a failed first attempt and its backoff are in the latency but not in TTFT, TPOT or tokens/s; TPOT ends at the last token, not at the end of the body.
//!
//! Against a scripted upstream on loopback (the client crate's `scripted` support), each
//! exchange recorded by a real `Recorder`.

mod recorded;
#[path = "../crates/client/tests/support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use recorded::{only, recorded};
use relaybench::client::{BodyKind, Client, ClientSettings, Exchange, Origin, RequestSpec};
use relaybench::metrics::{Outcome, Recorder};
use scripted::{Reply, Scripted};
use std::time::{Duration, Instant};

/// Pause between the pieces of the scripted stream.
const GAP: Duration = Duration::from_millis(100);

fn chunk(content: &str) -> String {
    format!(
        r#"{{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{{"content":"{content}"}},"finish_reason":null}}]}}"#
    )
}

fn sse_piece(data: &str) -> Vec<u8> {
    let event = format!("data: {data}\n\n");
    format!("{:x}\r\n{event}\r\n", event.len()).into_bytes()
}

/// A stream whose head and role chunk go out at once, then three tokens `GAP` apart (at
/// +100, +200, +300 ms), then — 500 ms after the last token — the usage chunk and `[DONE]`.
fn slow_tailed_stream() -> Reply {
    let mut head =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    head.extend(sse_piece(
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#,
    ));
    let mut pieces = vec![head];
    for word in ["one", "two", "three"] {
        pieces.push(sse_piece(&chunk(word)));
    }
    // Empty pieces write nothing: four of them hold the tail back 5 × GAP after the last token.
    pieces.extend(std::iter::repeat_n(Vec::new(), 4));
    let mut tail = sse_piece(
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
    );
    tail.extend(sse_piece("[DONE]"));
    tail.extend(b"0\r\n\r\n");
    pieces.push(tail);
    Reply {
        pieces,
        gap: GAP,
        ..Reply::new(&[])
    }
}

fn stream_spec() -> RequestSpec {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    RequestSpec {
        method: Method::POST,
        path: "/v1/chat/completions".into(),
        headers,
        body: Bytes::from_static(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        ),
        body_kind: BodyKind::Sse,
        expect: None,
        keep_text: false,
        record_headers: None,
    }
}

/// One request through a client that retries once, recorded; returns the exchange and the recorder.
async fn run_one(replies: Vec<Reply>) -> (Exchange, Recorder, Instant) {
    let server = Scripted::replies(replies).await;
    let mut settings = ClientSettings::default();
    settings.retry.max_retries = 1;
    settings.breaker.enabled = false;
    let client = Client::new(Origin::parse(&server.url()).unwrap(), settings).unwrap();
    let intended = Instant::now();
    let ex = client.execute(&stream_spec()).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    let recorder = recorded(intended, &ex);
    (ex, recorder, intended)
}

fn ms(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

#[tokio::test]
async fn ttft_and_tokens_per_second_come_from_the_answering_attempt() {
    // The first attempt is a 503 asking for a 200 ms wait; the second streams its first
    // token 100 ms after its head.
    let (ex, recorder, intended) = run_one(vec![
        Reply::status(
            503,
            &["retry-after: 0.2"],
            b"{\"error\":{\"message\":\"busy\"}}",
        ),
        slow_tailed_stream(),
    ])
    .await;
    assert_eq!(ex.attempts, 2);
    let latency = ms(only(&recorder, "latency"));
    assert!(
        latency >= Duration::from_millis(200) + 8 * GAP,
        "latency covers both attempts and the wait: {latency:?}"
    );
    let ttft = ms(only(&recorder, "ttft"));
    assert!(
        ttft >= GAP - Duration::from_millis(10) && ttft < GAP + Duration::from_millis(150),
        "TTFT is the answering attempt's, without the failed attempt and the 200 ms wait: {ttft:?}"
    );
    // tokens/s: 3 tokens over the answering attempt (≈ 0.8 s), not over the whole request.
    let answering = ex.finished - ex.attempt_sent.expect("the answering attempt was sent");
    let expected = 3.0 / answering.as_secs_f64() * 1000.0;
    let got = only(&recorder, "tokens_per_s") as f64;
    assert!(
        (got - expected).abs() / expected < 0.01,
        "tokens/s over the answering attempt: {got} vs {expected} (milli-tokens/s)"
    );
    assert!(ex.finished - intended > answering + Duration::from_millis(200));
}

#[tokio::test]
async fn tpot_ends_at_the_last_token_not_at_the_end_of_the_body() {
    // Tokens at +100, +200, +300 ms; usage and [DONE] 500 ms after the last one.
    let (_, recorder, _) = run_one(vec![slow_tailed_stream()]).await;
    let tpot = ms(only(&recorder, "tpot"));
    assert!(
        tpot >= GAP - Duration::from_millis(10) && tpot < GAP + Duration::from_millis(75),
        "TPOT = (last token − first token) / (3 − 1) ≈ 100 ms, without the slow tail: {tpot:?}"
    );
}
