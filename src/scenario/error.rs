//! Scenario errors that point at the file, line, column and key, and say what was expected.

use std::{fmt, path::PathBuf};

/// A problem with a scenario file, located as precisely as the parser allows.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key, e.g. `workload.duration`, when known.
    pub key: Option<String>,
    /// What was wrong and what was expected.
    pub message: String,
}

impl std::error::Error for ScenarioError {}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|nl| before.len() - nl)
        .unwrap_or(before.len() + 1);
    (line, column)
}

/// The dotted key written on `line` (1-based): the nearest table header above it plus the key before `=`.
pub fn key_at_line(source: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let text = lines.get(line.checked_sub(1)?)?.trim();
    let header = |l: &str| -> Option<String> {
        let l = l.trim();
        let inner = l
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
            .or_else(|| l.strip_prefix('[').and_then(|r| r.split(']').next()))?;
        Some(inner.trim().to_string())
    };
    if let Some(h) = header(text) {
        return Some(h);
    }
    let key = text
        .split('=')
        .next()
        .filter(|_| text.contains('='))?
        .trim()
        .trim_matches('"');
    let table = lines[..line - 1].iter().rev().find_map(|l| header(l));
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys() {
        let src = "name = \"x\"\n[workload]\nusers = 4\nduration = \"10 secs\"\n";
        assert_eq!(line_col(src, src.find("\"10").unwrap()), (4, 12));
        assert_eq!(key_at_line(src, 4).as_deref(), Some("workload.duration"));
        assert_eq!(key_at_line(src, 1).as_deref(), Some("name"));
        assert_eq!(key_at_line(src, 2).as_deref(), Some("workload"));
    }
}
