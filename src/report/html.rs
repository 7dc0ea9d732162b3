//! `report.html`: one self-contained file (inline CSS and SVG, no script, nothing fetched), every dynamic string escaped.
//!
//! Hand-written rather than a template crate: the page is a handful of sections built from
//! the [`model`](super::model) tables, and every dynamic string — run names, outcome keys,
//! upstream error bodies, threshold expressions — goes through the one [`escape`] below, so
//! there is a single place to audit. Chart SVG comes from plotters, which escapes its own text.

use super::{
    charts::Kind,
    model::{self, Line, Span, Table},
};
use crate::metrics::ResultsFile;
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

const STYLE: &str = "\
:root{--ok:#e6f4e6;--bad:#fde8e8;--line:#ddd}\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;max-width:1280px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid var(--line);padding-bottom:.2em}\
.meta{color:#555;margin-top:0}\
.verdict{border:1px solid var(--line);border-left:6px solid #888;padding:.6em 1em;margin:1em 0;background:#fafafa}\
.verdict.pass{border-left-color:#2e7d32;background:var(--ok)}.verdict.fail{border-left-color:#c62828;background:var(--bad)}\
.verdict p{margin:.3em 0}.verdict ul{margin:.3em 0 .2em 1.2em;padding:0}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.6em 0;font-size:.85em}\
th,td{border-bottom:1px solid var(--line);padding:.3em .4em;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left;position:sticky;left:0;background:#fff}\
th{background:#f4f4f4;vertical-align:bottom;white-space:normal;min-width:0}th:first-child{background:#f4f4f4}\
td.best{background:#d7efd5;font-weight:700}td.pass{color:#2e7d32;font-weight:700}td.fail{color:#c62828;font-weight:700}\
td.text{text-align:left;white-space:pre-wrap;word-break:break-word;max-width:40em}\
figure{margin:1.2em 0;break-inside:avoid}figcaption{color:#555;margin-bottom:.3em}figcaption b{color:#222}\
figure svg{max-width:100%;height:auto;display:block}\
code{background:#f3f3f3;padding:.05em .3em;border-radius:3px}\
.note{color:#555;font-size:.9em}\
@media print{body{max-width:none;margin:0;font-size:10pt}.scroll{overflow:visible}h2{break-after:avoid}table{font-size:8pt}a{color:inherit;text-decoration:none}}";

/// A chart ready for the page.
pub struct ChartBlock {
    /// Which chart.
    pub kind: Kind,
    /// Its SVG document.
    pub svg: String,
}

/// Renders the whole report.
pub fn render(results: &ResultsFile, charts: &[ChartBlock]) -> String {
    let mut h =
        String::with_capacity(64 * 1024 + charts.iter().map(|c| c.svg.len()).sum::<usize>());
    let title = format!("relaybench — {}", results.scenario.name);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>",
        t = escape(&title)
    );
    header(&mut h, results);
    search(&mut h, results, charts);
    verdict(&mut h, &model::verdict(results));
    h.push_str("\n<h2 id=\"comparison\">Comparison</h2><p class=\"note\">Best value per column highlighted; – where a run has no such metric. Latency is measured from each request's intended start. Hover a header for its meaning.</p>");
    table(&mut h, "comparison", &model::comparison(results));
    overhead(&mut h, results, charts);
    let breakdown = model::breakdown(results);
    if !breakdown.columns.is_empty() {
        h.push_str("\n<h2 id=\"failures\">Timeouts and errors by kind</h2><p class=\"note\">% of requests; timeouts by phase first.</p>");
        table(&mut h, "breakdown", &breakdown);
    }
    h.push_str("\n<h2 id=\"charts\">Charts</h2>");
    // The scrape figures sit under the target's chart, or under the latency chart when no
    // scrape succeeded (failures are shown all the same).
    let scrapes_under = if charts.iter().any(|c| c.kind == Kind::TargetMetrics) {
        Kind::TargetMetrics
    } else {
        Kind::LatencyOverTime
    };
    for c in charts
        .iter()
        .filter(|c| !matches!(c.kind, Kind::Capacity | Kind::RelayOverhead))
    {
        figure(&mut h, c);
        if c.kind == scrapes_under {
            scrapes(&mut h, results);
        }
    }
    if let Some(audit) = model::usage_audit(results) {
        h.push_str("\n<h2 id=\"usage-audit\">Usage audit</h2><p class=\"note\">Tokens the upstream reported (<code>usage</code>) against tokens relaybench counted of what it sent and received, per request: (reported − counted) / counted, in %. A median above +5 % is an upstream billing more than it served.</p>");
        table(&mut h, "usage-audit", &audit);
        notes(&mut h, model::usage_audit_sources(results));
    }
    if let Some(lengths) = model::token_lengths(results) {
        h.push_str("\n<h2 id=\"token-lengths\">Token lengths</h2><p class=\"note\">Asked for (<code>input_tokens</code>, <code>output_tokens</code>) against received, in tokens.</p>");
        table(&mut h, "token-lengths", &lengths);
    }
    if let Some(groups) = model::ttft_by_prefix_group(results) {
        h.push_str("\n<h2 id=\"prefix-groups\">TTFT by shared-prefix group</h2><p class=\"note\">Time to first token of the requests sharing each prefix (<code>prefix_groups</code>), ms: a prefix or KV cache shows as lower TTFT once a group is warm.</p>");
        table(&mut h, "prefix-groups", &groups);
    }
    if let Some(turns) = model::by_turn(results) {
        h.push_str("\n<h2 id=\"by-turn\">Conversation turns</h2><p class=\"note\">Per turn of the multi-turn sessions (<code>turns</code>): each turn sends the whole history, so TTFT grows with the turn.</p>");
        table(&mut h, "by-turn", &turns);
        notes(&mut h, model::sessions(results));
    }
    h.push_str("\n<h2 id=\"pool\">Connection pool</h2>");
    table(&mut h, "pool", &model::pool(results));
    settings(&mut h, results);
    errors(&mut h, results);
    let _ = write!(
        h,
        "\n<p class=\"note\">Re-render with <code>relaybench report results.json</code>. Each run's histograms are in its <code>.hlog</code> (HdrHistogram interval log).</p>\n</body></html>\n"
    );
    h
}

/// Per run with `metrics_url`: what was scraped, how often it failed and why (escaped: upstream text).
fn scrapes(h: &mut String, results: &ResultsFile) {
    let runs: Vec<_> = results
        .runs
        .iter()
        .filter_map(|r| r.target_metrics.as_ref().map(|m| (r, m)))
        .collect();
    if runs.is_empty() {
        return;
    }
    h.push_str("\n<ul class=\"note\" id=\"target-metrics-scrapes\">");
    for (run, m) in runs {
        let _ = write!(
            h,
            "<li>{}: {} scrape(s) of <code>{}</code>, <strong>{} failed</strong>; {} series kept",
            escape(&run.name),
            m.scrapes,
            escape(&m.url),
            m.failures,
            m.series.len()
        );
        if m.series_dropped > 0 {
            let _ = write!(h, " ({} more not kept)", m.series_dropped);
        }
        if let Some(err) = &m.last_error {
            let _ = write!(h, "; last error: {}", escape(err));
        }
        if !m.series.is_empty() {
            let names: Vec<String> = m.series.iter().map(|s| escape(&s.key())).collect();
            let _ = write!(h, ": <code>{}</code>", names.join("</code>, <code>"));
        }
        h.push_str("</li>");
    }
    h.push_str("</ul>");
}

/// A search leads the page: its answer in one sentence per target, then the capacity chart.
fn search(h: &mut String, results: &ResultsFile, charts: &[ChartBlock]) {
    if results.search.is_empty() {
        return;
    }
    h.push_str("\n<h2 id=\"search\">Search</h2>");
    for r in &results.search {
        let _ = write!(
            h,
            "\n<div class=\"verdict {}\"><p><strong>{}</strong>: {}</p>",
            if r.found.is_some() { "pass" } else { "fail" },
            escape(&r.target),
            escape(&crate::search::describe::sentence(r))
        );
        let _ = write!(
            h,
            "<p class=\"note\">{} probe(s) in {:.0}s; stopped: {}.</p>",
            r.probes.len(),
            r.elapsed_seconds,
            r.stopped_because.name()
        );
        if !r.notes.is_empty() {
            h.push_str("<ul>");
            for n in &r.notes {
                let _ = write!(h, "<li>{}</li>", escape(n));
            }
            h.push_str("</ul>");
        }
        h.push_str("</div>");
    }
    for c in charts.iter().filter(|c| c.kind == Kind::Capacity) {
        figure(h, c);
    }
}

/// `[report] baseline`: the added-latency table, its caveat and chart; then recorded headers.
fn overhead(h: &mut String, results: &ResultsFile, charts: &[ChartBlock]) {
    if results.relay_overhead.is_some() {
        h.push_str("\n<h2 id=\"relay-overhead\">Relay overhead</h2><p class=\"note\">Added latency and time to first token in ms: each relay run's percentile minus that of the baseline run of the same variant.</p>");
        if let Some(t) = super::overhead::table(results) {
            table(h, "relay-overhead-table", &t);
        }
        notes(h, super::overhead::notes(results));
        for c in charts.iter().filter(|c| c.kind == Kind::RelayOverhead) {
            figure(h, c);
        }
    }
    let texts = super::overhead::header_texts(results);
    let numeric = super::overhead::headers_table(results);
    if numeric.is_none() && texts.is_empty() {
        return;
    }
    h.push_str("\n<h2 id=\"recorded-headers\">Recorded response headers</h2><p class=\"note\">Headers named by <code>[report] record_headers</code>: numeric values (read as ms) as percentiles, text values as the last few seen.</p>");
    if let Some(t) = numeric {
        table(h, "recorded-headers-table", &t);
    }
    if !texts.is_empty() {
        notes(h, texts);
    }
}

/// Lines of text (escaped) as a list of notes.
fn notes(h: &mut String, lines: Vec<String>) {
    h.push_str("<ul class=\"note\">");
    for line in lines {
        let _ = write!(h, "<li>{}</li>", escape(&line));
    }
    h.push_str("</ul>");
}

/// One chart with its caption and a link to its PNG.
fn figure(h: &mut String, c: &ChartBlock) {
    let _ = write!(
        h,
        "\n<figure id=\"chart-{id}\"><figcaption><b>{title}.</b> {caption} <a href=\"{id}.png\">PNG</a></figcaption>{svg}</figure>",
        id = c.kind.id(),
        title = escape(c.kind.title()),
        caption = escape(c.kind.caption()),
        svg = strip_xml_prolog(&c.svg),
    );
}

/// plotters' SVG may start with an XML declaration, which is not allowed inside HTML.
fn strip_xml_prolog(svg: &str) -> &str {
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(svg, |(_, body)| body.trim_start()),
        None => svg,
    }
}

fn header(h: &mut String, results: &ResultsFile) {
    let _ = write!(
        h,
        "<p class=\"meta\">{} run(s) · started {} · {} CPU(s), {}/{} · relaybench {}{}</p>",
        results.runs.len(),
        escape(&results.started_at),
        results.host.cpus,
        escape(&results.host.os),
        escape(&results.host.arch),
        escape(&results.tool.version),
        if results.interrupted {
            " · <strong>interrupted: partial results</strong>"
        } else {
            ""
        }
    );
}

fn line(h: &mut String, line: &Line) {
    for span in line {
        match span {
            Span::Plain(t) => h.push_str(&escape(t)),
            Span::Strong(t) => {
                let _ = write!(h, "<strong>{}</strong>", escape(t));
            }
        }
    }
}

fn verdict(h: &mut String, v: &model::Verdict) {
    let class = match v.passed {
        Some(true) => "verdict pass",
        Some(false) => "verdict fail",
        None => "verdict",
    };
    let _ = write!(h, "\n<section class=\"{class}\" id=\"verdict\">");
    for l in &v.headline {
        h.push_str("<p>");
        line(h, l);
        h.push_str("</p>");
    }
    if !v.notes.is_empty() {
        h.push_str("<p>Why:</p><ul>");
        for l in &v.notes {
            h.push_str("<li>");
            line(h, l);
            h.push_str("</li>");
        }
        h.push_str("</ul>");
    }
    if !v.thresholds.is_empty() {
        h.push_str("<table id=\"thresholds\"><thead><tr><th>threshold</th><th>scope</th><th>observed</th><th>result</th></tr></thead><tbody>");
        for t in &v.thresholds {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                escape(&t.expression),
                escape(&t.scope),
                escape(&t.observed),
                if t.passed { "pass" } else { "fail" },
                if t.passed { "pass" } else { "FAIL" }
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>");
}

/// One comparison table; its rows are `tr.run`, so tests and readers can count them.
pub fn table(h: &mut String, id: &str, t: &Table) {
    let _ = write!(
        h,
        "<div class=\"scroll\"><table id=\"{id}\"><thead><tr><th>run</th>"
    );
    for c in &t.columns {
        let _ = write!(
            h,
            "<th title=\"{}\">{}</th>",
            escape(&c.help),
            escape(&c.header)
        );
    }
    h.push_str("</tr></thead><tbody>");
    for (row, name) in t.rows.iter().enumerate() {
        let _ = write!(h, "<tr class=\"run\"><td>{}</td>", escape(name));
        for c in &t.columns {
            let best = if c.is_best(row) {
                " class=\"best\""
            } else {
                ""
            };
            let _ = write!(h, "<td{best}>{}</td>", escape(&c.text(row)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
}

fn settings(h: &mut String, results: &ResultsFile) {
    let diff = model::differing_settings(results);
    if diff.is_empty() {
        return;
    }
    h.push_str("\n<h2 id=\"settings\">Settings that differ between runs</h2><div class=\"scroll\"><table><thead><tr><th>setting</th>");
    for r in &results.runs {
        let _ = write!(h, "<th>{}</th>", escape(&r.name));
    }
    h.push_str("</tr></thead><tbody>");
    for (key, values) in &diff {
        let _ = write!(h, "<tr><td><code>{}</code></td>", escape(key));
        for v in values {
            let _ = write!(h, "<td>{}</td>", escape(v));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
}

fn errors(h: &mut String, results: &ResultsFile) {
    if results.runs.iter().all(|r| r.error_samples.is_empty()) {
        return;
    }
    h.push_str("\n<h2 id=\"upstream\">What the upstream said</h2><p class=\"note\">The first response excerpt per run and outcome, as received.</p><div class=\"scroll\"><table><thead><tr><th>run</th><th>outcome</th><th>count</th><th>first excerpt</th></tr></thead><tbody>");
    for run in &results.runs {
        for (key, sample) in &run.error_samples {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"text\"><code>{}</code></td></tr>",
                escape(&run.name),
                escape(key),
                run.count(key),
                escape(sample)
            );
        }
    }
    h.push_str("</tbody></table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn drops_xml_prolog() {
        assert_eq!(
            strip_xml_prolog("<?xml version=\"1.0\"?>\n<svg/>"),
            "<svg/>"
        );
        assert_eq!(strip_xml_prolog("<svg/>"), "<svg/>");
    }
}
