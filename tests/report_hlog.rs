//! Each run's `.hlog` reads back through the hdrhistogram crate's interval log reader to the same histograms and percentiles as results.json.

use hdrhistogram::serialization::{
    interval_log::{IntervalLogIterator, LogEntry},
    Deserializer,
};
use relaybench::report::{self, fixture};
use std::time::Duration;

#[test]
fn hlog_round_trips_to_the_same_percentiles() {
    let results = fixture::comparison();
    let tmp = tempfile::tempdir().unwrap();
    let w = report::write_all(&results, tmp.path()).unwrap();
    assert_eq!(w.hlogs.len(), results.runs.len());
    for run in &results.runs {
        let path = tmp.path().join(report::hlog::file_name(run));
        let bytes = std::fs::read(&path).unwrap();
        let mut start_time = None;
        let mut seen = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            match entry.unwrap_or_else(|e| panic!("{}: {e:?}", path.display())) {
                LogEntry::StartTime(t) => start_time = Some(t),
                LogEntry::BaseTime(_) => {}
                LogEntry::Interval(i) => {
                    let name = i
                        .tag()
                        .map_or("latency".to_string(), |t| t.as_str().to_string());
                    let blob = base64_decode(i.encoded_histogram());
                    let h: hdrhistogram::Histogram<u64> = Deserializer::new()
                        .deserialize(&mut blob.as_slice())
                        .unwrap();
                    let original = run.histograms[&name].histogram().unwrap();
                    assert_eq!(h, original, "{} {name}", run.name);
                    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                        assert_eq!(h.value_at_quantile(q), original.value_at_quantile(q));
                    }
                    assert_eq!(i.start_timestamp(), Duration::ZERO);
                    assert_eq!(i.duration(), Duration::from_secs_f64(run.measured_seconds));
                    assert!(
                        (i.max() - original.max() as f64 / 1000.0).abs() < 0.001,
                        "max in ms"
                    );
                    seen.push(name);
                }
            }
        }
        // 2024-05-01T12:00:00Z
        assert_eq!(start_time, Some(Duration::from_secs(1_714_564_800)));
        let mut expected: Vec<String> = run.histograms.keys().cloned().collect();
        expected.sort();
        assert_eq!(seen[0], "latency", "latency comes first, untagged");
        seen.sort();
        assert_eq!(seen, expected);
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
