//! What counts as a valid answer, against a scripted upstream that answers `200 OK` with
//! everything but one: error objects, HTML, empty bodies, garbage streams, error events in any
//! script. Each such answer ends as `bad_response` (the server's log shows it sent the 200 in
//! full), a valid one stays `ok`, the healthy requests after the bad ones succeed, and a stream
//! that fails mid-way reports the tokens it had delivered.

mod support;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use relaybench_client::units::Dur;
use relaybench_client::{
    BodyKind, Client, ClientSettings, Exchange, Expect, IoKind, Origin, Outcome, RequestSpec,
};
use std::sync::Arc;
use support::scripted::{Event, Reply, Scripted, Then};
use support::{chat, chat_stream, eventually, quiet, CHAT_ANSWER};

async fn serve(replies: &[Reply], settings: ClientSettings) -> (Client, Scripted) {
    let server = Scripted::replies(replies.to_vec()).await;
    let client = Client::new(Origin::parse(&server.url()).unwrap(), settings).unwrap();
    (client, server)
}

/// The server's log says it wrote its whole reply to request `index`, and that reply was a 200.
/// (The client may stop reading a bad answer before the server logs its last piece: this waits.)
async fn sent_200(server: &Scripted, replies: &[Reply], index: usize) -> bool {
    let written = eventually(|| {
        server
            .events()
            .iter()
            .any(|e| matches!(e, Event::Replied { index: i, .. } if *i == index))
    })
    .await;
    written && replies[index].pieces[0].starts_with(b"HTTP/1.1 200 ")
}

fn detail(ex: &Exchange) -> &str {
    ex.detail.as_deref().unwrap_or("")
}

fn chunk(content: &str) -> String {
    format!(r#"{{"choices":[{{"delta":{{"content":"{content}"}}}}]}}"#)
}

/// A 200 of `content_type` whose chunked body carries `events` (as `data:` lines), one piece
/// each; the last piece also ends the body, so the server has written everything once the
/// client sees the last event.
fn stream(content_type: &str, events: &[&str]) -> Reply {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let mut pieces = vec![head.into_bytes()];
    for e in events {
        let data = format!("data: {e}\n\n");
        pieces.push(format!("{:x}\r\n{data}\r\n", data.len()).into_bytes());
    }
    pieces.last_mut().unwrap().extend_from_slice(b"0\r\n\r\n");
    Reply {
        pieces,
        ..Reply::new(&[])
    }
}

fn ok200(content_type: &str, body: &[u8]) -> Reply {
    Reply::status(200, &[&format!("content-type: {content_type}")], body)
}

#[tokio::test]
async fn a_stream_error_event_in_vietnamese_is_a_bad_response_not_a_panic() {
    // Three paddings, so that whatever the layout of the message in its JSON, one of them puts a
    // byte-indexed cut (200 then) inside a three-byte character.
    let messages: Vec<String> = (0..3)
        .map(|pad| {
            format!(
                "Lỗi: vượt quá hạn mức{} {}",
                "!".repeat(pad),
                "ạ".repeat(100)
            )
        })
        .collect();
    let mut replies: Vec<Reply> = messages
        .iter()
        .map(|m| {
            let error = format!(r#"{{"error":{{"message":"{m}","type":"upstream_error"}}}}"#);
            stream("text/event-stream", &[&chunk("Xin chào"), &error])
        })
        .collect();
    replies.push(Reply::sse(&[&chunk("Xin"), &chunk(" chào"), "[DONE]"]));
    let (client, server) = serve(&replies, quiet()).await;
    for index in 0..3 {
        let bad = client.execute(&chat_stream(8, false)).await;
        assert_eq!(bad.outcome, Outcome::BadResponse, "{:?}", bad.detail);
        assert!(
            detail(&bad).contains("Lỗi: vượt quá hạn mức"),
            "{}",
            detail(&bad)
        );
        assert!(
            sent_200(&server, &replies, index).await,
            "{:?}",
            server.events()
        );
        // What it had delivered before the error is reported for spend.
        assert_eq!(bad.tokens.map(|t| t.output), Some(1));
    }
    let good = client.execute(&chat_stream(8, false)).await;
    assert_eq!(good.outcome, Outcome::Ok, "{:?}", good.detail);
    assert_eq!(good.tokens.map(|t| t.output), Some(2));
}

#[tokio::test]
async fn every_invalid_json_answer_is_a_bad_response_and_the_valid_ones_stay_ok() {
    let large = format!(
        r#"{{"choices":[{{"message":{{"role":"assistant","content":"{}"}}}}]}}"#,
        "word ".repeat(60_000)
    );
    let cases: Vec<(Reply, Outcome, &str)> = vec![
        (
            ok200(
                "application/json",
                br#"{"error":{"message":"No available channel for model gpt-4o","type":"new_api_error"}}"#,
            ),
            Outcome::BadResponse,
            "error object: No available channel",
        ),
        (
            ok200("text/html", b"<!DOCTYPE html><html><body>Bad gateway</body></html>"),
            Outcome::BadResponse,
            "not a JSON object: <!DOCTYPE html>",
        ),
        (ok200("application/json", b""), Outcome::BadResponse, "the body was empty"),
        (
            ok200("application/json", br#"{"id":"chatcmpl-1","object":"chat.completion"}"#),
            Outcome::BadResponse,
            "needs `choices`",
        ),
        (
            ok200("application/json", b"{\"choices\": [{\"message\": {\"content\": \"cut"),
            Outcome::BadResponse,
            "not JSON",
        ),
        // Valid, and larger than the client keeps: not judged bad for what it did not keep.
        (ok200("application/json", large.as_bytes()), Outcome::Ok, ""),
        (ok200("application/json", CHAT_ANSWER), Outcome::Ok, ""),
    ];
    let replies: Vec<Reply> = cases.iter().map(|(r, _, _)| r.clone()).collect();
    let (client, server) = serve(&replies, quiet()).await;
    for (index, (_, outcome, says)) in cases.iter().enumerate() {
        let ex = client.execute(&chat()).await;
        assert_eq!(ex.outcome, *outcome, "case {index}: {:?}", ex.detail);
        assert!(detail(&ex).contains(says), "case {index}: {}", detail(&ex));
        assert!(sent_200(&server, &replies, index).await);
    }
    // A bad answer read to its end leaves the connection as good as a valid one.
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn embeddings_without_data_are_bad_responses() {
    let replies = vec![
        ok200("application/json", br#"{"object":"list","data":[],"model":"e"}"#),
        ok200("application/json", CHAT_ANSWER),
        ok200(
            "application/json",
            br#"{"object":"list","data":[{"index":0,"embedding":[0.25,-0.5]}],"usage":{"prompt_tokens":3,"total_tokens":3}}"#,
        ),
    ];
    let (client, server) = serve(&replies, quiet()).await;
    let embeddings = RequestSpec {
        path: "/v1/embeddings".into(),
        body_kind: BodyKind::Embeddings,
        ..chat()
    };
    for index in 0..2 {
        let ex = client.execute(&embeddings).await;
        assert_eq!(ex.outcome, Outcome::BadResponse, "{index}: {:?}", ex.detail);
        assert!(detail(&ex).contains("needs `data`"), "{}", detail(&ex));
        assert!(sent_200(&server, &replies, index).await);
    }
    let ex = client.execute(&embeddings).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    assert_eq!(ex.tokens.map(|t| t.input), Some(3));
}

#[tokio::test]
async fn every_invalid_stream_is_a_bad_response_and_the_valid_one_stays_ok() {
    let role = r#"{"choices":[{"delta":{"role":"assistant"}}]}"#;
    let cases: Vec<(Reply, &str)> = vec![
        // The relay answered a stream request with a JSON error body.
        (
            ok200(
                "application/json",
                br#"{"error":{"message":"upstream timeout","type":"server_error"}}"#,
            ),
            "no chat-completion chunk in the stream; it began: {\"error\"",
        ),
        (
            ok200(
                "text/html",
                b"<html>\n<body>\n<h1>502 Bad Gateway</h1>\n</body>\n</html>\n",
            ),
            "no chat-completion chunk in the stream; it began: <html>",
        ),
        (ok200("text/event-stream", b""), "the body was empty"),
        (
            stream("text/event-stream", &["hello", "world"]),
            "not a chat-completion stream",
        ),
        (
            stream("text/event-stream", &["[DONE]"]),
            "no chat-completion chunk",
        ),
        (
            stream("text/event-stream", &[role]),
            "without content and without [DONE]",
        ),
        (
            stream(
                "text/event-stream",
                &[
                    role,
                    r#"{"error":{"message":"model overloaded","code":"overloaded"}}"#,
                ],
            ),
            "error event in the stream: (overloaded) model overloaded",
        ),
        // An event of type `error` (Anthropic-style relays).
        (
            ok200(
                "text/event-stream",
                b"event: error\ndata: {\"message\":\"rate limited\"}\n\n",
            ),
            "error event in the stream: rate limited",
        ),
    ];
    let mut replies: Vec<Reply> = cases.iter().map(|(r, _)| r.clone()).collect();
    replies.push(Reply::sse(&[role, &chunk("ok"), "[DONE]"]));
    let (client, server) = serve(&replies, quiet()).await;
    for (index, (_, says)) in cases.iter().enumerate() {
        let ex = client.execute(&chat_stream(8, false)).await;
        assert_eq!(
            ex.outcome,
            Outcome::BadResponse,
            "case {index}: {:?}",
            ex.detail
        );
        assert!(detail(&ex).contains(says), "case {index}: {}", detail(&ex));
        assert!(
            sent_200(&server, &replies, index).await,
            "{:?}",
            server.events()
        );
    }
    let ex = client.execute(&chat_stream(8, false)).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    assert_eq!(ex.tokens.map(|t| t.output), Some(1));
    assert!(ex.stream.unwrap().first_token.is_some());
}

#[tokio::test]
async fn a_stream_that_fails_midway_reports_the_tokens_it_delivered() {
    let three: Vec<String> = ["a", "b", "c"].map(chunk).to_vec();
    let three: Vec<&str> = three.iter().map(String::as_str).collect();
    // Cut by a reset before the end of the body.
    let mut reset = Reply::sse(&three);
    reset.pieces.pop();
    let reset = reset.then(Then::Reset);
    // Ended cleanly, but without [DONE].
    let unfinished = Reply::sse(&three);
    // The usage came, then the connection closed mid-body.
    let mut with_usage = Reply::sse(&[
        three[0],
        r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":40}}"#,
    ]);
    with_usage.pieces.pop();
    let with_usage = with_usage.then(Then::Close);
    let replies = vec![
        reset,
        unfinished,
        with_usage,
        Reply::sse(&[three[0], "[DONE]"]),
    ];
    let (client, server) = serve(&replies, quiet()).await;
    let ex = client.execute(&chat_stream(8, false)).await;
    assert!(
        matches!(ex.outcome, Outcome::Io(IoKind::Reset | IoKind::Truncated)),
        "{:?}",
        ex.outcome
    );
    assert_eq!(
        ex.tokens.map(|t| (t.output, t.from_usage)),
        Some((3, false))
    );
    let ex = client.execute(&chat_stream(8, false)).await;
    assert_eq!(
        ex.outcome,
        Outcome::Io(IoKind::Truncated),
        "{:?}",
        ex.detail
    );
    assert_eq!(ex.tokens.map(|t| t.output), Some(3));
    assert!(detail(&ex).contains("without [DONE]"), "{}", detail(&ex));
    let ex = client.execute(&chat_stream(8, true)).await;
    assert_eq!(
        ex.outcome,
        Outcome::Io(IoKind::Truncated),
        "{:?}",
        ex.detail
    );
    assert_eq!(ex.tokens.map(|t| (t.input, t.output)), Some((7, 40)));
    let ex = client.execute(&chat_stream(8, false)).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    assert_eq!(ex.tokens.map(|t| t.output), Some(1));
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn bad_responses_are_errors_for_the_breaker_and_are_not_retried() {
    let error = ok200(
        "application/json",
        br#"{"error":{"message":"quota exhausted"}}"#,
    );
    let replies = vec![error.clone(), error.clone(), error];
    let mut settings = quiet();
    settings.retry.max_retries = 3;
    settings.retry.min_backoff = Dur::ms(1);
    settings.retry.max_backoff = Dur::ms(5);
    settings.breaker.enabled = true;
    settings.breaker.failure_threshold = 2;
    let (client, server) = serve(&replies, settings).await;
    for _ in 0..2 {
        let ex = client.execute(&chat()).await;
        assert_eq!(ex.outcome, Outcome::BadResponse, "{:?}", ex.detail);
        assert_eq!(ex.attempts, 1, "a bad answer is not retried");
    }
    let ex = client.execute(&chat()).await;
    assert_eq!(ex.outcome, Outcome::CircuitOpen);
    assert_eq!(server.request_count(), 2);
}

fn http_get(path: &str, expect: Option<Expect>) -> RequestSpec {
    RequestSpec {
        method: Method::GET,
        path: path.into(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        body_kind: BodyKind::Opaque,
        expect: expect.map(Arc::new),
        keep_text: false,
        record_headers: None,
    }
}

#[tokio::test]
async fn http_answers_pass_or_fail_the_users_checks() {
    let pong = Reply::new(&[
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\nstatus: ",
        b"\r\n3\r\npon\r\n",
        b"3\r\ng!\n\r\n0\r\n\r\n",
    ]);
    let cases: Vec<(Reply, Outcome, &str)> = vec![
        // The text split over three pieces is found.
        (pong, Outcome::Ok, ""),
        (
            Reply::status(201, &[], b"pong"),
            Outcome::BadResponse,
            "expected status 200 or 204, got 201",
        ),
        (
            ok200("text/html", "<h1>Bảo trì hệ thống</h1>".as_bytes()),
            Outcome::BadResponse,
            "expected the body to contain \"pong\"; it began: <h1>Bảo trì hệ thống</h1>",
        ),
        (
            Reply::status(503, &[], b"pong"),
            Outcome::Status(503),
            "pong",
        ),
        (
            Reply::status(204, &[], b""),
            Outcome::BadResponse,
            "the body was empty",
        ),
    ];
    let mut replies: Vec<Reply> = cases.iter().map(|(r, _, _)| r.clone()).collect();
    // Without checks, any 2xx is success.
    replies.push(Reply::status(201, &["content-type: text/html"], b"<html>"));
    let (client, server) = serve(&replies, quiet()).await;
    let checked = http_get(
        "/health",
        Some(Expect {
            status: vec![200, 204],
            body_contains: Some("pong".into()),
        }),
    );
    for (index, (_, outcome, says)) in cases.iter().enumerate() {
        let ex = client.execute(&checked).await;
        assert_eq!(ex.outcome, *outcome, "case {index}: {:?}", ex.detail);
        assert!(detail(&ex).contains(says), "case {index}: {}", detail(&ex));
    }
    let ex = client.execute(&http_get("/health", None)).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    assert_eq!(server.request_count(), cases.len() + 1);
}

#[tokio::test]
async fn an_echoed_key_never_reaches_the_detail() {
    let key = "sk-relay-9f8e7d6c5b4a39281706";
    let body = format!(r#"{{"error":{{"message":"Invalid token: {key} (request id 42)"}}}}"#);
    let replies = vec![
        ok200("application/json", body.as_bytes()),
        Reply::status(401, &[], body.as_bytes()),
    ];
    let (client, _server) = serve(&replies, quiet()).await;
    let mut spec = chat();
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).unwrap();
    value.set_sensitive(true);
    spec.headers.insert("authorization", value);
    for outcome in [Outcome::BadResponse, Outcome::Status(401)] {
        let ex = client.execute(&spec).await;
        assert_eq!(ex.outcome, outcome);
        assert!(
            detail(&ex).contains("Invalid token: [redacted]"),
            "{}",
            detail(&ex)
        );
        assert!(!detail(&ex).contains("sk-relay"), "{}", detail(&ex));
    }
}

#[tokio::test]
async fn a_stream_the_deadline_cuts_reports_the_tokens_it_delivered() {
    let mut hanging = Reply::sse(&[&chunk("a"), &chunk("b")]);
    hanging.pieces.pop();
    let replies = vec![
        hanging.then(Then::Hang),
        Reply::sse(&[&chunk("c"), "[DONE]"]),
    ];
    let mut settings = quiet();
    settings.timeouts.deadline = Some(Dur::ms(400));
    let (client, server) = serve(&replies, settings).await;
    let ex = client.execute(&chat_stream(8, false)).await;
    assert_eq!(
        ex.outcome,
        Outcome::Timeout(relaybench_client::Phase::Deadline)
    );
    assert_eq!(ex.tokens.map(|t| t.output), Some(2));
    assert!(server
        .events()
        .contains(&Event::Request { conn: 0, index: 0 }));
    let ex = client.execute(&chat_stream(8, false)).await;
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    assert_eq!(ex.tokens.map(|t| t.output), Some(1));
}
