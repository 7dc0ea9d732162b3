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

    /// Adds the assistant's answer to the last turn and `text` as the next user message.
    pub fn add_user_text(&mut self, answer: String, text: &str) {
        self.history
            .push(serde_json::json!({ "role": "assistant", "content": answer }));
        self.history
            .push(serde_json::json!({ "role": "user", "content": text }));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::requests::{MixOptions, RequestMix};

    /// The bodies of a 3-turn session in `api`'s protocol, opened by a prompt with a system message.
    fn session(api: &str) -> Vec<Value> {
        let text = format!(
            "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\napi = \"{api}\"\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\nkind = \"chat\"\nturns = {{ dist = \"fixed\", value = 3 }}"
        );
        let mut s = crate::scenario::parse(std::path::Path::new("t.toml"), &text).unwrap();
        s.workload.mix[0].file_prompts = vec![serde_json::json!([
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "Hi" }
        ])];
        let mix = RequestMix::build(&s.targets[0], &s.workload.mix, MixOptions::default()).unwrap();
        let mut rng = rand::thread_rng();
        let first = mix.pick(&mut rng);
        assert!(first.spec.keep_text, "answers are kept for the history");
        let conversation = first.conversation.clone().unwrap();
        let mut body = SessionBody::start(first, &conversation).unwrap();
        let mut bodies = vec![serde_json::from_slice(&first.spec.body).unwrap()];
        for n in 0..2 {
            body.add_turn(
                format!("answer {n}"),
                mix.pick_turn(&conversation, &mut rng),
            );
            bodies.push(serde_json::from_slice(&body.render()).unwrap());
        }
        bodies
    }

    fn roles_and_texts(messages: &Value) -> Vec<(&str, &str)> {
        messages
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect()
    }

    #[test]
    fn each_turn_carries_the_history_in_the_targets_protocol() {
        let later = [
            ("user", "Hi"),
            ("assistant", "answer 0"),
            ("user", "Hi"),
            ("assistant", "answer 1"),
            ("user", "Hi"),
        ];
        let system = ("system", "Be brief.");
        for (api, field) in [("openai-chat", "messages"), ("openai-responses", "input")] {
            let bodies = session(api);
            for (k, body) in bodies.iter().enumerate() {
                let expected: Vec<_> = std::iter::once(system)
                    .chain(later[..2 * k + 1].iter().copied())
                    .collect();
                assert_eq!(
                    roles_and_texts(&body[field]),
                    expected,
                    "{api} turn {}",
                    k + 1
                );
                assert_eq!(body["model"], bodies[0]["model"]);
            }
        }
        // Anthropic: the system text stays in `system`, the turns in `messages`.
        let bodies = session("anthropic-messages");
        for (k, body) in bodies.iter().enumerate() {
            assert_eq!(roles_and_texts(&body["messages"]), later[..2 * k + 1]);
            assert_eq!(body["system"], "Be brief.");
            assert_eq!(body["max_tokens"], bodies[0]["max_tokens"]);
        }
    }
}
