//! Response headers recorded per run (`[report] record_headers`): numeric values as a histogram, text values as the last few seen.

use super::histogram::{new_histogram, record_clamped, StoredHistogram};
use hdrhistogram::Histogram;
use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Text values kept per header: enough to look a few requests up in a relay's logs.
pub const LAST_TEXT_VALUES: usize = 5;

/// Longest text value kept, in characters (a header can be kilobytes long).
const MAX_TEXT_CHARS: usize = 200;

/// What one worker saw of one recorded header.
#[derive(Clone, Debug)]
pub struct HeaderTally {
    /// The header's name (lower case).
    pub name: HeaderName,
    /// Numeric values, in thousandths of a millisecond (so a µs histogram reads as ms).
    numeric: Histogram<u64>,
    /// Values that were not a finite number ≥ 0.
    text: u64,
    /// The last text values seen, oldest first.
    last: VecDeque<String>,
}

impl HeaderTally {
    /// An empty tally for `name`.
    pub fn new(name: HeaderName) -> HeaderTally {
        HeaderTally {
            name,
            numeric: new_histogram(),
            text: 0,
            last: VecDeque::new(),
        }
    }

    /// Records one value: a number of milliseconds into the histogram, anything else as text.
    pub fn note(&mut self, value: &HeaderValue) {
        match parse_millis(value) {
            Some(ms) => {
                record_clamped(&mut self.numeric, (ms * 1000.0).round() as u64);
            }
            None => {
                self.text += 1;
                // Once full, the oldest value's buffer takes the new one: no allocation per response.
                let mut slot = if self.last.len() == LAST_TEXT_VALUES {
                    self.last.pop_front().unwrap_or_default()
                } else {
                    String::new()
                };
                slot.clear();
                push_text_of(&mut slot, value);
                self.last.push_back(slot);
            }
        }
    }

    fn push_text(&mut self, text: String) {
        if self.last.len() == LAST_TEXT_VALUES {
            self.last.pop_front();
        }
        self.last.push_back(text);
    }

    /// Adds another worker's tally of the same header (its text values count as the later ones).
    pub fn merge(&mut self, other: &HeaderTally) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.numeric.add(&other.numeric);
        self.text += other.text;
        for t in &other.last {
            self.push_text(t.clone());
        }
    }

    /// The header as results.json stores it.
    pub fn stored(&self) -> RecordedHeader {
        RecordedHeader {
            numeric: (!self.numeric.is_empty()).then(|| StoredHistogram::micros(&self.numeric)),
            text_count: self.text,
            last_text: self.last.iter().cloned().collect(),
        }
    }
}

/// A header value as milliseconds, when it is a finite number ≥ 0 (`12`, `3.5`, ` 0.25 `).
pub fn parse_millis(value: &HeaderValue) -> Option<f64> {
    let text = std::str::from_utf8(value.as_bytes()).ok()?;
    let ms: f64 = text.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

/// Appends a header value as text, cut at a character boundary: its first
/// [`MAX_TEXT_CHARS`] characters, then `…` when it had more.
fn push_text_of(out: &mut String, value: &HeaderValue) {
    let text = String::from_utf8_lossy(value.as_bytes());
    let mut chars = text.chars();
    out.extend(chars.by_ref().take(MAX_TEXT_CHARS));
    if chars.next().is_some() {
        out.push('…');
    }
}

/// One recorded header of one run in results.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedHeader {
    /// Numeric values (read as milliseconds): their histogram; absent when none was numeric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<StoredHistogram>,
    /// Values that were not a number ≥ 0 (an id, a name).
    #[serde(default)]
    pub text_count: u64,
    /// The last few text values seen (at most 5, each at most 200 characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_text: Vec<String>,
}

/// Every recorded header of a run, by name, as results.json stores them (headers never seen
/// are left out).
pub fn stored(tallies: &[HeaderTally]) -> BTreeMap<String, RecordedHeader> {
    tallies
        .iter()
        .filter(|t| !t.numeric.is_empty() || t.text > 0)
        .map(|t| (t.name.as_str().to_string(), t.stored()))
        .collect()
}

/// ` · name: value` for each recorded header of one response, to follow its error excerpt.
pub fn suffix(tallies: &[HeaderTally], recorded: &[(usize, HeaderValue)]) -> String {
    let mut out = String::new();
    for (i, value) in recorded {
        if let Some(t) = tallies.get(*i) {
            out.push_str(" · ");
            out.push_str(t.name.as_str());
            out.push_str(": ");
            push_text_of(&mut out, value);
        }
    }
    out
}

/// The recorded headers of several shards of one run: histograms added, text counts summed,
/// the last text values of the later shards kept.
pub fn merge_stored<'a>(
    parts: impl Iterator<Item = &'a BTreeMap<String, RecordedHeader>>,
) -> Result<BTreeMap<String, RecordedHeader>, String> {
    let mut numeric: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut out: BTreeMap<String, RecordedHeader> = BTreeMap::new();
    for part in parts {
        for (name, h) in part {
            let merged = out.entry(name.clone()).or_default();
            merged.text_count += h.text_count;
            merged.last_text.extend(h.last_text.iter().cloned());
            let excess = merged.last_text.len().saturating_sub(LAST_TEXT_VALUES);
            merged.last_text.drain(..excess);
            if let Some(stored) = &h.numeric {
                let decoded = stored
                    .histogram()
                    .map_err(|e| format!("headers.{name}: {e}"))?;
                let sum = numeric.entry(name.clone()).or_insert_with(new_histogram);
                sum.add(&decoded)
                    .map_err(|e| format!("headers.{name}: {e:?}"))?;
            }
        }
    }
    for (name, h) in numeric {
        if let Some(merged) = out.get_mut(&name) {
            merged.numeric = Some(StoredHistogram::micros(&h));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_go_to_the_histogram_and_text_keeps_its_last_values() {
        let mut t = HeaderTally::new(HeaderName::from_static("x-overhead-ms"));
        for v in ["3", " 4.5 ", "0"] {
            t.note(&HeaderValue::from_static(v));
        }
        for i in 0..7 {
            t.note(&HeaderValue::from_str(&format!("req_{i}")).unwrap());
        }
        t.note(&HeaderValue::from_static("-1"));
        let s = t.stored();
        let h = s.numeric.unwrap();
        assert_eq!(h.summary.count, 3);
        assert_eq!(h.unit, "ms");
        assert!((h.summary.max - 4.5).abs() < 0.01, "{}", h.summary.max);
        assert_eq!(s.text_count, 8, "ids and a negative number are text");
        assert_eq!(
            s.last_text,
            vec!["req_3", "req_4", "req_5", "req_6", "-1"],
            "the last five, oldest first"
        );
    }

    fn text_of(value: &HeaderValue) -> String {
        let mut text = String::new();
        push_text_of(&mut text, value);
        text
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(300);
        let value = HeaderValue::from_bytes(long.as_bytes()).unwrap();
        let text = text_of(&value);
        assert_eq!(text.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(text.ends_with('…'));
        let exact = "é".repeat(MAX_TEXT_CHARS);
        let value = HeaderValue::from_bytes(exact.as_bytes()).unwrap();
        assert_eq!(
            text_of(&value),
            exact,
            "a value of the longest length is kept whole"
        );
    }
}
