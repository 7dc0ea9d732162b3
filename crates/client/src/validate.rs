//! Whether an answer is valid: a 2xx must be an answer of its request's protocol (chat completion, Responses, Anthropic message, embeddings, or a stream of one of them) and pass the user's `expect` checks, else it is `bad_response`; the verdict, its tokens and its excerpt (never holding the request's secrets).
//!
//! Only the content is judged, never the `content-type`: an HTML page or a JSON error body sent
//! for a stream fails the body's own check (no chunk in it) and its excerpt shows what came,
//! while reading the header would cost every response a header lookup to say the same.
//!
//! An error event inside a 200 stream is the upstream's failure of the answer, as an `error`
//! object in a 200 JSON body is: both are `bad_response`. `io_bad_sse` is kept for a stream
//! that broke mid-way (a malformed chunk after well-formed ones), as `io_truncated` is for one
//! cut short; a body that never held one chunk was no stream at all: `bad_response`.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{
    answer_text,
    body::{excerpt, BodyRead},
    exchange::{AnswerText, BodyKind, RequestSpec, StreamTiming, Tokens},
    sse::{ChatUsage, ChunkStream, MessagesUsage, ResponsesUsage, SseError},
};
use crate::outcome::{IoKind, Outcome};
use http::{HeaderMap, StatusCode};
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use std::{borrow::Cow, fmt, marker::PhantomData};

/// The verdict on an answer read to its end.
#[derive(Debug)]
pub struct Answer {
    /// How the attempt ends: `ok`, `bad_response`, `status_N`, or `io_truncated` (a stream
    /// that ended without `[DONE]` after it had delivered tokens).
    pub outcome: Outcome,
    /// Tokens the answer carried (on a failed answer: those it delivered, for spend).
    pub tokens: Option<Tokens>,
    /// Token timing of a valid stream.
    pub stream: Option<StreamTiming>,
    /// The text of a valid answer, when the spec asked to keep it.
    pub text: Option<Box<AnswerText>>,
    /// What was wrong, with an excerpt of what came (redacted of the request's secrets).
    pub detail: Option<String>,
}

/// Judges the answer to `spec` that came with `status` and was read to its end (its stream's
/// timing is taken out of `read` when the answer is valid).
pub fn answer(spec: &RequestSpec, status: StatusCode, read: &mut BodyRead) -> Answer {
    let redacted = |text: String| Some(redact(text, &spec.headers));
    if !status.is_success() {
        return Answer {
            outcome: Outcome::Status(status.as_u16()),
            tokens: None,
            stream: None,
            text: None,
            detail: redacted(excerpt(&read.kept)),
        };
    }
    if spec.body_kind == BodyKind::Opaque && spec.expect.is_none() {
        return Answer::ok(None, None); // any 2xx: the benchmark-against-nginx path
    }
    let (tokens, verdict) = match &read.stream {
        Some(stream) => (Some(stream.tokens()), judge_stream(stream, read)),
        None => judge_body(spec.body_kind, read),
    };
    match expectation(spec, status, read).and(verdict) {
        Ok(()) => {
            let mut ok = Answer::ok(tokens, None);
            match read.stream.take() {
                Some(stream) => {
                    ok.text = stream.text.map(Box::new);
                    ok.stream = Some(stream.timing);
                }
                None if spec.keep_text && read.whole => {
                    ok.text = spec
                        .body_kind
                        .api()
                        .and_then(|api| answer_text::of_body(api, &read.kept))
                        .map(Box::new);
                }
                None => {}
            }
            ok
        }
        Err((outcome, detail)) => Answer {
            outcome,
            tokens,
            stream: None,
            text: None,
            detail: redacted(detail),
        },
    }
}

impl Answer {
    fn ok(tokens: Option<Tokens>, stream: Option<StreamTiming>) -> Answer {
        Answer {
            outcome: Outcome::Ok,
            tokens,
            stream,
            text: None,
            detail: None,
        }
    }
}

/// Why an answer is not a valid one: the outcome it ends as, and what to show.
type Fault = (Outcome, String);

fn bad(detail: String) -> Fault {
    (Outcome::BadResponse, detail)
}

/// The user's checks (`expect_status`, `expect_body_contains`).
fn expectation(spec: &RequestSpec, status: StatusCode, read: &BodyRead) -> Result<(), Fault> {
    let Some(expect) = spec.expect.as_deref() else {
        return Ok(());
    };
    if !expect.status.is_empty() && !expect.status.contains(&status.as_u16()) {
        let listed: Vec<String> = expect.status.iter().map(u16::to_string).collect();
        return Err(bad(format!(
            "expected status {}, got {}",
            listed.join(" or "),
            status.as_u16()
        )));
    }
    if let (Some(text), Some(false)) = (&expect.body_contains, read.found) {
        return Err(bad(format!(
            "expected the body to contain {text:?}; {}",
            began(read)
        )));
    }
    Ok(())
}

/// "it began: ..." or "the body was empty".
fn began(read: &BodyRead) -> String {
    if read.bytes == 0 {
        "the body was empty".into()
    } else {
        format!("it began: {}", excerpt(&read.kept))
    }
}

/// A stream that ended cleanly: valid when it held a chunk and ended with its protocol's
/// terminal event (`[DONE]`, `response.completed`, `message_stop`).
fn judge_stream(stream: &ChunkStream, read: &BodyRead) -> Result<(), Fault> {
    let (protocol, end) = (stream.protocol(), stream.terminal_event());
    if stream.chunks == 0 {
        return Err(bad(format!(
            "no {protocol} chunk in the stream; {}",
            began(read)
        )));
    }
    if stream.done {
        return Ok(());
    }
    if stream.timing.content_chunks == 0 && stream.usage.is_none() {
        return Err(bad(format!(
            "the stream ended without content and without {end}"
        )));
    }
    Err((
        Outcome::Io(IoKind::Truncated),
        format!(
            "the stream ended without {end} after {} tokens",
            stream.tokens().output
        ),
    ))
}

/// A stream that could not be read on: an error event, or a malformed chunk or event.
pub fn stream_failure(stream: &ChunkStream, error: SseError) -> Fault {
    match error {
        SseError::ErrorEvent(message) => bad(format!("error event in the stream: {message}")),
        e if stream.chunks == 0 => bad(format!("not a {} stream: {e}", stream.protocol())),
        e => (Outcome::Io(IoKind::BadSse), e.to_string()),
    }
}

/// A whole JSON answer (or an opaque one, which is any body): its verdict and `usage`.
fn judge_body(kind: BodyKind, read: &BodyRead) -> (Option<Tokens>, Result<(), Fault>) {
    let (protocol, needs) = match kind {
        BodyKind::Opaque | BodyKind::Sse | BodyKind::ResponsesSse | BodyKind::MessagesSse => {
            return (None, Ok(()))
        }
        BodyKind::Json => ("a chat completion", "`choices`, each with a `message`"),
        BodyKind::Embeddings => ("an embeddings answer", "`data`, each with an `embedding`"),
        BodyKind::Responses => ("a Responses answer", "an `output` list"),
        BodyKind::Messages => (
            "an Anthropic message",
            "`\"type\": \"message\"` and `content`",
        ),
    };
    if !read.whole {
        // Too large to keep: not judged, rather than judged bad for what was not seen.
        return (None, Ok(()));
    }
    let body = read.kept.as_slice();
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return (None, Err(bad("the body was empty".into()))),
        Some(b'{') => {}
        Some(_) => {
            let detail = format!("not a JSON object: {}", excerpt(body));
            return (None, Err(bad(detail)));
        }
    }
    let parsed = match kind {
        BodyKind::Embeddings => serde_json::from_slice::<EmbeddingsAnswer>(body).map(Parts::from),
        BodyKind::Responses => serde_json::from_slice::<ResponsesAnswer>(body).map(Parts::from),
        BodyKind::Messages => serde_json::from_slice::<MessagesAnswer>(body).map(Parts::from),
        _ => serde_json::from_slice::<ChatAnswer>(body).map(Parts::from),
    };
    let parts = match parsed {
        Ok(parts) => parts,
        Err(e) => {
            let what = if e.is_data() { protocol } else { "JSON" };
            return (
                None,
                Err(bad(format!("not {what} ({e}): {}", excerpt(body)))),
            );
        }
    };
    let tokens = parts.usage;
    if parts.error {
        // Read again, in full, only now: the message is wanted on this rare path alone.
        let error = serde_json::from_slice::<ErrorAnswer>(body).map(|a| a.error);
        let text = error.map_or_else(|_| excerpt(body), |e| error_text(&e));
        return (tokens, Err(bad(format!("error object: {text}"))));
    }
    let verdict = match parts.list {
        Some(Counts {
            entries,
            incomplete: 0,
        }) if entries > 0 => Ok(()),
        _ => Err(bad(format!("{protocol} needs {needs}: {}", excerpt(body)))),
    };
    (tokens, verdict)
}

/// What the verdict on a JSON answer needs, whichever its protocol.
struct Parts {
    /// It had a (non-null) `error`.
    error: bool,
    /// Its list of answers (`choices` or `data`), counted.
    list: Option<Counts>,
    /// Its token counts.
    usage: Option<Tokens>,
}

/// A chat completion, read in one pass without keeping its content. (`error` is only noted:
/// parsing it into a value on every answer would cost every valid answer for the rare bad one.)
#[derive(serde::Deserialize)]
struct ChatAnswer {
    #[serde(default)]
    error: Option<IgnoredAny>,
    choices: Option<Tally<ChatChoice>>,
    usage: Option<ChatUsage>,
}

/// An embeddings answer, read in one pass without keeping the vectors.
#[derive(serde::Deserialize)]
struct EmbeddingsAnswer {
    #[serde(default)]
    error: Option<IgnoredAny>,
    data: Option<Tally<EmbeddingEntry>>,
    usage: Option<ChatUsage>,
}

/// An OpenAI Responses answer, read in one pass without keeping its content. (`error` is
/// `null` on a valid one.)
#[derive(serde::Deserialize)]
struct ResponsesAnswer {
    #[serde(default)]
    error: Option<IgnoredAny>,
    output: Option<Tally<IgnoredEntry>>,
    usage: Option<ResponsesUsage>,
}

/// An Anthropic Messages answer; a 2xx `{"type":"error",...}` body is an error.
#[derive(serde::Deserialize)]
struct MessagesAnswer<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    error: Option<IgnoredAny>,
    content: Option<Tally<IgnoredEntry>>,
    usage: Option<MessagesUsage>,
}

impl From<ChatAnswer> for Parts {
    fn from(a: ChatAnswer) -> Parts {
        Parts {
            error: a.error.is_some(),
            list: a.choices.map(|t| t.counts),
            usage: a.usage.map(|u| u.tokens()),
        }
    }
}

impl From<EmbeddingsAnswer> for Parts {
    fn from(a: EmbeddingsAnswer) -> Parts {
        Parts {
            error: a.error.is_some(),
            list: a.data.map(|t| t.counts),
            usage: a.usage.map(|u| u.tokens()),
        }
    }
}

impl From<ResponsesAnswer> for Parts {
    fn from(a: ResponsesAnswer) -> Parts {
        // An empty `output` is a valid answer (max_output_tokens = 0): the list must only be there.
        let list = a.output.map(|t| Counts {
            entries: t.counts.entries.max(1),
            ..t.counts
        });
        Parts {
            error: a.error.is_some(),
            list,
            usage: a.usage.map(|u| u.tokens()),
        }
    }
}

impl From<MessagesAnswer<'_>> for Parts {
    fn from(a: MessagesAnswer<'_>) -> Parts {
        let is_message = a.kind.as_deref() == Some("message");
        let list = a.content.filter(|_| is_message).map(|t| Counts {
            entries: t.counts.entries.max(1),
            ..t.counts
        });
        Parts {
            error: a.error.is_some() || a.kind.as_deref() == Some("error"),
            list,
            usage: a.usage.map(|u| u.tokens(0, 0)),
        }
    }
}

/// An entry of a list that is only counted.
#[derive(serde::Deserialize)]
struct IgnoredEntry(#[allow(dead_code)] IgnoredAny);

impl Entry for IgnoredEntry {
    fn complete(&self) -> bool {
        true
    }
}

/// An answer's error object, in full.
#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error: Value,
}

/// An entry of a list in an answer, which may lack what a valid answer needs.
trait Entry {
    /// Whether it has it.
    fn complete(&self) -> bool;
}

#[derive(serde::Deserialize)]
struct ChatChoice {
    message: Option<IgnoredAny>,
}

impl Entry for ChatChoice {
    fn complete(&self) -> bool {
        self.message.is_some()
    }
}

#[derive(serde::Deserialize)]
struct EmbeddingEntry {
    embedding: Option<IgnoredAny>,
}

impl Entry for EmbeddingEntry {
    fn complete(&self) -> bool {
        self.embedding.is_some()
    }
}

/// How many entries a list had, and how many of them were incomplete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    /// Entries.
    entries: usize,
    /// Entries without what they need.
    incomplete: usize,
}

/// A list counted entry by entry as it is parsed, never kept.
struct Tally<T> {
    /// What was counted.
    counts: Counts,
    /// The shape each entry is read as.
    shape: PhantomData<T>,
}

impl<'de, T: Deserialize<'de> + Entry> Deserialize<'de> for Tally<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Entry> Visitor<'de> for Counter<T> {
            type Value = Tally<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tally<T>, A::Error> {
                let mut counts = Counts::default();
                while let Some(entry) = seq.next_element::<T>()? {
                    counts.entries += 1;
                    if !entry.complete() {
                        counts.incomplete += 1;
                    }
                }
                Ok(Tally {
                    counts,
                    shape: PhantomData,
                })
            }
        }
        deserializer.deserialize_seq(Counter(PhantomData))
    }
}

/// An upstream's error object as one line: its `message` (and `code`) when it has one, else
/// its JSON; an excerpt, cut at a character boundary.
pub fn error_text(error: &Value) -> String {
    let text = match error {
        Value::String(message) => message.clone(),
        Value::Object(fields) => match fields.get("message").and_then(Value::as_str) {
            Some(message) => match fields.get("code").filter(|c| !c.is_null()) {
                Some(Value::String(code)) => format!("({code}) {message}"),
                Some(code) => format!("({code}) {message}"),
                None => message.to_string(),
            },
            None => error.to_string(),
        },
        other => other.to_string(),
    };
    excerpt(text.as_bytes())
}

/// Header names whose values are credentials whether or not they were marked sensitive.
const CREDENTIAL_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "cookie",
    "x-goog-api-key",
];

/// Shortest value (or word of a value) treated as a secret: shorter ones (`Bearer`) would blot
/// out ordinary words.
const SECRET_MIN: usize = 8;

/// Shortest start of a secret removed from the end of an excerpt that cut the secret short.
const SECRET_PREFIX_MIN: usize = 6;

/// `text` with every credential of the request (values of sensitive or credential headers,
/// whole and word by word) replaced by `[redacted]`, including the start of one cut off at
/// the end of an excerpt. An upstream may echo a key back; a report must not show it.
pub fn redact(mut text: String, headers: &HeaderMap) -> String {
    let secrets = headers
        .iter()
        .filter(|(name, value)| value.is_sensitive() || CREDENTIAL_HEADERS.contains(&name.as_str()))
        .filter_map(|(_, value)| value.to_str().ok())
        .flat_map(|value| std::iter::once(value).chain(value.split_ascii_whitespace()))
        .filter(|secret| secret.len() >= SECRET_MIN);
    for secret in secrets {
        if text.contains(secret) {
            text = text.replace(secret, "[redacted]");
        }
        if secret.contains(' ') {
            continue; // its words are secrets of their own
        }
        let cut = (SECRET_PREFIX_MIN..secret.len())
            .rev()
            .filter_map(|n| secret.get(..n))
            .find(|start| text.ends_with(start));
        if let Some(start) = cut {
            text.truncate(text.len() - start.len());
            text.push_str("[redacted]");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Expect;
    use bytes::Bytes;
    use http::{HeaderValue, Method};
    use std::sync::Arc;

    fn spec(kind: BodyKind) -> RequestSpec {
        RequestSpec {
            method: Method::POST,
            path: "/v1/chat/completions".into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            body_kind: kind,
            expect: None,
            keep_text: false,
            record_headers: None,
        }
    }

    fn whole(body: &str) -> BodyRead {
        BodyRead {
            bytes: body.len() as u64,
            kept: body.as_bytes().to_vec(),
            whole: true,
            stream: None,
            found: None,
        }
    }

    fn judged(kind: BodyKind, body: &str) -> Answer {
        answer(&spec(kind), StatusCode::OK, &mut whole(body))
    }

    const CHAT: &str = r#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}"#;
    const EMBEDDINGS: &str = r#"{"object":"list","data":[{"index":0,"embedding":[0.1,-0.2]}],"usage":{"prompt_tokens":5,"total_tokens":5}}"#;

    #[test]
    fn valid_answers_are_ok_with_their_usage() {
        let chat = judged(BodyKind::Json, CHAT);
        assert_eq!(chat.outcome, Outcome::Ok, "{:?}", chat.detail);
        assert_eq!(
            chat.tokens,
            Some(Tokens {
                input: 12,
                output: 34,
                from_usage: true,
                reasoning: 0
            })
        );
        let embeddings = judged(BodyKind::Embeddings, EMBEDDINGS);
        assert_eq!(embeddings.outcome, Outcome::Ok, "{:?}", embeddings.detail);
        assert_eq!(embeddings.tokens.map(|t| t.input), Some(5));
        // A message without content (tool calls) is still a message; `error: null` is no error.
        let tools = r#"{"error":null,"choices":[{"message":{"content":null,"tool_calls":[]}}]}"#;
        assert_eq!(judged(BodyKind::Json, tools).outcome, Outcome::Ok);
        // Anything goes for an opaque answer.
        assert_eq!(judged(BodyKind::Opaque, "<html>").outcome, Outcome::Ok);
        assert_eq!(judged(BodyKind::Opaque, "").outcome, Outcome::Ok);
    }

    #[test]
    fn every_kind_of_invalid_json_answer_is_a_bad_response_saying_why() {
        let cases: [(BodyKind, &str, &str); 13] = [
            (BodyKind::Json, "", "the body was empty"),
            (BodyKind::Json, "  \n", "the body was empty"),
            (
                BodyKind::Json,
                "<!DOCTYPE html><title>502</title>",
                "not a JSON object: <!DOCTYPE html>",
            ),
            (BodyKind::Json, r#"["a"]"#, "not a JSON object"),
            (BodyKind::Json, r#"{"choices": [{"message": "#, "not JSON"),
            (
                BodyKind::Json,
                r#"{"choices": "many"}"#,
                "not a chat completion (invalid type",
            ),
            (
                BodyKind::Json,
                r#"{"error":{"message":"Bạn đã vượt quá hạn mức","type":"rate_limit","code":"quota"}}"#,
                "error object: (quota) Bạn đã vượt quá hạn mức",
            ),
            (
                BodyKind::Json,
                r#"{"error":"上游错误"}"#,
                "error object: 上游错误",
            ),
            (BodyKind::Json, r#"{"id":"x"}"#, "needs `choices`"),
            (BodyKind::Json, r#"{"choices":[]}"#, "needs `choices`"),
            (
                BodyKind::Json,
                r#"{"choices":[{"message":{}},{"delta":{}}]}"#,
                "each with a `message`",
            ),
            (
                BodyKind::Embeddings,
                r#"{"object":"list","data":[]}"#,
                "needs `data`",
            ),
            (BodyKind::Embeddings, CHAT, "needs `data`"),
        ];
        for (kind, body, says) in cases {
            let a = judged(kind, body);
            assert_eq!(a.outcome, Outcome::BadResponse, "{body}");
            let detail = a.detail.unwrap_or_default();
            assert!(detail.contains(says), "{body}: {detail}");
        }
        // An error object next to choices is still an error; its usage still counts for spend.
        let both = r#"{"error":{"message":"x"},"choices":[{"message":{}}],"usage":{"completion_tokens":3}}"#;
        let a = judged(BodyKind::Json, both);
        assert_eq!(a.outcome, Outcome::BadResponse);
        assert_eq!(a.tokens.map(|t| t.output), Some(3));
    }

    #[test]
    fn responses_and_anthropic_answers_are_judged_by_their_protocol() {
        let responses = r#"{"id":"r","object":"response","status":"completed","error":null,"output":[{"type":"reasoning","summary":[]},{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":7,"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2}}}"#;
        let a = judged(BodyKind::Responses, responses);
        assert_eq!(a.outcome, Outcome::Ok, "{:?}", a.detail);
        assert_eq!(
            a.tokens,
            Some(Tokens {
                input: 7,
                output: 5,
                from_usage: true,
                reasoning: 2
            })
        );
        let message = r#"{"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":7,"output_tokens":3}}"#;
        let a = judged(BodyKind::Messages, message);
        assert_eq!(a.outcome, Outcome::Ok, "{:?}", a.detail);
        assert_eq!(a.tokens.map(|t| (t.input, t.output)), Some((7, 3)));
        let cases: [(BodyKind, &str, &str); 6] = [
            (
                BodyKind::Messages,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                "error object: Overloaded",
            ),
            (
                BodyKind::Messages,
                "<html><body>502 Bad Gateway</body></html>",
                "not a JSON object",
            ),
            (BodyKind::Messages, CHAT, "needs `\"type\": \"message\"`"),
            (
                BodyKind::Responses,
                r#"{"error":{"code":"server_error","message":"boom"},"output":[]}"#,
                "error object: (server_error) boom",
            ),
            (BodyKind::Responses, CHAT, "needs an `output` list"),
            (BodyKind::Responses, "", "the body was empty"),
        ];
        for (kind, body, says) in cases {
            let a = judged(kind, body);
            assert_eq!(a.outcome, Outcome::BadResponse, "{body}");
            let detail = a.detail.unwrap_or_default();
            assert!(detail.contains(says), "{body}: {detail}");
        }
    }

    #[test]
    fn a_body_too_large_to_keep_is_not_judged() {
        let mut read = whole("<html>");
        read.whole = false;
        let a = answer(&spec(BodyKind::Json), StatusCode::OK, &mut read);
        assert_eq!(a.outcome, Outcome::Ok);
        assert_eq!(a.tokens, None);
    }

    #[test]
    fn non_success_statuses_keep_their_outcome_with_an_excerpt() {
        let a = answer(
            &spec(BodyKind::Sse),
            StatusCode::SERVICE_UNAVAILABLE,
            &mut whole("{\"error\":\n{\"message\":\"quá tải\"}}"),
        );
        assert_eq!(a.outcome, Outcome::Status(503));
        assert_eq!(
            a.detail.as_deref(),
            Some("{\"error\": {\"message\":\"quá tải\"}}")
        );
    }

    fn stream(events: &[&str]) -> (ChunkStream, Result<(), SseError>) {
        let mut s = ChunkStream::default();
        let mut result = Ok(());
        for e in events {
            result = s.feed(
                format!("data: {e}\n\n").as_bytes(),
                std::time::Instant::now(),
            );
            if result.is_err() {
                break;
            }
        }
        (s, result)
    }

    fn stream_verdict(events: &[&str]) -> (Outcome, String) {
        let (s, result) = stream(events);
        if let Err(e) = result {
            return stream_failure(&s, e);
        }
        let text = events.join("");
        let mut read = whole(&text);
        read.stream = Some(s);
        let a = answer(&spec(BodyKind::Sse), StatusCode::OK, &mut read);
        (a.outcome, a.detail.unwrap_or_default())
    }

    const DELTA: &str = r#"{"choices":[{"delta":{"content":"x"}}]}"#;
    const ROLE: &str = r#"{"choices":[{"delta":{"role":"assistant"}}]}"#;

    #[test]
    fn every_kind_of_stream_gets_its_verdict() {
        let bad = Outcome::BadResponse;
        let cases: [(&[&str], Outcome, &str); 9] = [
            (&[DELTA, DELTA, "[DONE]"], Outcome::Ok, ""),
            // No content but a proper end: valid (max_tokens = 0, a content filter).
            (&[ROLE, "[DONE]"], Outcome::Ok, ""),
            (&[], bad, "no chat-completion chunk"),
            (&["[DONE]"], bad, "no chat-completion chunk"),
            (&["<html>"], bad, "not a chat-completion stream"),
            (&[ROLE], bad, "without content and without [DONE]"),
            (
                &[DELTA, DELTA],
                Outcome::Io(IoKind::Truncated),
                "after 2 tokens",
            ),
            (
                &[DELTA, "{not json"],
                Outcome::Io(IoKind::BadSse),
                "bad stream chunk",
            ),
            (
                &[DELTA, r#"{"error":{"message":"上游服务不可用"}}"#],
                bad,
                "error event in the stream: 上游服务不可用",
            ),
        ];
        for (events, outcome, says) in cases {
            let (got, detail) = stream_verdict(events);
            assert_eq!(got, outcome, "{events:?}: {detail}");
            assert!(detail.contains(says), "{events:?}: {detail}");
        }
    }

    #[test]
    fn a_failed_stream_reports_the_tokens_it_delivered() {
        let (s, result) = stream(&[DELTA, DELTA, DELTA, r#"{"error":"cut"}"#]);
        assert!(result.is_err());
        assert_eq!(s.tokens().output, 3);
        let mut read = whole("");
        read.stream = Some(stream(&[DELTA, DELTA]).0);
        let a = answer(&spec(BodyKind::Sse), StatusCode::OK, &mut read);
        assert_eq!(a.outcome, Outcome::Io(IoKind::Truncated));
        assert_eq!(a.tokens.map(|t| t.output), Some(2));
        assert!(a.stream.is_none());
    }

    #[test]
    fn expectations_are_checked_before_the_protocol() {
        let mut s = spec(BodyKind::Opaque);
        s.expect = Some(Arc::new(Expect {
            status: vec![200, 204],
            body_contains: Some("pong".into()),
        }));
        let with = |status: u16, body: &str, found: bool| {
            let mut read = whole(body);
            read.found = Some(found);
            answer(&s, StatusCode::from_u16(status).unwrap(), &mut read)
        };
        assert_eq!(with(200, "pong", true).outcome, Outcome::Ok);
        let a = with(201, "pong", true);
        assert_eq!(a.outcome, Outcome::BadResponse);
        assert_eq!(
            a.detail.as_deref(),
            Some("expected status 200 or 204, got 201")
        );
        let a = with(204, "", false);
        assert_eq!(
            a.detail.as_deref(),
            Some("expected the body to contain \"pong\"; the body was empty")
        );
        let a = with(200, "<h1>ping</h1>", false);
        assert_eq!(
            a.detail.as_deref(),
            Some("expected the body to contain \"pong\"; it began: <h1>ping</h1>")
        );
        // A status outside the 2xx is its own outcome, whatever was expected.
        assert_eq!(with(503, "", false).outcome, Outcome::Status(503));
    }

    #[test]
    fn secrets_never_reach_an_excerpt() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-live-0123456789abcdef"),
        );
        let mut key = HeaderValue::from_static("team-secret-value");
        key.set_sensitive(true);
        headers.insert("x-custom", key);
        headers.insert("x-trace", HeaderValue::from_static("trace-id-visible"));
        let echoed =
            "invalid key sk-live-0123456789abcdef for team-secret-value (trace-id-visible)";
        assert_eq!(
            redact(echoed.into(), &headers),
            "invalid key [redacted] for [redacted] (trace-id-visible)"
        );
        // An excerpt that cut a key short does not show its start either.
        assert_eq!(
            redact("your key: sk-live-01234".into(), &headers),
            "your key: [redacted]"
        );
        assert_eq!(
            redact("Bearer is a word".into(), &headers),
            "Bearer is a word"
        );
        // End to end: a 401 echoing the key.
        let mut s = spec(BodyKind::Json);
        s.headers = headers;
        let a = answer(
            &s,
            StatusCode::UNAUTHORIZED,
            &mut whole(
                r#"{"error":{"message":"Incorrect API key provided: sk-live-0123456789abcdef"}}"#,
            ),
        );
        assert!(!a.detail.unwrap().contains("sk-live"));
    }
}
