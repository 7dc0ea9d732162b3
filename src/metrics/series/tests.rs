//! Tests of the series collector: flat memory, exact downsampling, late buckets.

use super::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// A bucket of `second` holding `values` (µs), all `ok`.
fn bucket(second: u64, values: &[u64]) -> SecondBucket {
    let mut b = SecondBucket::new(second);
    for v in values {
        b.add(Outcome::Ok, *v, true);
    }
    b
}

fn merged(points: &[SeriesPoint]) -> Histogram<u64> {
    let mut h = new_series_histogram();
    for p in points {
        if let Some(ph) = p.latency() {
            h.add(ph.unwrap()).unwrap();
        }
    }
    h
}

fn assert_contiguous(points: &[SeriesPoint]) {
    let mut t = 0;
    for p in points {
        assert_eq!(p.t, t, "points are contiguous from 0");
        t = p.end();
    }
}

#[test]
fn memory_stays_bounded_over_100k_seconds() {
    let mut c = SeriesCollector::default();
    let mut rng = SmallRng::seed_from_u64(7);
    let mut total = 0;
    for s in 0..100_000u64 {
        let a = bucket(s, &[rng.gen_range(1_000..50_000)]);
        total += a.completed;
        c.add(a);
        // A second worker with sparse traffic hands in a bucket 5 s old every 7 s: later than
        // the fold lag, so it lands in a point already written.
        if s % 7 == 6 {
            let late = bucket(s - 5, &[90_000, rng.gen_range(1_000..50_000)]);
            total += late.completed;
            c.add(late);
        }
        c.sample(s, 3, 2);
        assert!(
            c.live_histograms() <= FOLD_LAG as usize + 2,
            "second {s}: {} dense histograms",
            c.live_histograms()
        );
        assert!(c.closed_points() < POINT_LIMIT, "second {s}");
    }
    let points = c.finish();
    assert!(points.len() <= POINT_LIMIT);
    // The finest step whose points fit: 100,000 s / 20 s = 5,000 > 2,000; / 60 s = 1,667.
    assert!(points.iter().all(|p| p.span == 60), "{}", points[0].span);
    assert_eq!(points.len(), 1_667);
    assert_contiguous(&points);
    assert_eq!(points.iter().map(|p| p.completed).sum::<u64>(), total);
    assert_eq!(merged(&points).len(), total);
    assert_eq!(points.last().unwrap().in_flight, 3);
}

#[test]
fn downsampled_points_are_exact() {
    // Limit 10: 95 seconds end as 10 s points (95 / 2 s = 48 > 10; / 10 s = 10).
    let mut c = SeriesCollector::with_limit(10);
    let mut rng = SmallRng::seed_from_u64(1);
    let mut per_second: Vec<Vec<u64>> = Vec::new();
    let mut all = new_series_histogram();
    for s in 0..95u64 {
        let n = rng.gen_range(0..300);
        let values: Vec<u64> = (0..n)
            .map(|_| rng.gen_range(500..2_000_000u64) / rng.gen_range(1..50))
            .collect();
        for v in &values {
            all.record(*v).unwrap();
        }
        c.add(bucket(s, &values));
        c.sample(s, s, 1);
        per_second.push(values);
    }
    let points = c.finish();
    assert_eq!(points.len(), 10);
    assert_contiguous(&points);
    for p in &points {
        assert_eq!(p.span, 10);
        let mut expected = new_series_histogram();
        for s in p.t..p.end().min(95) {
            for v in &per_second[s as usize] {
                expected.record(*v).unwrap();
            }
        }
        assert_eq!(p.completed, expected.len());
        if expected.is_empty() {
            assert_eq!(p.hdr, None);
            continue;
        }
        let h = p.latency().unwrap().unwrap();
        assert_eq!(h, expected, "point at {} s", p.t);
        assert_eq!(p.p99_ms, expected.value_at_quantile(0.99) as f64 / 1000.0);
        assert_eq!(p.max_ms, expected.max() as f64 / 1000.0);
        // The gauges are those sampled at the end of the span.
        assert_eq!(p.in_flight, p.end().min(95) - 1);
    }
    assert_eq!(merged(&points), all, "the points add up to the whole run");
}

#[test]
fn late_buckets_from_a_slow_worker_are_counted() {
    let mut c = SeriesCollector::with_limit(4);
    c.add(bucket(3, &[10_000]));
    for s in 0..50 {
        c.add(bucket(s, &[20_000]));
        c.sample(s, 0, 0);
    }
    // Second 3 was folded (and coarsened) long ago; a worker hands in its bucket now.
    assert!(c.span() > 1);
    c.add(bucket(3, &[5_000_000, 5_000_000, 5_000_000]));
    // And a bucket for the point still being filled.
    c.add(bucket(48, &[30_000]));
    let points = c.finish();
    assert_eq!(points.iter().map(|p| p.completed).sum::<u64>(), 55);
    let first = &points[0];
    assert!(first.t <= 3 && 3 < first.end());
    let top = new_series_histogram().highest_equivalent(5_000_000);
    assert_eq!(first.max_ms, top as f64 / 1000.0);
    assert!(
        first.p99_ms >= 4_990.0,
        "the late values are in the point's percentiles: {first:?}"
    );
    assert_eq!(merged(&points).len(), 55);
}

#[test]
fn live_points_are_one_second_even_when_downsampled() {
    let mut c = SeriesCollector::with_limit(3);
    for s in 0..20 {
        c.add(bucket(s, &[1_000, 2_000]));
        c.sample(s, 7, 1);
    }
    assert!(c.span() > 1);
    let live = c.latest_before(20).unwrap();
    assert_eq!(
        (live.t, live.span, live.completed, live.in_flight),
        (19, 1, 2, 7)
    );
    assert_eq!(live.hdr, None, "live points are not encoded");
    assert!(SeriesCollector::default().latest_before(5).is_none());
    assert!(SeriesCollector::default().finish().is_empty());
}

#[test]
fn gaps_become_zero_points_and_old_files_still_read() {
    let mut c = SeriesCollector::default();
    c.add(bucket(2, &[1_000]));
    c.sample(4, 0, 0);
    let points = c.finish();
    assert_eq!(points.len(), 5);
    assert_eq!(
        points.iter().map(|p| p.completed).collect::<Vec<_>>(),
        [0, 0, 1, 0, 0]
    );
    let json = serde_json::to_value(&points[0]).unwrap();
    assert!(
        json.get("span").is_none() && json.get("hdr").is_none(),
        "{json}"
    );
    let old = r#"{"t":4,"completed":2,"ok":2,"timeouts":0,"errors":0,"p50_ms":1.0,"p90_ms":1.0,"p99_ms":1.0,"max_ms":1.0,"in_flight":0,"open_connections":1}"#;
    let p: SeriesPoint = serde_json::from_str(old).unwrap();
    assert_eq!((p.span, p.end(), p.hdr.clone(), p.clamped), (1, 5, None, 0));
}

#[test]
fn clamped_latencies_are_counted_per_point() {
    let mut c = SeriesCollector::default();
    c.add(bucket(0, &[MAX_TRACKABLE_US + 1, 10]));
    let points = c.finish();
    assert_eq!(points[0].clamped, 1);
}
