//! Executing a plan: for each run, bring up its target (embedded mock or URL), build the client, drive the load, collect a `RunResult`.

use crate::scrape::{fetch::ScrapeUrl, Scraper};
use crate::trace::{RunLabels, TraceSink};
use crate::{
    client::{Client, Origin},
    load::{self, MixOptions, Progress, RequestMix, Stop, StopStage},
    metrics::{
        results::{HostInfo, RunIdentity, ScenarioInfo, ToolInfo, SCHEMA_VERSION},
        ResultsFile, RunResult,
    },
    scenario::{Plan, PlannedRun, RequestKind, Scenario, Target},
};
use crate::{load::guard::SpendGuard, metrics::results::BreakerEvent, scenario::price_of};
use mock_upstream::{MockHandle, MockServer};
use std::{path::Path, sync::Arc, time::Duration};

/// Why a plan could not be executed (as opposed to requests failing, which are outcomes).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A target's API key variable is not set.
    #[error("target `{target}`: environment variable `{var}` (api_key_env) is not set; export it or remove `api_key_env`")]
    MissingKey {
        /// Target name.
        target: String,
        /// Variable name.
        var: String,
    },
    /// The embedded mock could not start.
    #[error("target `{target}`: cannot start the embedded mock-upstream: {error}")]
    Mock {
        /// Target name.
        target: String,
        /// Why.
        error: String,
    },
    /// The target is unusable as configured.
    #[error("target `{target}`: {error}")]
    Target {
        /// Target name.
        target: String,
        /// Why.
        error: String,
    },
}

/// Pause between runs so one run's connections and backlog do not leak into the next.
pub(crate) const COOL_DOWN: Duration = Duration::from_millis(500);

/// Checks what can be checked before any load is sent (keys present, URLs valid, mix buildable).
pub fn preflight(scenario: &Scenario) -> Result<(), RunError> {
    for target in &scenario.targets {
        if target.max_cost_usd.is_some() && price_of(&target.model, &scenario.pricing).is_none() {
            return Err(RunError::Target {
                target: target.name.clone(),
                error: format!(
                    "max_cost_usd needs a price for model `{}`: add [pricing.\"{}\"] input = ..., output = ... (USD per million tokens)",
                    target.model, target.model
                ),
            });
        }
        build_mix(scenario, target)?;
    }
    Ok(())
}

/// `target`'s request mix, with its API key and the scenario's `[report]` options.
fn build_mix(scenario: &Scenario, target: &Target) -> Result<RequestMix, RunError> {
    let key = api_key(target)?;
    // Checked when the scenario was read.
    let record = scenario.report.record_header_names().unwrap_or_default();
    let options = MixOptions {
        api_key: key.as_deref(),
        audit: scenario.report.usage_audit(),
        record_headers: &record,
    };
    RequestMix::build(target, &scenario.workload.mix, options).map_err(|error| RunError::Target {
        target: target.name.clone(),
        error,
    })
}

/// The scenario's open-model rate (req/s), shown beside the measured one; `None` for a closed model.
pub(crate) fn open_rate(scenario: &Scenario) -> Option<f64> {
    let workload = &scenario.workload;
    workload.is_open().then(|| workload.pacer().mean_rate())
}

/// What the runner tells its caller while a plan runs.
pub enum RunEvent<'a> {
    /// Once per second of a run.
    Progress(&'a Progress),
    /// A run ended and was merged: its exact result.
    Finished(&'a RunResult),
}

/// Runs every planned run in order and gathers the results file. Stops early (keeping what was measured) when `stop` is interrupted.
pub async fn execute(
    scenario: &Scenario,
    scenario_file: &Path,
    plan: &Plan,
    stop: &Stop,
    trace: Option<&TraceSink>,
    mut on_event: impl FnMut(&PlannedRun, RunEvent<'_>),
) -> Result<ResultsFile, RunError> {
    preflight(scenario)?;
    let started_at = now_rfc3339();
    let mut runs = Vec::new();
    for (i, planned) in plan.runs.iter().enumerate() {
        // Ctrl-C or an `abort_on_fail` threshold: no further runs.
        if stop.stage() != StopStage::Running {
            break;
        }
        if i > 0 {
            tokio::time::sleep(COOL_DOWN).await;
        }
        let result = execute_forwarded(scenario, planned, stop, i as u64, trace, |p| {
            on_event(planned, RunEvent::Progress(p))
        })
        .await?;
        on_event(planned, RunEvent::Finished(&result));
        runs.push(result);
    }
    Ok(results_file(
        scenario,
        scenario_file,
        &plan.name,
        started_at,
        stop.was_interrupted(),
        runs,
    ))
}

/// The results file around `runs`.
pub(crate) fn results_file(
    scenario: &Scenario,
    scenario_file: &Path,
    name: &str,
    started_at: String,
    interrupted: bool,
    runs: Vec<RunResult>,
) -> ResultsFile {
    ResultsFile {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        host: HostInfo::current(),
        scenario: ScenarioInfo {
            name: name.to_string(),
            file: scenario_file.display().to_string(),
            resolved: serde_json::to_value(scenario).unwrap_or(serde_json::Value::Null),
        },
        started_at,
        interrupted,
        relay_overhead: scenario
            .report
            .baseline
            .as_deref()
            .map(|b| crate::metrics::overhead::compute(b, &runs)),
        runs,
        thresholds: Vec::new(),
        shard: None,
        search: Vec::new(),
    }
}

/// Runs one planned run with its own stop stages, the user's interrupt forwarded into them.
pub(crate) async fn execute_forwarded(
    scenario: &Scenario,
    planned: &PlannedRun,
    stop: &Stop,
    index: u64,
    trace: Option<&TraceSink>,
    on_progress: impl FnMut(&Progress),
) -> Result<RunResult, RunError> {
    let run_stop = Stop::new();
    let forward = {
        let (outer, inner) = (stop.clone(), run_stop.clone());
        tokio::spawn(async move {
            outer.reached(StopStage::Draining).await;
            inner.interrupt();
            // A second Ctrl-C cuts the grace period short.
            while !outer.was_hurried() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            inner.hurry();
        })
    };
    let result = execute_one(scenario, planned, &run_stop, index, trace, on_progress).await;
    forward.abort();
    result
}

async fn execute_one(
    scenario: &Scenario,
    planned: &PlannedRun,
    stop: &Stop,
    index: u64,
    trace: Option<&TraceSink>,
    on_progress: impl FnMut(&Progress),
) -> Result<RunResult, RunError> {
    let target = &planned.target;
    let mock = start_mock(target).await?;
    let url = match (&mock, &target.url) {
        (Some(m), _) => m.base_url(),
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("validated: a target has a url or a mock"),
    };
    let origin = Origin::parse(&url).map_err(|error| RunError::Target {
        target: target.name.clone(),
        error,
    })?;
    let mix = build_mix(scenario, target)?;
    let (encoding, chat) = (
        mix.encoding,
        scenario
            .workload
            .mix
            .iter()
            .any(|m| m.kind == RequestKind::Chat),
    );
    if mix.audit && chat {
        // Loaded now, not inside the first request's timing; never for a mix without
        // completions (an `http` benchmark does not pay the encoding's tables).
        encoding.encoding.preload();
    }
    let client = Client::new(origin, planned.settings.clone()).map_err(|e| RunError::Target {
        target: target.name.clone(),
        error: e.to_string(),
    })?;
    let price = price_of(&target.model, &scenario.pricing);
    let guard = Arc::new(SpendGuard::new(
        target.max_requests,
        target.max_cost_usd,
        price,
    ));
    let scraper = match scrape_url(target, mock.as_ref()) {
        Ok(url) => url.map(|url| Scraper::start(url, target.metrics.clone())),
        Err(error) => {
            return Err(RunError::Target {
                target: target.name.clone(),
                error,
            })
        }
    };
    let output = load::run(
        &scenario.workload,
        scenario.slo,
        client.clone(),
        mix,
        guard.clone(),
        stop.clone(),
        0x5EED + index,
        // Made last, so that runs that fail before load take no run number.
        trace.map(|sink| {
            sink.tap(RunLabels {
                target: target.name.clone(),
                variant: planned.variant.clone(),
            })
        }),
        on_progress,
    )
    .await;
    client.close_idle();
    let target_metrics = match scraper {
        Some(s) => Some(s.finish(output.start).await),
        None => None,
    };
    let identity = RunIdentity {
        target: target.name.clone(),
        variant: planned.variant.clone(),
        settings: planned.settings.clone(),
        load: scenario.workload.describe(),
        target_rps: open_rate(scenario),
    };
    let mut result = RunResult::from_recorder(
        identity,
        &output.recorder,
        output.ledger,
        output.measured_seconds,
        output.series,
        client.pool_stats(),
    );
    if let Some(audit) = &mut result.usage_audit {
        audit.tokenizer = encoding.encoding.name().into();
        audit.exact = encoding.exact;
    }
    result.api = chat.then(|| target.api.name().to_string());
    let spend = guard.spend();
    result.cost_usd = price.map(|_| spend.cost_usd);
    result.spend = (price.is_some() || target.max_requests.is_some()).then_some(spend);
    result.stopped_early = guard.tripped();
    result.slo = (!scenario.slo.is_unset()).then_some(scenario.slo);
    result.saturated = output.saturated;
    result.target_metrics = target_metrics;
    result.load_started_unix_ms = crate::metrics::results::unix_ms_of(output.start);
    result.breaker_events = client
        .breaker_events()
        .iter()
        .map(|e| BreakerEvent {
            t_ms: e.at.saturating_duration_since(output.start).as_millis() as u64,
            state: e.to.name().into(),
        })
        .collect();
    if let Some(m) = mock {
        // Read before shutdown: the mock's own view of how late it was, so a report can tell
        // mock overload apart from the upstream behaviour the mock simulates.
        result.mock_lateness = Some(m.lateness());
        m.shutdown().await;
    }
    Ok(result)
}

/// Where `metrics_url` points, with `"mock"` resolved to the embedded mock's control address.
fn scrape_url(target: &Target, mock: Option<&MockHandle>) -> Result<Option<ScrapeUrl>, String> {
    let Some(url) = &target.metrics_url else {
        return Ok(None);
    };
    if url == crate::scrape::MOCK {
        let addr = mock
            .and_then(MockHandle::control_addr)
            .ok_or("`metrics_url = \"mock\"` needs the embedded mock with its control routes")?;
        return ScrapeUrl::parse(&format!("http://{addr}/_mock/metrics")).map(Some);
    }
    ScrapeUrl::parse(url).map(Some)
}

async fn start_mock(target: &Target) -> Result<Option<MockHandle>, RunError> {
    let Some(config) = &target.mock else {
        return Ok(None);
    };
    let addr = "127.0.0.1:0".parse().expect("static address parses");
    MockServer::start(addr, config.clone())
        .await
        .map(Some)
        .map_err(|e| RunError::Mock {
            target: target.name.clone(),
            error: e.to_string(),
        })
}

/// Reads the target's API key from its environment variable. The key is never logged.
fn api_key(target: &Target) -> Result<Option<String>, RunError> {
    let Some(var) = &target.api_key_env else {
        return Ok(None);
    };
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Some(v)),
        _ => Err(RunError::MissingKey {
            target: target.name.clone(),
            var: var.clone(),
        }),
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
