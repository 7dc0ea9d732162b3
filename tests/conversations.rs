//! Multi-turn conversations end to end: each turn sends the growing history with the server's own replies, metrics split by turn, a failed turn ends its session, bad conversation config is a scenario error.

mod util;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use util::{run_first, text, Session};

/// What the scripted server received: each request's body, in arrival order.
type Bodies = Arc<Mutex<Vec<Value>>>;

/// The reply the scripted server sends to its `n`-th request (0-based).
fn reply(n: usize) -> String {
    format!("reply number {n} from the server")
}

/// A tiny HTTP/1.1 chat server on loopback: records every body, answers request `n` with
/// [`reply`]`(n)` (as JSON, or as a Chat SSE stream when the body asks for one), except that
/// request number `fail` (if any) gets a 400. Returns its URL, what it received and its task.
async fn scripted(fail: Option<usize>) -> (String, Bodies, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bodies: Bodies = Arc::default();
    let seen = bodies.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Value =
                        serde_json::from_slice(&buf[head_end..head_end + length]).unwrap();
                    buf.drain(..head_end + length);
                    let stream = body["stream"] == true;
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(body);
                        seen.len() - 1
                    };
                    let text = reply(n);
                    let (status, kind, payload) = if Some(n) == fail {
                        (
                            "400 Bad Request",
                            "application/json",
                            r#"{"error":{"message":"scripted failure"}}"#.to_string(),
                        )
                    } else if stream {
                        let (a, b) = text.split_at(6);
                        let chunk = |t: &str| {
                            let c = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "model": "m",
                                "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]});
                            format!("data: {c}\n\n")
                        };
                        let usage = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7}});
                        (
                            "200 OK",
                            "text/event-stream",
                            format!("{}{}data: {usage}\n\ndata: [DONE]\n\n", chunk(a), chunk(b)),
                        )
                    } else {
                        let answer = serde_json::json!({"id": "c", "object": "chat.completion", "model": "m",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7}});
                        ("200 OK", "application/json", answer.to_string())
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n{payload}",
                        payload.len()
                    );
                    if conn.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, bodies, task)
}

fn scenario(url: &str, requests: u64, entry: &str) -> String {
    format!(
        "[[target]]\nname = \"s\"\nurl = \"{url}\"\n[workload]\nusers = 1\nrequests = {requests}\n[[workload.mix]]\nkind = \"chat\"\nprompts = [\"first question\"]\nturns = {{ dist = \"fixed\", value = 3 }}\n{entry}\n"
    )
}

/// The (role, content) of each message of a body.
fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |v: &Value| v.as_str().unwrap().to_string();
            (text(&m["role"]), text(&m["content"]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_turn_conversation_sends_one_three_and_five_messages_with_the_replies() {
    for stream in [false, true] {
        let (url, bodies, server) = scripted(None).await;
        let run = run_first(&scenario(&url, 3, &format!("stream = {stream}"))).await;
        server.abort();
        let bodies = bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3, "stream = {stream}");
        let sent: Vec<_> = bodies.iter().map(messages).collect();
        let user = ("user".to_string(), "first question".to_string());
        let assistant = |n| ("assistant".to_string(), reply(n));
        assert_eq!(sent[0], std::slice::from_ref(&user));
        assert_eq!(sent[1], [user.clone(), assistant(0), user.clone()]);
        assert_eq!(
            sent[2],
            [user.clone(), assistant(0), user.clone(), assistant(1), user],
            "the replies the server sent, streamed or not"
        );
        assert!(bodies.iter().all(|b| b["model"] == bodies[0]["model"]));
        assert_eq!(run.outcomes.get("ok"), Some(&3));
        let turns: Vec<(u32, u64, u64)> = run
            .by_turn
            .iter()
            .map(|t| (t.turn, t.count, t.ok))
            .collect();
        assert_eq!(turns, [(1, 1, 1), (2, 1, 1), (3, 1, 1)]);
        assert!(run.by_turn.iter().all(|t| t.latency.summary.count == 1));
        let ttft = u64::from(stream);
        assert!(
            run.by_turn.iter().all(|t| t.ttft.summary.count == ttft),
            "TTFT per turn for streams only"
        );
        let sessions = run.sessions.unwrap();
        assert_eq!((sessions.completed, sessions.ended_early), (1, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharegpt_conversation_replays_its_own_human_turns() {
    let dir = Session::new();
    let file = dir.write(
        "chats.json",
        r#"[{"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}, {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}]"#,
    );
    let (url, bodies, server) = scripted(None).await;
    let entry = format!(
        "dataset = {{ path = {:?}, format = \"sharegpt\" }}",
        file.file_name().unwrap().to_str().unwrap()
    );
    let text = scenario(&url, 3, &entry).replace("prompts = [\"first question\"]\n", "");
    let path = dir.write("c.toml", &text);
    let loaded = relaybench::scenario::load(&path).unwrap();
    let plan = relaybench::scenario::Plan::new("c".into(), &loaded);
    let stop = relaybench::load::Stop::new();
    let mut results = relaybench::runner::execute(&loaded, &path, &plan, &stop, None, |_, _| {})
        .await
        .unwrap();
    let run = results.runs.remove(0);
    server.abort();
    let bodies = bodies.lock().unwrap().clone();
    let user = |t: &str| ("user".to_string(), t.to_string());
    let assistant = |n| ("assistant".to_string(), reply(n));
    // Turn 2 is the conversation's second human turn; turn 3, beyond it, draws an entry (the
    // only one: its first human turn).
    assert_eq!(
        messages(&bodies[2]),
        [
            user("q1"),
            assistant(0),
            user("q2"),
            assistant(1),
            user("q1")
        ]
    );
    assert_eq!(run.sessions.unwrap().completed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_turn_ends_its_session_and_the_next_session_starts_afresh() {
    // The second request (turn 2 of the first session) fails: that session ends, and the next
    // one starts from one message again.
    let (url, bodies, server) = scripted(Some(1)).await;
    let run = run_first(&scenario(&url, 5, "")).await;
    server.abort();
    let bodies = bodies.lock().unwrap().clone();
    let lengths: Vec<usize> = bodies.iter().map(|b| messages(b).len()).collect();
    assert_eq!(lengths, [1, 3, 1, 3, 5]);
    assert_eq!(
        messages(&bodies[3])[1].1,
        reply(2),
        "the new session's own reply"
    );
    let turns: Vec<(u64, u64)> = run.by_turn.iter().map(|t| (t.count, t.ok)).collect();
    assert_eq!(turns, [(2, 2), (2, 1), (1, 1)]);
    let sessions = run.sessions.unwrap();
    assert_eq!((sessions.completed, sessions.ended_early), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_against_the_mock_split_by_turn_and_audit_first_turns() {
    let text = r#"
[[target]]
name = "m"
[target.mock]
latency = "1ms"
[target.mock.stream]
ttft = "1ms"
inter_token = "0ms"
[workload]
users = 2
requests = 12
[[workload.mix]]
kind = "chat"
stream = true
max_tokens = 8
turns = { dist = "fixed", value = 3 }
turn_think_time = "1ms"
[report]
usage_audit = true
"#;
    let run = run_first(text).await;
    assert_eq!(run.outcomes.get("ok"), Some(&12), "{:?}", run.outcomes);
    let turns: Vec<(u32, u64, u64)> = run
        .by_turn
        .iter()
        .map(|t| (t.turn, t.count, t.ttft.summary.count))
        .collect();
    assert_eq!(turns, [(1, 4, 4), (2, 4, 4), (3, 4, 4)]);
    let sessions = run.sessions.unwrap();
    assert_eq!((sessions.completed, sessions.ended_early), (4, 0));
    let audit = run.usage_audit.unwrap();
    // First turns are counted when the mix is built and match the mock's count exactly; later
    // turns (the history) are not counted per request.
    assert_eq!(audit.prompt.audited, 4);
    assert_eq!(audit.prompt.reported, audit.prompt.counted);
    assert_eq!(audit.prompts_not_audited, 8);
    assert_eq!(audit.completion.audited, 12);
    // The mock counts the whole history: later turns report more prompt tokens.
    assert!(run.tokens.input > 12 * audit.prompt.reported / 4);
}

#[test]
fn bad_conversation_config_names_file_line_and_field() {
    let cases = [
        (
            "model = \"constant\"\nrate = 10\nduration = \"1s\"",
            "turns = { dist = \"fixed\", value = 2 }",
            "workload.mix[0].turns",
            "closed model",
        ),
        (
            "users = 1",
            "turns = { dist = \"uniform\", min = 5, max = 2 }",
            "workload.mix[0].turns.min",
            "above `max`",
        ),
        (
            "users = 1",
            "turn_think_time = \"1s\"",
            "workload.mix[0].turn_think_time",
            "needs `turns`",
        ),
    ];
    for (workload, entry, key, message) in cases {
        let scenario = format!(
            "[[target]]\nname = \"m\"\n[target.mock]\nlatency = \"1ms\"\n[workload]\n{workload}\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\n{entry}\n"
        );
        let s = Session::new();
        let file = s.write("bad.toml", &scenario);
        let out = s.relaybench(&["validate", file.to_str().unwrap()]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = scenario.lines().position(|l| l == entry).unwrap() + 1;
        for expect in [format!("bad.toml:{line}:"), key.into(), message.into()] {
            assert!(stderr.contains(&expect), "expected `{expect}` in: {all}");
        }
        assert!(!stderr.contains("panicked"), "{all}");
    }
}

#[test]
fn a_templated_prompts_file_line_in_a_conversation_names_file_and_line() {
    let s = Session::new();
    s.write(
        "prompts.jsonl",
        "\"Hello\"\n{\"prompt\": \"Tell me about order {{index}}\"}\n",
    );
    let file = s.write(
        "bad.toml",
        "[[target]]\nname = \"m\"\n[target.mock]\nlatency = \"1ms\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\nprompts_file = \"prompts.jsonl\"\nturns = { dist = \"fixed\", value = 2 }\n",
    );
    let out = s.relaybench(&["validate", file.to_str().unwrap()]);
    let all = text(&out);
    // Its later turns would carry `{{index}}` unrendered, as `prompts` would.
    assert_eq!(out.status.code(), Some(2), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expect in [
        "prompts.jsonl:2",
        "workload.mix[0].prompts_file",
        "placeholders",
    ] {
        assert!(stderr.contains(expect), "expected `{expect}` in: {all}");
    }
}
