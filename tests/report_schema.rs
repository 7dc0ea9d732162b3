//! schema/results.schema.json describes exactly what relaybench writes: a fixture results file validates, and files with unknown, missing or mistyped fields do not.
//!
//! The validator below covers the JSON Schema keywords the schema uses ($ref, type, const,
//! enum, properties, required, additionalProperties, items, minimum) — enough to catch drift
//! between `ResultsFile` and the documented schema without another dependency.

use relaybench::{
    metrics::ThresholdResult,
    report::{fixture, json},
};
use serde_json::{json, Value};

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/results.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn validate(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local refs only");
        return validate(root, &root["$defs"][name], v, at, errors);
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            errors.push(format!("{at}: expected {c}, got {v}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: expected {types:?}, got {v}"));
            return;
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < {min}"));
        }
    }
    if let Value::Object(map) = v {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !map.contains_key(req.as_str().unwrap()) {
                errors.push(format!(
                    "{at}: missing required `{}`",
                    req.as_str().unwrap()
                ));
            }
        }
        for (k, val) in map {
            let path = format!("{at}.{k}");
            match (
                props.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => validate(root, s, val, &path, errors),
                (None, Some(Value::Bool(false))) => {
                    errors.push(format!("{path}: not in the schema"))
                }
                (None, Some(s)) if s.is_object() => validate(root, s, val, &path, errors),
                _ => {}
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(root, s, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn errors_for(v: &Value) -> Vec<String> {
    let s = schema();
    let mut errors = Vec::new();
    validate(&s, &s, v, "$", &mut errors);
    errors
}

fn fixture_json() -> Value {
    let mut results = fixture::comparison();
    results.thresholds.push(ThresholdResult {
        expression: "p99 < 500ms".into(),
        scope: "all".into(),
        observed: "62 ms".into(),
        passed: true,
    });
    serde_json::from_str(&json::to_text(&results)).unwrap()
}

#[test]
fn what_relaybench_writes_matches_the_schema() {
    let errors = errors_for(&fixture_json());
    assert!(
        errors.is_empty(),
        "results.json does not match the schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_schema_rejects_drift() {
    let mut v = fixture_json();
    v["surprise"] = json!(1);
    v["runs"][0].as_object_mut().unwrap().remove("pool");
    v["runs"][1]["scheduled"] = json!("many");
    v["runs"][2]["breaker_events"][0]["state"] = json!("ajar");
    v["runs"][3]["series"][0]["p99_ms"] = json!(null);
    let errors = errors_for(&v).join("\n");
    for expected in [
        "$.surprise: not in the schema",
        "$.runs[0]: missing required `pool`",
        "$.runs[1].scheduled: expected",
        "$.runs[2].breaker_events[0].state",
        "$.runs[3].series[0].p99_ms",
    ] {
        assert!(
            errors.contains(expected),
            "{expected} not reported:\n{errors}"
        );
    }
}

#[test]
fn shard_and_merged_files_match_the_schema() {
    let mut results = fixture::comparison();
    results.runs[0].load_started_unix_ms = Some(1_714_564_800_000);
    results.shard = Some(relaybench::metrics::ShardInfo {
        index: Some(2),
        count: 4,
        scenario_hash: "0123456789abcdef".into(),
        merged: Vec::new(),
        missing_shards: Vec::new(),
    });
    let shard: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(errors_for(&shard), Vec::<String>::new());
    results.shard = Some(relaybench::metrics::ShardInfo {
        index: None,
        count: 4,
        scenario_hash: "0123456789abcdef".into(),
        merged: vec![0, 1, 3],
        missing_shards: vec![2],
    });
    let merged: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(errors_for(&merged), Vec::<String>::new());
    let mut bad = merged.clone();
    bad["shard"]["surprise"] = json!(1);
    assert!(errors_for(&bad).join("\n").contains("$.shard.surprise"));
}

#[test]
fn search_results_match_the_schema() {
    use relaybench::metrics::results::{SearchProbe, SearchResult, StopReason};
    let mut results = fixture::comparison();
    results.search.push(SearchResult {
        target: "relay".into(),
        knob: "rate".into(),
        unit: "req/s".into(),
        goal: relaybench::scenario::search::Goal::Max,
        objective: vec!["p99 < 300ms".into()],
        range: [10.0, 200.0],
        found: Some(76.2),
        interval: [Some(76.2), None],
        stopped_because: StopReason::Budget,
        probes: vec![SearchProbe {
            value: 76.2,
            passed: true,
            within_noise: false,
            run_index: 0,
            saturated: Some(relaybench::metrics::SaturationReason::RateBelowTarget),
        }],
        notes: vec!["76.2 req/s was probed 2 times".into()],
        elapsed_seconds: 12.5,
    });
    let v: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(v["search"][0]["interval"], json!([76.2, null]));
    assert_eq!(v["search"][0]["stopped_because"], "budget");
    assert_eq!(errors_for(&v), Vec::<String>::new());
    let mut bad = v.clone();
    bad["search"][0]["stopped_because"] = json!("bored");
    bad["search"][0]["probes"][0]["surprise"] = json!(1);
    let errors = errors_for(&bad).join("\n");
    assert!(errors.contains("$.search[0].stopped_because"), "{errors}");
    assert!(
        errors.contains("$.search[0].probes[0].surprise"),
        "{errors}"
    );
}

#[test]
fn goodput_and_saturation_match_the_schema() {
    use relaybench::{
        metrics::{Saturation, SaturationReason, Slo},
        units::Dur,
    };
    let mut results = fixture::comparison();
    let run = &mut results.runs[0];
    run.slo = Some(Slo {
        latency: Some(Dur::ms(800)),
        ttft: Some(Dur::ms(200)),
        tpot: Some(Dur::ms(30)),
        itl_p99: Some(Dur::ms(50)),
    });
    run.good = Some(run.count("ok") / 2);
    run.saturated = Some(Saturation {
        reason: SaturationReason::InFlightGrowing,
        at_s: 4.0,
        detail: "requests in flight rose every second for 3 s, 20 → 70".into(),
    });
    let v: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(v["runs"][0]["saturated"]["reason"], "in_flight_growing");
    assert_eq!(v["runs"][0]["slo"]["latency"], "800ms");
    assert!(v["runs"][0]["goodput_ratio"].is_number());
    assert!(v["runs"][0]["series"][0]["good"].is_number());
    assert_eq!(errors_for(&v), Vec::<String>::new());
    let mut bad = v.clone();
    bad["runs"][0]["saturated"]["reason"] = json!("tired");
    bad["runs"][0]["slo"]["p50"] = json!("1s");
    let errors = errors_for(&bad).join("\n");
    assert!(errors.contains("$.runs[0].saturated.reason"), "{errors}");
    assert!(errors.contains("$.runs[0].slo.p50"), "{errors}");
}

#[test]
fn token_lengths_and_prefix_groups_match_the_schema() {
    let mut results = fixture::comparison();
    let run = &mut results.runs[0];
    let mut recorder = relaybench::metrics::lengths::LengthRecorder::default();
    let asked = relaybench::metrics::lengths::Requested {
        input: Some(512),
        output: Some(64),
        group: Some(1),
        turn: None,
    };
    recorder.note_requested(asked);
    recorder.note_received(asked, 64, Some(2000));
    run.token_lengths = recorder.token_lengths();
    run.ttft_by_prefix_group = recorder.ttft_by_prefix_group();
    let v: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(
        v["runs"][0]["token_lengths"]["requested_input"]["summary"]["p50"],
        512.0
    );
    assert_eq!(
        v["runs"][0]["ttft_by_prefix_group"][1]["summary"]["p50"],
        2.0
    );
    assert_eq!(errors_for(&v), Vec::<String>::new());
    // Markdown and HTML show both tables, the run without them as –.
    let md = relaybench::report::markdown::render(&results);
    assert!(md.contains("## Token lengths"), "{md}");
    assert!(
        md.contains("| input asked p50 |") || md.contains("input asked p50"),
        "{md}"
    );
    assert!(md.contains("## TTFT by shared-prefix group") && md.contains("group 1 TTFT p50"));
    let page = relaybench::report::html::render(&results, &[]);
    assert!(page.contains("id=\"token-lengths\"") && page.contains("id=\"prefix-groups\""));
    let mut bad = v.clone();
    bad["runs"][0]["token_lengths"]["sent_input"] = json!({});
    let errors = errors_for(&bad).join("\n");
    assert!(errors.contains("token_lengths"), "{errors}");
}

#[test]
fn conversation_turns_match_the_schema_and_render() {
    let mut results = fixture::comparison();
    let run = &mut results.runs[0];
    let mut recorder = relaybench::metrics::lengths::LengthRecorder::default();
    for (turn, ttft) in [(1, 1000), (2, 3000), (2, 3200)] {
        let asked = relaybench::metrics::lengths::Requested {
            turn: Some(turn),
            ..Default::default()
        };
        recorder.note_requested(asked);
        recorder.note_turn(turn, ttft + 500, true);
        recorder.note_received(asked, 8, Some(ttft));
    }
    recorder.note_session(true);
    recorder.note_session(false);
    run.by_turn = recorder.by_turn();
    run.sessions = recorder.sessions();
    let v: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(v["runs"][0]["by_turn"][1]["turn"], 2);
    assert_eq!(v["runs"][0]["by_turn"][1]["count"], 2);
    assert_eq!(v["runs"][0]["by_turn"][0]["ttft"]["summary"]["p50"], 1.0);
    assert_eq!(v["runs"][0]["sessions"]["ended_early"], 1);
    assert!(
        v["runs"][1].get("by_turn").is_none(),
        "absent without conversations"
    );
    assert_eq!(errors_for(&v), Vec::<String>::new());
    let md = relaybench::report::markdown::render(&results);
    assert!(
        md.contains("## Conversation turns") && md.contains("· turn 2"),
        "{md}"
    );
    assert!(md.contains("1 sessions completed, 1 ended early"), "{md}");
    let page = relaybench::report::html::render(&results, &[]);
    assert!(page.contains("id=\"by-turn\""));
    let mut bad = v.clone();
    bad["runs"][0]["by_turn"][0]["turn"] = json!(0);
    let errors = errors_for(&bad).join("\n");
    assert!(errors.contains("by_turn"), "{errors}");
}

#[test]
fn mock_lateness_matches_the_schema_and_older_files_load() {
    use mock_upstream::{LatenessStats, LatenessSummary};
    let mut results = fixture::comparison();
    let v: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert!(
        v["runs"][0].get("mock_lateness").is_none(),
        "absent unless the run had an embedded mock"
    );
    let stats = LatenessStats {
        count: 4000,
        p50_ms: 0.04,
        p99_ms: 131.2,
        max_ms: 180.0,
    };
    results.runs[0].mock_lateness = Some(LatenessSummary {
        first: stats,
        later: stats,
    });
    let text = json::to_text(&results);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["runs"][0]["mock_lateness"]["later"]["count"], 4000);
    assert_eq!(v["runs"][0]["mock_lateness"]["first"]["p99_ms"], 131.2);
    assert_eq!(errors_for(&v), Vec::<String>::new());
    let back: relaybench::metrics::ResultsFile = serde_json::from_str(&text).unwrap();
    assert_eq!(back.runs[0].mock_lateness, results.runs[0].mock_lateness);

    let mut bad = v.clone();
    bad["runs"][0]["mock_lateness"]["later"]["p99"] = json!(1);
    bad["runs"][0]["mock_lateness"]["first"]["count"] = json!(-1);
    let errors = errors_for(&bad).join("\n");
    assert!(
        errors.contains("$.runs[0].mock_lateness.later.p99"),
        "{errors}"
    );
    assert!(
        errors.contains("$.runs[0].mock_lateness.first.count"),
        "{errors}"
    );

    // A file written before the field existed still loads.
    let mut old = v.clone();
    old["runs"][0]
        .as_object_mut()
        .unwrap()
        .remove("mock_lateness");
    let loaded: relaybench::metrics::ResultsFile = serde_json::from_value(old).unwrap();
    assert_eq!(loaded.runs[0].mock_lateness, None);
}

#[test]
fn trace_figures_match_the_schema() {
    let mut results = fixture::comparison();
    results.runs[0].trace = Some(relaybench::trace::TraceStats {
        lines: 1200,
        dropped: 3,
    });
    let v: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(v["runs"][0]["trace"]["dropped"], 3);
    assert!(
        v["runs"][1].get("trace").is_none(),
        "absent without --trace"
    );
    assert_eq!(errors_for(&v), Vec::<String>::new());
    let mut bad = v.clone();
    bad["runs"][0]["trace"]["lost"] = json!(1);
    let errors = errors_for(&bad).join("\n");
    assert!(errors.contains("$.runs[0].trace"), "{errors}");
}

#[test]
fn protocols_token_source_and_usage_audit_match_the_schema_and_older_files_load() {
    use relaybench::metrics::audit::{DiffDistribution, UsageAudit};
    let mut results = fixture::comparison();
    let mut completion = DiffDistribution::default();
    for _ in 0..9 {
        completion.add(24, 20);
    }
    completion.add(20, 20);
    let mut prompt = DiffDistribution::default();
    prompt.add(18, 15);
    let mut audit = UsageAudit {
        tokenizer: "o200k_base".into(),
        exact: false,
        prompt,
        completion,
        counted_answers: 10,
        prompts_not_audited: 0,
    };
    audit.summarize();
    let run = &mut results.runs[0];
    run.api = Some("anthropic-messages".into());
    run.token_source = Some("usage".into());
    run.tokens.reasoning = 40;
    run.usage_audit = Some(audit);
    let text = json::to_text(&results);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["runs"][0]["usage_audit"]["completion"]["permille"]["200"],
        9
    );
    assert_eq!(errors_for(&v), Vec::<String>::new());
    let back: relaybench::metrics::ResultsFile = serde_json::from_str(&text).unwrap();
    assert_eq!(back.runs[0].usage_audit, results.runs[0].usage_audit);

    let mut bad = v.clone();
    bad["runs"][0]["token_source"] = json!("guessed");
    bad["runs"][0]["usage_audit"]["completion"]["share_off"] = json!("most");
    let errors = errors_for(&bad).join("\n");
    assert!(errors.contains("$.runs[0].token_source"), "{errors}");
    assert!(
        errors.contains("$.runs[0].usage_audit.completion.share_off"),
        "{errors}"
    );

    // A file written before these fields existed still loads.
    let mut old = v.clone();
    let run = old["runs"][0].as_object_mut().unwrap();
    for key in ["api", "token_source", "usage_audit"] {
        run.remove(key);
    }
    let tokens = run["tokens"].as_object_mut().unwrap();
    tokens.remove("reasoning");
    tokens.remove("tokenizer");
    let back: relaybench::metrics::ResultsFile = serde_json::from_value(old).unwrap();
    assert_eq!(back.runs[0].usage_audit, None);
}

#[test]
fn relay_overhead_and_recorded_headers_match_the_schema() {
    use relaybench::metrics::{headers::HeaderTally, overhead};
    let mut results = fixture::comparison();
    results.runs.truncate(3);
    results.runs[0].target = "direct".into();
    results.runs[1].variant = results.runs[0].variant.clone();
    let mut ids = HeaderTally::new(http::HeaderName::from_static("x-request-id"));
    let mut timing = HeaderTally::new(http::HeaderName::from_static("x-overhead-ms"));
    for i in 0..8 {
        ids.note(&http::HeaderValue::from_str(&format!("req_{i}")).unwrap());
        timing.note(&http::HeaderValue::from_str(&format!("{}.5", i % 3)).unwrap());
    }
    results.runs[1].headers = relaybench::metrics::headers::stored(&[ids, timing]);
    results.runs[2].variant = "other".into();
    results.relay_overhead = Some(overhead::compute("direct", &results.runs));
    let v: Value = serde_json::from_str(&json::to_text(&results)).unwrap();
    assert_eq!(v["relay_overhead"]["pairs"].as_array().unwrap().len(), 1);
    assert_eq!(v["relay_overhead"]["unpaired"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][1]["headers"]["x-request-id"]["text_count"], 8);
    assert_eq!(errors_for(&v), Vec::<String>::new());
    let mut bad = v.clone();
    bad["relay_overhead"]["pairs"][0]["surprise"] = json!(1);
    bad["runs"][1]["headers"]["x-overhead-ms"]["surprise"] = json!(1);
    let errors = errors_for(&bad).join("\n");
    assert!(
        errors.contains("$.relay_overhead.pairs[0].surprise"),
        "{errors}"
    );
    assert!(
        errors.contains("$.runs[1].headers.x-overhead-ms.surprise"),
        "{errors}"
    );
}
