//! The target's own metrics (`[target] metrics_url`, `metrics`): a Prometheus text endpoint scraped once a second during a run, on a task of its own, the chosen series kept on the run's time axis.
//!
//! The scrape runs on the runner's runtime, never on the generator's worker threads, with a
//! short timeout; a failed scrape (refused, timed out, not 2xx) is counted and remembered,
//! never fatal. Series are keyed by name and labels; at most [`MAX_SERIES`] are kept and
//! any beyond are counted, so a broad pattern cannot bloat results.json.

pub mod exposition;
pub mod fetch;

use exposition::Sample;
use fetch::ScrapeUrl;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// Time between scrapes.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// A scrape slower than this fails (and the next one starts on time).
pub const TIMEOUT: Duration = Duration::from_millis(800);
/// Series kept per run.
pub const MAX_SERIES: usize = 64;

/// The value `metrics_url` takes to mean the embedded mock's `/_mock/metrics`.
pub const MOCK: &str = "mock";

/// What a run's scraping produced (`target_metrics` in results.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetMetrics {
    /// The URL scraped.
    pub url: String,
    /// Scrapes attempted.
    pub scrapes: u64,
    /// Of which failed (refused, timed out, not 2xx, not text).
    pub failures: u64,
    /// Why the last failed scrape failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Series selected but not kept because [`MAX_SERIES`] were already kept.
    #[serde(default)]
    pub series_dropped: u64,
    /// The kept series, in order of first appearance.
    pub series: Vec<ScrapedSeries>,
}

/// One series: its samples over the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrapedSeries {
    /// Metric name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `[seconds since load started, value]` per successful scrape.
    pub points: Vec<[f64; 2]>,
}

impl ScrapedSeries {
    /// `name{k="v",...}`, as Prometheus shows a series.
    pub fn key(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    /// Counters (`_total`, `_count`, `_sum`, `_bucket`) are charted as a rate per second;
    /// anything else (a gauge: queue depth, connections) as it is.
    pub fn is_counter(&self) -> bool {
        ["_total", "_count", "_sum", "_bucket"]
            .iter()
            .any(|s| self.name.ends_with(s))
    }
}

/// A series' identity: metric name and labels.
type SeriesKey = (String, BTreeMap<String, String>);

/// Samples gathered so far, on raw instants (converted to the run's axis at the end).
#[derive(Default)]
struct Gathered {
    scrapes: u64,
    failures: u64,
    last_error: Option<String>,
    series_dropped: u64,
    /// Series index by key, in first-seen order.
    index: BTreeMap<SeriesKey, usize>,
    /// Each series with its samples.
    series: Vec<(SeriesKey, Vec<(Instant, f64)>)>,
}

impl Gathered {
    fn add(&mut self, at: Instant, samples: Vec<Sample>) {
        for s in samples {
            let key = (s.name, s.labels);
            let i = match self.index.get(&key) {
                Some(i) => *i,
                None if self.series.len() >= MAX_SERIES => {
                    self.series_dropped += 1;
                    continue;
                }
                None => {
                    self.series.push((key.clone(), Vec::new()));
                    self.index.insert(key, self.series.len() - 1);
                    self.series.len() - 1
                }
            };
            self.series[i].1.push((at, s.value));
        }
    }

    fn into_result(self, url: String, origin: Instant) -> TargetMetrics {
        let seconds = |t: Instant| {
            let s = t.saturating_duration_since(origin).as_secs_f64();
            // Milliseconds are plenty on a one-second axis and keep results.json short.
            (s * 1000.0).round() / 1000.0
        };
        TargetMetrics {
            url,
            scrapes: self.scrapes,
            failures: self.failures,
            last_error: self.last_error,
            series_dropped: self.series_dropped,
            series: self
                .series
                .into_iter()
                .map(|((name, labels), points)| ScrapedSeries {
                    name,
                    labels,
                    points: points.into_iter().map(|(t, v)| [seconds(t), v]).collect(),
                })
                .collect(),
        }
    }
}

/// A running scrape loop.
pub struct Scraper {
    url: ScrapeUrl,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Gathered>,
}

impl Scraper {
    /// Starts scraping `url` for the series `patterns` select: now, then every [`INTERVAL`].
    pub fn start(url: ScrapeUrl, patterns: Vec<String>) -> Scraper {
        let (stop, mut stopped) = oneshot::channel();
        let task_url = url.clone();
        let task = tokio::spawn(async move {
            let mut gathered = Gathered::default();
            let mut ticks = tokio::time::interval(INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => scrape_once(&task_url, &patterns, &mut gathered).await,
                }
            }
            // One more at the end: the series end with the target's figures after the load.
            scrape_once(&task_url, &patterns, &mut gathered).await;
            gathered
        });
        Scraper { url, stop, task }
    }

    /// Stops the loop (after a last scrape) and returns the series on the axis of a run whose load started at `origin`.
    pub async fn finish(self, origin: Instant) -> TargetMetrics {
        let _ = self.stop.send(());
        let gathered = self.task.await.unwrap_or_default();
        gathered.into_result(self.url.display(), origin)
    }
}

async fn scrape_once(url: &ScrapeUrl, patterns: &[String], gathered: &mut Gathered) {
    gathered.scrapes += 1;
    let at = Instant::now();
    let text = match tokio::time::timeout(TIMEOUT, fetch::get(url)).await {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => return fail(gathered, e),
        Err(_) => return fail(gathered, format!("no answer within {TIMEOUT:?}")),
    };
    gathered.add(at, exposition::parse(&text, patterns));
}

fn fail(gathered: &mut Gathered, error: String) {
    gathered.failures += 1;
    gathered.last_error = Some(error);
}
