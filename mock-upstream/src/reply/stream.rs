//! The streaming engine every protocol shares: paces the tokens (TTFT, inter-token gaps),
//! records their lateness, and ends the stream whole, cut or with an error event; a
//! [`Framing`] turns each step into its protocol's SSE events.

use super::TokenKind;
use crate::body::{BodyCut, Chunk as BodyChunk, MockBody, PacedChunk, FLUSH_BEFORE_CUT};
use crate::config::Latency;
use crate::connection::ConnState;
use crate::lateness::{Lateness, Timed};
use bytes::Bytes;
use rand::rngs::SmallRng;
use serde::Serialize;
use std::sync::Arc;
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

/// Timing and capacity slot a stream carries into its producer task.
pub(crate) struct StreamPacing {
    /// When the reply was due (request accepted + injected latency): the first token's TTFT counts from here.
    pub due: Instant,
    pub ttft: Latency,
    pub inter_token: Latency,
    pub rng: SmallRng,
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Where the stream's timed sends are recorded (and its tokens counted).
    pub lateness: Arc<Lateness>,
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

/// Starts the stream: the opening events now, the first token `ttft` after the reply was due,
/// then one per `inter_token` after the previous one, then the ending. A cut or error comes
/// halfway (right after the opening events when there are no tokens). Every token is a timed
/// send: its lateness is recorded when hyper takes it (see `lateness`).
pub(crate) fn run<F: Framing>(
    mut framing: F,
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
    } = pacing;
    let (tx, body) = MockBody::paced(lateness);
    tokio::spawn(async move {
        let _slot = permit; // held until the stream ends: a stream occupies capacity while it runs
        let send =
            |chunk: BodyChunk, due: Option<(Timed, Instant)>| tx.send(PacedChunk { chunk, due });
        let events = |write: &mut dyn FnMut(&mut Vec<u8>)| {
            let mut out = Vec::with_capacity(256);
            write(&mut out);
            Bytes::from(out)
        };
        if send(Ok(events(&mut |o| framing.open(o))), None)
            .await
            .is_err()
        {
            return;
        }
        let n = words.len();
        let stop_at = match ending {
            Ending::Complete => None,
            _ => Some(n / 2),
        };
        // The first token is due `ttft` after the reply was due (not after this task got to
        // run), each later one a gap after the previous send: what the client should see.
        let mut next = (Timed::First, due + ttft.sample(&mut rng));
        for (i, (kind, word)) in words.into_iter().enumerate() {
            if stop_at == Some(i) {
                break;
            }
            if i > 0 {
                next = (Timed::Later, Instant::now() + inter_token.sample(&mut rng));
            }
            crate::faults::pause(next.1.saturating_duration_since(Instant::now())).await;
            let chunk = events(&mut |o| framing.token(kind, word, o));
            if send(Ok(chunk), Some(next)).await.is_err() {
                return;
            }
        }
        match ending {
            Ending::Cut(cut) => {
                tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                if cut.reset {
                    cut.conn.request_reset();
                }
                let _ = send(Err(BodyCut), None).await;
            }
            Ending::Error => {
                let _ = send(Ok(events(&mut |o| framing.error(o))), None).await;
            }
            Ending::Complete => {
                let _ = send(Ok(events(&mut |o| framing.close(o))), None).await;
            }
        }
    });
    body
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
