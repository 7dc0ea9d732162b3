//! Incremental server-sent-events parsing (events split across chunks, CR/LF/CRLF, comments, multi-line data) and the completion stream on top of it, per API (Chat chunks, Responses events, Anthropic Messages events): answer and reasoning deltas, the terminal event, `usage`, error events.
//!
//! Written here rather than taken from a crate because the parser must work on hyper's
//! frames as they arrive (to timestamp each token), bound its memory, and stay allocation-
//! light on the hot path; the WHATWG grammar is small. Upstream bytes are never indexed:
//! every cut is a checked split, so no stream can make the parser panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::exchange::{AnswerText, Api, StreamTiming, Tokens};
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use std::{borrow::Cow, fmt, marker::PhantomData, time::Instant};

/// Longest line (or event) kept before the stream is declared malformed.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Why a stream could not be read as a completion stream of its API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// An event or line exceeded the size bound.
    #[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    /// An event's data was not a chunk or event of the stream's API (not JSON, or not its shape).
    #[error("bad stream chunk: {0}")]
    BadChunk(String),
    /// The upstream reported an error inside the stream (`{"error": ...}` as an event's data,
    /// or an event of type `error`): its message.
    #[error("error event: {0}")]
    ErrorEvent(String),
}

/// An incremental SSE parser: feed it bytes, it hands out each event's `data`.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The incomplete line carried over from the previous chunk.
    line: Vec<u8>,
    /// The data lines of the event being built, joined with `\n`.
    data: Vec<u8>,
    /// Whether the event being built has a `data` field at all.
    has_data: bool,
    /// Whether the event being built declared `event: error`.
    error_type: bool,
    /// The previous chunk ended in CR: a leading LF in the next one belongs to it.
    after_cr: bool,
}

/// One dispatched event, as the chunk layer sees it.
pub struct SseEvent<'a> {
    /// The event's data (its `data` lines joined with `\n`).
    pub data: &'a [u8],
    /// Whether its type was `error` (`event: error`).
    pub is_error: bool,
}

impl SseParser {
    /// Parses `chunk`, calling `on_event` with every completed event.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut on_event: impl FnMut(SseEvent<'_>) -> Result<(), SseError>,
    ) -> Result<(), SseError> {
        let mut rest = chunk;
        if std::mem::take(&mut self.after_cr) {
            rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', rest) {
            let Some((line, after)) = rest.split_at_checked(end) else {
                break;
            };
            let Some((&terminator, after)) = after.split_first() else {
                break;
            };
            if self.line.is_empty() {
                self.line_done(line, &mut on_event)?;
            } else {
                self.push_line(line)?;
                let line = std::mem::take(&mut self.line);
                let result = self.line_done(&line, &mut on_event);
                self.line = line;
                self.line.clear();
                result?;
            }
            rest = after;
            if terminator == b'\r' {
                match rest.split_first() {
                    Some((b'\n', after)) => rest = after,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line(rest)
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > MAX_EVENT_BYTES {
            return Err(SseError::TooLarge);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_done(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(SseEvent<'_>) -> Result<(), SseError>,
    ) -> Result<(), SseError> {
        if line.is_empty() {
            let is_error = std::mem::take(&mut self.error_type);
            if std::mem::take(&mut self.has_data) {
                let result = on_event(SseEvent {
                    data: &self.data,
                    is_error,
                });
                self.data.clear();
                return result;
            }
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(()); // a comment (often a keep-alive ping)
        }
        let mut parts = line.splitn(2, |b| *b == b':');
        let field = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge);
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.error_type = value == b"error",
            // `id`, `retry` and unknown fields do not matter to a load test.
            _ => {}
        }
        Ok(())
    }
}

/// A completion stream being read (Chat chunks, Responses events or Anthropic Messages
/// events, by its API): tokens timed as they arrive, `usage`, the terminal event, errors.
#[derive(Debug, Default)]
pub struct ChunkStream {
    /// The SSE layer.
    parser: SseParser,
    /// The protocol of the events.
    api: Api,
    /// Token arrival times so far.
    pub timing: StreamTiming,
    /// `usage` from the final chunk or event, when the server sent one.
    pub usage: Option<Tokens>,
    /// Whether the protocol's terminal event arrived (`[DONE]`, `response.completed`,
    /// `message_stop`).
    pub done: bool,
    /// Well-formed chunks or events (JSON objects) seen: none means the body was no stream at all.
    pub chunks: u64,
    /// Prompt tokens an Anthropic `message_start` reported (its output count comes later).
    started_input: u64,
    /// The text received, kept only when asked (a usage audit counts its tokens).
    pub text: Option<AnswerText>,
}

/// One Chat chunk, read without copying any of its text unless the stream keeps it (`C`:
/// [`AnyToken`], or a list of [`Choice`]s of [`Text`] when the text is kept): which kinds of
/// token it carries, its `usage`, and whether it is an error (whose message is read again, in
/// full, on that rare path).
#[derive(serde::Deserialize)]
struct Chunk<C> {
    /// (Some relays send `"choices": null` with the final `usage`.)
    choices: Option<C>,
    usage: Option<ChatUsage>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct Choice<T> {
    delta: Option<Delta<T>>,
}

/// The parts of a delta that are tokens (`T`: [`Token`], or [`Text`] when the text is kept).
#[derive(serde::Deserialize)]
struct Delta<T> {
    content: Option<T>,
    /// DeepSeek-style reasoning tokens (also vLLM, SGLang).
    reasoning_content: Option<T>,
    /// OpenRouter-style reasoning tokens.
    reasoning: Option<T>,
}

impl<T: Part> Delta<T> {
    /// Whether the delta carries an answer token and whether a reasoning token (the role-only
    /// first chunk carries neither).
    fn kinds(&self) -> Seen {
        Seen {
            answer: is_token(&self.content),
            reasoning: is_token(&self.reasoning_content) || is_token(&self.reasoning),
        }
    }
}

/// Which kinds of token an event carried.
#[derive(Clone, Copy, Default)]
struct Seen {
    answer: bool,
    reasoning: bool,
}

impl Seen {
    const ANSWER: Seen = Seen {
        answer: true,
        reasoning: false,
    };
    const REASONING: Seen = Seen {
        answer: false,
        reasoning: true,
    };
}

/// A delta's text as read: [`Token`] (whether it is one) or [`Text`] (the text itself).
trait Part {
    /// The choices of a Chat chunk read with parts of this kind.
    type Choices: Choices;
    /// Whether it is a token: a non-empty string (anything else is not).
    fn is_token(&self) -> bool;
    /// Its text ("" when not read).
    fn text(&self) -> &str;
}

/// The text of an optional part ("" when absent or not read).
fn text_of<T: Part>(part: &Option<T>) -> &str {
    part.as_ref().map_or("", T::text)
}

/// The choices of a Chat chunk as read: the kinds of token they carry, and their text.
trait Choices {
    /// Which kinds of token they carry.
    fn seen(&self) -> Seen;
    /// Appends their text (nothing when it was not read).
    fn append(&self, text: &mut AnswerText);
}

fn is_token<T: Part>(part: &Option<T>) -> bool {
    part.as_ref().is_some_and(T::is_token)
}

/// How a [`Part`] is made from what the event holds (one visitor reads both kinds).
trait ReadPart<'de>: Sized {
    /// From a string of the event (unescaped into a scratch buffer).
    fn of_str(text: &str) -> Self;
    /// From a string borrowed from the event itself (it had no escapes).
    fn of_borrowed(text: &'de str) -> Self;
    /// From anything that is no string (`null`, a number, an object, ...): no token.
    fn none() -> Self;
}

/// Whether a delta's text is a token, read without copying it.
struct Token(bool);

impl Part for Token {
    type Choices = AnyToken;
    fn is_token(&self) -> bool {
        self.0
    }
    fn text(&self) -> &str {
        ""
    }
}

impl ReadPart<'_> for Token {
    fn of_str(text: &str) -> Token {
        Token(!text.is_empty())
    }
    fn of_borrowed(text: &str) -> Token {
        Token(!text.is_empty())
    }
    fn none() -> Token {
        Token(false)
    }
}

/// A delta's text, kept for a stream that keeps its text (a usage audit counts it): borrowed
/// from the event unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'a> Part for Text<'a> {
    type Choices = Vec<Choice<Text<'a>>>;
    fn is_token(&self) -> bool {
        !self.0.is_empty()
    }
    fn text(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> ReadPart<'de> for Text<'a> {
    fn of_str(text: &str) -> Text<'a> {
        Text(Cow::Owned(text.to_owned()))
    }
    fn of_borrowed(text: &'de str) -> Text<'a> {
        Text(Cow::Borrowed(text))
    }
    fn none() -> Text<'a> {
        Text(Cow::Borrowed(""))
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Token, D::Error> {
        deserializer.deserialize_any(PartVisitor(PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'a>, D::Error> {
        deserializer.deserialize_any(PartVisitor(PhantomData))
    }
}

/// Reads a [`Part`] from any JSON value: a string is one, anything else is skipped.
struct PartVisitor<T>(PhantomData<T>);

impl<'de, T: ReadPart<'de>> Visitor<'de> for PartVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<T, E> {
        Ok(T::of_borrowed(text))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        Ok(T::of_str(text))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(T::none())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::none())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        Ok(T::none())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<T, E> {
        Ok(T::none())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<T, E> {
        Ok(T::none())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<T, E> {
        Ok(T::none())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::none())
    }
}

/// Which kinds of token the choices of a chunk carry (their text not read).
struct AnyToken(Seen);

impl Choices for AnyToken {
    fn seen(&self) -> Seen {
        self.0
    }
    fn append(&self, _: &mut AnswerText) {}
}

impl<T: Part> Choices for Vec<Choice<T>> {
    fn seen(&self) -> Seen {
        let mut seen = Seen::default();
        for kinds in self
            .iter()
            .filter_map(|c| c.delta.as_ref())
            .map(Delta::kinds)
        {
            seen.answer |= kinds.answer;
            seen.reasoning |= kinds.reasoning;
        }
        seen
    }
    fn append(&self, text: &mut AnswerText) {
        for delta in self.iter().filter_map(|c| c.delta.as_ref()) {
            text.reasoning.push_str(text_of(&delta.reasoning_content));
            text.reasoning.push_str(text_of(&delta.reasoning));
            text.answer.push_str(text_of(&delta.content));
        }
    }
}

impl<'de> Deserialize<'de> for AnyToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AnyToken, D::Error> {
        struct Choices;
        impl<'de> Visitor<'de> for Choices {
            type Value = AnyToken;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyToken, A::Error> {
                let mut seen = Seen::default();
                while let Some(choice) = seq.next_element::<Choice<Token>>()? {
                    if let Some(kinds) = choice.delta.map(|d| d.kinds()) {
                        seen.answer |= kinds.answer;
                        seen.reasoning |= kinds.reasoning;
                    }
                }
                Ok(AnyToken(seen))
            }
        }
        deserializer.deserialize_seq(Choices)
    }
}

/// Chat `usage` (also the non-streamed answer's).
#[derive(serde::Deserialize)]
pub(crate) struct ChatUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub completion_tokens_details: Option<ReasoningDetails>,
}

/// `completion_tokens_details` / `output_tokens_details`.
#[derive(serde::Deserialize)]
pub(crate) struct ReasoningDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl ChatUsage {
    pub(crate) fn tokens(&self) -> Tokens {
        Tokens {
            input: self.prompt_tokens,
            output: self.completion_tokens,
            from_usage: true,
            reasoning: reasoning_of(&self.completion_tokens_details),
        }
    }
}

fn reasoning_of(details: &Option<ReasoningDetails>) -> u64 {
    details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
        .unwrap_or(0)
}

/// Responses `usage` (streamed in `response.completed`, or in the JSON answer).
#[derive(serde::Deserialize)]
pub(crate) struct ResponsesUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub output_tokens_details: Option<ReasoningDetails>,
}

impl ResponsesUsage {
    pub(crate) fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input_tokens,
            output: self.output_tokens,
            from_usage: true,
            reasoning: reasoning_of(&self.output_tokens_details),
        }
    }
}

/// Anthropic `usage` (in `message_start`'s message, `message_delta`, the JSON answer).
#[derive(serde::Deserialize)]
pub(crate) struct MessagesUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
}

impl MessagesUsage {
    /// Its counts; `input` and `reasoning` where it says nothing of them (a streamed
    /// `message_delta` may leave the prompt to `message_start`; Anthropic reports thinking
    /// inside `output_tokens`, never apart).
    pub(crate) fn tokens(&self, input: u64, reasoning: u64) -> Tokens {
        Tokens {
            input: self.input_tokens.unwrap_or(input),
            output: self.output_tokens.unwrap_or(0),
            from_usage: true,
            reasoning,
        }
    }
}

/// One Responses event: its type, its `delta` (`T`: [`Token`] or [`Text`]), the response it
/// carries.
#[derive(serde::Deserialize)]
struct ResponsesEvent<'a, T> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    delta: Option<T>,
    response: Option<ResponseState>,
}

/// The response object of `response.completed` / `response.failed`.
#[derive(serde::Deserialize)]
struct ResponseState {
    usage: Option<ResponsesUsage>,
}

/// One Anthropic Messages event.
#[derive(serde::Deserialize)]
struct MessagesEvent<'a, T> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    /// `content_block_delta`'s delta (`text_delta`, `thinking_delta`, `signature_delta`, ...).
    delta: Option<BlockDelta<T>>,
    /// `message_start`'s message.
    message: Option<StartedMessage>,
    /// `message_delta`'s usage.
    usage: Option<MessagesUsage>,
}

#[derive(serde::Deserialize)]
struct BlockDelta<T> {
    text: Option<T>,
    thinking: Option<T>,
}

#[derive(serde::Deserialize)]
struct StartedMessage {
    usage: Option<MessagesUsage>,
}

impl ChunkStream {
    /// A stream of `api`'s events; `keep_text` keeps the text received (answer and reasoning).
    pub fn new(api: Api, keep_text: bool) -> ChunkStream {
        ChunkStream {
            api,
            text: keep_text.then(AnswerText::default),
            ..ChunkStream::default()
        }
    }

    /// Parses one body frame that arrived at `now`.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Result<(), SseError> {
        // The parser is taken out for the call so each event can update the rest of `self`.
        let mut parser = std::mem::take(&mut self.parser);
        let keep_text = self.text.is_some();
        let result = parser.feed(bytes, |event| {
            if event.is_error {
                return Err(SseError::ErrorEvent(error_message(event.data)));
            }
            // One read of each event: its text taken in the same pass when it is kept.
            if keep_text {
                self.event::<Text<'_>>(event.data, now)
            } else {
                self.event::<Token>(event.data, now)
            }
        });
        self.parser = parser;
        result
    }

    /// One event of the stream's API, its deltas read as `T`.
    fn event<'d, T>(&mut self, data: &'d [u8], now: Instant) -> Result<(), SseError>
    where
        T: Part + Deserialize<'d>,
        T::Choices: Deserialize<'d>,
    {
        match self.api {
            Api::OpenaiChat => self.chat_event::<T::Choices>(data, now),
            Api::OpenaiResponses => {
                self.responses_event(parse::<ResponsesEvent<'_, T>>(data)?, data, now)
            }
            Api::AnthropicMessages => {
                self.messages_event(parse::<MessagesEvent<'_, T>>(data)?, data, now)
            }
        }
    }

    fn chat_event<'d, C: Choices + Deserialize<'d>>(
        &mut self,
        data: &'d [u8],
        now: Instant,
    ) -> Result<(), SseError> {
        if data == b"[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk<C> = parse(data)?;
        if chunk.error.is_some() {
            return Err(SseError::ErrorEvent(error_message(data)));
        }
        self.chunks += 1;
        if let Some(u) = chunk.usage {
            self.usage = Some(u.tokens());
        }
        if let Some(choices) = chunk.choices {
            self.note(choices.seen(), now, |text| choices.append(text));
        }
        Ok(())
    }

    fn responses_event<T: Part>(
        &mut self,
        event: ResponsesEvent<'_, T>,
        data: &[u8],
        now: Instant,
    ) -> Result<(), SseError> {
        self.chunks += 1;
        match (event.kind.as_ref(), event.delta.filter(T::is_token)) {
            ("response.output_text.delta" | "response.refusal.delta", Some(delta)) => {
                self.note(Seen::ANSWER, now, |text| text.answer.push_str(delta.text()));
            }
            (
                "response.reasoning_summary_text.delta" | "response.reasoning_text.delta",
                Some(delta),
            ) => {
                self.note(Seen::REASONING, now, |text| {
                    text.reasoning.push_str(delta.text())
                });
            }
            ("response.completed" | "response.incomplete", _) => {
                self.done = true;
                if let Some(usage) = event.response.and_then(|r| r.usage) {
                    self.usage = Some(usage.tokens());
                }
            }
            ("response.failed" | "error", _) => {
                let value: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
                let error = value.pointer("/response/error").unwrap_or(&value);
                let error = error.get("error").unwrap_or(error);
                return Err(SseError::ErrorEvent(super::validate::error_text(error)));
            }
            _ => {}
        }
        Ok(())
    }

    fn messages_event<T: Part>(
        &mut self,
        event: MessagesEvent<'_, T>,
        data: &[u8],
        now: Instant,
    ) -> Result<(), SseError> {
        self.chunks += 1;
        match event.kind.as_ref() {
            "content_block_delta" => {
                if let Some(delta) = event.delta {
                    let seen = Seen {
                        answer: is_token(&delta.text),
                        reasoning: is_token(&delta.thinking),
                    };
                    self.note(seen, now, |text| {
                        text.reasoning.push_str(text_of(&delta.thinking));
                        text.answer.push_str(text_of(&delta.text));
                    });
                }
            }
            "message_start" => {
                let usage = event.message.and_then(|m| m.usage);
                self.started_input = usage.and_then(|u| u.input_tokens).unwrap_or(0);
            }
            "message_delta" => {
                if let Some(u) = event.usage {
                    // The thinking deltas counted stand for the reasoning `usage` omits.
                    let reasoning = self.timing.reasoning_chunks;
                    self.usage = Some(u.tokens(self.started_input, reasoning));
                }
            }
            "message_stop" => self.done = true,
            "error" => return Err(SseError::ErrorEvent(error_message(data))),
            _ => {}
        }
        Ok(())
    }

    /// Times the token(s) an event carried and, when the text is kept, appends theirs.
    fn note(&mut self, seen: Seen, now: Instant, append: impl FnOnce(&mut AnswerText)) {
        if !(seen.answer || seen.reasoning) {
            return;
        }
        if seen.answer && seen.reasoning {
            // Both in one event: the reasoning is the earlier of the two.
            self.timing.first_reasoning.get_or_insert(now);
        }
        self.timing.token(!seen.answer, now);
        if let Some(text) = &mut self.text {
            append(text);
        }
    }

    /// Tokens: from `usage` when sent, else the token deltas counted (and the prompt tokens
    /// an Anthropic `message_start` reported).
    pub fn tokens(&self) -> Tokens {
        self.usage.unwrap_or(Tokens {
            input: self.started_input,
            output: self.timing.content_chunks,
            from_usage: false,
            reasoning: self.timing.reasoning_chunks,
        })
    }

    /// The terminal event this stream's protocol ends with, for messages.
    pub fn terminal_event(&self) -> &'static str {
        match self.api {
            Api::OpenaiChat => "[DONE]",
            Api::OpenaiResponses => "response.completed",
            Api::AnthropicMessages => "message_stop",
        }
    }

    /// What the stream is, for messages.
    pub fn protocol(&self) -> &'static str {
        match self.api {
            Api::OpenaiChat => "chat-completion",
            Api::OpenaiResponses => "Responses",
            Api::AnthropicMessages => "Anthropic Messages",
        }
    }
}

/// An event's data as `T`, or why it is not one.
fn parse<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Result<T, SseError> {
    serde_json::from_slice(data)
        .map_err(|e| SseError::BadChunk(format!("{e}: {}", super::body::excerpt(data))))
}

/// The message of an error event: its JSON `error` (or the event itself, for `event: error`)
/// as one line when it is JSON, else its text.
fn error_message(data: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(value) => {
            let error = value.get("error").unwrap_or(&value);
            super::validate::error_text(error)
        }
        Err(_) => super::body::excerpt(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, |e| {
                out.push(String::from_utf8_lossy(e.data).into_owned());
                Ok(())
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn parses_split_crlf_comments_and_multiline() {
        let got = events(&[
            b": ping\r\n\r\nda",
            b"ta: a\r",
            b"\ndata:b\r\n",
            b"\r\nevent: x\ndata: c\n\ndata: [DONE]\r\r",
        ]);
        assert_eq!(got, vec!["a\nb", "c", "[DONE]"]);
        // A lone CR ends a line even when not followed by LF.
        assert_eq!(events(&[b"data: x\r\rdata: y\n\n"]), vec!["x", "y"]);
        // An event without a blank line after it is not dispatched (truncated stream).
        assert!(events(&[b"data: partial\n"]).is_empty());
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(cut1 in 0usize..120, cut2 in 0usize..120) {
            let text: &[u8] = b": c\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\nid: 3\r\ndata: z\r\r";
            let (a, b) = (cut1.min(text.len()), cut2.min(text.len()));
            let (lo, hi) = (a.min(b), a.max(b));
            let got = events(&[&text[..lo], &text[lo..hi], &text[hi..]]);
            prop_assert_eq!(got, vec!["{\"a\":1}".to_string(), "x\ny".into(), "z".into()]);
        }
    }

    #[test]
    fn oversized_lines_are_rejected_not_buffered() {
        let mut p = SseParser::default();
        let big = vec![b'a'; 64 * 1024];
        let mut result = Ok(());
        for _ in 0..20 {
            result = p.feed(&big, |_| Ok(()));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::TooLarge));
    }

    fn delta(content: &str) -> String {
        format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n")
    }

    #[test]
    fn times_content_tokens_and_reads_usage() {
        let mut s = ChunkStream::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // The role-only first chunk and empty deltas are not tokens.
        s.feed(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            ms(5),
        )
        .unwrap();
        s.feed(delta("").as_bytes(), ms(6)).unwrap();
        s.feed(delta("Hel").as_bytes(), ms(10)).unwrap();
        let two = delta("lo") + &delta(" world");
        s.feed(&two.as_bytes()[..20], ms(30)).unwrap();
        s.feed(&two.as_bytes()[20..], ms(45)).unwrap();
        assert_eq!(s.timing.first_token, Some(ms(10)));
        assert_eq!(s.timing.content_chunks, 3);
        assert_eq!(
            s.timing.inter_token,
            vec![Duration::from_millis(35), Duration::ZERO]
        );
        assert_eq!(s.tokens().output, 3);
        assert!(!s.tokens().from_usage);
        s.feed(
            b"data: {\"choices\":null,\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n",
            ms(50),
        )
        .unwrap();
        assert!(s.done);
        assert_eq!(
            s.tokens(),
            Tokens {
                input: 9,
                output: 4,
                from_usage: true,
                reasoning: 0
            }
        );
    }

    #[test]
    fn garbage_chunks_and_error_events_are_told_apart() {
        let mut s = ChunkStream::default();
        let err = s.feed(b"data: {not json\n\n", Instant::now()).unwrap_err();
        assert!(matches!(err, SseError::BadChunk(_)), "{err}");
        let mut s = ChunkStream::default();
        let err = s
            .feed(
                b"data: {\"error\":{\"message\":\"boom\",\"code\":503}}\n\n",
                Instant::now(),
            )
            .unwrap_err();
        assert_eq!(err, SseError::ErrorEvent("(503) boom".into()));
        // An event of type `error` is one whatever its data says.
        for (data, message) in [
            ("{\"message\":\"quota\"}", "quota"),
            ("{\"error\":{\"message\":\"hết hạn mức\"}}", "hết hạn mức"),
            ("upstream   went\taway", "upstream went away"),
        ] {
            let mut s = ChunkStream::default();
            let event = format!("event: error\ndata: {data}\n\n");
            let err = s.feed(event.as_bytes(), Instant::now()).unwrap_err();
            assert_eq!(err, SseError::ErrorEvent(message.into()));
        }
        // The type belongs to its event only.
        let mut s = ChunkStream::default();
        s.feed(b"event: error\n\ndata: [DONE]\n\n", Instant::now())
            .unwrap();
        assert!(s.done);
    }

    #[test]
    fn reasoning_deltas_are_tokens_and_start_the_ttft() {
        let mut s = ChunkStream::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let reasoning = |field: &str, text: &str| {
            format!("data: {{\"choices\":[{{\"delta\":{{\"{field}\":\"{text}\"}}}}]}}\n\n")
        };
        s.feed(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            ms(1),
        )
        .unwrap();
        s.feed(reasoning("reasoning_content", "").as_bytes(), ms(2))
            .unwrap();
        s.feed(reasoning("reasoning_content", "Hmm").as_bytes(), ms(10))
            .unwrap();
        s.feed(reasoning("reasoning", " so").as_bytes(), ms(20))
            .unwrap();
        s.feed(delta("Answer").as_bytes(), ms(50)).unwrap();
        assert_eq!(s.timing.first_token, Some(ms(10)));
        assert_eq!(s.timing.content_chunks, 3);
        assert_eq!(
            s.timing.inter_token,
            vec![Duration::from_millis(10), Duration::from_millis(30)]
        );
        assert_eq!(s.chunks, 5);
    }

    /// Feeds one event's data to a fresh stream of `api` that keeps its text.
    fn kept(api: Api, events: &[&str]) -> ChunkStream {
        let mut s = ChunkStream::new(api, true);
        for data in events {
            s.feed(format!("data: {data}\n\n").as_bytes(), Instant::now())
                .unwrap();
        }
        s
    }

    #[test]
    fn each_api_keeps_answer_and_reasoning_apart_in_the_pass_that_times_them() {
        let chat = kept(
            Api::OpenaiChat,
            &[
                r#"{"choices":[{"delta":{"reasoning_content":" hm"}}]}"#,
                r#"{"choices":[{"delta":{"content":" hi","reasoning":null}}]}"#,
            ],
        );
        let responses = kept(
            Api::OpenaiResponses,
            &[
                r#"{"type":"response.reasoning_summary_text.delta","delta":" so"}"#,
                r#"{"type":"response.output_text.delta","delta":" there"}"#,
            ],
        );
        let messages = kept(
            Api::AnthropicMessages,
            &[
                r#"{"type":"content_block_delta","delta":{"type":"thinking_delta","thinking":" ok"}}"#,
                r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"!"}}"#,
            ],
        );
        let mut t = AnswerText::default();
        for s in [&chat, &responses, &messages] {
            let kept = s.text.as_ref().expect("kept");
            t.reasoning.push_str(&kept.reasoning);
            t.answer.push_str(&kept.answer);
            assert_eq!(s.timing.content_chunks, 2);
        }
        assert_eq!(t.reasoning, " hm so ok");
        assert_eq!(t.answer, " hi there!");
        // Escaped text is unescaped; a delta that is no string is no token and no text.
        let s = kept(
            Api::OpenaiChat,
            &[
                r#"{"choices":[{"delta":{"content":"a\n\"b\u00e9"}}]}"#,
                r#"{"choices":[{"delta":{"content":{"x":1},"reasoning":7}}]}"#,
            ],
        );
        assert_eq!(s.text.as_ref().unwrap().answer, "a\n\"b\u{e9}");
        assert_eq!(s.timing.content_chunks, 1);
        // Not asked: nothing of the text is kept.
        let mut s = ChunkStream::new(Api::OpenaiChat, false);
        s.feed(delta("hi").as_bytes(), Instant::now()).unwrap();
        assert_eq!((s.text, s.timing.content_chunks), (None, 1));
    }

    /// An error event whose message is cut at byte 200 of its JSON inside a multi-byte
    /// character (relays in Vietnam and China send exactly these).
    #[test]
    fn error_events_in_any_script_are_reported_not_panicked_on() {
        for (message, fill) in [
            ("Lỗi máy chủ: vượt quá hạn mức", "ạ"),
            ("服务器错误：超出配额", "错"),
            ("x", "é"),
        ] {
            for pad in 0..4 {
                let text = format!("{message}{}{}", "a".repeat(pad), fill.repeat(120));
                let event = format!("data: {{\"error\":{{\"message\":\"{text}\"}}}}\n\n");
                let mut s = ChunkStream::default();
                let err = s
                    .feed(event.as_bytes(), Instant::now())
                    .expect_err("an error event fails the stream");
                let SseError::ErrorEvent(text) = err else {
                    panic!("{err}");
                };
                assert!(text.starts_with(message), "{text}");
                assert!(text.chars().count() <= 200, "{text}");
            }
        }
    }
}
