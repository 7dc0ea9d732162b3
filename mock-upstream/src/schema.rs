//! JSON Schema (via `schemars`, feature `schema`) for the config types whose serde forms are hand-written: durations, `Latency`, `TokenCount` and `ErrorRates`.
//!
//! The derived structs in `config` get their schemas from `#[derive(JsonSchema)]`; these
//! impls describe exactly what the hand-written `Deserialize` impls accept, so that an
//! editor flags what the mock would reject and accepts what it reads.

use crate::config::{ErrorRates, INJECTABLE_STATUSES};
use crate::distribution::{Latency, TokenCount};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// Stand-in type for the `units::duration` serde form (`"20ms"`, `"1.5s"`, or a bare integer
/// of milliseconds). Fields using that form say `schemars(with = "HumanDuration")`.
pub struct HumanDuration;

/// The units `humantime` accepts, longest first so the pattern reads naturally.
const HUMANTIME_UNITS: &str =
    "nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y";

/// Regex for a humantime duration (`"1h 30m"` too); also used by relaybench's `Dur`.
pub fn humantime_pattern() -> String {
    format!(r"^\s*([0-9]+(\.[0-9]+)?\s*({HUMANTIME_UNITS})\s*)+$")
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "MockDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a string with a unit (\"20ms\", \"1.5s\", \"2m\") or a bare integer of milliseconds.",
            "anyOf": [
                { "type": "string", "pattern": format!(r"^\s*[0-9]+\s*$|{}", humantime_pattern()) },
                { "type": "integer", "minimum": 0 }
            ],
            "examples": ["20ms", "1.5s"]
        })
    }
}

impl JsonSchema for Latency {
    fn schema_name() -> Cow<'static, str> {
        "Latency".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let d = generator.subschema_for::<HumanDuration>();
        json_schema!({
            "description": "A delay: a fixed duration (\"20ms\") or a distribution table tagged by `dist`: `{ dist = \"fixed\", value = \"20ms\" }`, `{ dist = \"uniform\", min = \"10ms\", max = \"30ms\" }`, `{ dist = \"normal\", mean = \"50ms\", stddev = \"10ms\" }` (clamped at zero), `{ dist = \"lognormal\", median = \"40ms\", sigma = 0.5 }`.",
            "anyOf": [
                d,
                tagged("fixed", &[("value", d.clone())]),
                tagged("uniform", &[("min", d.clone()), ("max", d.clone())]),
                tagged("normal", &[("mean", d.clone()), ("stddev", d.clone())]),
                tagged("lognormal", &[("median", d.clone()), ("sigma", non_negative())])
            ],
            "examples": ["20ms", { "dist": "uniform", "min": "10ms", "max": "30ms" }]
        })
    }
}

impl JsonSchema for TokenCount {
    fn schema_name() -> Cow<'static, str> {
        "TokenCount".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let n = json_schema!({ "type": "integer", "minimum": 0, "maximum": u32::MAX });
        json_schema!({
            "description": "A number of tokens: fixed (`64`) or a distribution table tagged by `dist`: `{ dist = \"fixed\", value = 64 }`, `{ dist = \"uniform\", min = 16, max = 256 }`, `{ dist = \"normal\", mean = 100, stddev = 30 }`, `{ dist = \"lognormal\", median = 120, sigma = 0.6 }`.",
            "anyOf": [
                n,
                tagged("fixed", &[("value", n.clone())]),
                tagged("uniform", &[("min", n.clone()), ("max", n.clone())]),
                tagged("normal", &[("mean", number()), ("stddev", non_negative())]),
                tagged("lognormal", &[("median", number()), ("sigma", non_negative())])
            ],
            "examples": [64, { "dist": "uniform", "min": 16, "max": 256 }]
        })
    }
}

impl JsonSchema for ErrorRates {
    fn schema_name() -> Cow<'static, str> {
        "ErrorRates".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Keys are status codes as strings because TOML keys are strings; only the
        // injectable ones are accepted (see `ErrorRates::try_from`).
        let (first, last) = (INJECTABLE_STATUSES.start(), INJECTABLE_STATUSES.end());
        json_schema!({
            "description": format!("Probability per API request of an injected error, keyed by status ({first}-{last}), answered in the route's protocol's error shape."),
            "type": "object",
            "propertyNames": { "pattern": "^(4[0-9]{2}|5[0-9]{2})$" },
            "additionalProperties": { "type": "number", "minimum": 0, "maximum": 1 },
            "examples": [{ "429": 0.05, "503": 0.01, "529": 0.01 }]
        })
    }
}

/// A distribution table: `dist = NAME` plus exactly these fields, all required.
fn tagged(dist: &str, fields: &[(&str, Schema)]) -> Schema {
    let mut properties = serde_json::Map::new();
    properties.insert("dist".into(), serde_json::json!({ "const": dist }));
    let mut required = vec![serde_json::Value::from("dist")];
    for (name, schema) in fields {
        properties.insert((*name).into(), schema.clone().into());
        required.push((*name).into());
    }
    json_schema!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

fn number() -> Schema {
    json_schema!({ "type": "number" })
}

fn non_negative() -> Schema {
    json_schema!({ "type": "number", "minimum": 0 })
}
