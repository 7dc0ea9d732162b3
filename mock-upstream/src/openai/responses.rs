//! `/v1/responses`: request parsing (`input`, `instructions`, `max_output_tokens`), the
//! `response` object, and the framing of its event stream (`response.created` ...
//! `response.completed`, every event with `type` and `sequence_number`).

use super::errors::ApiError;
use crate::prompt::{Input, Str};
use crate::reply::stream::{named_event, Framing, TokenEvent, SEQUENCE_MARK, WORD_MARK};
use crate::reply::{Protocol, Reply, ReplySettings, TokenKind, Usage};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
struct ResponsesRequest<'a> {
    #[serde(borrow)]
    model: Option<Str<'a>>,
    #[serde(borrow)]
    input: Option<Input<'a>>,
    #[serde(borrow, default)]
    instructions: Option<Str<'a>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
}

/// Parses and validates a Responses body into its reply.
pub(crate) fn parse(body: &[u8], seed: u64, settings: &ReplySettings) -> Result<Reply, ApiError> {
    let req: ResponsesRequest = super::from_json(super::utf8(body)?)?;
    let model = req
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::missing("model"))?;
    let messages = req
        .input
        .ok_or_else(|| ApiError::missing("input"))?
        .into_messages();
    let instructions = req.instructions.as_deref();
    let prompt = messages.prompt(&model, instructions, seed);
    Ok(Reply::new(
        model.0.into_owned(),
        prompt,
        req.max_output_tokens,
        req.stream.unwrap_or(false),
        Protocol::Responses,
        settings,
    ))
}

/// The ids of a response and its output items, from the request's hex id.
struct Ids {
    response: String,
    reasoning: String,
    message: String,
}

impl Ids {
    fn new(hex: &[u8; 16]) -> Ids {
        let hex = String::from_utf8_lossy(hex);
        Ids {
            response: format!("resp_{hex}"),
            reasoning: format!("rs_{hex}"),
            message: format!("msg_{hex}"),
        }
    }
}

fn usage_json(u: Usage) -> Value {
    json!({
        "input_tokens": u.prompt,
        "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": u.completion,
        "output_tokens_details": { "reasoning_tokens": u.reasoning },
        "total_tokens": u.total(),
    })
}

fn reasoning_item(id: &str, text: &str) -> Value {
    json!({
        "id": id,
        "type": "reasoning",
        "summary": [{ "type": "summary_text", "text": text }],
    })
}

fn output_text(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({
        "id": id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

/// The `response` object: `status` "in_progress" (no output, no usage yet), "completed", or
/// "incomplete" when `max_output_tokens` cut the reply.
fn response_object(
    ids: &Ids,
    model: &str,
    created: u64,
    status: &str,
    output: Vec<Value>,
    usage: Option<Usage>,
) -> Value {
    let incomplete = (status == "incomplete").then(|| json!({ "reason": "max_output_tokens" }));
    json!({
        "id": ids.response,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": { "effort": null, "summary": null },
        "store": false,
        "temperature": 1.0,
        "text": { "format": { "type": "text" } },
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage.map(usage_json),
        "metadata": {},
    })
}

fn final_status(reply_truncated: bool) -> &'static str {
    if reply_truncated {
        "incomplete"
    } else {
        "completed"
    }
}

/// The non-streamed `response` object: `output` is the reasoning item (when there is
/// reasoning) and the message item.
pub(crate) fn response_body(reply: &Reply, hex: &[u8; 16], created: u64) -> Bytes {
    let ids = Ids::new(hex);
    let mut output = Vec::with_capacity(2);
    if reply.reasoning_tokens > 0 {
        output.push(reasoning_item(&ids.reasoning, &reply.reasoning_text()));
    }
    let answer = reply.answer_text();
    output.push(message_item(
        &ids.message,
        "completed",
        vec![output_text(&answer)],
    ));
    let status = final_status(reply.truncated);
    let v = response_object(
        &ids,
        &reply.model,
        created,
        status,
        output,
        Some(reply.usage()),
    );
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// A token's event (`response.reasoning_summary_text.delta` or `response.output_text.delta`),
/// written from borrowed fields: it is the one event per token. Fields in alphabetical order,
/// as the `json!` form of the other events writes them.
#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    delta: &'a str,
    item_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'static [u8]>,
    output_index: usize,
    sequence_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<u32>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Where a Responses stream is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Before,
    Reasoning,
    Answer,
}

/// The Responses event stream.
pub(crate) struct ResponsesFraming {
    ids: Ids,
    model: String,
    created: u64,
    usage: Usage,
    truncated: bool,
    sequence: u64,
    part: Part,
    reasoning: String,
    answer: String,
    /// Output items already done (the reasoning item).
    done_items: Vec<Value>,
    /// The token event of the part being streamed, encoded when the part opens.
    event: Option<(TokenKind, TokenEvent)>,
}

impl ResponsesFraming {
    pub(crate) fn new(reply: &Reply, hex: &[u8; 16], created: u64) -> ResponsesFraming {
        ResponsesFraming {
            ids: Ids::new(hex),
            model: reply.model.clone(),
            created,
            usage: reply.usage(),
            truncated: reply.truncated,
            sequence: 0,
            part: Part::Before,
            reasoning: String::new(),
            answer: String::new(),
            done_items: Vec::new(),
            event: None,
        }
    }

    /// Appends one event of type `kind`: `fields` plus `type` and `sequence_number`.
    fn event(&mut self, out: &mut Vec<u8>, kind: &str, mut fields: Value) {
        if let Value::Object(m) = &mut fields {
            m.insert("type".into(), kind.into());
            m.insert("sequence_number".into(), self.sequence.into());
        }
        self.sequence += 1;
        named_event(out, kind, &fields);
    }

    fn response(&self, status: &str, usage: Option<Usage>) -> Value {
        response_object(
            &self.ids,
            &self.model,
            self.created,
            status,
            self.done_items.clone(),
            usage,
        )
    }

    fn message_index(&self) -> usize {
        self.done_items.len()
    }

    /// A token's event through serde: what [`TokenEvent`] copies.
    fn token_event(&self, kind: TokenKind, word: &str, sequence: u64, out: &mut Vec<u8>) {
        let delta = match kind {
            TokenKind::Reasoning => TextDelta {
                content_index: None,
                delta: word,
                item_id: &self.ids.reasoning,
                logprobs: None,
                output_index: 0,
                sequence_number: sequence,
                summary_index: Some(0),
                kind: "response.reasoning_summary_text.delta",
            },
            TokenKind::Answer => TextDelta {
                content_index: Some(0),
                delta: word,
                item_id: &self.ids.message,
                logprobs: Some(&[]),
                output_index: self.message_index(),
                sequence_number: sequence,
                summary_index: None,
                kind: "response.output_text.delta",
            },
        };
        named_event(out, delta.kind, &delta);
    }

    fn open_reasoning(&mut self, out: &mut Vec<u8>) {
        let id = self.ids.reasoning.clone();
        let item = json!({ "id": id, "type": "reasoning", "summary": [] });
        self.event(
            out,
            "response.output_item.added",
            json!({ "output_index": 0, "item": item }),
        );
        self.event(
            out,
            "response.reasoning_summary_part.added",
            json!({ "item_id": id, "output_index": 0, "summary_index": 0,
                    "part": { "type": "summary_text", "text": "" } }),
        );
        self.part = Part::Reasoning;
    }

    fn close_reasoning(&mut self, out: &mut Vec<u8>) {
        let id = self.ids.reasoning.clone();
        let text = std::mem::take(&mut self.reasoning);
        self.event(
            out,
            "response.reasoning_summary_text.done",
            json!({ "item_id": id, "output_index": 0, "summary_index": 0, "text": text }),
        );
        self.event(
            out,
            "response.reasoning_summary_part.done",
            json!({ "item_id": id, "output_index": 0, "summary_index": 0,
                    "part": { "type": "summary_text", "text": text } }),
        );
        let item = reasoning_item(&id, &text);
        self.event(
            out,
            "response.output_item.done",
            json!({ "output_index": 0, "item": item }),
        );
        self.done_items.push(item);
    }

    fn open_answer(&mut self, out: &mut Vec<u8>) {
        if self.part == Part::Reasoning {
            self.close_reasoning(out);
        }
        let (id, index) = (self.ids.message.clone(), self.message_index());
        self.event(
            out,
            "response.output_item.added",
            json!({ "output_index": index, "item": message_item(&id, "in_progress", vec![]) }),
        );
        self.event(
            out,
            "response.content_part.added",
            json!({ "item_id": id, "output_index": index, "content_index": 0,
                    "part": output_text("") }),
        );
        self.part = Part::Answer;
    }
}

impl Framing for ResponsesFraming {
    fn open(&mut self, out: &mut Vec<u8>) {
        let r = self.response("in_progress", None);
        self.event(out, "response.created", json!({ "response": r }));
        self.event(out, "response.in_progress", json!({ "response": r }));
    }

    fn token(&mut self, kind: TokenKind, word: &str, out: &mut Vec<u8>) {
        match kind {
            TokenKind::Reasoning => {
                if self.part == Part::Before {
                    self.open_reasoning(out);
                }
                self.reasoning.push_str(word);
            }
            TokenKind::Answer => {
                if self.part != Part::Answer {
                    self.open_answer(out);
                }
                self.answer.push_str(word);
            }
        }
        if self.event.as_ref().is_none_or(|(k, _)| *k != kind) {
            let mut out = Vec::new();
            self.token_event(kind, WORD_MARK, SEQUENCE_MARK, &mut out);
            self.event = Some((kind, TokenEvent::new(&out, true)));
        }
        if let Some((_, event)) = &self.event {
            event.write(word, self.sequence, out);
        }
        self.sequence += 1;
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.part != Part::Answer {
            self.open_answer(out);
        }
        let (id, index) = (self.ids.message.clone(), self.message_index());
        let text = std::mem::take(&mut self.answer);
        self.event(
            out,
            "response.output_text.done",
            json!({ "item_id": id, "output_index": index, "content_index": 0,
                    "text": text, "logprobs": [] }),
        );
        self.event(
            out,
            "response.content_part.done",
            json!({ "item_id": id, "output_index": index, "content_index": 0,
                    "part": output_text(&text) }),
        );
        let item = message_item(&id, "completed", vec![output_text(&text)]);
        self.event(
            out,
            "response.output_item.done",
            json!({ "output_index": index, "item": item }),
        );
        self.done_items.push(item);
        // `response.completed` even when `max_output_tokens` cut the reply (then with status
        // "incomplete" inside), so that one event always carries the final usage.
        let r = self.response(final_status(self.truncated), Some(self.usage));
        self.event(out, "response.completed", json!({ "response": r }));
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        let e = ApiError::injected(500);
        self.event(
            out,
            "error",
            json!({ "code": "server_error", "message": e.message, "param": null }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a token's event as the `json!` form writes them.
    fn json_event(kind: &str, mut fields: Value, sequence: u64) -> Vec<u8> {
        let m = fields.as_object_mut().unwrap();
        m.insert("type".into(), kind.into());
        m.insert("sequence_number".into(), sequence.into());
        let mut out = Vec::new();
        named_event(&mut out, kind, &fields);
        out
    }

    #[test]
    fn token_events_are_the_json_form_byte_for_byte() {
        let usage = Usage {
            prompt: 1,
            completion: 2,
            reasoning: 1,
        };
        let mut f = ResponsesFraming {
            ids: Ids::new(b"0123456789abcdef"),
            model: "gpt-4o".into(),
            created: 1,
            usage,
            truncated: false,
            sequence: 7,
            part: Part::Reasoning,
            reasoning: String::new(),
            answer: String::new(),
            done_items: Vec::new(),
            event: None,
        };
        let word = " \"é\\\n";
        let mut out = Vec::new();
        f.token(TokenKind::Reasoning, word, &mut out);
        let want = json_event(
            "response.reasoning_summary_text.delta",
            json!({ "item_id": "rs_0123456789abcdef", "output_index": 0, "summary_index": 0, "delta": word }),
            7,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(want).unwrap()
        );
        f.part = Part::Answer;
        f.done_items.push(json!({}));
        let mut out = Vec::new();
        f.token(TokenKind::Answer, word, &mut out);
        let want = json_event(
            "response.output_text.delta",
            json!({ "item_id": "msg_0123456789abcdef", "output_index": 1, "content_index": 0,
                    "delta": word, "logprobs": [] }),
            8,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(want).unwrap()
        );
        assert_eq!((f.sequence, f.answer.as_str()), (9, word));
    }
}
