//! `--ui`: the live dashboard in headless Chromium during a run (figures change each second, end equal to results.json, no console errors), `/metrics` parsed by Python's `prometheus_client` and equal to the ledger at the end, and a busy address refused with exit code 2.
//!
//! The browser test needs Debian's `chromium` (or `RELAYBENCH_CHROMIUM`) unless
//! `RELAYBENCH_SKIP_BROWSER=1`; the metrics test needs `python3 -m pip install prometheus_client`
//! (scripts/test.sh installs both).

mod util;

use serde_json::Value;
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use util::Session;

/// A 30 %-fault mock (500s, 503s, resets) with streams, 100 req/s for 4 s.
const SCENARIO: &str = r#"
name = "live"
[[target]]
name = "mock"
model = "gpt-4o-mini"
[target.mock]
latency = "20ms"
errors = { "500" = 0.15, "503" = 0.1 }
[target.mock.faults]
reset = 0.05
[target.mock.stream]
ttft = "30ms"
[workload]
model = "constant"
rate = 100
duration = "4s"
grace = "2s"
[[workload.mix]]
kind = "chat"
stream = true
max_tokens = 8
[client.retry]
max_retries = 1
"#;

/// Processes a test started, ended (killed and reaped) when it goes out of scope, panics included.
struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `relaybench run` with `--ui` (serving the report after the run until killed); returns the dashboard URL.
fn start_run(s: &Session, reaper: &mut Reaper, scenario: &str) -> String {
    start_ui(s, reaper, "run", "live.toml", scenario)
}

/// Writes `scenario` to `file` and starts `relaybench COMMAND file --out out --ui`; returns the dashboard URL once printed.
fn start_ui(s: &Session, reaper: &mut Reaper, command: &str, file: &str, scenario: &str) -> String {
    let scenario = s.write(file, scenario);
    let stderr = s.path("relaybench.stderr");
    let child = s
        .command(&[command, scenario.to_str().unwrap(), "--out", "out", "--ui"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("relaybench starts");
    reaper.0.push(child);
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&stderr).unwrap_or_default();
        if let Some(rest) = text.split("live dashboard: ").nth(1) {
            return rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no dashboard URL printed:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GET `url` (plain HTTP on loopback); returns (status line, body).
fn get(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut conn = TcpStream::connect(host).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // Read up to Content-Length when there is one: Chromium's DevTools server keeps the connection open.
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut buf).unwrap();
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes);
        let done = text.split_once("\r\n\r\n").and_then(|(head, body)| {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            })?;
            (body.len() >= length).then_some(())
        });
        if n == 0 || done.is_some() {
            break;
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// Polls `/board.json` until the board says the plan finished (the report is then written).
fn wait_finished(url: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, body) = get(&format!("{url}board.json"));
        let board: Value = serde_json::from_str(&body).unwrap();
        if board["finished"] == true {
            return board;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run did not finish: {board}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn results(s: &Session) -> Value {
    serde_json::from_str(&std::fs::read_to_string(s.path("out/results.json")).unwrap()).unwrap()
}

/// `/metrics` parsed by `prometheus_client`'s OpenMetrics parser: `[[name, labels, value], ...]` per sample.
fn parse_openmetrics(text: &str, dir: &Path) -> Vec<(String, Value, f64)> {
    let file = dir.join("metrics.txt");
    std::fs::write(&file, text).unwrap();
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "prometheus_client rejected /metrics (install it with `python3 -m pip install prometheus_client`):\n{}\n--- metrics\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, Value, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    samples
}

fn sample(
    samples: &[(String, Value, f64)],
    run: &str,
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<f64> {
    samples
        .iter()
        .find(|(n, labels, _)| {
            n == name && labels["run"] == run && label.is_none_or(|(k, v)| labels[k] == v)
        })
        .map(|s| s.2)
}

#[test]
fn metrics_parse_as_openmetrics_and_end_equal_to_the_ledger() {
    let s = Session::new();
    let mut reaper = Reaper(Vec::new());
    // Two runs of 2 s (a matrix), so that each run's series is checked against its own figures.
    let scenario = format!("{SCENARIO}\n[matrix]\nmax_connections = [20, 50]\n")
        .replace("duration = \"4s\"", "duration = \"2s\"");
    let url = start_run(&s, &mut reaper, &scenario);
    let first = "mock/max_connections=20";

    // During the run: parses, and counts something.
    let started = Instant::now();
    let during = loop {
        let (status, text) = get(&format!("{url}metrics"));
        assert!(status.contains("200"), "{status}");
        let samples = parse_openmetrics(&text, s.dir.path());
        let ok = sample(
            &samples,
            first,
            "relaybench_requests_total",
            Some(("outcome", "ok")),
        );
        if ok.unwrap_or(0.0) > 0.0 {
            break samples;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no request counted:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(sample(&during, first, "relaybench_in_flight", None).is_some());

    wait_finished(&url);
    let (_, text) = get(&format!("{url}metrics"));
    let samples = parse_openmetrics(&text, s.dir.path());
    let results = results(&s);
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        let name = run["name"].as_str().unwrap();
        let outcomes = run["outcomes"].as_object().unwrap();
        assert!(
            outcomes.len() >= 3,
            "a 30 %-fault run has several outcomes: {outcomes:?}"
        );
        for (key, n) in outcomes {
            assert_eq!(
                sample(
                    &samples,
                    name,
                    "relaybench_requests_total",
                    Some(("outcome", key))
                ),
                Some(n.as_f64().unwrap()),
                "{name}: outcome {key}\n{text}"
            );
        }
        let exported: f64 = samples
            .iter()
            .filter(|(n, l, _)| n == "relaybench_requests_total" && l["run"] == name)
            .map(|s| s.2)
            .sum();
        let scheduled = run["scheduled"].as_f64().unwrap();
        assert_eq!(exported, scheduled, "{name}: Σ outcomes = scheduled");
        let measured = &run["ledger"]["measured"];
        let arrivals = measured["arrivals"].as_f64().unwrap();
        let dropped = measured["dropped"].as_f64().unwrap();
        let refused = measured["refused_by_guard"].as_f64().unwrap();
        assert_eq!(
            scheduled,
            arrivals - dropped - refused,
            "{name}: the ledger balances"
        );
        assert_eq!(
            sample(&samples, name, "relaybench_attempts_total", None),
            run["attempts"].as_f64()
        );
        let retries: u64 = run["retries"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert!(retries > 0, "{name}: the faults cause retries");
        assert_eq!(
            sample(&samples, name, "relaybench_retries_total", None),
            Some(retries as f64)
        );
        let cancelled = outcomes.get("cancelled").and_then(Value::as_f64);
        let timed = scheduled - cancelled.unwrap_or(0.0);
        let count = sample(&samples, name, "relaybench_latency_seconds_count", None);
        assert_eq!(count, Some(timed), "{name}");
        let inf = sample(
            &samples,
            name,
            "relaybench_latency_seconds_bucket",
            Some(("le", "+Inf")),
        );
        assert_eq!(inf, Some(timed), "{name}");
        assert_eq!(
            sample(&samples, name, "relaybench_ttft_seconds_count", None),
            outcomes["ok"].as_f64(),
            "{name}: one TTFT per ok stream"
        );
    }

    // After the run `/` is the report.
    let (status, page) = get(&url);
    assert!(status.contains("200"), "{status}");
    assert!(
        page.contains("<h1>relaybench — live</h1>"),
        "{}",
        page.chars().take(300).collect::<String>()
    );
    // The scenario file lies beside the report folder `out/`: it exists, and must not be served.
    assert!(s.path("live.toml").is_file());
    for outside in ["../live.toml", "%2e%2e/live.toml", "..%2flive.toml"] {
        let (status, _) = get(&format!("{url}{outside}"));
        assert!(
            !status.contains("200"),
            "no path outside the report folder: {outside} {status}"
        );
    }
}

#[test]
fn a_busy_address_is_a_usage_error() {
    let s = Session::new();
    let scenario = s.write("live.toml", SCENARIO);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = s.relaybench(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        "out",
        "--ui",
        &addr,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", util::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--ui {addr}: cannot listen there")),
        "{err}"
    );
    assert!(!s.path("out").exists(), "nothing ran");
    // And a scenario mistaken for an address says how to write it.
    let out = s.relaybench(&["run", "--ui", scenario.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", util::text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("put it before --ui"));
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// One page of headless Chromium driven over the DevTools protocol; console errors, uncaught exceptions and failed loads are collected.
struct Page {
    ws: Socket,
    next_id: u64,
    problems: Vec<String>,
}

impl Page {
    /// Starts Chromium (network off but for loopback) and attaches to its blank page.
    fn launch(bin: &Path, dir: &Path, reaper: &mut Reaper) -> Page {
        let stderr = dir.join("chromium.stderr");
        let child = Command::new(bin)
            // Anything but loopback would fail: the page must need nothing else.
            .args(util::HEADLESS_CHROMIUM)
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("chromium starts");
        reaper.0.push(child);
        let started = Instant::now();
        let browser = loop {
            let text = std::fs::read_to_string(&stderr).unwrap_or_default();
            if let Some(rest) = text.split("DevTools listening on ws://").nth(1) {
                break rest.split('/').next().unwrap().to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromium printed no DevTools address:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let ws_url = loop {
            let (_, body) = get(&format!("http://{browser}/json/list"));
            let targets: Value = serde_json::from_str(&body).unwrap();
            let page = targets
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str());
            if let Some(url) = page {
                break url.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no page target: {targets}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let (ws, _) = tungstenite::connect(ws_url.as_str()).expect("DevTools websocket");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        }
        let mut page = Page {
            ws,
            next_id: 0,
            problems: Vec::new(),
        };
        page.call("Runtime.enable", serde_json::json!({}));
        page.call("Log.enable", serde_json::json!({}));
        page.call("Page.enable", serde_json::json!({}));
        page
    }

    /// Sends a command and reads until its reply, noting the events that arrive meanwhile.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({"id": id, "method": method, "params": params});
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .unwrap();
        loop {
            let msg = self.ws.read().expect("DevTools reply");
            let Ok(text) = msg.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
            self.note(&v);
        }
    }

    fn note(&mut self, event: &Value) {
        let p = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.exceptionThrown") => self.problems.push(format!("exception: {p}")),
            Some("Runtime.consoleAPICalled")
                if matches!(p["type"].as_str(), Some("error" | "warning" | "assert")) =>
            {
                self.problems.push(format!("console: {p}"))
            }
            Some("Log.entryAdded")
                if matches!(p["entry"]["level"].as_str(), Some("error" | "warning")) =>
            {
                self.problems.push(format!("log: {}", p["entry"]))
            }
            _ => {}
        }
    }

    /// Evaluates `expr` (which returns a string) in the page.
    fn eval(&mut self, expr: &str) -> String {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expr, "returnByValue": true}),
        );
        r["result"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// The dashboard's figures for the run, read from the DOM.
const FIGURES: &str = r#"(() => {
  const f = k => { const e = document.querySelector('[data-run="mock/default"] [data-k="' + k + '"]'); return e ? e.textContent : null; };
  return JSON.stringify({finished: document.getElementById('status').dataset.finished === 'true',
    elapsed: f('elapsed'), requests: f('requests'), ok: f('ok'), latency: f('latency_run'), ttft: f('ttft_run'), errors: f('outcomes')});
})()"#;

/// Saves a PNG of the page under target/test-artifacts/live-ui/ (for people; nothing asserted on it).
fn screenshot(page: &mut Page, name: &str) {
    use base64::Engine;
    let shot = page.call(
        "Page.captureScreenshot",
        serde_json::json!({"format": "png"}),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap_or_default())
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/live-ui");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

fn number(text: &Value) -> u64 {
    text.as_str()
        .unwrap_or_default()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text}"))
}

#[test]
fn dashboard_updates_every_second_and_ends_on_the_results() {
    let Some(bin) = util::chromium() else { return };
    let s = Session::new();
    let mut reaper = Reaper(Vec::new());
    // The browser first, so that its start-up does not eat the run's seconds.
    let mut page = Page::launch(&bin, s.dir.path(), &mut reaper);
    let url = start_run(&s, &mut reaper, SCENARIO);
    page.call(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    page.call("Page.navigate", serde_json::json!({ "url": url }));

    let mut seen: Vec<Value> = Vec::new();
    let started = Instant::now();
    let last = loop {
        std::thread::sleep(Duration::from_millis(1000));
        let figures: Value = serde_json::from_str(&page.eval(FIGURES)).unwrap();
        if figures["finished"] == true {
            break figures;
        }
        if !figures["requests"].is_null() {
            seen.push(figures);
            if seen.len() == 3 {
                screenshot(&mut page, "dashboard.png");
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never finished: {seen:?}"
        );
    };
    let mut counts: Vec<u64> = seen.iter().map(|f| number(&f["requests"])).collect();
    counts.dedup();
    assert!(
        counts.len() >= 3 && counts.windows(2).all(|w| w[0] < w[1]),
        "requests grow from second to second while running: {seen:#?}"
    );
    let run = &results(&s)["runs"][0];
    let outcomes = run["outcomes"].as_object().unwrap();
    let total: u64 = outcomes.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(number(&last["requests"]), total, "{last}");
    assert_eq!(
        number(&last["ok"]),
        outcomes["ok"].as_u64().unwrap(),
        "{last}"
    );
    for key in outcomes.keys() {
        assert!(
            last["errors"].as_str().unwrap().contains(key.as_str()),
            "outcome {key} shown: {last}"
        );
    }
    let p99 = run["histograms"]["latency"]["summary"]["p99"]
        .as_f64()
        .unwrap();
    let shown: f64 = last["latency"]
        .as_str()
        .unwrap()
        .split(" / ")
        .nth(1)
        .unwrap()
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    assert!(
        (shown - p99).abs() <= 0.051,
        "final p99 {p99} ms shown: {last}"
    );
    assert!(last["ttft"].as_str().unwrap().ends_with(" ms"), "{last}");
    screenshot(&mut page, "dashboard-finished.png");
    assert!(
        page.problems.is_empty(),
        "console problems:\n{}",
        page.problems.join("\n")
    );
}

/// A search whose probes (1 s each) the dashboard lists as they complete.
const SEARCH: &str = r#"
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
duration = "1s"
grace = "1s"
[client]
retry = { max_retries = 0 }
[search]
knob = "rate"
range = [20, 160]
objective = ["p99 < 300ms", "error_rate < 0.5%"]
step = "1s"
budget = "1m"
resolution = "40%"
repeats = 0
"#;

#[test]
fn search_probes_appear_as_they_complete() {
    let s = Session::new();
    let mut reaper = Reaper(Vec::new());
    let url = start_ui(&s, &mut reaper, "search", "search.toml", SEARCH);
    let started = Instant::now();
    let mut probes_seen = Vec::new();
    let board = loop {
        let (_, body) = get(&format!("{url}board.json"));
        let board: Value = serde_json::from_str(&body).unwrap();
        probes_seen.push(board["probes"].as_array().unwrap().len());
        if board["finished"] == true {
            break board;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{board}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let search = &results(&s)["search"][0];
    let probes = search["probes"].as_array().unwrap();
    assert!(probes.len() >= 2, "{search}");
    probes_seen.dedup();
    assert!(
        probes_seen.len() > 2,
        "probes appeared one by one, not all at the end: {probes_seen:?}"
    );
    let shown = board["probes"].as_array().unwrap();
    assert_eq!(shown.len(), probes.len());
    for (shown, probe) in shown.iter().zip(probes) {
        assert_eq!(shown["passed"], probe["passed"], "{shown} vs {probe}");
        let value = probe["value"].as_f64().unwrap();
        assert!(
            shown["value"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{value}")),
            "{shown} vs {probe}"
        );
    }
    // One board entry per probe run, each ending on its run's exact outcomes.
    let runs = results(&s)["runs"].as_array().unwrap().clone();
    let entries = board["runs"].as_array().unwrap();
    assert_eq!(entries.len(), runs.len());
    for (entry, run) in entries.iter().zip(&runs) {
        assert_eq!(entry["name"], run["name"]);
        assert_eq!(entry["outcomes"], run["outcomes"]);
    }
}

#[test]
fn ui_exit_ends_the_process_with_the_run() {
    let s = Session::new();
    let scenario = s.write("live.toml", SCENARIO);
    let started = Instant::now();
    let out = s.relaybench(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        "out",
        "--set",
        "workload.duration=\"1s\"",
        "--ui",
        "--ui-exit",
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        util::text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("live dashboard: http://127.0.0.1:"), "{err}");
    assert!(!err.contains("until Ctrl-C"), "{err}");
    assert!(s.path("out/report.html").exists());
    assert!(started.elapsed() < Duration::from_secs(30));
}
