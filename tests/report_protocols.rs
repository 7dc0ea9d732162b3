//! Reports of reasoning runs and usage audits: TTFAT and reasoning columns appear only when a run reasoned; the usage audit is a table in the terminal summary, report.html (escaped) and summary.md, and the verdict names a run whose median over-report is above 5 % and no other.

use relaybench::{
    metrics::{
        audit::{DiffDistribution, UsageAudit},
        ResultsFile, StoredHistogram,
    },
    report::{fixture, html, markdown, model, terminal},
};

fn audit(reported: u64, counted: u64) -> UsageAudit {
    let mut side = DiffDistribution::default();
    for _ in 0..50 {
        side.add(reported, counted);
    }
    let mut a = UsageAudit {
        tokenizer: "o200k_base".into(),
        exact: true,
        prompt: side.clone(),
        completion: side,
        counted_answers: 50,
        prompts_not_audited: 0,
    };
    a.summarize();
    a
}

fn notes(results: &ResultsFile) -> Vec<String> {
    model::verdict(results)
        .notes
        .iter()
        .map(|line| {
            line.iter()
                .map(|s| match s {
                    model::Span::Plain(t) | model::Span::Strong(t) => t.as_str(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn reasoning_columns_show_only_when_a_run_reasoned() {
    let mut results = fixture::comparison();
    let headers = |r: &ResultsFile| -> Vec<String> {
        model::comparison(r)
            .columns
            .iter()
            .map(|c| c.header.clone())
            .collect()
    };
    assert!(!headers(&results).iter().any(|h| h.starts_with("TTFAT")));
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    h.record(250_000).unwrap();
    results.runs[0]
        .histograms
        .insert("ttfat".into(), StoredHistogram::named("ttfat", &h));
    results.runs[0].histograms.insert(
        "reasoning_time".into(),
        StoredHistogram::named("reasoning_time", &h),
    );
    results.runs[0].tokens.reasoning = 400;
    let shown = headers(&results);
    for h in [
        "TTFAT p50 ms",
        "TTFAT p99 ms",
        "reasoning p50 ms",
        "reasoning tok/req",
    ] {
        assert!(shown.iter().any(|s| s == h), "{h}: {shown:?}");
    }
    let ttft = shown.iter().position(|h| h == "TTFT p99 ms").unwrap();
    assert_eq!(shown[ttft + 1], "TTFAT p50 ms", "beside TTFT");
    let md = markdown::render(&results);
    assert!(md.contains("TTFAT p50 ms"));
}

#[test]
fn the_usage_audit_is_a_table_everywhere_and_the_verdict_names_over_reporting() {
    let mut results = fixture::comparison();
    assert!(model::usage_audit(&results).is_none(), "no audit, no table");
    results.runs[0].name = "<script>alert(1)</script>".into();
    results.runs[0].usage_audit = Some(audit(24, 20));
    results.runs[1].usage_audit = Some(audit(20, 20));
    let notes = notes(&results);
    let over: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("upstream reports"))
        .collect();
    assert_eq!(
        over.len(),
        2,
        "prompt and completion of the first run: {notes:?}"
    );
    assert!(over[0].contains(
        "upstream reports 20 % more completion tokens than relaybench counted (median of 50 requests; 100 % of them off by more than 5 %): check billing / model substitution"
    ));
    assert!(
        over.iter().all(|n| n.starts_with("<script>")),
        "the honest run is not named"
    );

    let summary = terminal::summary_table(&results);
    assert!(
        summary.contains("usage audit (reported vs counted tokens)"),
        "{summary}"
    );
    assert!(summary.contains("20.00"), "{summary}");

    let page = html::render(&results, &[]);
    assert!(page.contains("<table id=\"usage-audit\">"));
    assert!(!page.contains("<script>alert(1)"), "run names are escaped");
    assert!(page.contains("counted with o200k_base (exact); token counts from"));

    let md = markdown::render(&results);
    assert!(md.contains("## Usage audit"));
    assert!(md.contains("| completion diff p50 % |"));
}
