//! A probe's scenario: the scenario with the knob set to one value and the load held for `step` after the warm-up.

use crate::{
    client::ClientSettings,
    scenario::{
        search::{client_with, format_bare, Knob, KnobKind, SearchSpec},
        LoadModel, PlannedRun, Scenario, Target, Workload,
    },
};

/// Slack added to a probe's planned length for starting the target and closing the client.
const OVERHEAD: std::time::Duration = std::time::Duration::from_millis(500);

/// The workload of a probe: a constant load (`rate` or `users` set to `value` when that is the
/// knob) for the scenario's warm-up plus `step`, bounded by time only.
///
/// This is the one place that shapes a probe's load: a stop-when-saturated option belongs here.
pub fn configure_probe_workload(
    w: &Workload,
    knob: &Knob,
    value: f64,
    spec: &SearchSpec,
) -> Workload {
    let mut w = w.clone();
    match knob.kind {
        KnobKind::Rate => {
            w.rate = Some(value);
            if w.model == LoadModel::Ramp {
                w.model = LoadModel::Constant;
            }
        }
        KnobKind::Users => {
            w.users = Some(value.round() as usize);
            w.model = LoadModel::Closed;
        }
        KnobKind::Count | KnobKind::Duration => {}
    }
    w.stages.clear();
    w.duration = Some(spec.step);
    w.requests = None;
    // A probe past the knee says nothing more by running its whole step: it is a fail already.
    w.stop_on_saturation = spec.stop_on_saturation;
    w
}

/// The client settings of a probe: `[client]`, with the knob applied when it is a client key.
pub fn probe_client(s: &Scenario, knob: &Knob, value: f64) -> Result<ClientSettings, String> {
    match knob.kind {
        KnobKind::Rate | KnobKind::Users => Ok(s.client.clone()),
        KnobKind::Count | KnobKind::Duration => client_with(&s.client, knob, value),
    }
}

/// Wall time a probe may take at most: warm-up, step, grace, and the pause between runs.
pub fn probe_length(s: &Scenario, spec: &SearchSpec) -> std::time::Duration {
    s.workload.warmup.0 + spec.step.0 + s.workload.grace.0 + crate::runner::COOL_DOWN + OVERHEAD
}

/// The scenario and planned run of one probe of `target`; `repeat` (0 for the first look) names repeats apart.
pub fn probe_run(
    s: &Scenario,
    spec: &SearchSpec,
    knob: &Knob,
    target: &Target,
    value: f64,
    repeat: usize,
) -> Result<(Scenario, PlannedRun), String> {
    let mut scenario = s.clone();
    scenario.workload = configure_probe_workload(&s.workload, knob, value, spec);
    scenario.targets = vec![target.clone()];
    let settings = probe_client(s, knob, value)?;
    let mut variant = format!("{}={}", knob.name, format_bare(knob.kind, value));
    if repeat > 0 {
        variant.push_str(&format!(" #{}", repeat + 1));
    }
    let planned = PlannedRun {
        target: target.clone(),
        variant,
        settings: settings.clone(),
    };
    scenario.client = settings;
    Ok((scenario, planned))
}
