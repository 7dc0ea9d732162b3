//! Sharded load: splitting a plan's load into exact shares (`run --shard I/N`) and merging the
//! shards' results files back into one (`merge`).
//!
//! * [`split`]: which share of the load shard `I` of `N` takes, and the scenario hash that ties
//!   shards of one scenario together.
//! * [`start`]: `--start-at`, the common wall-clock start.
//! * [`merge`]: combining shard results exactly — HDR histograms add, counters sum, series are
//!   aligned by wall-clock second — and refusing files that do not belong together.
//!
//! Shares follow k6's execution segments: closed-model users, request counts, `max_requests`
//! and `max_in_flight` are split as `floor((i+1)·U/N) − floor(i·U/N)` so they add up to the
//! whole with no rounding loss; an open model's arrivals are interleaved (shard `i` takes
//! every arrival `a` with `a mod N = i` of the one seeded schedule) so the union of the shards'
//! arrivals is exactly the unsharded schedule — not `N` copies of a slower one firing in
//! lockstep.

pub mod merge;
pub mod split;
pub mod start;

pub use merge::{merge, MergeError, Merged};
pub use split::{apply, label, scenario_hash, ShardError};
pub use start::{parse_start_at, wait_until, StartAtError};

use std::{fmt, str::FromStr};

/// Largest shard count accepted; far above any real deployment, it only guards arithmetic.
pub const MAX_SHARDS: u32 = 10_000;

/// Which shard this process is: `index` of `count`, 0-based (as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShardSpec {
    /// This shard, `0 ≤ index < count`.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl FromStr for ShardSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("`{s}` is not a shard; expected I/N with 0 ≤ I < N, e.g. 0/4");
        let (i, n) = s.trim().split_once('/').ok_or_else(usage)?;
        let index: u32 = i.trim().parse().map_err(|_| usage())?;
        let count: u32 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "`{s}`: the shard count must be between 1 and {MAX_SHARDS}"
            ));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: shard indexes are 0-based, so I must be below N (0/{count} … {}/{count})",
                count - 1
            ));
        }
        Ok(ShardSpec { index, count })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zero_based_index_over_count() {
        assert_eq!(
            "3/4".parse::<ShardSpec>(),
            Ok(ShardSpec { index: 3, count: 4 })
        );
        assert!("4/4".parse::<ShardSpec>().unwrap_err().contains("0-based"));
        assert!("0/0".parse::<ShardSpec>().is_err());
        assert!("a/4".parse::<ShardSpec>().is_err());
        assert!("2".parse::<ShardSpec>().is_err());
    }
}
