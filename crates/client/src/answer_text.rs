//! The text of a whole (non-streamed) completion answer, answer and reasoning apart, per API: read only when a usage audit asks. (A stream's text is taken by `sse` in the same pass that times its tokens.)

use super::exchange::{AnswerText, Api};
use serde_json::Value;

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
    fn each_api_gives_answer_and_reasoning_apart_from_a_whole_answer() {
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
