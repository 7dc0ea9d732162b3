//! Shard `i` of `N`'s share of a scenario, and the hash that says two shards ran the same scenario.

use super::ShardSpec;
use crate::{
    metrics::{ResultsFile, ShardInfo},
    scenario::{Scenario, Workload},
};

/// Why a scenario cannot be split as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShardError {
    /// The split would leave this shard with nothing to do.
    #[error("shard {shard} would get none of the {total} {what}: use at most {total} shards, or raise `{field}`")]
    EmptyShare {
        /// The shard, `I/N`.
        shard: String,
        /// The whole amount being split.
        total: u64,
        /// What is being split, e.g. `users`.
        what: &'static str,
        /// The scenario field to raise.
        field: String,
    },
}

/// Shard `spec`'s part of an integer `total`, k6 execution-segment style:
/// `floor((i+1)·total/N) − floor(i·total/N)`. The parts of all shards add up to `total` exactly.
pub fn share_of(total: u64, spec: ShardSpec) -> u64 {
    let (i, n, t) = (spec.index as u128, spec.count as u128, total as u128);
    // u128: (i+1)·total cannot overflow for u64 totals and u32 counts.
    ((i + 1) * t / n - i * t / n) as u64
}

/// Shard `spec`'s part of a real `total`: `total·(i+1)/N − total·i/N` (telescoping, so the parts
/// add up to the whole up to the last bit of floating point).
pub fn fraction_of(total: f64, spec: ShardSpec) -> f64 {
    let (i, n) = (spec.index as f64, spec.count as f64);
    total * (i + 1.0) / n - total * i / n
}

/// The scenario this shard runs: its share of users, request counts and guards; for open models
/// the whole schedule with `segment` set, so the generator takes every `N`-th arrival.
pub fn apply(scenario: &Scenario, spec: ShardSpec) -> Result<Scenario, ShardError> {
    let mut s = scenario.clone();
    let shard = spec.to_string();
    let split = |total: u64, what: &'static str, field: &str| {
        let part = share_of(total, spec);
        if part == 0 {
            return Err(ShardError::EmptyShare {
                shard: shard.clone(),
                total,
                what,
                field: field.to_string(),
            });
        }
        Ok(part)
    };
    let w = &mut s.workload;
    if w.is_open() {
        w.segment = Some(spec);
        if let Some(cap) = w.max_in_flight {
            w.max_in_flight = Some(split(cap, "in-flight slots", "workload.max_in_flight")?);
        }
    } else if !w.stages.is_empty() {
        // Ramping users: every stage's count (and the starting count) is split the same
        // way, so the shards' user curves add up to the whole curve at every moment.
        w.start_users = share_of(w.start_users as u64, spec) as usize;
        let peak = w.stages.iter().filter_map(|st| st.users).max().unwrap_or(0) as u64;
        split(peak, "users", "workload.stages")?;
        for stage in &mut w.stages {
            stage.users = stage.users.map(|u| share_of(u as u64, spec) as usize);
        }
    } else {
        let users = w.users.unwrap_or(1) as u64;
        w.users = Some(split(users, "users", "workload.users")? as usize);
    }
    if let Some(requests) = w.requests {
        w.requests = Some(split(requests, "requests", "workload.requests")?);
    }
    for t in &mut s.targets {
        if let Some(max) = t.max_requests {
            let field = format!("target `{}` max_requests", t.name);
            t.max_requests = Some(split(max, "requests allowed", &field)?);
        }
        t.max_cost_usd = t.max_cost_usd.map(|c| fraction_of(c, spec));
    }
    Ok(s)
}

/// The load description of a shard's share, for its results file.
pub fn describe_share(share: &Workload, spec: ShardSpec) -> String {
    if share.is_open() {
        format!(
            "{}; shard {spec}: every {}th arrival",
            share.describe(),
            spec.count
        )
    } else {
        format!("{}; shard {spec}", share.describe())
    }
}

/// Labels a shard's results: the whole scenario (not the share) as `resolved`, its hash, and
/// each run's share of the load.
pub fn label(results: &mut ResultsFile, whole: &Scenario, share: &Scenario, spec: ShardSpec) {
    results.scenario.resolved = serde_json::to_value(whole).unwrap_or(serde_json::Value::Null);
    results.shard = Some(ShardInfo {
        index: Some(spec.index),
        count: spec.count,
        scenario_hash: scenario_hash(&results.scenario.resolved),
        merged: Vec::new(),
        missing_shards: Vec::new(),
    });
    for run in &mut results.runs {
        run.load = describe_share(&share.workload, spec);
        // The generator walked the whole schedule; this shard took 1/N of its arrivals.
        if share.workload.is_open() {
            run.target_rps = run.target_rps.map(|r| fraction_of(r, spec));
        }
    }
}

/// A stable hash (FNV-1a 64, hex) of a resolved scenario, keys in sorted order.
///
/// Written here rather than taken from `std` because `DefaultHasher` may change between Rust
/// releases, and shard files written by one build must merge with another; no adversary is
/// involved, so a small non-cryptographic hash is enough.
pub fn scenario_hash(resolved: &serde_json::Value) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    feed(&mut h, resolved);
    format!("{:016x}", h.0)
}

struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Feeds a canonical form: tagged values, object keys sorted, so map order never matters.
fn feed(h: &mut Fnv, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => h.write(b"n"),
        Value::Bool(b) => h.write(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            h.write(b"#");
            h.write(n.to_string().as_bytes());
        }
        Value::String(s) => {
            h.write(b"s");
            h.write(&(s.len() as u64).to_le_bytes());
            h.write(s.as_bytes());
        }
        Value::Array(items) => {
            h.write(b"[");
            h.write(&(items.len() as u64).to_le_bytes());
            items.iter().for_each(|i| feed(h, i));
        }
        Value::Object(map) => {
            h.write(b"{");
            h.write(&(map.len() as u64).to_le_bytes());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                feed(h, &Value::String(k.clone()));
                feed(h, &map[k]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(index: u32, count: u32) -> ShardSpec {
        ShardSpec { index, count }
    }

    #[test]
    fn integer_shares_add_up_exactly() {
        for total in [0u64, 1, 5, 6, 7, 100, 1_000_003] {
            for n in 1..=9 {
                let parts: Vec<u64> = (0..n).map(|i| share_of(total, spec(i, n))).collect();
                assert_eq!(parts.iter().sum::<u64>(), total, "{total} over {n}");
                let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
                assert!(hi - lo <= 1, "shares differ by at most one: {parts:?}");
            }
        }
        let six: Vec<u64> = (0..4).map(|i| share_of(6, spec(i, 4))).collect();
        assert_eq!(six, [1, 2, 1, 2], "k6 execution-segment order");
    }

    #[test]
    fn real_shares_telescope() {
        let parts: f64 = (0..3).map(|i| fraction_of(10.0, spec(i, 3))).sum();
        assert!((parts - 10.0).abs() < 1e-12);
    }

    fn scenario(workload: &str) -> Scenario {
        let text = format!(
            "[[target]]\nname = \"a\"\nurl = \"http://127.0.0.1:1\"\nmax_requests = 10\n[workload]\n{workload}"
        );
        crate::scenario::parse(Path::new("t.toml"), &text).unwrap()
    }

    #[test]
    fn ramping_user_stages_are_split_stage_by_stage() {
        let s = scenario(
            "start_users = 2\nstages = [{ users = 8, duration = \"1s\" }, { users = 6, duration = \"1s\" }]\n",
        );
        let shares: Vec<Scenario> = (0..4).map(|i| apply(&s, spec(i, 4)).unwrap()).collect();
        for stage in 0..2 {
            let sum: usize = shares
                .iter()
                .map(|s| s.workload.stages[stage].users.unwrap())
                .sum();
            assert_eq!(sum, [8, 6][stage], "stage {stage} adds up to the whole");
        }
        assert_eq!(
            shares.iter().map(|s| s.workload.start_users).sum::<usize>(),
            2
        );
    }

    #[test]
    fn closed_users_and_counts_are_split() {
        let s = scenario("users = 6\nrequests = 7\n");
        let shares: Vec<Scenario> = (0..4).map(|i| apply(&s, spec(i, 4)).unwrap()).collect();
        let users: Vec<usize> = shares.iter().map(|s| s.workload.users.unwrap()).collect();
        assert_eq!(users, [1, 2, 1, 2]);
        let requests: u64 = shares.iter().map(|s| s.workload.requests.unwrap()).sum();
        assert_eq!(requests, 7);
        let max: u64 = shares
            .iter()
            .map(|s| s.targets[0].max_requests.unwrap())
            .sum();
        assert_eq!(max, 10);
        assert!(shares.iter().all(|s| s.workload.segment.is_none()));
    }

    #[test]
    fn open_models_interleave_instead_of_scaling_the_rate() {
        let s =
            scenario("model = \"constant\"\nrate = 10.5\nduration = \"2s\"\nmax_in_flight = 9\n");
        let share = apply(&s, spec(1, 3)).unwrap();
        assert_eq!(share.workload.rate, Some(10.5), "whole schedule is walked");
        assert_eq!(share.workload.segment, Some(spec(1, 3)));
        assert_eq!(share.workload.max_in_flight, Some(3));
    }

    #[test]
    fn a_shard_with_nothing_to_do_is_refused() {
        let s = scenario("users = 2\nduration = \"1s\"\n");
        let err = apply(&s, spec(0, 4)).unwrap_err().to_string();
        assert!(err.contains("none of the 2 users"), "{err}");
    }

    #[test]
    fn hash_ignores_key_order_and_sees_values() {
        let a = serde_json::json!({"x": 1, "y": {"a": [1, 2], "b": "s"}});
        let b = serde_json::json!({"y": {"b": "s", "a": [1, 2]}, "x": 1});
        let c = serde_json::json!({"x": 2, "y": {"a": [1, 2], "b": "s"}});
        assert_eq!(scenario_hash(&a), scenario_hash(&b));
        assert_ne!(scenario_hash(&a), scenario_hash(&c));
        assert_eq!(scenario_hash(&a).len(), 16);
    }
}
