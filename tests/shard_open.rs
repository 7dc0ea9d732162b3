//! Open-model sharding: shards interleave the one arrival schedule, so two shards together issue
//! exactly the arrivals of the unsharded run — not twice as many, not a rounded rate.

mod util;
use util::{text, Session};

#[test]
fn open_model_shards_add_up_to_the_unsharded_schedule() {
    let s = Session::new();
    let scenario = s.write(
        "open.toml",
        "name = \"open\"\n[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nmodel = \"constant\"\nrate = 75\nduration = \"2s\"\nthreads = 1\n",
    );
    let path = scenario.to_str().unwrap();
    let runs = [
        vec!["run", path, "--out", "whole", "-q"],
        vec!["run", path, "--shard", "0/2", "--out", "s0", "-q"],
        vec!["run", path, "--shard", "1/2", "--out", "s1", "-q"],
    ];
    let children: Vec<_> = runs
        .iter()
        .map(|args| {
            s.command(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(s.path(p)).unwrap()).unwrap()
    };
    let whole = read("whole/results.json")["runs"][0]["scheduled"]
        .as_u64()
        .unwrap();
    let s0 = read("s0/results.json");
    let s1 = read("s1/results.json");
    let (a, b) = (
        s0["runs"][0]["scheduled"].as_u64().unwrap(),
        s1["runs"][0]["scheduled"].as_u64().unwrap(),
    );
    assert_eq!(whole, 150, "75 req/s for 2 s");
    assert_eq!((a, b), (75, 75), "every other arrival each");
    assert_eq!(s0["runs"][0]["target_rps"].as_f64(), Some(37.5));

    let out = s.relaybench(&[
        "merge",
        "s0/results.json",
        "s1/results.json",
        "-o",
        "m.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let merged = read("m.json");
    assert_eq!(merged["runs"][0]["scheduled"].as_u64(), Some(whole));
    assert_eq!(merged["runs"][0]["target_rps"].as_f64(), Some(75.0));
}
