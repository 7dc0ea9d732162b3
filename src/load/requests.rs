//! Turning the scenario's request mix into ready-to-send `RequestSpec`s, built once and picked by weight per request.
//!
//! A body with placeholders (`{{index}}`, ...) keeps its spec for everything but the body,
//! plus the parsed template; the worker renders the body per request.

use super::template::Template;
use crate::{
    client::{Api, BodyKind, Expect, RequestSpec},
    scenario::{RequestKind, RequestTemplate, Target},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rand::Rng;
use relaybench_tokens::{Encoding, ModelEncoding};
use std::sync::Arc;

/// Prompt used when a template lists none.
const DEFAULT_PROMPT: &str = "Say hello in one short sentence.";

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
}

/// Every request the mix can produce, pre-built, with cumulative weights for picking.
#[derive(Clone)]
pub struct RequestMix {
    choices: Vec<(u32, Vec<Prepared>)>,
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
        let mut cumulative = 0;
        for template in mix.iter().filter(|t| t.weight > 0) {
            cumulative += template.weight;
            choices.push((cumulative, build.variants(template, &headers)?));
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

    /// Picks one request by weight, then one of its prompt variants uniformly.
    pub fn pick<R: Rng>(&self, rng: &mut R) -> &Prepared {
        let roll = rng.gen_range(0..self.total_weight.max(1));
        let (_, specs) = self
            .choices
            .iter()
            .find(|(upto, _)| roll < *upto)
            .unwrap_or(&self.choices[self.choices.len() - 1]);
        &specs[rng.gen_range(0..specs.len())]
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
    fn variants(&self, t: &RequestTemplate, base: &HeaderMap) -> Result<Vec<Prepared>, String> {
        self.specs(t, base)?
            .into_iter()
            .map(|(spec, prompt_tokens)| {
                // Prompts sit inside JSON strings, so their placeholders are parsed from the
                // serialized body: `pick` options come out already JSON-escaped.
                let text = std::str::from_utf8(&spec.body).unwrap_or_default();
                let template = if Template::is_templated(text) {
                    Some(Template::parse(text).map_err(|e| format!("mix entry body: {e}"))?)
                } else {
                    None
                };
                Ok(Prepared {
                    spec,
                    max_tokens: t.max_tokens,
                    // A rendered prompt is not the one counted: not audited.
                    prompt_tokens: prompt_tokens.filter(|_| template.is_none()),
                    template,
                })
            })
            .collect()
    }

    fn specs(
        &self,
        t: &RequestTemplate,
        base: &HeaderMap,
    ) -> Result<Vec<(RequestSpec, Option<u32>)>, String> {
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
                Ok(prompts
                    .iter()
                    .map(|p| {
                        let body = completion_body(self.api, target, t, p);
                        let mut spec = spec(Method::POST, path, &headers, body, kind);
                        spec.keep_text = self.audit;
                        // Counted only for the audit: the encoding's tables are large.
                        let counted = self.audit.then(|| {
                            let sent = sent_messages(self.api, p);
                            self.encoding
                                .count_chat(sent.iter().map(|(r, c)| (r.as_str(), c.as_str())))
                        });
                        (spec, counted)
                    })
                    .collect())
            }
            RequestKind::Embeddings => {
                headers.insert(http::header::CONTENT_TYPE, json);
                Ok(prompts
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
                        (spec, None)
                    })
                    .collect())
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
                Ok(vec![(spec, None)])
            }
        }
    }
}

/// A prompt as the chat `messages` array of one user message.
fn user_message(prompt: &str) -> serde_json::Value {
    serde_json::json!([{ "role": "user", "content": prompt }])
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

/// Each message of a messages array as (role, text), as the prompt-token count sees it.
fn message_texts(messages: &serde_json::Value) -> Vec<(String, String)> {
    messages
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let role = m["role"].as_str().unwrap_or("user").to_string();
            (role, content_text(&m["content"]))
        })
        .collect()
}

/// The messages a completion request sends, as (role, text): Anthropic's system messages
/// travel joined as one `system` text, which counts as one leading system message.
fn sent_messages(api: Api, messages: &serde_json::Value) -> Vec<(String, String)> {
    let all = message_texts(messages);
    if api != Api::AnthropicMessages || !all.iter().any(|(role, _)| role == "system") {
        return all;
    }
    let (system, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|(role, _)| role == "system");
    let joined: Vec<String> = system.into_iter().map(|(_, text)| text).collect();
    std::iter::once(("system".to_string(), joined.join("\n")))
        .chain(rest)
        .collect()
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
/// messages' text) + `messages` (the others) + `max_tokens` (required there).
fn completion_body(
    api: Api,
    target: &Target,
    t: &RequestTemplate,
    messages: &serde_json::Value,
) -> String {
    let mut body = serde_json::json!({ "model": target.model });
    match api {
        Api::OpenaiChat => {
            body["messages"] = messages.clone();
            if let Some(max) = t.max_tokens {
                body["max_tokens"] = max.into();
            }
            if t.stream {
                body["stream_options"] = serde_json::json!({ "include_usage": true });
            }
        }
        Api::OpenaiResponses => {
            body["input"] = messages.clone();
            if let Some(max) = t.max_tokens {
                body["max_output_tokens"] = max.into();
            }
        }
        Api::AnthropicMessages => {
            let all = messages.as_array().cloned().unwrap_or_default();
            let (system, rest): (Vec<_>, Vec<_>) =
                all.into_iter().partition(|m| m["role"] == "system");
            if !system.is_empty() {
                let text: Vec<String> =
                    system.iter().map(|m| content_text(&m["content"])).collect();
                body["system"] = text.join("\n").into();
            }
            body["messages"] = rest.into();
            body["max_tokens"] = t.max_tokens.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS).into();
        }
    }
    if t.stream {
        body["stream"] = true.into();
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
}
