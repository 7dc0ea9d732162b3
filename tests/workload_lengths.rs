//! Generated token lengths end to end: against the mock, answers are as long as `output_tokens` asked, the requested lengths are recorded, TTFT splits by prefix group; bad length specs are scenario errors.

mod util;
use relaybench::metrics::StoredHistogram;
use util::{run_first, text, Session};

const SCENARIO: &str = r#"
[[target]]
name = "m"
tokenizer = "cl100k_base"
[target.mock]
latency = "1ms"
output_tokens = 4096
[target.mock.stream]
ttft = "2ms"
inter_token = "0ms"
[workload]
users = 4
requests = 120
[[workload.mix]]
kind = "chat"
stream = true
input_tokens = { dist = "normal", mean = 200, stdev = 50, min = 20, max = 400 }
output_tokens = { dist = "uniform", min = 3, max = 60 }
extra_body = { ignore_eos = true }
shared_prefix_tokens = 100
prefix_groups = 3
prompt_pool = 60
"#;

fn values(h: &StoredHistogram) -> Vec<(u64, u64)> {
    let h = h.histogram().unwrap();
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_have_the_requested_output_length_and_ttft_splits_by_prefix_group() {
    let run = run_first(SCENARIO).await;
    assert_eq!(run.outcomes.get("ok"), Some(&120), "{:?}", run.outcomes);
    let lengths = run.token_lengths.as_ref().expect("token_lengths recorded");
    let requested = lengths.requested_output.as_ref().unwrap();
    let received = lengths.received_output.as_ref().unwrap();
    assert_eq!(requested.summary.count, 120);
    assert!(requested.summary.min >= 3.0 && requested.summary.max <= 60.0);
    // The mock honours max_tokens: request by request the same lengths, so the same histogram.
    assert_eq!(values(requested), values(received));
    assert_eq!(
        run.tokens.output as f64,
        (received.summary.mean * 120.0).round()
    );
    let input = lengths.requested_input.as_ref().unwrap().summary.clone();
    // 100 prefix tokens + a suffix of 20..=400.
    assert!(input.min >= 120.0 && input.max <= 500.0, "{input:?}");
    assert!((input.mean - 300.0).abs() < 25.0, "{input:?}");
    // The mock counted the prompt with the same tokenizer: its usage is the content's tokens
    // plus the chat framing (7 tokens for one user message).
    assert_eq!(
        run.tokens.input as f64,
        ((input.mean + 7.0) * 120.0).round()
    );
    let groups = &run.ttft_by_prefix_group;
    assert_eq!(groups.len(), 3);
    let counts: Vec<u64> = groups.iter().map(|g| g.summary.count).collect();
    assert_eq!(counts.iter().sum::<u64>(), 120, "{counts:?}");
    assert!(
        counts.iter().all(|c| *c > 20),
        "spread over the groups: {counts:?}"
    );
    let json = serde_json::to_value(&run).unwrap();
    assert_eq!(json["token_lengths"]["requested_output"]["unit"], "tokens");
    assert_eq!(json["ttft_by_prefix_group"][0]["unit"], "ms");
}

#[test]
fn bad_length_specs_name_file_line_and_field() {
    let cases = [
        (
            "input_tokens = { dist = \"uniform\", min = 50, max = 10 }",
            "workload.mix[0].input_tokens.min",
            "above `max`",
        ),
        (
            "output_tokens = { dist = \"normal\", mean = 50, stdev = -3 }",
            "workload.mix[0].output_tokens.stdev",
            "≥ 0",
        ),
        (
            "input_tokens = { dist = \"zipf\", mean = 50 }",
            "input_tokens",
            "unknown variant `zipf`",
        ),
        (
            "input_tokens = { dist = \"normal\", stdev = 5 }",
            "input_tokens",
            "missing field `mean`",
        ),
        (
            "prompt_pool = 0",
            "workload.mix[0].prompt_pool",
            "between 1 and 100000",
        ),
        (
            "shared_prefix_tokens = 64",
            "workload.mix[0].shared_prefix_tokens",
            "needs `input_tokens`",
        ),
    ];
    for (entry, key, message) in cases {
        let scenario = format!(
            "[[target]]\nname = \"m\"\n[target.mock]\nlatency = \"1ms\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\n{entry}\n"
        );
        let s = Session::new();
        let file = s.write("bad.toml", &scenario);
        let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out"]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for expect in ["bad.toml:10:", key, message] {
            assert!(stderr.contains(expect), "expected `{expect}` in: {all}");
        }
        assert!(!stderr.contains("panicked"), "{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jsonl_dataset_sets_each_answers_length() {
    let s = Session::new();
    s.write(
        "data.jsonl",
        "{\"prompt\": \"one\", \"output_tokens\": 5}\n{\"messages\": [{\"role\": \"user\", \"content\": \"two\"}], \"output_tokens\": 9}\n",
    );
    let file = s.write(
        "d.toml",
        "[[target]]\nname = \"m\"\n[target.mock]\nlatency = \"1ms\"\noutput_tokens = 100\n[workload]\nusers = 1\nrequests = 10\n[[workload.mix]]\nkind = \"chat\"\ndataset = { path = \"data.jsonl\", format = \"jsonl\", order = \"sequential\" }\n",
    );
    let scenario = relaybench::scenario::load(&file).unwrap();
    let plan = relaybench::scenario::Plan::new("d".into(), &scenario);
    let stop = relaybench::load::Stop::new();
    let mut results = relaybench::runner::execute(&scenario, &file, &plan, &stop, None, |_, _| {})
        .await
        .unwrap();
    let run = results.runs.remove(0);
    assert_eq!(run.outcomes.get("ok"), Some(&10), "{:?}", run.outcomes);
    let lengths = run.token_lengths.unwrap();
    // In file order: 5, 9, 5, 9, ... — five of each, and the answers as long.
    let asked = values(lengths.requested_output.as_ref().unwrap());
    assert_eq!(asked, vec![(5, 5), (9, 5)]);
    assert_eq!(values(lengths.received_output.as_ref().unwrap()), asked);
    assert_eq!(run.tokens.output, 70);
}

#[test]
fn dataset_errors_name_the_file_and_line() {
    let s = Session::new();
    s.write(
        "chats.json",
        "[\n  {\"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}]},\n  {\"conversations\": [{\"from\": \"gpt\", \"value\": \"no question\"}]}\n]\n",
    );
    let scenario = |dataset: &str| {
        format!("[[target]]\nname = \"m\"\n[target.mock]\nlatency = \"1ms\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\ndataset = {dataset}\n")
    };
    let cases = [
        (
            "{ path = \"chats.json\", format = \"sharegpt\" }",
            vec!["chats.json:3", "workload.mix[0].dataset", "no `human` turn"],
        ),
        (
            "{ path = \"missing.jsonl\", format = \"jsonl\" }",
            vec!["bad.toml:10", "workload.mix[0].dataset", "cannot read"],
        ),
        (
            "{ path = \"chats.json\", format = \"csv\" }",
            vec!["bad.toml:10", "unknown variant `csv`"],
        ),
    ];
    for (dataset, expect) in cases {
        let file = s.write("bad.toml", &scenario(dataset));
        let out = s.relaybench(&["validate", file.to_str().unwrap()]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for e in expect {
            assert!(stderr.contains(e), "expected `{e}` in: {all}");
        }
    }
}

#[test]
fn the_shipped_sharegpt_sample_loads_with_its_answers() {
    let path = util::repo_root().join("scenarios/token-lengths.toml");
    let scenario = relaybench::scenario::load(&path).unwrap();
    let entries = &scenario.workload.mix[1].dataset_entries;
    assert_eq!(entries.len(), 48);
    assert!(
        entries.iter().all(|e| e.output.is_some()),
        "every conversation has an answer"
    );
    assert!(entries.iter().all(|e| e.messages[0]["role"] == "user"));
}
