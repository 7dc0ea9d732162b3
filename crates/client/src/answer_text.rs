//! The text of a completion answer (answer and reasoning apart), per API, from a stream's events or a whole JSON body: read only when a usage audit asks.

use super::exchange::{AnswerText, Api};
use serde_json::Value;
use std::borrow::Cow;

/// A text field, borrowed from the event unless it had escapes.
type Text<'a> = Option<Cow<'a, str>>;

#[derive(serde::Deserialize)]
struct ChatEvent<'a> {
    #[serde(borrow)]
    choices: Option<Vec<ChatChoice<'a>>>,
}

#[derive(serde::Deserialize)]
struct ChatChoice<'a> {
    #[serde(borrow)]
    delta: Option<ChatDelta<'a>>,
}

#[derive(serde::Deserialize)]
struct ChatDelta<'a> {
    #[serde(borrow)]
    content: Text<'a>,
    #[serde(borrow)]
    reasoning_content: Text<'a>,
    #[serde(borrow)]
    reasoning: Text<'a>,
}

#[derive(serde::Deserialize)]
struct ResponsesEvent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    delta: Text<'a>,
}

#[derive(serde::Deserialize)]
struct MessagesEvent<'a> {
    #[serde(borrow)]
    delta: Option<MessagesDelta<'a>>,
}

#[derive(serde::Deserialize)]
struct MessagesDelta<'a> {
    #[serde(borrow)]
    text: Text<'a>,
    #[serde(borrow)]
    thinking: Text<'a>,
}

/// Appends the text a stream event carries (an event already known to hold a token). Read
/// into borrowed fields: no allocation but the text's own growth.
pub fn append(api: Api, data: &[u8], text: &mut AnswerText) {
    let mut push = |reasoning: bool, part: Text<'_>| {
        if let Some(part) = part {
            let into = if reasoning {
                &mut text.reasoning
            } else {
                &mut text.answer
            };
            into.push_str(&part);
        }
    };
    match api {
        Api::OpenaiChat => {
            let Ok(event) = serde_json::from_slice::<ChatEvent<'_>>(data) else {
                return;
            };
            for delta in event.choices.into_iter().flatten().filter_map(|c| c.delta) {
                push(true, delta.reasoning_content);
                push(true, delta.reasoning);
                push(false, delta.content);
            }
        }
        Api::OpenaiResponses => {
            if let Ok(event) = serde_json::from_slice::<ResponsesEvent<'_>>(data) {
                push(event.kind.starts_with("response.reasoning"), event.delta);
            }
        }
        Api::AnthropicMessages => {
            let Ok(event) = serde_json::from_slice::<MessagesEvent<'_>>(data) else {
                return;
            };
            if let Some(delta) = event.delta {
                push(true, delta.thinking);
                push(false, delta.text);
            }
        }
    }
}

/// The text of a whole (non-streamed) answer of `api`.
pub fn of_body(api: Api, body: &[u8]) -> Option<AnswerText> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let mut text = AnswerText::default();
    let mut push = |reasoning: bool, part: &Value| {
        if let Some(part) = part.as_str() {
            let into = if reasoning {
                &mut text.reasoning
            } else {
                &mut text.answer
            };
            into.push_str(part);
        }
    };
    match api {
        Api::OpenaiChat => {
            for choice in answer["choices"].as_array().into_iter().flatten() {
                let message = &choice["message"];
                push(true, &message["reasoning_content"]);
                push(true, &message["reasoning"]);
                push(false, &message["content"]);
            }
        }
        Api::OpenaiResponses => {
            for item in answer["output"].as_array().into_iter().flatten() {
                let reasoning = item["type"] == "reasoning";
                let parts = if reasoning {
                    &item["summary"]
                } else {
                    &item["content"]
                };
                for part in parts.as_array().into_iter().flatten() {
                    push(reasoning, &part["text"]);
                }
                if reasoning {
                    for part in item["content"].as_array().into_iter().flatten() {
                        push(true, &part["text"]);
                    }
                }
            }
        }
        Api::AnthropicMessages => {
            for block in answer["content"].as_array().into_iter().flatten() {
                push(true, &block["thinking"]);
                push(false, &block["text"]);
            }
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_gives_answer_and_reasoning_apart() {
        let mut t = AnswerText::default();
        append(
            Api::OpenaiChat,
            br#"{"choices":[{"delta":{"reasoning_content":" hm"}}]}"#,
            &mut t,
        );
        append(
            Api::OpenaiChat,
            br#"{"choices":[{"delta":{"content":" hi","reasoning":null}}]}"#,
            &mut t,
        );
        append(
            Api::OpenaiResponses,
            br#"{"type":"response.reasoning_summary_text.delta","delta":" so"}"#,
            &mut t,
        );
        append(
            Api::OpenaiResponses,
            br#"{"type":"response.output_text.delta","delta":" there"}"#,
            &mut t,
        );
        append(
            Api::AnthropicMessages,
            br#"{"type":"content_block_delta","delta":{"type":"thinking_delta","thinking":" ok"}}"#,
            &mut t,
        );
        append(
            Api::AnthropicMessages,
            br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"!"}}"#,
            &mut t,
        );
        assert_eq!(t.reasoning, " hm so ok");
        assert_eq!(t.answer, " hi there!");
        let responses = br#"{"output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},{"type":"message","content":[{"type":"output_text","text":"answer"}]}]}"#;
        let t = of_body(Api::OpenaiResponses, responses).unwrap();
        assert_eq!(
            (t.reasoning.as_str(), t.answer.as_str()),
            ("think", "answer")
        );
        let messages = br#"{"type":"message","content":[{"type":"thinking","thinking":"a","signature":"s"},{"type":"text","text":"b"}]}"#;
        let t = of_body(Api::AnthropicMessages, messages).unwrap();
        assert_eq!((t.reasoning.as_str(), t.answer.as_str()), ("a", "b"));
        let chat = br#"{"choices":[{"message":{"content":"c","reasoning_content":"r"}}]}"#;
        let t = of_body(Api::OpenaiChat, chat).unwrap();
        assert_eq!((t.reasoning.as_str(), t.answer.as_str()), ("r", "c"));
    }
}
