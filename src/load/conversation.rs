//! The body of each turn of a multi-turn session: the first request's body with its messages replaced by the growing history.

use super::requests::{Conversation, Prepared};
use bytes::Bytes;
use serde_json::Value;

/// One session's history and the body it is sent in.
pub struct SessionBody {
    /// The first turn's body; its messages field is filled with `history` while rendering.
    body: Value,
    /// Every message sent so far and the assistant's answers, in the target's protocol.
    history: Vec<Value>,
    field: &'static str,
}

impl SessionBody {
    /// The session opened by `first` (a request of a conversation entry), its first turn sent as built.
    pub fn start(first: &Prepared, conversation: &Conversation) -> Option<SessionBody> {
        let mut body = Value::clone(first.body_json.as_deref()?);
        let history = match body.get_mut(conversation.field)?.take() {
            Value::Array(messages) => messages,
            _ => return None,
        };
        Some(SessionBody {
            body,
            history,
            field: conversation.field,
        })
    }

    /// Adds the assistant's answer to the last turn and the user message(s) of `next`'s prompt.
    /// System messages of `next` are left out: the session keeps the first turn's.
    pub fn add_turn(&mut self, answer: String, next: &Prepared) {
        self.history
            .push(serde_json::json!({ "role": "assistant", "content": answer }));
        let messages = next
            .body_json
            .as_deref()
            .and_then(|b| b.get(self.field))
            .and_then(Value::as_array);
        for m in messages.into_iter().flatten() {
            if m["role"] != "system" {
                self.history.push(m.clone());
            }
        }
    }

    /// Messages in the history.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// Whether the history is empty (never, for a started session).
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// The body of the next turn: serialized once, straight into bytes (the history is moved in
    /// and out of the body, not copied).
    pub fn render(&mut self) -> Bytes {
        self.body[self.field] = Value::Array(std::mem::take(&mut self.history));
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        if let Value::Array(history) = self.body[self.field].take() {
            self.history = history;
        }
        Bytes::from(bytes)
    }
}
