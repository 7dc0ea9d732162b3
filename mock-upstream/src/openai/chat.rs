//! `/v1/chat/completions`: request parsing and validation, the `chat.completion` JSON, and the SSE stream of `chat.completion.chunk`s.

use super::errors::ApiError;
use super::text;
use crate::body::{BodyCut, Chunk as BodyChunk, MockBody, PacedChunk, FLUSH_BEFORE_CUT};
use crate::config::{Latency, TokenCount};
use crate::connection::ConnState;
use crate::lateness::{Lateness, Timed};
use crate::state::{fnv1a, FNV_OFFSET};
use bytes::Bytes;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

mod scan;

// Requests borrow their strings from the body where they can: parsing is on the hot path.
#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow)]
    model: Option<Str<'a>>,
    messages: Option<Messages>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    role: Option<Str<'a>>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
}

/// What the reply needs from `messages`, folded while parsing: no list of them is built.
#[derive(Debug, PartialEq)]
struct Messages {
    count: usize,
    prompt_tokens: u64,
    /// FNV-1a over every role and text, in order.
    hash: u64,
}

impl Messages {
    fn new() -> Messages {
        Messages {
            count: 0,
            prompt_tokens: 0,
            hash: FNV_OFFSET,
        }
    }

    /// Folds in one message.
    fn add(&mut self, role: Option<&str>, content: &Option<Content<'_>>) {
        self.count += 1;
        self.hash = fnv1a(role.unwrap_or("").as_bytes(), self.hash);
        let mut chars = 0;
        for_each_text(content, |t| {
            // Counting an ASCII text's characters is reading its length.
            chars += if t.is_ascii() {
                t.len()
            } else {
                t.chars().count()
            };
            self.hash = fnv1a(t.as_bytes(), self.hash);
        });
        self.prompt_tokens += text::estimate_tokens(chars) + 4; // +4: OpenAI's per-message overhead
    }
}

impl<'de> Deserialize<'de> for Messages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Messages;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of messages")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Messages, A::Error> {
                let mut out = Messages::new();
                while let Some(m) = seq.next_element::<Message<'de>>()? {
                    out.add(m.role.as_deref(), &m.content);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// A message's content: a string, or parts whose `text` counts (images and others are ignored).
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
    Other,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
}

/// A string borrowed from the body unless it has escapes. (serde borrows a bare `Cow<str>`
/// field, but not one inside an `Option`: that would allocate every model and role.)
struct Str<'a>(Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Content<'a>, E> {
                Ok(Content::Other)
            }
            fn visit_none<E>(self) -> Result<Content<'a>, E> {
                Ok(Content::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Content<'a>, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element::<Part<'a>>()? {
                    parts.push(p);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// A validated chat request, reduced to what the mock needs.
pub(crate) struct ChatPlan {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub prompt_tokens: u64,
    /// Tokens the reply will have.
    pub completion_tokens: u32,
    /// "length" when `max_tokens` cut the reply short, else "stop".
    pub finish_reason: &'static str,
    /// What the rate limiter charges: prompt plus the requested (or actual) output.
    pub token_cost: u64,
    /// Seeds the generated words.
    content_seed: u64,
}

impl ChatPlan {
    /// Parses and validates the body. `seed` and `lengths` fix the reply's length and words.
    pub(crate) fn parse(
        body: &[u8],
        seed: u64,
        lengths: &TokenCount,
    ) -> Result<ChatPlan, ApiError> {
        // One UTF-8 check of the whole body; parsing from a `str` then skips it per string.
        let body = std::str::from_utf8(body)
            .map_err(|e| ApiError::bad_json(&format!("the body is not UTF-8: {e}")))?;
        let req = match scan::scan(body) {
            Some(req) => req,
            None => serde_json::from_str(body).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => {
                    ApiError::invalid(format!("Invalid request body: {e}"))
                }
                _ => ApiError::bad_json(&e.to_string()),
            })?,
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
        let hash = fnv1a(model.as_bytes(), messages.hash ^ seed);
        let prompt_tokens = messages.prompt_tokens;
        let cap = req.max_completion_tokens.or(req.max_tokens);
        // A fixed length needs no generator, and seeding one costs more than the rest of the choice.
        let wanted = lengths
            .fixed()
            .unwrap_or_else(|| lengths.sample(&mut crate::state::rng_for(hash, 0, 0)));
        let (completion_tokens, finish_reason) = match cap {
            Some(c) if (wanted as u64) > c => (c as u32, "length"),
            _ => (wanted, "stop"),
        };
        let stream = req.stream.unwrap_or(false);
        Ok(ChatPlan {
            model: model.0.into_owned(),
            stream,
            include_usage: stream
                && req
                    .stream_options
                    .and_then(|o| o.include_usage)
                    .unwrap_or(false),
            prompt_tokens,
            completion_tokens,
            finish_reason,
            token_cost: prompt_tokens + cap.unwrap_or(completion_tokens as u64),
            content_seed: hash,
        })
    }

    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens as u64,
            total_tokens: self.prompt_tokens + self.completion_tokens as u64,
        }
    }

    /// The non-streamed `chat.completion` body. Written by hand rather than through a
    /// `Serialize` struct: this is the hot path of every load test, and only `model` can need
    /// escaping (the id is hex, the generated words are plain ASCII, numbers go through itoa).
    pub(crate) fn completion_body(&self, id: &[u8; 16], created: u64) -> Bytes {
        let most = self.completion_tokens as usize * text::LONGEST_TOKEN;
        let mut out = Vec::with_capacity(420 + self.model.len() + most);
        let mut num = itoa::Buffer::new();
        let usage = self.usage();
        out.extend_from_slice(b"{\"id\":\"chatcmpl-");
        out.extend_from_slice(id);
        out.extend_from_slice(b"\",\"object\":\"chat.completion\",\"created\":");
        out.extend_from_slice(num.format(created).as_bytes());
        out.extend_from_slice(b",\"model\":");
        json_string(&mut out, &self.model);
        out.extend_from_slice(b",\"system_fingerprint\":\"fp_mock\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
        text::append_tokens(self.content_seed, self.completion_tokens, &mut out);
        out.extend_from_slice(b"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");
        out.extend_from_slice(self.finish_reason.as_bytes());
        out.extend_from_slice(b"\"}],\"usage\":{\"prompt_tokens\":");
        out.extend_from_slice(num.format(usage.prompt_tokens).as_bytes());
        out.extend_from_slice(b",\"completion_tokens\":");
        out.extend_from_slice(num.format(usage.completion_tokens).as_bytes());
        out.extend_from_slice(b",\"total_tokens\":");
        out.extend_from_slice(num.format(usage.total_tokens).as_bytes());
        out.extend_from_slice(b"}}");
        Bytes::from(out)
    }

    /// Starts the SSE stream: role chunk now, first token `ttft` after the reply was due, then
    /// one per `inter_token` after the previous one. With `cut`, it stops halfway (after the
    /// role chunk when empty) and ends the connection — with a TCP reset when `reset`. Every
    /// token is a timed send: its lateness is recorded when hyper takes it (see `lateness`).
    pub(crate) fn stream_body(
        self,
        id: String,
        created: u64,
        timing: StreamPacing,
        cut: Option<StreamCut>,
    ) -> MockBody {
        let StreamPacing {
            due,
            ttft,
            inter_token,
            mut rng,
            permit,
            lateness,
            tokens,
        } = timing;
        let (tx, body) = MockBody::paced(lateness, tokens);
        tokio::spawn(async move {
            let _slot = permit; // held until the stream ends: a stream occupies capacity while it runs
            let tx = &tx;
            let send = move |chunk: BodyChunk, due: Option<(Timed, Instant)>| {
                tx.send(PacedChunk { chunk, due })
            };
            let words = text::tokens(self.content_seed, self.completion_tokens);
            let n = words.len();
            let cut_at = cut.as_ref().map(|_| n / 2);
            let chunk = |delta: Delta, finish: Option<&'static str>| {
                sse(&Chunk {
                    id: &id,
                    object: "chat.completion.chunk",
                    created,
                    model: &self.model,
                    system_fingerprint: "fp_mock",
                    choices: vec![ChunkChoice {
                        index: 0,
                        delta,
                        logprobs: None,
                        finish_reason: finish,
                    }],
                    usage: self.include_usage.then_some(None),
                })
            };
            let role = Delta {
                role: Some("assistant"),
                content: Some(""),
            };
            if send(Ok(chunk(role, None)), None).await.is_err() {
                return;
            }
            // The first token is due `ttft` after the reply was due (not after this task got to
            // run), each later one a gap after the previous send: what the client should see.
            let mut next = (Timed::First, due + ttft.sample(&mut rng));
            for (i, word) in words.iter().enumerate() {
                if cut_at == Some(i) {
                    break;
                }
                if i > 0 {
                    next = (Timed::Later, Instant::now() + inter_token.sample(&mut rng));
                }
                crate::faults::pause(next.1.saturating_duration_since(Instant::now())).await;
                let finish = (i + 1 == n).then_some(self.finish_reason);
                let delta = Delta {
                    role: None,
                    content: Some(word),
                };
                if send(Ok(chunk(delta, finish)), Some(next)).await.is_err() {
                    return;
                }
            }
            if let Some(cut) = cut {
                tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                if cut.reset {
                    cut.conn.request_reset();
                }
                let _ = send(Err(BodyCut), None).await;
                return;
            }
            let empty = Delta {
                role: None,
                content: None,
            };
            if n == 0
                && send(Ok(chunk(empty, Some(self.finish_reason))), None)
                    .await
                    .is_err()
            {
                return;
            }
            if self.include_usage {
                let last = Chunk {
                    id: &id,
                    object: "chat.completion.chunk",
                    created,
                    model: &self.model,
                    system_fingerprint: "fp_mock",
                    choices: vec![],
                    usage: Some(Some(self.usage())),
                };
                if send(Ok(sse(&last)), None).await.is_err() {
                    return;
                }
            }
            let _ = send(Ok(Bytes::from_static(b"data: [DONE]\n\n")), None).await;
        });
        body
    }
}

/// Timing and capacity slot a stream carries into its producer task.
pub(crate) struct StreamPacing {
    /// When the reply was due (request accepted + injected latency): the first token's TTFT counts from here.
    pub due: Instant,
    pub ttft: Latency,
    pub inter_token: Latency,
    pub rng: SmallRng,
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Where the stream's timed sends are recorded.
    pub lateness: Arc<Lateness>,
    /// The server's count of tokens streamed.
    pub tokens: Arc<std::sync::atomic::AtomicU64>,
}

/// How an injected fault ends a stream.
pub(crate) struct StreamCut {
    pub conn: Arc<ConnState>,
    pub reset: bool,
}

/// Calls `f` with each text of a message's content.
fn for_each_text(content: &Option<Content<'_>>, mut f: impl FnMut(&str)) {
    match content {
        Some(Content::Text(s)) => f(s),
        Some(Content::Parts(parts)) => parts.iter().filter_map(|p| p.text.as_deref()).for_each(f),
        _ => {}
    }
}

/// `text` as a JSON string: copied as is when nothing needs escaping (the usual model name).
fn json_string(out: &mut Vec<u8>, text: &str) {
    if text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

fn sse<T: Serialize>(value: &T) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut out, value).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    /// Absent without include_usage; null on content chunks and set on the last chunk with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_required_fields() {
        let l = TokenCount::default();
        let e = ChatPlan::parse(b"{\"messages\":[]}", 0, &l).err().unwrap();
        assert_eq!(e.param, Some("model"));
        let e = ChatPlan::parse(b"{\"model\":\"m\"}", 0, &l).err().unwrap();
        assert_eq!(e.param, Some("messages"));
        let e = ChatPlan::parse(b"{not json", 0, &l).err().unwrap();
        assert!(e.message.contains("parse the JSON"));
    }

    #[test]
    fn honours_max_tokens_and_is_deterministic() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3}"#;
        let p = ChatPlan::parse(body, 1, &TokenCount::Fixed(10)).unwrap();
        assert_eq!((p.completion_tokens, p.finish_reason), (3, "length"));
        let a = p.completion_body(b"00000000000000ab", 0);
        let b = ChatPlan::parse(body, 1, &TokenCount::Fixed(10))
            .unwrap()
            .completion_body(b"00000000000000ab", 0);
        assert_eq!(a, b);
        let c = ChatPlan::parse(body, 2, &TokenCount::Fixed(10))
            .unwrap()
            .completion_body(b"00000000000000ab", 0);
        assert_ne!(a, c);
    }

    #[test]
    fn completion_body_is_json_with_escaped_model_and_exact_usage() {
        // The model has an escape in the request (so it cannot be borrowed) and a quote to escape in the reply.
        let body = br#"{"model":"m\"x\u00e9","messages":[{"role":"user","content":[{"type":"text","text":"abcdefgh"}]}]}"#;
        let p = ChatPlan::parse(body, 1, &TokenCount::Fixed(5)).unwrap();
        assert_eq!(p.model, "m\"x\u{e9}");
        let v: serde_json::Value =
            serde_json::from_slice(&p.completion_body(b"0123456789abcdef", 42)).unwrap();
        assert_eq!(v["id"], "chatcmpl-0123456789abcdef");
        assert_eq!(v["model"], "m\"x\u{e9}");
        assert_eq!(v["created"], 42);
        assert_eq!(v["usage"]["prompt_tokens"], 2 + 4);
        assert_eq!(v["usage"]["completion_tokens"], 5);
        assert_eq!(v["usage"]["total_tokens"], 11);
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content, text::tokens(p.content_seed, 5).concat());
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }
}
