//! Expanding a scenario into the ordered list of runs: targets × client variants (from `[matrix]` or `[[variant]]`).

use super::model::{Scenario, Target};
use crate::client::ClientSettings;

/// One run to execute.
#[derive(Clone, Debug)]
pub struct PlannedRun {
    /// The target.
    pub target: Target,
    /// Variant name (`default` without a matrix).
    pub variant: String,
    /// Client settings of this variant.
    pub settings: ClientSettings,
}

/// The runs of a scenario, in execution order.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// Runs, target-major, variants in the order written.
    pub runs: Vec<PlannedRun>,
}

/// A variant that cannot be built: the dotted key at fault and why.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantError {
    /// e.g. `matrix.max_connections` or `variant[1].retry.max_retries`.
    pub key: String,
    /// What was wrong.
    pub message: String,
}

impl Plan {
    /// Expands `scenario` (named `name`) into runs. The scenario has been checked, so variants build.
    pub fn new(name: String, scenario: &Scenario) -> Plan {
        let variants = variants(scenario)
            .unwrap_or_else(|_| vec![("default".into(), scenario.client.clone())]);
        let runs = scenario
            .targets
            .iter()
            .flat_map(|t| {
                variants.iter().map(|(variant, settings)| PlannedRun {
                    target: t.clone(),
                    variant: variant.clone(),
                    settings: settings.clone(),
                })
            })
            .collect();
        Plan { name, runs }
    }

    /// Keeps only the runs whose variant (or `target/variant`) is named in `only`.
    pub fn only(&mut self, only: &[String]) {
        if only.is_empty() {
            return;
        }
        self.runs.retain(|r| {
            only.iter()
                .any(|o| *o == r.variant || *o == format!("{}/{}", r.target.name, r.variant))
        });
    }
}

/// The client variants of a scenario: explicit `[[variant]]` tables, then the `[matrix]` product, or just `default`.
pub fn variants(scenario: &Scenario) -> Result<Vec<(String, ClientSettings)>, VariantError> {
    let base = toml::Table::try_from(&scenario.client).map_err(|e| VariantError {
        key: "client".into(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (i, v) in scenario.variants.iter().enumerate() {
        let mut table = v.clone();
        let name = match table.remove("name") {
            Some(toml::Value::String(s)) => s,
            Some(_) => {
                return Err(VariantError {
                    key: format!("variant[{i}].name"),
                    message: "must be a string".into(),
                })
            }
            None => {
                return Err(VariantError {
                    key: format!("variant[{i}]"),
                    message: "needs a `name`".into(),
                })
            }
        };
        let mut merged = base.clone();
        deep_merge(&mut merged, &table);
        out.push((name, build(&merged, &format!("variant[{i}]"))?));
    }
    let axes: Vec<(&String, &Vec<toml::Value>)> = match &scenario.matrix {
        None => Vec::new(),
        Some(m) => m
            .iter()
            .map(|(k, v)| match v {
                toml::Value::Array(values) if !values.is_empty() => Ok((k, values)),
                _ => Err(VariantError {
                    key: format!("matrix.{k}"),
                    message: "must be a non-empty list of values, e.g. [10, 20, 50]".into(),
                }),
            })
            .collect::<Result<_, _>>()?,
    };
    if !axes.is_empty() {
        let total: usize = axes.iter().map(|(_, v)| v.len()).product();
        for index in 0..total {
            let mut rest = index;
            let mut merged = base.clone();
            let mut name = Vec::new();
            // The last axis varies fastest, so runs read like nested loops in the order written.
            let mut picks = vec![0; axes.len()];
            for (a, (_, values)) in axes.iter().enumerate().rev() {
                picks[a] = rest % values.len();
                rest /= values.len();
            }
            for (a, (key, values)) in axes.iter().enumerate() {
                let value = &values[picks[a]];
                set_path(&mut merged, key, value.clone()).map_err(|message| VariantError {
                    key: format!("matrix.{key}"),
                    message,
                })?;
                name.push(format!("{key}={}", display(value)));
            }
            out.push((
                name.join(","),
                build(&merged, &format!("matrix.{}", axes[0].0))?,
            ));
        }
    }
    if out.is_empty() {
        out.push(("default".into(), scenario.client.clone()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in &out {
        if !seen.insert(name.clone()) {
            return Err(VariantError {
                key: "variant".into(),
                message: format!("variant name `{name}` is used twice"),
            });
        }
    }
    Ok(out)
}

/// `client` with one dotted key (`max_connections`, `timeouts.pool`) set to `value`, checked as a variant is: the knob of `search`.
pub fn with_client_key(
    client: &ClientSettings,
    dotted: &str,
    value: toml::Value,
) -> Result<ClientSettings, VariantError> {
    let mut table = toml::Table::try_from(client).map_err(|e| VariantError {
        key: "client".into(),
        message: e.to_string(),
    })?;
    let key = format!("search.knob ({dotted})");
    set_path(&mut table, dotted, value).map_err(|message| VariantError {
        key: key.clone(),
        message,
    })?;
    build(&table, &key)
}

fn build(table: &toml::Table, key: &str) -> Result<ClientSettings, VariantError> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| VariantError {
            key: key.to_string(),
            message: e.message().trim().to_string(),
        })
}

fn display(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn deep_merge(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => deep_merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn set_path(table: &mut toml::Table, dotted: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().ok_or("empty key")?;
    let mut t = table;
    for p in parts {
        t = match t.get_mut(p) {
            Some(toml::Value::Table(inner)) => inner,
            _ => {
                return Err(format!(
                    "`{p}` is not a [client] sub-table (timeouts, retry, breaker)"
                ))
            }
        };
    }
    if !t.contains_key(last) && !matches!(last, "deadline" | "ca_file" | "budget_ratio") {
        return Err(format!("`{dotted}` is not a [client] setting"));
    }
    t.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(extra: &str) -> Scenario {
        let text = format!("[[target]]\nname = \"a\"\n[target.mock]\n[[target]]\nname = \"b\"\n[target.mock]\n[workload]\nusers = 1\nduration = \"1s\"\n{extra}");
        super::super::parse(Path::new("t.toml"), &text).unwrap()
    }

    #[test]
    fn matrix_is_a_cartesian_product_in_written_order() {
        let s = scenario("[matrix]\nmax_connections = [10, 20]\nhttp = [\"1\", \"2\"]\n");
        let plan = Plan::new("t".into(), &s);
        let names: Vec<String> = plan
            .runs
            .iter()
            .map(|r| format!("{}/{}", r.target.name, r.variant))
            .collect();
        assert_eq!(names.len(), 8);
        assert_eq!(names[0], "a/http=1,max_connections=10");
        assert_eq!(plan.runs[1].settings.max_connections, 20);
        assert_eq!(names[4], "b/http=1,max_connections=10");
    }

    #[test]
    fn explicit_variants_override_the_base() {
        let s = scenario("[client]\nmax_connections = 7\n[[variant]]\nname = \"no-retry\"\nretry = { max_retries = 0 }\n");
        let v = variants(&s).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, "no-retry");
        assert_eq!(v[0].1.retry.max_retries, 0);
        assert_eq!(
            v[0].1.max_connections, 7,
            "unchanged settings come from [client]"
        );
    }

    #[test]
    fn bad_matrix_keys_are_named() {
        let text = "[[target]]\nname = \"a\"\n[target.mock]\n[workload]\nusers = 1\nduration = \"1s\"\n[matrix]\nmax_conections = [1]\n";
        let err = super::super::parse(Path::new("t.toml"), text).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("matrix.max_conections"));
        assert_eq!(err.line, Some(8));
    }
}
