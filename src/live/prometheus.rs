//! `/metrics`: the board in the OpenMetrics text format, encoded by `prometheus-client` at each scrape from the figures the board already holds.
//!
//! Counters are cumulative over a run and labelled by run, target and variant; once a run has
//! ended they are its results.json figures exactly (`Board::finished`).

use super::board::{Board, RunBoard};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
    registry::Registry,
};
use std::sync::{Arc, Mutex};

/// Histogram bucket bounds (seconds), the usual latency ladder up to the read timeout's range.
const BOUNDS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Encodes the board on every scrape.
#[derive(Debug)]
struct BoardCollector(Arc<Mutex<Board>>);

/// The OpenMetrics text of `board`.
pub fn render(board: &Arc<Mutex<Board>>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BoardCollector(board.clone())));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

type Labels = Vec<(&'static str, String)>;

fn labels(r: &RunBoard) -> Labels {
    vec![
        ("run", r.name.clone()),
        ("target", r.target.clone()),
        ("variant", r.variant.clone()),
    ]
}

/// The runs to export: a search probes one target/variant many times; its latest probe is the one shown.
fn latest_per_name(board: &Board) -> Vec<&RunBoard> {
    let mut out: Vec<&RunBoard> = Vec::new();
    for r in &board.runs {
        match out.iter_mut().find(|o| o.name == r.name) {
            Some(slot) => *slot = r,
            None => out.push(r),
        }
    }
    out
}

impl Collector for BoardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let board = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let runs = latest_per_name(&board);
        let e = &mut encoder;
        {
            let mut family = e.encode_descriptor(
                "relaybench_requests",
                "Measured logical requests by outcome (ok, status_503, timeout_pool, ...)",
                None,
                MetricType::Counter,
            )?;
            for r in &runs {
                for (outcome, n) in &r.outcomes {
                    let mut l = labels(r);
                    l.push(("outcome", outcome.clone()));
                    ConstCounter::new(*n).encode(family.encode_family(&l)?)?;
                }
            }
        }
        let counter = |value: u64| ConstCounter::new(value);
        let gauge = |value: u64| ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
        let (c, g) = (MetricType::Counter, MetricType::Gauge);
        let attempts = "Attempts sent (first tries + retries)";
        per_run(e, &runs, "relaybench_attempts", attempts, c, |r, m| {
            counter(r.attempts).encode(m)
        })?;
        per_run(e, &runs, "relaybench_retries", "Retries", c, |r, m| {
            counter(r.retries).encode(m)
        })?;
        // relaybench's own client, not the upstream: the target's figures are in results.json's `target_metrics`.
        let in_flight = "Requests relaybench has in flight (started, not ended)";
        per_run(e, &runs, "relaybench_in_flight", in_flight, g, |r, m| {
            gauge(r.in_flight).encode(m)
        })?;
        let open = "Connections open in relaybench's own pool (not the upstream's)";
        per_run(e, &runs, "relaybench_open_connections", open, g, |r, m| {
            gauge(r.open_connections).encode(m)
        })?;
        let waiting = "Requests waiting for a slot in relaybench's own pool";
        per_run(e, &runs, "relaybench_pool_waiting", waiting, g, |r, m| {
            gauge(r.waiting_for_pool).encode(m)
        })?;
        let h = MetricType::Histogram;
        let latency = "Latency from the intended start to the last byte";
        per_run(
            e,
            &runs,
            "relaybench_latency_seconds",
            latency,
            h,
            |r, m| histogram(&r.latency, m),
        )?;
        let ttft = "Time to first token of streams, from the answering attempt's send";
        per_run(e, &runs, "relaybench_ttft_seconds", ttft, h, |r, m| {
            histogram(&r.ttft, m)
        })?;
        Ok(())
    }
}

/// One metric family of `kind`, one series per run, each encoded by `encode` under the run's labels.
fn per_run(
    encoder: &mut DescriptorEncoder,
    runs: &[&RunBoard],
    name: &str,
    help: &str,
    kind: MetricType,
    encode: impl Fn(&RunBoard, MetricEncoder<'_>) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for r in runs {
        encode(r, family.encode_family(&labels(r))?)?;
    }
    Ok(())
}

fn histogram(
    h: &hdrhistogram::Histogram<u64>,
    mut metric: MetricEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let (sum, count, buckets) = buckets_of(h);
    metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
}

/// A µs HDR histogram as Prometheus buckets (seconds): (sum, count, per-bucket counts ending with +Inf).
fn buckets_of(h: &hdrhistogram::Histogram<u64>) -> (f64, u64, Vec<(f64, u64)>) {
    let mut counts = vec![0u64; BOUNDS.len() + 1];
    let mut sum = 0.0;
    for v in h.iter_recorded() {
        // The bucket's representative value: what the HDR histogram knows of these values.
        let seconds = h.median_equivalent(v.value_iterated_to()) as f64 / 1e6;
        let n = v.count_at_value();
        sum += seconds * n as f64;
        let i = BOUNDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BOUNDS.len());
        counts[i] += n;
    }
    let buckets = BOUNDS
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .zip(counts)
        .collect();
    (sum, h.len(), buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_every_value_once() {
        let mut h = crate::metrics::series::new_series_histogram();
        for us in [1_000, 20_000, 20_000, 2_000_000, 900_000_000] {
            h.record(us).unwrap();
        }
        let (sum, count, buckets) = buckets_of(&h);
        assert_eq!(count, 5);
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 5);
        assert_eq!(buckets[0], (0.005, 1));
        assert_eq!(buckets[2], (0.025, 2));
        assert_eq!(buckets.last().unwrap().1, 1, "900 s is above every bound");
        assert!((sum - 902.041).abs() < 10.0, "{sum}");
    }
}
