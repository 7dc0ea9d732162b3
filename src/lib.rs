//! relaybench: a load-testing and benchmarking harness for HTTP APIs behind connection pools,
//! above all OpenAI-compatible LLM APIs and the relays in front of them.
//!
//! The data flow, one module per stage:
//!
//! * [`scenario`]: the TOML scenario model, strict parsing with located errors, and the
//!   `Plan` (targets × client variants) it expands to.
//! * [`client`]: the pooled HTTP client (the `relaybench-client` crate, `crates/client`) —
//!   connection pool with a hard cap, phase timeouts, retries, budget, breaker — reporting one
//!   `Exchange` per logical request, and the `Outcome` taxonomy every stage counts in.
//! * [`load`]: the generator — worker threads, load models, the stop/grace/cancel sequence,
//!   and the saturation stop that ends a run the upstream cannot keep up with.
//! * [`metrics`]: per-worker HDR recorders, recorded response headers, the per-request SLO
//!   (good or not), the one-second series, a relay's overhead against `[report] baseline`, and
//!   the versioned `ResultsFile` every output is rendered from.
//! * [`report`]: results.json, report.html, PNG charts, the terminal table.
//! * [`shard`]: splitting a plan's load into exact shares (`run --shard I/N`) and merging the
//!   shards' results exactly (`merge`).
//! * [`runner`]: executes a plan — starts the embedded mock-upstream where a target asks for it.
//! * [`search`]: `relaybench search` — the largest (or smallest) knob value meeting an objective, by
//!   bisection over normal runs.
//! * [`scrape`]: the target's own metrics (`metrics_url`), scraped once a second during a run.
//! * [`trace`]: `--trace FILE` — one JSON line per request, written off the request path.
//! * [`gate`]: thresholds, baseline comparison, and the CI outputs (junit.xml, GitHub summary).
//! * [`live`]: `--ui` — the live dashboard and Prometheus `/metrics`, served by axum while a
//!   plan runs, fed once per second from the generator's progress.
//! * [`cli`]: the `relaybench` command line and its exit codes.
//! * [`units`]: durations, sizes and percentages as users write them (from the client crate,
//!   whose settings are written in them).

pub mod cli;
pub use relaybench_client as client;
pub mod gate;
pub mod load;
pub mod metrics;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scrape;
pub mod search;
pub mod shard;
pub mod trace;
pub use relaybench_client::units;
pub mod live;
