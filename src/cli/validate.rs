//! `relaybench validate`: parse and check a scenario, print the plan (runs, expected requests and time), send nothing.

use crate::scenario::{LoadModel, Plan, Scenario};

/// The plan as text.
pub fn describe_plan(scenario: &Scenario, plan: &Plan) -> String {
    let w = &scenario.workload;
    let mut out = format!(
        "scenario `{}`: {} run(s), {}\n",
        plan.name,
        plan.runs.len(),
        w.describe()
    );
    let per_run = expected_seconds(scenario);
    let requests = expected_requests(scenario);
    for run in &plan.runs {
        out.push_str(&format!("  {}/{}\n", run.target.name, run.variant));
    }
    let n = plan.runs.len() as f64;
    match (per_run, requests) {
        (Some(secs), Some(reqs)) => out.push_str(&format!(
            "expected: about {reqs} requests and {secs:.0} s per run; {:.0} requests and {:.0} s in all (plus grace and cool-down)\n",
            reqs as f64 * n,
            secs * n
        )),
        (Some(secs), None) => out.push_str(&format!(
            "expected: {secs:.0} s per run, {:.0} s in all (closed model: the request count depends on the upstream)\n",
            secs * n
        )),
        (None, Some(reqs)) => out.push_str(&format!("expected: {reqs} requests per run (time depends on the upstream)\n")),
        (None, None) => {}
    }
    if !scenario.slo.is_unset() {
        out.push_str(&format!(
            "slo: a request is good when ok and {} (limits that do not apply to it are not held against it)\n",
            scenario.slo.describe()
        ));
    }
    if w.stop_on_saturation {
        out.push_str(&format!(
            "stop on saturation: judged over {} windows after the warm-up{}\n",
            w.saturation_window,
            if w.is_open() {
                ""
            } else {
                " (closed model: only when every request fails)"
            }
        ));
    }
    for (i, m) in w.mix.iter().enumerate() {
        if let Some(checks) = describe_checks(m) {
            out.push_str(&format!("mix[{i}]: {checks}\n"));
        }
    }
    for t in &scenario.targets {
        let price = crate::scenario::price_of(&t.model, &scenario.pricing);
        // The embedded mock is free; plain HTTP requests carry no tokens.
        let price = price.filter(|_| t.mock.is_none());
        let worst = match (price, requests) {
            (Some(p), Some(n)) => {
                let max_out = w
                    .mix
                    .iter()
                    .filter(|m| m.kind != crate::scenario::RequestKind::Http)
                    .map(|m| m.max_tokens.unwrap_or(4096))
                    .max()
                    .unwrap_or(0);
                Some(
                    p.cost(n * 50, n * max_out as u64)
                        * plan.runs.iter().filter(|r| r.target.name == t.name).count() as f64,
                )
            }
            _ => None,
        };
        let guards = [
            t.max_requests.map(|n| format!("max_requests = {n}")),
            t.max_cost_usd.map(|c| format!("max_cost_usd = ${c:.2}")),
            worst.map(|c| {
                format!("estimated cost at most ${c:.4} (≈50 prompt tokens, max_tokens out)")
            }),
            (price.is_none() && t.mock.is_none())
                .then(|| format!("no price for model `{}`", t.model)),
            t.mock.is_some().then(|| "embedded mock, free".to_string()),
            (t.api != crate::scenario::ApiKind::OpenaiChat)
                .then(|| format!("speaks {}", t.api.name())),
        ];
        let guards: Vec<String> = guards.into_iter().flatten().collect();
        out.push_str(&format!(
            "target `{}` ({}): {}\n",
            t.name,
            t.url.as_deref().unwrap_or("embedded mock"),
            guards.join("; ")
        ));
    }
    out
}

/// Seconds of load per run, when bounded by time.
pub fn expected_seconds(s: &Scenario) -> Option<f64> {
    let w = &s.workload;
    if w.model == LoadModel::Ramp && w.duration.is_none() {
        return Some(w.stages.iter().map(|st| st.duration.0.as_secs_f64()).sum());
    }
    if let Some(stages) = w.user_stages() {
        // Stages end the run; a `duration` (counted after warm-up) can only end it sooner.
        let staged = stages.total().as_secs_f64();
        let bounded = w.duration.map(|d| (w.warmup.0 + d.0).as_secs_f64());
        return Some(bounded.map_or(staged, |b| b.min(staged)));
    }
    w.duration.map(|d| (w.warmup.0 + d.0).as_secs_f64())
}

/// Requests per run (after warm-up) when known in advance: a count bound, or an open model's schedule.
pub fn expected_requests(s: &Scenario) -> Option<u64> {
    let w = &s.workload;
    let scheduled = match w.model {
        LoadModel::Closed => None,
        LoadModel::Ramp => Some(w.pacer().mean_rate() * expected_seconds(s).unwrap_or(0.0)),
        _ => w
            .duration
            .map(|d| w.rate.unwrap_or(0.0) * d.0.as_secs_f64()),
    };
    match (scheduled.map(|x| x.round() as u64), w.requests) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What makes an `http` mix entry's answer a success, when the entry asks more than a 2xx.
fn describe_checks(m: &crate::scenario::RequestTemplate) -> Option<String> {
    let status = m.expect_status.as_ref().map(|s| {
        let codes: Vec<String> = s.0.iter().map(u16::to_string).collect();
        format!("status {}", codes.join(" or "))
    });
    let text = m
        .expect_body_contains
        .as_ref()
        .map(|t| format!("body contains {t:?}"));
    let checks: Vec<String> = status.into_iter().chain(text).collect();
    (!checks.is_empty()).then(|| {
        format!(
            "{} {} is ok when {} (else bad_response)",
            m.method.as_deref().unwrap_or("GET"),
            m.path.as_deref().unwrap_or("/"),
            checks.join(" and ")
        )
    })
}
