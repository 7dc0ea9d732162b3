//! Incremental server-sent-events parsing (events split across chunks, CR/LF/CRLF, comments, multi-line data) and the OpenAI chunk stream on top of it: content deltas, `[DONE]`, `usage`.
//!
//! Written here rather than taken from a crate because the parser must work on hyper's
//! frames as they arrive (to timestamp each token), bound its memory, and stay allocation-
//! light on the hot path; the WHATWG grammar is small.

use super::exchange::{StreamTiming, Tokens};
use std::time::Instant;

/// Longest line (or event) kept before the stream is declared malformed.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Why a stream could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// An event or line exceeded the size bound.
    #[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    /// An event's data was not an OpenAI chunk.
    #[error("bad stream chunk: {0}")]
    BadChunk(String),
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
    /// The previous chunk ended in CR: a leading LF in the next one belongs to it.
    after_cr: bool,
}

impl SseParser {
    /// Parses `chunk`, calling `on_event` with the data of every completed event.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut on_event: impl FnMut(&[u8]) -> Result<(), SseError>,
    ) -> Result<(), SseError> {
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(b'\n') = rest.first() {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let terminator = rest[end];
            if self.line.is_empty() {
                self.line_done(&rest[..end], &mut on_event)?;
            } else {
                self.push_line(&rest[..end])?;
                let line = std::mem::take(&mut self.line);
                let result = self.line_done(&line, &mut on_event);
                self.line = line;
                self.line.clear();
                result?;
            }
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
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
        on_event: &mut impl FnMut(&[u8]) -> Result<(), SseError>,
    ) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                self.has_data = false;
                let result = on_event(&self.data);
                self.data.clear();
                return result;
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // a comment (often a keep-alive ping)
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                return Err(SseError::TooLarge);
            }
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        // `event`, `id`, `retry` and unknown fields do not matter to a load test.
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
}

#[derive(serde::Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
    error: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct Choice {
    delta: Option<Delta>,
}

#[derive(serde::Deserialize)]
struct Delta {
    content: Option<String>,
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
        } = self;
        parser.feed(bytes, |data| {
            if data == b"[DONE]" {
                *done = true;
                return Ok(());
            }
            let chunk: Chunk = serde_json::from_slice(data).map_err(|e| {
                SseError::BadChunk(format!(
                    "{e}: {}",
                    super::body::excerpt(&data[..data.len().min(120)])
                ))
            })?;
            if let Some(error) = chunk.error {
                let text = error.to_string();
                return Err(SseError::BadChunk(format!(
                    "error event: {}",
                    &text[..text.len().min(200)]
                )));
            }
            if let Some(u) = chunk.usage {
                *usage = Some(Tokens {
                    input: u.prompt_tokens,
                    output: u.completion_tokens,
                    from_usage: true,
                });
            }
            let has_content = chunk.choices.iter().any(|c| {
                c.delta
                    .as_ref()
                    .and_then(|d| d.content.as_deref())
                    .is_some_and(|s| !s.is_empty())
            });
            if has_content {
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

    /// Output tokens: from `usage` when sent, else the content deltas counted.
    pub fn tokens(&self) -> Tokens {
        self.usage.unwrap_or(Tokens {
            input: 0,
            output: self.timing.content_chunks,
            from_usage: false,
        })
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
            p.feed(c, |d| {
                out.push(String::from_utf8_lossy(d).into_owned());
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
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n",
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
    fn garbage_and_error_events_are_bad_sse() {
        let mut s = ChunkStream::default();
        assert!(s.feed(b"data: {not json\n\n", Instant::now()).is_err());
        let mut s = ChunkStream::default();
        assert!(s
            .feed(
                b"data: {\"error\":{\"message\":\"boom\"}}\n\n",
                Instant::now()
            )
            .is_err());
    }
}
