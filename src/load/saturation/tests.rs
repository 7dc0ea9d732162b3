use super::*;
use crate::metrics::SaturationReason::*;
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal};

const OPEN: Rules = Rules {
    open: true,
    max_in_flight: None,
};
const CLOSED: Rules = Rules {
    open: false,
    max_in_flight: None,
};

fn s(due: u64, completed: u64, ok: u64, in_flight: u64) -> Sample {
    Sample {
        due,
        completed,
        ok,
        in_flight,
    }
}

fn reason(rules: &Rules, before: u64, window: &[Sample]) -> Option<SaturationReason> {
    decide(rules, before, window).map(|(r, _)| r)
}

#[test]
fn a_healthy_open_run_is_not_saturated() {
    let w = [
        s(200, 199, 199, 21),
        s(200, 201, 201, 20),
        s(200, 200, 200, 20),
    ];
    assert_eq!(reason(&OPEN, 20, &w), None);
}

#[test]
fn completions_behind_the_schedule_with_a_growing_backlog_are_rate_below_target() {
    // 200 due a second, the upstream finishes 80: 120 more in flight every second.
    let w = [
        s(200, 80, 80, 140),
        s(200, 80, 80, 260),
        s(200, 81, 81, 379),
    ];
    let (r, detail) = decide(&OPEN, 20, &w).unwrap();
    assert_eq!(r, RateBelowTarget);
    assert!(detail.contains("241 requests completed in 3 s (80.3 req/s) of 600 due (200.0 req/s, 40% of the target), 20 → 379 in flight"), "{detail}");
}

#[test]
fn a_backlog_held_at_the_in_flight_cap_is_rate_below_target() {
    let capped = Rules {
        open: true,
        max_in_flight: Some(50),
    };
    let w = [s(200, 80, 80, 50), s(200, 80, 80, 50), s(200, 80, 80, 50)];
    assert_eq!(reason(&capped, 50, &w), Some(RateBelowTarget));
    // The same figures without a cap: in-flight did not grow, so the generator — not the
    // upstream — did not start what was due.
    assert_eq!(reason(&OPEN, 50, &w), None);
}

#[test]
fn a_generator_behind_its_schedule_is_not_upstream_saturation() {
    let w = [
        s(200, 150, 150, 15),
        s(200, 151, 151, 16),
        s(200, 149, 149, 15),
    ];
    assert_eq!(reason(&OPEN, 15, &w), None);
}

#[test]
fn a_shortfall_within_the_noise_of_second_boundaries_is_not_judged() {
    // 97 % completed, but 9 requests short with ~40 in flight is where second boundaries fall.
    let w = [s(100, 97, 97, 42), s(100, 97, 97, 45), s(100, 97, 97, 49)];
    assert_eq!(reason(&OPEN, 40, &w), None);
}

#[test]
fn a_pipeline_still_filling_is_not_saturation() {
    // 5 s requests, no warm-up: nothing completes yet while in-flight climbs.
    let filling = [s(40, 0, 0, 80), s(40, 0, 0, 120), s(40, 0, 0, 160)];
    assert_eq!(reason(&OPEN, 40, &filling), None);
    // The first answers arrive: completions are still rising.
    let rising = [s(40, 2, 2, 118), s(40, 12, 12, 146), s(40, 35, 35, 151)];
    assert_eq!(reason(&OPEN, 80, &rising), None);
}

#[test]
fn an_upstream_catching_up_is_not_saturated() {
    let w = [
        s(100, 150, 150, 250),
        s(100, 150, 150, 200),
        s(100, 150, 150, 150),
    ];
    assert_eq!(reason(&OPEN, 300, &w), None);
}

#[test]
fn every_request_failing_is_all_failing_in_both_models() {
    let w = [s(50, 50, 0, 3), s(50, 50, 0, 2), s(50, 49, 0, 3)];
    for rules in [OPEN, CLOSED] {
        let (r, detail) = decide(&rules, 3, &w).unwrap();
        assert_eq!(r, AllFailing);
        assert_eq!(
            detail,
            "all 149 requests that finished in 3 s failed, none ok"
        );
    }
    // One ok in the window: not all failing.
    let w = [s(50, 50, 0, 3), s(50, 50, 1, 2), s(50, 49, 0, 3)];
    assert_eq!(reason(&CLOSED, 3, &w), None);
    // Too few to tell (a slow upstream with one failure).
    let w = [s(1, 1, 0, 8), s(1, 2, 0, 8), s(1, 1, 0, 8)];
    assert_eq!(reason(&CLOSED, 8, &w), None);
    // Nothing finished at all is no failure.
    let w = [s(0, 0, 0, 8); 3];
    assert_eq!(reason(&CLOSED, 8, &w), None);
}

#[test]
fn the_closed_model_is_judged_on_failures_only() {
    let w = [s(0, 80, 80, 100), s(0, 80, 80, 100), s(0, 80, 80, 100)];
    assert_eq!(reason(&CLOSED, 100, &w), None);
    let growing = [s(0, 80, 80, 20), s(0, 80, 80, 40), s(0, 80, 80, 80)];
    assert_eq!(reason(&CLOSED, 10, &growing), None);
}

#[test]
fn in_flight_rising_every_second_and_doubling_is_in_flight_growing() {
    // 1,000 due a second, 98.3 % completed (no rate shortfall), but in-flight climbs 20 → 70.
    let w = [
        s(1000, 990, 990, 30),
        s(1000, 985, 985, 45),
        s(1000, 975, 975, 70),
    ];
    let (r, detail) = decide(&OPEN, 20, &w).unwrap();
    assert_eq!(r, InFlightGrowing);
    assert!(detail.contains("20 → 70"), "{detail}");
    // Not every second higher: noise.
    let w = [
        s(1000, 990, 990, 30),
        s(1000, 985, 985, 25),
        s(1000, 975, 975, 70),
    ];
    assert_eq!(reason(&OPEN, 20, &w), None);
    // Rising but not doubled.
    let w = [
        s(1000, 990, 990, 60),
        s(1000, 985, 985, 70),
        s(1000, 975, 975, 79),
    ];
    assert_eq!(reason(&OPEN, 50, &w), None);
    // Doubled, but within the noise of a small in-flight (a burst of arrivals).
    let w = [s(65, 60, 60, 10), s(74, 71, 71, 13), s(83, 73, 73, 23)];
    assert_eq!(reason(&OPEN, 5, &w), None);
    // A ramp: in-flight grows with the schedule's rate.
    let ramp = [
        s(600, 590, 590, 30),
        s(800, 785, 785, 45),
        s(1000, 975, 975, 70),
    ];
    assert_eq!(reason(&OPEN, 20, &ramp), None);
}

#[test]
fn an_empty_window_decides_nothing() {
    assert_eq!(decide(&OPEN, 0, &[]), None);
}

/// Per-second samples of a simulated open run: arrivals at `times` (s), each served by the
/// first of `servers` FIFO servers to be free, for `service(rng)` seconds.
fn simulate(
    times: &[f64],
    servers: usize,
    mut service: impl FnMut() -> f64,
    seconds: u64,
) -> Vec<Sample> {
    let mut free = vec![0.0f64; servers];
    let mut out = vec![Sample::default(); seconds as usize];
    let mut spans = Vec::new();
    for &t in times {
        let i = (0..servers)
            .min_by(|a, b| free[*a].total_cmp(&free[*b]))
            .unwrap();
        let end = free[i].max(t) + service();
        free[i] = end;
        spans.push((t, end));
        if let Some(s) = out.get_mut(t as usize) {
            s.due += 1;
        }
        if let Some(s) = out.get_mut(end as usize) {
            s.completed += 1;
            s.ok += 1;
        }
    }
    for (sec, s) in out.iter_mut().enumerate() {
        let at = sec as f64 + 1.0;
        s.in_flight = spans.iter().filter(|(a, b)| *a < at && *b >= at).count() as u64;
    }
    out
}

fn poisson_times(rate: f64, seconds: f64, rng: &mut SmallRng) -> Vec<f64> {
    let gap = Exp::new(rate).unwrap();
    let mut t = 0.0;
    let mut out = Vec::new();
    loop {
        t += gap.sample(rng);
        if t >= seconds {
            return out;
        }
        out.push(t);
    }
}

/// Every window of a run after its first second, as the watch would judge them.
fn first_saturation(samples: &[Sample], window: usize) -> Option<(usize, SaturationReason)> {
    (1..samples.len().saturating_sub(window)).find_map(|start| {
        let before = samples[start - 1].in_flight;
        reason(&OPEN, before, &samples[start..start + window]).map(|r| (start, r))
    })
}

#[test]
fn simulated_healthy_poisson_runs_never_trip_and_overloaded_ones_do_at_once() {
    let mut rng = SmallRng::seed_from_u64(7);
    for seed_run in 0..20 {
        // Capacity 8 servers × 10/s = 80 req/s; lognormal service around 100 ms.
        let lognormal = LogNormal::new((0.1f64).ln(), 0.3).unwrap();
        for rate in [10.0, 40.0, 60.0] {
            let times = poisson_times(rate, 60.0, &mut rng);
            let mut svc = SmallRng::seed_from_u64(seed_run);
            let samples = simulate(&times, 8, || lognormal.sample(&mut svc), 60);
            let found = first_saturation(&samples, 3);
            assert_eq!(
                found,
                None,
                "{rate} req/s, run {seed_run}: {:?}",
                found.map(|(i, _)| &samples[i - 1..i + 3])
            );
        }
        let times = poisson_times(200.0, 20.0, &mut rng);
        let mut svc = SmallRng::seed_from_u64(seed_run);
        let samples = simulate(&times, 8, || lognormal.sample(&mut svc), 20);
        let (start, r) = first_saturation(&samples, 3).expect("200 req/s against 80 trips");
        assert_eq!((start, r), (1, RateBelowTarget), "run {seed_run}");
    }
}

#[test]
fn simulated_slow_but_healthy_upstreams_do_not_trip_once_warmed_up() {
    // 2 s requests (LLM-like), 30 req/s, capacity plenty: windows start after a 3 s warm-up.
    let mut rng = SmallRng::seed_from_u64(11);
    let lognormal = LogNormal::new((2.0f64).ln(), 0.4).unwrap();
    for _ in 0..10 {
        let times = poisson_times(30.0, 60.0, &mut rng);
        let mut svc = SmallRng::seed_from_u64(rng.gen());
        let samples = simulate(&times, 1000, || lognormal.sample(&mut svc), 60);
        {
            let late = (4..samples.len() - 3).find(|start| {
                reason(
                    &OPEN,
                    samples[start - 1].in_flight,
                    &samples[*start..start + 3],
                )
                .is_some()
            });
            assert_eq!(late, None, "{:?}", late.map(|i| &samples[i - 1..i + 3]));
        }
    }
}

fn workload(extra: &str) -> Workload {
    let text = format!(
        "[[target]]\nname = \"m\"\nurl = \"http://127.0.0.1:1\"\n[workload]\nstop_on_saturation = true\n{extra}\n"
    );
    crate::scenario::parse(std::path::Path::new("t.toml"), &text)
        .expect("parses")
        .workload
}

#[test]
fn the_watch_is_off_unless_asked_and_replays_the_schedule_it_judges_against() {
    let mut off = workload("model = \"constant\"\nrate = 10\nduration = \"5s\"");
    off.stop_on_saturation = false;
    assert!(SaturationWatch::for_workload(&off, 1).is_none());

    // 100 req/s, 1 s warm-up, at most 250 measured: 100 due in seconds 0-2, 50 in second 3.
    let w = workload(
        "model = \"constant\"\nrate = 100\nwarmup = \"1s\"\nduration = \"10s\"\nrequests = 250",
    );
    let mut watch = SaturationWatch::for_workload(&w, 1).unwrap();
    let mut seconds = BTreeMap::new();
    watch
        .replay
        .as_mut()
        .unwrap()
        .count_until(Duration::from_secs(5), &mut seconds);
    let due: Vec<u64> = (0..5)
        .map(|s| seconds.get(&s).map_or(0, |x: &Sample| x.due))
        .collect();
    assert_eq!(due, [100, 100, 100, 50, 0]);
}

#[test]
fn the_watch_judges_settled_windows_after_the_warm_up_once_each() {
    let w = workload("model = \"constant\"\nrate = 200\nwarmup = \"1s\"\nduration = \"20s\"");
    let mut watch = SaturationWatch::for_workload(&w, 1).unwrap();
    let bucket = |second: u64, completed: u64, ok: u64| {
        let mut b = SecondBucket::new(second);
        b.completed = completed;
        b.ok = ok;
        b
    };
    // The warm-up second: its completions count too.
    let mut b = bucket(0, 0, 0);
    b.warmup_completed = 80;
    b.warmup_ok = 80;
    watch.note_bucket(&b);
    watch.note_in_flight(0, 120);
    for second in 1..=4u64 {
        watch.note_bucket(&bucket(second, 80, 80));
        watch.note_in_flight(second, 120 + 120 * second);
    }
    // At second 4 the latest settled second is 2: the window 1..=3 is not complete yet.
    assert_eq!(watch.check(4), None);
    let found = watch.check(5).expect("seconds 1-3: 80 of 200 a second");
    assert_eq!(found.reason, RateBelowTarget);
    assert_eq!(
        found.at_s, 3.0,
        "the end of second 3, 3 s after the 1 s warm-up"
    );
    // The same window is not judged twice.
    assert_eq!(watch.check(5), None);
}

#[test]
fn the_closed_model_watch_sees_only_failures() {
    let w = workload("users = 4\nduration = \"20s\"");
    let mut watch = SaturationWatch::for_workload(&w, 1).unwrap();
    for second in 0..=4u64 {
        let mut b = SecondBucket::new(second);
        b.completed = 40;
        watch.note_bucket(&b);
        watch.note_in_flight(second, 4);
    }
    let found = watch.check(5).unwrap();
    assert_eq!((found.reason, found.at_s), (AllFailing, 4.0));
}
