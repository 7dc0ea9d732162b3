//! The three text protocols (Chat Completions, Responses, Anthropic Messages), streamed and
//! not: each reply's shape and event sequence, honest usage (what `relaybench-tokens` counts of
//! what was sent and received), reasoning first, `usage_inflation`, in-stream errors.

mod util;
use mock_upstream::{MockConfig, ReasoningField, TokenCount};
use relaybench_tokens::Encoding;
use serde_json::Value;
use util::*;

const REASONING: u32 = 5;
const ANSWER: u32 = 7;

fn reasoning_config(inflation: f64) -> MockConfig {
    let mut c = seeded();
    c.output_tokens = TokenCount::Fixed(ANSWER);
    c.reasoning.tokens = TokenCount::Fixed(REASONING);
    c.usage_inflation = inflation;
    c
}

/// The request bodies of each protocol for the same conversation, and its honest prompt count.
const SYSTEM: &str = "You are terse.";
const USER: &str = "Explain connection pools in one line, please.";

fn chat_body(model: &str, stream: bool) -> String {
    let mut body = serde_json::json!({
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "stream": stream,
    });
    if stream {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    body.to_string()
}

fn responses_body(model: &str, stream: bool) -> String {
    serde_json::json!({
        "model": model,
        "instructions": SYSTEM,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": USER}]}],
        "stream": stream,
    })
    .to_string()
}

fn messages_body(model: &str, stream: bool) -> String {
    serde_json::json!({
        "model": model,
        "system": SYSTEM,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": USER}],
        "stream": stream,
    })
    .to_string()
}

fn true_prompt(model: &str) -> u64 {
    let enc = Encoding::for_model(model).encoding;
    u64::from(enc.count_chat([("system", SYSTEM), ("user", USER)]))
}

fn inflated(n: u64, f: f64) -> u64 {
    (n as f64 * (1.0 + f)).round() as u64
}

fn count(model: &str, text: &str) -> u64 {
    u64::from(Encoding::for_model(model).encoding.count(text))
}

/// POSTs a streamed request: its body (after a 200) and the body's SSE events.
async fn stream(c: &mut Conn, path: &str, body: &str) -> (String, Vec<Event>) {
    let r = c.post(path, body).await;
    let text = r.text();
    assert_eq!(r.status, 200, "{text}");
    let events = sse_events(&text);
    (text, events)
}

/// Chat, streamed: role chunk, reasoning deltas, answer deltas, usage chunk, `[DONE]`.
async fn chat_stream(c: &mut Conn, model: &str, f: f64) {
    let (_, events) = stream(c, "/v1/chat/completions", &chat_body(model, true)).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Event::json).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let deltas: Vec<&Value> = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| &c["choices"][0]["delta"])
        .collect();
    assert_eq!(deltas.len() as u32, REASONING + ANSWER);
    let (mut reasoning, mut answer) = (String::new(), String::new());
    for (i, d) in deltas.iter().enumerate() {
        if (i as u32) < REASONING {
            assert!(d.get("content").is_none(), "reasoning first: {d}");
            reasoning.push_str(d["reasoning_content"].as_str().unwrap());
        } else {
            answer.push_str(d["content"].as_str().unwrap());
        }
    }
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    let usage = &chunks.last().unwrap()["usage"];
    let completion = count(model, &reasoning) + count(model, &answer);
    assert_eq!(
        completion,
        u64::from(REASONING + ANSWER),
        "one token per event"
    );
    assert_eq!(usage["prompt_tokens"], inflated(true_prompt(model), f));
    assert_eq!(usage["completion_tokens"], inflated(completion, f));
    assert_eq!(
        usage["completion_tokens_details"]["reasoning_tokens"],
        inflated(count(model, &reasoning), f)
    );
}

async fn chat_whole(c: &mut Conn, model: &str, f: f64) {
    let v = c
        .post("/v1/chat/completions", &chat_body(model, false))
        .await
        .json();
    let message = &v["choices"][0]["message"];
    let reasoning = count(model, message["reasoning_content"].as_str().unwrap());
    let answer = count(model, message["content"].as_str().unwrap());
    assert_eq!(
        (reasoning, answer),
        (u64::from(REASONING), u64::from(ANSWER))
    );
    assert_eq!(v["usage"]["prompt_tokens"], inflated(true_prompt(model), f));
    assert_eq!(
        v["usage"]["completion_tokens"],
        inflated(reasoning + answer, f)
    );
    assert_eq!(
        v["usage"]["total_tokens"],
        inflated(true_prompt(model), f) + inflated(reasoning + answer, f)
    );
}

/// The event names a Responses stream with reasoning must have, in order.
fn responses_sequence() -> Vec<String> {
    let mut names = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
    ];
    names.extend(std::iter::repeat_n(
        "response.reasoning_summary_text.delta",
        REASONING as usize,
    ));
    names.extend([
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
    ]);
    names.extend(std::iter::repeat_n(
        "response.output_text.delta",
        ANSWER as usize,
    ));
    names.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    names.into_iter().map(String::from).collect()
}

fn responses_usage(usage: &Value, model: &str, reasoning: &str, answer: &str, f: f64) {
    let (r, a) = (count(model, reasoning), count(model, answer));
    assert_eq!((r, a), (u64::from(REASONING), u64::from(ANSWER)));
    assert_eq!(usage["input_tokens"], inflated(true_prompt(model), f));
    assert_eq!(usage["output_tokens"], inflated(r + a, f));
    assert_eq!(
        usage["output_tokens_details"]["reasoning_tokens"],
        inflated(r, f)
    );
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        usage["total_tokens"],
        inflated(true_prompt(model), f) + inflated(r + a, f)
    );
}

async fn responses_stream(c: &mut Conn, model: &str, f: f64) {
    let (_, events) = stream(c, "/v1/responses", &responses_body(model, true)).await;
    let names: Vec<String> = events.iter().map(|e| e.name.clone().unwrap()).collect();
    assert_eq!(names, responses_sequence());
    let (mut reasoning, mut answer) = (String::new(), String::new());
    for (i, e) in events.iter().enumerate() {
        let v = e.json();
        assert_eq!(
            v["type"],
            e.name.as_deref().unwrap(),
            "type is the event name"
        );
        assert_eq!(v["sequence_number"], i, "sequence numbers count from 0");
        match e.name.as_deref().unwrap() {
            "response.reasoning_summary_text.delta" => {
                reasoning.push_str(v["delta"].as_str().unwrap())
            }
            "response.output_text.delta" => answer.push_str(v["delta"].as_str().unwrap()),
            "response.output_text.done" => assert_eq!(v["text"], answer.as_str()),
            _ => {}
        }
    }
    let done = events.last().unwrap().json();
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(done["response"]["output"][0]["type"], "reasoning");
    assert_eq!(
        done["response"]["output"][1]["content"][0]["text"],
        answer.as_str()
    );
    responses_usage(&done["response"]["usage"], model, &reasoning, &answer, f);
}

async fn responses_whole(c: &mut Conn, model: &str, f: f64) {
    let v = c
        .post("/v1/responses", &responses_body(model, false))
        .await
        .json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    let out = v["output"].as_array().unwrap();
    assert_eq!(out.len(), 2, "reasoning item, then message: {v}");
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[1]["type"], "message");
    let reasoning = out[0]["summary"][0]["text"].as_str().unwrap();
    let answer = out[1]["content"][0]["text"].as_str().unwrap();
    assert_eq!(out[1]["content"][0]["type"], "output_text");
    responses_usage(&v["usage"], model, reasoning, answer, f);
}

async fn messages_stream(c: &mut Conn, model: &str, f: f64) {
    let (_, events) = stream(c, "/v1/messages", &messages_body(model, true)).await;
    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    let mut expected = vec!["message_start", "ping", "content_block_start"];
    expected.extend(std::iter::repeat_n(
        "content_block_delta",
        REASONING as usize + 1,
    )); // + signature
    expected.extend(["content_block_stop", "content_block_start"]);
    expected.extend(std::iter::repeat_n("content_block_delta", ANSWER as usize));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let (mut thinking, mut text) = (String::new(), String::new());
    for e in &events {
        let v = e.json();
        assert_eq!(v["type"], e.name.as_deref().unwrap());
        if e.name.as_deref() == Some("content_block_delta") {
            match v["delta"]["type"].as_str().unwrap() {
                "thinking_delta" => {
                    assert_eq!(v["index"], 0);
                    thinking.push_str(v["delta"]["thinking"].as_str().unwrap());
                }
                "text_delta" => {
                    assert_eq!(v["index"], 1);
                    text.push_str(v["delta"]["text"].as_str().unwrap());
                }
                "signature_delta" => assert!(v["delta"]["signature"].as_str().is_some()),
                other => panic!("unexpected delta {other}"),
            }
        }
    }
    let start = events[0].json();
    assert_eq!(start["message"]["role"], "assistant");
    assert_eq!(
        start["message"]["usage"]["input_tokens"],
        inflated(true_prompt(model), f)
    );
    assert_eq!(events[2].json()["content_block"]["type"], "thinking");
    let second_block = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_start"))
        .nth(1)
        .unwrap();
    assert_eq!(second_block.json()["content_block"]["type"], "text");
    let delta = events[events.len() - 2].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    let output = count(model, &thinking) + count(model, &text);
    assert_eq!(output, u64::from(REASONING + ANSWER));
    assert_eq!(delta["usage"]["output_tokens"], inflated(output, f));
}

async fn messages_whole(c: &mut Conn, model: &str, f: f64) {
    let v = c
        .post("/v1/messages", &messages_body(model, false))
        .await
        .json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["content"][0]["type"], "thinking");
    assert_eq!(v["content"][1]["type"], "text");
    let output = count(model, v["content"][0]["thinking"].as_str().unwrap())
        + count(model, v["content"][1]["text"].as_str().unwrap());
    assert_eq!(output, u64::from(REASONING + ANSWER));
    assert_eq!(v["usage"]["input_tokens"], inflated(true_prompt(model), f));
    assert_eq!(v["usage"]["output_tokens"], inflated(output, f));
}

#[tokio::test]
async fn every_protocol_streams_reasoning_first_and_reports_honest_usage() {
    let mock = start(reasoning_config(0.0)).await;
    let mut c = Conn::open(mock.addr()).await;
    // gpt-4 counts in cl100k_base, the others in o200k_base: the mock picks the model's encoding.
    for model in ["gpt-4o-mini", "gpt-4", "claude-sonnet-4-5"] {
        let mut m = reasoning_config(0.0);
        m.models = vec![];
        mock.set_config(m);
        chat_stream(&mut c, model, 0.0).await;
        chat_whole(&mut c, model, 0.0).await;
        responses_stream(&mut c, model, 0.0).await;
        responses_whole(&mut c, model, 0.0).await;
        messages_stream(&mut c, model, 0.0).await;
        messages_whole(&mut c, model, 0.0).await;
    }
    assert_ne!(
        true_prompt("gpt-4"),
        true_prompt("gpt-4o-mini"),
        "the encodings differ on this prompt"
    );
    let s = mock.stats();
    assert_eq!(s.requests_by_route["/v1/responses"], 6);
    assert_eq!(s.requests_by_route["/v1/messages"], 6);
    mock.shutdown().await;
}

#[tokio::test]
async fn usage_inflation_over_reports_every_count_in_every_protocol() {
    let mock = start(reasoning_config(0.2)).await;
    let mut c = Conn::open(mock.addr()).await;
    let model = "gpt-4o-mini";
    chat_stream(&mut c, model, 0.2).await;
    chat_whole(&mut c, model, 0.2).await;
    responses_stream(&mut c, model, 0.2).await;
    responses_whole(&mut c, model, 0.2).await;
    messages_stream(&mut c, model, 0.2).await;
    messages_whole(&mut c, model, 0.2).await;
    // 12 output tokens × 1.2 = 14.4 → 14: the rounding is pinned too.
    let v = c
        .post("/v1/responses", &responses_body(model, false))
        .await
        .json();
    assert_eq!(v["usage"]["output_tokens"], 14);
    mock.shutdown().await;
}

#[tokio::test]
async fn chat_reasoning_can_use_the_reasoning_field_and_max_tokens_caps_both_parts() {
    let mut config = reasoning_config(0.0);
    config.reasoning.field = ReasoningField::Reasoning;
    let mock = start(config).await;
    let mut c = Conn::open(mock.addr()).await;
    let (text, events) = stream(
        &mut c,
        "/v1/chat/completions",
        &chat_body("gpt-4o-mini", true),
    )
    .await;
    assert!(
        events[1].json()["choices"][0]["delta"]["reasoning"].is_string(),
        "{:?}",
        events[1]
    );
    assert!(!text.contains("reasoning_content"));
    // max_output_tokens 8 < 5 + 7: the reply stops after 3 answer tokens, and says so.
    let capped = responses_body("gpt-4o-mini", false).replace(
        "\"stream\":false",
        "\"stream\":false,\"max_output_tokens\":8",
    );
    let v = c.post("/v1/responses", &capped).await.json();
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(v["usage"]["output_tokens"], 8);
    let capped = messages_body("gpt-4o-mini", false).replace("1024", "8");
    let v = c.post("/v1/messages", &capped).await.json();
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 8);
    mock.shutdown().await;
}

#[tokio::test]
async fn stream_error_ends_each_protocol_with_its_error_event() {
    let mut config = reasoning_config(0.0);
    config.faults.stream_error = 1.0;
    let mock = start(config).await;
    let mut c = Conn::open(mock.addr()).await;

    let (text, events) = stream(
        &mut c,
        "/v1/chat/completions",
        &chat_body("gpt-4o-mini", true),
    )
    .await;
    let last = events.last().unwrap().json();
    assert_eq!(last["error"]["type"], "server_error", "{last}");
    assert!(!text.contains("[DONE]"));
    // Mid-stream: after the role chunk and half of the 12 tokens.
    assert_eq!(events.len(), 1 + 6 + 1);

    let (text, events) = stream(
        &mut c,
        "/v1/responses",
        &responses_body("gpt-4o-mini", true),
    )
    .await;
    let last = events.last().unwrap();
    assert_eq!(last.name.as_deref(), Some("error"));
    assert_eq!(last.json()["type"], "error");
    assert_eq!(last.json()["code"], "server_error");
    assert!(last.json()["sequence_number"].is_u64());
    assert!(!text.contains("response.completed"));

    let (text, events) = stream(&mut c, "/v1/messages", &messages_body("gpt-4o-mini", true)).await;
    let last = events.last().unwrap();
    assert_eq!(last.name.as_deref(), Some("error"));
    assert_eq!(last.json()["error"]["type"], "overloaded_error");
    assert!(!text.contains("message_stop"));

    // A non-streamed reply cannot carry one: it is served whole.
    let v = c
        .post("/v1/messages", &messages_body("gpt-4o-mini", false))
        .await;
    assert_eq!(v.status, 200);
    assert_eq!(mock.stats().faults_injected.get("stream_error"), Some(&3));
    mock.shutdown().await;
}

#[tokio::test]
async fn stream_cuts_and_stream_timing_apply_to_every_protocol() {
    use tokio::io::AsyncReadExt;
    let mut config = reasoning_config(0.0);
    config.faults.stream_cut = 1.0;
    let mock = start(config).await;
    let streams = [
        (
            "/v1/responses",
            responses_body("gpt-4o-mini", true),
            ["\"delta\":\""; 2],
            "response.completed",
        ),
        (
            "/v1/messages",
            messages_body("gpt-4o-mini", true),
            ["\"thinking_delta\"", "\"text_delta\""],
            "message_stop",
        ),
    ];
    for (path, body, delta, end) in &streams {
        let mut c = Conn::open(mock.addr()).await;
        c.send("POST", path, &[], body).await;
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(WAIT, c.stream.read_to_end(&mut raw))
            .await
            .expect("server closes");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        // Half of the 12 token events (the signature delta of a thinking block is not one).
        let deltas = if delta[0] == delta[1] {
            text.matches(delta[0]).count()
        } else {
            text.matches(delta[0]).count() + text.matches(delta[1]).count()
        };
        assert_eq!(deltas, 6, "{path}: {text}");
        assert!(
            !text.contains(end) && !text.ends_with("0\r\n\r\n"),
            "{path}"
        );
    }
    assert_eq!(mock.stats().faults_injected["stream_cut"], 2);

    // TTFT then 11 gaps: 150 ms + 11 × 15 ms at least, through each protocol's framing.
    let mut config = reasoning_config(0.0);
    config.stream.ttft = mock_upstream::Latency::fixed_ms(150);
    config.stream.inter_token = mock_upstream::Latency::fixed_ms(15);
    mock.set_config(config);
    let mut c = Conn::open(mock.addr()).await;
    for (path, body, _, end) in &streams {
        let t = std::time::Instant::now();
        let r = c.post(path, body).await;
        let took = t.elapsed();
        assert!(r.text().contains(end), "{path}");
        assert!(
            took >= std::time::Duration::from_millis(150 + 11 * 15),
            "{path}: {took:?}"
        );
    }
    let lateness = mock.lateness();
    assert!(
        lateness.later.count >= 2 * 11,
        "every token is a timed send: {lateness:?}"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn a_schedule_phase_can_switch_reasoning_on() {
    // No reasoning in the base profile; a phase from 0 s on adds 3 reasoning tokens.
    let text = r#"
        seed = 7
        output_tokens = 4
        [[schedule]]
        start = "0s"
        reasoning = { tokens = 3 }
    "#;
    let config = MockConfig::from_toml_str(text, None).unwrap();
    assert_eq!(config.reasoning.tokens, TokenCount::Fixed(0));
    let mock = start(config).await;
    let mut c = Conn::open(mock.addr()).await;
    let v = c
        .post("/v1/messages", &messages_body("gpt-4o-mini", false))
        .await
        .json();
    assert_eq!(v["content"][0]["type"], "thinking", "{v}");
    assert_eq!(v["usage"]["output_tokens"], 3 + 4);
    let bad = "[[schedule]]\nstart = \"0s\"\nreasoning = { tokens = { dist = \"uniform\", min = 5, max = 1 } }";
    let err = MockConfig::from_toml_str(bad, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("schedule[0].reasoning.tokens"), "{err}");
    mock.shutdown().await;
}
