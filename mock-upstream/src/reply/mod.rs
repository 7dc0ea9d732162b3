//! A text reply, independent of protocol: how many reasoning and answer tokens, which words,
//! honest and reported usage; the protocols (`openai::chat`, `openai::responses`,
//! `anthropic::messages`) only frame it, whole or streamed through `stream`.

pub(crate) mod pacer;
pub(crate) mod stream;

use crate::config::{MockConfig, Reasoning, ReasoningField};
use crate::openai::text;
use crate::prompt::PromptCount;
use crate::state::rng_for;
use bytes::Bytes;

/// Which protocol frames the reply, with what only that protocol needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `/v1/chat/completions`.
    Chat {
        /// A final usage-only chunk (`stream_options.include_usage`).
        include_usage: bool,
        /// The delta / message field that carries reasoning.
        reasoning_field: ReasoningField,
    },
    /// `/v1/responses`.
    Responses,
    /// `/v1/messages` (Anthropic).
    Messages,
}

/// A validated request of any protocol, reduced to the reply it gets.
pub(crate) struct Reply {
    pub model: String,
    pub stream: bool,
    pub protocol: Protocol,
    /// Prompt tokens as counted in the model's encoding (before any inflation).
    pub prompt_tokens: u64,
    /// Reasoning tokens, emitted before the answer.
    pub reasoning_tokens: u32,
    /// Answer tokens.
    pub answer_tokens: u32,
    /// `max_tokens` cut the reply short.
    pub truncated: bool,
    /// What the rate limiter charges: prompt plus the requested (or actual) output.
    pub token_cost: u64,
    /// Seeds the generated words.
    seed: u64,
    /// `usage_inflation` of the config.
    inflation: f64,
}

/// Usage as reported (inflated when the config says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    pub prompt: u64,
    /// Output tokens, reasoning included.
    pub completion: u64,
    pub reasoning: u64,
}

impl Usage {
    pub(crate) fn total(&self) -> u64 {
        self.prompt + self.completion
    }
}

/// Distinguishes the reasoning words' seed from the answer's.
const REASONING_SALT: u64 = 0x5245_4153_4f4e;

/// Whether a token is reasoning or answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Reasoning,
    Answer,
}

impl Reply {
    /// Plans the reply to a request for `model` whose prompt hashes to `hash` and counts
    /// `prompt_tokens`; `cap` is its `max_tokens` (reasoning and answer together).
    pub(crate) fn new(
        model: String,
        prompt: PromptCount,
        cap: Option<u64>,
        stream: bool,
        protocol: Protocol,
        settings: &ReplySettings,
    ) -> Reply {
        let ReplySettings { config, reasoning } = *settings;
        let PromptCount {
            tokens: prompt_tokens,
            hash,
        } = prompt;
        // A fixed length needs no generator, and seeding one costs more than the rest of the choice.
        let lengths = &config.output_tokens;
        let wanted = lengths
            .fixed()
            .unwrap_or_else(|| lengths.sample(&mut rng_for(hash, 0, 0)));
        let thinking = &reasoning.tokens;
        let reasoning = thinking
            .fixed()
            .unwrap_or_else(|| thinking.sample(&mut rng_for(hash, 0, 1)));
        let all = u64::from(reasoning) + u64::from(wanted);
        let (reasoning_tokens, answer_tokens, truncated) = match cap {
            Some(c) if all > c => {
                let r = u64::from(reasoning).min(c);
                (r as u32, (c - r) as u32, true)
            }
            _ => (reasoning, wanted, false),
        };
        Reply {
            model,
            stream,
            protocol,
            prompt_tokens,
            reasoning_tokens,
            answer_tokens,
            truncated,
            token_cost: prompt_tokens + cap.unwrap_or(all),
            seed: hash,
            inflation: config.usage_inflation,
        }
    }

    /// Reported usage: every count `round(true × (1 + usage_inflation))`.
    pub(crate) fn usage(&self) -> Usage {
        let report = |n: u64| {
            if self.inflation == 0.0 {
                n
            } else {
                (n as f64 * (1.0 + self.inflation)).round() as u64
            }
        };
        let reasoning = u64::from(self.reasoning_tokens);
        Usage {
            prompt: report(self.prompt_tokens),
            completion: report(reasoning + u64::from(self.answer_tokens)),
            reasoning: report(reasoning),
        }
    }

    /// The answer's tokens: concatenated, the whole answer.
    pub(crate) fn answer_words(&self) -> Vec<&'static str> {
        text::tokens(self.seed, self.answer_tokens)
    }

    /// The reasoning's tokens.
    pub(crate) fn reasoning_words(&self) -> Vec<&'static str> {
        text::tokens(self.seed ^ REASONING_SALT, self.reasoning_tokens)
    }

    /// Appends the whole answer to `out`.
    pub(crate) fn append_answer(&self, out: &mut Vec<u8>) {
        text::append_tokens(self.seed, self.answer_tokens, out);
    }

    /// Appends the whole reasoning to `out`.
    pub(crate) fn append_reasoning(&self, out: &mut Vec<u8>) {
        text::append_tokens(self.seed ^ REASONING_SALT, self.reasoning_tokens, out);
    }

    /// The whole reasoning text.
    pub(crate) fn reasoning_text(&self) -> String {
        self.reasoning_words().concat()
    }

    /// The whole answer text.
    pub(crate) fn answer_text(&self) -> String {
        self.answer_words().concat()
    }

    /// The non-streamed body in the reply's protocol.
    pub(crate) fn whole_body(&self, id: &[u8; 16], created: u64) -> Bytes {
        match self.protocol {
            Protocol::Chat {
                reasoning_field, ..
            } => crate::openai::chat::completion_body(self, reasoning_field, id, created),
            Protocol::Responses => crate::openai::responses::response_body(self, id, created),
            Protocol::Messages => crate::anthropic::messages::message_body(self, id),
        }
    }

    /// The streamed body in the reply's protocol (see [`stream::run`]).
    pub(crate) fn stream_body(
        self,
        id: &[u8; 16],
        created: u64,
        pacing: stream::StreamPacing,
        ending: stream::Ending,
    ) -> crate::body::MockBody {
        let words = self.stream_words();
        match self.protocol {
            Protocol::Chat {
                include_usage,
                reasoning_field,
            } => {
                let f = crate::openai::chat::ChatFraming::new(
                    &self,
                    id,
                    created,
                    include_usage,
                    reasoning_field,
                );
                stream::run(f, words, pacing, ending)
            }
            Protocol::Responses => {
                let f = crate::openai::responses::ResponsesFraming::new(&self, id, created);
                stream::run(f, words, pacing, ending)
            }
            Protocol::Messages => {
                let f = crate::anthropic::messages::MessagesFraming::new(&self, id);
                stream::run(f, words, pacing, ending)
            }
        }
    }

    /// Every token of the stream in order: reasoning first.
    fn stream_words(&self) -> Vec<(TokenKind, &'static str)> {
        let reasoning = self.reasoning_words().into_iter();
        let answer = self.answer_words().into_iter();
        reasoning
            .map(|w| (TokenKind::Reasoning, w))
            .chain(answer.map(|w| (TokenKind::Answer, w)))
            .collect()
    }
}

/// What shapes a reply besides the request: the config, and the reasoning in force now (the
/// config's, or a schedule phase's).
#[derive(Clone, Copy)]
pub(crate) struct ReplySettings<'a> {
    pub config: &'a MockConfig,
    pub reasoning: &'a Reasoning,
}

/// `text` as a JSON string: copied as is when nothing needs escaping (the usual model name).
pub(crate) fn json_string(out: &mut Vec<u8>, text: &str) {
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
