//! Writing and reading `results.json`.

use crate::metrics::{results::SCHEMA_VERSION, ResultsFile};
use std::path::Path;

/// Writes `results` as pretty JSON, atomically (temp file + rename) so a reader never sees half a file.
pub fn write(results: &ResultsFile, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(results).map_err(std::io::Error::other)?;
    super::write_atomic(path, text.as_bytes())
}

/// Reads a results file, refusing other schema versions with a clear message.
pub fn read(path: &Path) -> Result<ResultsFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(SCHEMA_VERSION as u64) {
        return Err(format!(
            "{}: schema_version {} is not supported (this relaybench reads version {SCHEMA_VERSION})",
            path.display(),
            version.map(|v| v.to_string()).unwrap_or_else(|| "missing".into())
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| format!("{}: not a relaybench results file: {e}", path.display()))
}
