//! CI-native outputs of a gate: junit.xml, a Markdown summary (appended to `$GITHUB_STEP_SUMMARY`), `::error`/`::warning` annotation lines, and the terminal lines.
//!
//! The XML is written by hand: it is two element kinds and five escapes, smaller than any
//! dependency that would do it.

use super::{
    compare::{Change, Comparison},
    threshold::Verdict,
};
use std::{fmt::Write as _, io::Write as _, path::Path};

/// Thresholds and comparison of one gate evaluation.
#[derive(Clone, Debug, Default)]
pub struct GateReport {
    /// One verdict per threshold × run in scope.
    pub thresholds: Vec<Verdict>,
    /// The baseline comparison, when one was asked for.
    pub comparison: Option<Comparison>,
}

impl GateReport {
    /// Whether every threshold held and nothing regressed.
    pub fn passed(&self) -> bool {
        self.thresholds.iter().all(|v| v.passed)
            && self.comparison.as_ref().is_none_or(|c| c.passed())
    }

    /// Whether there is anything to report.
    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty() && self.comparison.is_none()
    }

    /// Threshold failures and regressions, one line each.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .thresholds
            .iter()
            .filter(|v| !v.passed)
            .map(|v| {
                format!(
                    "threshold `{}` failed on {}: observed {}",
                    v.check,
                    v.run,
                    v.observed_text()
                )
            })
            .collect();
        if let Some(c) = &self.comparison {
            out.extend(
                c.regressions()
                    .map(|r| format!("regression on {}: {}", r.run, r.describe())),
            );
        }
        out
    }

    /// Worse-but-not-significant changes, one line each.
    pub fn warnings(&self) -> Vec<String> {
        let Some(c) = &self.comparison else {
            return Vec::new();
        };
        c.rows
            .iter()
            .filter(|r| r.change == Change::Noisy)
            .map(|r| {
                format!(
                    "{} got worse beyond the tolerance but within the noise: {}",
                    r.run,
                    r.describe()
                )
            })
            .chain(c.notes.iter().cloned())
            .collect()
    }
}

/// Escapes text for XML attributes and content.
fn xml(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

/// junit.xml: one test case per threshold × run and one per compared metric × run.
pub fn junit(report: &GateReport) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"relaybench\">\n",
    );
    let failed = report.thresholds.iter().filter(|v| !v.passed).count();
    let _ = writeln!(
        x,
        "  <testsuite name=\"relaybench.thresholds\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">",
        report.thresholds.len()
    );
    for v in &report.thresholds {
        let name = format!("{} [{}]", v.check, v.run);
        let _ = write!(
            x,
            "    <testcase classname=\"relaybench.thresholds.{}\" name=\"{}\"",
            xml(&v.run),
            xml(&name)
        );
        if v.passed {
            let _ = writeln!(
                x,
                "><system-out>observed {}</system-out></testcase>",
                xml(&v.observed_text())
            );
        } else {
            let msg = format!("observed {}", v.observed_text());
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\" type=\"threshold\">{}: {}</failure>\n    </testcase>",
                xml(&msg),
                xml(&v.check.text),
                xml(&msg)
            );
        }
    }
    x.push_str("  </testsuite>\n");
    if let Some(c) = &report.comparison {
        let failed = c.regressions().count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"relaybench.baseline\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">",
            c.rows.len()
        );
        for r in &c.rows {
            let _ = write!(
                x,
                "    <testcase classname=\"relaybench.baseline.{}\" name=\"{}\"",
                xml(&r.run),
                xml(&format!("{} [{}]", r.metric.name(), r.run))
            );
            if r.change == Change::Regression {
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\" type=\"regression\">{}</failure>\n    </testcase>",
                    xml(&format!("regression: {}", r.describe())),
                    xml(&r.describe())
                );
            } else {
                let _ = writeln!(
                    x,
                    "><system-out>{}: {}</system-out></testcase>",
                    r.change.label(),
                    xml(&r.describe())
                );
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Escapes text for a Markdown table cell.
fn md(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The gate's verdict in GitHub-flavoured Markdown.
pub fn markdown(report: &GateReport, title: &str) -> String {
    let mut m = String::new();
    let verdict = if report.passed() {
        "✅ PASS"
    } else {
        "❌ FAIL"
    };
    let _ = writeln!(m, "## relaybench gate — {} — {verdict}\n", md(title));
    if !report.thresholds.is_empty() {
        m.push_str("| threshold | run | observed | result |\n|---|---|---|---|\n");
        for v in &report.thresholds {
            let _ = writeln!(
                m,
                "| `{}` | {} | {} | {} |",
                md(&v.check.text),
                md(&v.run),
                md(&v.observed_text()),
                if v.passed { "pass" } else { "**FAIL**" }
            );
        }
        m.push('\n');
    }
    if let Some(c) = &report.comparison {
        let _ = writeln!(
            m,
            "Baseline comparison (tolerance {:.0}%, 99% confidence):\n",
            c.tolerance * 100.0
        );
        m.push_str("| run | metric | baseline | current | change | 99% CI of Δ | result |\n|---|---|---|---|---|---|---|\n");
        for r in &c.rows {
            let v = |x: Option<f64>| x.map(|x| r.metric.format(x)).unwrap_or_else(|| "—".into());
            let ci = r
                .interval
                .map(|ci| {
                    format!(
                        "[{}, {}]",
                        r.metric.format(ci.low).replace("-", "−"),
                        r.metric.format(ci.high)
                    )
                })
                .unwrap_or_else(|| "—".into());
            let label = match r.change {
                Change::Regression => "**REGRESSION**".to_string(),
                other => other.label().to_string(),
            };
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md(&r.run),
                md(&r.metric.name()),
                v(r.baseline),
                v(r.current),
                r.relative()
                    .map(|x| format!("{:+.1}%", x * 100.0))
                    .unwrap_or_else(|| "—".into()),
                md(&ci),
                label
            );
        }
        for n in &c.notes {
            let _ = writeln!(m, "\n- {}", md(n));
        }
        m.push('\n');
    }
    m
}

/// The gate's verdict for the terminal.
pub fn terminal(report: &GateReport) -> String {
    let mut t = String::new();
    if !report.thresholds.is_empty() {
        t.push_str("\nthresholds:\n");
        for v in &report.thresholds {
            let _ = writeln!(
                t,
                "  {}  {}  [{}]  observed {}",
                if v.passed { "pass" } else { "FAIL" },
                v.check,
                v.run,
                v.observed_text()
            );
        }
    }
    if let Some(c) = &report.comparison {
        let _ = writeln!(
            t,
            "\nbaseline comparison (tolerance {:.0}%, regression = beyond tolerance and 99% CI excludes 0):",
            c.tolerance * 100.0
        );
        for r in &c.rows {
            let _ = writeln!(t, "  {:<10}  {}  {}", r.change.label(), r.run, r.describe());
        }
        for n in &c.notes {
            let _ = writeln!(t, "  note: {n}");
        }
    }
    if !report.is_empty() {
        let failures = report.failures();
        let _ = writeln!(
            t,
            "\ngate: {}",
            if failures.is_empty() {
                "PASS".to_string()
            } else {
                format!("FAIL ({} failed)", failures.len())
            }
        );
    }
    t
}

/// Escapes an annotation message as GitHub's workflow-command parser expects.
fn annotation(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `::error`/`::warning` workflow-command lines for GitHub Actions.
pub fn annotations(report: &GateReport) -> Vec<String> {
    let mut out: Vec<String> = report
        .failures()
        .iter()
        .map(|f| format!("::error title=relaybench gate::{}", annotation(f)))
        .collect();
    out.extend(
        report
            .warnings()
            .iter()
            .map(|w| format!("::warning title=relaybench gate::{}", annotation(w))),
    );
    out
}

/// Writes `junit.xml` into `dir`.
pub fn write_junit(report: &GateReport, path: &Path) -> std::io::Result<()> {
    crate::report::write_atomic(path, junit(report).as_bytes())
}

/// Where the gate's outputs go besides files: GitHub Actions is detected from its environment.
#[derive(Clone, Debug, Default)]
pub struct CiEnv {
    /// `GITHUB_ACTIONS=true`: print annotation lines.
    pub github_actions: bool,
    /// `$GITHUB_STEP_SUMMARY`: the file the Markdown summary is appended to.
    pub step_summary: Option<std::path::PathBuf>,
}

impl CiEnv {
    /// Reads the environment.
    pub fn from_env() -> CiEnv {
        CiEnv {
            github_actions: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|v| !v.is_empty())
                .map(Into::into),
        }
    }

    /// Prints annotations and appends the summary, as the environment asks.
    pub fn publish(&self, report: &GateReport, title: &str) -> std::io::Result<()> {
        if self.github_actions {
            for line in annotations(report) {
                println!("{line}");
            }
        }
        if let Some(path) = &self.step_summary {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            f.write_all(markdown(report, title).as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
        assert_eq!(annotation("50%\nx"), "50%25%0Ax");
        assert_eq!(md("a|b"), "a\\|b");
    }
}
