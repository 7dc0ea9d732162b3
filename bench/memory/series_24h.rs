//! A 24 h run's series, simulated: 86,400 seconds of one-second buckets (1,000 requests each,
//! two workers, one of them handing its buckets in late) fed through the `SeriesCollector`,
//! then every output written as `relaybench run` would. Prints the collector's largest
//! footprint, the series' span and points, and the sizes of results.json and report.html.
//! Run: `cargo run --release --example series_24h` (bench/memory/run.sh does).

use rand::{rngs::SmallRng, Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use relaybench::{
    metrics::{
        histogram::{new_histogram, StoredHistogram},
        Outcome, SecondBucket, SeriesCollector,
    },
    report,
};

const SECONDS: u64 = 86_400;
const PER_SECOND: u64 = 1_000;

fn main() {
    let started = std::time::Instant::now();
    let mut rng = SmallRng::seed_from_u64(24);
    let latency = LogNormal::new((40_000f64).ln(), 0.5).expect("valid lognormal");
    let mut collector = SeriesCollector::default();
    let mut whole = new_histogram();
    let mut most_live = 0;
    let mut held_back: Option<SecondBucket> = None;
    for s in 0..SECONDS {
        let mut a = SecondBucket::new(s);
        let mut b = SecondBucket::new(s);
        for i in 0..PER_SECOND {
            // A burst every 10 minutes: a tenth of a second's requests wait 2 s more.
            let stall = if s % 600 == 0 && i < PER_SECOND / 10 {
                2_000_000
            } else {
                0
            };
            let v = latency.sample(&mut rng) as u64 + stall;
            let outcome = if rng.gen_bool(0.001) {
                Outcome::Status(503)
            } else {
                Outcome::Ok
            };
            let _ = relaybench::metrics::histogram::record_clamped(&mut whole, v);
            if i % 2 == 0 {
                a.add(outcome, v, outcome == Outcome::Ok)
            } else {
                b.add(outcome, v, outcome == Outcome::Ok)
            }
        }
        collector.add(a);
        // The second worker's bucket of this second arrives after the first's next one.
        if let Some(late) = held_back.replace(b) {
            collector.add(late);
        }
        collector.sample(s, 40, 64);
        most_live = most_live.max(collector.live_histograms());
    }
    collector.add(held_back.take().expect("the last bucket"));
    let series = collector.finish();
    let mut results = report::fixture::comparison();
    results.runs.truncate(1);
    let run = &mut results.runs[0];
    run.series = series;
    run.measured_seconds = SECONDS as f64;
    run.scheduled = SECONDS * PER_SECOND;
    run.rps = PER_SECOND as f64;
    run.histograms
        .insert("latency".into(), StoredHistogram::micros(&whole));
    let dir = std::env::temp_dir().join(format!("series_24h-{}", std::process::id()));
    let written = report::write_all(&results, &dir).expect("report written");
    let size = |name: &str| {
        std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let run = &results.runs[0];
    println!(
        "24 h at {PER_SECOND} req/s: {} points of {} s; at most {} dense histograms held at once",
        run.series.len(),
        run.series[0].span,
        most_live
    );
    println!(
        "results.json {:.2} MB, report.html {:.2} MB, summary.md {} bytes, {} PNG charts (written in {:.1} s)",
        size("results.json") as f64 / 1e6,
        size("report.html") as f64 / 1e6,
        size("summary.md"),
        written.pngs.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
