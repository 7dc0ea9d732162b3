//! The OpenAI API surface over loopback: shapes, errors, request ids, determinism.

mod util;
use mock_upstream::{Latency, MockConfig};
use std::time::{Duration, Instant};
use util::*;

#[tokio::test]
async fn chat_completion_has_openai_shape_and_usage() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    let r = c.post("/v1/chat/completions", CHAT).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("x-request-id")
        .is_some_and(|v| v.starts_with("req_")));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let j = r.json();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["model"], "gpt-4o-mini");
    assert_eq!(j["choices"][0]["message"]["role"], "assistant");
    assert!(!j["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(j["choices"][0]["finish_reason"], "stop");
    let u = &j["usage"];
    assert_eq!(u["completion_tokens"], 16);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + 16
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn fixed_latency_delays_every_reply() {
    let mock = start(MockConfig {
        latency: Latency::fixed_ms(150),
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    mock.shutdown().await;
}

/// Splits an SSE body into its `data:` payloads.
fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn streamed_chat_follows_openai_sse_and_matches_the_json_reply() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    let r = c.post("/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(&r.text());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 16);
    let content_chunks = &chunks[1..chunks.len() - 1];
    assert_eq!(content_chunks.len(), 16);
    let last = content_chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(content_chunks[..15]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    let streamed: String = content_chunks
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    let whole = c.post("/v1/chat/completions", CHAT).await.json();
    assert_eq!(
        whole["choices"][0]["message"]["content"].as_str().unwrap(),
        streamed
    );

    let no_usage = CHAT_STREAM.replace(r#","stream_options":{"include_usage":true}"#, "");
    let events = sse_events(&c.post("/v1/chat/completions", &no_usage).await.text());
    assert!(
        events.iter().all(|e| !e.contains("\"usage\"")),
        "no usage without include_usage"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn max_tokens_caps_the_reply_with_finish_reason_length() {
    let mock = start(MockConfig {
        output_tokens: mock_upstream::TokenCount::Fixed(50),
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    let body = CHAT.replace("\"messages\"", "\"max_tokens\":5,\"messages\"");
    let j = c.post("/v1/chat/completions", &body).await.json();
    assert_eq!(j["usage"]["completion_tokens"], 5);
    assert_eq!(j["choices"][0]["finish_reason"], "length");
    assert_eq!(
        j["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        5
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn embeddings_have_configured_dimension_and_are_deterministic() {
    let mock = start(MockConfig {
        embedding_dim: 12,
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    let one = c
        .post(
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":"hello"}"#,
        )
        .await
        .json();
    assert_eq!(one["object"], "list");
    assert_eq!(one["data"][0]["embedding"].as_array().unwrap().len(), 12);
    assert!(one["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let many = c
        .post(
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":["bye","hello"]}"#,
        )
        .await
        .json();
    assert_eq!(many["data"].as_array().unwrap().len(), 2);
    assert_eq!(many["data"][1]["index"], 1);
    assert_eq!(
        many["data"][1]["embedding"], one["data"][0]["embedding"],
        "same input, same vector"
    );
    assert_ne!(many["data"][0]["embedding"], one["data"][0]["embedding"]);
    let b64 = c
        .post(
            "/v1/embeddings",
            r#"{"model":"text-embedding-3-small","input":"hello","encoding_format":"base64"}"#,
        )
        .await
        .json();
    assert_eq!(
        b64["data"][0]["embedding"].as_str().unwrap().len(),
        64,
        "12 f32 = 48 bytes = 64 base64 chars"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn models_and_healthz() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    let j = c.get("/v1/models").await.json();
    let ids: Vec<&str> = j["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-4o-mini") && ids.contains(&"mock-1"));
    assert_eq!(c.get("/v1/models/mock-1").await.json()["id"], "mock-1");
    assert_eq!(c.get("/v1/models/nope").await.status, 404);
    assert_eq!(c.get("/healthz").await.status, 200);
    mock.shutdown().await;
}

fn assert_openai_error(r: &Reply, status: u16, param: Option<&str>) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("x-request-id").is_some(),
        "x-request-id on every response"
    );
    let j = r.json();
    let e = &j["error"];
    assert!(e["message"].is_string() && e["type"].is_string(), "{j}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{j}");
    if let Some(p) = param {
        assert_eq!(e["param"], p, "{j}");
    }
    e.clone()
}

#[tokio::test]
async fn invalid_requests_get_openai_shaped_errors() {
    let mock = start(MockConfig {
        body_limit: 1000,
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    let e = assert_openai_error(
        &c.post("/v1/chat/completions", "{not json").await,
        400,
        None,
    );
    assert!(e["message"].as_str().unwrap().contains("JSON"));
    assert_openai_error(
        &c.post("/v1/chat/completions", r#"{"messages":[]}"#).await,
        400,
        Some("model"),
    );
    assert_openai_error(
        &c.post("/v1/chat/completions", r#"{"model":"mock-1"}"#)
            .await,
        400,
        Some("messages"),
    );
    let e = assert_openai_error(
        &c.post(
            "/v1/chat/completions",
            &CHAT.replace("gpt-4o-mini", "gpt-9"),
        )
        .await,
        404,
        Some("model"),
    );
    assert_eq!(e["code"], "model_not_found");
    assert_openai_error(&c.post("/v1/nothing", "{}").await, 404, None);
    let r = c.get("/v1/chat/completions").await;
    assert_openai_error(&r, 405, None);
    assert_eq!(r.header("allow"), Some("POST"));
    let big = format!(
        r#"{{"model":"mock-1","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(2000)
    );
    let mut c2 = Conn::open(mock.addr()).await;
    assert_openai_error(&c2.post("/v1/chat/completions", &big).await, 413, None);
    // A list set to empty accepts any model.
    mock.set_config(MockConfig {
        models: vec![],
        ..seeded()
    });
    assert_eq!(
        c.post(
            "/v1/chat/completions",
            &CHAT.replace("gpt-4o-mini", "gpt-9")
        )
        .await
        .status,
        200
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn require_key_answers_401_without_the_right_bearer() {
    let mock = start(MockConfig {
        require_key: Some("sk-test".into()),
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    let e = assert_openai_error(&c.post("/v1/chat/completions", CHAT).await, 401, None);
    assert_eq!(e["code"], "invalid_api_key");
    let wrong = c
        .request(
            "POST",
            "/v1/chat/completions",
            &[("authorization", "Bearer sk-other")],
            CHAT,
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 401);
    let ok = c
        .request(
            "POST",
            "/v1/chat/completions",
            &[("authorization", "Bearer sk-test")],
            CHAT,
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(c.get("/healthz").await.status, 200, "health needs no key");
    mock.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_content_ids_and_fault_sequence() {
    let cfg = |seed| MockConfig {
        seed: Some(seed),
        errors: mock_upstream::ErrorRates::none().with(500, 0.5),
        output_tokens: mock_upstream::TokenCount::Uniform { min: 1, max: 40 },
        ..MockConfig::default()
    };
    async fn run(cfg: MockConfig) -> Vec<(u16, String, String)> {
        let mock = start(cfg).await;
        let mut c = Conn::open(mock.addr()).await;
        let mut out = Vec::new();
        for i in 0..40 {
            let r = c
                .post(
                    "/v1/chat/completions",
                    &CHAT.replace("Say hello", &format!("prompt {i}")),
                )
                .await;
            let content = if r.status == 200 {
                r.json()["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string()
            } else {
                String::new()
            };
            out.push((
                r.status,
                r.header("x-request-id").unwrap().to_string(),
                content,
            ));
        }
        mock.shutdown().await;
        out
    }
    let a = run(cfg(11)).await;
    let b = run(cfg(11)).await;
    let c = run(cfg(12)).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let errors = a.iter().filter(|(s, _, _)| *s == 500).count();
    assert!(
        (8..=32).contains(&errors),
        "about half of 40 fail: {errors}"
    );
}

#[tokio::test]
async fn http2_prior_knowledge_is_served_with_concurrent_streams() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let mock = start(seeded()).await;
    let stream = tokio::net::TcpStream::connect(mock.addr()).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut s = sender.clone();
        let uri = format!("{}/v1/chat/completions", mock.base_url());
        tasks.push(tokio::spawn(async move {
            let req = http::Request::post(uri)
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from_static(CHAT.as_bytes())))
                .unwrap();
            let resp = s.send_request(req).await.unwrap();
            assert_eq!(resp.version(), http::Version::HTTP_2);
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200);
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(j["object"], "chat.completion");
    }
    let s = mock.stats();
    assert_eq!(s.connections_accepted, 1);
    assert_eq!(s.requests_by_route["/v1/chat/completions"], 4);
    mock.shutdown().await;
}

/// Sends its first `head` bytes, then stalls its writes for `pause`: a client whose opening
/// bytes arrive in two segments.
struct SplitFirstWrite<T> {
    inner: T,
    head: usize,
    pause: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    started: bool,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for SplitFirstWrite<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for SplitFirstWrite<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if !self.started {
            self.started = true;
            let head = self.head.min(buf.len());
            return std::pin::Pin::new(&mut self.inner).poll_write(cx, &buf[..head]);
        }
        if let Some(pause) = self.pause.as_mut() {
            std::task::ready!(std::future::Future::poll(pause.as_mut(), cx));
            self.pause = None;
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn split_client(
    mock: &mock_upstream::MockHandle,
    head: usize,
) -> impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {
    let stream = tokio::net::TcpStream::connect(mock.addr()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    SplitFirstWrite {
        inner: stream,
        head,
        pause: Some(Box::pin(tokio::time::sleep(Duration::from_millis(50)))),
        started: false,
    }
}

/// Sends a chat request over a connection whose first write is split after `head` bytes, as
/// HTTP/2 (prior knowledge) or HTTP/1.1, and checks for a 200 `chat.completion` in that version.
async fn chat_completes_over(
    mock: &mock_upstream::MockHandle,
    head: usize,
    version: http::Version,
) {
    use http_body_util::{BodyExt, Full};
    use hyper::client::conn::{http1, http2};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let io = TokioIo::new(split_client(mock, head).await);
    let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
        .header("content-type", "application/json")
        .header("host", "mock")
        .body(Full::new(bytes::Bytes::from_static(CHAT.as_bytes())))
        .unwrap();
    let resp = if version == http::Version::HTTP_2 {
        let (mut sender, conn) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, conn) = http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    };
    assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["object"], "chat.completion");
}

#[tokio::test]
async fn protocol_is_told_apart_when_the_first_bytes_arrive_in_pieces() {
    let mock = start(seeded()).await;
    // "PR" could begin the HTTP/2 preface: the server must wait for more before deciding.
    chat_completes_over(&mock, 2, http::Version::HTTP_2).await;
    // "P" of "POST" is a prefix of the preface too; "PO" is not: HTTP/1.1.
    chat_completes_over(&mock, 1, http::Version::HTTP_11).await;
    assert_eq!(mock.stats().connections_accepted, 2);
}

#[tokio::test]
async fn chunked_bodies_are_read_whole_and_held_to_the_limit() {
    use tokio::io::AsyncWriteExt;
    let mock = start(MockConfig {
        body_limit: 1000,
        ..seeded()
    })
    .await;
    let whole = Conn::open(mock.addr())
        .await
        .post("/v1/chat/completions", CHAT)
        .await
        .json();
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: mock\r\n\
                content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut c = Conn::open(mock.addr()).await;
    // Two chunks sent apart arrive as two frames: no declared length, no early end.
    let (a, b) = CHAT.split_at(CHAT.len() / 2);
    let first = format!("{head}{:x}\r\n{a}\r\n", a.len());
    c.stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rest = format!("{:x}\r\n{b}\r\n0\r\n\r\n", b.len());
    c.stream.write_all(rest.as_bytes()).await.unwrap();
    let r = c.read_reply(WAIT).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["usage"], whole["usage"]);
    assert_eq!(j["choices"], whole["choices"]);
    // Over the limit without a declared length: refused once the chunks pass it.
    let big = "x".repeat(600);
    let over = format!("{head}258\r\n{big}\r\n258\r\n{big}\r\n0\r\n\r\n");
    c.stream.write_all(over.as_bytes()).await.unwrap();
    assert_openai_error(&c.read_reply(WAIT).await.unwrap(), 413, None);
}

#[tokio::test]
async fn configured_response_headers_go_on_api_responses_only() {
    let mut config = seeded();
    config
        .response_headers
        .insert("x-overhead-ms".into(), "3".into());
    let mock = start(config).await;
    let mut c = Conn::open(mock.addr()).await;
    let r = c.post("/v1/chat/completions", CHAT).await;
    assert_eq!(r.header("x-overhead-ms"), Some("3"));
    assert_eq!(c.get("/v1/models").await.header("x-overhead-ms"), Some("3"));
    assert_eq!(c.get("/_mock/stats").await.header("x-overhead-ms"), None);
    // A new config brings its own headers.
    let mut next = seeded();
    next.response_headers.insert("x-relay".into(), "a".into());
    mock.try_set_config(next).unwrap();
    let r = c.post("/v1/chat/completions", CHAT).await;
    assert_eq!(
        (r.header("x-relay"), r.header("x-overhead-ms")),
        (Some("a"), None)
    );
    mock.shutdown().await;
}
