//! Merging the results files of one sharded scenario into one file, exactly where exactness is possible.
//!
//! What is exact: every HDR histogram is the sum of the shards' histograms (so every merged
//! percentile is the percentile of the union of all shards' requests); outcome, attempt, retry,
//! late/dropped, ledger, token and pool counters and costs are sums; the measured window runs from the
//! first shard's end of warm-up to the last shard's last request (wall clock), and `rps` is the
//! merged count over that window.
//!
//! What is not, and says so:
//! * pool peaks (`peak_open`, `peak_waiting`) are sums of per-shard peaks — an upper bound of the
//!   true simultaneous peak, since shards need not peak in the same instant;
//! * the series is aligned by wall-clock second (each shard's `load_started_unix_ms`, rounded
//!   to the nearest second; a downsampled point goes to the span its start falls in): counts
//!   and gauges are summed and the points' latency histograms add, so per-point percentiles
//!   are exact — except when a shard's file predates per-point histograms, where they are the
//!   maximum across shards, an upper bound. Alignment assumes the shards' clocks agree (NTP),
//!   as any wall-clock comparison across machines does;
//! * each shard has its own circuit breaker: merged `breaker_events` are all shards' events on
//!   one time axis;
//! * `host` is the first shard's machine; `thresholds` are dropped (run the gate on the merged file).

use super::split::scenario_hash;
use crate::{
    client::PoolStats,
    metrics::{
        histogram::{decode, encode, Summary},
        lengths::{Sessions, TokenLengths, TurnStats},
        results::ShardInfo,
        BreakerEvent, ResultsFile, RunResult, SeriesPoint, StoredHistogram,
    },
    scenario::Scenario,
};
use std::collections::BTreeMap;

/// Why shard files cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no results files to merge")]
    NoInputs,
    /// A file without a `shard` label.
    #[error("{file}: not a shard's results (no `shard` field); write shard results with `relaybench run SCENARIO --shard I/N`")]
    NotAShard {
        /// The file.
        file: String,
    },
    /// A file that is itself a merge.
    #[error("{file}: already a merged file; merge the shard files themselves")]
    AlreadyMerged {
        /// The file.
        file: String,
    },
    /// Shards of different splits.
    #[error("{file}: split into {count} shards, but {first} was split into {first_count}; merge the files of one `--shard I/N` set")]
    CountMismatch {
        /// The file.
        file: String,
        /// Its shard count.
        count: u32,
        /// The first file.
        first: String,
        /// The first file's shard count.
        first_count: u32,
    },
    /// Shards of different scenarios.
    #[error("{file}: ran a different scenario than {first} (scenario hash {hash} ≠ {first_hash}); shards merge only when they ran the same scenario with the same --set overrides")]
    ScenarioMismatch {
        /// The file.
        file: String,
        /// Its scenario hash.
        hash: String,
        /// The first file.
        first: String,
        /// The first file's scenario hash.
        first_hash: String,
    },
    /// Two files claim the same shard.
    #[error(
        "shard {index} appears twice: {first} and {second}; each shard index may be merged once"
    )]
    DuplicateIndex {
        /// The index.
        index: u32,
        /// The first file with it.
        first: String,
        /// The second file with it.
        second: String,
    },
    /// The shards ran different runs (targets or variants).
    #[error("{file}: holds runs [{runs}] but {first} holds [{first_runs}]; run every shard with the same --only")]
    RunsDiffer {
        /// The file.
        file: String,
        /// Its run names.
        runs: String,
        /// The first file.
        first: String,
        /// The first file's run names.
        first_runs: String,
    },
    /// The file contradicts itself.
    #[error("{file}: corrupted: {detail}")]
    Corrupted {
        /// The file.
        file: String,
        /// What is inconsistent.
        detail: String,
    },
}

/// A merged results file and what the caller should tell the user.
#[derive(Debug)]
pub struct Merged {
    /// The merged file (its `shard.missing_shards` lists any missing shard).
    pub results: ResultsFile,
    /// Shard indexes of the split that were not among the inputs.
    pub missing: Vec<u32>,
    /// Anything merged less exactly than usual (e.g. a file without load start times).
    pub warnings: Vec<String>,
}

/// One input: a file name (for messages) and its contents.
struct Part<'a> {
    file: &'a str,
    index: u32,
    results: &'a ResultsFile,
}

/// Merges shard results files. `inputs` are (file name for messages, parsed file).
pub fn merge(inputs: &[(String, ResultsFile)]) -> Result<Merged, MergeError> {
    let parts = check(inputs)?;
    let first = &parts[0];
    let shard = first
        .results
        .shard
        .as_ref()
        .expect("checked: every part has a shard");
    let count = shard.count;
    let merged_indexes: Vec<u32> = parts.iter().map(|p| p.index).collect();
    let missing: Vec<u32> = (0..count).filter(|i| !merged_indexes.contains(i)).collect();
    let whole: Option<Scenario> =
        serde_json::from_value(first.results.scenario.resolved.clone()).ok();
    let mut warnings = Vec::new();
    let mut runs = Vec::new();
    for (r, run) in first.results.runs.iter().enumerate() {
        let same: Vec<(&Part, &RunResult)> =
            parts.iter().map(|p| (p, &p.results.runs[r])).collect();
        runs.push(
            merge_run(&same, whole.as_ref(), &mut warnings)
                .map_err(|(file, detail)| MergeError::Corrupted { file, detail })?,
        );
        debug_assert_eq!(runs[r].name, run.name);
    }
    let started_at = parts
        .iter()
        .map(|p| p.results.started_at.clone())
        .min_by_key(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp_nanos())
                .unwrap_or(i128::MAX)
        })
        .unwrap_or_default();
    let results = ResultsFile {
        schema_version: first.results.schema_version,
        tool: first.results.tool.clone(),
        host: first.results.host.clone(),
        scenario: first.results.scenario.clone(),
        started_at,
        interrupted: parts.iter().any(|p| p.results.interrupted),
        // Recomputed from the merged runs, whose percentiles are exact.
        relay_overhead: crate::metrics::overhead::baseline_of(&first.results.scenario.resolved)
            .map(|b| crate::metrics::overhead::compute(b, &runs)),
        runs,
        thresholds: Vec::new(),
        search: Vec::new(),
        shard: Some(ShardInfo {
            index: None,
            count,
            scenario_hash: shard.scenario_hash.clone(),
            merged: merged_indexes,
            missing_shards: missing.clone(),
        }),
    };
    Ok(Merged {
        results,
        missing,
        warnings,
    })
}

/// Checks that the inputs are shards of one split of one scenario; returns them by index.
fn check(inputs: &[(String, ResultsFile)]) -> Result<Vec<Part<'_>>, MergeError> {
    let mut parts = Vec::new();
    for (file, results) in inputs {
        let shard = results
            .shard
            .as_ref()
            .ok_or_else(|| MergeError::NotAShard { file: file.clone() })?;
        let index = shard
            .index
            .ok_or_else(|| MergeError::AlreadyMerged { file: file.clone() })?;
        let corrupted = |detail: String| MergeError::Corrupted {
            file: file.clone(),
            detail,
        };
        if shard.count == 0 || index >= shard.count {
            return Err(corrupted(format!(
                "shard index {index} is not below the shard count {}",
                shard.count
            )));
        }
        if scenario_hash(&results.scenario.resolved) != shard.scenario_hash {
            return Err(corrupted(
                "scenario_hash does not match the scenario the file holds (edited or truncated?)"
                    .into(),
            ));
        }
        for run in &results.runs {
            let sum: u64 = run.outcomes.values().sum();
            if sum != run.scheduled {
                return Err(corrupted(format!(
                    "run `{}`: scheduled is {} but its outcomes add up to {sum}",
                    run.name, run.scheduled
                )));
            }
        }
        parts.push(Part {
            file,
            index,
            results,
        });
    }
    let Some(first) = parts.first() else {
        return Err(MergeError::NoInputs);
    };
    let first_shard = first.results.shard.as_ref().expect("checked above");
    let run_names = |r: &ResultsFile| {
        r.runs
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for p in &parts {
        let shard = p.results.shard.as_ref().expect("checked above");
        if shard.count != first_shard.count {
            return Err(MergeError::CountMismatch {
                file: p.file.into(),
                count: shard.count,
                first: first.file.into(),
                first_count: first_shard.count,
            });
        }
        if shard.scenario_hash != first_shard.scenario_hash {
            return Err(MergeError::ScenarioMismatch {
                file: p.file.into(),
                hash: shard.scenario_hash.clone(),
                first: first.file.into(),
                first_hash: first_shard.scenario_hash.clone(),
            });
        }
        if let Some(other) = seen.insert(p.index, p.file) {
            return Err(MergeError::DuplicateIndex {
                index: p.index,
                first: other.into(),
                second: p.file.into(),
            });
        }
        if run_names(p.results) != run_names(first.results) {
            return Err(MergeError::RunsDiffer {
                file: p.file.into(),
                runs: run_names(p.results),
                first: first.file.into(),
                first_runs: run_names(first.results),
            });
        }
    }
    parts.sort_by_key(|p| p.index);
    Ok(parts)
}

/// Merges one run across shards; errors are (file, detail).
fn merge_run(
    parts: &[(&Part, &RunResult)],
    whole: Option<&Scenario>,
    warnings: &mut Vec<String>,
) -> Result<RunResult, (String, String)> {
    let (_, base) = parts[0];
    let mut out = base.clone();
    // Offsets (ms) of each shard's load start from the earliest one: the common time axis.
    let starts: Option<Vec<u64>> = parts.iter().map(|(_, r)| r.load_started_unix_ms).collect();
    let origin = starts.as_ref().and_then(|s| s.iter().min().copied());
    let offsets: Vec<u64> = match (&starts, origin) {
        (Some(s), Some(o)) => s.iter().map(|t| t - o).collect(),
        _ => {
            warnings.push(format!(
                "run `{}`: a shard has no load start time; series aligned by second since each shard's start",
                base.name
            ));
            vec![0; parts.len()]
        }
    };
    out.load_started_unix_ms = origin;
    out.scheduled = sum(parts, |r| r.scheduled);
    out.attempts = sum(parts, |r| r.attempts);
    out.warmup_attempts = sum(parts, |r| r.warmup_attempts);
    out.late = sum(parts, |r| r.late);
    out.dropped = sum(parts, |r| r.dropped);
    out.arrivals = sum(parts, |r| r.arrivals);
    out.ledger = Default::default();
    for (_, r) in parts {
        out.ledger.measured.add(&r.ledger.measured);
        out.ledger.warmup.add(&r.ledger.warmup);
        out.ledger.in_flight_at_stop += r.ledger.in_flight_at_stop;
        out.ledger.waiting_for_pool_at_stop += r.ledger.waiting_for_pool_at_stop;
    }
    out.outcomes = sum_maps(parts.iter().map(|(_, r)| &r.outcomes));
    out.warmup_outcomes = sum_maps(parts.iter().map(|(_, r)| &r.warmup_outcomes));
    // Each shard's ledger was checked when it ran; the merge re-checks the sums.
    out.ledger_error = out
        .ledger
        .check(out.scheduled, out.warmup_outcomes.values().sum());
    out.retries = sum_maps(parts.iter().map(|(_, r)| &r.retries));
    out.histograms = merge_histograms(parts)?;
    out.series = merge_series(parts, &offsets);
    out.pool = merge_pool(parts.iter().map(|(_, r)| &r.pool));
    out.tokens.input = sum(parts, |r| r.tokens.input);
    out.tokens.output = sum(parts, |r| r.tokens.output);
    out.tokens.from_usage = sum(parts, |r| r.tokens.from_usage);
    out.tokens.counted = sum(parts, |r| r.tokens.counted);
    out.tokens.reasoning = sum(parts, |r| r.tokens.reasoning);
    out.tokens.tokenizer = sum(parts, |r| r.tokens.tokenizer);
    out.token_source = out.tokens.source().map(str::to_string);
    out.usage_audit = parts
        .iter()
        .filter_map(|(_, r)| r.usage_audit.clone())
        .reduce(|mut a, b| {
            a.merge(&b);
            a
        });
    merge_lengths(&mut out, parts).map_err(|e| {
        (
            parts[0].0.file.to_string(),
            format!("run `{}`: {e}", out.name),
        )
    })?;
    // Offsets start at 0 (the earliest shard), and every shard has the same warm-up, so the
    // window from the earliest end of warm-up to the latest last request is this maximum.
    out.measured_seconds = parts
        .iter()
        .zip(&offsets)
        .map(|((_, r), off)| *off as f64 / 1000.0 + r.measured_seconds)
        .fold(0.0, f64::max);
    out.rps = if out.measured_seconds > 0.0 {
        out.scheduled as f64 / out.measured_seconds
    } else {
        0.0
    };
    out.target_rps = match whole {
        Some(s) if s.workload.is_open() => Some(s.workload.pacer().mean_rate()),
        _ => parts
            .iter()
            .filter_map(|(_, r)| r.target_rps)
            .reduce(|a, b| a + b),
    };
    if let Some(s) = whole {
        out.load = format!("{}; {} shards", s.workload.describe(), shard_count(parts));
    }
    out.cost_usd = parts
        .iter()
        .filter_map(|(_, r)| r.cost_usd)
        .reduce(|a, b| a + b);
    let stopped: Vec<String> = parts
        .iter()
        .filter_map(|(p, r)| {
            r.stopped_early
                .as_ref()
                .map(|s| format!("shard {}: {s}", p.index))
        })
        .collect();
    out.stopped_early = (!stopped.is_empty()).then(|| stopped.join("; "));
    out.good = parts
        .iter()
        .map(|(_, r)| r.good)
        .try_fold(0, |sum, g| g.map(|g| sum + g));
    out.mock_lateness = merge_lateness(parts.iter().filter_map(|(_, r)| r.mock_lateness));
    // Each shard wrote its own trace file: the merged run's figures are their sums.
    out.trace = parts
        .iter()
        .filter_map(|(_, r)| r.trace)
        .reduce(|a, b| crate::trace::TraceStats {
            lines: a.lines + b.lines,
            dropped: a.dropped + b.dropped,
        });
    // The earliest shard to find the upstream saturated speaks for the merged run.
    out.saturated = parts
        .iter()
        .filter_map(|(p, r)| r.saturated.as_ref().map(|s| (p.index, s)))
        .min_by(|a, b| a.1.at_s.total_cmp(&b.1.at_s))
        .map(|(index, s)| crate::metrics::Saturation {
            detail: format!("shard {index}: {}", s.detail),
            ..s.clone()
        });
    out.headers = crate::metrics::headers::merge_stored(parts.iter().map(|(_, r)| &r.headers))
        .map_err(|e| {
            (
                parts[0].0.file.to_string(),
                format!("run `{}`: {e}", out.name),
            )
        })?;
    out.error_samples = BTreeMap::new();
    for (_, r) in parts {
        for (k, v) in &r.error_samples {
            out.error_samples
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
    let mut events: Vec<BreakerEvent> = Vec::new();
    for ((_, r), off) in parts.iter().zip(&offsets) {
        events.extend(r.breaker_events.iter().map(|e| BreakerEvent {
            t_ms: e.t_ms + off,
            state: e.state.clone(),
        }));
    }
    events.sort_by_key(|e| e.t_ms);
    out.breaker_events = events;
    Ok(out.with_goodput())
}

fn shard_count(parts: &[(&Part, &RunResult)]) -> u32 {
    parts[0]
        .0
        .results
        .shard
        .as_ref()
        .map(|s| s.count)
        .unwrap_or(1)
}

fn sum(parts: &[(&Part, &RunResult)], f: impl Fn(&RunResult) -> u64) -> u64 {
    parts.iter().map(|(_, r)| f(r)).sum()
}

fn sum_maps<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for m in maps {
        for (k, v) in m {
            *out.entry(k.clone()).or_insert(0) += v;
        }
    }
    out
}

/// Adds every shard's histogram of each name: lossless, so merged percentiles are exact.
fn merge_histograms(
    parts: &[(&Part, &RunResult)],
) -> Result<BTreeMap<String, StoredHistogram>, (String, String)> {
    let mut sums: BTreeMap<String, (String, hdrhistogram::Histogram<u64>, u64)> = BTreeMap::new();
    for (p, r) in parts {
        for (name, stored) in &r.histograms {
            let bad = |e: String| {
                (
                    p.file.to_string(),
                    format!("run `{}`: histograms.{name}: {e}", r.name),
                )
            };
            let h = decode(&stored.hdr).map_err(bad)?;
            match sums.get_mut(name) {
                Some((_, total, clamped)) => {
                    total.add(&h).map_err(|e| bad(format!("{e:?}")))?;
                    *clamped += stored.clamped;
                }
                None => {
                    sums.insert(name.clone(), (stored.unit.clone(), h, stored.clamped));
                }
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|(name, (unit, h, clamped))| {
            let stored = StoredHistogram {
                unit,
                summary: Summary::of_micros(&h),
                hdr: encode(&h),
                clamped,
            };
            (name, stored)
        })
        .collect())
}

/// The sum of two stored histograms of one unit: lossless, so the summary is the union's.
fn add_stored(a: &StoredHistogram, b: &StoredHistogram) -> Result<StoredHistogram, String> {
    let mut h = a.histogram()?;
    h.add(b.histogram()?).map_err(|e| format!("{e:?}"))?;
    // Token counts are stored as they are; timings (µs) and rates (milli-units) read as /1000.
    let divisor = if a.unit == "tokens" { 1.0 } else { 1000.0 };
    Ok(StoredHistogram {
        unit: a.unit.clone(),
        summary: Summary::scaled(&h, divisor),
        hdr: encode(&h),
        clamped: a.clamped + b.clamped,
    })
}

/// Adds `b` into `a`, either of which may be absent.
fn add_into(a: &mut Option<StoredHistogram>, b: &Option<StoredHistogram>) -> Result<(), String> {
    *a = match (a.take(), b) {
        (Some(a), Some(b)) => Some(add_stored(&a, b)?),
        (a, b) => a.or_else(|| b.clone()),
    };
    Ok(())
}

/// Adds each histogram of `theirs` into the one at the same index of `mine` (appended when `mine` is shorter).
fn add_indexed<T: Clone>(
    mine: &mut Vec<T>,
    theirs: &[T],
    add: impl Fn(&mut T, &T) -> Result<(), String>,
) -> Result<(), String> {
    for (i, t) in theirs.iter().enumerate() {
        match mine.get_mut(i) {
            Some(m) => add(m, t)?,
            None => mine.push(t.clone()),
        }
    }
    Ok(())
}

/// The shards' token lengths, TTFT per prefix group, conversation turns and sessions, added
/// (each shard generated its own share of the requests and sessions).
fn merge_lengths(out: &mut RunResult, parts: &[(&Part, &RunResult)]) -> Result<(), String> {
    let mut lengths: Option<TokenLengths> = None;
    let mut groups: Vec<StoredHistogram> = Vec::new();
    let mut turns: Vec<TurnStats> = Vec::new();
    let mut sessions: Option<Sessions> = None;
    for (_, r) in parts {
        if let Some(l) = &r.token_lengths {
            let m = lengths.get_or_insert_with(TokenLengths::default);
            add_into(&mut m.requested_input, &l.requested_input)?;
            add_into(&mut m.requested_output, &l.requested_output)?;
            add_into(&mut m.received_output, &l.received_output)?;
        }
        add_indexed(&mut groups, &r.ttft_by_prefix_group, |m, t| {
            *m = add_stored(m, t)?;
            Ok(())
        })
        .map_err(|e| format!("ttft_by_prefix_group: {e}"))?;
        add_indexed(&mut turns, &r.by_turn, |m, t| {
            m.count += t.count;
            m.ok += t.ok;
            m.latency = add_stored(&m.latency, &t.latency)?;
            m.ttft = add_stored(&m.ttft, &t.ttft)?;
            Ok(())
        })
        .map_err(|e| format!("by_turn: {e}"))?;
        if let Some(s) = r.sessions {
            let m = sessions.get_or_insert_with(Sessions::default);
            m.completed += s.completed;
            m.ended_early += s.ended_early;
        }
    }
    out.token_lengths = lengths;
    out.ttft_by_prefix_group = groups;
    out.by_turn = turns;
    out.sessions = sessions;
    Ok(())
}

/// One merged span of the series: counts, each shard's last gauges, and the latency so far.
struct MergedSpan {
    /// Counts (gauges are filled from `gauges` at the end).
    point: SeriesPoint,
    /// Per shard, the gauges of its latest point in this span.
    gauges: Vec<Option<(u64, u64)>>,
    /// The sum of the shards' span histograms; `None` once a point with requests had none (an older file).
    latency: Option<hdrhistogram::Histogram<u64>>,
}

/// Aligns each shard's series on the common wall-clock axis and adds them (see module doc).
fn merge_series(parts: &[(&Part, &RunResult)], offsets: &[u64]) -> Vec<SeriesPoint> {
    // Shards of one scenario run equally long, so they downsampled to the same span; should
    // they differ, the coarser one is used (spans divide each other, so that stays exact).
    let span = parts
        .iter()
        .flat_map(|(_, r)| r.series.iter().map(|p| p.span.max(1)))
        .max()
        .unwrap_or(1);
    let mut spans: BTreeMap<u64, MergedSpan> = BTreeMap::new();
    for (shard, ((_, r), off)) in parts.iter().zip(offsets).enumerate() {
        for p in &r.series {
            // Rounded to the nearest second: with --start-at, shards start within milliseconds.
            let t = (off + p.t * 1000 + 500) / 1000;
            let start = t / span * span;
            let m = spans.entry(start).or_insert_with(|| MergedSpan {
                point: SeriesPoint::empty(start, span),
                gauges: vec![None; parts.len()],
                latency: Some(crate::metrics::series::new_series_histogram()),
            });
            let g = &mut m.point;
            g.completed += p.completed;
            g.ok += p.ok;
            g.good += p.good;
            g.timeouts += p.timeouts;
            g.errors += p.errors;
            g.clamped += p.clamped;
            g.p50_ms = g.p50_ms.max(p.p50_ms);
            g.p90_ms = g.p90_ms.max(p.p90_ms);
            g.p99_ms = g.p99_ms.max(p.p99_ms);
            g.max_ms = g.max_ms.max(p.max_ms);
            m.gauges[shard] = Some((p.in_flight, p.open_connections));
            let added = match (&mut m.latency, p.latency()) {
                (Some(sum), Some(Ok(h))) => sum.add(&h).is_ok(),
                (_, None) => p.completed == 0,
                _ => false,
            };
            if !added {
                m.latency = None;
            }
        }
    }
    let Some(last) = spans.keys().next_back().copied() else {
        return Vec::new();
    };
    (0..=last / span)
        .map(|i| match spans.remove(&(i * span)) {
            None => SeriesPoint::empty(i * span, span),
            Some(mut m) => {
                for (in_flight, open) in m.gauges.iter().flatten() {
                    m.point.in_flight += in_flight;
                    m.point.open_connections += open;
                }
                // With every shard's histogram the percentiles are exact; without, the
                // maxima above stand (an upper bound).
                if let Some(h) = &m.latency {
                    m.point.set_latency(h, true);
                }
                m.point
            }
        })
        .collect()
}

/// Sums pool statistics; peaks become an upper bound (see module doc).
fn merge_pool<'a>(pools: impl Iterator<Item = &'a PoolStats>) -> PoolStats {
    pools.fold(PoolStats::default(), |a, p| PoolStats {
        opened: a.opened + p.opened,
        closed: a.closed + p.closed,
        reused: a.reused + p.reused,
        open: a.open + p.open,
        peak_open: a.peak_open + p.peak_open,
        waiting: a.waiting + p.waiting,
        peak_waiting: a.peak_waiting + p.peak_waiting,
        connect_failures: a.connect_failures + p.connect_failures,
    })
}

/// Shards' mock lateness: counts add up; each percentile and the max is the largest of any
/// shard (an upper bound: percentiles cannot be merged from summaries, and what matters is
/// whether any shard's mock fell behind).
fn merge_lateness(
    parts: impl Iterator<Item = mock_upstream::LatenessSummary>,
) -> Option<mock_upstream::LatenessSummary> {
    fn join(
        a: mock_upstream::LatenessStats,
        b: mock_upstream::LatenessStats,
    ) -> mock_upstream::LatenessStats {
        mock_upstream::LatenessStats {
            count: a.count + b.count,
            p50_ms: a.p50_ms.max(b.p50_ms),
            p99_ms: a.p99_ms.max(b.p99_ms),
            max_ms: a.max_ms.max(b.max_ms),
        }
    }
    parts.reduce(|a, b| mock_upstream::LatenessSummary {
        first: join(a.first, b.first),
        later: join(a.later, b.later),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::{new_histogram, record_clamped};
    use crate::report::fixture;

    /// A µs histogram of `values`, stored.
    fn stored(unit: &str, values: &[u64]) -> StoredHistogram {
        let mut h = new_histogram();
        for v in values {
            record_clamped(&mut h, *v);
        }
        let mut s = StoredHistogram::micros(&h);
        if unit == "tokens" {
            s.unit = unit.into();
            s.summary = Summary::scaled(&h, 1.0);
        }
        s
    }

    fn shard(run: &RunResult, n: u64) -> RunResult {
        let mut r = run.clone();
        r.token_lengths = Some(TokenLengths {
            requested_input: Some(stored("tokens", &vec![100 * n; n as usize])),
            requested_output: None,
            received_output: Some(stored("tokens", &[50])),
        });
        r.ttft_by_prefix_group = (0..n).map(|_| stored("ms", &[1000 * n])).collect();
        r.by_turn = vec![TurnStats {
            turn: 1,
            count: n,
            ok: n,
            latency: stored("ms", &vec![2000; n as usize]),
            ttft: stored("ms", &[]),
        }];
        r.sessions = Some(Sessions {
            completed: n,
            ended_early: 1,
        });
        r
    }

    #[test]
    fn lengths_turns_and_sessions_are_the_sum_of_every_shard() {
        let results = fixture::comparison();
        let (a, b) = (shard(&results.runs[0], 1), shard(&results.runs[0], 2));
        let part = |index| Part {
            file: "shard.json",
            index,
            results: &results,
        };
        let (p0, p1) = (part(0), part(1));
        let merged = merge_run(&[(&p0, &a), (&p1, &b)], None, &mut Vec::new()).unwrap();
        let lengths = merged.token_lengths.unwrap();
        let input = lengths.requested_input.unwrap();
        assert_eq!(input.unit, "tokens");
        assert_eq!(input.summary.count, 3, "1 + 2 requests");
        assert_eq!(input.summary.max, 200.0, "in tokens, not ms");
        assert_eq!(lengths.received_output.unwrap().summary.count, 2);
        assert_eq!(lengths.requested_output, None);
        let groups: Vec<u64> = merged
            .ttft_by_prefix_group
            .iter()
            .map(|g| g.summary.count)
            .collect();
        assert_eq!(
            groups,
            [2, 1],
            "group 0 from both shards, group 1 from the second"
        );
        assert_eq!(merged.ttft_by_prefix_group[1].summary.max, 2.0);
        let turn = &merged.by_turn[0];
        assert_eq!((turn.count, turn.ok), (3, 3));
        assert_eq!(turn.latency.summary.count, 3);
        assert_eq!(
            merged.sessions,
            Some(Sessions {
                completed: 3,
                ended_early: 2
            })
        );
    }
}
