//! `relaybench search` against the embedded mock on loopback: it finds a known capacity and the classic pool size, keeps its budget, stops on Ctrl-C with what it found, re-renders, and rejects bad `[search]` tables with file, line and key.
//!
//! Probes are short (1–2 s) so the file runs in about a minute on two cores; the shipped
//! scenarios use 10 s probes.

mod util;
use serde_json::Value;
use std::time::{Duration, Instant};
use util::{text, Session};

fn results(s: &Session, dir: &str) -> Value {
    let path = s.path(&format!("{dir}/results.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The mock serves 8 requests at once, 100 ms each: 80 req/s at most; beyond that 503 at once.
const CAPACITY: &str = r#"
[[target]]
name = "relay"
[target.mock]
latency = "100ms"
[target.mock.capacity]
max_concurrent = 8
max_queue = 0
[workload]
model = "constant"
rate = 20
duration = "2s"
warmup = "500ms"
grace = "1s"
[client]
retry = { max_retries = 0 }
[search]
knob = "rate"
range = [20, 160]
objective = ["p99 < 300ms", "error_rate < 0.5%"]
step = "2s"
budget = "2m"
resolution = "5%"
repeats = 1
"#;

#[test]
fn finds_the_capacity_of_a_known_upstream_and_re_renders_it() {
    let s = Session::new();
    let file = s.write("capacity.toml", CAPACITY);
    let started = Instant::now();
    let out = s.relaybench(&["search", file.to_str().unwrap(), "--out", "out", "-q"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&s, "out");
    let search = &r["search"][0];
    let found = search["found"].as_f64().unwrap();
    let [lo, hi] = [&search["interval"][0], &search["interval"][1]].map(|v| v.as_f64().unwrap());
    assert_eq!(search["stopped_because"], "converged", "{search}");
    // 80 req/s is the knee only with perfect timing. With max_queue = 0 a reply that leaves
    // 10 ms late overlaps the next arrival and that one gets a 503: a single one is 0.7 % of a
    // 2 s probe at 72 req/s, over the 0.5 % objective. On a VM where the mock's replies left
    // up to 8 ms late (its own lateness figures, tests in crates/fidelity), CI saw 72.5 req/s
    // fail its objective twice and the search settle at 70.4: the knee a search can see there
    // lies up to 15 % below 80.
    assert!(
        (68.0..=80.0).contains(&found),
        "found {found} req/s in [{lo}, {hi}]: the knee is 80 req/s\n{search}"
    );
    assert_eq!(found, lo);
    assert!(hi > lo && (hi - lo) / lo <= 0.05 + 1e-9, "[{lo}, {hi}]");
    // Every probe is a complete run, exactly what `run` writes.
    let probes = search["probes"].as_array().unwrap();
    for p in probes {
        let run = &r["runs"][p["run_index"].as_u64().unwrap() as usize];
        assert!(run["histograms"]["latency"].is_object(), "{run}");
        assert!(run["ledger"].is_object());
    }
    assert!(
        probes.iter().all(|p| p["value"].as_f64().unwrap() <= found
            || p["passed"] == false
            || p["within_noise"] == true),
        "no value above the answer passed clearly"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("max rate meeting p99 < 300ms and error_rate < 0.5%: "),
        "{stdout}"
    );
    eprintln!(
        "capacity: found {found} req/s in [{lo}, {hi}] after {} probes in {:.1} s",
        probes.len(),
        took.as_secs_f64()
    );

    // `report` re-renders the search from results.json alone.
    let again = s.relaybench(&["report", "out/results.json", "--out", "again"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let html = std::fs::read_to_string(s.path("again/report.html")).unwrap();
    let sentence =
        format!("max rate meeting p99 &lt; 300ms and error_rate &lt; 0.5%: {found} req/s");
    assert!(html.contains(&sentence), "{sentence} not in the HTML");
    assert!(html.find("id=\"search\"").unwrap() < html.find("id=\"comparison\"").unwrap());
    assert!(html.contains("id=\"chart-capacity\""));
    assert!(s.path("again/capacity.png").exists());
    let md = std::fs::read_to_string(s.path("again/summary.md")).unwrap();
    assert!(md.contains("## Search"), "{md}");
}

/// The same upstream with a queue: past 80 req/s the backlog only grows, so the probe is
/// ended by the saturation stop (on by default in `search`) and counted as failing.
const QUEUED: &str = r#"
[[target]]
name = "relay"
[target.mock]
latency = "100ms"
[target.mock.capacity]
max_concurrent = 8
max_queue = 100000
[workload]
model = "constant"
rate = 20
duration = "6s"
warmup = "500ms"
grace = "500ms"
saturation_window = "2s"
[client]
max_connections = 2000
retry = { max_retries = 0 }
[search]
knob = "rate"
range = [40, 400]
objective = ["p99 < 300ms"]
step = "6s"
budget = "3m"
resolution = "30%"
repeats = 0
"#;

#[test]
fn probes_past_the_knee_end_early_as_saturated_and_fail() {
    let s = Session::new();
    let file = s.write("queued.toml", QUEUED);
    let out = s.relaybench(&["search", file.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&s, "out");
    let search = &r["search"][0];
    let probes = search["probes"].as_array().unwrap();
    let found = search["found"].as_f64().unwrap();
    assert!((60.0..=84.0).contains(&found), "found {found}: {search}");
    let mut saturated = 0;
    for p in probes {
        let value = p["value"].as_f64().unwrap();
        let run = &r["runs"][p["run_index"].as_u64().unwrap() as usize];
        if value >= 120.0 {
            // 1.5× the capacity and more: the backlog grows by 40+ a second.
            assert!(p["saturated"].is_string(), "{value} req/s: {p}");
            assert_eq!(p["passed"], false);
            assert_eq!(run["saturated"]["reason"], p["saturated"]);
            let measured = run["measured_seconds"].as_f64().unwrap();
            assert!(measured < 5.5, "{value} req/s ran {measured} s of 6");
            let ledger = &run["ledger"];
            assert!(ledger.is_object() && run["ledger_error"].is_null(), "{run}");
            saturated += 1;
        }
        if value <= 60.0 {
            assert!(p.get("saturated").is_none(), "{value} req/s: {p}");
            assert_eq!(p["passed"], true, "{value} req/s: {p}");
        }
    }
    assert!(saturated >= 2, "{search}");
    let notes = search["notes"].to_string();
    assert!(notes.contains("saturated"), "{notes}");
}

/// The classic pool failure, as in scenarios/pool-search.toml but with 2 s probes after a 1 s warm-up.
const POOL: &str = r#"
[[target]]
name = "relay"
[target.mock]
latency = "200ms"
handshake_delay = { dist = "uniform", min = "200ms", max = "500ms" }
[workload]
model = "constant"
rate = 200
duration = "2s"
warmup = "1s"
grace = "1s"
[client.timeouts]
pool = "2s"
[search]
knob = "max_connections"
range = [10, 100]
goal = "min"
objective = ["p99 < 500ms", "timeout_rate < 1%"]
step = "2s"
budget = "2m"
repeats = 1
"#;

#[test]
fn finds_the_smallest_pool_for_the_classic_failure() {
    let s = Session::new();
    let file = s.write("pool.toml", POOL);
    let started = Instant::now();
    let out = s.relaybench(&["search", file.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&s, "out");
    let search = &r["search"][0];
    let found = search["found"].as_f64().unwrap();
    assert_eq!(search["goal"], "min");
    assert_eq!(search["stopped_because"], "converged", "{search}");
    assert!(
        (40.0..=60.0).contains(&found),
        "found max_connections = {found}\n{search}"
    );
    // [lo, hi] for `min`: hi (the answer) meets the objective, lo = hi − 1 does not.
    assert_eq!(search["interval"][1].as_f64(), Some(found));
    assert_eq!(search["interval"][0].as_f64(), Some(found - 1.0));
    // The run at the answer meets the objective on its own figures.
    let probe = search["probes"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|p| p["value"].as_f64() == Some(found) && p["passed"] == true)
        .expect("a passing probe at the answer");
    let run = &r["runs"][probe["run_index"].as_u64().unwrap() as usize];
    assert_eq!(
        run["settings"]["max_connections"].as_u64(),
        Some(found as u64)
    );
    assert!(
        run["histograms"]["latency"]["summary"]["p99"]
            .as_f64()
            .unwrap()
            < 500.0
    );
    let timeouts: u64 = run["outcomes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("timeout_"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert!(timeouts * 100 < run["arrivals"].as_u64().unwrap());
    eprintln!(
        "pool: found max_connections = {found} after {} probes in {:.1} s",
        search["probes"].as_array().unwrap().len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_budget_is_kept_within_one_probe() {
    let s = Session::new();
    // A probe lasts at most 1 s step + 1 s grace + pauses (3 s): a 5 s budget fits one, not two more.
    let file = s.write(
        "budget.toml",
        &CAPACITY
            .replace("step = \"2s\"", "step = \"1s\"")
            .replace("warmup = \"500ms\"", "warmup = \"0s\"")
            .replace("budget = \"2m\"", "budget = \"5s\""),
    );
    let started = Instant::now();
    let out = s.relaybench(&["search", file.to_str().unwrap(), "--out", "out", "-q"]);
    let took = started.elapsed();
    let r = results(&s, "out");
    let search = &r["search"][0];
    assert_eq!(search["stopped_because"], "budget", "{}", text(&out));
    assert!(!search["probes"].as_array().unwrap().is_empty());
    assert!(
        search["elapsed_seconds"].as_f64().unwrap() <= 5.0,
        "{search}"
    );
    assert!(took < Duration::from_secs(5 + 3 + 2), "{took:?}");
    // The rate 20 passed and 160 was never reached: the answer so far, no failing value seen.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped: budget"));
}

#[test]
fn ctrl_c_keeps_the_probes_done_and_exits_130() {
    let s = Session::new();
    let file = s.write(
        "long.toml",
        &CAPACITY.replace("step = \"2s\"", "step = \"30s\""),
    );
    let mut child = s
        .command(&["search", file.to_str().unwrap(), "--out", "out", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // SIGINT to this child only, by pid, as a terminal's Ctrl-C would.
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relaybench search did not stop within 20 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(code, Some(130), "{}", text(&out));
    let r = results(&s, "out");
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["search"][0]["stopped_because"], "interrupted");
    assert_eq!(
        r["runs"].as_array().unwrap().len(),
        1,
        "the interrupted probe's run is kept"
    );
}

#[test]
fn validate_prints_the_plan_with_worst_cases() {
    let s = Session::new();
    let file = s.write(
        "capacity.toml",
        &CAPACITY.replace(
            "[[target]]\nname = \"relay\"",
            "[[target]]\nname = \"relay\"\nmax_requests = 500",
        ),
    );
    let out = s.relaybench(&["search", file.to_str().unwrap(), "--validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "search: max rate in [20 req/s, 160 req/s]",
        "worst case per target:",
        "probes",
        "guard max_requests = 500 over the whole search",
    ] {
        assert!(plan.contains(expected), "{expected} not in:\n{plan}");
    }
    // Flags override the table.
    let out = s.relaybench(&[
        "search",
        file.to_str().unwrap(),
        "--validate",
        "--range",
        "5,50",
        "--objective",
        "p(99.9) < 1s",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("[5 req/s, 50 req/s], objective: p(99.9) < 1s"),
        "{plan}"
    );
}

#[test]
fn bad_search_tables_name_file_line_and_key() {
    let s = Session::new();
    let cases: [(&str, &str, &str); 8] = [
        (
            "budget = \"2m\"",
            "budget = \"2s\"",
            "cannot fit a single probe",
        ),
        ("knob = \"rate\"", "knob = \"users\"", "search.knob"),
        (
            "knob = \"rate\"",
            "knob = \"max_conections\"",
            "is not a knob",
        ),
        ("\"p99 < 300ms\"", "\"p99 < fast\"", "search.objective"),
        ("range = [20, 160]", "range = [160, 20]", "search.range"),
        (
            "resolution = \"5%\"",
            "resolution = \"5%\"\nsurprise = 1",
            "unknown field",
        ),
        (
            "knob = \"rate\"\nrange = [20, 160]",
            "knob = \"timeouts.pool\"\nrange = [100, 5000]",
            "with units",
        ),
        (
            "[search]",
            "[matrix]\nmax_connections = [1, 2]\n[search]",
            "[matrix]",
        ),
    ];
    for (from, to, says) in cases {
        let file = s.write("bad.toml", &CAPACITY.replace(from, to));
        let out = s.relaybench(&["search", file.to_str().unwrap(), "--validate"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {}", text(&out));
        assert!(err.contains("bad.toml:"), "{to}: {err}");
        assert!(err.contains(says), "{to}: expected `{says}` in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Without a [search] table and without flags there is nothing to search.
    let plain = s.write("plain.toml", CAPACITY.split("[search]").next().unwrap());
    let out = s.relaybench(&["search", plain.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [search] table"));
}

#[test]
fn max_requests_counts_over_the_whole_search() {
    let s = Session::new();
    let file = s.write(
        "guarded.toml",
        &CAPACITY
            .replace(
                "[[target]]\nname = \"relay\"",
                "[[target]]\nname = \"relay\"\nmax_requests = 30",
            )
            .replace("step = \"2s\"", "step = \"1s\"")
            .replace("warmup = \"500ms\"", "warmup = \"0s\""),
    );
    let out = s.relaybench(&["search", file.to_str().unwrap(), "--out", "out", "-q"]);
    let r = results(&s, "out");
    let search = &r["search"][0];
    assert_eq!(search["stopped_because"], "spend_guard", "{}", text(&out));
    let sent: u64 = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["attempts"].as_u64().unwrap() + run["warmup_attempts"].as_u64().unwrap())
        .sum();
    assert!(
        sent <= 30,
        "{sent} attempts sent over the search; the guard is 30"
    );
    assert!(
        r["runs"].as_array().unwrap().len() >= 2,
        "the guard spans probes"
    );
}
