//! Turning the scenario's request mix into ready-to-send `RequestSpec`s, built once and picked by weight per request.
//!
//! A body with placeholders (`{{index}}`, ...) keeps its spec for everything but the body,
//! plus the parsed template; the worker renders the body per request.

use super::template::Template;
use crate::{
    client::{Api, BodyKind, Expect, RequestSpec},
    metrics::lengths::Requested,
    scenario::{
        dataset::{user_message, DatasetOrder, DatasetOutput},
        RequestKind, RequestTemplate, Target,
    },
};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use relaybench_tokens::{Encoding, ModelEncoding};
use std::sync::{
    atomic::{AtomicUsize, Ordering::Relaxed},
    Arc,
};

/// Prompt used when a template lists none.
const DEFAULT_PROMPT: &str = "Say hello in one short sentence.";

/// Distinct requests generated for `input_tokens` / `output_tokens` when `prompt_pool` is unset.
pub const DEFAULT_PROMPT_POOL: usize = 1000;

/// Seed of generated prompts and lengths (mixed with the mix entry's index): fixed, so every
/// run and every target with the same encoding gets the same prompts.
const PROMPT_SEED: u64 = 0x5EED_0017;

/// `max_tokens` sent to Anthropic when a template sets none (the Messages API requires one).
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 1024;

/// The Anthropic API version relaybench speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A ready request plus what the spend guard needs to know about it.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// What the client sends.
    pub spec: RequestSpec,
    /// The `max_tokens` asked for, for worst-case cost estimates.
    pub max_tokens: Option<u32>,
    /// The body's template when it has placeholders; `spec.body` is then the unrendered text.
    pub template: Option<Template>,
    /// Prompt tokens of a completion request, counted once when it was built with the
    /// target's encoding (the upstream's framing: 3 + Σ(3 + role + content)); `None` for
    /// other kinds, for templated prompts (whose rendered text is not counted per request) and
    /// when the usage audit is off.
    pub prompt_tokens: Option<u32>,
    /// The lengths this request asks for (`input_tokens`, `output_tokens`, prefix group), recorded
    /// with its answer; `None` for requests without them.
    pub requested: Option<Requested>,
    /// Set on the requests of an entry with `turns`: this request opens a session.
    pub conversation: Option<Arc<Conversation>>,
    /// With `conversation`: the body as JSON, parsed once when the mix is built, from which each
    /// turn's body and the user messages a later turn adds are taken.
    pub body_json: Option<Arc<serde_json::Value>>,
    /// With `conversation`, from a ShareGPT dataset: the conversation's later human turns, the
    /// user messages of the session's turns 2, 3, ... (a turn beyond them draws a request).
    pub later_turns: Option<Arc<[String]>>,
}

/// How the sessions of a mix entry with `turns` run.
#[derive(Debug)]
pub struct Conversation {
    /// Turns per session.
    pub turns: super::lengths::LengthSpec,
    /// Pause between a turn's answer and the next turn.
    pub think_time: std::time::Duration,
    /// The body field holding the messages: `messages` (Chat, Anthropic) or `input` (Responses).
    pub field: &'static str,
    /// The mix choice later turns draw their user messages from.
    choice: usize,
}

/// A chat request's content before it becomes a body.
struct ChatEntry {
    /// The `messages` array.
    messages: serde_json::Value,
    /// Its `max_tokens`.
    max_tokens: Option<u32>,
    /// What it asks for, when generated.
    requested: Option<Requested>,
}

/// Every request the mix can produce, pre-built, with cumulative weights for picking.
#[derive(Clone)]
pub struct RequestMix {
    choices: Vec<(u32, Vec<Prepared>)>,
    /// Per choice: the next entry of a dataset sent in file order (`order = "sequential"`).
    sequential: Vec<Option<Arc<AtomicUsize>>>,
    total_weight: u32,
    templated: bool,
    /// The encoding the target's tokens are counted with.
    pub encoding: ModelEncoding,
    /// Whether completion answers keep their text for the usage audit.
    pub audit: bool,
    /// The response headers every request records, in the order the client indexes them.
    pub record_headers: Vec<HeaderName>,
}

/// How the mix is built for one target, beyond the target and its templates.
#[derive(Clone, Copy, Debug, Default)]
pub struct MixOptions<'a> {
    /// The API key (already read from the environment): `Authorization: Bearer KEY`, or
    /// `x-api-key: KEY` for Anthropic.
    pub api_key: Option<&'a str>,
    /// Keep the text of completion answers and count their tokens (`[report] usage_audit`).
    pub audit: bool,
    /// Response headers every request records (`[report] record_headers`, parsed).
    pub record_headers: &'a [HeaderName],
}

impl RequestMix {
    /// Builds the mix for `target`.
    pub fn build(
        target: &Target,
        mix: &[RequestTemplate],
        options: MixOptions<'_>,
    ) -> Result<RequestMix, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &target.headers {
            insert_header(&mut headers, name, value)?;
        }
        let api = target.api.client_api();
        if let Some(key) = options.api_key {
            let bad = |_| "the API key contains characters not allowed in a header".to_string();
            let (name, mut value) = match api {
                Api::AnthropicMessages => (
                    HeaderName::from_static("x-api-key"),
                    HeaderValue::from_str(key).map_err(bad)?,
                ),
                _ => (
                    http::header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {key}")).map_err(bad)?,
                ),
            };
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if api == Api::AnthropicMessages && !headers.contains_key("anthropic-version") {
            headers.insert(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
        }
        let encoding = target.encoding();
        let build = Build {
            target,
            api,
            encoding: encoding.encoding,
            audit: options.audit,
        };
        let mut choices = Vec::new();
        let mut sequential = Vec::new();
        let mut cumulative = 0;
        for (index, template) in mix.iter().enumerate().filter(|(_, t)| t.weight > 0) {
            cumulative += template.weight;
            let in_order = template
                .dataset
                .as_ref()
                .is_some_and(|d| d.order == DatasetOrder::Sequential);
            sequential.push(in_order.then(|| Arc::new(AtomicUsize::new(0))));
            let mut variants = build.variants(template, index, &headers)?;
            if let (Some(turns), RequestKind::Chat) = (&template.turns, template.kind) {
                let conversation = Arc::new(Conversation {
                    turns: turns.clone(),
                    think_time: template.turn_think_time.map(|d| d.0).unwrap_or_default(),
                    field: if api == Api::OpenaiResponses {
                        "input"
                    } else {
                        "messages"
                    },
                    choice: choices.len(),
                });
                // A dataset's variants are its entries, in order.
                for (p, entry) in variants.iter_mut().zip(&template.dataset_entries) {
                    if !entry.later_turns.is_empty() {
                        p.later_turns = Some(entry.later_turns.as_slice().into());
                    }
                }
                for p in &mut variants {
                    // Every turn's answer is needed for the next turn's history.
                    p.spec.keep_text = true;
                    p.body_json = Some(Arc::new(
                        serde_json::from_slice(&p.spec.body)
                            .map_err(|e| format!("mix entry body: {e}"))?,
                    ));
                    p.conversation = Some(conversation.clone());
                }
            }
            choices.push((cumulative, variants));
        }
        if !options.record_headers.is_empty() {
            // One list shared by every spec: a clone per request is a reference count.
            let names: Arc<[HeaderName]> = options.record_headers.into();
            for (_, prepared) in &mut choices {
                for p in prepared {
                    p.spec.record_headers = Some(names.clone());
                }
            }
        }
        let templated = choices
            .iter()
            .any(|(_, specs)| specs.iter().any(|p| p.template.is_some()));
        Ok(RequestMix {
            choices,
            sequential,
            total_weight: cumulative,
            templated,
            encoding,
            audit: options.audit,
            record_headers: options.record_headers.to_vec(),
        })
    }

    /// Whether any request is rendered per request (and so needs the run's sequence number).
    pub fn is_templated(&self) -> bool {
        self.templated
    }

    /// Picks one request by weight, then one of its prompt variants uniformly (or the next one,
    /// for a dataset sent in order).
    pub fn pick<R: Rng>(&self, rng: &mut R) -> &Prepared {
        let roll = rng.gen_range(0..self.total_weight.max(1));
        let choice = self
            .choices
            .iter()
            .position(|(upto, _)| roll < *upto)
            .unwrap_or(self.choices.len() - 1);
        self.pick_in(choice, rng)
    }

    /// The request whose user message a conversation's next turn adds: drawn from the
    /// conversation's own entry, as that entry draws its prompts.
    pub fn pick_turn<R: Rng>(&self, conversation: &Conversation, rng: &mut R) -> &Prepared {
        self.pick_in(conversation.choice, rng)
    }

    fn pick_in<R: Rng>(&self, choice: usize, rng: &mut R) -> &Prepared {
        let specs = &self.choices[choice].1;
        match &self.sequential[choice] {
            Some(next) => &specs[next.fetch_add(1, Relaxed) % specs.len()],
            None => &specs[rng.gen_range(0..specs.len())],
        }
    }
}

/// Header names that carry credentials (matched as parts of the lower-case name): their values
/// are marked sensitive, which keeps them out of every excerpt the client reports.
const CREDENTIAL_PARTS: [&str; 6] = ["auth", "key", "token", "secret", "cookie", "password"];

fn insert_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of header `{name}` is not valid"))?;
    value.set_sensitive(CREDENTIAL_PARTS.iter().any(|p| name.as_str().contains(p)));
    headers.insert(name, value);
    Ok(())
}

/// What every request of one target is built with.
struct Build<'a> {
    target: &'a Target,
    api: Api,
    encoding: Encoding,
    audit: bool,
}

impl Build<'_> {
    /// The chat requests of `t`: its prompts as they are, or a pool of generated ones when it
    /// asks for token lengths.
    fn chat_entries(
        &self,
        t: &RequestTemplate,
        index: usize,
        prompts: &[serde_json::Value],
    ) -> Arc<Vec<ChatEntry>> {
        let seed = PROMPT_SEED ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = SmallRng::seed_from_u64(seed);
        if !t.dataset_entries.is_empty() {
            let entries = t
                .dataset_entries
                .iter()
                .map(|entry| {
                    let output = match (&t.output_tokens, &entry.output) {
                        (Some(spec), _) => Some(spec.sample(&mut rng)),
                        (None, Some(DatasetOutput::Tokens(n))) => Some(*n),
                        (None, Some(DatasetOutput::Text(answer))) => {
                            Some(self.encoding.count(answer).max(1))
                        }
                        (None, None) => None,
                    };
                    ChatEntry {
                        messages: entry.messages.clone(),
                        max_tokens: output.or(t.max_tokens),
                        requested: output.map(|output| Requested {
                            output: Some(output),
                            ..Requested::default()
                        }),
                    }
                })
                .collect();
            return Arc::new(entries);
        }
        if t.input_tokens.is_none() && t.output_tokens.is_none() {
            let entries = prompts
                .iter()
                .map(|p| ChatEntry {
                    messages: p.clone(),
                    max_tokens: t.max_tokens,
                    requested: None,
                })
                .collect();
            return Arc::new(entries);
        }
        if t.input_tokens.is_some() {
            return self.generated_once(t, index, prompts, &mut rng, seed);
        }
        Arc::new(self.generated(t, prompts, &mut rng, seed))
    }

    /// [`Build::generated`], kept for the process: a plan's runs (and the preflight) build the
    /// same mix, and generating long prompts is the costly part.
    fn generated_once(
        &self,
        t: &RequestTemplate,
        index: usize,
        prompts: &[serde_json::Value],
        rng: &mut SmallRng,
        seed: u64,
    ) -> Arc<Vec<ChatEntry>> {
        type Pools = Vec<(Encoding, String, Arc<Vec<ChatEntry>>)>;
        static POOLS: std::sync::Mutex<Pools> = std::sync::Mutex::new(Vec::new());
        let key = format!("{index}:{}", serde_json::to_string(t).unwrap_or_default());
        let cached = POOLS.lock().ok().and_then(|pools| {
            pools
                .iter()
                .find(|(e, k, _)| *e == self.encoding && *k == key)
                .map(|(_, _, pool)| pool.clone())
        });
        cached.unwrap_or_else(|| {
            let pool = Arc::new(self.generated(t, prompts, rng, seed));
            if let Ok(mut pools) = POOLS.lock() {
                pools.push((self.encoding, key, pool.clone()));
            }
            pool
        })
    }

    /// A pool of `prompt_pool` requests with drawn lengths (and prefixes).
    fn generated(
        &self,
        t: &RequestTemplate,
        prompts: &[serde_json::Value],
        rng: &mut SmallRng,
        seed: u64,
    ) -> Vec<ChatEntry> {
        // Each prefix from a generator of its own, so it stays the same whatever the pool size.
        let prefixes: Vec<(u32, String)> = t
            .shared_prefix_tokens
            .map(|tokens| {
                (0..t.prefix_groups.max(1))
                    .map(|g| {
                        let mut prefix_rng = SmallRng::seed_from_u64(!seed ^ u64::from(g));
                        let text = super::synthetic::text(self.encoding, tokens, &mut prefix_rng);
                        (tokens, text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        (0..t.prompt_pool.max(1))
            .map(|i| {
                let output = t.output_tokens.as_ref().map(|s| s.sample(rng));
                let group = (!prefixes.is_empty()).then(|| i % prefixes.len());
                let (messages, input) = match &t.input_tokens {
                    Some(spec) => {
                        let n = spec.sample(rng);
                        let suffix = super::synthetic::text(self.encoding, n, rng);
                        // Words keep their leading space, so prefix and suffix tokens add up.
                        match group.map(|g| &prefixes[g]) {
                            Some((tokens, prefix)) => {
                                (user_message(&format!("{prefix}{suffix}")), Some(n + tokens))
                            }
                            None => (user_message(&suffix), Some(n)),
                        }
                    }
                    None => (prompts[i % prompts.len()].clone(), None),
                };
                ChatEntry {
                    messages,
                    max_tokens: output.or(t.max_tokens),
                    requested: Some(Requested {
                        input,
                        output,
                        group: group.map(|g| g as u16),
                        turn: None,
                    }),
                }
            })
            .collect()
    }

    /// Every distinct request of mix entry `t` (number `index` in the mix).
    fn variants(
        &self,
        t: &RequestTemplate,
        index: usize,
        base: &HeaderMap,
    ) -> Result<Vec<Prepared>, String> {
        let mut headers = base.clone();
        for (name, value) in &t.headers {
            insert_header(&mut headers, name, value)?;
        }
        let mut prompts: Vec<serde_json::Value> =
            t.prompts.iter().map(|p| user_message(p)).collect();
        prompts.extend(t.file_prompts.iter().cloned());
        if prompts.is_empty() {
            prompts.push(user_message(DEFAULT_PROMPT));
        }
        let json = HeaderValue::from_static("application/json");
        let target = self.target;
        match t.kind {
            RequestKind::Chat => {
                headers.insert(http::header::CONTENT_TYPE, json);
                let kind = BodyKind::completion(self.api, t.stream);
                let path = t.path.as_deref().unwrap_or(match self.api {
                    Api::OpenaiChat => "/v1/chat/completions",
                    Api::OpenaiResponses => "/v1/responses",
                    Api::AnthropicMessages => "/v1/messages",
                });
                // A dataset's text is data: `{{` in it (code, templates) is sent as written.
                let may_template = t.dataset_entries.is_empty();
                self.chat_entries(t, index, &prompts)
                    .iter()
                    .map(|entry| {
                        let p = &entry.messages;
                        let body = completion_body(self.api, target, t, p, entry.max_tokens);
                        let mut spec = spec(Method::POST, path, &headers, body, kind);
                        spec.keep_text = self.audit;
                        let mut prepared = prepare(spec, entry.max_tokens, may_template)?;
                        prepared.requested = entry.requested;
                        // Counted only for the audit (the encoding's tables are large), and not
                        // for a rendered prompt, which is not the text built here. A generated
                        // prompt's count is known: one user message of `input` tokens.
                        if self.audit && prepared.template.is_none() {
                            prepared.prompt_tokens =
                                Some(match entry.requested.and_then(|r| r.input) {
                                    Some(input) => self.encoding.count_chat([("user", "")]) + input,
                                    None => {
                                        let sent = sent_messages(self.api, p);
                                        self.encoding.count_chat(
                                            sent.iter().map(|(r, c)| (r.as_str(), c.as_str())),
                                        )
                                    }
                                });
                        }
                        Ok(prepared)
                    })
                    .collect()
            }
            RequestKind::Embeddings => {
                headers.insert(http::header::CONTENT_TYPE, json);
                prompts
                    .iter()
                    .map(|p| {
                        let body = serde_json::json!({ "model": target.model, "input": embedding_input(p) });
                        let spec = spec(
                            Method::POST,
                            "/v1/embeddings",
                            &headers,
                            body.to_string(),
                            BodyKind::Embeddings,
                        );
                        prepare(spec, t.max_tokens, true)
                    })
                    .collect()
            }
            RequestKind::Http => {
                let method = t.method.as_deref().unwrap_or("GET");
                let method = Method::from_bytes(method.as_bytes())
                    .map_err(|_| format!("`{method}` is not an HTTP method"))?;
                let path = t.path.clone().unwrap_or_else(|| "/".into());
                let mut spec = spec(
                    method,
                    &path,
                    &headers,
                    t.body.clone().unwrap_or_default(),
                    BodyKind::Opaque,
                );
                if t.expect_status.is_some() || t.expect_body_contains.is_some() {
                    spec.expect = Some(Arc::new(Expect {
                        status: t.expect_status.clone().map(|s| s.0).unwrap_or_default(),
                        body_contains: t.expect_body_contains.clone(),
                    }));
                }
                Ok(vec![prepare(spec, t.max_tokens, true)?])
            }
        }
    }
}

/// A built request with nothing more known of it; its body becomes a template when it has
/// placeholders and `may_template`. Prompts sit inside JSON strings, so their placeholders are
/// parsed from the serialized body: `pick` options come out already JSON-escaped.
fn prepare(
    spec: RequestSpec,
    max_tokens: Option<u32>,
    may_template: bool,
) -> Result<Prepared, String> {
    let text = std::str::from_utf8(&spec.body).unwrap_or_default();
    let template = if may_template && Template::is_templated(text) {
        Some(Template::parse(text).map_err(|e| format!("mix entry body: {e}"))?)
    } else {
        None
    };
    Ok(Prepared {
        spec,
        max_tokens,
        template,
        prompt_tokens: None,
        requested: None,
        conversation: None,
        body_json: None,
        later_turns: None,
    })
}

/// A message's content as text: a string, or the concatenated `text` of its content parts.
fn content_text(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .concat(),
        _ => String::new(),
    }
}

/// Each message as (role, text), as the prompt-token count sees it.
fn message_texts(messages: &[serde_json::Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap_or("user").to_string();
            (role, content_text(&m["content"]))
        })
        .collect()
}

/// A messages array as Anthropic takes it: the system messages' texts joined as one `system`
/// text (`None` without any), and the other messages.
fn split_system(messages: &serde_json::Value) -> (Option<String>, Vec<serde_json::Value>) {
    let all = messages.as_array().cloned().unwrap_or_default();
    let (system, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|m| m["role"] == "system");
    let texts: Vec<String> = system.iter().map(|m| content_text(&m["content"])).collect();
    ((!texts.is_empty()).then(|| texts.join("\n")), rest)
}

/// The messages a completion request sends, as (role, text): Anthropic's system messages
/// travel joined as one `system` text, which counts as one leading system message.
fn sent_messages(api: Api, messages: &serde_json::Value) -> Vec<(String, String)> {
    if api != Api::AnthropicMessages {
        return message_texts(messages.as_array().map_or(&[], Vec::as_slice));
    }
    let (system, rest) = split_system(messages);
    let system = system.map(|text| ("system".to_string(), text));
    system.into_iter().chain(message_texts(&rest)).collect()
}

/// The text of a messages array, joined, as embeddings input.
fn embedding_input(messages: &serde_json::Value) -> String {
    let parts: Vec<&str> = messages
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["content"].as_str()).collect())
        .unwrap_or_default();
    parts.join("\n")
}

/// The body of a completion request in `api`'s shape: Chat `messages` + `max_tokens`;
/// Responses `input` (the messages) + `max_output_tokens`; Anthropic `system` (the system
/// messages' text) + `messages` (the others) + `max_tokens` (required there); then the
/// template's `extra_body` fields over it.
fn completion_body(
    api: Api,
    target: &Target,
    t: &RequestTemplate,
    messages: &serde_json::Value,
    max_tokens: Option<u32>,
) -> String {
    let mut body = serde_json::json!({ "model": target.model });
    match api {
        Api::OpenaiChat => {
            body["messages"] = messages.clone();
            if let Some(max) = max_tokens {
                body["max_tokens"] = max.into();
            }
            if t.stream {
                body["stream_options"] = serde_json::json!({ "include_usage": true });
            }
        }
        Api::OpenaiResponses => {
            body["input"] = messages.clone();
            if let Some(max) = max_tokens {
                body["max_output_tokens"] = max.into();
            }
        }
        Api::AnthropicMessages => {
            let (system, rest) = split_system(messages);
            if let Some(system) = system {
                body["system"] = system.into();
            }
            body["messages"] = rest.into();
            body["max_tokens"] = max_tokens.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS).into();
        }
    }
    if t.stream {
        body["stream"] = true.into();
    }
    if let Some(extra) = &t.extra_body {
        for (key, value) in extra {
            // A TOML value always has a JSON form (dates become strings).
            body[key.as_str()] = serde_json::to_value(value).unwrap_or_default();
        }
    }
    body.to_string()
}

fn spec(
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: String,
    body_kind: BodyKind,
) -> RequestSpec {
    RequestSpec {
        method,
        path: path.to_string(),
        headers: headers.clone(),
        body: Bytes::from(body),
        body_kind,
        expect: None,
        keep_text: false,
        record_headers: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(text: &str) -> RequestMix {
        let text = format!(
            "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\nheaders = {{ \"x-relay-token\" = \"tok-123456789\", \"x-team\" = \"perf\" }}\n[workload]\nusers = 1\nrequests = 1\n{text}"
        );
        let s = crate::scenario::parse(std::path::Path::new("t.toml"), &text).unwrap();
        let options = MixOptions {
            api_key: Some("sk-test-123456789"),
            audit: false,
            ..MixOptions::default()
        };
        RequestMix::build(&s.targets[0], &s.workload.mix, options).unwrap()
    }

    #[test]
    fn record_headers_reach_every_spec_as_one_shared_list_and_nothing_without_them() {
        let m = mix("[[workload.mix]]\nkind = \"chat\"\n[[workload.mix]]\nkind = \"http\"");
        let specs: Vec<&RequestSpec> = m
            .choices
            .iter()
            .flat_map(|(_, p)| p.iter().map(|p| &p.spec))
            .collect();
        assert_eq!(specs.len(), 2);
        assert!(
            specs.iter().all(|s| s.record_headers.is_none()),
            "unset: no header is looked up"
        );
        assert!(m.record_headers.is_empty());
        let text = "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\n[[workload.mix]]\nkind = \"http\"\n[report]\nrecord_headers = [\"X-Request-Id\"]\n";
        let s = crate::scenario::parse(std::path::Path::new("t.toml"), text).unwrap();
        let names = s.report.record_header_names().unwrap();
        assert_eq!(
            names,
            vec![HeaderName::from_static("x-request-id")],
            "lower-cased once"
        );
        let options = MixOptions {
            record_headers: &names,
            ..MixOptions::default()
        };
        let m = RequestMix::build(&s.targets[0], &s.workload.mix, options).unwrap();
        let lists: Vec<_> = m
            .choices
            .iter()
            .flat_map(|(_, p)| p.iter().map(|p| p.spec.record_headers.clone().unwrap()))
            .collect();
        assert_eq!(lists.len(), 2);
        assert!(
            Arc::ptr_eq(&lists[0], &lists[1]),
            "one list shared by every spec"
        );
        assert_eq!(&lists[0][..], &names[..]);
    }

    fn only(mix: &RequestMix) -> &RequestSpec {
        &mix.pick(&mut rand::thread_rng()).spec
    }

    #[test]
    fn each_kind_says_what_its_answer_is() {
        let cases = [
            ("kind = \"chat\"", BodyKind::Json),
            ("kind = \"chat\"\nstream = true", BodyKind::Sse),
            ("kind = \"embeddings\"", BodyKind::Embeddings),
            ("kind = \"http\"", BodyKind::Opaque),
        ];
        for (entry, kind) in cases {
            let m = mix(&format!("[[workload.mix]]\n{entry}"));
            assert_eq!(only(&m).body_kind, kind, "{entry}");
            assert_eq!(only(&m).expect, None, "{entry}");
        }
    }

    #[test]
    fn http_checks_become_the_specs_expectation() {
        let m = mix("[[workload.mix]]\nkind = \"http\"\nexpect_status = 204");
        let expect = only(&m).expect.as_deref().unwrap();
        assert_eq!(expect.status, vec![204]);
        assert_eq!(expect.body_contains, None);
        let m = mix("[[workload.mix]]\nkind = \"http\"\nexpect_body_contains = \"ok\"");
        let expect = only(&m).expect.as_deref().unwrap();
        assert!(expect.status.is_empty());
        assert_eq!(expect.body_contains.as_deref(), Some("ok"));
    }

    fn target_mix(api: &str, extra: &str) -> RequestMix {
        let text = format!(
            "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\napi = \"{api}\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\nstream = true\n{extra}"
        );
        let s = crate::scenario::parse(std::path::Path::new("t.toml"), &text).unwrap();
        let options = MixOptions {
            api_key: Some("sk-ant-123456789"),
            audit: true,
            ..MixOptions::default()
        };
        RequestMix::build(&s.targets[0], &s.workload.mix, options).unwrap()
    }

    fn body(spec: &RequestSpec) -> serde_json::Value {
        serde_json::from_slice(&spec.body).unwrap()
    }

    #[test]
    fn each_api_gets_its_path_body_and_headers() {
        let chat = target_mix("openai-chat", "max_tokens = 64");
        let p = chat.pick(&mut rand::thread_rng());
        assert_eq!(p.spec.path, "/v1/chat/completions");
        assert_eq!(p.spec.body_kind, BodyKind::Sse);
        let b = body(&p.spec);
        assert_eq!(b["max_tokens"], 64);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["messages"][0]["role"], "user");
        assert!(p.spec.keep_text);

        let responses = target_mix("openai-responses", "max_tokens = 64");
        let p = responses.pick(&mut rand::thread_rng());
        assert_eq!(p.spec.path, "/v1/responses");
        assert_eq!(p.spec.body_kind, BodyKind::ResponsesSse);
        let b = body(&p.spec);
        assert_eq!(
            (b["max_output_tokens"].clone(), b["stream"].clone()),
            (64.into(), true.into())
        );
        assert!(b.get("messages").is_none() && b["input"][0]["content"].is_string());
        assert!(p.spec.headers.contains_key("authorization"));

        let anthropic = target_mix("anthropic-messages", "path = \"/relay/v1/messages\"");
        let p = anthropic.pick(&mut rand::thread_rng());
        assert_eq!(p.spec.path, "/relay/v1/messages", "a template's path wins");
        assert_eq!(p.spec.body_kind, BodyKind::MessagesSse);
        let b = body(&p.spec);
        assert_eq!(
            b["max_tokens"], ANTHROPIC_DEFAULT_MAX_TOKENS,
            "required by Anthropic"
        );
        let headers = &p.spec.headers;
        assert_eq!(headers["x-api-key"], "sk-ant-123456789");
        assert!(headers["x-api-key"].is_sensitive());
        assert_eq!(headers["anthropic-version"], "2023-06-01");
        assert!(
            !headers.contains_key("authorization"),
            "the key never travels as a bearer token to Anthropic"
        );
    }

    #[test]
    fn anthropic_system_messages_travel_as_system_and_count_as_one() {
        let messages = serde_json::json!([
            { "role": "system", "content": "Be brief." },
            { "role": "system", "content": [{ "type": "text", "text": "Be kind." }] },
            { "role": "user", "content": "Hi" }
        ]);
        let text = "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"";
        let s = crate::scenario::parse(std::path::Path::new("t.toml"), text).unwrap();
        let body = completion_body(
            Api::AnthropicMessages,
            &s.targets[0],
            &s.workload.mix[0],
            &messages,
            None,
        );
        let b: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(b["system"], "Be brief.\nBe kind.");
        assert_eq!(b["messages"].as_array().unwrap().len(), 1);
        let sent = sent_messages(Api::AnthropicMessages, &messages);
        assert_eq!(
            sent,
            [
                ("system".to_string(), "Be brief.\nBe kind.".to_string()),
                ("user".into(), "Hi".into())
            ]
        );
        // Prompt tokens are the chat framing over what was sent.
        let enc = Encoding::O200kBase;
        let m = target_mix("anthropic-messages", "prompts = [\"Hi\"]");
        let p = m.pick(&mut rand::thread_rng());
        assert_eq!(p.prompt_tokens, Some(enc.count_chat([("user", "Hi")])));
        // A templated prompt is not counted: its rendered text differs per request.
        let m = target_mix("openai-chat", "prompts = [\"Hi {{index}}\"]");
        assert_eq!(m.pick(&mut rand::thread_rng()).prompt_tokens, None);
    }

    #[test]
    fn credentials_are_marked_sensitive_and_other_headers_not() {
        let m = mix("[[workload.mix]]\nkind = \"chat\"");
        let headers = &only(&m).headers;
        assert!(headers["authorization"].is_sensitive());
        assert!(headers["x-relay-token"].is_sensitive());
        assert!(!headers["x-team"].is_sensitive());
        assert!(!headers["content-type"].is_sensitive());
    }

    /// Every distinct request of a mix (the pool), in order.
    fn all(m: &RequestMix) -> Vec<&Prepared> {
        m.choices.iter().flat_map(|(_, specs)| specs).collect()
    }

    #[test]
    fn generated_prompts_have_their_exact_token_counts_and_lengths() {
        let entry = "input_tokens = { dist = \"uniform\", min = 20, max = 300 }\noutput_tokens = { dist = \"empirical\", values = [7, 9] }\nprompt_pool = 40\nextra_body = { ignore_eos = true, min_tokens = 5, top_k = { a = [1] } }";
        for (tokenizer, encoding) in [
            ("o200k_base", Encoding::O200kBase),
            ("cl100k_base", Encoding::Cl100kBase),
        ] {
            let text = format!(
                "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\ntokenizer = \"{tokenizer}\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\n{entry}"
            );
            let s = crate::scenario::parse(std::path::Path::new("t.toml"), &text).unwrap();
            let m =
                RequestMix::build(&s.targets[0], &s.workload.mix, MixOptions::default()).unwrap();
            let pool = all(&m);
            assert_eq!(pool.len(), 40);
            for p in &pool {
                let b = body(&p.spec);
                let content = b["messages"][0]["content"].as_str().unwrap();
                let asked = p.requested.unwrap();
                assert_eq!(Some(encoding.count(content)), asked.input, "{tokenizer}");
                assert!((20..=300).contains(&asked.input.unwrap()));
                assert_eq!(b["max_tokens"], asked.output.unwrap());
                assert_eq!(p.max_tokens, asked.output, "the spend guard sees it too");
                assert_eq!(b["ignore_eos"], true);
                assert_eq!(b["min_tokens"], 5);
                assert_eq!(b["top_k"]["a"][0], 1, "nested tables become JSON objects");
            }
            let again =
                RequestMix::build(&s.targets[0], &s.workload.mix, MixOptions::default()).unwrap();
            let same = all(&again)
                .iter()
                .zip(&pool)
                .all(|(a, b)| a.spec.body == b.spec.body);
            assert!(same, "the same prompts on every build");
        }
    }

    #[test]
    fn output_tokens_use_each_apis_field() {
        let entry = "output_tokens = { dist = \"fixed\", value = 33 }\nprompt_pool = 3";
        let b = body(
            &target_mix("openai-responses", entry)
                .pick(&mut rand::thread_rng())
                .spec,
        );
        assert_eq!(b["max_output_tokens"], 33);
        let b = body(
            &target_mix("anthropic-messages", entry)
                .pick(&mut rand::thread_rng())
                .spec,
        );
        assert_eq!(b["max_tokens"], 33);
        assert!(
            b["messages"][0]["content"].is_string(),
            "the template's own prompt"
        );
    }

    #[test]
    fn shared_prefixes_start_each_prompt_and_spread_evenly() {
        let entry = "input_tokens = { dist = \"fixed\", value = 10 }\nshared_prefix_tokens = 64\nprefix_groups = 4\nprompt_pool = 20";
        let m = target_mix("openai-chat", entry);
        let enc = Encoding::O200kBase;
        let mut prefixes = std::collections::BTreeMap::new();
        for p in all(&m) {
            let b = body(&p.spec);
            let content = b["messages"][0]["content"].as_str().unwrap().to_string();
            assert_eq!(enc.count(&content), 74);
            let asked = p.requested.unwrap();
            assert_eq!(asked.input, Some(74));
            // The prefix is the first 64 words (each one token, with its leading space).
            let words: Vec<&str> = content.split(' ').skip(1).collect();
            let prefix = words[..64].join(" ");
            assert_eq!(enc.count(&format!(" {prefix}")), 64);
            prefixes
                .entry(asked.group.unwrap())
                .or_insert_with(Vec::new)
                .push(prefix);
        }
        assert_eq!(prefixes.len(), 4);
        let firsts: std::collections::BTreeSet<_> =
            prefixes.values().map(|v| v[0].clone()).collect();
        assert_eq!(firsts.len(), 4, "four distinct prefixes");
        for members in prefixes.values() {
            assert_eq!(members.len(), 5, "spread evenly");
            assert!(
                members.iter().all(|p| *p == members[0]),
                "one prefix per group"
            );
        }
    }

    #[test]
    fn a_sharegpt_answer_sets_max_tokens_and_sequential_datasets_go_in_order() {
        use crate::scenario::dataset::DatasetEntry;
        let text = "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\ndataset = { path = \"x\", format = \"sharegpt\", order = \"sequential\" }";
        let mut s = crate::scenario::parse(std::path::Path::new("t.toml"), text).unwrap();
        let answer = "The pool keeps connections open.";
        s.workload.mix[0].dataset_entries = (0..3)
            .map(|i| DatasetEntry {
                messages: user_message(&format!("question {i}")),
                output: Some(DatasetOutput::Text(answer.into())),
                later_turns: Vec::new(),
            })
            .collect();
        let m = RequestMix::build(&s.targets[0], &s.workload.mix, MixOptions::default()).unwrap();
        let tokens = Encoding::O200kBase.count(answer);
        let mut rng = rand::thread_rng();
        for i in 0..6 {
            let p = m.pick(&mut rng);
            let b = body(&p.spec);
            assert_eq!(b["messages"][0]["content"], format!("question {}", i % 3));
            assert_eq!(b["max_tokens"], tokens);
            assert_eq!(p.requested.unwrap().output, Some(tokens));
        }
    }

    #[test]
    fn dataset_text_is_sent_as_written_never_as_placeholders() {
        use crate::scenario::dataset::DatasetEntry;
        let text = "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\ndataset = { path = \"x\", format = \"jsonl\" }";
        let mut s = crate::scenario::parse(std::path::Path::new("t.toml"), text).unwrap();
        // Code from a conversation dataset: Vue, Jinja, Go templates.
        let prompts = [
            "Why is {{ message }} empty?",
            "Fix {{index}} and {{uuid}}",
            "{{ if .Ok }}",
        ];
        s.workload.mix[0].dataset_entries = prompts
            .iter()
            .map(|p| DatasetEntry {
                messages: user_message(p),
                output: None,
                later_turns: Vec::new(),
            })
            .collect();
        let options = MixOptions {
            audit: true,
            ..MixOptions::default()
        };
        let m = RequestMix::build(&s.targets[0], &s.workload.mix, options).unwrap();
        assert!(!m.is_templated());
        for (p, prompt) in all(&m).iter().zip(prompts) {
            assert!(p.template.is_none());
            assert_eq!(body(&p.spec)["messages"][0]["content"], prompt);
            let counted = Encoding::O200kBase.count_chat([("user", prompt)]);
            assert_eq!(p.prompt_tokens, Some(counted), "counted: sent as written");
        }
    }
}
