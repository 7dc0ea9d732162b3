//! Tests of the block bootstrap: exact replicates, seeded intervals, and burst noise seen where resampling single requests misses it.

use super::*;
use crate::gate::stats::{quantile_difference, Cdf};
use crate::metrics::histogram::new_histogram;
use hdrhistogram::Histogram;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// A series of `seconds` points; second `s` holds `per_second` latencies (µs) drawn by `draw(s, rng)`.
fn series(
    seconds: u64,
    per_second: usize,
    seed: u64,
    draw: impl Fn(u64, &mut SmallRng) -> u64,
) -> (Vec<SeriesPoint>, Histogram<u64>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut whole = new_histogram();
    let points = (0..seconds)
        .map(|t| {
            let mut h = new_series_histogram();
            for _ in 0..per_second {
                let v = draw(t, &mut rng);
                h.record(v).unwrap();
                whole.record(v).unwrap();
            }
            let mut p = SeriesPoint::empty(t, 1);
            p.completed = h.len();
            p.set_latency(&h, true);
            p
        })
        .collect();
    (points, whole)
}

/// Bursty noise: each second's requests share that second's slowdown (a stall in one second of four).
fn bursty(t: u64, rng: &mut SmallRng, burst_of: &[u64]) -> u64 {
    let base = 20_000 + rng.gen_range(0..4_000);
    base + burst_of[t as usize] + rng.gen_range(0..2_000)
}

fn bursts(seconds: u64, seed: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..seconds)
        .map(|_| {
            if rng.gen_bool(0.25) {
                rng.gen_range(10_000..60_000)
            } else {
                0
            }
        })
        .collect()
}

#[test]
fn a_replicate_drawing_every_block_once_is_the_merged_histogram() {
    let (points, _) = series(12, 300, 3, |t, rng| rng.gen_range(1_000..90_000) * (t + 1));
    let blocks = Blocks::of(&points).unwrap();
    assert_eq!(blocks.len(), 12);
    let mut merged = new_series_histogram();
    for p in &points {
        merged.add(p.latency().unwrap().unwrap()).unwrap();
    }
    let once = vec![1; 12];
    for q in [0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            blocks.statistic(&once, BlockStat::Quantile(q)),
            merged.value_at_quantile(q) as f64,
            "q = {q}"
        );
    }
    let mean = blocks.statistic(&once, BlockStat::Mean);
    assert!(
        (mean - merged.mean()).abs() < 1e-6 * mean,
        "{mean} vs {}",
        merged.mean()
    );
}

#[test]
fn short_series_and_old_files_have_no_blocks() {
    let (points, _) = series(4, 100, 1, |_, rng| rng.gen_range(1_000..2_000));
    assert!(Blocks::of(&points).is_none(), "4 seconds are too few");
    let (mut points, _) = series(10, 100, 1, |_, rng| rng.gen_range(1_000..2_000));
    points[3].hdr = None;
    assert!(
        Blocks::of(&points).is_none(),
        "a point without its histogram"
    );
}

#[test]
fn long_series_are_merged_into_at_most_max_blocks() {
    let (points, _) = series(1_000, 5, 2, |_, rng| rng.gen_range(1_000..2_000));
    let blocks = Blocks::of(&points).unwrap();
    assert!(
        blocks.len() <= MAX_BLOCKS && blocks.len() >= MAX_BLOCKS / 2,
        "{}",
        blocks.len()
    );
}

#[test]
fn burst_noise_is_not_significant_but_a_shift_is() {
    // Two runs of the same bursty process, with different bursts: resampling single requests
    // calls the p99 difference significant; resampling seconds does not.
    let seconds = 20;
    let (a_burst, b_burst) = (bursts(seconds, 10), bursts(seconds, 11));
    let (a, a_whole) = series(seconds, 400, 1, |t, r| bursty(t, r, &a_burst));
    let (b, b_whole) = series(seconds, 400, 2, |t, r| bursty(t, r, &b_burst));
    let q = 0.99;
    let (pa, pb) = (
        a_whole.value_at_quantile(q) as f64,
        b_whole.value_at_quantile(q) as f64,
    );
    assert!(
        (pb - pa).abs() > 3_000.0,
        "the bursts moved p99: {pa} vs {pb}"
    );
    let iid = quantile_difference(
        &Cdf::new(&a_whole).unwrap(),
        &Cdf::new(&b_whole).unwrap(),
        q,
    )
    .unwrap();
    assert!(iid.excludes_zero(), "single requests: {iid:?}");
    let (ba, bb) = (Blocks::of(&a).unwrap(), Blocks::of(&b).unwrap());
    let ci = block_difference(&ba, &bb, BlockStat::Quantile(q), (pa, pb));
    assert!(!ci.excludes_zero(), "blocks: {ci:?}");
    assert_eq!(
        ci,
        block_difference(&ba, &bb, BlockStat::Quantile(q), (pa, pb)),
        "seeded"
    );

    // The same process twice as slow in every second is significant.
    let (c, c_whole) = series(seconds, 400, 3, |t, r| bursty(t, r, &a_burst) * 2);
    let pc = c_whole.value_at_quantile(q) as f64;
    let ci = block_difference(
        &ba,
        &Blocks::of(&c).unwrap(),
        BlockStat::Quantile(q),
        (pa, pc),
    );
    assert!(ci.low > 0.0, "{ci:?}");
    let ci = block_difference(
        &ba,
        &Blocks::of(&c).unwrap(),
        BlockStat::Mean,
        (a_whole.mean(), c_whole.mean()),
    );
    assert!(ci.low > 0.0, "{ci:?}");
}
