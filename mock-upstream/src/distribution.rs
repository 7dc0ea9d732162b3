//! Random distributions of the config: `Latency` (durations) and `TokenCount` (output lengths), their TOML forms and sampling.
//!
//! Both accept a shorthand (`"20ms"`, `64`) for a fixed value or a table tagged by `dist`.
//! Deserialization is hand-written so that a bad table reports the precise field instead of
//! serde's "data did not match any variant".

use crate::units;
use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A distribution of delays. TOML: `"20ms"` (fixed) or
/// `{ dist = "fixed", value = "20ms" }`, `{ dist = "uniform", min = "10ms", max = "30ms" }`,
/// `{ dist = "normal", mean = "50ms", stddev = "10ms" }` (clamped at zero),
/// `{ dist = "lognormal", median = "40ms", sigma = 0.5 }`.
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    /// Always this delay.
    Fixed(Duration),
    /// Uniform between `min` and `max` inclusive.
    Uniform { min: Duration, max: Duration },
    /// Normal with this mean and standard deviation; negative samples become zero.
    Normal { mean: Duration, stddev: Duration },
    /// Log-normal with this median and shape `sigma` (the σ of the underlying normal).
    LogNormal { median: Duration, sigma: f64 },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed(Duration::ZERO)
    }
}

impl Latency {
    /// A fixed delay of `ms` milliseconds.
    pub fn fixed_ms(ms: u64) -> Self {
        Latency::Fixed(Duration::from_millis(ms))
    }

    /// True when every sample is zero: the request path can skip the timer entirely.
    pub fn is_zero(&self) -> bool {
        matches!(self, Latency::Fixed(d) if d.is_zero())
    }

    /// The delay when it is fixed, else `None`.
    pub fn fixed(&self) -> Option<Duration> {
        match self {
            Latency::Fixed(d) => Some(*d),
            _ => None,
        }
    }

    /// Draws one delay.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match self {
            Latency::Fixed(d) => return *d,
            Latency::Uniform { min, max } => {
                if max <= min {
                    return *min;
                }
                return rng.gen_range(*min..=*max);
            }
            Latency::Normal { mean, stddev } => {
                Normal::new(mean.as_secs_f64(), stddev.as_secs_f64())
                    .map(|n| n.sample(rng))
                    .unwrap_or(mean.as_secs_f64())
            }
            Latency::LogNormal { median, sigma } => {
                let mu = median.as_secs_f64().max(1e-9).ln();
                LogNormal::new(mu, *sigma)
                    .map(|n| n.sample(rng))
                    .unwrap_or(median.as_secs_f64())
            }
        };
        // Clamp so a fat tail cannot overflow Duration or stall a test for hours.
        Duration::from_secs_f64(secs.clamp(0.0, 3600.0))
    }

    /// Checks the parameters; `field` names the config key in the error.
    pub(crate) fn validate(&self, field: &str) -> Result<(), crate::ConfigError> {
        let bad = |reason: &str| Err(crate::ConfigError::invalid(field, reason));
        match self {
            Latency::Uniform { min, max } if min > max => bad("uniform: min is greater than max"),
            Latency::LogNormal { sigma, .. } if !(sigma.is_finite() && *sigma >= 0.0) => {
                bad("lognormal: sigma must be a finite number >= 0")
            }
            _ => Ok(()),
        }
    }

    /// The same distribution with every delay multiplied by `factor` (a brown-out).
    pub fn scaled(&self, factor: f64) -> Latency {
        let f = factor.max(0.0);
        let s = |d: &Duration| Duration::from_secs_f64((d.as_secs_f64() * f).min(3600.0));
        match self {
            Latency::Fixed(d) => Latency::Fixed(s(d)),
            Latency::Uniform { min, max } => Latency::Uniform {
                min: s(min),
                max: s(max),
            },
            Latency::Normal { mean, stddev } => Latency::Normal {
                mean: s(mean),
                stddev: s(stddev),
            },
            Latency::LogNormal { median, sigma } => Latency::LogNormal {
                median: s(median),
                sigma: *sigma,
            },
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
enum LatencyTable {
    Fixed {
        #[serde(with = "units::duration")]
        value: Duration,
    },
    Uniform {
        #[serde(with = "units::duration")]
        min: Duration,
        #[serde(with = "units::duration")]
        max: Duration,
    },
    Normal {
        #[serde(with = "units::duration")]
        mean: Duration,
        #[serde(with = "units::duration")]
        stddev: Duration,
    },
    Lognormal {
        #[serde(with = "units::duration")]
        median: Duration,
        sigma: f64,
    },
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.clone() {
            Latency::Fixed(d) => s.serialize_str(&units::format(d)),
            Latency::Uniform { min, max } => LatencyTable::Uniform { min, max }.serialize(s),
            Latency::Normal { mean, stddev } => LatencyTable::Normal { mean, stddev }.serialize(s),
            Latency::LogNormal { median, sigma } => {
                LatencyTable::Lognormal { median, sigma }.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Latency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like \"20ms\" or a table like { dist = \"uniform\", min = \"10ms\", max = \"30ms\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Latency, E> {
                units::DurationVisitor.visit_str(v).map(Latency::Fixed)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Latency, E> {
                Ok(Latency::Fixed(Duration::from_millis(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Latency, E> {
                units::DurationVisitor.visit_i64(v).map(Latency::Fixed)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Latency, A::Error> {
                let table = LatencyTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(match table {
                    LatencyTable::Fixed { value } => Latency::Fixed(value),
                    LatencyTable::Uniform { min, max } => Latency::Uniform { min, max },
                    LatencyTable::Normal { mean, stddev } => Latency::Normal { mean, stddev },
                    LatencyTable::Lognormal { median, sigma } => {
                        Latency::LogNormal { median, sigma }
                    }
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A distribution of output lengths in tokens. TOML: `64` (fixed) or
/// `{ dist = "uniform", min = 16, max = 256 }`, `{ dist = "normal", mean = 100, stddev = 30 }`,
/// `{ dist = "lognormal", median = 120, sigma = 0.6 }`, `{ dist = "fixed", value = 64 }`.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenCount {
    /// Always this many tokens.
    Fixed(u32),
    /// Uniform between `min` and `max` inclusive.
    Uniform { min: u32, max: u32 },
    /// Normal, rounded, clamped at zero.
    Normal { mean: f64, stddev: f64 },
    /// Log-normal with this median and shape `sigma`.
    LogNormal { median: f64, sigma: f64 },
}

impl Default for TokenCount {
    fn default() -> Self {
        TokenCount::Fixed(16)
    }
}

/// Upper bound on one generated output, so a fat tail cannot produce a multi-megabyte reply.
pub const MAX_OUTPUT_TOKENS: u32 = 65_536;

impl TokenCount {
    /// The length when it is fixed (as `sample` would give it), else `None`.
    pub fn fixed(&self) -> Option<u32> {
        match self {
            TokenCount::Fixed(n) => Some((*n).min(MAX_OUTPUT_TOKENS)),
            _ => None,
        }
    }

    /// Draws one length.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let x = match self {
            TokenCount::Fixed(n) => return (*n).min(MAX_OUTPUT_TOKENS),
            TokenCount::Uniform { min, max } => {
                return if max <= min {
                    *min
                } else {
                    rng.gen_range(*min..=*max)
                }
                .min(MAX_OUTPUT_TOKENS)
            }
            TokenCount::Normal { mean, stddev } => Normal::new(*mean, *stddev)
                .map(|n| n.sample(rng))
                .unwrap_or(*mean),
            TokenCount::LogNormal { median, sigma } => {
                LogNormal::new(median.max(1e-9).ln(), *sigma)
                    .map(|n| n.sample(rng))
                    .unwrap_or(*median)
            }
        };
        x.round().clamp(0.0, MAX_OUTPUT_TOKENS as f64) as u32
    }

    pub(crate) fn validate(&self, field: &str) -> Result<(), crate::ConfigError> {
        let bad = |reason: &str| Err(crate::ConfigError::invalid(field, reason));
        match self {
            TokenCount::Uniform { min, max } if min > max => {
                bad("uniform: min is greater than max")
            }
            TokenCount::Normal { mean, stddev }
                if !(mean.is_finite() && stddev.is_finite() && *stddev >= 0.0) =>
            {
                bad("normal: mean and stddev must be finite, stddev >= 0")
            }
            TokenCount::LogNormal { median, sigma }
                if !(median.is_finite() && *median > 0.0 && sigma.is_finite() && *sigma >= 0.0) =>
            {
                bad("lognormal: median must be > 0 and sigma >= 0")
            }
            _ => Ok(()),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
enum TokenTable {
    Fixed { value: u32 },
    Uniform { min: u32, max: u32 },
    Normal { mean: f64, stddev: f64 },
    Lognormal { median: f64, sigma: f64 },
}

impl Serialize for TokenCount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            TokenCount::Fixed(n) => s.serialize_u32(n),
            TokenCount::Uniform { min, max } => TokenTable::Uniform { min, max }.serialize(s),
            TokenCount::Normal { mean, stddev } => TokenTable::Normal { mean, stddev }.serialize(s),
            TokenCount::LogNormal { median, sigma } => {
                TokenTable::Lognormal { median, sigma }.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for TokenCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = TokenCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a token count like 64 or a table like { dist = \"uniform\", min = 16, max = 256 }")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TokenCount, E> {
                u32::try_from(v)
                    .map(TokenCount::Fixed)
                    .map_err(|_| E::custom("token count too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TokenCount, E> {
                u32::try_from(v)
                    .map(TokenCount::Fixed)
                    .map_err(|_| E::custom("token count must be 0..=4294967295"))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<TokenCount, A::Error> {
                Ok(
                    match TokenTable::deserialize(de::value::MapAccessDeserializer::new(map))? {
                        TokenTable::Fixed { value } => TokenCount::Fixed(value),
                        TokenTable::Uniform { min, max } => TokenCount::Uniform { min, max },
                        TokenTable::Normal { mean, stddev } => TokenCount::Normal { mean, stddev },
                        TokenTable::Lognormal { median, sigma } => {
                            TokenCount::LogNormal { median, sigma }
                        }
                    },
                )
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    #[derive(Deserialize, Serialize, Debug)]
    struct Holder {
        l: Latency,
    }

    #[test]
    fn latency_reads_shorthand_and_tables() {
        let h: Holder = toml::from_str(r#"l = "20ms""#).unwrap();
        assert_eq!(h.l, Latency::fixed_ms(20));
        let h: Holder =
            toml::from_str(r#"l = { dist = "uniform", min = "10ms", max = "30ms" }"#).unwrap();
        assert_eq!(
            h.l,
            Latency::Uniform {
                min: Duration::from_millis(10),
                max: Duration::from_millis(30)
            }
        );
        let h: Holder =
            toml::from_str(r#"l = { dist = "lognormal", median = "40ms", sigma = 0.5 }"#).unwrap();
        assert!(matches!(h.l, Latency::LogNormal { .. }));
        let back = toml::to_string(&h).unwrap();
        let again: Holder = toml::from_str(&back).unwrap();
        assert_eq!(again.l, h.l);
    }

    #[test]
    fn latency_rejects_unknown_keys_and_dists_by_name() {
        let err =
            toml::from_str::<Holder>(r#"l = { dist = "uniform", min = "10ms", maxx = "30ms" }"#)
                .unwrap_err();
        assert!(err.to_string().contains("maxx"), "{err}");
        let err = toml::from_str::<Holder>(r#"l = { dist = "pareto", min = "10ms" }"#).unwrap_err();
        assert!(err.to_string().contains("pareto"), "{err}");
    }

    #[test]
    fn samples_stay_in_range() {
        let mut rng = SmallRng::seed_from_u64(1);
        let u = Latency::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(30),
        };
        for _ in 0..1000 {
            let d = u.sample(&mut rng);
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(30));
        }
        let n = Latency::Normal {
            mean: Duration::from_millis(1),
            stddev: Duration::from_millis(50),
        };
        for _ in 0..1000 {
            let _ = n.sample(&mut rng); // never panics on negative draws
        }
        assert_eq!(TokenCount::Uniform { min: 5, max: 5 }.sample(&mut rng), 5);
    }
}
