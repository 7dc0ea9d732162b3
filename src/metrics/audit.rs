//! The usage audit: per request, the token counts the upstream reported (`usage`) against relaybench's own count of what it sent and received, as distributions of the relative difference.
//!
//! The difference of one request is `(reported − counted) / counted`: +0.2 means the upstream
//! billed 20 % more than relaybench counted. Differences are kept in 0.1 % steps (a sparse
//! map, so recorders and shards merge exactly); beyond ±100 % they are kept at ±100 %.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The share above which a request's counts are "off" (5 %).
pub const OFF_BY: f64 = 0.05;

/// Differences kept at most (per mille): ±100 %.
const CLAMP_PERMILLE: i32 = 1000;

/// What relaybench counted for one request, from the prompt it built and the text it received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountedTokens {
    /// Prompt tokens of the request sent (`None` for a templated prompt: not audited).
    pub prompt: Option<u32>,
    /// Completion tokens: the answer's text counted, plus the reasoning's.
    pub completion: u32,
    /// Of those, reasoning tokens.
    pub reasoning: u32,
}

/// One side of the audit (prompt or completion): how the reported counts differed from ours.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffDistribution {
    /// Requests audited (both a reported and a counted figure).
    pub audited: u64,
    /// Tokens the upstream reported over them.
    pub reported: u64,
    /// Tokens relaybench counted over them.
    pub counted: u64,
    /// Requests whose difference was more than 5 % either way.
    pub off_by_more_than_5pct: u64,
    /// Sum of the relative differences (for the mean).
    pub sum: f64,
    /// Requests by relative difference in per mille (−1000 … 1000), the distribution itself.
    pub permille: BTreeMap<i32, u64>,
    /// Mean relative difference (+0.2 = reported 20 % more than counted).
    pub mean: f64,
    /// Median relative difference.
    pub p50: f64,
    /// 90th percentile of the relative difference.
    pub p90: f64,
    /// 99th percentile of the relative difference.
    pub p99: f64,
    /// Share of audited requests off by more than 5 % (0–1).
    pub share_off: f64,
}

impl DiffDistribution {
    /// Adds one request's reported and counted figures.
    pub fn add(&mut self, reported: u64, counted: u64) {
        let diff = match (reported, counted) {
            (0, 0) => 0.0,
            (_, 0) => 1.0,
            _ => (reported as f64 - counted as f64) / counted as f64,
        };
        self.audited += 1;
        self.reported += reported;
        self.counted += counted;
        self.sum += diff;
        self.off_by_more_than_5pct += u64::from(diff.abs() > OFF_BY + 1e-9);
        let permille = ((diff * 1000.0).round() as i32).clamp(-CLAMP_PERMILLE, CLAMP_PERMILLE);
        *self.permille.entry(permille).or_default() += 1;
    }

    /// Adds another distribution into this one (exact: counts add).
    pub fn merge(&mut self, other: &DiffDistribution) {
        self.audited += other.audited;
        self.reported += other.reported;
        self.counted += other.counted;
        self.off_by_more_than_5pct += other.off_by_more_than_5pct;
        self.sum += other.sum;
        for (k, v) in &other.permille {
            *self.permille.entry(*k).or_default() += v;
        }
        self.summarize();
    }

    /// Fills in the summary fields (mean, percentiles, share off) from the counts.
    pub fn summarize(&mut self) {
        if self.audited == 0 {
            return;
        }
        let n = self.audited as f64;
        self.mean = self.sum / n;
        self.share_off = self.off_by_more_than_5pct as f64 / n;
        self.p50 = self.quantile(0.5);
        self.p90 = self.quantile(0.9);
        self.p99 = self.quantile(0.99);
    }

    /// The relative difference at quantile `q` (nearest rank), from the per-mille counts.
    fn quantile(&self, q: f64) -> f64 {
        let rank = ((q * self.audited as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (permille, count) in &self.permille {
            seen += count;
            if seen >= rank {
                return *permille as f64 / 1000.0;
            }
        }
        0.0
    }
}

/// A run's usage audit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageAudit {
    /// The encoding relaybench counted with (`o200k_base`, `cl100k_base`).
    pub tokenizer: String,
    /// Whether it is the model's own tokenizer; `false`: an approximation (Claude, Gemini,
    /// DeepSeek and unknown models have no public tokenizer), so differences of a few percent
    /// say little.
    pub exact: bool,
    /// Prompt tokens: `usage` input vs the prompt counted when the request was built.
    pub prompt: DiffDistribution,
    /// Completion tokens: `usage` output vs the answer and reasoning text counted.
    pub completion: DiffDistribution,
    /// Answers whose text was counted (with or without `usage` to compare with).
    pub counted_answers: u64,
    /// Templated requests, whose rendered prompt is not counted (their completions are).
    #[serde(default)]
    pub prompts_not_audited: u64,
}

impl UsageAudit {
    /// Adds another recorder's audit into this one.
    pub fn merge(&mut self, other: &UsageAudit) {
        self.prompt.merge(&other.prompt);
        self.completion.merge(&other.completion);
        self.counted_answers += other.counted_answers;
        self.prompts_not_audited += other.prompts_not_audited;
    }

    /// Fills in the summaries of both sides.
    pub fn summarize(&mut self) {
        self.prompt.summarize();
        self.completion.summarize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_reads_the_relative_difference() {
        let mut d = DiffDistribution::default();
        for _ in 0..90 {
            d.add(120, 100);
        }
        for _ in 0..10 {
            d.add(100, 100);
        }
        d.summarize();
        assert_eq!(d.audited, 100);
        assert!((d.mean - 0.18).abs() < 1e-9, "{}", d.mean);
        assert_eq!((d.p50, d.p90, d.p99), (0.2, 0.2, 0.2));
        assert!((d.share_off - 0.9).abs() < 1e-9);
        // Exactly 5 % off is not "more than 5 %"; under-reporting counts as off too.
        let mut e = DiffDistribution::default();
        e.add(105, 100);
        e.add(50, 100);
        e.add(7, 0);
        e.summarize();
        assert_eq!(e.off_by_more_than_5pct, 2);
        assert_eq!(
            e.permille.keys().copied().collect::<Vec<_>>(),
            [-500, 50, 1000]
        );
        // Merging is exact.
        let mut m = d.clone();
        m.merge(&e);
        assert_eq!(m.audited, 103);
        assert_eq!(m.permille[&200], 90);
    }
}
