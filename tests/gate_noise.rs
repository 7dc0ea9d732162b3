//! The baseline gate against bursty noise: runs of one scenario whose upstream stalls at random are not flagged as regressions, and a true 20 % slowdown is.
//!
//! Each run gets its own stalls (a seeded Poisson process of 60–180 ms stalls, three per
//! second on average), as two CI runs on a shared machine get different bursts of noise.
//! Requests that arrive during a stall are slow together, so a run's percentiles and mean
//! move with its stalls far more than resampling single requests can see: judged with the
//! per-request intervals, the same runs gave 6–7 false regressions in 20 pairs (mostly
//! `mean`, also p50 and p(99.9)); with the block bootstrap, none.
//!
//! `NOISE_DUMP=DIR` keeps every run's results; `NOISE_REPLAY=DIR` judges those runs again
//! instead of running (to compare methods on the same data).

mod util;

use relaybench::{
    gate::{
        compare,
        compare::{parse_metrics, Change},
        CompareOptions,
    },
    metrics::ResultsFile,
};
use std::path::Path;

/// Requests per second of each run (moderate: tests run unoptimized).
const RATE: u32 = 300;
/// Measured seconds per run: enough one-second blocks for the bootstrap, 16 runs in ~2.5 min.
const SECONDS: f64 = 8.0;
/// Warm-up before each run's measurement.
const WARMUP: f64 = 0.5;
/// Median upstream latency (ms); large beside the unoptimized client's own milliseconds.
const MEDIAN_MS: f64 = 200.0;
/// Stalls per second on average, and the range of their lengths (ms).
const STALLS: (f64, f64, f64) = (3.0, 60.0, 180.0);
/// Runs per scale: pairs of one scale are null pairs, pairs across scales have a true 20 % slowdown.
const RUNS: usize = 8;
/// Pairs judged each way, as the requirement states them.
const PAIRS: usize = 20;

/// Start lag (p99) beyond which the host itself stalled the generator: other jobs on a shared
/// runner, not the injected stalls (which delay answers, never starts).
const HOST_STALL_MS: f64 = 50.0;

/// Runs one scenario in-process and returns its results file.
async fn run(text: &str) -> ResultsFile {
    let path = Path::new("noise.toml");
    let s = relaybench::scenario::parse(path, text).expect("scenario parses");
    let plan = relaybench::scenario::Plan::new("noise".into(), &s);
    let stop = relaybench::load::Stop::new();
    relaybench::runner::execute(&s, path, &plan, &stop, None, |_, _| {})
        .await
        .expect("run")
}

/// A run of `text`, run again (at most twice) when the host stalled the generator: such a
/// run's p99 measures the machine, and no method can see a 20 % change through it (it is
/// judged "not significant", never a false regression — but it would count as a miss).
async fn undisturbed(text: &str) -> ResultsFile {
    let mut r = run(text).await;
    for _ in 0..2 {
        let lag = r.runs[0].summary("start_lag").map_or(0.0, |s| s.p99);
        if lag <= HOST_STALL_MS {
            break;
        }
        eprintln!("host stall (start lag p99 {lag:.0} ms): run again");
        r = run(text).await;
    }
    r
}

/// A splitmix64 step: each run's stalls, reproducible without a dependency.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1).
fn unit(state: &mut u64) -> f64 {
    (next(state) >> 11) as f64 / (1u64 << 53) as f64
}

/// The scenario of one run: a lognormal upstream with stalls drawn from `seed`; `scale`
/// multiplies every latency (1.2 = a 20 % slower upstream).
fn scenario(seed: u64, scale: f64) -> String {
    let (per_second, shortest, longest) = STALLS;
    let mut state = seed;
    let mut text = format!(
        "[[target]]\nname = \"m\"\n[target.mock]\nseed = {seed}\nlatency = {{ dist = \"lognormal\", median = \"{:.3}ms\", sigma = 0.15 }}\n",
        MEDIAN_MS * scale
    );
    let gap = |state: &mut u64| -(1.0 - unit(state)).ln() / per_second * 1000.0;
    let mut start = gap(&mut state);
    while start < (WARMUP + SECONDS) * 1000.0 {
        let length = shortest + unit(&mut state) * (longest - shortest);
        // A request that arrives during a stall waits for its end: uniformly up to its length.
        text.push_str(&format!(
            "[[target.mock.schedule]]\nstart = \"{start:.0}ms\"\nend = \"{:.0}ms\"\nlatency = {{ dist = \"uniform\", min = \"{:.3}ms\", max = \"{:.3}ms\" }}\n",
            start + length,
            MEDIAN_MS * scale,
            (MEDIAN_MS + length) * scale,
        ));
        start += length + gap(&mut state);
    }
    text.push_str(&format!(
        "[workload]\nmodel = \"constant\"\nrate = {RATE}\nduration = \"{:.0}ms\"\nwarmup = \"{:.0}ms\"\ngrace = \"2s\"\n[client]\nmax_connections = 400\nmax_idle_connections = 400\n",
        SECONDS * 1000.0,
        WARMUP * 1000.0
    ));
    text
}

/// `RUNS` runs of one scale (or the same runs read back from `NOISE_REPLAY`).
async fn runs(group: &str, seed: u64, scale: f64) -> Vec<ResultsFile> {
    let mut out = Vec::new();
    for i in 0..RUNS {
        let file = |dir: &str| format!("{dir}/{group}-{i}.json");
        let r = match std::env::var("NOISE_REPLAY") {
            Ok(dir) => serde_json::from_str(&std::fs::read_to_string(file(&dir)).unwrap()).unwrap(),
            Err(_) => undisturbed(&scenario(seed + i as u64, scale)).await,
        };
        if let Ok(dir) = std::env::var("NOISE_DUMP") {
            std::fs::write(file(&dir), serde_json::to_string(&r).unwrap()).unwrap();
        }
        out.push(r);
    }
    out
}

/// Pairs (i, j) with `from` ≤ j − i ≤ 2: near neighbours, so that every run is used a few times.
fn pairs(from: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..RUNS).flat_map(move |i| (i + from..(i + 3).min(RUNS)).map(move |j| (i, j)))
}

/// What one attempt found: false regressions (pair: what) and how many slowdowns were caught.
async fn attempt(seed: u64) -> (Vec<String>, usize) {
    let base = runs("base", seed, 1.0).await;
    let slow = runs("slow", seed + 1_000, 1.2).await;
    let opts = CompareOptions {
        // Far below the 20 % to find, so that the interval decides. It is not zero: another
        // job starting on the host moves a whole run by 1–2 %, which no interval computed
        // from inside a run can see — that is what the tolerance is for.
        tolerance: 0.02,
        metrics: parse_metrics("p50,p90,p99,p(99.9),mean").unwrap(),
        ..CompareOptions::default()
    };
    let mut false_regressions = Vec::new();
    let null = pairs(1)
        .map(|p| (&base, p))
        .chain(pairs(1).map(|p| (&slow, p)));
    for (group, (i, j)) in null.take(PAIRS) {
        let c = compare(&group[i], &group[j], &opts).unwrap();
        let found: Vec<String> = c.regressions().map(|r| r.describe()).collect();
        if !found.is_empty() {
            false_regressions.push(format!("runs {i} and {j}: {}", found.join("; ")));
        }
    }
    let mut caught = 0;
    for (i, j) in pairs(0).take(PAIRS) {
        let c = compare(&base[i], &slow[j], &opts).unwrap();
        let p99 = c.rows.iter().find(|r| r.metric.name() == "p(99)").unwrap();
        eprintln!(
            "base {i} vs slow {j}: {} — {}",
            p99.describe(),
            p99.change.label()
        );
        caught += usize::from(p99.change == Change::Regression);
    }
    (false_regressions, caught)
}

/// One test, runs strictly in sequence: runs in parallel would add noise of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_are_not_regressions_and_a_20_percent_slowdown_is() {
    // At 99 % confidence and 5 latency metrics, about one pair in 30 is flagged by chance;
    // a second attempt on fresh runs separates that from a method that is too sure of itself
    // (the per-request intervals fail both: 6–7 false regressions each time).
    let mut failures = Vec::new();
    for seed in [1_000, 50_000] {
        let (false_regressions, caught) = attempt(seed).await;
        eprintln!(
            "{} false regression(s) in {PAIRS} pairs of one scenario: {false_regressions:#?}\n20 % slower p99 caught in {caught} of {PAIRS} pairs",
            false_regressions.len()
        );
        if false_regressions.len() <= 1 && caught >= PAIRS * 9 / 10 {
            return;
        }
        failures.push((false_regressions, caught));
        if std::env::var("NOISE_REPLAY").is_ok() {
            break;
        }
    }
    panic!("every attempt failed (false regressions, slowdowns caught of {PAIRS}): {failures:#?}");
}
