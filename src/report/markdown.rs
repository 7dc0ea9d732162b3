//! `summary.md`: the verdict and comparison tables in GitHub-flavoured Markdown (for CI job summaries and PR comments).

use super::model::{self, Line, Span, Table};
use crate::metrics::ResultsFile;
use std::fmt::Write;

/// Escapes text so it stays literal inside Markdown (and a table cell): no markup, no HTML, no cell breaks.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Renders summary.md.
pub fn render(results: &ResultsFile) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# relaybench — {}\n", escape(&results.scenario.name));
    let _ = writeln!(
        m,
        "{} run(s), started {}, {} CPU(s) {}/{}, relaybench {}{}\n",
        results.runs.len(),
        escape(&results.started_at),
        results.host.cpus,
        escape(&results.host.os),
        escape(&results.host.arch),
        escape(&results.tool.version),
        if results.interrupted {
            " — **interrupted: partial results**"
        } else {
            ""
        }
    );
    if !results.search.is_empty() {
        m.push_str("## Search\n\n");
        for r in &results.search {
            let _ = writeln!(
                m,
                "**{}**: {}\n",
                escape(&r.target),
                escape(&crate::search::describe::sentence(r))
            );
            for note in &r.notes {
                let _ = writeln!(m, "- {}", escape(note));
            }
        }
        m.push('\n');
    }
    let v = model::verdict(results);
    m.push_str("## Verdict\n\n");
    for l in &v.headline {
        let _ = writeln!(m, "{}\n", line(l));
    }
    for l in &v.notes {
        let _ = writeln!(m, "- {}", line(l));
    }
    if !v.notes.is_empty() {
        m.push('\n');
    }
    if !v.thresholds.is_empty() {
        m.push_str("| threshold | scope | observed | result |\n|---|---|---|---|\n");
        for t in &v.thresholds {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                escape(&t.expression),
                escape(&t.scope),
                escape(&t.observed),
                if t.passed { "pass" } else { "**FAIL**" }
            );
        }
        m.push('\n');
    }
    m.push_str(
        "## Comparison\n\nBest value per column in **bold**; – where a run has no such metric.\n\n",
    );
    table(&mut m, &model::comparison(results));
    if let Some(overhead) = super::overhead::table(results) {
        m.push_str("\n## Relay overhead\n\nAdded latency and TTFT in ms: each relay run's percentile minus the baseline run's (same variant).\n\n");
        table(&mut m, &overhead);
        m.push('\n');
    }
    if results.relay_overhead.is_some() {
        for note in super::overhead::notes(results) {
            let _ = writeln!(m, "- {}", escape(&note));
        }
    }
    if let Some(headers) = super::overhead::headers_table(results) {
        m.push_str("\n## Recorded response headers\n\nNumeric values, read as ms.\n\n");
        table(&mut m, &headers);
    }
    let texts = super::overhead::header_texts(results);
    if !texts.is_empty() {
        m.push('\n');
        for line in texts {
            let _ = writeln!(m, "- {}", escape(&line));
        }
    }
    let breakdown = model::breakdown(results);
    if !breakdown.columns.is_empty() {
        m.push_str("\n## Timeouts and errors by kind (% of requests)\n\n");
        table(&mut m, &breakdown);
    }
    if let Some(audit) = model::usage_audit(results) {
        m.push_str("\n## Usage audit\n\nReported (`usage`) against counted tokens per request: (reported − counted) / counted, %.\n\n");
        table(&mut m, &audit);
        m.push('\n');
        for source in model::usage_audit_sources(results) {
            let _ = writeln!(m, "- {}", escape(&source));
        }
    }
    if let Some(lengths) = model::token_lengths(results) {
        m.push_str("\n## Token lengths\n\nAsked for (`input_tokens`, `output_tokens`) against received, in tokens.\n\n");
        table(&mut m, &lengths);
    }
    if let Some(groups) = model::ttft_by_prefix_group(results) {
        m.push_str("\n## TTFT by shared-prefix group\n\nTime to first token of the requests sharing each prefix (`prefix_groups`), ms.\n\n");
        table(&mut m, &groups);
    }
    if let Some(turns) = model::by_turn(results) {
        m.push_str("\n## Conversation turns\n\nPer turn of the multi-turn sessions (`turns`): each turn sends the whole history, so TTFT grows with the turn.\n\n");
        table(&mut m, &turns);
        m.push('\n');
        for line in model::sessions(results) {
            let _ = writeln!(m, "- {}", escape(&line));
        }
    }
    m.push_str("\n## Connection pool\n\n");
    table(&mut m, &model::pool(results));
    m
}

fn line(l: &Line) -> String {
    let mut out = String::new();
    let mut strong = String::new();
    for s in l {
        match s {
            // Adjacent strong spans are one run of bold: `**a****b**` is not bold in Markdown.
            Span::Strong(t) => strong.push_str(t),
            Span::Plain(t) => {
                flush_strong(&mut out, &mut strong);
                out.push_str(&escape(t));
            }
        }
    }
    flush_strong(&mut out, &mut strong);
    out
}

fn flush_strong(out: &mut String, strong: &mut String) {
    if !strong.is_empty() {
        out.push_str(&format!("**{}**", escape(strong)));
        strong.clear();
    }
}

/// One table in GFM: run column left-aligned, numbers right-aligned.
pub fn table(m: &mut String, t: &Table) {
    m.push_str("| run |");
    for c in &t.columns {
        let _ = write!(m, " {} |", escape(&c.header));
    }
    m.push_str("\n|:---|");
    for _ in &t.columns {
        m.push_str("---:|");
    }
    m.push('\n');
    for (row, name) in t.rows.iter().enumerate() {
        let _ = write!(m, "| {} |", escape(name));
        for c in &t.columns {
            let text = c.text(row);
            if c.is_best(row) {
                let _ = write!(m, " **{text}** |");
            } else {
                let _ = write!(m, " {text} |");
            }
        }
        m.push('\n');
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn adjacent_strong_spans_are_one_bold_run() {
        let l = vec![
            super::Span::Strong("a/b".into()),
            super::Span::Strong(": saturated".into()),
            super::Span::Plain(" then plain".into()),
        ];
        assert_eq!(super::line(&l), "**a/b: saturated** then plain");
    }
    #[test]
    fn escapes_cells() {
        assert_eq!(super::escape("a|b <x> *y*"), "a\\|b &lt;x&gt; \\*y\\*");
    }
}
