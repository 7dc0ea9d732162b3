//! Reading a scenario file: strict TOML deserialization, then checks that need the whole scenario, each error located.

use super::{
    error::{key_at_line, line_col, ScenarioError},
    model::{LoadModel, RequestKind, Scenario},
};
use std::path::Path;

/// The scenario file's text, or an error naming the file.
fn read_source(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read the scenario file: {e}"),
    })
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = read_source(path)?;
    let mut scenario = parse(path, &source)?;
    load_prompt_files(path, &source, &mut scenario)?;
    Ok(scenario)
}

/// Reads every mix entry's `dataset` (relative to the scenario file).
fn load_datasets(path: &Path, source: &str, scenario: &mut Scenario) -> Result<(), ScenarioError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    for (i, template) in scenario.workload.mix.iter_mut().enumerate() {
        let Some(spec) = &template.dataset else {
            continue;
        };
        let full = dir.join(&spec.path);
        let key = Some(format!("workload.mix[{i}].dataset"));
        let text = std::fs::read_to_string(&full).map_err(|e| {
            let line = mix_key_line(source, i, "dataset");
            ScenarioError {
                file: path.to_path_buf(),
                line,
                column: line.map(|_| 1),
                key: key.clone(),
                message: format!("cannot read `{}`: {e}", full.display()),
            }
        })?;
        template.dataset_entries =
            super::dataset::parse(&text, spec.format).map_err(|(line, message)| ScenarioError {
                file: full.clone(),
                line: Some(line),
                column: None,
                key: key.clone(),
                message,
            })?;
    }
    Ok(())
}

/// Reads every mix entry's `prompts_file` (relative to the scenario file).
fn load_prompt_files(
    path: &Path,
    source: &str,
    scenario: &mut Scenario,
) -> Result<(), ScenarioError> {
    load_datasets(path, source, scenario)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for (i, template) in scenario.workload.mix.iter_mut().enumerate() {
        let Some(file) = &template.prompts_file else {
            continue;
        };
        let full = dir.join(file);
        let located = |line: Option<usize>, message: String| ScenarioError {
            file: if line.is_some() {
                full.clone()
            } else {
                path.to_path_buf()
            },
            line: line.or_else(|| find_key_line(source, "prompts_file")),
            column: None,
            key: Some(format!("workload.mix[{i}].prompts_file")),
            message,
        };
        let text = std::fs::read_to_string(&full)
            .map_err(|e| located(None, format!("cannot read `{}`: {e}", full.display())))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| located(Some(n + 1), format!("not JSON: {e}")))?;
            crate::load::template::Template::parse(line).map_err(|e| located(Some(n + 1), e))?;
            if template.turns.is_some() && crate::load::template::Template::is_templated(line) {
                return Err(located(Some(n + 1), CONVERSATION_PLACEHOLDERS.into()));
            }
            let messages = match &value {
                serde_json::Value::String(p) => super::dataset::user_message(p),
                serde_json::Value::Object(o) if o.get("messages").is_some_and(|m| m.is_array()) => {
                    o["messages"].clone()
                }
                serde_json::Value::Object(o) if o.get("prompt").is_some_and(|p| p.is_string()) => {
                    super::dataset::user_message(o["prompt"].as_str().unwrap_or_default())
                }
                _ => {
                    return Err(located(
                        Some(n + 1),
                        "expected a JSON string, {\"prompt\": \"...\"} or {\"messages\": [...]}"
                            .into(),
                    ))
                }
            };
            template.file_prompts.push(messages);
        }
        if template.file_prompts.is_empty() {
            return Err(located(
                None,
                format!("`{}` holds no prompts", full.display()),
            ));
        }
    }
    Ok(())
}

/// Reads a scenario file and applies `--set key=value` overrides before checking it.
pub fn load_with(path: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
    if sets.is_empty() {
        return load(path);
    }
    let source = read_source(path)?;
    let fail = |key: Option<String>, message: String| ScenarioError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        key,
        message,
    };
    let mut table: toml::Table = source
        .parse()
        .map_err(|e: toml::de::Error| fail(None, e.message().to_string()))?;
    for set in sets {
        let (key, value) = set.split_once('=').ok_or_else(|| {
            fail(
                None,
                format!("--set `{set}`: expected KEY=VALUE, e.g. workload.users=64"),
            )
        })?;
        let value = parse_value(value.trim());
        apply(&mut table, key.trim(), value)
            .map_err(|m| fail(Some(key.trim().to_string()), format!("--set: {m}")))?;
    }
    let text = toml::to_string(&table).map_err(|e| fail(None, e.to_string()))?;
    let mut scenario = parse(&path.with_extension("toml (after --set)"), &text)?;
    load_prompt_files(path, &source, &mut scenario)?;
    Ok(scenario)
}

/// A `--set` value: TOML when it parses as TOML (`64`, `true`, `[1, 2]`, `"x"`), else a plain string (`10s`).
fn parse_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Sets a dotted key (`client.timeouts.pool`; `target.0.url` for the first target), creating tables as needed.
fn apply(table: &mut toml::Table, dotted: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = dotted.split('.').collect();
    let (first, rest) = parts.split_first().ok_or("empty key")?;
    if rest.is_empty() {
        table.insert(first.to_string(), value);
        return Ok(());
    }
    let child = table
        .entry(first.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in(child, first, rest, value)
}

fn set_in(
    node: &mut toml::Value,
    name: &str,
    rest: &[&str],
    value: toml::Value,
) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => apply(t, &rest.join("."), value),
        toml::Value::Array(items) => {
            let (index, tail) = rest.split_first().ok_or("empty key")?;
            let i: usize = index.parse().map_err(|_| {
                format!("`{name}` is a list; address an element as `{name}.0.<key>`")
            })?;
            let item = items
                .get_mut(i)
                .ok_or_else(|| format!("`{name}` has no element {i}"))?;
            if tail.is_empty() {
                *item = value;
                return Ok(());
            }
            set_in(item, index, tail, value)
        }
        _ => Err(format!("`{name}` is not a table")),
    }
}

/// Parses scenario text; `path` is only used in error messages.
pub fn parse(path: &Path, source: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = toml::from_str(source).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => {
                let (l, c) = line_col(source, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ScenarioError {
            file: path.to_path_buf(),
            line,
            column,
            key: line.and_then(|l| key_at_line(source, l)),
            message: e.message().trim().to_string(),
        }
    })?;
    check(path, source, &scenario)?;
    Ok(scenario)
}

/// What is wrong with a target's `metrics_url` / `metrics`, if anything: (field, message).
fn metrics_problem(t: &super::Target) -> Option<(&'static str, String)> {
    use crate::scrape::{exposition::is_valid_pattern, fetch::ScrapeUrl, MOCK};
    let Some(url) = &t.metrics_url else {
        return (!t.metrics.is_empty()).then(|| {
            (
                "metrics",
                "`metrics` needs `metrics_url` (the endpoint to scrape them from)".to_string(),
            )
        });
    };
    if url == MOCK {
        match &t.mock {
            None => {
                return Some((
                    "metrics_url",
                    format!("`metrics_url = \"{MOCK}\"` needs a `[target.mock]` table; give an `http://` URL for other targets"),
                ))
            }
            Some(m) if !m.control.enabled => {
                return Some((
                    "metrics_url",
                    format!("`metrics_url = \"{MOCK}\"` needs the mock's control routes (`[target.mock.control] enabled = true`)"),
                ))
            }
            Some(_) => {}
        }
    } else if let Err(e) = ScrapeUrl::parse(url) {
        return Some(("metrics_url", e));
    }
    if t.metrics.is_empty() {
        return Some((
            "metrics",
            "`metrics_url` needs `metrics = [\"name\", \"prefix_*\"]`: the series to keep".into(),
        ));
    }
    t.metrics.iter().find(|p| !is_valid_pattern(p)).map(|p| {
        (
            "metrics",
            format!("`{p}` is not a metric name or a name prefix ending in `*`"),
        )
    })
}

/// Checks that span several fields.
fn check(path: &Path, source: &str, s: &Scenario) -> Result<(), ScenarioError> {
    let fail = |key: &str, message: String| {
        let line = find_key_line(source, key);
        Err(ScenarioError {
            file: path.to_path_buf(),
            line,
            column: line.map(|_| 1),
            key: Some(key.to_string()),
            message,
        })
    };
    if s.targets.is_empty() {
        return fail("target", "at least one [[target]] is required".into());
    }
    for (i, t) in s.targets.iter().enumerate() {
        let key = format!("target[{i}]");
        match (&t.url, &t.mock) {
            (Some(_), Some(_)) => {
                return fail(
                    &key,
                    format!(
                        "target `{}` has both `url` and a `mock` table; give one",
                        t.name
                    ),
                )
            }
            (None, None) => {
                return fail(
                    &key,
                    format!(
                        "target `{}` needs `url = \"https://...\"` or a `[target.mock]` table",
                        t.name
                    ),
                )
            }
            (Some(url), None) => {
                if let Err(e) = crate::client::Origin::parse(url) {
                    return fail(&format!("{key}.url"), e);
                }
            }
            (None, Some(mock)) => {
                if let Err(e) = mock.validate() {
                    return fail(&format!("{key}.mock"), e.to_string());
                }
            }
        }
        if let Some((field, message)) = metrics_problem(t) {
            return fail(&format!("{key}.{field}"), message);
        }
        if s.targets[..i].iter().any(|o| o.name == t.name) {
            return fail(
                &format!("{key}.name"),
                format!("target name `{}` is used twice", t.name),
            );
        }
    }
    let w = &s.workload;
    let window = w.saturation_window.0;
    if window < std::time::Duration::from_secs(2) || window.subsec_nanos() != 0 {
        return fail(
            "workload.saturation_window",
            format!(
                "`{}`: give whole seconds, at least \"2s\" (one second of samples is noise)",
                w.saturation_window
            ),
        );
    }
    if matches!(w.model, LoadModel::Ramp | LoadModel::Closed) && !w.stages.is_empty() {
        // A ramp's (or staged closed model's) length is the sum of its stages.
    } else if w.duration.is_none() && w.requests.is_none() {
        return fail(
            "workload",
            "give `duration` (e.g. \"10s\") or `requests` (a count), or both".into(),
        );
    }
    match w.model {
        LoadModel::Closed if !w.stages.is_empty() => {
            if w.users.is_some() {
                return fail(
                    "workload.users",
                    "give `users` (a fixed count) or `stages` (a ramp of users), not both".into(),
                );
            }
            for (i, st) in w.stages.iter().enumerate() {
                if st.users.is_none() {
                    return fail(
                        &format!("workload.stages[{i}].users"),
                        "closed-model stages need `users`, e.g. `{ users = 50, duration = \"20s\" }`"
                            .into(),
                    );
                }
                if st.rate.is_some() {
                    return fail(
                        &format!("workload.stages[{i}].rate"),
                        "`rate` belongs to the ramp model's stages; closed-model stages take `users`"
                            .into(),
                    );
                }
            }
            if w.user_stages().is_some_and(|s| s.max_users() == 0) {
                return fail(
                    "workload.stages",
                    "at least one stage (or `start_users`) needs `users` ≥ 1".into(),
                );
            }
        }
        LoadModel::Closed => {
            if w.users.unwrap_or(0) == 0 {
                return fail(
                    "workload.users",
                    "the closed model needs `users` ≥ 1, or `stages = [{ users = 10, duration = \"10s\" }, ...]`"
                        .into(),
                );
            }
        }
        LoadModel::Constant | LoadModel::Poisson => {
            if !w.rate.is_some_and(|r| r > 0.0 && r.is_finite()) {
                return fail(
                    "workload.rate",
                    "open models need `rate` > 0 (requests per second)".into(),
                );
            }
            if w.users.is_some() {
                return fail(
                    "workload.users",
                    "`users` belongs to the closed model; open models take `rate`".into(),
                );
            }
            if w.duration.is_none() {
                return fail(
                    "workload.duration",
                    "open models need a `duration` (the schedule's length)".into(),
                );
            }
        }
        LoadModel::Ramp => {
            if w.stages.is_empty() {
                return fail(
                    "workload.stages",
                    "the ramp model needs `stages = [{ rate = 100, duration = \"30s\" }, ...]`"
                        .into(),
                );
            }
            for (i, st) in w.stages.iter().enumerate() {
                let Some(rate) = st.rate else {
                    return fail(
                        &format!("workload.stages[{i}].rate"),
                        "ramp stages need `rate`, e.g. `{ rate = 100, duration = \"30s\" }`".into(),
                    );
                };
                if !(rate >= 0.0 && rate.is_finite()) {
                    return fail("workload.stages", "stage rates must be ≥ 0".into());
                }
                if st.users.is_some() {
                    return fail(
                        &format!("workload.stages[{i}].users"),
                        "`users` belongs to closed-model stages; ramp stages take `rate`".into(),
                    );
                }
            }
            if w.start_rate < 0.0 {
                return fail("workload.stages", "stage rates must be ≥ 0".into());
            }
        }
    }
    if w.mix.is_empty() || w.mix.iter().all(|m| m.weight == 0) {
        return fail(
            "workload.mix",
            "the request mix needs at least one entry with weight ≥ 1".into(),
        );
    }
    for (i, m) in w.mix.iter().enumerate() {
        if m.kind != RequestKind::Http {
            let set = [
                ("expect_status", m.expect_status.is_some()),
                ("expect_body_contains", m.expect_body_contains.is_some()),
            ];
            if let Some((key, _)) = set.iter().find(|(_, set)| *set) {
                return fail(
                    &format!("workload.mix[{i}].{key}"),
                    format!(
                        "`{key}` checks `kind = \"http\"` answers; a {} answer is checked by its protocol (a 2xx that is no valid answer is `bad_response`)",
                        if m.kind == RequestKind::Chat { "chat" } else { "embeddings" }
                    ),
                );
            }
        }
        if m.expect_body_contains.as_deref() == Some("") {
            return fail(
                &format!("workload.mix[{i}].expect_body_contains"),
                "an empty text is in every body: give the text the answer must contain".into(),
            );
        }
        let problem = lengths_problem(m).or_else(|| conversation_problem(m, w.is_open()));
        if let Some((key, message)) = problem {
            let line = mix_key_line(source, i, key.split('.').next().unwrap_or(&key));
            return Err(ScenarioError {
                file: path.to_path_buf(),
                line,
                column: line.map(|_| 1),
                key: Some(format!("workload.mix[{i}].{key}")),
                message,
            });
        }
        // Caught here, with the key, rather than as a surprise when the run starts.
        if let Some(body) = &m.body {
            if let Err(e) = crate::load::template::Template::parse(body) {
                return fail(&format!("workload.mix[{i}].body"), e);
            }
        }
        for (j, prompt) in m.prompts.iter().enumerate() {
            if let Err(e) = crate::load::template::Template::parse(prompt) {
                return fail(&format!("workload.mix[{i}].prompts[{j}]"), e);
            }
        }
    }
    if let Some(baseline) = &s.report.baseline {
        if !s.targets.iter().any(|t| &t.name == baseline) {
            let names: Vec<String> = s.targets.iter().map(|t| format!("`{}`", t.name)).collect();
            return fail(
                "report.baseline",
                format!(
                    "no target is named `{baseline}`: name the target that reaches the upstream without the relay, one of {}",
                    names.join(", ")
                ),
            );
        }
    }
    if let Err(e) = s.report.record_header_names() {
        return fail("report.record_headers", e);
    }
    if let Err(e) = super::plan::variants(s) {
        return fail(&e.key, e.message);
    }
    if s.client.max_connections == 0 {
        return fail("client.max_connections", "must be at least 1".into());
    }
    if let Some(search) = &s.search {
        if let Err(e) = search.knob(s) {
            return fail(&e.key, e.message);
        }
        if s.client.max_connections == 0 {
            return fail("client.max_connections", "must be at least 1".into());
        }
    }
    crate::gate::check_thresholds(s, source).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: e.line,
        column: e.line.map(|_| 1),
        key: Some(e.key),
        message: e.message,
    })
}

/// Largest `prompt_pool`: 100,000 prompts of 4,096 tokens are about 4 GB (docs/workloads.md).
const MAX_PROMPT_POOL: usize = 100_000;

/// What is wrong with a mix entry's generated lengths and prefixes, if anything: (key below
/// the entry, message).
fn lengths_problem(m: &super::RequestTemplate) -> Option<(String, String)> {
    for (name, spec) in [
        ("input_tokens", &m.input_tokens),
        ("output_tokens", &m.output_tokens),
    ] {
        let Some(spec) = spec else { continue };
        if m.kind != RequestKind::Chat {
            return Some((
                name.into(),
                format!("`{name}` shapes `kind = \"chat\"` requests"),
            ));
        }
        if let Some((field, message)) = spec.problem() {
            return Some((format!("{name}.{field}"), message));
        }
    }
    if m.dataset.is_some() {
        if m.kind != RequestKind::Chat {
            return Some((
                "dataset".into(),
                "`dataset` feeds `kind = \"chat\"` requests".into(),
            ));
        }
        if m.input_tokens.is_some() || !m.prompts.is_empty() || m.prompts_file.is_some() {
            return Some((
                "dataset".into(),
                "`dataset` supplies the prompts: leave out `input_tokens`, `prompts` and `prompts_file`"
                    .into(),
            ));
        }
    }
    if m.input_tokens.is_some() && (!m.prompts.is_empty() || m.prompts_file.is_some()) {
        return Some((
            "input_tokens".into(),
            "`input_tokens` generates the prompts: leave out `prompts` and `prompts_file`".into(),
        ));
    }
    if m.prompt_pool == 0 || m.prompt_pool > MAX_PROMPT_POOL {
        return Some((
            "prompt_pool".into(),
            format!("`prompt_pool` must be between 1 and {MAX_PROMPT_POOL} (the pool is held in memory)"),
        ));
    }
    if m.extra_body.is_some() && m.kind != RequestKind::Chat {
        return Some((
            "extra_body".into(),
            "`extra_body` shapes `kind = \"chat\"` bodies; give an `http` entry its `body`".into(),
        ));
    }
    if m.shared_prefix_tokens.is_some() && m.input_tokens.is_none() {
        return Some((
            "shared_prefix_tokens".into(),
            "`shared_prefix_tokens` needs `input_tokens` (the length of each request's own suffix)"
                .into(),
        ));
    }
    if m.shared_prefix_tokens == Some(0) {
        return Some((
            "shared_prefix_tokens".into(),
            "`shared_prefix_tokens` must be at least 1".into(),
        ));
    }
    if m.prefix_groups == 0 {
        return Some((
            "prefix_groups".into(),
            "`prefix_groups` must be at least 1".into(),
        ));
    }
    None
}

/// Most turns a session runs: a draw above it is cut to it.
pub const MAX_TURNS: u32 = 1000;

/// Why a conversation's prompts (`prompts` or a `prompts_file` line) have no placeholders.
const CONVERSATION_PLACEHOLDERS: &str = "a conversation's later turns are built from the prompt as written: leave placeholders (`{{...}}`) out of `prompts` and `prompts_file`";

/// What is wrong with a mix entry's conversation fields, if anything: (key below the entry, message).
fn conversation_problem(m: &super::RequestTemplate, open: bool) -> Option<(String, String)> {
    let Some(turns) = &m.turns else {
        return m.turn_think_time.is_some().then(|| {
            (
                "turn_think_time".into(),
                "`turn_think_time` is the pause between the turns of a conversation: it needs `turns`"
                    .into(),
            )
        });
    };
    if m.kind != RequestKind::Chat {
        return Some((
            "turns".into(),
            "`turns` runs multi-turn `kind = \"chat\"` conversations".into(),
        ));
    }
    if open {
        return Some((
            "turns".into(),
            "conversations need the closed model (`model = \"closed\"`): each session's turns run one after the other on one user, each waiting for the previous answer, which an open model's independent arrivals cannot do".into(),
        ));
    }
    if let Some((field, message)) = turns.problem() {
        return Some((format!("turns.{field}"), message));
    }
    if m.prompts
        .iter()
        .any(|p| crate::load::template::Template::is_templated(p))
    {
        return Some(("turns".into(), CONVERSATION_PLACEHOLDERS.into()));
    }
    None
}

/// Line of `name` inside the `index`-th `[[workload.mix]]` table (or anywhere, as a fallback).
fn mix_key_line(source: &str, index: usize, name: &str) -> Option<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let start = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[workload.mix]]"))
        .nth(index)
        .map(|(n, _)| n + 1);
    let Some(start) = start else {
        return find_key_line(source, name);
    };
    lines[start..]
        .iter()
        .take_while(|l| !l.trim_start().starts_with('['))
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(&format!("{name} ")) || t.starts_with(&format!("{name}="))
        })
        .map(|n| start + n + 1)
        .or_else(|| find_key_line(source, name))
}

/// Best-effort line of a dotted key (`workload.users`, `target[1].url`) for errors found after parsing.
fn find_key_line(source: &str, dotted: &str) -> Option<usize> {
    let last = dotted.rsplit('.').next()?.split('[').next()?.to_string();
    // A matrix key like `matrix.timeouts.pool` is written quoted: `"timeouts.pool" = [...]`.
    let quoted = dotted
        .split_once('.')
        .map(|(_, rest)| format!("\"{rest}\""));
    let names: Vec<String> = std::iter::once(last).chain(quoted).collect();
    source
        .lines()
        .position(|l| {
            let t = l.trim_start();
            names.iter().any(|n| {
                t.starts_with(&format!("{n} "))
                    || t.starts_with(&format!("{n}="))
                    || t.starts_with(&format!("[{n}]"))
                    || t.starts_with(&format!("[[{n}]]"))
            })
        })
        .map(|i| i + 1)
}
