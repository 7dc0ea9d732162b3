//! `relaybench merge` refuses files that do not belong together (exit 2, a message naming the
//! file and the fault), reports missing shards, and `run` refuses bad --shard / --start-at.

mod util;
use util::{text, Session};

fn scenario(s: &Session, name: &str, users: u32) -> String {
    s.write(
        &format!("{name}.toml"),
        &format!("name = \"{name}\"\n[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nusers = {users}\nrequests = 10\nthreads = 1\n"),
    )
    .to_str()
    .unwrap()
    .to_string()
}

/// Runs shard `spec` of `scenario` into `out/` and returns the results path.
fn shard(s: &Session, scenario: &str, spec: &str, out: &str) -> String {
    let o = s.relaybench(&["run", scenario, "--shard", spec, "--out", out, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    format!("{out}/results.json")
}

fn merge(s: &Session, files: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["merge"];
    args.extend(files);
    args.extend(["-o", "merged.json"]);
    let o = s.relaybench(&args);
    (o.status.code(), text(&o))
}

#[test]
fn merge_refuses_what_does_not_belong_together() {
    let s = Session::new();
    let a = scenario(&s, "a", 2);
    let b = scenario(&s, "b", 4);
    let a0 = shard(&s, &a, "0/2", "a0");
    let a1 = shard(&s, &a, "1/2", "a1");
    let b1 = shard(&s, &b, "1/2", "b1");

    let (code, out) = merge(&s, &[&a0, &a1]);
    assert_eq!(code, Some(0), "{out}");
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("merged.json")).unwrap()).unwrap();
    assert_eq!(merged["runs"][0]["scheduled"], 10, "5 + 5 requests");
    let o = s.relaybench(&["report", "merged.json", "--out", "rendered"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a merged file renders: {}",
        text(&o)
    );
    assert!(s.path("rendered/report.html").exists());

    let (code, out) = merge(&s, &[&a0, &b1]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("b1/results.json: ran a different scenario than a0/results.json"),
        "{out}"
    );

    std::fs::copy(s.path(&a0), s.path("copy.json")).unwrap();
    let (code, out) = merge(&s, &[&a0, &a1, "copy.json"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("shard 0 appears twice: a0/results.json and copy.json"),
        "{out}"
    );

    let good = std::fs::read_to_string(s.path(&a1)).unwrap();
    s.write("truncated.json", &good[..good.len() / 2]);
    let (code, out) = merge(&s, &[&a0, "truncated.json"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("truncated.json:") && out.contains("not JSON"),
        "{out}"
    );

    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["runs"][0]["scheduled"] = serde_json::json!(999);
    s.write("edited.json", &v.to_string());
    let (code, out) = merge(&s, &[&a0, "edited.json"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("edited.json: corrupted: run `m/default`: scheduled is 999"),
        "{out}"
    );

    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["shard"]["count"] = serde_json::json!(3);
    s.write("count.json", &v.to_string());
    let (code, out) = merge(&s, &[&a0, "count.json"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("split into 3 shards, but a0/results.json was split into 2"),
        "{out}"
    );

    let (code, out) = merge(&s, &["merged.json", &a0]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("already a merged file"), "{out}");

    // A missing shard is merged anyway, with a warning and a mark in the output.
    let (code, out) = merge(&s, &[&a1]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("missing shard(s) [0] of 2"), "{out}");
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("merged.json")).unwrap()).unwrap();
    assert_eq!(merged["shard"]["missing_shards"], serde_json::json!([0]));
}

#[test]
fn run_refuses_bad_shards_and_start_times() {
    let s = Session::new();
    let a = scenario(&s, "a", 2);
    let o = s.relaybench(&["run", &a, "--shard", "2/2"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("0-based"), "{}", text(&o));
    let o = s.relaybench(&["run", &a, "--shard", "0/3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("none of the 2 users"), "{}", text(&o));
    let o = s.relaybench(&["run", &a, "--start-at", "2001-01-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("in the past"), "{}", text(&o));
    let o = s.relaybench(&["run", &a, "--start-at", "soon"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not an RFC 3339 time"), "{}", text(&o));
    assert!(!s.path("reports").exists(), "nothing was run");
}
