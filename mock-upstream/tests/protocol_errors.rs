//! Injected errors of any status from 400 to 599, each in its route's protocol shape (OpenAI's
//! `{"error":{...}}` on Chat and Responses, Anthropic's `{"type":"error","error":{...}}` on
//! Messages) with `retry-after` where providers send it; Anthropic-shaped misses and keys on
//! `/v1/messages`.

mod util;
use mock_upstream::{ErrorRates, MockConfig};
use util::*;

const CHAT_BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSES_BODY: &str = r#"{"model":"gpt-4o-mini","input":"hi"}"#;
const MESSAGES_BODY: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;

/// (status, OpenAI type, OpenAI code, Anthropic type, has retry-after)
const TABLE: &[(u16, &str, Option<&str>, &str, bool)] = &[
    (
        400,
        "invalid_request_error",
        Some("context_length_exceeded"),
        "invalid_request_error",
        false,
    ),
    (
        401,
        "invalid_request_error",
        Some("invalid_api_key"),
        "authentication_error",
        false,
    ),
    (
        402,
        "insufficient_quota",
        Some("insufficient_quota"),
        "billing_error",
        false,
    ),
    (
        403,
        "invalid_request_error",
        Some("permission_denied"),
        "permission_error",
        false,
    ),
    (
        404,
        "invalid_request_error",
        Some("model_not_found"),
        "not_found_error",
        false,
    ),
    (
        409,
        "invalid_request_error",
        None,
        "invalid_request_error",
        false,
    ),
    (
        413,
        "invalid_request_error",
        None,
        "request_too_large",
        false,
    ),
    (
        422,
        "invalid_request_error",
        None,
        "invalid_request_error",
        false,
    ),
    (
        429,
        "requests",
        Some("rate_limit_exceeded"),
        "rate_limit_error",
        true,
    ),
    (500, "server_error", None, "api_error", false),
    (502, "server_error", None, "api_error", false),
    (503, "server_error", None, "overloaded_error", true),
    (504, "server_error", None, "api_error", false),
    (529, "server_error", None, "overloaded_error", true),
    (599, "server_error", None, "api_error", false),
];

fn always(status: u16) -> MockConfig {
    MockConfig {
        errors: ErrorRates::none().with(status, 1.0),
        ..seeded()
    }
}

#[tokio::test]
async fn every_injectable_status_answers_in_each_protocols_error_shape() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    for &(status, openai_type, code, anthropic_type, retry) in TABLE {
        mock.set_config(always(status));
        for (path, body) in [
            ("/v1/chat/completions", CHAT_BODY),
            ("/v1/responses", RESPONSES_BODY),
        ] {
            let r = c.post(path, body).await;
            assert_eq!(r.status, status, "{path}: {}", r.text());
            let e = &r.json()["error"];
            assert_eq!(e["type"], openai_type, "{status} {path}: {e}");
            assert_eq!(e["code"].as_str(), code, "{status} {path}: {e}");
            assert!(e["param"].is_null() && e["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert_eq!(r.header("retry-after").is_some(), retry, "{status} {path}");
        }
        let r = c.post("/v1/messages", MESSAGES_BODY).await;
        assert_eq!(r.status, status, "{}", r.text());
        let v = r.json();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], anthropic_type, "{status}: {v}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(
            v.get("param").is_none() && v["error"].get("code").is_none(),
            "{v}"
        );
        assert_eq!(
            r.header("retry-after").is_some(),
            retry,
            "{status} messages"
        );
        // The stats count each status under its own key.
        let key = format!("error_{status}");
        assert_eq!(mock.stats().faults_injected.get(&key), Some(&3), "{key}");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn statuses_outside_400_to_599_are_refused_by_config_validation() {
    for bad in ["200", "302", "399", "600", "abc"] {
        let text = format!("errors = {{ \"{bad}\" = 0.1 }}");
        let err = MockConfig::from_toml_str(&text, Some("mock.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mock.toml") && err.contains(bad), "{err}");
        let expected = if bad == "abc" {
            "not a number"
        } else {
            "from 400 to 599"
        };
        assert!(err.contains(expected), "{err}");
    }
    let json = serde_json::json!({ "errors": { "600": 0.5 } });
    assert!(serde_json::from_value::<MockConfig>(json).is_err());
}

#[tokio::test]
async fn messages_misses_and_keys_answer_in_anthropic_shape() {
    let mock = start(MockConfig {
        require_key: Some("sk-test".into()),
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    // Anthropic's header, and Bearer as relays accept, both pass.
    let x_api_key = [
        ("x-api-key", "sk-test"),
        ("anthropic-version", "2023-06-01"),
    ];
    let r = c
        .request("POST", "/v1/messages", &x_api_key, MESSAGES_BODY)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let bearer = [("authorization", "Bearer sk-test")];
    let r = c
        .request("POST", "/v1/messages", &bearer, MESSAGES_BODY)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // x-api-key is Anthropic's: the OpenAI routes do not take it.
    let r = c
        .request("POST", "/v1/responses", &x_api_key, RESPONSES_BODY)
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    let wrong = [("x-api-key", "sk-other")];
    let r = c
        .request("POST", "/v1/messages", &wrong, MESSAGES_BODY)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "authentication_error");

    let r = c
        .request("GET", "/v1/messages", &x_api_key, "")
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["type"], "error", "{}", r.text());
    let r = c
        .request("POST", "/v1/messages/batches", &x_api_key, "{}")
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
    // An unknown model, and a bad body, on /v1/messages: Anthropic's shape too.
    let r = c
        .request(
            "POST",
            "/v1/messages",
            &x_api_key,
            &MESSAGES_BODY.replace("claude-sonnet-4-5", "claude-x"),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["error"]["type"].as_str()),
        (404, Some("not_found_error"))
    );
    let r = c
        .request(
            "POST",
            "/v1/messages",
            &x_api_key,
            "{\"model\":\"claude-sonnet-4-5\"}",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("messages"));
    mock.shutdown().await;
}
