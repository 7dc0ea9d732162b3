//! The `[search]` table: which knob `relaybench search` turns, over what range, toward which goal, judged by which objective — and its checks against the rest of the scenario.

use super::model::{LoadModel, Scenario};
use crate::{
    client::ClientSettings,
    gate::Check,
    units::{Dur, Ratio},
};
use serde::{Deserialize, Serialize};

/// Which end of the range the answer is sought at.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// The largest value that meets the objective (capacity).
    #[default]
    Max,
    /// The smallest value that meets the objective (sizing).
    Min,
}

/// `[search]`: find the largest (or smallest) knob value that meets an objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// What to turn: `rate` (open model, req/s), `users` (closed model), or a numeric `[client]` key such as `max_connections`, `max_idle_connections`, `timeouts.pool`.
    pub knob: String,
    /// Lowest and highest value to try: numbers for `rate`, `users` and counts (`[10, 2000]`), durations for `timeouts.*` (`["100ms", "5s"]`).
    pub range: [KnobValue; 2],
    /// `max`: the largest value meeting the objective (capacity); `min`: the smallest (sizing).
    #[serde(default)]
    pub goal: Goal,
    /// Checks every probe must pass, in `[[threshold]]` syntax: `["p99 < 800ms", "error_rate < 1%"]`.
    pub objective: Vec<Check>,
    /// Measured time per probe, after the workload's warm-up.
    #[serde(default = "default_step")]
    pub step: Dur,
    /// Wall time for the whole search (all targets); a probe that would not fit is not started.
    #[serde(default = "default_budget")]
    pub budget: Dur,
    /// Continuous knobs (`rate`, durations): stop when the bracket is at most this fraction of the answer (`"3%"`).
    #[serde(default = "default_resolution")]
    pub resolution: Ratio,
    /// Extra probes of a value whose verdict is within noise of a limit; decided by the repeats.
    #[serde(default = "default_repeats")]
    pub repeats: u32,
    /// End a probe early when the upstream cannot keep up with it (the workload's saturation stop) and count it as failing.
    #[serde(default = "default_true")]
    pub stop_on_saturation: bool,
}

fn default_true() -> bool {
    true
}

/// A range end: a number (`rate`, `users`, counts) or a duration (`"250ms"`, for `timeouts.*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum KnobValue {
    /// A plain number.
    Number(f64),
    /// A duration with a unit.
    Text(String),
}

fn default_step() -> Dur {
    Dur::secs(20)
}

fn default_budget() -> Dur {
    Dur::secs(600)
}

fn default_resolution() -> Ratio {
    Ratio(0.03)
}

fn default_repeats() -> u32 {
    2
}

/// Most repeats of one value (each is a whole probe).
const MAX_REPEATS: u32 = 5;

/// What kind of value a knob takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnobKind {
    /// Requests per second of an open model (continuous).
    Rate,
    /// Closed-model users (integer).
    Users,
    /// An integer `[client]` setting (connections, retries, ...).
    Count,
    /// A duration `[client]` setting, searched in milliseconds (continuous).
    Duration,
}

impl KnobKind {
    /// Whether the search probes integers only.
    pub fn integer(self) -> bool {
        matches!(self, KnobKind::Users | KnobKind::Count)
    }

    /// Unit shown after a value.
    pub fn unit(self) -> &'static str {
        match self {
            KnobKind::Rate => "req/s",
            KnobKind::Users => "users",
            KnobKind::Count => "",
            KnobKind::Duration => "ms",
        }
    }
}

/// The knob of a checked `[search]`, with its range in the knob's unit (ms for durations).
#[derive(Clone, Debug, PartialEq)]
pub struct Knob {
    /// As written: `rate`, `users`, `max_connections`, `timeouts.pool`, ...
    pub name: String,
    /// Kind of value.
    pub kind: KnobKind,
    /// Low and high end.
    pub range: (f64, f64),
}

/// A `[search]` table that does not fit its scenario: the key at fault and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchError {
    /// Dotted key, e.g. `search.range`.
    pub key: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> SearchError {
    SearchError {
        key: format!("search.{key}"),
        message: message.into(),
    }
}

impl SearchSpec {
    /// Checks the table against its scenario and resolves the knob.
    pub fn knob(&self, s: &Scenario) -> Result<Knob, SearchError> {
        if s.matrix.is_some() || !s.variants.is_empty() {
            return Err(err(
                "knob",
                "`search` turns one knob of one client configuration per target; remove [matrix] / [[variant]] (put the fixed settings in [client]) or search each configuration in its own scenario",
            ));
        }
        if self.objective.is_empty() {
            return Err(err(
                "objective",
                "give at least one check, e.g. objective = [\"p99 < 800ms\", \"error_rate < 1%\"]",
            ));
        }
        if self.step.0.is_zero() {
            return Err(err("step", "must be longer than 0, e.g. \"20s\""));
        }
        if self.budget.0.is_zero() {
            return Err(err("budget", "must be longer than 0, e.g. \"10m\""));
        }
        if !(self.resolution.0 > 0.0 && self.resolution.0 <= 0.5) {
            return Err(err("resolution", "must be in (0, 50%], e.g. \"3%\""));
        }
        if self.repeats > MAX_REPEATS {
            return Err(err(
                "repeats",
                format!("at most {MAX_REPEATS} (each repeat is a whole probe)"),
            ));
        }
        let w = &s.workload;
        let probe = w.warmup.0 + self.step.0 + w.grace.0;
        if self.budget.0 < probe {
            return Err(err(
                "budget",
                format!(
                    "{} cannot fit a single probe (warm-up {} + step {} + grace {}); raise it or shorten `step`",
                    self.budget, w.warmup, self.step, w.grace
                ),
            ));
        }
        let kind = match self.knob.as_str() {
            "rate" => {
                if !matches!(w.model, LoadModel::Constant | LoadModel::Poisson) {
                    return Err(err(
                        "knob",
                        "`rate` needs an open model with a constant rate: [workload] model = \"constant\" or \"poisson\"",
                    ));
                }
                KnobKind::Rate
            }
            "users" => {
                if w.model != LoadModel::Closed || !w.stages.is_empty() {
                    return Err(err(
                        "knob",
                        "`users` needs the closed model without stages: [workload] model = \"closed\", users = N",
                    ));
                }
                KnobKind::Users
            }
            key => {
                if !w.stages.is_empty() {
                    return Err(err(
                        "knob",
                        "a probe holds the load constant for `step`: remove [workload] stages",
                    ));
                }
                client_kind(&s.client, key)?
            }
        };
        let lo = self.value(0, kind)?;
        let hi = self.value(1, kind)?;
        if lo >= hi {
            return Err(err(
                "range",
                "write the low end first, and make it lower than the high end: range = [10, 2000]",
            ));
        }
        let least = match (kind, self.knob.as_str()) {
            (KnobKind::Rate, _) => f64::MIN_POSITIVE,
            (KnobKind::Users, _) | (_, "max_connections") => 1.0,
            _ => 0.0,
        };
        if lo < least {
            return Err(err(
                "range",
                format!("`{}` must be at least {}", self.knob, least.max(0.0)),
            ));
        }
        let knob = Knob {
            name: self.knob.clone(),
            kind,
            range: (lo, hi),
        };
        if matches!(kind, KnobKind::Count | KnobKind::Duration) {
            for v in [lo, hi] {
                client_with(&s.client, &knob, v).map_err(|m| err("range", m))?;
            }
        }
        Ok(knob)
    }

    /// Range end `i` in the knob's unit.
    fn value(&self, i: usize, kind: KnobKind) -> Result<f64, SearchError> {
        let v = match (&self.range[i], kind) {
            (KnobValue::Number(n), KnobKind::Duration) => {
                return Err(err(
                    "range",
                    format!(
                        "`{}` is a duration: write the range with units, e.g. [\"100ms\", \"5s\"] (not {n})",
                        self.knob
                    ),
                ))
            }
            (KnobValue::Number(n), _) => *n,
            (KnobValue::Text(t), KnobKind::Duration) => t
                .parse::<Dur>()
                .map_err(|e| err("range", e))?
                .0
                .as_secs_f64()
                * 1000.0,
            (KnobValue::Text(t), _) => {
                return Err(err(
                    "range",
                    format!("`{}` takes numbers: range = [10, 200] (not \"{t}\")", self.knob),
                ))
            }
        };
        if !v.is_finite() {
            return Err(err("range", "must be finite numbers"));
        }
        if kind.integer() && v.fract() != 0.0 {
            return Err(err(
                "range",
                format!("`{}` is a count: use whole numbers (not {v})", self.knob),
            ));
        }
        Ok(v)
    }
}

/// The kind of a `[client]` key, read from the settings as TOML (so every numeric key qualifies).
fn client_kind(client: &ClientSettings, key: &str) -> Result<KnobKind, SearchError> {
    let table = toml::Table::try_from(client).map_err(|e| err("knob", e.to_string()))?;
    let mut node = Some(&table);
    let mut value = None;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let here = node.and_then(|t| t.get(*part));
        if i + 1 == parts.len() {
            value = here;
        } else {
            node = here.and_then(toml::Value::as_table);
        }
    }
    let unknown = || {
        err(
            "knob",
            format!("`{key}` is not a knob: use `rate`, `users`, or a numeric [client] key such as `max_connections`, `max_idle_connections`, `timeouts.pool`"),
        )
    };
    match value {
        Some(toml::Value::Integer(_)) => Ok(KnobKind::Count),
        Some(toml::Value::String(s)) if s.parse::<Dur>().is_ok() => Ok(KnobKind::Duration),
        // An unset optional duration (`timeouts.deadline`).
        None if key == "timeouts.deadline" => Ok(KnobKind::Duration),
        Some(_) => Err(err(
            "knob",
            format!("`{key}` is not numeric; the search turns counts and durations"),
        )),
        None => Err(unknown()),
    }
}

/// `client` with the knob set to `value` (ms for durations), built and checked like a variant.
pub fn client_with(
    client: &ClientSettings,
    knob: &Knob,
    value: f64,
) -> Result<ClientSettings, String> {
    let v = match knob.kind {
        KnobKind::Duration => toml::Value::String(format!("{}ms", round_ms(value))),
        _ => toml::Value::Integer(value.round() as i64),
    };
    super::plan::with_client_key(client, &knob.name, v).map_err(|e| e.message)
}

/// Durations are applied in whole microseconds' worth of milliseconds (humantime takes no fractions).
fn round_ms(ms: f64) -> u64 {
    ms.round().max(0.0) as u64
}

/// A value of the knob as shown to people: `76.3 req/s`, `48 users`, `45`, `1.25s`.
pub fn format_value(kind: KnobKind, v: f64) -> String {
    match kind {
        KnobKind::Duration => crate::gate::threshold::format_ms(v),
        KnobKind::Rate => format!("{} req/s", trim(v)),
        KnobKind::Users => format!("{} users", trim(v)),
        KnobKind::Count => trim(v),
    }
}

/// A value without its unit (durations keep theirs): `76.3`, `48`, `250ms` — for run names.
pub fn format_bare(kind: KnobKind, v: f64) -> String {
    match kind {
        KnobKind::Duration => crate::gate::threshold::format_ms(v),
        _ => trim(v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
