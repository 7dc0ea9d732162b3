//! Writing and reading `results.json`; reading checks the schema version and that every histogram decodes, and names the file and place of any problem.

use crate::metrics::{results::SCHEMA_VERSION, ResultsFile};
use std::path::Path;

/// The JSON text of a results file, as written to results.json.
pub fn to_text(results: &ResultsFile) -> String {
    let mut text = serde_json::to_string_pretty(results)
        .expect("a ResultsFile has string keys only and always serializes");
    text.push('\n');
    text
}

/// Writes `results` as pretty JSON, atomically (temp file + rename) so a reader never sees half a file.
pub fn write(results: &ResultsFile, path: &Path) -> std::io::Result<()> {
    super::write_atomic(path, to_text(results).as_bytes())
}

/// Reads a results file, refusing other schema versions and undecodable histograms with a clear message.
pub fn read(path: &Path) -> Result<ResultsFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}{e}", path.display()))
}

/// Parses results.json text; errors start with `:line:column:` or `: ` so the caller can prefix the file name.
pub fn parse(text: &str) -> Result<ResultsFile, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!(":{}:{}: not JSON: {e}", e.line(), e.column()))?;
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(SCHEMA_VERSION as u64) {
        return Err(format!(
            ": schema_version {} is not supported (this relaybench reads version {SCHEMA_VERSION}); expected a results.json written by `relaybench run`",
            version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "missing".into())
        ));
    }
    // Typed parse of the text (not the Value) so errors carry a line and column.
    let results: ResultsFile = serde_json::from_str(text).map_err(|e| {
        format!(
            ":{}:{}: not a relaybench results file: {e}",
            e.line(),
            e.column()
        )
    })?;
    for (i, run) in results.runs.iter().enumerate() {
        for (name, h) in &run.histograms {
            h.histogram()
                .map_err(|e| format!(": runs[{i}] (`{}`): histograms.{name}.hdr: {e}", run.name))?;
        }
    }
    Ok(results)
}
