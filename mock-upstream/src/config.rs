//! `MockConfig`: every knob of the mock — the `[mock]` table of a relaybench scenario, a `--profile` file, and the body of `PUT /_mock/faults`.
//!
//! All structs use `#[serde(deny_unknown_fields, default)]`: a missing key means "healthy
//! default", a misspelled key is an error that names it. Durations are humantime strings.

use crate::units;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

pub use crate::distribution::{Latency, TokenCount};

/// A config that cannot be used, naming the key that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value was read but does not make sense (probability > 1, min > max, ...).
    #[error("mock config: `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    /// The TOML text itself is malformed or has an unknown key (message carries line and key).
    #[error("mock config{}: {message}", .file.as_deref().map(|f| format!(" {f}")).unwrap_or_default())]
    Parse {
        file: Option<String>,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: &str, reason: &str) -> Self {
        ConfigError::Invalid {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Everything the mock does, faults included. `MockConfig::default()` is a healthy server
/// with zero latency and no faults.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct MockConfig {
    /// Seed for every random choice (fault rolls, delays, generated text). Unset: random per start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Delay before the response: the whole reply when not streaming, the headers when streaming.
    pub latency: Latency,
    /// Extra delay paid once per TCP connection by its first request(s), emulating a TLS
    /// handshake; requests that reuse the connection do not pay it.
    pub handshake_delay: Latency,
    /// Probability per API request of an injected error, keyed by status: any from "400" to "599"
    /// ("429", "503", "529", ...), answered in the route's protocol's error shape.
    pub errors: ErrorRates,
    /// `retry-after` advertised by injected 429s and capacity 503s.
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::HumanDuration"))]
    #[serde(with = "units::duration")]
    pub retry_after: Duration,
    /// Real token-bucket rate limits (requests and tokens per minute).
    pub rate_limit: RateLimit,
    /// Limit on requests served at once, with a bounded queue.
    pub capacity: Capacity,
    /// Transport-level faults: resets, hangs, truncated/slow bodies, stream cuts, connection close.
    pub faults: ConnectionFaults,
    /// Streaming timing: time to first token and delay between tokens.
    pub stream: StreamTiming,
    /// Length of generated completions, before `max_tokens` caps it.
    pub output_tokens: TokenCount,
    /// Reasoning ("thinking") tokens emitted before the answer, as each protocol carries them.
    pub reasoning: Reasoning,
    /// Over-reporting of `usage`: every reported token count is `round(true × (1 + this))`.
    /// 0 (the default) reports exactly what was received and sent; 0.2 is a relay overbilling by 20 %.
    pub usage_inflation: f64,
    /// Phases over time (offsets from start, `set_config` or `/_mock/reset`) that override the above.
    pub schedule: Vec<Phase>,
    /// Models served; a request for another model gets 404. Empty: any model is accepted.
    pub models: Vec<String>,
    /// Length of embedding vectors (a request's `dimensions` overrides it).
    pub embedding_dim: usize,
    /// Largest request body accepted, in bytes; larger gets 413.
    pub body_limit: u64,
    /// When set, API routes require `Authorization: Bearer <this>` (on `/v1/messages`,
    /// `x-api-key: <this>` works too); otherwise 401 in the route's error shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_key: Option<String>,
    /// Where the `/_mock/*` control routes are served. Read at start only.
    pub control: ControlSettings,
    /// Headers added to every API response, e.g. `{ "x-overhead-ms" = "3" }` (a relay's
    /// timing header, for testing `[report] record_headers`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            seed: None,
            latency: Latency::default(),
            handshake_delay: Latency::default(),
            errors: ErrorRates::default(),
            retry_after: Duration::from_secs(1),
            rate_limit: RateLimit::default(),
            capacity: Capacity::default(),
            faults: ConnectionFaults::default(),
            stream: StreamTiming::default(),
            output_tokens: TokenCount::default(),
            reasoning: Reasoning::default(),
            usage_inflation: 0.0,
            schedule: Vec::new(),
            models: vec![
                "gpt-4o-mini".into(),
                "mock-1".into(),
                "text-embedding-3-small".into(),
                "claude-sonnet-4-5".into(),
            ],
            embedding_dim: 1536,
            body_limit: 1024 * 1024,
            require_key: None,
            control: ControlSettings::default(),
            response_headers: BTreeMap::new(),
        }
    }
}

/// Injected error probabilities by HTTP status. Serialized as a table with string keys
/// (`{ "429" = 0.05, "503" = 0.01 }`) because TOML keys are strings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, f64>", into = "BTreeMap<String, f64>")]
pub struct ErrorRates(BTreeMap<u16, f64>);

/// Statuses the mock can inject: every client and server error.
pub const INJECTABLE_STATUSES: std::ops::RangeInclusive<u16> = 400..=599;

impl ErrorRates {
    /// No injected errors.
    pub fn none() -> Self {
        ErrorRates::default()
    }
    /// Adds (or replaces) the probability for `status`.
    pub fn with(mut self, status: u16, probability: f64) -> Self {
        self.0.insert(status, probability);
        self
    }
    /// Probability for `status` (0 if unset).
    pub fn get(&self, status: u16) -> f64 {
        self.0.get(&status).copied().unwrap_or(0.0)
    }
    /// (status, probability) pairs in status order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, f64)> + '_ {
        self.0.iter().map(|(s, p)| (*s, *p))
    }
    /// Sum of all probabilities.
    pub fn total(&self) -> f64 {
        self.0.values().sum()
    }
}

impl TryFrom<BTreeMap<String, f64>> for ErrorRates {
    type Error = String;
    fn try_from(map: BTreeMap<String, f64>) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for (key, p) in map {
            let status: u16 = key
                .trim()
                .parse()
                .map_err(|_| format!("error status {key:?} is not a number"))?;
            if !INJECTABLE_STATUSES.contains(&status) {
                return Err(format!(
                    "status {status} cannot be injected; use a status from 400 to 599"
                ));
            }
            out.insert(status, p);
        }
        Ok(ErrorRates(out))
    }
}

impl From<ErrorRates> for BTreeMap<String, f64> {
    fn from(r: ErrorRates) -> Self {
        r.0.into_iter().map(|(s, p)| (s.to_string(), p)).collect()
    }
}

/// Token buckets refilled continuously, as OpenAI's limits behave. Unset limits are off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Requests admitted per minute (API routes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    /// Tokens admitted per minute; a request costs its prompt tokens plus `max_tokens`
    /// (or the configured output length when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// Request bucket size: how many requests may burst at once. Default: `requests_per_minute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_burst: Option<u64>,
    /// Token bucket size. Default: `tokens_per_minute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_burst: Option<u64>,
}

/// How many requests are served at once; the rest wait in a bounded queue or get 503.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Capacity {
    /// At most this many API requests are served at once (K). Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Up to this many more wait for a slot (Q); beyond that a request gets 503 at once.
    pub max_queue: u32,
}

/// Transport-level faults. The probabilities are per API request and mutually exclusive
/// with each other and with `errors` (one roll decides a request's fate), so together with
/// `errors` they must sum to at most 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionFaults {
    /// Send the headers and part of the body, then reset the TCP connection (RST).
    pub reset: f64,
    /// Read the request and never answer (until the client leaves or the server stops).
    pub hang: f64,
    /// Non-streaming: declare the full `content-length`, send half the body, close.
    pub truncate: f64,
    /// Non-streaming: send the body at `slow_body_rate` bytes per second.
    pub slow_body: f64,
    /// Bytes per second of a slow body.
    pub slow_body_rate: u64,
    /// Streaming: stop mid-stream and close the connection without `data: [DONE]`.
    pub stream_cut: f64,
    /// Streaming: send an error event mid-stream in the protocol's shape, then end the stream.
    pub stream_error: f64,
    /// Close each keep-alive connection after it has served this many responses. Unset: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_after_requests: Option<u64>,
}

impl Default for ConnectionFaults {
    fn default() -> Self {
        ConnectionFaults {
            reset: 0.0,
            hang: 0.0,
            truncate: 0.0,
            slow_body: 0.0,
            slow_body_rate: 1024,
            stream_cut: 0.0,
            stream_error: 0.0,
            close_after_requests: None,
        }
    }
}

/// Timing of a streamed completion, after `latency` has passed and the headers are out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct StreamTiming {
    /// Time from the headers to the first content token.
    pub ttft: Latency,
    /// Time between consecutive content tokens.
    pub inter_token: Latency,
}

/// Reasoning before the answer: Chat `reasoning_content` deltas, Responses reasoning summary
/// events, Anthropic `thinking` blocks. Reasoning tokens count in the reply's output tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Reasoning {
    /// Reasoning tokens per reply (0: none). `max_tokens` caps reasoning and answer together.
    pub tokens: TokenCount,
    /// The Chat delta and message field that carries reasoning (relays use both names).
    pub field: ReasoningField,
}

impl Default for Reasoning {
    fn default() -> Self {
        Reasoning {
            tokens: TokenCount::Fixed(0),
            field: ReasoningField::ReasoningContent,
        }
    }
}

/// Name of the Chat field that carries reasoning text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReasoningField {
    /// `reasoning_content` (DeepSeek, vLLM, most relays).
    #[default]
    ReasoningContent,
    /// `reasoning` (OpenRouter and others).
    Reasoning,
}

impl ReasoningField {
    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            ReasoningField::ReasoningContent => "reasoning_content",
            ReasoningField::Reasoning => "reasoning",
        }
    }
}

/// One phase of the schedule: from `start` to `end` (offsets from the schedule's epoch)
/// the keys given here replace the base profile's. The first phase containing "now" wins.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Phase {
    /// When the phase begins, from the epoch (server start, `set_config` or `/_mock/reset`).
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::HumanDuration"))]
    #[serde(with = "units::duration")]
    pub start: Duration,
    /// When it ends (exclusive). Unset: it never ends.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<crate::schema::HumanDuration>")
    )]
    #[serde(with = "units::opt_duration", skip_serializing_if = "Option::is_none")]
    pub end: Option<Duration>,
    /// Replaces `latency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Multiplies `latency`, `stream.ttft` and `stream.inter_token` (a brown-out: 5.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_multiplier: Option<f64>,
    /// Replaces `handshake_delay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_delay: Option<Latency>,
    /// Replaces `errors` (an outage: `{ "503" = 1.0 }`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorRates>,
    /// Replaces `retry_after`.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<crate::schema::HumanDuration>")
    )]
    #[serde(with = "units::opt_duration", skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Duration>,
    /// Replaces `faults`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<ConnectionFaults>,
    /// Replaces `stream`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamTiming>,
    /// Replaces `reasoning` (a relay that routes to a reasoning model for a while).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
}

/// Where the control routes (`/_mock/faults`, `/_mock/stats`, `/_mock/metrics`, `/_mock/reset`) live.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct ControlSettings {
    /// Serve the control routes at all.
    pub enabled: bool,
    /// Serve them on this address of their own instead of the API address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            enabled: true,
            listen: None,
        }
    }
}

impl MockConfig {
    /// Reads a profile: either the `[mock]`-table keys at top level, or a relaybench scenario
    /// whose `[mock]` table is used (its other tables are ignored). `file` names it in errors.
    pub fn from_toml_str(text: &str, file: Option<&str>) -> Result<MockConfig, ConfigError> {
        #[derive(Deserialize)]
        struct Scenario {
            mock: MockConfig,
        }
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            file: file.map(str::to_string),
            message: e.to_string(),
        };
        let has_mock_table = text
            .parse::<toml::Table>()
            .map_err(parse_err)?
            .get("mock")
            .is_some_and(|v| v.is_table());
        let config = if has_mock_table {
            toml::from_str::<Scenario>(text).map_err(parse_err)?.mock
        } else {
            toml::from_str::<MockConfig>(text).map_err(parse_err)?
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that serde cannot (probability ranges, min <= max, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.latency.validate("latency")?;
        self.handshake_delay.validate("handshake_delay")?;
        validate_fates("", &self.errors, &self.faults)?;
        self.stream.ttft.validate("stream.ttft")?;
        self.stream.inter_token.validate("stream.inter_token")?;
        self.output_tokens.validate("output_tokens")?;
        self.reasoning.tokens.validate("reasoning.tokens")?;
        if !(self.usage_inflation.is_finite() && self.usage_inflation >= 0.0) {
            return Err(ConfigError::invalid(
                "usage_inflation",
                "must be a finite number >= 0 (0.2 reports 20 % more tokens than were used)",
            ));
        }
        for (name, value) in &self.response_headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::invalid(
                    "response_headers",
                    &format!("`{name}` is not a valid HTTP header name"),
                ));
            }
            if http::HeaderValue::from_str(value).is_err() {
                return Err(ConfigError::invalid(
                    "response_headers",
                    &format!("the value of `{name}` is not a valid HTTP header value"),
                ));
            }
        }
        if self.embedding_dim == 0 || self.embedding_dim > 65_536 {
            return Err(ConfigError::invalid(
                "embedding_dim",
                "must be between 1 and 65536",
            ));
        }
        if self.capacity.max_concurrent == Some(0) {
            return Err(ConfigError::invalid(
                "capacity.max_concurrent",
                "must be at least 1 (unset it for no limit)",
            ));
        }
        for (key, v) in [
            (
                "rate_limit.requests_per_minute",
                self.rate_limit.requests_per_minute,
            ),
            (
                "rate_limit.tokens_per_minute",
                self.rate_limit.tokens_per_minute,
            ),
            ("rate_limit.request_burst", self.rate_limit.request_burst),
            ("rate_limit.token_burst", self.rate_limit.token_burst),
        ] {
            if v == Some(0) {
                return Err(ConfigError::invalid(
                    key,
                    "must be at least 1 (unset it for no limit)",
                ));
            }
        }
        for (i, phase) in self.schedule.iter().enumerate() {
            phase.validate(&format!("schedule[{i}]"))?;
        }
        Ok(())
    }
}

impl Phase {
    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if let Some(end) = self.end {
            if end <= self.start {
                return Err(ConfigError::invalid(
                    &format!("{at}.end"),
                    "must be after start",
                ));
            }
        }
        if let Some(l) = &self.latency {
            l.validate(&format!("{at}.latency"))?;
        }
        if let Some(m) = self.latency_multiplier {
            if !(m.is_finite() && m >= 0.0) {
                return Err(ConfigError::invalid(
                    &format!("{at}.latency_multiplier"),
                    "must be a finite number >= 0",
                ));
            }
        }
        if let Some(r) = &self.reasoning {
            r.tokens.validate(&format!("{at}.reasoning.tokens"))?;
        }
        let errors = self.errors.clone().unwrap_or_default();
        let faults = self.faults.clone().unwrap_or_default();
        validate_fates(&format!("{at}."), &errors, &faults)
    }
}

fn validate_fates(
    prefix: &str,
    errors: &ErrorRates,
    faults: &ConnectionFaults,
) -> Result<(), ConfigError> {
    let probabilities = errors
        .iter()
        .map(|(s, p)| (format!("errors.\"{s}\""), p))
        .chain(
            [
                ("faults.reset", faults.reset),
                ("faults.hang", faults.hang),
                ("faults.truncate", faults.truncate),
                ("faults.slow_body", faults.slow_body),
                ("faults.stream_cut", faults.stream_cut),
                ("faults.stream_error", faults.stream_error),
            ]
            .map(|(k, p)| (k.to_string(), p)),
        );
    let mut total = 0.0;
    for (key, p) in probabilities {
        if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
            return Err(ConfigError::invalid(
                &format!("{prefix}{key}"),
                "a probability must be between 0 and 1",
            ));
        }
        total += p;
    }
    if total > 1.0 + 1e-9 {
        return Err(ConfigError::invalid(
            &format!("{prefix}errors/faults"),
            "error and fault probabilities are exclusive per request and must sum to at most 1",
        ));
    }
    if faults.slow_body > 0.0 && faults.slow_body_rate == 0 {
        return Err(ConfigError::invalid(
            &format!("{prefix}faults.slow_body_rate"),
            "must be at least 1 byte/s",
        ));
    }
    if faults.close_after_requests == Some(0) {
        return Err(ConfigError::invalid(
            &format!("{prefix}faults.close_after_requests"),
            "must be at least 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_healthy_and_round_trips_through_toml_and_json() {
        let c = MockConfig::default();
        c.validate().unwrap();
        let t = toml::to_string(&c).unwrap();
        assert_eq!(MockConfig::from_toml_str(&t, None).unwrap(), c);
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<MockConfig>(&j).unwrap(), c);
    }

    #[test]
    fn reads_a_full_profile() {
        let text = r#"
            seed = 42
            latency = "20ms"
            handshake_delay = { dist = "uniform", min = "200ms", max = "500ms" }
            retry_after = "2s"
            errors = { "429" = 0.05, "503" = 0.01 }
            output_tokens = { dist = "uniform", min = 8, max = 64 }
            models = ["a", "b"]
            [rate_limit]
            requests_per_minute = 600
            [capacity]
            max_concurrent = 8
            max_queue = 16
            [faults]
            reset = 0.01
            close_after_requests = 100
            [stream]
            ttft = "150ms"
            inter_token = "1.5ms"
            [[schedule]]
            start = "10s"
            end = "20s"
            errors = { "503" = 1.0 }
            [[schedule]]
            start = "30s"
            end = "35s"
            latency_multiplier = 5.0
        "#;
        let c = MockConfig::from_toml_str(text, Some("p.toml")).unwrap();
        assert_eq!(c.seed, Some(42));
        assert_eq!(c.errors.get(429), 0.05);
        assert_eq!(c.schedule.len(), 2);
        assert_eq!(c.schedule[0].end, Some(Duration::from_secs(20)));
        assert_eq!(c.capacity.max_concurrent, Some(8));
    }

    #[test]
    fn scenario_mock_table_is_used() {
        let text = "[client]\nmax_connections = 3\n[mock]\nlatency = \"5ms\"\n";
        let c = MockConfig::from_toml_str(text, None).unwrap();
        assert_eq!(c.latency, Latency::fixed_ms(5));
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err = MockConfig::from_toml_str(
            "latency = \"1ms\"\n[faults]\nresett = 0.1\n",
            Some("x.toml"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("resett") && msg.contains("line 3") && msg.contains("x.toml"),
            "{msg}"
        );
    }

    #[test]
    fn bad_values_are_rejected_by_field() {
        for bad in ["399", "600", "200"] {
            let text = format!("errors = {{ \"{bad}\" = 0.5 }}");
            let err = MockConfig::from_toml_str(&text, Some("m.toml")).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(bad) && msg.contains("from 400 to 599") && msg.contains("m.toml"),
                "{msg}"
            );
        }
        let c = MockConfig::from_toml_str(
            "errors = { \"400\" = 0.1, \"402\" = 0.1, \"529\" = 0.1 }",
            None,
        )
        .unwrap();
        assert_eq!(c.errors.get(529), 0.1);
        let err = MockConfig::from_toml_str("usage_inflation = -0.1", None).unwrap_err();
        assert!(err.to_string().contains("usage_inflation"), "{err}");
        let err = MockConfig::from_toml_str("[faults]\nstream_cut = 0.6\nstream_error = 0.6", None)
            .unwrap_err();
        assert!(err.to_string().contains("sum"), "{err}");
        let err = MockConfig::from_toml_str("[faults]\nreset = 1.5", None).unwrap_err();
        assert!(err.to_string().contains("faults.reset"), "{err}");
        let err =
            MockConfig::from_toml_str("errors = { \"500\" = 0.7 }\n[faults]\nhang = 0.7", None)
                .unwrap_err();
        assert!(err.to_string().contains("sum"), "{err}");
        let err = MockConfig::from_toml_str("[[schedule]]\nstart = \"5s\"\nend = \"1s\"", None)
            .unwrap_err();
        assert!(err.to_string().contains("schedule[0].end"), "{err}");
    }
}
