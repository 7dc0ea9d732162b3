//! `Shared`: the state every connection and request sees — the active config (swapped at run time), stats, counters and the shutdown signal.

use crate::config::MockConfig;
use crate::faults::{capacity::CapacityGate, rate_limit::RateLimiter, schedule::Schedule};
use crate::lateness::Lateness;
use crate::reply::pacer::Pacer;
use crate::shutdown::Shutdown;
use crate::stats::{Stats, StatsSnapshot};
use crate::ConfigError;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// A config compiled for the hot path, replaced whole by `set_config` and `/_mock/reset`.
pub(crate) struct Active {
    /// The config as given (served back by `GET /_mock/faults`).
    pub config: MockConfig,
    /// The seed in use (the configured one, or one drawn at start).
    pub seed: u64,
    /// Base profile and phases.
    pub schedule: Schedule,
    /// Token buckets, when a rate limit is configured.
    pub rate: Option<Arc<RateLimiter>>,
    /// Concurrency gate, when a capacity is configured.
    pub capacity: Option<Arc<CapacityGate>>,
    /// `response_headers`, parsed once here rather than on every response.
    pub response_headers: http::HeaderMap,
}

impl Active {
    fn compile(config: MockConfig, seed: u64, previous: Option<&Active>) -> Active {
        // Keep live state when its settings did not change, so a run-time fault change does not
        // refill the buckets or forget queued requests.
        let rate = match previous {
            Some(p) if p.config.rate_limit == config.rate_limit => p.rate.clone(),
            _ => RateLimiter::new(&config.rate_limit).map(Arc::new),
        };
        let capacity = match previous {
            Some(p) if p.config.capacity == config.capacity => p.capacity.clone(),
            _ => config
                .capacity
                .max_concurrent
                .map(|k| Arc::new(CapacityGate::new(k, config.capacity.max_queue))),
        };
        // `MockConfig::validate` has checked every name and value.
        let response_headers = config
            .response_headers
            .iter()
            .filter_map(|(name, value)| {
                let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
                Some((name, http::HeaderValue::from_str(value).ok()?))
            })
            .collect();
        Active {
            schedule: Schedule::new(&config, Instant::now()),
            response_headers,
            config,
            seed,
            rate,
            capacity,
        }
    }
}

/// Shared by every task of one server.
pub(crate) struct Shared {
    active: RwLock<Arc<Active>>,
    /// Counters served by `/_mock/stats`.
    pub stats: Stats,
    /// How late timed sends went out; an `Arc` because stream bodies record into it.
    pub lateness: Arc<Lateness>,
    /// The timer every stream body waits on for its next token.
    pub pacer: Arc<Pacer>,
    /// Requests numbered in arrival order; the number seeds the request's random choices.
    request_seq: AtomicU64,
    /// Connections numbered in accept order; seeds the handshake delay.
    connection_seq: AtomicU64,
    /// Fires when the server stops.
    pub shutdown: Shutdown,
    /// Unix time of start, for `created` fields.
    pub started_unix: u64,
}

impl Shared {
    pub(crate) fn new(config: MockConfig, shutdown: Shutdown) -> Result<Shared, ConfigError> {
        config.validate()?;
        let seed = config.seed.unwrap_or_else(rand::random);
        Ok(Shared {
            active: RwLock::new(Arc::new(Active::compile(config, seed, None))),
            stats: Stats::default(),
            lateness: Arc::default(),
            pacer: Arc::default(),
            request_seq: AtomicU64::new(0),
            connection_seq: AtomicU64::new(0),
            shutdown,
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })
    }

    /// The config in force; cheap (one read lock, one refcount).
    pub(crate) fn active(&self) -> Arc<Active> {
        match self.active.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the config (except `control`, fixed at start); the schedule restarts from now.
    pub(crate) fn set_config(&self, mut config: MockConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let mut slot = self.active.write().unwrap_or_else(|p| p.into_inner());
        let seed = config.seed.unwrap_or(slot.seed);
        // Listeners are bound once; a new config cannot move or disable them.
        config.control = slot.config.control.clone();
        let next = Active::compile(config, seed, Some(&slot));
        *slot = Arc::new(next);
        Ok(())
    }

    /// Zeroes stats and sequence numbers, refills buckets, restarts the schedule.
    pub(crate) fn reset(&self) {
        let mut slot = self.active.write().unwrap_or_else(|p| p.into_inner());
        let next = Active::compile(slot.config.clone(), slot.seed, None);
        *slot = Arc::new(next);
        self.request_seq.store(0, Ordering::Relaxed);
        self.connection_seq.store(0, Ordering::Relaxed);
        self.stats.reset();
        self.lateness.reset();
    }

    /// The counters now (tokens streamed included), without the lateness summary.
    pub(crate) fn counters(&self) -> StatsSnapshot {
        StatsSnapshot {
            tokens_streamed: self.lateness.tokens_streamed(),
            ..self.stats.snapshot()
        }
    }

    /// The counters and the lateness summary now, as served by `GET /_mock/stats`.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            lateness: self.lateness.summary(),
            ..self.counters()
        }
    }

    pub(crate) fn next_request(&self) -> u64 {
        self.request_seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_connection(&self) -> u64 {
        self.connection_seq.fetch_add(1, Ordering::Relaxed)
    }
}

/// Mixes a seed with a stream id and an index into an RNG, so the n-th request (or
/// connection) of a seeded server always draws the same numbers.
pub(crate) fn rng_for(seed: u64, stream: u64, index: u64) -> SmallRng {
    SmallRng::seed_from_u64(splitmix(
        seed ^ splitmix(stream.wrapping_add(splitmix(index))),
    ))
}

/// SplitMix64 finalizer: a fast, well-spread 64-bit mix.
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `v` as 16 lower-case hex digits, without formatting machinery or a table walk (ids on
/// every response): each half is spread to one nibble per byte, then turned into ASCII for all
/// eight bytes at once.
pub(crate) fn hex16(v: u64) -> [u8; 16] {
    fn half(x: u64) -> [u8; 8] {
        let x = ((x & 0xFFFF_0000) << 16) | (x & 0xFFFF);
        let x = ((x & 0x0000_FF00_0000_FF00) << 8) | (x & 0x0000_00FF_0000_00FF);
        let x = ((x & 0x00F0_00F0_00F0_00F0) << 4) | (x & 0x000F_000F_000F_000F);
        // 1 in each byte whose nibble is 10 or more: those become 'a'..'f', 39 past '0' + nibble.
        let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        (x + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&half(v >> 32));
    out[8..].copy_from_slice(&half(v & 0xFFFF_FFFF));
    out
}

/// The id of request `seq`: shared by `x-request-id` and the completion's `id`.
pub(crate) fn request_hex(seed: u64, seq: u64) -> [u8; 16] {
    hex16(splitmix(seed ^ splitmix(seq)))
}

/// FNV-1a: a stable hash (unlike std's) for deriving content from request text.
pub(crate) fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex16_matches_format() {
        for v in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xabcdef,
            u64::MAX,
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
        ]
        .into_iter()
        .chain((0..1000).map(splitmix))
        {
            assert_eq!(hex16(v), *format!("{v:016x}").as_bytes(), "{v:#x}");
        }
    }
}
