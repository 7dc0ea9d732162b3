//! The search policy against synthetic oracles: knees, phases, range ends, noise, non-monotone knobs.

use super::*;

fn params(range: (f64, f64), goal: Goal, integer: bool) -> Params {
    Params {
        range,
        goal,
        integer,
        resolution: 0.03,
        max_repeats: 2,
    }
}

fn clear(passed: bool) -> Observation {
    Observation {
        passed,
        within_noise: false,
    }
}

fn probes_of(p: Params, oracle: impl Fn(f64) -> bool) -> (Search, Vec<f64>) {
    let mut seen = Vec::new();
    let s = run(p, |v| {
        seen.push(v);
        clear(oracle(v))
    });
    (s, seen)
}

#[test]
fn integer_knob_max_finds_the_knee_exactly() {
    let (s, probes) = probes_of(params((1.0, 1000.0), Goal::Max, true), |v| v <= 37.0);
    assert_eq!(s.stopped(), Some(StopReason::Converged));
    assert_eq!(s.found(), Some(37.0));
    assert_eq!(s.interval(), [Some(37.0), Some(38.0)]);
    assert!(probes.iter().all(|v| v.fract() == 0.0), "{probes:?}");
    assert!(
        probes.len()
            <= worst_case_probes(Params {
                max_repeats: 0,
                ..s.params
            })
    );
}

#[test]
fn integer_knob_min_finds_the_smallest_pool() {
    // A pool of 47 or more keeps timeouts down; fewer does not.
    let (s, _) = probes_of(params((1.0, 200.0), Goal::Min, true), |v| v >= 47.0);
    assert_eq!(s.stopped(), Some(StopReason::Converged));
    assert_eq!(s.found(), Some(47.0));
    assert_eq!(s.interval(), [Some(46.0), Some(47.0)], "[fails, meets]");
}

#[test]
fn continuous_knob_stops_at_the_resolution() {
    let knee = 76.4;
    let (s, _) = probes_of(params((10.0, 2000.0), Goal::Max, false), |v| v <= knee);
    assert_eq!(s.stopped(), Some(StopReason::Converged));
    let [lo, hi] = s.interval();
    let (lo, hi) = (lo.unwrap(), hi.unwrap());
    assert!(lo <= knee && knee < hi, "[{lo}, {hi}]");
    assert!((hi - lo) / lo <= 0.03, "[{lo}, {hi}]");
    assert_eq!(s.found(), Some(lo));
}

#[test]
fn wide_brackets_are_split_geometrically_then_arithmetically() {
    let (_, probes) = probes_of(params((10.0, 10_000.0), Goal::Max, false), |v| v <= 20.0);
    assert_eq!(&probes[..2], &[10.0, 10_000.0]);
    // √(10·10000) = 316: a ratio split, not the arithmetic 5005.
    assert_eq!(probes[2], 316.0);
    // 316 fails: 10..316 still spans a decade, so √(10·316) = 56.2.
    assert_eq!(probes[3], 56.2);
    // 56.2 fails: 10..56.2 is under a decade, so the arithmetic (10 + 56.2) / 2 = 33.1.
    assert_eq!(probes[4], 33.1);
}

#[test]
fn an_all_pass_range_reports_its_top() {
    let (s, probes) = probes_of(params((10.0, 100.0), Goal::Max, true), |_| true);
    assert_eq!(s.stopped(), Some(StopReason::RangeAllPass));
    assert_eq!(s.found(), Some(100.0));
    assert_eq!(s.interval(), [Some(100.0), None]);
    assert_eq!(probes, vec![10.0, 100.0]);
}

#[test]
fn an_all_fail_range_has_no_answer() {
    let (s, probes) = probes_of(params((10.0, 100.0), Goal::Min, true), |_| false);
    assert_eq!(s.stopped(), Some(StopReason::RangeAllFail));
    assert_eq!(s.found(), None);
    assert_eq!(probes, vec![100.0, 10.0], "min: the easy end is the top");
    assert!(s.non_monotone().is_empty());
}

#[test]
fn a_noisy_boundary_is_probed_again_and_decided_by_the_repeats() {
    let mut calls = std::collections::BTreeMap::<u64, u32>::new();
    let s = run(params((1.0, 100.0), Goal::Max, true), |v| {
        let n = calls.entry(v as u64).or_default();
        *n += 1;
        if v == 50.0 {
            // Within noise: the first look passes, the repeats (also within noise) fail.
            return Observation {
                passed: *n == 1,
                within_noise: true,
            };
        }
        clear(v < 50.0)
    });
    assert_eq!(calls[&50], 3, "one probe plus two repeats");
    assert_eq!(s.found(), Some(49.0));
    assert_eq!(calls[&49], 1, "clear verdicts are not repeated");
}

#[test]
fn a_clear_repeat_outweighs_noisy_ones() {
    let mut n = 0;
    let s = run(params((1.0, 3.0), Goal::Max, true), |v| {
        if v == 2.0 {
            n += 1;
            return Observation {
                passed: n == 2,
                within_noise: n != 2,
            };
        }
        clear(v < 3.0)
    });
    assert_eq!(n, 2, "the clear second look settles it");
    assert_eq!(s.found(), Some(2.0));
}

#[test]
fn a_non_monotone_knob_is_reported_not_hidden() {
    // Fails at the easy end, passes at the hard end: no single knee.
    let (s, probes) = probes_of(params((10.0, 100.0), Goal::Max, true), |v| v > 50.0);
    assert_eq!(probes, vec![10.0, 100.0]);
    assert_eq!(s.stopped(), Some(StopReason::NonMonotone));
    assert_eq!(s.non_monotone(), &[(100.0, 10.0)]);
    assert_eq!(s.found(), None);
}

#[test]
fn stopping_from_outside_keeps_what_is_known() {
    let mut s = Search::new(params((1.0, 1000.0), Goal::Max, true));
    for _ in 0..3 {
        let Next::Probe(v) = s.next_step() else {
            panic!("not done yet")
        };
        s.record(v, clear(v <= 300.0));
    }
    s.stop(StopReason::Budget);
    assert_eq!(s.next_step(), Next::Done(StopReason::Budget));
    assert_eq!(s.interval(), [Some(32.0), Some(1000.0)]);
}

#[test]
fn worst_case_covers_repeats() {
    let p = params((1.0, 1024.0), Goal::Max, true);
    let clear_only = worst_case_probes(Params {
        max_repeats: 0,
        ..p
    });
    assert!((10..=14).contains(&clear_only), "{clear_only}");
    assert_eq!(worst_case_probes(p), clear_only * 3);
}
