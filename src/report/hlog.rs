//! One `.hlog` per run in HdrHistogram's interval log format, readable by `HistogramLogProcessor` and the hdrhistogram crate's `IntervalLogIterator`.
//!
//! results.json keeps one histogram per metric for the whole measured window (per-second data is
//! kept as percentiles only), so each metric becomes one interval covering the run. Latency is
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

/// Parses the `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` timestamps relaybench writes.
/// Hand-written because the `time` crate's parser is behind a feature this crate does not enable.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(|c| c.is_ascii_digit()).count();
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
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
