//! Property test: random methods, paths, headers and bodies (valid-ish JSON and raw bytes) never
//! crash the mock and always get a well-formed HTTP/1.1 response (errors with a message, in
//! OpenAI's or, on `/v1/messages`, Anthropic's shape).

use mock_upstream::{MockConfig, MockServer};
use proptest::prelude::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

/// One mock for all cases, on its own runtime thread (proptest cases are synchronous).
fn mock_addr() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let config = MockConfig {
                    seed: Some(1),
                    body_limit: 64 * 1024,
                    ..MockConfig::default()
                };
                let handle = MockServer::start("127.0.0.1:0".parse().unwrap(), config)
                    .await
                    .unwrap();
                tx.send(handle.addr()).unwrap();
                std::future::pending::<()>().await;
                drop(handle);
            })
        });
        rx.recv().unwrap()
    })
}

/// Sends raw bytes and returns everything the server sent back. With `half_close` the write
/// side is shut after sending (for garbage the server may otherwise wait for more); without,
/// the request's `connection: close` ends the exchange. (The mock treats EOF mid-request as the
/// client leaving, so a half-closed well-formed request is legitimately dropped.)
fn exchange(request: &[u8], half_close: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(mock_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    if half_close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        eprintln!("read error after {} bytes: {e}", out.len());
    }
    out
}

/// The reply starts with a valid status line and a complete header block.
fn assert_well_formed(reply: &[u8], context: &str) -> u16 {
    let text = String::from_utf8_lossy(reply);
    let status_line = text.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "status line {status_line:?} for {context}"
    );
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status code in {status_line:?}"));
    assert!((200..600).contains(&status), "{status} for {context}");
    assert!(
        text.contains("\r\n\r\n"),
        "complete header block for {context}"
    );
    status
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("model".to_string()),
                    Just("messages".to_string()),
                    Just("input".to_string()),
                    Just("instructions".to_string()),
                    Just("system".to_string()),
                    Just("stream".to_string()),
                    Just("max_tokens".to_string()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..512),
        Just(
            br#"{"model":"mock-1","messages":[{"role":"user","content":"hi"}],"stream":true}"#
                .to_vec()
        ),
        Just(br#"{"model":"mock-1","instructions":"x","input":"hi","stream":true}"#.to_vec()),
        Just(
            br#"{"model":"mock-1","system":[{"type":"text","text":"x"}],"max_tokens":4,"messages":[{"role":"user","content":"hi"}],"stream":true}"#
                .to_vec()
        ),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/v1/chat/completions".to_string()),
        Just("/v1/responses".to_string()),
        Just("/v1/messages".to_string()),
        Just("/v1/embeddings".to_string()),
        Just("/v1/models".to_string()),
        Just("/_mock/stats".to_string()),
        "/[a-zA-Z0-9_.~%/-]{0,40}",
        "/v1/models/[a-zA-Z0-9%-]{0,12}",
    ]
}

fn method() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
    ])
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("x-[a-z0-9-]{1,12}", "[ -~]{0,40}"), 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_get_well_formed_responses(method in method(), path in path(), headers in headers(), body in body()) {
        // PUT /_mock/faults would change the shared mock's config; it is covered in control.rs.
        let method = if method == "PUT" && path == "/_mock/faults" { "GET" } else { method };
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\ncontent-length: {}\r\n", body.len()).into_bytes();
        for (k, v) in &headers {
            req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(&body);
        let reply = exchange(&req, false);
        let status = assert_well_formed(&reply, &format!("{method} {path}"));
        if method != "HEAD" && status >= 400 {
            let text = String::from_utf8_lossy(&reply);
            let json = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
            let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("error body is JSON ({e}): {json:?}"));
            prop_assert!(v["error"]["message"].is_string());
        }
    }

    #[test]
    fn garbage_bytes_get_a_400_or_a_close_never_a_crash(bytes in prop::collection::vec(any::<u8>(), 1..256)) {
        let reply = exchange(&bytes, true);
        if !reply.is_empty() {
            assert_well_formed(&reply, "garbage");
        }
        // The server is still alive and serving.
        let ok = exchange(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", false);
        prop_assert_eq!(assert_well_formed(&ok, "healthz after garbage"), 200);
    }
}
