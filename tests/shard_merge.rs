//! Sharded load end to end: four `relaybench run --shard i/4` processes against one mock-upstream,
//! merged with `relaybench merge`; the merge must agree with what the upstream itself counted.

mod util;
use hdrhistogram::Histogram;
use mock_upstream::{MockConfig, MockServer};
use relaybench::metrics::histogram::decode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use util::{text, Session};

const SHARDS: u32 = 4;

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn read(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn four_shards_merge_to_what_the_upstream_saw() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(MockServer::start(
            "127.0.0.1:0".parse().unwrap(),
            MockConfig::default(),
        ))
        .unwrap();
    let s = Session::new();
    // 6 users split 1, 2, 1, 2; think time keeps 4 debug-build processes off a shared CPU's back.
    let scenario = s.write(
        "sharded.toml",
        &format!(
            "name = \"sharded\"\n[[target]]\nname = \"up\"\nurl = \"{}\"\n[workload]\nusers = 6\nthink_time = \"20ms\"\nduration = \"10s\"\nthreads = 1\n",
            mock.base_url()
        ),
    );
    let start_at = SystemTime::now() + Duration::from_secs(3);
    let start_text = rfc3339(start_at);
    let mut children: Vec<_> = (0..SHARDS)
        .map(|i| {
            let shard = format!("{i}/{SHARDS}");
            let out = format!("shard-{i}");
            s.command(&[
                "run",
                scenario.to_str().unwrap(),
                "--shard",
                &shard,
                "--start-at",
                &start_text,
                "--out",
                &out,
                "-q",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    // Bounded wait; each child is ended by its own handle if it overruns.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    for child in &mut children {
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("a shard did not finish within 40 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let upstream = mock.stats();
    runtime.block_on(mock.shutdown());

    let files: Vec<String> = (0..SHARDS)
        .map(|i| format!("shard-{i}/results.json"))
        .collect();
    let shards: Vec<serde_json::Value> = files.iter().map(|f| read(&s.path(f))).collect();
    let start_ms = start_at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    for (i, shard) in shards.iter().enumerate() {
        assert_eq!(shard["shard"]["index"], i as u64);
        assert_eq!(shard["shard"]["count"], SHARDS);
        let load = shard["runs"][0]["load"].as_str().unwrap();
        let users = [1, 2, 1, 2][i];
        assert!(load.contains(&format!("closed, {users} users")), "{load}");
        let began = shard["runs"][0]["load_started_unix_ms"].as_u64().unwrap();
        assert!(
            began + 5 >= start_ms && began < start_ms + 1500,
            "shard {i} started at {began}, --start-at was {start_ms}"
        );
    }
    assert_eq!(
        shards[0]["shard"]["scenario_hash"], shards[3]["shard"]["scenario_hash"],
        "every shard labels the same whole scenario"
    );

    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["-o", "merged.json"]);
    let out = s.relaybench(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let merged = read(&s.path("merged.json"));
    let run = &merged["runs"][0];

    let scheduled = run["scheduled"].as_u64().unwrap();
    assert!(scheduled > 500, "10 s of 6 users: {scheduled}");
    assert_eq!(
        scheduled, upstream.requests_total,
        "merged request count equals mock-upstream's own count"
    );
    assert_eq!(run["attempts"].as_u64().unwrap(), upstream.requests_total);
    assert_eq!(run["outcomes"]["ok"].as_u64().unwrap(), scheduled);
    assert_eq!(merged["shard"]["merged"], serde_json::json!([0, 1, 2, 3]));
    assert!(merged["shard"].get("missing_shards").is_none());
    assert!(run["load"]
        .as_str()
        .unwrap()
        .contains("closed, 6 users; 4 shards"));

    // The merged histogram is the union of the shards' histograms, so its p99 is the union's p99.
    let mut union: Option<Histogram<u64>> = None;
    for shard in &shards {
        let h = decode(
            shard["runs"][0]["histograms"]["latency"]["hdr"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        match &mut union {
            None => union = Some(h),
            Some(u) => u.add(&h).unwrap(),
        }
    }
    let union = union.unwrap();
    let merged_h = decode(run["histograms"]["latency"]["hdr"].as_str().unwrap()).unwrap();
    assert_eq!(merged_h, union);
    assert_eq!(union.len(), scheduled);
    let p99 = run["histograms"]["latency"]["summary"]["p99"]
        .as_f64()
        .unwrap();
    assert_eq!(p99, union.value_at_quantile(0.99) as f64 / 1000.0);

    // Series: counts are conserved and the shards (started together) line up in ~11 seconds.
    let completed = |series: &serde_json::Value| -> u64 {
        series
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["completed"].as_u64().unwrap())
            .sum()
    };
    let shard_total: u64 = shards
        .iter()
        .map(|s| completed(&s["runs"][0]["series"]))
        .sum();
    assert_eq!(completed(&run["series"]), shard_total);
    // Each merged point carries the sum of the shards' histograms of that second, so its
    // percentiles are exact rather than the maximum over shards.
    let mut series_union = relaybench::metrics::series::new_series_histogram();
    for p in run["series"].as_array().unwrap() {
        if let Some(hdr) = p["hdr"].as_str() {
            let h = decode(hdr).unwrap();
            assert_eq!(p["completed"].as_u64().unwrap(), h.len());
            let p99 = h.value_at_quantile(0.99) as f64 / 1000.0;
            assert_eq!(p["p99_ms"].as_f64().unwrap(), p99);
            series_union.add(&h).unwrap();
        }
    }
    assert_eq!(series_union.len(), shard_total);
    let seconds = run["series"].as_array().unwrap().len();
    assert!(
        (10..=12).contains(&seconds),
        "aligned series has {seconds} points"
    );
    let measured = run["measured_seconds"].as_f64().unwrap();
    assert!((9.5..12.0).contains(&measured), "merged window {measured}");
    let rps = run["rps"].as_f64().unwrap();
    assert!((rps - scheduled as f64 / measured).abs() < 1e-6);
}
