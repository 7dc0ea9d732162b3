//! TTFT and time to first answer token pinned per protocol (Chat, Responses, Anthropic Messages) with a scripted stream of known timing: a role-only or start event first, an empty delta, reasoning first, then the answer, a usage-only last event; each figure within 1 ms of the moment the scripted upstream wrote the token.
//!
//! Against a scripted upstream on loopback (the client crate's `scripted` support, which logs
//! when it wrote each piece), each exchange recorded by a real `Recorder`.

mod recorded;
#[path = "../crates/client/tests/support/scripted.rs"]
mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use relaybench::client::{BodyKind, Client, ClientSettings, Exchange, Origin, RequestSpec};
use relaybench::metrics::{Outcome, Recorder};
use scripted::{Reply, Scripted};
use std::time::{Duration, Instant};

/// Pause between the pieces of a scripted stream.
const GAP: Duration = Duration::from_millis(40);

/// How close a measured figure must be to the script.
const TOLERANCE: Duration = Duration::from_millis(1);

/// Piece of the first token (a reasoning one) and of the first answer token, in every script.
const FIRST_TOKEN_PIECE: usize = 2;
const FIRST_ANSWER_PIECE: usize = 4;

/// One SSE event as a chunk of a chunked body (`event:` line when named).
fn event(name: Option<&str>, data: &str) -> Vec<u8> {
    let named = name.map(|n| format!("event: {n}\n")).unwrap_or_default();
    let text = format!("{named}data: {data}\n\n");
    format!("{:x}\r\n{text}\r\n", text.len()).into_bytes()
}

/// A stream of `pieces` (each one or more events), the head sent with the first.
fn stream(pieces: Vec<Vec<u8>>) -> Reply {
    let mut all = pieces;
    let head =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    all[0].splice(0..0, head.iter().copied());
    all.last_mut().unwrap().extend(b"0\r\n\r\n");
    Reply {
        pieces: all,
        gap: GAP,
        ..Reply::new(&[])
    }
}

fn chat_delta(field: &str, text: &str) -> String {
    format!(
        r#"{{"id":"c","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"{field}":"{text}"}},"finish_reason":null}}]}}"#
    )
}

/// Chat: role-only chunk, empty content delta, two `reasoning_content` deltas, two content
/// deltas, a usage-only chunk (`choices: []`), `[DONE]`.
fn chat_script() -> Reply {
    let d = |field, text| event(None, &chat_delta(field, text));
    stream(vec![
        event(
            None,
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        ),
        d("content", ""),
        d("reasoning_content", " Let"),
        d("reasoning_content", " me"),
        d("content", " Hello"),
        d("content", " there"),
        event(
            None,
            r#"{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13,"completion_tokens_details":{"reasoning_tokens":2}}}"#,
        ),
        event(None, "[DONE]"),
    ])
}

fn responses_event(kind: &str, rest: &str) -> Vec<u8> {
    event(
        Some(kind),
        &format!(r#"{{"type":"{kind}","sequence_number":0{rest}}}"#),
    )
}

/// Responses: created/in_progress/output_item.added, an empty summary delta, two reasoning
/// summary deltas, two output_text deltas, the `done` events, `response.completed` with usage.
fn responses_script() -> Reply {
    let delta = |kind: &str, text: &str| responses_event(kind, &format!(r#","delta":"{text}""#));
    let mut start = responses_event(
        "response.created",
        r#","response":{"id":"r","status":"in_progress","usage":null}"#,
    );
    start.extend(responses_event(
        "response.in_progress",
        r#","response":{"id":"r","status":"in_progress","usage":null}"#,
    ));
    start.extend(responses_event(
        "response.output_item.added",
        r#","output_index":0,"item":{"type":"reasoning","summary":[]}"#,
    ));
    let mut answer_start = responses_event(
        "response.output_item.added",
        r#","output_index":1,"item":{"type":"message","content":[]}"#,
    );
    answer_start.extend(delta("response.output_text.delta", " Hello"));
    let mut end = responses_event("response.output_text.done", r#","text":" Hello there""#);
    end.extend(responses_event(
        "response.output_item.done",
        r#","item":{"type":"message"}"#,
    ));
    stream(vec![
        start,
        delta("response.reasoning_summary_text.delta", ""),
        delta("response.reasoning_summary_text.delta", " Let"),
        delta("response.reasoning_summary_text.delta", " me"),
        answer_start,
        delta("response.output_text.delta", " there"),
        end,
        responses_event(
            "response.completed",
            r#","response":{"id":"r","status":"completed","output":[],"usage":{"input_tokens":9,"output_tokens":4,"total_tokens":13,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":2}}}"#,
        ),
    ])
}

fn anthropic_event(kind: &str, rest: &str) -> Vec<u8> {
    event(Some(kind), &format!(r#"{{"type":"{kind}"{rest}}}"#))
}

/// Anthropic: message_start (usage.input_tokens), a thinking block opened with an empty
/// delta, two thinking deltas, a signature delta and ping, the text block's two deltas,
/// message_delta with usage, message_stop.
fn anthropic_script() -> Reply {
    let delta = |kind: &str, field: &str, text: &str| {
        anthropic_event(
            "content_block_delta",
            &format!(r#","index":0,"delta":{{"type":"{kind}","{field}":"{text}"}}"#),
        )
    };
    let mut start = anthropic_event(
        "message_start",
        r#","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":9,"output_tokens":1}}"#,
    );
    start.extend(anthropic_event(
        "content_block_start",
        r#","index":0,"content_block":{"type":"thinking","thinking":""}"#,
    ));
    let mut text_start = delta("signature_delta", "signature", "c2ln");
    text_start.extend(anthropic_event("content_block_stop", r#","index":0"#));
    text_start.extend(anthropic_event("ping", ""));
    text_start.extend(anthropic_event(
        "content_block_start",
        r#","index":1,"content_block":{"type":"text","text":""}"#,
    ));
    text_start.extend(delta("text_delta", "text", " Hello"));
    let mut end = anthropic_event("content_block_stop", r#","index":1"#);
    end.extend(anthropic_event(
        "message_delta",
        r#","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}"#,
    ));
    stream(vec![
        start,
        delta("thinking_delta", "thinking", ""),
        delta("thinking_delta", "thinking", " Let"),
        delta("thinking_delta", "thinking", " me"),
        text_start,
        delta("text_delta", "text", " there"),
        end,
        anthropic_event("message_stop", ""),
    ])
}

fn spec(path: &str, kind: BodyKind) -> RequestSpec {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    RequestSpec {
        method: Method::POST,
        path: path.into(),
        headers,
        body: Bytes::from_static(br#"{"model":"m","stream":true}"#),
        body_kind: kind,
        expect: None,
        keep_text: true,
        record_headers: None,
    }
}

/// One request against `reply`, recorded; the exchange, the recorder and the write times of
/// the reply's pieces.
async fn run_one(reply: Reply, spec: &RequestSpec) -> (Exchange, Recorder, Vec<Instant>) {
    let server = Scripted::replies(vec![reply]).await;
    let client = Client::new(
        Origin::parse(&server.url()).unwrap(),
        ClientSettings::default(),
    )
    .unwrap();
    let intended = Instant::now();
    let ex = client.execute(spec).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    let recorder = recorded::recorded(intended, &ex);
    (ex, recorder, server.writes(0))
}

/// The one value recorded in histogram `name` (µs).
fn only(recorder: &Recorder, name: &str) -> Duration {
    Duration::from_micros(recorded::only(recorder, name))
}

fn within(got: Duration, want: Duration, what: &str) {
    let off = got.abs_diff(want);
    // The histogram keeps 3 significant digits: allow its rounding on top.
    let rounding = want / 1000;
    assert!(
        off <= TOLERANCE + rounding,
        "{what}: measured {got:?}, the script says {want:?}"
    );
}

async fn check(name: &str, reply: Reply, spec: RequestSpec) {
    let (ex, recorder, writes) = run_one(reply, &spec).await;
    assert_eq!(writes.len(), 8, "{name}: every piece written");
    let sent = ex.attempt_sent.expect("sent");
    let timing = ex.stream.as_ref().expect("stream timing");
    let first_token = writes[FIRST_TOKEN_PIECE] - sent;
    let first_answer = writes[FIRST_ANSWER_PIECE] - sent;
    within(
        timing.first_token.unwrap() - sent,
        first_token,
        &format!("{name} first token"),
    );
    within(
        only(&recorder, "ttft"),
        first_token,
        &format!("{name} TTFT"),
    );
    within(
        only(&recorder, "ttfat"),
        first_answer,
        &format!("{name} time to first answer token"),
    );
    within(
        only(&recorder, "reasoning_time"),
        writes[FIRST_ANSWER_PIECE] - writes[FIRST_TOKEN_PIECE],
        &format!("{name} reasoning time"),
    );
    // Tokens: the empty deltas, the role-only chunk, the signature and the usage chunk are not.
    assert_eq!(timing.content_chunks, 4, "{name}");
    assert_eq!(timing.reasoning_chunks, 2, "{name}");
    let (_, itl) = recorder.histograms().find(|(n, _)| *n == "itl").unwrap();
    assert_eq!(
        itl.len(),
        3,
        "{name}: ITL over all four tokens, reasoning included"
    );
    let tokens = ex.tokens.expect("usage");
    assert_eq!(
        (
            tokens.input,
            tokens.output,
            tokens.reasoning,
            tokens.from_usage
        ),
        (9, 4, 2, true),
        "{name}"
    );
    let text = ex.text.as_deref().expect("text kept");
    assert_eq!(
        (text.reasoning.as_str(), text.answer.as_str()),
        (" Let me", " Hello there"),
        "{name}"
    );
}

#[tokio::test]
async fn chat_ttft_and_time_to_first_answer_token_match_the_script() {
    check(
        "chat",
        chat_script(),
        spec("/v1/chat/completions", BodyKind::Sse),
    )
    .await;
}

#[tokio::test]
async fn responses_ttft_and_time_to_first_answer_token_match_the_script() {
    check(
        "responses",
        responses_script(),
        spec("/v1/responses", BodyKind::ResponsesSse),
    )
    .await;
}

#[tokio::test]
async fn anthropic_ttft_and_time_to_first_answer_token_match_the_script() {
    check(
        "anthropic",
        anthropic_script(),
        spec("/v1/messages", BodyKind::MessagesSse),
    )
    .await;
}

#[tokio::test]
async fn a_stream_without_its_terminal_event_is_truncated() {
    for (name, mut reply, spec, end) in [
        (
            "chat",
            chat_script(),
            spec("/v1/chat/completions", BodyKind::Sse),
            "[DONE]",
        ),
        (
            "responses",
            responses_script(),
            spec("/v1/responses", BodyKind::ResponsesSse),
            "response.completed",
        ),
        (
            "anthropic",
            anthropic_script(),
            spec("/v1/messages", BodyKind::MessagesSse),
            "message_stop",
        ),
    ] {
        // Drop the terminal piece, keep the end of the chunked body.
        reply.pieces.truncate(7);
        reply.pieces.push(b"0\r\n\r\n".to_vec());
        reply.gap = Duration::from_millis(1);
        let server = Scripted::replies(vec![reply]).await;
        let mut settings = ClientSettings::default();
        settings.retry.max_retries = 0;
        let client = Client::new(Origin::parse(&server.url()).unwrap(), settings).unwrap();
        let ex = client.execute(&spec).await;
        assert_eq!(
            ex.outcome,
            Outcome::Io(relaybench::client::IoKind::Truncated),
            "{name}: {:?}",
            ex.detail
        );
        let detail = ex.detail.unwrap_or_default();
        assert!(detail.contains(end), "{name}: {detail}");
    }
}

#[tokio::test]
async fn in_stream_errors_of_every_protocol_are_bad_responses() {
    let errors = [
        (
            "chat",
            spec("/v1/chat/completions", BodyKind::Sse),
            event(
                None,
                r#"{"error":{"message":"upstream overloaded","type":"server_error","code":"overloaded"}}"#,
            ),
            "(overloaded) upstream overloaded",
        ),
        (
            "responses",
            spec("/v1/responses", BodyKind::ResponsesSse),
            event(
                Some("error"),
                r#"{"type":"error","code":"server_error","message":"upstream overloaded","sequence_number":9}"#,
            ),
            "(server_error) upstream overloaded",
        ),
        (
            "responses failed",
            spec("/v1/responses", BodyKind::ResponsesSse),
            responses_event(
                "response.failed",
                r#","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"model crashed"}}"#,
            ),
            "(server_error) model crashed",
        ),
        (
            "anthropic",
            spec("/v1/messages", BodyKind::MessagesSse),
            event(
                Some("error"),
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            "Overloaded",
        ),
    ];
    for (name, spec, error, says) in errors {
        let token = match spec.body_kind {
            BodyKind::Sse => event(None, &chat_delta("content", " hi")),
            BodyKind::ResponsesSse => {
                responses_event("response.output_text.delta", r#","delta":" hi""#)
            }
            _ => anthropic_event(
                "content_block_delta",
                r#","index":0,"delta":{"type":"text_delta","text":" hi"}"#,
            ),
        };
        let reply = stream(vec![token, error]).gap(Duration::from_millis(1));
        let server = Scripted::replies(vec![reply]).await;
        let mut settings = ClientSettings::default();
        settings.retry.max_retries = 0;
        let client = Client::new(Origin::parse(&server.url()).unwrap(), settings).unwrap();
        let ex = client.execute(&spec).await;
        assert_eq!(ex.outcome, Outcome::BadResponse, "{name}: {:?}", ex.detail);
        let detail = ex.detail.unwrap_or_default();
        assert!(
            detail.contains("error event in the stream") && detail.contains(says),
            "{name}: {detail}"
        );
        assert_eq!(ex.tokens.map(|t| t.output), Some(1), "{name}: spent");
    }
}
