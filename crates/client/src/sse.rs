//! Incremental server-sent-events parsing (events split across chunks, CR/LF/CRLF, comments, multi-line data) and the OpenAI chunk stream on top of it: token deltas, `[DONE]`, `usage`, error events.
//!
//! Written here rather than taken from a crate because the parser must work on hyper's
//! frames as they arrive (to timestamp each token), bound its memory, and stay allocation-
//! light on the hot path; the WHATWG grammar is small. Upstream bytes are never indexed:
//! every cut is a checked split, so no stream can make the parser panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::exchange::{StreamTiming, Tokens};
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use std::{fmt, time::Instant};

/// Longest line (or event) kept before the stream is declared malformed.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Why a stream could not be read as a chat-completion stream.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// An event or line exceeded the size bound.
    #[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    /// An event's data was not an OpenAI chunk.
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

/// An OpenAI chat-completions stream being read: tokens timed as they arrive.
#[derive(Debug, Default)]
pub struct ChunkStream {
    /// The SSE layer.
    parser: SseParser,
    /// Token arrival times so far.
    pub timing: StreamTiming,
    /// `usage` from the final chunk, when the server sent one.
    pub usage: Option<Tokens>,
    /// Whether `data: [DONE]` arrived.
    pub done: bool,
    /// Well-formed chunks (JSON objects) seen: none means the body was no stream at all.
    pub chunks: u64,
}

/// One chunk, read without copying any of its text: whether it carries a token, its `usage`,
/// and whether it is an error (whose message is read again, in full, on that rare path).
#[derive(serde::Deserialize)]
struct Chunk {
    /// (Some relays send `"choices": null` with the final `usage`.)
    choices: Option<AnyToken>,
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct Choice {
    delta: Option<Delta>,
}

/// The parts of a delta that are tokens.
#[derive(serde::Deserialize)]
struct Delta {
    content: Option<Token>,
    /// DeepSeek-style reasoning tokens (also vLLM, SGLang).
    reasoning_content: Option<Token>,
    /// OpenRouter-style reasoning tokens.
    reasoning: Option<Token>,
}

impl Delta {
    /// Whether the delta carries a token of any kind (the role-only first chunk does not).
    fn has_token(&self) -> bool {
        [&self.content, &self.reasoning_content, &self.reasoning]
            .into_iter()
            .any(|part| part.as_ref().is_some_and(|t| t.0))
    }
}

/// Whether a delta's text is a token: a non-empty string.
struct Token(bool);

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Token, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = Token;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Token, E> {
                Ok(Token(!text.is_empty()))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// Whether any choice of a chunk carries a token.
struct AnyToken(bool);

impl<'de> Deserialize<'de> for AnyToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AnyToken, D::Error> {
        struct Choices;
        impl<'de> Visitor<'de> for Choices {
            type Value = AnyToken;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyToken, A::Error> {
                let mut any = false;
                while let Some(choice) = seq.next_element::<Choice>()? {
                    any |= choice.delta.is_some_and(|d| d.has_token());
                }
                Ok(AnyToken(any))
            }
        }
        deserializer.deserialize_seq(Choices)
    }
}

#[derive(serde::Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl ChunkStream {
    /// Parses one body frame that arrived at `now`.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Result<(), SseError> {
        let ChunkStream {
            parser,
            timing,
            usage,
            done,
            chunks,
        } = self;
        parser.feed(bytes, |event| {
            if event.data == b"[DONE]" {
                *done = true;
                return Ok(());
            }
            if event.is_error {
                return Err(SseError::ErrorEvent(error_message(event.data)));
            }
            let chunk: Chunk = serde_json::from_slice(event.data).map_err(|e| {
                SseError::BadChunk(format!("{e}: {}", super::body::excerpt(event.data)))
            })?;
            if chunk.error.is_some() {
                return Err(SseError::ErrorEvent(error_message(event.data)));
            }
            *chunks += 1;
            if let Some(u) = chunk.usage {
                *usage = Some(Tokens {
                    input: u.prompt_tokens,
                    output: u.completion_tokens,
                    from_usage: true,
                });
            }
            if chunk.choices.is_some_and(|c| c.0) {
                timing.content_chunks += 1;
                match timing.last_token {
                    None => timing.first_token = Some(now),
                    Some(last) => timing.inter_token.push(now.saturating_duration_since(last)),
                }
                timing.last_token = Some(now);
            }
            Ok(())
        })
    }

    /// Output tokens: from `usage` when sent, else the token deltas counted.
    pub fn tokens(&self) -> Tokens {
        self.usage.unwrap_or(Tokens {
            input: 0,
            output: self.timing.content_chunks,
            from_usage: false,
        })
    }
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
                from_usage: true
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
