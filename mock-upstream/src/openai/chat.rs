//! `/v1/chat/completions`: request parsing and validation, the `chat.completion` JSON, and the framing of the `chat.completion.chunk` stream.

use super::errors::ApiError;
use crate::config::ReasoningField;
use crate::prompt::{Messages, Str};
use crate::reply::stream::{data_event, Framing, TokenEvent, WORD_MARK};
use crate::reply::{json_string, Protocol, Reply, ReplySettings, TokenKind, Usage};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod scan;

// Requests borrow their strings from the body where they can: parsing is on the hot path.
#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow)]
    model: Option<Str<'a>>,
    #[serde(borrow)]
    messages: Option<Messages<'a>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Parses and validates a chat body into its reply. `seed` and the config fix the reply's
/// length and words.
pub(crate) fn parse(body: &[u8], seed: u64, settings: &ReplySettings) -> Result<Reply, ApiError> {
    let body = super::utf8(body)?;
    let req = match scan::scan(body) {
        Some(req) => req,
        None => super::from_json(body)?,
    };
    let model = req
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::missing("model"))?;
    let messages = req.messages.ok_or_else(|| ApiError::missing("messages"))?;
    if messages.count == 0 {
        return Err(ApiError::invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
        )
        .param("messages"));
    }
    let prompt = messages.prompt(&model, None, seed);
    let stream = req.stream.unwrap_or(false);
    let include_usage = stream
        && req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
    let protocol = Protocol::Chat {
        include_usage,
        reasoning_field: settings.reasoning.field,
    };
    let cap = req.max_completion_tokens.or(req.max_tokens);
    Ok(Reply::new(
        model.0.into_owned(),
        prompt,
        cap,
        stream,
        protocol,
        settings,
    ))
}

fn finish_reason(reply: &Reply) -> &'static str {
    if reply.truncated {
        "length"
    } else {
        "stop"
    }
}

/// The non-streamed `chat.completion` body. Written by hand rather than through a
/// `Serialize` struct: this is the hot path of every load test, and only `model` can need
/// escaping (the id is hex, the generated words are plain ASCII, numbers go through itoa).
pub(crate) fn completion_body(
    reply: &Reply,
    field: ReasoningField,
    id: &[u8; 16],
    created: u64,
) -> Bytes {
    let words = (reply.answer_tokens + reply.reasoning_tokens) as usize;
    let most = words * super::text::LONGEST_TOKEN;
    let mut out = Vec::with_capacity(420 + reply.model.len() + most);
    let mut num = itoa::Buffer::new();
    let usage = reply.usage();
    out.extend_from_slice(b"{\"id\":\"chatcmpl-");
    out.extend_from_slice(id);
    out.extend_from_slice(b"\",\"object\":\"chat.completion\",\"created\":");
    out.extend_from_slice(num.format(created).as_bytes());
    out.extend_from_slice(b",\"model\":");
    json_string(&mut out, &reply.model);
    out.extend_from_slice(b",\"system_fingerprint\":\"fp_mock\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
    reply.append_answer(&mut out);
    out.extend_from_slice(b"\",\"refusal\":null");
    if reply.reasoning_tokens > 0 {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(field.key().as_bytes());
        out.extend_from_slice(b"\":\"");
        reply.append_reasoning(&mut out);
        out.push(b'"');
    }
    out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(finish_reason(reply).as_bytes());
    out.extend_from_slice(b"\"}],\"usage\":{\"prompt_tokens\":");
    out.extend_from_slice(num.format(usage.prompt).as_bytes());
    out.extend_from_slice(b",\"completion_tokens\":");
    out.extend_from_slice(num.format(usage.completion).as_bytes());
    out.extend_from_slice(b",\"total_tokens\":");
    out.extend_from_slice(num.format(usage.total()).as_bytes());
    if reply.reasoning_tokens > 0 {
        out.extend_from_slice(b",\"completion_tokens_details\":{\"reasoning_tokens\":");
        out.extend_from_slice(num.format(usage.reasoning).as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// The `chat.completion.chunk` stream: a role chunk, one chunk per token (reasoning in
/// `reasoning_content` or `reasoning`, the answer in `content`, `finish_reason` on the last),
/// the usage-only chunk when asked for, `data: [DONE]`.
pub(crate) struct ChatFraming {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    field: ReasoningField,
    finish_reason: &'static str,
    usage: Usage,
    reasoning_tokens: u32,
    /// Tokens in the reply.
    total: u32,
    /// Tokens still to come; the chunk that brings it to zero carries `finish_reason`.
    left: u32,
    /// The token chunks, encoded once: [not last, last] for answer and reasoning tokens.
    events: [[TokenEvent; 2]; 2],
}

impl ChatFraming {
    pub(crate) fn new(
        reply: &Reply,
        id: &[u8; 16],
        created: u64,
        include_usage: bool,
        field: ReasoningField,
    ) -> ChatFraming {
        let mut f = ChatFraming {
            id: format!("chatcmpl-{}", String::from_utf8_lossy(id)),
            created,
            model: reply.model.clone(),
            include_usage,
            field,
            finish_reason: finish_reason(reply),
            usage: reply.usage(),
            reasoning_tokens: reply.reasoning_tokens,
            total: reply.reasoning_tokens + reply.answer_tokens,
            left: reply.reasoning_tokens + reply.answer_tokens,
            events: Default::default(),
        };
        let mut kinds = vec![TokenKind::Answer];
        if f.reasoning_tokens > 0 {
            kinds.push(TokenKind::Reasoning);
        }
        for kind in kinds {
            for last in [false, true] {
                let mut out = Vec::new();
                f.token_chunk(kind, WORD_MARK, last, &mut out);
                f.events[kind as usize][usize::from(last)] = TokenEvent::new(&out, false);
            }
        }
        f
    }

    /// A token's chunk through serde: what [`TokenEvent`] copies.
    fn token_chunk(&self, kind: TokenKind, word: &str, last: bool, out: &mut Vec<u8>) {
        let finish = last.then_some(self.finish_reason);
        let delta = match (kind, self.field) {
            (TokenKind::Answer, _) => Delta {
                content: Some(word),
                ..Delta::default()
            },
            (TokenKind::Reasoning, ReasoningField::ReasoningContent) => Delta {
                reasoning_content: Some(word),
                ..Delta::default()
            },
            (TokenKind::Reasoning, ReasoningField::Reasoning) => Delta {
                reasoning: Some(word),
                ..Delta::default()
            },
        };
        self.chunk(out, delta, finish);
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Delta, finish: Option<&'static str>) {
        data_event(
            out,
            &Chunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                system_fingerprint: "fp_mock",
                choices: &[ChunkChoice {
                    index: 0,
                    delta,
                    logprobs: None,
                    finish_reason: finish,
                }],
                usage: self.include_usage.then_some(None),
            },
        );
    }
}

impl Framing for ChatFraming {
    fn open(&mut self, out: &mut Vec<u8>) {
        let role = Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        };
        self.chunk(out, role, None);
    }

    fn token(&mut self, kind: TokenKind, word: &str, out: &mut Vec<u8>) {
        self.left = self.left.saturating_sub(1);
        self.events[kind as usize][usize::from(self.left == 0)].write(word, 0, out);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.total == 0 {
            // No token carried the finish reason: an empty delta does.
            self.chunk(out, Delta::default(), Some(self.finish_reason));
        }
        if self.include_usage {
            let details = (self.reasoning_tokens > 0).then_some(Details {
                reasoning_tokens: self.usage.reasoning,
            });
            let last = Chunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                system_fingerprint: "fp_mock",
                choices: &[],
                usage: Some(Some(ChunkUsage {
                    prompt_tokens: self.usage.prompt,
                    completion_tokens: self.usage.completion,
                    total_tokens: self.usage.total(),
                    completion_tokens_details: details,
                })),
            };
            data_event(out, &last);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        let e = ApiError::injected(500);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&e.body());
        out.extend_from_slice(b"\n\n");
    }
}

#[derive(Serialize)]
struct ChunkUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<Details>,
}

#[derive(Serialize)]
struct Details {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    /// One choice, or none on the usage-only chunk (a slice: no allocation per token).
    choices: &'a [ChunkChoice<'a>],
    /// Absent without include_usage; null on content chunks and set on the last chunk with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<ChunkUsage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MockConfig, TokenCount};

    /// `parse` under the config's own reasoning.
    fn parse(body: &[u8], seed: u64, c: &MockConfig) -> Result<Reply, ApiError> {
        let settings = ReplySettings {
            config: c,
            reasoning: &c.reasoning,
        };
        super::parse(body, seed, &settings)
    }
    use relaybench_tokens::Encoding;

    fn config(tokens: u32) -> MockConfig {
        MockConfig {
            output_tokens: TokenCount::Fixed(tokens),
            ..MockConfig::default()
        }
    }

    fn body(reply: &Reply) -> Bytes {
        completion_body(
            reply,
            ReasoningField::ReasoningContent,
            b"00000000000000ab",
            0,
        )
    }

    #[test]
    fn validates_required_fields() {
        let c = MockConfig::default();
        let e = parse(b"{\"messages\":[]}", 0, &c).err().unwrap();
        assert_eq!(e.param, Some("model"));
        let e = parse(b"{\"model\":\"m\"}", 0, &c).err().unwrap();
        assert_eq!(e.param, Some("messages"));
        let e = parse(b"{not json", 0, &c).err().unwrap();
        assert!(e.message.contains("parse the JSON"));
    }

    #[test]
    fn honours_max_tokens_and_is_deterministic() {
        let req = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3}"#;
        let p = parse(req, 1, &config(10)).unwrap();
        assert_eq!((p.answer_tokens, finish_reason(&p)), (3, "length"));
        let a = body(&p);
        let b = body(&parse(req, 1, &config(10)).unwrap());
        assert_eq!(a, b);
        let c = body(&parse(req, 2, &config(10)).unwrap());
        assert_ne!(a, c);
    }

    #[test]
    fn completion_body_is_json_with_escaped_model_and_exact_usage() {
        // The model has an escape in the request (so it cannot be borrowed) and a quote to escape in the reply.
        let req = br#"{"model":"m\"x\u00e9","messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"text","text":"efgh"}]}]}"#;
        let p = parse(req, 1, &config(5)).unwrap();
        assert_eq!(p.model, "m\"x\u{e9}");
        let v: serde_json::Value = serde_json::from_slice(&completion_body(
            &p,
            ReasoningField::ReasoningContent,
            b"0123456789abcdef",
            42,
        ))
        .unwrap();
        assert_eq!(v["id"], "chatcmpl-0123456789abcdef");
        assert_eq!(v["model"], "m\"x\u{e9}");
        assert_eq!(v["created"], 42);
        // The parts' texts count as one content, with the cookbook's framing.
        let prompt = Encoding::O200kBase.count_chat([("user", "abcdefgh")]);
        assert_eq!(v["usage"]["prompt_tokens"], prompt);
        assert_eq!(v["usage"]["completion_tokens"], 5);
        assert_eq!(v["usage"]["total_tokens"], prompt + 5);
        assert!(v["usage"].get("completion_tokens_details").is_none());
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content, p.answer_words().concat());
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn reasoning_is_a_message_field_and_counts_in_completion_tokens() {
        let mut c = config(4);
        c.reasoning.tokens = TokenCount::Fixed(6);
        c.reasoning.field = ReasoningField::Reasoning;
        let req = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
        let p = parse(req, 1, &c).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&completion_body(
            &p,
            ReasoningField::Reasoning,
            b"0123456789abcdef",
            0,
        ))
        .unwrap();
        let reasoning = v["choices"][0]["message"]["reasoning"].as_str().unwrap();
        assert_eq!(Encoding::O200kBase.count(reasoning), 6);
        assert_eq!(v["usage"]["completion_tokens"], 10);
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"],
            6
        );
        // max_tokens caps reasoning and answer together.
        let capped =
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#;
        let p = parse(capped, 1, &c).unwrap();
        assert_eq!(
            (p.reasoning_tokens, p.answer_tokens, p.truncated),
            (6, 2, true)
        );
    }

    #[test]
    fn token_chunks_are_the_serde_form_byte_for_byte() {
        let mut c = config(3);
        c.reasoning.tokens = TokenCount::Fixed(2);
        // A model with characters to escape and one that needs none.
        for (model, field, usage) in [
            ("m\\\"x\u{e9}\u{1}", ReasoningField::ReasoningContent, true),
            ("gpt-4o", ReasoningField::Reasoning, false),
        ] {
            c.reasoning.field = field;
            let req = serde_json::json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
            let reply = parse(req.to_string().as_bytes(), 1, &c).unwrap();
            let mut f = ChatFraming::new(&reply, b"0123456789abcdef", 7, usage, field);
            let reference = ChatFraming::new(&reply, b"0123456789abcdef", 7, usage, field);
            let tokens = [
                (TokenKind::Reasoning, "think"),
                (TokenKind::Reasoning, " \"\u{e9}\\\n"),
                (TokenKind::Answer, " the"),
                (TokenKind::Answer, " pool"),
                (TokenKind::Answer, " done"),
            ];
            for (i, (kind, word)) in tokens.into_iter().enumerate() {
                let mut out = Vec::new();
                f.token(kind, word, &mut out);
                let mut want = Vec::new();
                reference.token_chunk(kind, word, i == tokens.len() - 1, &mut want);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(want).unwrap()
                );
            }
        }
    }
}
