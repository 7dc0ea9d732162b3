//! `relaybench schema` describes exactly the scenario files relaybench reads: every shipped scenario validates against it, misspelled keys and unit-less durations do not, and docs/scenario-reference.md is the `--markdown` output byte for byte.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn relaybench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_relaybench"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "relaybench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn schema(draft: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&relaybench(&["schema", "--draft", draft])).unwrap();
    jsonschema::validator_for(&schema).expect("the printed schema is itself a valid JSON Schema")
}

/// A scenario file as the JSON an editor's TOML plugin validates.
fn as_json(toml_text: &str) -> Value {
    serde_json::to_value(toml::from_str::<toml::Value>(toml_text).unwrap()).unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn shipped() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "the shipped scenarios are found");
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn every_shipped_scenario_validates_in_both_drafts() {
    for draft in ["2020-12", "07"] {
        let v = schema(draft);
        for (name, text) in shipped() {
            let errs = errors(&v, &as_json(&text));
            assert!(
                errs.is_empty(),
                "{name} (draft {draft}):\n{}",
                errs.join("\n")
            );
        }
    }
}

const BASE: &str = r#"
[[target]]
name = "m"
[target.mock]
latency = { dist = "uniform", min = "10ms", max = "30ms" }
errors = { "429" = 0.05 }
[[target.mock.schedule]]
start = "2s"
end = "4s"
errors = { "503" = 1.0 }
[workload]
users = 2
duration = "1s"
[client.timeouts]
pool = "250ms"
[client.retry]
budget_ratio = "10%"
[[threshold]]
check = "p99 < 800ms"
scope = "target:m"
"#;

#[test]
fn the_base_document_is_valid_and_relaybench_agrees() {
    let errs = errors(&schema("2020-12"), &as_json(BASE));
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    relaybench::scenario::parse(Path::new("base.toml"), BASE).expect("relaybench reads it too");
}

/// Each edit makes the file invalid for relaybench; the schema must say so at the same key.
#[test]
fn unknown_keys_and_bad_values_are_rejected_where_they_are() {
    let v = schema("2020-12");
    let cases = [
        ("[workload]\n", "[workload]\nuserz = 3\n", "/workload"),
        (
            "pool = \"250ms\"",
            "pool = \"250ms\"\npool_size = 3",
            "/client/timeouts",
        ),
        (
            "[target.mock]\n",
            "[target.mock]\nlatncy = \"5ms\"\n",
            "/target/0/mock",
        ),
        (
            "start = \"2s\"",
            "start = \"2s\"\nfoo = 1",
            "/target/0/mock/schedule/0",
        ),
        (
            "pool = \"250ms\"",
            "pool = \"250\"",
            "/client/timeouts/pool",
        ),
        (
            "pool = \"250ms\"",
            "pool = \"10 parsecs\"",
            "/client/timeouts/pool",
        ),
        (
            "budget_ratio = \"10%\"",
            "budget_ratio = 1.5",
            "/client/retry/budget_ratio",
        ),
        (
            "max = \"30ms\"",
            "maxx = \"30ms\"",
            "/target/0/mock/latency",
        ),
        ("\"429\" = 0.05", "\"600\" = 0.05", "/target/0/mock/errors"),
        (
            "scope = \"target:m\"",
            "scope = \"everything\"",
            "/threshold/0/scope",
        ),
        ("name = \"m\"\n[target.mock]", "[target.mock]", "/target/0"),
    ];
    for (from, to, at) in cases {
        assert!(BASE.contains(from), "{from}");
        let text = BASE.replacen(from, to, 1);
        assert!(
            relaybench::scenario::parse(Path::new("bad.toml"), &text).is_err(),
            "relaybench should reject: {to}"
        );
        let errs = errors(&v, &as_json(&text));
        assert!(
            errs.iter().any(|e| e.starts_with(&format!("{at}:"))),
            "schema should reject {to:?} at {at}, got {errs:?}"
        );
    }
}

#[test]
fn the_committed_reference_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenario-reference.md");
    let generated = relaybench(&["schema", "--markdown"]);
    if std::env::var_os("RELAYBENCH_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/scenario-reference.md is stale: run `relaybench schema --markdown > docs/scenario-reference.md` \
         (or this test with RELAYBENCH_BLESS=1)"
    );
    for key in [
        "`max_connections`",
        "`[client.timeouts]`",
        "`[target.mock]`",
        "`[[threshold]]`",
    ] {
        assert!(generated.contains(key), "{key} is documented");
    }
}

#[test]
fn client_and_mock_read_durations_with_the_same_units() {
    // Each crate keeps its own copy of humantime's unit list (neither depends on the other).
    assert_eq!(
        relaybench::units::humantime_pattern(),
        mock_upstream::schema::humantime_pattern()
    );
}
