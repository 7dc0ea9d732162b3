//! Reading the Prometheus text exposition format (and OpenMetrics text, its successor): the sample lines whose metric name a pattern selects.
//!
//! Written by hand: only sample lines are needed (`name{label="value",...} value [timestamp]`;
//! comments and metadata are skipped), the grammar is a few rules, and the maintained parsers
//! are either tied to a registry or pull in far more than this.

use std::collections::BTreeMap;

/// One sample: metric name, labels, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name (`mock_requests_total`).
    pub name: String,
    /// Labels, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// The value (finite: NaN and infinities are left out, JSON cannot carry them).
    pub value: f64,
}

/// A `metrics = [...]` entry: a metric name, or a prefix when it ends in `*`.
pub fn selects(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// Whether `pattern` is a metric name (or a name prefix ending in `*`).
pub fn is_valid_pattern(pattern: &str) -> bool {
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    let mut chars = name.chars();
    let first_ok = match chars.next() {
        Some(c) => c.is_ascii_alphabetic() || c == '_' || c == ':',
        // A lone `*` selects every metric.
        None => pattern == "*",
    };
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The samples of `text` whose name one of `patterns` selects; lines that do not parse are skipped.
pub fn parse(text: &str, patterns: &[String]) -> Vec<Sample> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let end = line
                .find(|c: char| c == '{' || c.is_whitespace())
                .unwrap_or(line.len());
            let name = &line[..end];
            if !patterns.iter().any(|p| selects(p, name)) {
                return None;
            }
            sample(name, &line[end..])
        })
        .collect()
}

/// The labels and value after the name.
fn sample(name: &str, rest: &str) -> Option<Sample> {
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inner) => labels(inner)?,
        None => (BTreeMap::new(), rest),
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" | "-Inf" | "NaN" => return None,
        v => v.parse::<f64>().ok().filter(|v| v.is_finite())?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `k="v",...}` → the labels and what follows the closing brace.
fn labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Some((out, rest));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let close = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        out.insert(key, value);
        s = s[close + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<String> {
        vec!["*".into()]
    }

    #[test]
    fn samples_with_and_without_labels_escapes_and_timestamps() {
        let text = "# HELP q Queue.\n# TYPE q gauge\nq 3\nreq_total{route=\"/v1/x\",code=\"200\"} 12 1700000000000\nesc{v=\"a\\\"b\\\\c\\nd\"} 1.5e2\n\n";
        let got = parse(text, &all());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].name, "q");
        assert_eq!(got[0].value, 3.0);
        assert_eq!(got[1].labels["route"], "/v1/x");
        assert_eq!(got[1].labels["code"], "200");
        assert_eq!(got[1].value, 12.0);
        assert_eq!(got[2].labels["v"], "a\"b\\c\nd");
        assert_eq!(got[2].value, 150.0);
    }

    #[test]
    fn only_selected_names_and_finite_values_are_kept() {
        let text = "relay_queue 4\nrelay_queue_max 9\nother 1\nrelay_lat_bucket{le=\"+Inf\"} 5\nrelay_nan NaN\nbroken{x=\"1\" 2\n";
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let names = |ps: &[&str]| {
            parse(text, &p(ps))
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&["relay_queue"]), ["relay_queue"]);
        assert_eq!(
            names(&["relay_*"]),
            ["relay_queue", "relay_queue_max", "relay_lat_bucket"]
        );
        assert_eq!(names(&["nothing"]), Vec::<String>::new());
    }

    #[test]
    fn patterns_are_names_or_prefixes() {
        for ok in ["a", "relay_queue_depth", "relay_*", "*", "ns:sub_total"] {
            assert!(is_valid_pattern(ok), "{ok}");
        }
        for bad in ["", "9a", "a b", "re*lay", "a{b}", "**"] {
            assert!(!is_valid_pattern(bad), "{bad}");
        }
    }
}
