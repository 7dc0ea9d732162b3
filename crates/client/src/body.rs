//! Reading a response body incrementally under the read timeout and the size limit: JSON kept (bounded) for `usage`, SSE parsed and timed as it arrives.

use super::{
    exchange::{BodyKind, Tokens},
    message::ResponseBody,
    sse::ChunkStream,
};
use crate::outcome::{IoKind, Outcome, Phase};
use std::{
    future::Future,
    task::Poll,
    time::{Duration, Instant},
};

/// Longest JSON body kept in memory to read `usage` from; larger bodies are only counted.
const JSON_KEEP_LIMIT: usize = 256 * 1024;

/// What reading a body produced.
pub struct BodyRead {
    /// Bytes received.
    pub bytes: u64,
    /// The kept body (JSON kind, bounded), for `usage` and error excerpts.
    pub kept: Vec<u8>,
    /// The parsed stream (SSE kind).
    pub stream: Option<ChunkStream>,
}

/// Reads `body` to the end; each wait for the next piece is bounded by `read_timeout`.
pub async fn read_body(
    mut body: ResponseBody<'_>,
    kind: BodyKind,
    read_timeout: Duration,
    max_body: u64,
) -> Result<BodyRead, Outcome> {
    let mut read = BodyRead {
        bytes: 0,
        kept: Vec::new(),
        stream: (kind == BodyKind::Sse).then(ChunkStream::default),
    };
    loop {
        // The timer restarts for every piece: a slow but steady stream never times out. It is
        // only armed when the piece is not already buffered (most bodies of small responses
        // are), which spares a timer per piece on the hot path.
        let mut next = std::pin::pin!(body.next_data());
        let piece = match std::future::poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await {
            Poll::Ready(piece) => Ok(piece),
            Poll::Pending => tokio::time::timeout(read_timeout, next).await,
        };
        let data = match piece {
            Err(_) => return Err(Outcome::Timeout(Phase::Read)),
            Ok(Err(outcome)) => return Err(outcome),
            Ok(Ok(None)) => {
                if read.stream.as_ref().is_some_and(|s| !s.done) {
                    // The connection ended the body cleanly, but the stream never said `[DONE]`.
                    return Err(Outcome::Io(IoKind::Truncated));
                }
                return Ok(read);
            }
            Ok(Ok(Some(data))) => data,
        };
        read.bytes += data.len() as u64;
        if read.bytes > max_body {
            return Err(Outcome::Io(IoKind::BodyTooLarge));
        }
        if let Some(stream) = &mut read.stream {
            stream
                .feed(data, Instant::now())
                .map_err(|_| Outcome::Io(IoKind::BadSse))?;
        } else if kind == BodyKind::Json && read.kept.len() + data.len() <= JSON_KEEP_LIMIT {
            read.kept.extend_from_slice(data);
        }
    }
}

/// Reads `usage.prompt_tokens` / `usage.completion_tokens` from an OpenAI JSON body.
pub fn usage_from_json(body: &[u8]) -> Option<Tokens> {
    #[derive(serde::Deserialize)]
    struct Usage {
        #[serde(default)]
        prompt_tokens: u64,
        #[serde(default)]
        completion_tokens: u64,
    }
    #[derive(serde::Deserialize)]
    struct WithUsage {
        usage: Option<Usage>,
    }
    let parsed: WithUsage = serde_json::from_slice(body).ok()?;
    let usage = parsed.usage?;
    Some(Tokens {
        input: usage.prompt_tokens,
        output: usage.completion_tokens,
        from_usage: true,
    })
}

/// A short printable excerpt of an error body for reports.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.chars()
        .filter(|c| !c.is_control() || *c == ' ')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage() {
        let body =
            br#"{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}"#;
        assert_eq!(
            usage_from_json(body),
            Some(Tokens {
                input: 12,
                output: 34,
                from_usage: true
            })
        );
        assert_eq!(usage_from_json(b"{\"id\":1}"), None);
        assert_eq!(usage_from_json(b"not json"), None);
    }
}
