//! `report.html`: one self-contained file (inline CSS and SVG, nothing fetched), every upstream string escaped.

use crate::metrics::{ResultsFile, RunResult};
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin:1em 0}\
th,td{border-bottom:1px solid #ddd;padding:.35em .6em;text-align:right}th:first-child,td:first-child{text-align:left}\
th{background:#f4f4f4}td.best{background:#e3f5e1;font-weight:600}.chart svg{max-width:100%;height:auto}\
code,pre{background:#f6f6f6;padding:.1em .3em;white-space:pre-wrap;word-break:break-all}\
@media print{body{max-width:none}}";

/// Renders the whole report.
pub fn render(results: &ResultsFile, spectrum_svg: &str) -> String {
    let mut h = String::new();
    let title = format!("relaybench — {}", results.scenario.name);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(h, "<h1>{}</h1>", escape(&title));
    let _ = write!(
        h,
        "<p>{} run(s), started {} on {} CPU(s) ({}/{}), relaybench {}{}.</p>",
        results.runs.len(),
        escape(&results.started_at),
        results.host.cpus,
        escape(&results.host.os),
        escape(&results.host.arch),
        escape(&results.tool.version),
        if results.interrupted {
            " — <strong>interrupted: partial results</strong>"
        } else {
            ""
        }
    );
    h.push_str("<h2>Comparison</h2>");
    comparison_table(&mut h, results);
    let _ = write!(
        h,
        "<h2>Latency percentiles</h2><div class=\"chart\">{spectrum_svg}</div>"
    );
    errors(&mut h, results);
    h.push_str("</body></html>\n");
    h
}

/// A table column: header, value of a run, and whether higher is better.
type Column = (&'static str, fn(&RunResult) -> f64, bool);

fn comparison_table(h: &mut String, results: &ResultsFile) {
    let columns: [Column; 8] = [
        ("req/s", |r| r.rps, true),
        ("p50 ms", |r| lat(r).p50, false),
        ("p90 ms", |r| lat(r).p90, false),
        ("p99 ms", |r| lat(r).p99, false),
        ("p99.9 ms", |r| lat(r).p999, false),
        ("max ms", |r| lat(r).max, false),
        ("error rate %", |r| r.error_rate() * 100.0, false),
        ("timeout rate %", |r| r.timeout_rate() * 100.0, false),
    ];
    h.push_str("<table><thead><tr><th>run</th><th>requests</th>");
    for (name, _, _) in &columns {
        let _ = write!(h, "<th>{name}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    for run in &results.runs {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td>",
            escape(&run.name),
            run.scheduled
        );
        for (_, value, higher_is_better) in &columns {
            let v = value(run);
            let best = results.runs.len() > 1
                && results.runs.iter().all(|o| {
                    if *higher_is_better {
                        value(o) <= v
                    } else {
                        value(o) >= v
                    }
                });
            let _ = write!(
                h,
                "<td{}>{v:.2}</td>",
                if best { " class=\"best\"" } else { "" }
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
}

fn lat(run: &RunResult) -> crate::metrics::Summary {
    run.summary("latency").cloned().unwrap_or_default()
}

fn errors(h: &mut String, results: &ResultsFile) {
    let any = results.runs.iter().any(|r| !r.error_samples.is_empty());
    if !any {
        return;
    }
    h.push_str("<h2>What the upstream said</h2><table><thead><tr><th>run</th><th>outcome</th><th>count</th><th>first excerpt</th></tr></thead><tbody>");
    for run in &results.runs {
        for (key, sample) in &run.error_samples {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\"><code>{}</code></td></tr>",
                escape(&run.name),
                escape(key),
                run.count(key),
                escape(sample)
            );
        }
    }
    h.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script>&"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }
}
