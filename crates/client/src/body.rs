//! Reading a response body incrementally under the read timeout and the size limit: JSON kept (bounded) for its verdict and `usage`, SSE parsed and timed as it arrives, the user's expected text searched for; and the excerpts reports show of what an upstream sent.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{
    exchange::{BodyKind, RequestSpec, Tokens},
    message::ResponseBody,
    sse::ChunkStream,
    validate,
};
use crate::outcome::{IoKind, Outcome, Phase};
use http::StatusCode;
use std::{
    future::Future,
    task::Poll,
    time::{Duration, Instant},
};

/// Longest JSON body kept in memory to judge it and read `usage`; larger bodies are only
/// counted (and not judged: a body is never bad for being too large to keep).
const JSON_KEEP_LIMIT: usize = 256 * 1024;

/// Bytes kept of a body that is otherwise not kept, for the excerpt of a verdict against it
/// (a "stream" that never held an event, an `http` answer without the expected text).
const EXCERPT_KEEP: usize = 1024;

/// Longest excerpt, in characters.
const EXCERPT_CHARS: usize = 200;

/// What reading a body produced.
pub struct BodyRead {
    /// Bytes received.
    pub bytes: u64,
    /// The kept body: all of it (up to the limit) for JSON kinds and non-2xx answers; its
    /// start for a stream that has not yet held a chunk, or an answer searched for text.
    pub kept: Vec<u8>,
    /// Whether `kept` is the whole body (meaningful for the kinds that keep it whole; false
    /// once a body outgrew the keep limit).
    pub whole: bool,
    /// The parsed stream (SSE kind, 2xx).
    pub stream: Option<ChunkStream>,
    /// Whether the expected text (`expect.body_contains`) was in the body; `None` when not asked.
    pub found: Option<bool>,
}

/// Why a body could not be read to its end.
#[derive(Debug)]
pub struct BodyFailure {
    /// How the attempt ends.
    pub outcome: Outcome,
    /// What went wrong, for reports (redacted of the request's secrets).
    pub detail: Option<String>,
}

impl BodyFailure {
    fn new(outcome: Outcome) -> BodyFailure {
        BodyFailure {
            outcome,
            detail: None,
        }
    }
}

impl BodyRead {
    /// Keeps `data` while the kept part is whole and within `limit`; past it, only the start stays.
    fn keep(&mut self, data: &[u8], limit: usize) {
        if self.whole && self.kept.len() + data.len() <= limit {
            self.kept.extend_from_slice(data);
            return;
        }
        self.whole = false;
        let room = limit.min(EXCERPT_KEEP).saturating_sub(self.kept.len());
        self.kept
            .extend_from_slice(data.get(..room).unwrap_or(data));
    }
}

/// Reads the body of the answer to `spec` (with `status`) to its end; each wait for the next
/// piece is bounded by `read_timeout`. `seen` is kept current with the tokens a stream has
/// delivered, so that however the read ends — an error, a cut, the deadline dropping it
/// mid-way — the caller knows what was spent.
pub async fn read_body(
    mut body: ResponseBody<'_>,
    spec: &RequestSpec,
    status: StatusCode,
    read_timeout: Duration,
    max_body: u64,
    seen: &mut Option<Tokens>,
) -> Result<BodyRead, BodyFailure> {
    let success = status.is_success();
    let expected = spec
        .expect
        .as_deref()
        .and_then(|e| e.body_contains.as_deref())
        .filter(|_| success);
    let mut search = expected.map(|text| Search::new(text.as_bytes()));
    // Error bodies are kept (bounded) whatever the kind, so reports can show what the upstream
    // said; JSON answers to be judged; of an answer searched for text, its start for the excerpt.
    let whole_kind = !spec.body_kind.is_stream() && spec.body_kind != BodyKind::Opaque;
    let keep_limit = if !success || whole_kind {
        Some(JSON_KEEP_LIMIT)
    } else {
        search.as_ref().map(|_| EXCERPT_KEEP)
    };
    let mut read = BodyRead {
        bytes: 0,
        kept: Vec::new(),
        whole: true,
        stream: (success && spec.body_kind.is_stream())
            .then(|| ChunkStream::new(spec.body_kind.api().unwrap_or_default(), spec.keep_text)),
        found: None,
    };
    // One read timer for the whole body, registered with the runtime on its first wait and
    // pushed later for every wait after that (an atomic store), where a timer per piece
    // would enter and leave the timer wheel, under its lock, for every token of a stream.
    let mut timer = std::pin::pin!(None::<tokio::time::Sleep>);
    loop {
        // The timer restarts for every piece: a slow but steady stream never times out. It is
        // only armed when the piece is not already buffered (most bodies of small responses
        // are).
        let mut next = std::pin::pin!(body.next_data());
        let piece = match std::future::poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await {
            Poll::Ready(piece) => Some(piece),
            Poll::Pending => {
                let deadline = deadline_after(read_timeout);
                let mut sleep = match timer.as_mut().as_pin_mut() {
                    Some(mut sleep) => {
                        sleep.as_mut().reset(deadline);
                        sleep
                    }
                    None => {
                        timer.set(Some(tokio::time::sleep_until(deadline)));
                        timer.as_mut().as_pin_mut().expect("the timer was just set")
                    }
                };
                std::future::poll_fn(|cx| match next.as_mut().poll(cx) {
                    Poll::Ready(piece) => Poll::Ready(Some(piece)),
                    Poll::Pending => sleep.as_mut().poll(cx).map(|()| None),
                })
                .await
            }
        };
        let data = match piece {
            None => return Err(BodyFailure::new(Outcome::Timeout(Phase::Read))),
            Some(Err(outcome)) => return Err(BodyFailure::new(outcome)),
            Some(Ok(None)) => {
                read.found = search.map(|s| s.found);
                return Ok(read);
            }
            Some(Ok(Some(data))) => data,
        };
        read.bytes += data.len() as u64;
        if read.bytes > max_body {
            return Err(BodyFailure::new(Outcome::Io(IoKind::BodyTooLarge)));
        }
        if let Some(stream) = &mut read.stream {
            let fed = stream.feed(data, Instant::now());
            *seen = Some(stream.tokens());
            if let Err(e) = fed {
                let (outcome, detail) = validate::stream_failure(stream, e);
                return Err(BodyFailure {
                    outcome,
                    detail: Some(validate::redact(detail, &spec.headers)),
                });
            }
            // Only a body that has not yet shown itself a stream is kept, for the verdict's
            // excerpt; of a healthy stream, nothing is.
            if stream.chunks == 0 {
                read.keep(data, EXCERPT_KEEP);
            }
        } else if let Some(limit) = keep_limit {
            read.keep(data, limit);
        }
        if let Some(search) = &mut search {
            search.feed(data);
        }
    }
}

/// When a wait of `timeout` that starts now ends (far in the future for a timeout too large
/// to add, as `tokio::time::timeout` does).
fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// A search for the expected text in a body that arrives in pieces, matches across piece
/// boundaries included, keeping no more than the text's length of it.
struct Search<'a> {
    /// The text sought.
    finder: memchr::memmem::Finder<'a>,
    /// The end of what came so far: the last `len − 1` bytes, where a match may begin.
    tail: Vec<u8>,
    /// Whether it was found.
    found: bool,
}

impl<'a> Search<'a> {
    fn new(text: &'a [u8]) -> Search<'a> {
        Search {
            finder: memchr::memmem::Finder::new(text),
            tail: Vec::new(),
            found: text.is_empty(),
        }
    }

    fn feed(&mut self, piece: &[u8]) {
        if self.found {
            return;
        }
        let reach = self.finder.needle().len().saturating_sub(1);
        // A match that begins in the tail ends within the first `reach` bytes of this piece.
        self.tail
            .extend_from_slice(piece.get(..reach).unwrap_or(piece));
        if self.finder.find(&self.tail).is_some() || self.finder.find(piece).is_some() {
            self.found = true;
            return;
        }
        match piece.len().checked_sub(reach) {
            Some(from) => {
                self.tail.clear();
                self.tail
                    .extend_from_slice(piece.get(from..).unwrap_or_default());
            }
            // A short piece: the tail now holds all of it after the old tail; keep the end.
            None => {
                let excess = self.tail.len().saturating_sub(reach);
                self.tail.drain(..excess);
            }
        }
    }
}

/// A short printable excerpt of what an upstream sent, for reports: at most 200 characters,
/// cut at a character boundary (upstream text can be in any script), control characters and
/// runs of white space shown as one space.
pub fn excerpt(body: &[u8]) -> String {
    // A character is at most four bytes: this window holds the excerpt's characters whole, and
    // a character the byte cut splits lies beyond them.
    let window = body.get(..EXCERPT_CHARS * 4).unwrap_or(body);
    let mut out = String::new();
    let mut chars = 0;
    for c in String::from_utf8_lossy(window).chars() {
        if chars == EXCERPT_CHARS {
            break;
        }
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
        chars += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_at_character_boundaries_in_any_script() {
        for fill in ["ạ", "错", "é", "🦀", "a"] {
            for pad in 0..4 {
                let body = format!("{}{}", "x".repeat(pad), fill.repeat(400));
                let text = excerpt(body.as_bytes());
                assert_eq!(text.chars().count(), EXCERPT_CHARS, "{fill} {pad}");
                assert!(!text.contains('\u{FFFD}'), "{text}");
                assert!(body.starts_with(&text));
            }
        }
        assert_eq!(
            excerpt(b"<html>\r\n  <body>\tNot  found</body>\n"),
            "<html> <body> Not found</body>"
        );
        assert_eq!(excerpt(b""), "");
        // Bytes that are not UTF-8 are shown, not fatal.
        assert_eq!(excerpt(b"ok \xff\xfe end"), "ok \u{FFFD}\u{FFFD} end");
    }

    /// Every split of a body into pieces finds the text exactly when it is there.
    #[test]
    fn the_expected_text_is_found_across_any_split() {
        let body = b"HTTP says: the quick brown fox";
        for needle in [
            &b"quick"[..],
            b"fox",
            b"H",
            b"brown fox",
            b"says: the quick",
            b"cat",
        ] {
            let present = body.windows(needle.len()).any(|w| w == needle);
            for size in 1..body.len() {
                let mut search = Search::new(needle);
                for piece in body.chunks(size) {
                    search.feed(piece);
                }
                assert_eq!(search.found, present, "{needle:?} in pieces of {size}");
                // What is kept never grows past the text's length.
                assert!(search.found || search.tail.len() < needle.len());
            }
        }
    }
}
