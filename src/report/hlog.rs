//! One `.hlog` per run in HdrHistogram's interval log format, readable by `HistogramLogProcessor` and the hdrhistogram crate's `IntervalLogIterator`.
//!
//! Each metric becomes one interval covering the run, from the whole-window histogram in
//! results.json (the series' per-second latency histograms keep only 2 significant digits,
//! so they are not written as intervals). Latency is
//! written untagged — the interval HdrHistogram's tools read by default — and the other metrics
//! as tagged intervals (`Tag=ttft`, ...). Values are µs (tokens/s histograms: milli-tokens/s);
//! the max column is divided by 1000, i.e. in ms, as `#[MaxValueDivisor]` records.

use crate::metrics::{ResultsFile, RunResult};
use hdrhistogram::serialization::{
    interval_log::{IntervalLogWriterBuilder, Tag},
    V2DeflateSerializer,
};
use std::time::{Duration, SystemTime};

/// The `.hlog` text of one run.
pub fn render(results: &ResultsFile, run: &RunResult) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment(&format!(
            "relaybench {} — scenario `{}`, run `{}`",
            results.tool.version,
            one_line(&results.scenario.name),
            one_line(&run.name)
        ))
        .add_comment("latency untagged; other metrics tagged; values in microseconds")
        .with_max_value_divisor(1000.0);
    if let Some(start) = parse_rfc3339(&results.started_at) {
        builder.with_start_time(start).with_base_time(start);
    }
    let mut writer = builder
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| format!("writing the .hlog of `{}`: {e}", run.name))?;
    let length = Duration::from_secs_f64(run.measured_seconds.max(0.0));
    // Latency first and untagged; the rest in name order.
    let mut names: Vec<&String> = run.histograms.keys().collect();
    names.sort_by_key(|n| (n.as_str() != "latency", n.as_str()));
    for name in names {
        let h = run.histograms[name]
            .histogram()
            .map_err(|e| format!("run `{}`, histogram `{name}`: {e}", run.name))?;
        let tag = if name == "latency" {
            None
        } else {
            Tag::new(name)
        };
        writer
            .write_histogram(&h, Duration::ZERO, length, tag)
            .map_err(|e| format!("writing the .hlog of `{}`: {e}", run.name))?;
    }
    Ok(out)
}

/// A file name for a run's log: the run name with anything but `[A-Za-z0-9._-]` replaced by `_`.
pub fn file_name(run: &RunResult) -> String {
    let stem: String = run
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.hlog")
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Parses the RFC 3339 timestamps relaybench writes.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_timestamps_we_write() {
        let t = parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_714_564_800
        );
        let t = parse_rfc3339("2024-05-01T14:00:00.250+02:00").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
            1_714_564_800_250
        );
        assert!(parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn file_names_are_safe() {
        let mut run = crate::report::fixture::comparison().runs.remove(0);
        run.name = "../a b/c".into();
        assert_eq!(file_name(&run), ".._a_b_c.hlog");
    }
}
