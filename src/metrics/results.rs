//! `results.json`: the versioned file every report, comparison and gate is rendered from.

use super::{
    histogram::StoredHistogram,
    recorder::{Recorder, TokenTotals},
    series::SeriesPoint,
};
use crate::client::{ClientSettings, PoolStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the results format; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One results file: the runs of one scenario invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsFile {
    /// Format version (see `SCHEMA_VERSION`).
    pub schema_version: u32,
    /// Tool name and version that wrote the file.
    pub tool: ToolInfo,
    /// Facts about the machine that generated the load.
    pub host: HostInfo,
    /// The scenario as run.
    pub scenario: ScenarioInfo,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// True when the run was stopped early (Ctrl-C); the runs hold what was measured until then.
    pub interrupted: bool,
    /// One entry per target × variant, in execution order.
    pub runs: Vec<RunResult>,
    /// Threshold verdicts from the gate; empty when no thresholds were configured.
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// Sharded load: which share of the scenario this file holds (`run --shard`), or which shards it merges (`merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// Which share of a sharded scenario a results file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// This shard's index, 0-based; `None` in a merged file.
    pub index: Option<u32>,
    /// How many shards the load was split into.
    pub count: u32,
    /// Hash of the resolved whole scenario; only shards with the same hash merge.
    pub scenario_hash: String,
    /// Merged file: the shard indexes combined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<u32>,
    /// Merged file: shard indexes that were not given to `merge`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_shards: Vec<u32>,
}

/// One threshold checked against the runs (filled by the gate).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The threshold as the user wrote it, e.g. `p99 < 500ms`.
    pub expression: String,
    /// What it was checked against: a run name, or `all`.
    pub scope: String,
    /// The measured value, formatted with its unit.
    pub observed: String,
    /// Whether the threshold held.
    pub passed: bool,
}

/// A circuit-breaker state change during a run (filled by the client).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakerEvent {
    /// Milliseconds since the run started.
    pub t_ms: u64,
    /// The state entered: `open`, `half_open` or `closed`.
    pub state: String,
}

/// Who wrote the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Always "relaybench".
    pub name: String,
    /// Crate version.
    pub version: String,
}

impl ToolInfo {
    /// This build.
    pub fn current() -> ToolInfo {
        ToolInfo {
            name: "relaybench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The load generator's machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Logical CPUs.
    pub cpus: usize,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
}

impl HostInfo {
    /// This machine.
    pub fn current() -> HostInfo {
        HostInfo {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        }
    }
}

/// Which scenario produced the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Scenario name.
    pub name: String,
    /// Path it was read from (empty for ad-hoc runs).
    pub file: String,
    /// The scenario after defaults, as JSON (no secrets: keys are only named by their variable).
    pub resolved: serde_json::Value,
}

/// One run: one target with one client variant under the workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `target/variant`, unique within the file.
    pub name: String,
    /// Target name.
    pub target: String,
    /// Variant name (`default` when there is no matrix).
    pub variant: String,
    /// Client settings of this run.
    pub settings: ClientSettings,
    /// Load model description, e.g. `closed, 16 users`.
    pub load: String,
    /// Seconds of measurement (after warm-up, until the last request finished).
    pub measured_seconds: f64,
    /// Logical requests issued after warm-up; always equals the sum of `outcomes`.
    pub scheduled: u64,
    /// Outcome counts by key (`ok`, `status_503`, `timeout_pool`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Outcome counts during warm-up (not in any statistic).
    pub warmup_outcomes: BTreeMap<String, u64>,
    /// Attempts (first tries + retries).
    pub attempts: u64,
    /// Retries by reason.
    pub retries: BTreeMap<String, u64>,
    /// Requests per second over the measured window (all outcomes).
    pub rps: f64,
    /// Target rate of an open model, for comparison with `rps`.
    pub target_rps: Option<f64>,
    /// Open model: requests that started more than 5 ms behind schedule (their lag is in `histograms.start_lag`).
    #[serde(default)]
    pub late: u64,
    /// Open model: arrivals not started because `max_in_flight` was reached (not in `scheduled`).
    #[serde(default)]
    pub dropped: u64,
    /// Histograms by name (`latency`, `service`, `pool_wait`, ...); empty ones omitted.
    pub histograms: BTreeMap<String, StoredHistogram>,
    /// The time series: one point per second, or per `span` seconds in a long run (see `metrics::series`).
    pub series: Vec<SeriesPoint>,
    /// What the pool did.
    pub pool: PoolStats,
    /// Token totals.
    pub tokens: TokenTotals,
    /// First error excerpt per outcome key.
    pub error_samples: BTreeMap<String, String>,
    /// Circuit-breaker state changes, in time order; empty when the breaker never moved.
    #[serde(default)]
    pub breaker_events: Vec<BreakerEvent>,
    /// What the run cost in US dollars, when the target has a price configured.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Why the run stopped before its bounds (a spend guard), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Wall-clock time load started, ms since the Unix epoch: time zero of `series`, used to align shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_started_unix_ms: Option<u64>,
}

impl RunResult {
    /// Builds a run's result from its merged recorder.
    pub fn from_recorder(
        identity: RunIdentity,
        recorder: &Recorder,
        measured_seconds: f64,
        series: Vec<SeriesPoint>,
        pool: PoolStats,
    ) -> RunResult {
        let scheduled = recorder.total();
        let histograms = recorder
            .histograms()
            .filter(|(_, h)| !h.is_empty())
            .map(|(name, h)| {
                let mut stored = StoredHistogram::named(name, h);
                stored.clamped = recorder.clamped(name);
                (name.to_string(), stored)
            })
            .collect();
        RunResult {
            name: format!("{}/{}", identity.target, identity.variant),
            target: identity.target,
            variant: identity.variant,
            settings: identity.settings,
            load: identity.load,
            measured_seconds,
            scheduled,
            outcomes: recorder
                .outcomes
                .iter()
                .map(|(k, v)| (k.key(), *v))
                .collect(),
            warmup_outcomes: recorder
                .warmup_outcomes
                .iter()
                .map(|(k, v)| (k.key(), *v))
                .collect(),
            attempts: recorder.attempts,
            retries: recorder
                .retries
                .iter()
                .map(|(k, v)| (k.key(), *v))
                .collect(),
            rps: if measured_seconds > 0.0 {
                scheduled as f64 / measured_seconds
            } else {
                0.0
            },
            target_rps: identity.target_rps,
            late: recorder.late,
            dropped: recorder.dropped,
            histograms,
            series,
            pool,
            tokens: recorder.tokens,
            error_samples: recorder
                .error_samples
                .iter()
                .map(|(k, v)| (k.key(), v.clone()))
                .collect(),
            breaker_events: Vec::new(),
            cost_usd: None,
            stopped_early: None,
            load_started_unix_ms: None,
        }
    }

    /// Count of one outcome key.
    pub fn count(&self, key: &str) -> u64 {
        self.outcomes.get(key).copied().unwrap_or(0)
    }

    /// Fraction of requests that timed out (any phase).
    pub fn timeout_rate(&self) -> f64 {
        self.rate(|k| k.starts_with("timeout_"))
    }

    /// Fraction of requests that did not end `ok` (cancelled excluded).
    pub fn error_rate(&self) -> f64 {
        self.rate(|k| k != "ok" && k != "cancelled")
    }

    /// Fraction of requests whose outcome key matches.
    pub fn rate(&self, matches: impl Fn(&str) -> bool) -> f64 {
        if self.scheduled == 0 {
            return 0.0;
        }
        let n: u64 = self
            .outcomes
            .iter()
            .filter(|(k, _)| matches(k))
            .map(|(_, v)| v)
            .sum();
        n as f64 / self.scheduled as f64
    }

    /// A summary of one histogram, if recorded.
    pub fn summary(&self, histogram: &str) -> Option<&super::histogram::Summary> {
        self.histograms.get(histogram).map(|h| &h.summary)
    }
}

/// What identifies a run besides its measurements.
pub struct RunIdentity {
    /// Target name.
    pub target: String,
    /// Variant name.
    pub variant: String,
    /// Client settings.
    pub settings: ClientSettings,
    /// Load model description.
    pub load: String,
    /// Target rate of an open model.
    pub target_rps: Option<f64>,
}

/// The wall-clock time of `instant` (in the past), ms since the Unix epoch.
pub fn unix_ms_of(instant: std::time::Instant) -> Option<u64> {
    let wall = std::time::SystemTime::now().checked_sub(instant.elapsed())?;
    let since = wall.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}
