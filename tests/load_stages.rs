//! Ramping user stages in the closed model: throughput follows the user curve, the in-flight gauge never exceeds the stage's users, and every request is accounted for.

mod util;
use relaybench::scenario;
use std::path::Path;
use util::run_first as run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_ramp_linearly_then_hold_and_the_run_ends_with_the_stages() {
    let started = std::time::Instant::now();
    let r = run(r#"
[[target]]
name = "m"
[target.mock]
latency = "20ms"
[workload]
model = "closed"
threads = 2
grace = "1s"
stages = [{ users = 8, duration = "4s" }, { users = 8, duration = "2s" }]
"#)
    .await;
    let per_second = |t: u64| {
        r.series
            .iter()
            .find(|p| p.t == t)
            .map_or(0, |p| p.completed) as f64
    };
    let early = (per_second(0) + per_second(1)) / 2.0;
    let late = (per_second(3) + per_second(4)) / 2.0;
    let series: Vec<(u64, u64, u64)> = r
        .series
        .iter()
        .map(|p| (p.t, p.completed, p.in_flight))
        .collect();
    // Users 0..8 join at 0, 0.5, ..., 3.5 s: about 1 user on average in seconds 0–1, 7.5 in 3–4.
    assert!(
        early > 0.0 && early < late / 2.0,
        "throughput rises with the users: early {early}/s, late {late}/s; {series:?}"
    );
    assert!(
        per_second(4) >= per_second(1),
        "the hold stage keeps all users: {series:?}"
    );
    assert!(
        r.series.iter().all(|p| p.in_flight <= 8),
        "never more than 8 in flight: {series:?}"
    );
    assert_eq!(
        r.scheduled,
        r.outcomes.values().sum::<u64>(),
        "scheduled = Σ outcomes"
    );
    assert!(r.scheduled > 100, "requests were sent: {}", r.scheduled);
    assert!(
        r.series.iter().all(|p| p.t <= 7),
        "the run ends when the stages end (6 s): {series:?}"
    );
    assert!(r.load.contains("ramping"), "{}", r.load);
    assert!(started.elapsed().as_secs() < 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_target_idles_the_users_above_it() {
    // 4 users for 1 s, then 0 users for 2 s: nothing completes after the drop (plus one
    // in-flight request's 20 ms), and the run still lasts the whole 3 s of stages.
    let r = run(r#"
[[target]]
name = "m"
[target.mock]
latency = "20ms"
[workload]
model = "closed"
threads = 1
grace = "1s"
start_users = 4
stages = [{ users = 4, duration = "1s" }, { users = 0, duration = "0s" }, { users = 0, duration = "2s" }]
"#)
    .await;
    // The run must still cover the idle stage, or "nothing after" would hold trivially.
    assert!(
        r.series.iter().any(|p| p.t >= 2),
        "the run lasts through the idle stage: {:?}",
        r.series
    );
    let after: u64 = r
        .series
        .iter()
        .filter(|p| p.t >= 2)
        .map(|p| p.completed)
        .sum();
    assert_eq!(
        after, 0,
        "users above the target send nothing: {:?}",
        r.series
    );
    assert!(r.scheduled > 20);
    assert_eq!(r.scheduled, r.outcomes.values().sum::<u64>());
}

#[test]
fn stage_keys_are_checked_per_model() {
    let base = "[[target]]\nname = \"m\"\n[target.mock]\n[workload]\n";
    let err = |workload: &str| {
        scenario::parse(Path::new("s.toml"), &format!("{base}{workload}")).expect_err("rejected")
    };
    let e = err("model = \"closed\"\nstages = [{ rate = 5, duration = \"1s\" }]\n");
    assert_eq!(e.key.as_deref(), Some("workload.stages[0].users"), "{e:?}");
    let e = err("model = \"ramp\"\nstages = [{ users = 5, duration = \"1s\" }]\n");
    assert_eq!(e.key.as_deref(), Some("workload.stages[0].rate"), "{e:?}");
    let e = err("model = \"closed\"\nusers = 3\nstages = [{ users = 5, duration = \"1s\" }]\n");
    assert_eq!(e.key.as_deref(), Some("workload.users"), "{e:?}");
    assert!(e.message.contains("not both"), "{e:?}");
    let e = err("model = \"closed\"\nduration = \"1s\"\n");
    assert_eq!(e.key.as_deref(), Some("workload.users"), "{e:?}");
    let e = err("model = \"closed\"\nstages = [{ users = 0, duration = \"1s\" }]\n");
    assert_eq!(e.key.as_deref(), Some("workload.stages"), "{e:?}");
    // Stages alone bound the run: no `duration` or `requests` needed.
    let ok = scenario::parse(
        Path::new("s.toml"),
        &format!("{base}model = \"closed\"\nstages = [{{ users = 5, duration = \"1s\" }}]\n"),
    )
    .expect("closed stages parse");
    assert_eq!(ok.workload.describe(), "closed, users ramping from 0: 5/1s");
}
