//! `/metrics`: the board in the OpenMetrics text format, encoded by `prometheus-client` at each scrape from the figures the board already holds.
//!
//! Counters are cumulative over a run and labelled by run, target and variant; once a run has
//! ended they are its results.json figures exactly (`Board::finished`).

use super::board::{Board, RunBoard};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
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
        {
            let mut family = encoder.encode_descriptor(
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
        counter(
            &mut encoder,
            &runs,
            "relaybench_attempts",
            "Attempts sent (first tries + retries)",
            |r| r.attempts,
        )?;
        counter(&mut encoder, &runs, "relaybench_retries", "Retries", |r| {
            r.retries
        })?;
        gauge(
            &mut encoder,
            &runs,
            "relaybench_in_flight",
            "Requests in flight",
            |r| r.in_flight,
        )?;
        gauge(
            &mut encoder,
            &runs,
            "relaybench_open_connections",
            "Open connections",
            |r| r.open_connections,
        )?;
        gauge(
            &mut encoder,
            &runs,
            "relaybench_pool_waiting",
            "Requests waiting for a pool slot",
            |r| r.waiting_for_pool,
        )?;
        histogram(
            &mut encoder,
            &runs,
            "relaybench_latency_seconds",
            "Latency from the intended start to the last byte",
            |r| &r.latency,
        )?;
        histogram(
            &mut encoder,
            &runs,
            "relaybench_ttft_seconds",
            "Time to first token of streams, from the answering attempt's send",
            |r| &r.ttft,
        )?;
        Ok(())
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    runs: &[&RunBoard],
    name: &str,
    help: &str,
    value: impl Fn(&RunBoard) -> u64,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for r in runs {
        ConstCounter::new(value(r)).encode(family.encode_family(&labels(r))?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    runs: &[&RunBoard],
    name: &str,
    help: &str,
    value: impl Fn(&RunBoard) -> u64,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for r in runs {
        let v = i64::try_from(value(r)).unwrap_or(i64::MAX);
        ConstGauge::new(v).encode(family.encode_family(&labels(r))?)?;
    }
    Ok(())
}

fn histogram(
    encoder: &mut DescriptorEncoder,
    runs: &[&RunBoard],
    name: &str,
    help: &str,
    value: impl Fn(&RunBoard) -> &hdrhistogram::Histogram<u64>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for r in runs {
        let (sum, count, buckets) = buckets_of(value(r));
        family
            .encode_family(&labels(r))?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum, count, &buckets, None,
            )?;
    }
    Ok(())
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
