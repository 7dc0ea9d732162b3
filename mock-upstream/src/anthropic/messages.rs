//! `/v1/messages`: request parsing (`system`, `messages`, `max_tokens`), the `message` object,
//! and the framing of its event stream (`message_start`, `thinking` and `text` content blocks,
//! `message_delta` with the output usage, `message_stop`).

use crate::openai::errors::ApiError;
use crate::prompt::{Content, Messages, Str};
use crate::reply::stream::{named_event, Framing, TokenEvent, WORD_MARK};
use crate::reply::{Protocol, Reply, ReplySettings, TokenKind, Usage};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
struct MessagesRequest<'a> {
    #[serde(borrow)]
    model: Option<Str<'a>>,
    #[serde(borrow)]
    messages: Option<Messages<'a>>,
    #[serde(borrow, default)]
    system: Option<Content<'a>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u64>,
}

/// Stands in for the signature Anthropic puts on a thinking block (clients pass it back opaque).
const SIGNATURE: &str = "bW9jay11cHN0cmVhbSB0aGlua2luZyBzaWduYXR1cmU=";

/// Parses and validates a Messages body into its reply.
pub(crate) fn parse(body: &[u8], seed: u64, settings: &ReplySettings) -> Result<Reply, ApiError> {
    let req: MessagesRequest = crate::openai::from_json(crate::openai::utf8(body)?)?;
    let model = req
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid("model: Field required").param("model"))?;
    let messages = req
        .messages
        .ok_or_else(|| ApiError::invalid("messages: Field required").param("messages"))?;
    if messages.count == 0 {
        return Err(
            ApiError::invalid("messages: at least one message is required").param("messages"),
        );
    }
    let system = req.system.map(Content::into_text);
    let system = system.as_deref();
    let prompt = messages.prompt(&model, system, seed);
    Ok(Reply::new(
        model.0.into_owned(),
        prompt,
        req.max_tokens,
        req.stream.unwrap_or(false),
        Protocol::Messages,
        settings,
    ))
}

fn stop_reason(truncated: bool) -> &'static str {
    if truncated {
        "max_tokens"
    } else {
        "end_turn"
    }
}

fn message_id(hex: &[u8; 16]) -> String {
    format!("msg_{}", String::from_utf8_lossy(hex))
}

/// The non-streamed `message`: content is the thinking block (when there is reasoning) and the text block.
pub(crate) fn message_body(reply: &Reply, hex: &[u8; 16]) -> Bytes {
    let mut content = Vec::with_capacity(2);
    if reply.reasoning_tokens > 0 {
        content.push(json!({
            "type": "thinking", "thinking": reply.reasoning_text(), "signature": SIGNATURE,
        }));
    }
    content.push(json!({ "type": "text", "text": reply.answer_text() }));
    let usage = reply.usage();
    let v = json!({
        "id": message_id(hex),
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": content,
        "stop_reason": stop_reason(reply.truncated),
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage.prompt,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": usage.completion,
        },
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// Which content block is open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Thinking,
    Text,
}

/// A token's `content_block_delta` event, written from borrowed fields: it is the one event
/// per token. Fields in alphabetical order, as the `json!` form of the other events writes them.
#[derive(Serialize)]
struct BlockDelta<'a> {
    delta: TextDelta<'a>,
    index: u32,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A `text_delta` or a `thinking_delta`.
#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The Messages event stream.
pub(crate) struct MessagesFraming {
    id: String,
    model: String,
    usage: Usage,
    truncated: bool,
    block: Block,
    /// Index of the open (or next) content block.
    index: u32,
    /// The token event of the open block and its index, encoded when first needed.
    event: Option<(Block, u32, TokenEvent)>,
}

impl MessagesFraming {
    pub(crate) fn new(reply: &Reply, hex: &[u8; 16]) -> MessagesFraming {
        MessagesFraming {
            id: message_id(hex),
            model: reply.model.clone(),
            usage: reply.usage(),
            truncated: reply.truncated,
            block: Block::None,
            index: 0,
            event: None,
        }
    }

    fn event(out: &mut Vec<u8>, kind: &str, mut fields: Value) {
        if let Value::Object(m) = &mut fields {
            m.insert("type".into(), kind.into());
        }
        named_event(out, kind, &fields);
    }

    /// A token's `content_block_delta` through serde: what [`TokenEvent`] copies.
    fn token_event(block: Block, index: u32, word: &str, out: &mut Vec<u8>) {
        let delta = match block {
            Block::Thinking => TextDelta {
                text: None,
                thinking: Some(word),
                kind: "thinking_delta",
            },
            _ => TextDelta {
                text: Some(word),
                thinking: None,
                kind: "text_delta",
            },
        };
        let event = BlockDelta {
            delta,
            index,
            kind: "content_block_delta",
        };
        named_event(out, event.kind, &event);
    }

    fn start_block(&mut self, out: &mut Vec<u8>, block: Block) {
        self.stop_block(out);
        let content = match block {
            Block::Thinking => json!({ "type": "thinking", "thinking": "", "signature": "" }),
            _ => json!({ "type": "text", "text": "" }),
        };
        Self::event(
            out,
            "content_block_start",
            json!({ "index": self.index, "content_block": content }),
        );
        self.block = block;
    }

    fn stop_block(&mut self, out: &mut Vec<u8>) {
        if self.block == Block::None {
            return;
        }
        if self.block == Block::Thinking {
            Self::event(
                out,
                "content_block_delta",
                json!({ "index": self.index,
                        "delta": { "type": "signature_delta", "signature": SIGNATURE } }),
            );
        }
        Self::event(out, "content_block_stop", json!({ "index": self.index }));
        self.block = Block::None;
        self.index += 1;
    }
}

impl Framing for MessagesFraming {
    fn open(&mut self, out: &mut Vec<u8>) {
        let message = json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            // Anthropic reports the input here and a placeholder output, final in `message_delta`.
            "usage": {
                "input_tokens": self.usage.prompt,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        });
        Self::event(out, "message_start", json!({ "message": message }));
        Self::event(out, "ping", json!({}));
    }

    fn token(&mut self, kind: TokenKind, word: &str, out: &mut Vec<u8>) {
        let block = match kind {
            TokenKind::Reasoning => Block::Thinking,
            TokenKind::Answer => Block::Text,
        };
        if self.block != block {
            self.start_block(out, block);
        }
        if self
            .event
            .as_ref()
            .is_none_or(|(b, i, _)| (*b, *i) != (block, self.index))
        {
            let mut out = Vec::new();
            Self::token_event(block, self.index, WORD_MARK, &mut out);
            self.event = Some((block, self.index, TokenEvent::new(&out, false)));
        }
        if let Some((_, _, event)) = &self.event {
            event.write(word, 0, out);
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.block != Block::Text {
            // A reply with no answer tokens still has its (empty) text block.
            self.start_block(out, Block::Text);
        }
        self.stop_block(out);
        Self::event(
            out,
            "message_delta",
            json!({
                "delta": { "stop_reason": stop_reason(self.truncated), "stop_sequence": null },
                "usage": { "output_tokens": self.usage.completion },
            }),
        );
        Self::event(out, "message_stop", json!({}));
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        Self::event(
            out,
            "error",
            json!({ "error": { "type": "overloaded_error", "message": "Overloaded" } }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_events_are_the_json_form_byte_for_byte() {
        let mut f = MessagesFraming {
            id: "msg_x".into(),
            model: "claude".into(),
            usage: Usage {
                prompt: 1,
                completion: 2,
                reasoning: 1,
            },
            truncated: false,
            block: Block::Thinking,
            index: 0,
            event: None,
        };
        let word = " \"é\\\n";
        for (kind, block, delta) in [
            (
                TokenKind::Reasoning,
                Block::Thinking,
                json!({ "type": "thinking_delta", "thinking": word }),
            ),
            (
                TokenKind::Answer,
                Block::Text,
                json!({ "type": "text_delta", "text": word }),
            ),
        ] {
            f.block = block; // open already: the token writes its delta only
            f.index += 1;
            let mut out = Vec::new();
            f.token(kind, word, &mut out);
            let mut want = Vec::new();
            MessagesFraming::event(
                &mut want,
                "content_block_delta",
                json!({ "index": f.index, "delta": delta }),
            );
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}
