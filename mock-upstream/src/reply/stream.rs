//! The streaming engine every protocol shares: a stream body that paces the tokens (TTFT,
//! inter-token gaps) on the server's [`Pacer`], records their lateness, and ends the stream
//! whole, cut or with an error event; a [`Framing`] turns each step into its protocol's SSE
//! events.

use super::pacer::Pacer;
use super::TokenKind;
use crate::body::{BodyCut, Chunk as BodyChunk, FrameSource, MockBody, FLUSH_BEFORE_CUT};
use crate::config::Latency;
use crate::connection::ConnState;
use crate::lateness::{Lateness, Timed};
use bytes::Bytes;
use rand::rngs::SmallRng;
use serde::Serialize;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// How a protocol writes a stream's events. Each method appends whole SSE events to `out`.
pub(crate) trait Framing: Send + 'static {
    /// Events sent with the headers, before the first token (role chunk, `message_start`, ...).
    fn open(&mut self, out: &mut Vec<u8>);
    /// The event(s) of one token, opening (and closing) blocks as the kind changes.
    fn token(&mut self, kind: TokenKind, word: &str, out: &mut Vec<u8>);
    /// Events after the last token: closing blocks, usage, the end marker.
    fn close(&mut self, out: &mut Vec<u8>);
    /// An in-stream error event; the stream ends after it.
    fn error(&mut self, out: &mut Vec<u8>);
}

/// Timing and capacity slot a stream carries into its body.
pub(crate) struct StreamPacing {
    /// When the reply was due (request accepted + injected latency): the first token's TTFT counts from here.
    pub due: Instant,
    pub ttft: Latency,
    pub inter_token: Latency,
    pub rng: SmallRng,
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Where the stream's timed sends are recorded (and its tokens counted).
    pub lateness: Arc<Lateness>,
    /// The server's stream timer.
    pub pacer: Arc<Pacer>,
}

/// How a stream ends.
pub(crate) enum Ending {
    /// All tokens, then the protocol's closing events.
    Complete,
    /// Halfway, the connection is ended (an injected `stream_cut`, or a `reset`).
    Cut(StreamCut),
    /// Halfway, an error event in the protocol's shape (an injected `stream_error`).
    Error,
}

/// How an injected fault ends a stream.
pub(crate) struct StreamCut {
    pub conn: Arc<ConnState>,
    pub reset: bool,
}

/// Largest frame that tokens already due are coalesced into; the rest follow in the next frame.
const MAX_FRAME: usize = 16 * 1024;

/// The stream body: the opening events at once, the first token `ttft` after the reply was
/// due, each later token one sampled `inter_token` gap after the previous token was *due*
/// (so a late token does not push the rest of the stream back), then the ending. A cut or
/// error comes halfway (right after the opening events when there are no tokens). Every token
/// is a timed send: its lateness is recorded when hyper takes the frame holding it (see
/// `lateness`).
///
/// No task of its own: hyper polls the body, which produces a frame when a token is due and
/// otherwise asks the server's [`Pacer`] to wake it then. Tokens that are all due when polled
/// (a mock behind its schedule, or gaps shorter than a wake-up) go out in one frame, each
/// still recorded against its own due time.
pub(crate) fn run<F: Framing>(
    framing: F,
    words: Vec<(TokenKind, &'static str)>,
    pacing: StreamPacing,
    ending: Ending,
) -> MockBody {
    let StreamPacing {
        due,
        ttft,
        inter_token,
        mut rng,
        permit,
        lateness,
        pacer,
    } = pacing;
    let stop_at = match ending {
        Ending::Complete => words.len(),
        _ => words.len() / 2,
    };
    let first_due = due + ttft.sample(&mut rng);
    MockBody::Stream(Box::new(TokenStream {
        framing,
        words,
        next: 0,
        stop_at,
        due: first_due,
        inter_token,
        rng,
        step: Step::Open,
        ending: Some(ending),
        permit,
        lateness,
        pacer,
        waiting: None,
    }))
}

/// Where a stream body is.
enum Step {
    /// Nothing sent yet: the opening events go out on the first poll.
    Open,
    /// Tokens `next..stop_at` to come.
    Tokens,
    /// The last good bytes are out; at this time the connection is cut.
    Cut(Instant, StreamCut),
    /// Everything sent.
    Done,
}

/// The state of one stream, polled by hyper for its frames.
struct TokenStream<F> {
    framing: F,
    words: Vec<(TokenKind, &'static str)>,
    /// Index of the next token.
    next: usize,
    /// Where the tokens end: all of them, or halfway for a cut or an error.
    stop_at: usize,
    /// When token `next` is due.
    due: Instant,
    inter_token: Latency,
    rng: SmallRng,
    step: Step,
    /// Taken when the last token is out.
    ending: Option<Ending>,
    /// Held until the stream ends: a stream occupies capacity while it runs.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    lateness: Arc<Lateness>,
    pacer: Arc<Pacer>,
    /// The time the pacer was asked to wake this stream at, if it has been.
    waiting: Option<Instant>,
}

impl<F: Framing> TokenStream<F> {
    /// Pending until `at`: asks the pacer for a wake-up, once per time.
    fn wait_for(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<Option<BodyChunk>> {
        if self.waiting != Some(at) {
            self.waiting = Some(at);
            self.pacer.wake_at(at, cx.waker());
        }
        Poll::Pending
    }

    /// Appends every token due by `now` (at least one, the caller has checked), and the ending
    /// after the last.
    fn due_tokens(&mut self, now: Instant, out: &mut Vec<u8>) {
        loop {
            let (kind, word) = self.words[self.next];
            self.framing.token(kind, word, out);
            let timed = if self.next == 0 {
                Timed::First
            } else {
                Timed::Later
            };
            self.lateness.record(timed, self.due, now);
            self.next += 1;
            if self.next >= self.stop_at {
                self.end(out);
                return;
            }
            self.due += self.inter_token.sample(&mut self.rng);
            if self.due > now || out.len() >= MAX_FRAME {
                return;
            }
        }
    }

    /// After the last token: the closing or error events into `out`, or the cut to come.
    fn end(&mut self, out: &mut Vec<u8>) {
        self.step = match self.ending.take() {
            Some(Ending::Cut(cut)) => Step::Cut(Instant::now() + FLUSH_BEFORE_CUT, cut),
            Some(Ending::Error) => {
                self.framing.error(out);
                Step::Done
            }
            Some(Ending::Complete) | None => {
                self.framing.close(out);
                Step::Done
            }
        };
        if matches!(self.step, Step::Done) {
            self.permit = None;
        }
    }
}

impl<F: Framing> FrameSource for TokenStream<F> {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<BodyChunk>> {
        match &self.step {
            Step::Open => {
                let mut out = Vec::with_capacity(512);
                self.framing.open(&mut out);
                self.step = Step::Tokens;
                if self.next >= self.stop_at {
                    self.end(&mut out);
                }
                Poll::Ready(Some(Ok(Bytes::from(out))))
            }
            Step::Tokens => {
                let now = Instant::now();
                if now < self.due {
                    return self.wait_for(self.due, cx);
                }
                let mut out = Vec::with_capacity(256);
                self.due_tokens(now, &mut out);
                Poll::Ready(Some(Ok(Bytes::from(out))))
            }
            Step::Cut(at, _) => {
                let at = *at;
                if Instant::now() < at {
                    return self.wait_for(at, cx);
                }
                if let Step::Cut(_, cut) = std::mem::replace(&mut self.step, Step::Done) {
                    if cut.reset {
                        cut.conn.request_reset();
                    }
                }
                self.permit = None;
                Poll::Ready(Some(Err(BodyCut)))
            }
            Step::Done => Poll::Ready(None),
        }
    }
}

/// Stands for a token's text while a token event is serialized once per stream: a control
/// character on each side, so its JSON form (`"\u0001word\u0001"`) cannot occur elsewhere.
pub(crate) const WORD_MARK: &str = "\u{1}word\u{1}";
/// Stands for a `sequence_number` likewise: no other number in an event is that long.
pub(crate) const SEQUENCE_MARK: u64 = u64::MAX;

/// A protocol's token event, serialized once per stream with [`WORD_MARK`] (and
/// [`SEQUENCE_MARK`]) in place of what changes per token and cut around them: a token then
/// costs a few copies instead of a serde pass, and serde stays the one definition of the bytes.
#[derive(Default)]
pub(crate) struct TokenEvent {
    /// Up to the word's JSON string.
    head: Vec<u8>,
    /// After the word, up to the sequence number (the rest of the event when it has none).
    middle: Vec<u8>,
    /// After the sequence number; `None` for events without one.
    tail: Option<Vec<u8>>,
}

impl TokenEvent {
    /// Cuts `event`, serialized with the marks. Panics in tests (never in release) when a mark
    /// is missing: a framing that serialized the wrong value.
    pub(crate) fn new(event: &[u8], with_sequence: bool) -> TokenEvent {
        fn cut<'a>(text: &'a [u8], mark: &[u8]) -> (&'a [u8], &'a [u8]) {
            let at = text.windows(mark.len()).position(|w| w == mark);
            debug_assert!(at.is_some(), "mark missing from a token event");
            let at = at.unwrap_or(text.len());
            (&text[..at], &text[(at + mark.len()).min(text.len())..])
        }
        let (head, rest) = cut(event, b"\"\\u0001word\\u0001\"");
        let (middle, tail) = if with_sequence {
            let (m, t) = cut(rest, itoa::Buffer::new().format(SEQUENCE_MARK).as_bytes());
            (m, Some(t.to_vec()))
        } else {
            (rest, None)
        };
        TokenEvent {
            head: head.to_vec(),
            middle: middle.to_vec(),
            tail,
        }
    }

    /// Appends the event for `word` (and `sequence`, for events that carry one).
    pub(crate) fn write(&self, word: &str, sequence: u64, out: &mut Vec<u8>) {
        let tail = self.tail.as_deref().unwrap_or_default();
        out.reserve(self.head.len() + word.len() + 2 + self.middle.len() + 20 + tail.len());
        out.extend_from_slice(&self.head);
        super::json_string(out, word);
        out.extend_from_slice(&self.middle);
        if self.tail.is_some() {
            out.extend_from_slice(itoa::Buffer::new().format(sequence).as_bytes());
            out.extend_from_slice(tail);
        }
    }
}

/// Appends `data: <json>\n\n` (an OpenAI Chat event).
pub(crate) fn data_event<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
}

/// Appends `event: <name>\ndata: <json>\n\n` (a Responses or Anthropic event).
pub(crate) fn named_event<T: Serialize>(out: &mut Vec<u8>, name: &str, value: &T) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    data_event(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use rand::SeedableRng;
    use std::time::Duration;

    /// Events that show the order: `open;`, each word and `;`, `close;` or `error;`.
    struct Plain;

    impl Framing for Plain {
        fn open(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"open;");
        }
        fn token(&mut self, _: TokenKind, word: &str, out: &mut Vec<u8>) {
            out.extend_from_slice(word.as_bytes());
            out.push(b';');
        }
        fn close(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"close;");
        }
        fn error(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"error;");
        }
    }

    const WORDS: [&str; 10] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];

    fn words() -> Vec<(TokenKind, &'static str)> {
        WORDS.iter().map(|w| (TokenKind::Answer, *w)).collect()
    }

    fn pacing(due: Instant, ttft_ms: u64, gap_ms: u64, lateness: &Arc<Lateness>) -> StreamPacing {
        StreamPacing {
            due,
            ttft: Latency::fixed_ms(ttft_ms),
            inter_token: Latency::fixed_ms(gap_ms),
            rng: SmallRng::seed_from_u64(1),
            permit: None,
            lateness: lateness.clone(),
            pacer: Arc::default(),
        }
    }

    /// Every frame of `body` with the time it came, and whether the body ended with a cut.
    async fn collect(mut body: MockBody) -> (Vec<(String, Instant)>, bool) {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => out.push((
                    String::from_utf8(f.into_data().unwrap().to_vec()).unwrap(),
                    Instant::now(),
                )),
                Err(BodyCut) => return (out, true),
            }
        }
        (out, false)
    }

    #[tokio::test]
    async fn tokens_already_due_go_out_in_one_frame_each_timed_and_counted() {
        let lateness = Arc::new(Lateness::default());
        // Due a second ago, a token every ms: all ten are overdue when the body is first polled.
        let due = Instant::now() - Duration::from_secs(1);
        let body = run(
            Plain,
            words(),
            pacing(due, 0, 1, &lateness),
            Ending::Complete,
        );
        let (frames, cut) = collect(body).await;
        let texts: Vec<&str> = frames.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["open;", "a;b;c;d;e;f;g;h;i;j;close;"]);
        assert!(!cut);
        assert_eq!(
            lateness.tokens_streamed(),
            10,
            "each coalesced token counts"
        );
        let s = lateness.summary();
        assert_eq!((s.first.count, s.later.count), (1, 9));
        // Each token against its own due time: the first a second late, the last 9 ms less.
        assert!(s.first.max_ms >= 1000.0, "{s:?}");
        assert!(s.later.max_ms >= 990.0 && s.later.max_ms < 1200.0, "{s:?}");
    }

    #[tokio::test]
    async fn tokens_keep_their_schedule_from_the_first_due_time() {
        let lateness = Arc::new(Lateness::default());
        let start = Instant::now();
        let body = run(
            Plain,
            words(),
            pacing(start, 20, 5, &lateness),
            Ending::Complete,
        );
        let (frames, _) = collect(body).await;
        assert_eq!(frames[0].0, "open;");
        let mut seen = String::new();
        for (i, (text, at)) in frames[1..].iter().enumerate() {
            seen.push_str(text);
            // Never early: token i is due at 20 ms + i × 5 ms (the frame may hold later ones).
            assert!(
                *at >= start + Duration::from_millis(20 + 5 * i as u64),
                "{i}"
            );
        }
        assert_eq!(seen, "a;b;c;d;e;f;g;h;i;j;close;");
        let took = frames.last().unwrap().1 - start;
        // Loose upper bound: a busy machine delays wake-ups, but late tokens do not push the
        // schedule back, so the stream ends near 65 ms however late single tokens were.
        assert!(
            took >= Duration::from_millis(65) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(lateness.tokens_streamed(), 10);
    }

    #[tokio::test]
    async fn a_cut_comes_after_half_the_tokens_and_an_error_event_likewise() {
        let lateness = Arc::new(Lateness::default());
        let conn = Arc::new(ConnState::new(1));
        let cut = Ending::Cut(StreamCut {
            conn: conn.clone(),
            reset: true,
        });
        let t = Instant::now();
        let (frames, was_cut) = collect(run(Plain, words(), pacing(t, 1, 1, &lateness), cut)).await;
        let text: String = frames.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, "open;a;b;c;d;e;");
        assert!(was_cut && t.elapsed() >= FLUSH_BEFORE_CUT);
        let body = run(Plain, words(), pacing(t, 1, 1, &lateness), Ending::Error);
        let (frames, was_cut) = collect(body).await;
        let text: String = frames.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, "open;a;b;c;d;e;error;");
        assert!(!was_cut);
        assert_eq!(lateness.tokens_streamed(), 10);
        // No tokens: the cut right after the opening events.
        let cut = Ending::Cut(StreamCut { conn, reset: false });
        let (frames, was_cut) =
            collect(run(Plain, Vec::new(), pacing(t, 1, 1, &lateness), cut)).await;
        assert_eq!((frames.len(), was_cut), (1, true));
    }
}
