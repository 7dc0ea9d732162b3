//! Values with units as users write them in scenarios and flags: durations ("250ms"), sizes ("1MiB"), percentages ("1%").
//!
//! Durations use `humantime` for parsing; sizes and percentages are small enough grammars to parse here.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr, time::Duration};

/// A duration written with a unit, e.g. `"250ms"`, `"10s"`, `"2m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// From milliseconds.
    pub const fn ms(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }

    /// From seconds.
    pub const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text == "0" {
            return Ok(Dur(Duration::ZERO));
        }
        if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!(
                "`{s}` has no unit; write e.g. \"{s}ms\" or \"{s}s\""
            ));
        }
        humantime::parse_duration(text).map(Dur).map_err(|e| {
            format!("`{s}` is not a duration ({e}); expected e.g. \"250ms\", \"10s\", \"2m\"")
        })
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"250ms\" or \"10s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                if v == 0 {
                    return Ok(Dur(Duration::ZERO));
                }
                Err(E::custom(format!(
                    "{v} has no unit; write a string such as \"{v}ms\" or \"{v}s\""
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "{v} has no unit; write a string such as \"{v}s\""
                )))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A size in bytes written with a unit, e.g. `"1MiB"`, `"64KiB"`, `"512B"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().map_err(|_| {
            format!("`{s}` is not a size; expected e.g. \"1MiB\", \"64KiB\", \"512B\"")
        })?;
        let scale: u64 = match unit.trim() {
            "B" | "" if split == text.len() && unit.is_empty() => {
                return Err(format!(
                    "`{s}` has no unit; write e.g. \"{s}B\" or \"{s}KiB\""
                ))
            }
            "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "`{s}`: unknown size unit `{other}`; expected B, KB, MB, GB, KiB, MiB or GiB"
                ))
            }
        };
        Ok(Size((number * scale as f64).round() as u64))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 20 && b % (1 << 20) == 0 {
            write!(f, "{}MiB", b >> 20)
        } else if b >= 1 << 10 && b % (1 << 10) == 0 {
            write!(f, "{}KiB", b >> 10)
        } else {
            write!(f, "{b}B")
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// A fraction written as `"1%"` or as a number in 0..=1 (`0.01`).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Ratio(pub f64);

impl FromStr for Ratio {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ratio::checked(Ratio::parse_unbounded(s)?)
    }
}

impl Ratio {
    /// A non-negative relative change such as a tolerance, where "250%" is meaningful.
    pub fn parse_relative(s: &str) -> Result<f64, String> {
        let value = Ratio::parse_unbounded(s)?;
        if value >= 0.0 && value.is_finite() {
            Ok(value)
        } else {
            Err(format!(
                "`{s}` is not a non-negative finite change; expected e.g. \"10%\" or \"250%\""
            ))
        }
    }

    fn parse_unbounded(s: &str) -> Result<f64, String> {
        let text = s.trim();
        let value = if let Some(pct) = text.strip_suffix('%') {
            pct.trim()
                .parse::<f64>()
                .map(|v| v / 100.0)
                .map_err(|_| format!("`{s}` is not a percentage; expected e.g. \"1%\" or 0.01"))?
        } else {
            text.parse::<f64>()
                .map_err(|_| format!("`{s}` is not a ratio; expected e.g. \"1%\" or 0.01"))?
        };
        Ok(value)
    }

    fn checked(value: f64) -> Result<Ratio, String> {
        if (0.0..=1.0).contains(&value) {
            Ok(Ratio(value))
        } else {
            Err(format!("{value} is outside 0..1 (0%..100%)"))
        }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

impl Serialize for Ratio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Ratio;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage such as \"1%\" or a number in 0..1")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ratio, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ratio, E> {
                Ratio::checked(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ratio, E> {
                Ratio::checked(v as f64).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ratio, E> {
                Ratio::checked(v as f64).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

// JSON Schema for editors (`relaybench schema`): each unit is a string with a pattern that
// matches what `FromStr` accepts, so a typo is flagged before `relaybench validate` runs.

/// The units `humantime` accepts, longest first. mock-upstream's schema keeps the same list
/// (neither crate depends on the other); a test in relaybench checks that they agree.
const HUMANTIME_UNITS: &str =
    "nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y";

/// Regex for a humantime duration (`"1h 30m"` too), as `Dur` reads it.
pub fn humantime_pattern() -> String {
    format!(r"^\s*([0-9]+(\.[0-9]+)?\s*({HUMANTIME_UNITS})\s*)+$")
}

impl schemars::JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration with a unit: \"250ms\", \"10s\", \"2m\", \"1h 30m\" (humantime units). A bare number is rejected, except 0.",
            "anyOf": [
                {
                    "type": "string",
                    "pattern": format!(r"^\s*0\s*$|{}", humantime_pattern())
                },
                { "const": 0 }
            ],
            "examples": ["250ms", "10s", "2m"]
        })
    }
}

impl schemars::JsonSchema for Size {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size in bytes with a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).",
            "type": "string",
            "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|kB|MB|GB|KiB|MiB|GiB)\s*$",
            "examples": ["1MiB", "64KiB", "512B"]
        })
    }
}

impl schemars::JsonSchema for Ratio {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ratio".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A fraction: a percentage string (\"1%\") or a number from 0 to 1 (0.01).",
            "anyOf": [
                { "type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*%\s*$" },
                { "type": "number", "minimum": 0, "maximum": 1 }
            ],
            "examples": ["1%", 0.01]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!("250ms".parse::<Dur>().unwrap(), Dur::ms(250));
        assert_eq!("10s".parse::<Dur>().unwrap(), Dur::secs(10));
        assert_eq!("0".parse::<Dur>().unwrap(), Dur::ms(0));
        assert!("10".parse::<Dur>().unwrap_err().contains("no unit"));
        assert!("10 parsecs".parse::<Dur>().is_err());
    }

    #[test]
    fn sizes_and_ratios() {
        assert_eq!("1MiB".parse::<Size>().unwrap(), Size(1 << 20));
        assert_eq!("64KiB".parse::<Size>().unwrap(), Size(65536));
        assert!("12".parse::<Size>().is_err());
        assert!("12XB".parse::<Size>().is_err());
        assert_eq!("1%".parse::<Ratio>().unwrap(), Ratio(0.01));
        assert_eq!("0.5".parse::<Ratio>().unwrap(), Ratio(0.5));
        assert!("150%".parse::<Ratio>().is_err());
        assert_eq!(Ratio::parse_relative("250%").unwrap(), 2.5);
        assert!(Ratio::parse_relative("-5%").is_err());
        assert!(Ratio::parse_relative("inf").is_err());
    }
}
