//! `/v1/responses`: request parsing (`input`, `instructions`, `max_output_tokens`), the
//! `response` object, and the framing of its event stream (`response.created` ...
//! `response.completed`, every event with `type` and `sequence_number`).

use super::errors::ApiError;
use crate::prompt::{Input, Str};
use crate::reply::stream::{named_event, Framing};
use crate::reply::{Protocol, Reply, ReplySettings, TokenKind, Usage};
use bytes::Bytes;
use serde::Deserialize;
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
                let id = self.ids.reasoning.clone();
                self.event(
                    out,
                    "response.reasoning_summary_text.delta",
                    json!({ "item_id": id, "output_index": 0, "summary_index": 0, "delta": word }),
                );
            }
            TokenKind::Answer => {
                if self.part != Part::Answer {
                    self.open_answer(out);
                }
                self.answer.push_str(word);
                let (id, index) = (self.ids.message.clone(), self.message_index());
                self.event(
                    out,
                    "response.output_text.delta",
                    json!({ "item_id": id, "output_index": index, "content_index": 0,
                            "delta": word, "logprobs": [] }),
                );
            }
        }
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
