//! `results.json`: the versioned file every report, comparison and gate is rendered from.

use super::{
    histogram::StoredHistogram,
    ledger::Ledger,
    recorder::{Recorder, TokenTotals},
    series::SeriesPoint,
    slo::Slo,
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
    /// `relaybench search`: one entry per target searched; each probe's run is in `runs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<SearchResult>,
    /// `[report] baseline`: each other target's added latency and TTFT per percentile, against
    /// the baseline run of the same variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_overhead: Option<super::overhead::RelayOverhead>,
}

/// What `relaybench search` found for one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchResult {
    /// Target name.
    pub target: String,
    /// The knob turned: `rate`, `users`, or a `[client]` key such as `max_connections`.
    pub knob: String,
    /// Unit of the knob's values: `req/s`, `users`, `ms` (durations), or empty for counts.
    pub unit: String,
    /// `max` (largest value meeting the objective) or `min` (smallest).
    pub goal: crate::scenario::search::Goal,
    /// The objective's checks, as written.
    pub objective: Vec<String>,
    /// The range searched, low end first.
    pub range: [f64; 2],
    /// The answer: the value closest to the hard end that met the objective; `null` when none did.
    pub found: Option<f64>,
    /// `[low, high]`: for `max`, low met the objective and high did not; for `min`, high met it
    /// and low did not. `null` on a side no probe settled (e.g. the whole range passed).
    pub interval: [Option<f64>; 2],
    /// Why the search ended.
    pub stopped_because: StopReason,
    /// Every probe in the order run (repeats of a value included).
    pub probes: Vec<SearchProbe>,
    /// Observations the reader must know: non-monotone pairs, values decided by repeats.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Wall time this target's search took, in seconds.
    pub elapsed_seconds: f64,
}

/// Why a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The bracket is as narrow as the knob's resolution.
    Converged,
    /// The next probe would not have fitted in the time left.
    Budget,
    /// The spend guard (`max_requests`/`max_cost_usd`, counted over the whole search) is used up.
    SpendGuard,
    /// Even the hard end of the range met the objective.
    RangeAllPass,
    /// Not even the easy end of the range met the objective.
    RangeAllFail,
    /// The easy end failed but the hard end passed: the knob does not act monotonically.
    NonMonotone,
    /// Ctrl-C.
    Interrupted,
}

impl StopReason {
    /// The name written in results.json.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Converged => "converged",
            StopReason::Budget => "budget",
            StopReason::SpendGuard => "spend_guard",
            StopReason::RangeAllPass => "range_all_pass",
            StopReason::RangeAllFail => "range_all_fail",
            StopReason::NonMonotone => "non_monotone",
            StopReason::Interrupted => "interrupted",
        }
    }
}

/// One probe of a search: a normal run at one knob value, judged against the objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchProbe {
    /// The knob's value (ms for durations).
    pub value: f64,
    /// Every check of the objective held on this run.
    pub passed: bool,
    /// Some check's confidence interval straddled its limit, so the value was probed again.
    pub within_noise: bool,
    /// Index of this probe's run in `runs`.
    pub run_index: usize,
    /// The probe was ended early because the upstream could not keep up; such a probe fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<SaturationReason>,
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
    /// Arrivals after warm-up, counted where they were born (the open-model dispatcher, each
    /// closed-model user), apart from the recorder: `arrivals = scheduled + dropped + refused by a
    /// spend guard`, checked at the end of every run (see `ledger`). 0 in files written before it existed.
    #[serde(default)]
    pub arrivals: u64,
    /// Logical requests that ended in an outcome after warm-up (the sum of `outcomes`).
    pub scheduled: u64,
    /// Outcome counts by key (`ok`, `status_503`, `timeout_pool`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Outcome counts during warm-up (not in any statistic).
    pub warmup_outcomes: BTreeMap<String, u64>,
    /// Attempts (first tries + retries).
    pub attempts: u64,
    /// Attempts during warm-up: with `attempts`, every call the upstream received.
    #[serde(default)]
    pub warmup_attempts: u64,
    /// Retries by reason.
    pub retries: BTreeMap<String, u64>,
    /// Requests per second over the measured window (all outcomes).
    pub rps: f64,
    /// Target rate of an open model, for comparison with `rps`.
    pub target_rps: Option<f64>,
    /// Open model: requests that started more than 5 ms behind schedule (their lag is in `histograms.start_lag`).
    #[serde(default)]
    pub late: u64,
    /// Open model: arrivals never sent because `max_in_flight` was reached and they could not
    /// wait (`on_overload = "drop"`, or the queue was full); not in `scheduled`.
    #[serde(default)]
    pub dropped: u64,
    /// The generator's own count of arrivals and of what became of them, for the measured run and
    /// the warm-up, and what was still in flight when the grace period ended.
    #[serde(default)]
    pub ledger: Ledger,
    /// Set when the ledger did not balance: a relaybench bug, reported to the user, never adjusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
    /// Histograms by name (`latency`, `service`, `pool_wait`, ...); empty ones omitted.
    pub histograms: BTreeMap<String, StoredHistogram>,
    /// The time series: one point per second, or per `span` seconds in a long run (see `metrics::series`).
    pub series: Vec<SeriesPoint>,
    /// What the pool did.
    pub pool: PoolStats,
    /// Token totals.
    pub tokens: TokenTotals,
    /// The API the run's completion requests spoke (`openai-chat`, `openai-responses`,
    /// `anthropic-messages`); absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Where the output token counts (and the cost priced from them) came from: `usage`
    /// (reported by the upstream), `counted` (relaybench's tokenizer, where `usage` was
    /// missing) or `estimated` (stream deltas counted, one per token); the least trustworthy
    /// source any answer used. Absent when no answer carried tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_source: Option<String>,
    /// The usage audit (reported against counted tokens), when `[report] usage_audit` was on
    /// and an answer was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_audit: Option<super::audit::UsageAudit>,
    /// Requested and received token lengths of generated requests (`input_tokens`,
    /// `output_tokens`); absent when the mix has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lengths: Option<super::lengths::TokenLengths>,
    /// TTFT (ms) per shared-prefix group, indexed by group (`prefix_groups`, streamed `ok`
    /// answers); empty without groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ttft_by_prefix_group: Vec<StoredHistogram>,
    /// Per conversation turn (`turns`), in turn order: requests, `ok` answers, latency and TTFT
    /// (ms); empty without conversations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_turn: Vec<super::lengths::TurnStats>,
    /// Conversation sessions completed and ended early; absent without conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<super::lengths::Sessions>,
    /// First error excerpt per outcome key (followed by the response's recorded headers, ` · name: value`).
    pub error_samples: BTreeMap<String, String>,
    /// Response headers recorded (`[report] record_headers`) by lower-case name; headers no
    /// response carried are left out. Absent without `record_headers`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, super::headers::RecordedHeader>,
    /// Circuit-breaker state changes, in time order; empty when the breaker never moved.
    #[serde(default)]
    pub breaker_events: Vec<BreakerEvent>,
    /// What the measured requests cost in US dollars — every attempt, retries included, priced
    /// by the spend guard (see `spend`) — when the target's model has a price.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Attempts sent and their cost, warm-up included, as the spend guard counted them (when
    /// the target has a price or a spend limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<super::ledger::Spend>,
    /// Why the run stopped before its bounds (a spend guard), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// The per-request limits (`[slo]`) a good request met, when the scenario set any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    /// Requests after warm-up that were good: ended `ok` and met every limit of `slo` that
    /// applied to them (every `ok` one when there is no SLO). `None` in files written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<u64>,
    /// Good requests per second over the measured window (as `rps`).
    #[serde(default)]
    pub goodput: f64,
    /// Good requests as a fraction of the arrivals (`offered()`, the denominator of every rate).
    #[serde(default)]
    pub goodput_ratio: f64,
    /// Set when `stop_on_saturation` ended the run early: the upstream could not keep up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<Saturation>,
    /// Wall-clock time load started, ms since the Unix epoch: time zero of `series`, used to align shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_started_unix_ms: Option<u64>,
    /// Runs against the embedded mock: how far behind its own schedule the mock sent replies
    /// and tokens over the whole run (warm-up included). Large values mean the timing figures
    /// include the mock's overload. Absent for URL targets and in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_lateness: Option<mock_upstream::LatenessSummary>,
    /// The `--trace` file's figures for this run: lines written and lines dropped at the full
    /// queue (absent without `--trace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::trace::TraceStats>,
    /// The target's own metrics scraped during the run (`metrics_url`; absent without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_metrics: Option<crate::scrape::TargetMetrics>,
}

impl RunResult {
    /// Builds a run's result from its merged recorder.
    pub fn from_recorder(
        identity: RunIdentity,
        recorder: &Recorder,
        ledger: Ledger,
        measured_seconds: f64,
        series: Vec<SeriesPoint>,
        pool: PoolStats,
    ) -> RunResult {
        let scheduled = recorder.total();
        let warmup_total: u64 = recorder.warmup_outcomes.values().sum();
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
            arrivals: ledger.measured.arrivals,
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
            warmup_attempts: recorder.warmup_attempts,
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
            dropped: ledger.measured.dropped,
            ledger_error: ledger.check(scheduled, warmup_total),
            ledger,
            histograms,
            series,
            pool,
            tokens: recorder.tokens,
            api: None,
            token_source: recorder.tokens.source().map(str::to_string),
            usage_audit: (recorder.audit.counted_answers > 0).then(|| {
                let mut audit = recorder.audit.clone();
                audit.summarize();
                audit
            }),
            token_lengths: recorder.lengths.token_lengths(),
            ttft_by_prefix_group: recorder.lengths.ttft_by_prefix_group(),
            by_turn: recorder.lengths.by_turn(),
            sessions: recorder.lengths.sessions(),
            error_samples: recorder
                .error_samples
                .iter()
                .map(|(k, v)| (k.key(), v.clone()))
                .collect(),
            headers: super::headers::stored(&recorder.headers),
            breaker_events: Vec::new(),
            cost_usd: None,
            spend: None,
            stopped_early: None,
            load_started_unix_ms: None,
            slo: None,
            good: Some(recorder.good),
            goodput: 0.0,
            goodput_ratio: 0.0,
            saturated: None,
            mock_lateness: None,
            trace: None,
            target_metrics: None,
        }
        .with_goodput()
    }

    /// Good requests: `good`, or the `ok` ones in files written before goodput existed.
    pub fn good_count(&self) -> u64 {
        self.good.unwrap_or_else(|| self.count("ok"))
    }

    /// Good requests per second over the measured window.
    pub fn goodput_rate(&self) -> f64 {
        if self.measured_seconds > 0.0 {
            self.good_count() as f64 / self.measured_seconds
        } else {
            0.0
        }
    }

    /// Fraction of arrivals that were good (unfinished ones count as not good, as in `success_rate`).
    pub fn goodput_fraction(&self) -> f64 {
        self.fraction(self.good_count())
    }

    /// This result with `goodput` and `goodput_ratio` computed from its counts (after building or merging).
    pub fn with_goodput(mut self) -> RunResult {
        self.goodput = self.goodput_rate();
        self.goodput_ratio = self.goodput_fraction();
        self
    }

    /// Count of one outcome key.
    pub fn count(&self, key: &str) -> u64 {
        self.outcomes.get(key).copied().unwrap_or(0)
    }

    /// The arrivals a run's rates are measured against: every arrival except those a spend
    /// guard refused (the user's own limit, not the upstream's doing). Files written before
    /// the ledger existed fall back to the requests with an outcome plus the dropped ones.
    pub fn offered(&self) -> u64 {
        if self.arrivals == 0 {
            return self.scheduled + self.dropped;
        }
        self.arrivals
            .saturating_sub(self.ledger.measured.refused_by_guard)
    }

    /// Fraction of arrivals that ended `ok`: the run's success, unfinished requests counted as failures.
    pub fn success_rate(&self) -> f64 {
        self.fraction(self.count("ok"))
    }

    /// Fraction of arrivals that timed out (any phase).
    pub fn timeout_rate(&self) -> f64 {
        self.rate(|k| k.starts_with("timeout_"))
    }

    /// Fraction of arrivals that ended in an error (timeouts included; unfinished ones — cancelled
    /// at the end, dropped — are `unfinished_rate`).
    pub fn error_rate(&self) -> f64 {
        self.rate(|k| k != "ok" && k != "cancelled")
    }

    /// Fraction of arrivals that never finished: cancelled when the grace period ended, or dropped at the in-flight cap.
    pub fn unfinished_rate(&self) -> f64 {
        self.fraction(self.count("cancelled") + self.dropped)
    }

    /// Fraction of arrivals dropped at the in-flight cap.
    pub fn dropped_rate(&self) -> f64 {
        self.fraction(self.dropped)
    }

    /// Fraction of arrivals the open-model dispatcher started more than 5 ms behind schedule.
    pub fn late_rate(&self) -> f64 {
        self.fraction(self.late)
    }

    /// Fraction of arrivals whose outcome key matches.
    pub fn rate(&self, matches: impl Fn(&str) -> bool) -> f64 {
        let n: u64 = self
            .outcomes
            .iter()
            .filter(|(k, _)| matches(k))
            .map(|(_, v)| v)
            .sum();
        self.fraction(n)
    }

    /// `n` as a fraction of the offered arrivals (0 when there were none).
    pub fn fraction(&self, n: u64) -> f64 {
        match self.offered() {
            0 => 0.0,
            offered => n as f64 / offered as f64,
        }
    }

    /// A summary of one histogram, if recorded.
    pub fn summary(&self, histogram: &str) -> Option<&super::histogram::Summary> {
        self.histograms.get(histogram).map(|h| &h.summary)
    }
}

/// Why a run that `stop_on_saturation` watched was ended early.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaturationReason {
    /// Open model: fewer than 98 % of the scheduled arrivals completed over the window while the upstream held the backlog.
    RateBelowTarget,
    /// Open model: requests in flight rose every second of the window and at least doubled.
    InFlightGrowing,
    /// Every request that finished in the window failed.
    AllFailing,
}

impl SaturationReason {
    /// The name written in results.json.
    pub fn key(self) -> &'static str {
        match self {
            SaturationReason::RateBelowTarget => "rate_below_target",
            SaturationReason::InFlightGrowing => "in_flight_growing",
            SaturationReason::AllFailing => "all_failing",
        }
    }
}

/// The moment a run was found saturated, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saturation {
    /// Which criterion fired.
    pub reason: SaturationReason,
    /// Seconds into the measured phase (after warm-up) at the end of the window that showed it.
    pub at_s: f64,
    /// What was seen, in a sentence with its figures.
    pub detail: String,
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
