//! mock-upstream: an OpenAI- and Anthropic-compatible HTTP server with faults you can dial in, for relaybench
//! and for testing any client or relay against a misbehaving upstream.
//!
//! Start one with [`MockServer::start`], read its address, [`StatsSnapshot`] and [`LatenessSummary`] from the
//! [`MockHandle`], change faults with [`MockHandle::set_config`], stop it with
//! [`MockHandle::shutdown`]. The same [`MockConfig`] is the `[mock]` table of a scenario,
//! a `--profile` file of the binary, and the JSON body of `PUT /_mock/faults`.
//!
//! Modules, and what each owns:
//!
//! - `config`: [`MockConfig`] and its sub-tables, serde forms, validation ([`ConfigError`]).
//! - `distribution`: [`Latency`] and [`TokenCount`] — random distributions, TOML shorthand, sampling.
//! - `units`: humantime duration strings for serde.
//! - `server`: [`MockServer`] / [`MockHandle`] — accept loops, connection tasks, shutdown.
//! - `connection`: per-connection state (handshake, request count, close) and the socket
//!   wrapper that can end a connection with a TCP reset.
//! - `router`: method + path → handler, OpenAI- (or on `/v1/messages` Anthropic-) shaped 404/405, `x-request-id`, close-after-N.
//! - `api`: the steps of an API request — key, body, model, rate limit, fate, capacity, latency.
//! - `faults`: the fate roll (`plan`), the schedule of phases (`schedule`), token buckets
//!   (`rate_limit`), the concurrency gate (`capacity`).
//! - `prompt`: a request's messages in any protocol's shape, their hash and honest token count.
//! - `reply`: a text reply of any protocol (reasoning and answer tokens, usage, inflation) and
//!   the streaming engine (`reply::stream`) that paces it through a protocol's framing on one
//!   timer per server (`reply::pacer`).
//! - `openai`: wire shapes — chat completions, responses, embeddings, models, errors, text.
//! - `anthropic`: wire shapes — the Messages API and Anthropic's error body.
//! - `body`: the response body type and the slow / truncated / reset bodies.
//! - `control`: `/_mock/faults`, `/_mock/stats`, `/_mock/metrics`, `/_mock/reset`.
//! - `openmetrics`: the OpenMetrics text of `/_mock/metrics`.
//! - `stats`: lock-free counters and [`StatsSnapshot`].
//! - `lateness`: how far behind its own schedule the mock sent replies and tokens ([`LatenessSummary`]).
//! - `state`: what all tasks share — the active config, stats, sequence numbers, seeding.
//! - `shutdown`: the one stop signal.
//! - `cli`: [`cli::MockArgs`] and [`cli::run`] — the flags and main loop of the `mock-upstream`
//!   binary, shared with `relaybench mock`.
//! - `schema` (feature `schema`): JSON Schema for the hand-written serde forms, for editors.

mod anthropic;
mod api;
mod body;
pub mod cli;
pub mod config;
mod connection;
mod control;
mod distribution;
mod faults;
pub mod lateness;
mod openai;
mod openmetrics;
mod prompt;
mod reply;
mod respond;
mod router;
#[cfg(feature = "schema")]
pub mod schema;
mod server;
mod shutdown;
mod state;
pub mod stats;
pub mod units;

pub use config::{
    Capacity, ConfigError, ConnectionFaults, ControlSettings, ErrorRates, Latency, MockConfig,
    Phase, RateLimit, Reasoning, ReasoningField, StreamTiming, TokenCount,
};
pub use lateness::{LatenessStats, LatenessSummary};
pub use server::{MockHandle, MockServer, SHUTDOWN_GRACE};
pub use stats::StatsSnapshot;
