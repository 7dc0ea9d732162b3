//! The scenario as users write it: targets, workload, client settings. Every field is documented here and checked strictly.

pub use crate::metrics::slo::Slo;
use crate::{client::ClientSettings, units::Dur};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name used in output paths and reports; defaults to the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// What the scenario shows, for reports.
    #[serde(default)]
    pub description: Option<String>,
    /// One or more upstreams; several targets make a provider comparison.
    #[serde(rename = "target")]
    pub targets: Vec<Target>,
    /// The traffic.
    pub workload: Workload,
    /// Client settings shared by every run (variants override them).
    #[serde(default)]
    pub client: ClientSettings,
    /// Lists of client settings whose cartesian product becomes variants, e.g. `max_connections = [10, 20]`; dotted keys reach sub-tables (`"timeouts.pool" = ["1s", "5s"]`).
    #[serde(default)]
    #[schemars(schema_with = "matrix_schema")]
    pub matrix: Option<toml::Table>,
    /// Explicit variants: `name` plus the `[client]` settings they change.
    #[serde(default, rename = "variant")]
    #[schemars(schema_with = "variants_schema")]
    pub variants: Vec<toml::Table>,
    /// Prices per model (USD per million tokens), overriding the built-in list prices.
    #[serde(default)]
    pub pricing: BTreeMap<String, super::pricing::Price>,
    /// How the report judges the runs.
    #[serde(default)]
    pub report: ReportSettings,
    /// Per-request service-level objective: a request is *good* when it ended `ok` and met every limit given here; `goodput` counts good requests per second.
    #[serde(default, skip_serializing_if = "Slo::is_unset")]
    pub slo: Slo,
    /// Pass/fail checks (`[[threshold]] check = "p99 < 800ms"`); a failed one makes `run` exit 1.
    #[serde(default, rename = "threshold", skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<crate::gate::ThresholdSpec>,
    /// `relaybench search`: the knob to turn, its range, the goal and the objective (`run` ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<super::search::SearchSpec>,
}

/// `[matrix]` in the JSON Schema: each key (a `[client]` setting, dotted for sub-tables) holds
/// the list of values to try. The values are checked against `[client]` when variants are built.
fn matrix_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": { "type": "array", "minItems": 1 },
        "examples": [{ "max_connections": [10, 20, 50, 100], "http": ["1", "2"] }]
    })
}

/// `[[variant]]` in the JSON Schema: a `name` plus `[client]` keys (checked when variants are built).
fn variants_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "properties": { "name": { "type": "string", "description": "Variant name, shown in reports and used by `--only`." } },
            "required": ["name"]
        },
        "examples": [[{ "name": "no-retries", "retry": { "max_retries": 0 } }]]
    })
}

/// One upstream: the embedded mock (a `mock` table) or a base URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Name shown in reports.
    pub name: String,
    /// Base URL, e.g. "https://api.openai.com" (the request paths start with /v1).
    #[serde(default)]
    pub url: Option<String>,
    /// Start mock-upstream in-process with this fault profile instead of using a URL.
    #[serde(default)]
    pub mock: Option<mock_upstream::MockConfig>,
    /// Environment variable holding the API key, sent as `Authorization: Bearer ...` (as
    /// `x-api-key: ...` for `api = "anthropic-messages"`).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The API `kind = "chat"` requests speak: `openai-chat` (POST /v1/chat/completions, the
    /// default), `openai-responses` (POST /v1/responses) or `anthropic-messages` (POST
    /// /v1/messages, with `x-api-key` and `anthropic-version: 2023-06-01`).
    #[serde(default)]
    pub api: ApiKind,
    /// The encoding relaybench counts this target's tokens with (`o200k_base` or
    /// `cl100k_base`); unset: the one tiktoken maps `model` to, else `o200k_base` as an
    /// approximation (results say which, and whether it is exact).
    #[serde(default)]
    pub tokenizer: Option<TokenizerName>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Model name sent in OpenAI requests.
    #[serde(default = "default_model")]
    pub model: String,
    /// Guard for paid APIs: never send more than this many requests to this target in one run.
    #[serde(default)]
    pub max_requests: Option<u64>,
    /// Guard for paid APIs: stop before this target's spend in one run could exceed this many US dollars.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// The target's own Prometheus/OpenMetrics text endpoint, scraped once a second during each run (`"http://relay:9090/metrics"`), or `"mock"` for the embedded mock's `/_mock/metrics`. The `metrics` series are stored in results.json and charted under the latency chart; failed scrapes are counted, never fatal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
    /// With `metrics_url`: the series to keep, by metric name or name prefix ending in `*` (`["relay_queue_depth", "relay_upstream_*"]`); at most 64 series are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
}

fn default_model() -> String {
    "gpt-4o-mini".into()
}

/// The LLM API a target speaks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ApiKind {
    /// OpenAI Chat Completions.
    #[default]
    OpenaiChat,
    /// OpenAI Responses.
    OpenaiResponses,
    /// Anthropic Messages.
    AnthropicMessages,
}

impl ApiKind {
    /// The client's name for it.
    pub fn client_api(self) -> crate::client::Api {
        match self {
            ApiKind::OpenaiChat => crate::client::Api::OpenaiChat,
            ApiKind::OpenaiResponses => crate::client::Api::OpenaiResponses,
            ApiKind::AnthropicMessages => crate::client::Api::AnthropicMessages,
        }
    }

    /// Its name in scenario files and results (`openai-chat`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ApiKind::OpenaiChat => "openai-chat",
            ApiKind::OpenaiResponses => "openai-responses",
            ApiKind::AnthropicMessages => "anthropic-messages",
        }
    }
}

/// A tokenizer relaybench can count with offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerName {
    /// tiktoken's `o200k_base` (GPT-4o, GPT-4.1, o-series, GPT-5).
    O200kBase,
    /// tiktoken's `cl100k_base` (GPT-4, GPT-3.5-turbo).
    Cl100kBase,
}

impl Target {
    /// The encoding this target's tokens are counted with, and whether it is the model's own:
    /// `tokenizer` when set (taken as exact: the user chose it), else tiktoken's for `model`.
    pub fn encoding(&self) -> relaybench_tokens::ModelEncoding {
        match self.tokenizer {
            Some(name) => relaybench_tokens::ModelEncoding {
                encoding: match name {
                    TokenizerName::O200kBase => relaybench_tokens::Encoding::O200kBase,
                    TokenizerName::Cl100kBase => relaybench_tokens::Encoding::Cl100kBase,
                },
                exact: true,
            },
            None => relaybench_tokens::Encoding::for_model(&self.model),
        }
    }
}

/// How load is generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    /// N users, each sending its next request when the previous one ends (plus think time).
    Closed,
    /// Open model: requests start at a constant rate, evenly spaced, whatever the upstream does.
    Constant,
    /// Open model: Poisson arrivals at `rate` (exponential gaps), like independent clients.
    Poisson,
    /// Open model: the rate moves linearly through `stages`, starting from `start_rate`.
    Ramp,
}

/// The traffic of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Load model.
    #[serde(default = "default_load_model")]
    pub model: LoadModel,
    /// Concurrent users (closed model); give this or `stages`, not both.
    #[serde(default)]
    pub users: Option<usize>,
    /// Closed model with `stages`: the active users at the start of the first stage.
    #[serde(default)]
    pub start_users: usize,
    /// Closed model: pause between a user's response and its next request.
    #[serde(default)]
    pub think_time: Dur,
    /// Open models: requests per second.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Ramp: the rate at the start of the first stage.
    #[serde(default)]
    pub start_rate: f64,
    /// Ramp: stages `{ rate = 200, duration = "30s" }`; the rate moves linearly to each stage's rate. Closed: stages `{ users = 50, duration = "20s" }`; the active users move linearly to each stage's count, and the run ends with the last stage.
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    /// Open models: at most this many requests in flight (counted before a request starts, so exact); what happens to an arrival beyond it is `on_overload`.
    #[serde(default)]
    pub max_in_flight: Option<u64>,
    /// Open models, at the in-flight cap: `queue` (default) holds the arrival until a slot frees and sends it then, timed from its intended start (as wrk2 and oha do); `drop` counts it as dropped and never sends it.
    #[serde(default)]
    pub on_overload: OnOverload,
    /// Open models with `on_overload = "queue"`: arrivals held at most (32 bytes each); beyond it an arrival is dropped (counted).
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// How long to issue requests (after warm-up). At least one of `duration` and `requests` is required.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// How many requests to issue (after warm-up).
    #[serde(default)]
    pub requests: Option<u64>,
    /// Requests whose start falls in this first period are counted apart and left out of statistics.
    #[serde(default)]
    pub warmup: Dur,
    /// At the end, how long in-flight requests may still finish before they are cancelled.
    #[serde(default = "default_grace")]
    pub grace: Dur,
    /// Generator threads (default: one fewer than the cores, at least one).
    #[serde(default)]
    pub threads: Option<usize>,
    /// End the run early — cleanly, through the grace period — and mark it `saturated` once the
    /// upstream cannot keep up (open models: completions fall behind the schedule while the backlog
    /// grows, or in-flight requests keep climbing; every model: every request in the window fails).
    /// Watched after the warm-up, which should be at least as long as a request takes.
    #[serde(default)]
    pub stop_on_saturation: bool,
    /// With `stop_on_saturation`: how long (whole seconds, at least 2) a criterion must hold before the run is ended.
    #[serde(default = "default_saturation_window")]
    pub saturation_window: Dur,
    /// The requests sent, picked by weight.
    #[serde(default = "default_mix")]
    pub mix: Vec<RequestTemplate>,
    /// Open models under `run --shard I/N`: this process takes every N-th arrival of the whole schedule (set by `shard::apply`, never written by users).
    #[serde(skip)]
    pub segment: Option<crate::shard::ShardSpec>,
}

/// One stage of a ramp (`rate`) or of a closed model's users (`users`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Ramp model: rate (req/s) reached at the end of the stage.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Closed model: active users reached at the end of the stage.
    #[serde(default)]
    pub users: Option<usize>,
    /// Length of the stage.
    pub duration: Dur,
}

/// What happens to an open-model arrival when `max_in_flight` requests are already in flight.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnOverload {
    /// Wait for a slot, then send; the wait is part of its latency.
    #[default]
    Queue,
    /// Never send it; count it as dropped.
    Drop,
}

fn default_saturation_window() -> Dur {
    crate::load::saturation::DEFAULT_WINDOW
}

fn default_max_queue() -> usize {
    crate::load::overload::DEFAULT_MAX_QUEUE
}

fn default_load_model() -> LoadModel {
    LoadModel::Closed
}

fn default_grace() -> Dur {
    Dur::secs(5)
}

fn default_mix() -> Vec<RequestTemplate> {
    vec![RequestTemplate::default()]
}

/// One kind of request in the mix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestTemplate {
    /// `chat` (a completion in the target's `api`: POST /v1/chat/completions, /v1/responses or
    /// /v1/messages), `embeddings` (POST /v1/embeddings) or `http` (anything).
    #[serde(default = "default_kind")]
    pub kind: RequestKind,
    /// Relative weight in the mix.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Chat: stream the response as server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Chat: `max_tokens` (`max_output_tokens` for Responses; Anthropic requires one: 1024 when unset).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Chat / embeddings: prompts, one picked at random per request. Placeholders as in `body`.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Chat / embeddings: a JSONL file of prompts (relative to the scenario), one per line: a JSON
    /// string, `{"prompt": "..."}`, or `{"messages": [...]}` (sent as the chat messages verbatim).
    #[serde(default)]
    pub prompts_file: Option<String>,
    /// Prompts read from `prompts_file`, as chat `messages` arrays (not written back to results).
    #[serde(skip)]
    pub file_prompts: Vec<serde_json::Value>,
    /// Chat: prompts from a local file, `{ path = "data/chats.jsonl", format = "sharegpt" | "jsonl",
    /// order = "random" | "sequential" }` (path relative to the scenario). Replaces `prompts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<super::dataset::DatasetSpec>,
    /// The dataset's entries, read when the scenario is loaded (not written back to results).
    #[serde(skip)]
    pub dataset_entries: Vec<super::dataset::DatasetEntry>,
    /// Chat: synthetic prompts whose user message has exactly this many tokens in the target's
    /// encoding, e.g. `{ dist = "normal", mean = 512, stdev = 128, min = 16, max = 4096 }`; also
    /// `fixed` (`value`), `uniform` (`min`, `max`), `lognormal` (`mean`, `stdev` of the lengths)
    /// and `empirical` (`values`, optional `weights`). Replaces `prompts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<crate::load::lengths::LengthSpec>,
    /// Chat: the output length asked for, per request (same forms as `input_tokens`): sent as
    /// `max_tokens` (`max_output_tokens` for Responses); pair it with `extra_body = { ignore_eos = true }`
    /// on servers that honour it so answers really have that length. Replaces `max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<crate::load::lengths::LengthSpec>,
    /// Chat: fields merged into every request body (a TOML table becomes JSON fields), e.g.
    /// `{ ignore_eos = true, min_tokens = 256 }`; they override relaybench's own fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub extra_body: Option<toml::Table>,
    /// With `input_tokens` / `output_tokens`: how many distinct requests are generated before the
    /// run (each a draw of the lengths), picked at random per request.
    #[serde(default = "default_prompt_pool")]
    pub prompt_pool: usize,
    /// With `input_tokens`: every generated prompt starts with one of `prefix_groups` fixed
    /// prefixes of exactly this many tokens (then its own `input_tokens` suffix), so prefix and
    /// KV caches can hit; TTFT is reported per group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_prefix_tokens: Option<u32>,
    /// With `shared_prefix_tokens`: how many distinct prefixes (requests are spread evenly over them).
    #[serde(default = "default_prefix_groups")]
    pub prefix_groups: u16,
    /// Chat, closed model: each user runs multi-turn sessions of this many turns (same forms as
    /// `input_tokens`, e.g. `{ dist = "uniform", min = 2, max = 5 }`); every turn draws a new user
    /// message as the entry draws prompts (a ShareGPT conversation replays its own later human
    /// turns first) and sends the whole history (earlier user messages and
    /// the assistant's actual answers). A failed turn ends the session; a draw above 1,000 turns is cut to 1,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<crate::load::lengths::LengthSpec>,
    /// With `turns`: pause between a turn's answer and the next turn (the workload's `think_time`
    /// stays between sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_think_time: Option<Dur>,
    /// HTTP: method.
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP: path relative to the target's URL. Chat: overrides the path of the target's API
    /// (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`), for relays that serve it elsewhere.
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP: body. Placeholders rendered per request: `{{index}}` (the request's sequence number in the run), `{{random:MIN-MAX}}` (a uniform integer), `{{pick:a|b|c}}` (one option), `{{uuid}}`.
    #[serde(default)]
    pub body: Option<String>,
    /// Extra headers for this request kind.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP: the 2xx statuses that count as success, `200` or `[200, 204]`; a 2xx answer with
    /// another status is `bad_response`. Unset: any 2xx. (Chat and embeddings answers are
    /// checked by their protocol instead: a 2xx that is no valid answer is `bad_response`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<StatusList>,
    /// HTTP: text the response body must contain; a 2xx answer without it is `bad_response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body_contains: Option<String>,
}

/// `expect_status`: one 2xx status or a list of them, checked as the file is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusList(pub Vec<u16>);

impl<'de> Deserialize<'de> for StatusList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};
        fn status<E: Error>(code: i64) -> Result<u16, E> {
            match u16::try_from(code) {
                Ok(code @ 200..=299) => Ok(code),
                _ => Err(E::custom(format!(
                    "`{code}` is not a 2xx status: only a 2xx answer can be a success (other statuses keep their own `status_N` outcome)"
                ))),
            }
        }
        struct Statuses;
        impl<'de> Visitor<'de> for Statuses {
            type Value = StatusList;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a status like `200` or a list like `[200, 204]`")
            }

            fn visit_i64<E: Error>(self, code: i64) -> Result<StatusList, E> {
                Ok(StatusList(vec![status(code)?]))
            }

            fn visit_u64<E: Error>(self, code: u64) -> Result<StatusList, E> {
                self.visit_i64(i64::try_from(code).unwrap_or(i64::MAX))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusList, A::Error> {
                let mut codes = Vec::new();
                while let Some(code) = seq.next_element::<i64>()? {
                    codes.push(status(code)?);
                }
                if codes.is_empty() {
                    return Err(A::Error::custom(
                        "an empty list would accept nothing: list the 2xx statuses that count, or leave `expect_status` out",
                    ));
                }
                Ok(StatusList(codes))
            }
        }
        deserializer.deserialize_any(Statuses)
    }
}

impl schemars::JsonSchema for StatusList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusList".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let status = schemars::json_schema!({ "type": "integer", "minimum": 200, "maximum": 299 });
        schemars::json_schema!({
            "description": "One 2xx status, or a non-empty list of them.",
            "anyOf": [
                status,
                { "type": "array", "items": status, "minItems": 1 }
            ],
            "examples": [200, [200, 204]]
        })
    }
}

impl Default for RequestTemplate {
    fn default() -> Self {
        RequestTemplate {
            kind: RequestKind::Chat,
            weight: 1,
            stream: false,
            max_tokens: Some(32),
            prompts: Vec::new(),
            prompts_file: None,
            file_prompts: Vec::new(),
            dataset: None,
            dataset_entries: Vec::new(),
            input_tokens: None,
            output_tokens: None,
            extra_body: None,
            prompt_pool: default_prompt_pool(),
            shared_prefix_tokens: None,
            prefix_groups: default_prefix_groups(),
            turns: None,
            turn_think_time: None,
            method: None,
            path: None,
            body: None,
            headers: BTreeMap::new(),
            expect_status: None,
            expect_body_contains: None,
        }
    }
}

fn default_prompt_pool() -> usize {
    crate::load::requests::DEFAULT_PROMPT_POOL
}

fn default_prefix_groups() -> u16 {
    1
}

fn default_kind() -> RequestKind {
    RequestKind::Chat
}

fn default_weight() -> u32 {
    1
}

/// What a request template produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// OpenAI chat completion.
    Chat,
    /// OpenAI embeddings.
    Embeddings,
    /// Any HTTP request.
    Http,
}

impl Scenario {
    /// The scenario's name, falling back to `fallback` (the file stem).
    pub fn name_or(&self, fallback: &str) -> String {
        self.name.clone().unwrap_or_else(|| fallback.to_string())
    }
}

impl Workload {
    /// Generator threads: the configured number, else one fewer than the cores (the upstream often shares the machine), at least one.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            cores.saturating_sub(1).max(1)
        })
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let rate = self.rate.unwrap_or(0.0);
        match self.model {
            LoadModel::Closed if !self.stages.is_empty() => {
                let stages: Vec<String> = self
                    .stages
                    .iter()
                    .map(|s| format!("{}/{}", s.users.unwrap_or(0), s.duration))
                    .collect();
                format!(
                    "closed, users ramping from {}: {}",
                    self.start_users,
                    stages.join(" → ")
                )
            }
            LoadModel::Closed => format!("closed, {} users", self.users.unwrap_or(1)),
            LoadModel::Constant => format!("open, constant {rate} req/s"),
            LoadModel::Poisson => format!("open, Poisson {rate} req/s"),
            LoadModel::Ramp => {
                let stages: Vec<String> = self
                    .stages
                    .iter()
                    .map(|s| format!("{}/{}", s.rate.unwrap_or(0.0), s.duration))
                    .collect();
                format!(
                    "open, ramp from {} req/s: {}",
                    self.start_rate,
                    stages.join(" → ")
                )
            }
        }
    }

    /// Whether requests follow a schedule (open model) rather than users.
    pub fn is_open(&self) -> bool {
        self.model != LoadModel::Closed
    }

    /// Closed model with `stages`: the active-user curve over the run.
    pub fn user_stages(&self) -> Option<crate::load::closed::UserStages> {
        (self.model == LoadModel::Closed && !self.stages.is_empty()).then(|| {
            crate::load::closed::UserStages::new(
                self.start_users,
                self.stages
                    .iter()
                    .map(|s| (s.users.unwrap_or(0), s.duration.0))
                    .collect(),
            )
        })
    }

    /// The open model's schedule, covering warm-up and the measured duration.
    pub fn pacer(&self) -> Box<dyn crate::load::pacer::Pacer> {
        use crate::load::pacer::{RatePacer, Stage};
        let total = self.duration.map(|d| self.warmup.0 + d.0);
        match self.model {
            LoadModel::Ramp => {
                let stages: Vec<Stage> = self
                    .stages
                    .iter()
                    .map(|s| Stage {
                        rate: s.rate.unwrap_or(0.0),
                        duration: s.duration.0,
                    })
                    .collect();
                Box::new(RatePacer::stages(self.start_rate, &stages, false))
            }
            model => Box::new(RatePacer::constant(
                self.rate.unwrap_or(0.0),
                total,
                model == LoadModel::Poisson,
            )),
        }
    }
}

/// The `[report]` table: what the report's verdict ranks runs by, the baseline a relay is compared with, the response headers to record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// `p99` (lowest p99 latency, the default), `throughput` (highest req/s), `ttft` (lowest
    /// median time to first token), `cost` (lowest cost per request) or `errors` (lowest error rate).
    pub goal: ReportGoal,
    /// Count the tokens of every completion answer with relaybench's own tokenizer and compare
    /// them with the upstream's `usage` (the usage audit). On by default; it keeps each answer's
    /// text until it has ended and counts it then (off the token timing), which costs CPU on
    /// the generator: turn it off for the highest request rates.
    pub usage_audit: Option<bool>,
    /// The target that reaches the upstream without the relay (`"direct"`): the report then
    /// shows every other target's added latency and TTFT per percentile (relay − direct),
    /// pairing runs of the same variant (`relay_overhead` in results.json).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Response headers to record on every target, e.g. `["x-litellm-overhead-duration-ms",
    /// "x-request-id"]` (any case; looked up only by these names). Numeric values are kept as
    /// a histogram per run (read as milliseconds); text values keep the last few seen, and a
    /// failed request's values are added to its error sample.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub record_headers: Vec<String>,
}

/// Most headers `[report] record_headers` may name.
pub const MAX_RECORD_HEADERS: usize = 16;

impl ReportSettings {
    /// `record_headers` as lower-case header names; an invalid one is an error saying which.
    pub fn record_header_names(&self) -> Result<Vec<http::HeaderName>, String> {
        if self.record_headers.len() > MAX_RECORD_HEADERS {
            return Err(format!(
                "at most {MAX_RECORD_HEADERS} headers can be recorded, {} are listed",
                self.record_headers.len()
            ));
        }
        let mut names: Vec<http::HeaderName> = Vec::new();
        for text in &self.record_headers {
            let name = http::HeaderName::from_bytes(text.trim().to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("`{text}` is not a valid HTTP header name"))?;
            if names.contains(&name) {
                return Err(format!("`{text}` is listed twice"));
            }
            names.push(name);
        }
        Ok(names)
    }

    /// Whether the usage audit runs (`usage_audit`, on unless set to false).
    pub fn usage_audit(&self) -> bool {
        self.usage_audit.unwrap_or(true)
    }
}

/// What the report's verdict ranks runs by.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReportGoal {
    /// Lowest p99 latency.
    #[default]
    P99,
    /// Highest throughput.
    Throughput,
    /// Lowest median time to first token.
    Ttft,
    /// Lowest cost per request.
    Cost,
    /// Lowest error rate.
    Errors,
}
