//! `relaybench report results.json...` re-renders what `write_all` rendered: byte-identical tables and files; several files compare side by side; bad files exit 2 and write nothing.

use relaybench::report::{self, fixture};
use std::{path::Path, process::Command};

fn relaybench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_relaybench"))
        .args(args)
        .output()
        .expect("relaybench runs")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `<table id=...>...</table>` blocks of a page.
fn tables(html: &str) -> Vec<&str> {
    html.match_indices("<table id=\"")
        .map(|(i, _)| {
            let rest = &html[i..];
            &rest[..rest.find("</table>").unwrap() + 8]
        })
        .collect()
}

#[test]
fn rerender_gives_byte_identical_tables_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let second = tmp.path().join("second");
    let w = report::write_all(&fixture::comparison(), &first).unwrap();
    let out = relaybench(&[
        "report",
        w.results.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (read(&w.html), read(&second.join("report.html")));
    let (ta, tb) = (tables(&a), tables(&b));
    assert_eq!(ta.len(), 3, "comparison, breakdown and pool tables");
    assert_eq!(ta, tb, "JSON-derived tables differ after re-render");
    for name in [
        "summary.md",
        "results.json",
        "report.html",
        "mock_pool-10.hlog",
    ] {
        assert_eq!(
            std::fs::read(first.join(name)).unwrap(),
            std::fs::read(second.join(name)).unwrap(),
            "{name} differs after re-render"
        );
    }
    // The terminal table printed by `report` is the model's too.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mock/pool-100") && stdout.contains("(* best in column)"));
}

#[test]
fn several_files_compare_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let a = report::write_all(&fixture::comparison(), &tmp.path().join("a")).unwrap();
    let b = report::write_all(&fixture::many(2, 500), &tmp.path().join("b")).unwrap();
    let out_dir = tmp.path().join("both");
    let out = relaybench(&[
        "report",
        a.results.to_str().unwrap(),
        b.results.to_str().unwrap(),
        a.results.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = read(&out_dir.join("report.html"));
    let comparison = tables(&html)[0];
    assert_eq!(comparison.matches("<tr class=\"run\">").count(), 10);
    // The same file given twice: the second copy's runs are renamed, not merged or dropped.
    assert!(comparison.contains("mock/pool-10 ["));
    let hlogs = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "hlog")
        })
        .count();
    assert_eq!(hlogs, 10);
}

#[test]
fn malformed_results_exit_2_with_a_located_message_and_no_report() {
    let tmp = tempfile::tempdir().unwrap();
    let good = report::write_all(&fixture::many(1, 200), &tmp.path().join("good")).unwrap();
    let good_text = read(&good.results);
    let hdr_start = good_text.find("\"hdr\": \"").unwrap() + 8;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "not-json.json",
            "{\"schema_version\": 1,".into(),
            "not JSON",
        ),
        (
            "old.json",
            "{\"schema_version\": 99}".into(),
            "schema_version 99 is not supported",
        ),
        (
            "missing.json",
            good_text.replacen("\"measured_seconds\"", "\"measured_secs\"", 1),
            "missing field `measured_seconds`",
        ),
        (
            "badhist.json",
            format!(
                "{}!!!{}",
                &good_text[..hdr_start],
                &good_text[hdr_start + 3..]
            ),
            "histograms.",
        ),
    ];
    for (name, text, expect) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out_dir = tmp.path().join(format!("out-{name}"));
        let out = relaybench(&[
            "report",
            path.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(expect),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !out_dir.join("report.html").exists(),
            "{name}: a report was written"
        );
    }
    // Missing file.
    let out = relaybench(&[
        "report",
        "/nonexistent/results.json",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
