//! `/v1/chat/completions`: request parsing and validation, the `chat.completion` JSON, and the SSE stream of `chat.completion.chunk`s.

use super::errors::ApiError;
use super::text;
use crate::body::{BodyCut, MockBody, FLUSH_BEFORE_CUT};
use crate::config::{Latency, TokenCount};
use crate::connection::ConnState;
use crate::state::{fnv1a, FNV_OFFSET};
use bytes::Bytes;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Option<Vec<Message>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Message {
    role: Option<String>,
    #[serde(default)]
    content: Option<Value>,
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
        let req: ChatRequest = serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::invalid(format!("Invalid request body: {e}"))
            }
            _ => ApiError::bad_json(&e.to_string()),
        })?;
        let model = req
            .model
            .filter(|m| !m.is_empty())
            .ok_or_else(|| ApiError::missing("model"))?;
        let messages = req.messages.ok_or_else(|| ApiError::missing("messages"))?;
        if messages.is_empty() {
            return Err(ApiError::invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            )
            .param("messages"));
        }
        let mut hash = fnv1a(model.as_bytes(), FNV_OFFSET ^ seed);
        let mut prompt_tokens = 0;
        for m in &messages {
            let role = m.role.as_deref().unwrap_or("");
            hash = fnv1a(role.as_bytes(), hash);
            let mut chars = 0;
            for_each_text(m.content.as_ref(), |t| {
                chars += t.chars().count();
                hash = fnv1a(t.as_bytes(), hash);
            });
            prompt_tokens += text::estimate_tokens(chars) + 4; // +4: OpenAI's per-message overhead
        }
        let cap = req.max_completion_tokens.or(req.max_tokens);
        let mut rng = crate::state::rng_for(hash, 0, 0);
        let wanted = lengths.sample(&mut rng);
        let (completion_tokens, finish_reason) = match cap {
            Some(c) if (wanted as u64) > c => (c as u32, "length"),
            _ => (wanted, "stop"),
        };
        let stream = req.stream.unwrap_or(false);
        Ok(ChatPlan {
            model,
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

    /// The non-streamed `chat.completion` body.
    pub(crate) fn completion_body(&self, id: &str, created: u64) -> Bytes {
        let content: String = text::tokens(self.content_seed, self.completion_tokens).concat();
        let body = Completion {
            id,
            object: "chat.completion",
            created,
            model: &self.model,
            system_fingerprint: "fp_mock",
            choices: [CompletionChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: &content,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: self.finish_reason,
            }],
            usage: self.usage(),
        };
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .unwrap_or_default()
    }

    /// Starts the SSE stream: role chunk now, first token after `ttft`, then one per
    /// `inter_token`. With `cut`, it stops halfway (after the role chunk when empty) and ends the
    /// connection — with a TCP reset when `reset`.
    pub(crate) fn stream_body(
        self,
        id: String,
        created: u64,
        timing: StreamPacing,
        cut: Option<StreamCut>,
    ) -> MockBody {
        let (tx, body) = MockBody::channel();
        tokio::spawn(async move {
            let StreamPacing {
                ttft,
                inter_token,
                mut rng,
                permit,
            } = timing;
            let _slot = permit; // held until the stream ends: a stream occupies capacity while it runs
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
            if tx
                .send(Ok(chunk(
                    Delta {
                        role: Some("assistant"),
                        content: Some(""),
                    },
                    None,
                )))
                .await
                .is_err()
            {
                return;
            }
            crate::faults::pause(ttft.sample(&mut rng)).await;
            for (i, word) in words.iter().enumerate() {
                if cut_at == Some(i) {
                    break;
                }
                if i > 0 {
                    crate::faults::pause(inter_token.sample(&mut rng)).await;
                }
                let finish = (i + 1 == n).then_some(self.finish_reason);
                if tx
                    .send(Ok(chunk(
                        Delta {
                            role: None,
                            content: Some(word),
                        },
                        finish,
                    )))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if let Some(cut) = cut {
                tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                if cut.reset {
                    cut.conn.request_reset();
                }
                let _ = tx.send(Err(BodyCut)).await;
                return;
            }
            if n == 0
                && tx
                    .send(Ok(chunk(
                        Delta {
                            role: None,
                            content: None,
                        },
                        Some(self.finish_reason),
                    )))
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
                if tx.send(Ok(sse(&last))).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
        });
        body
    }
}

/// Timing and capacity slot a stream carries into its producer task.
pub(crate) struct StreamPacing {
    pub ttft: Latency,
    pub inter_token: Latency,
    pub rng: SmallRng,
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// How an injected fault ends a stream.
pub(crate) struct StreamCut {
    pub conn: Arc<ConnState>,
    pub reset: bool,
}

/// Calls `f` with each text of a message's content (a string, or the `text` of content parts).
fn for_each_text(content: Option<&Value>, mut f: impl FnMut(&str)) {
    match content {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .for_each(f),
        _ => {}
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
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [CompletionChoice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
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
        let a = p.completion_body("x", 0);
        let b = ChatPlan::parse(body, 1, &TokenCount::Fixed(10))
            .unwrap()
            .completion_body("x", 0);
        assert_eq!(a, b);
        let c = ChatPlan::parse(body, 2, &TokenCount::Fixed(10))
            .unwrap()
            .completion_body("x", 0);
        assert_ne!(a, c);
    }
}
