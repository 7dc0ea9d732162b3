//! `MockBody`, the one response body type (whole bytes, a channel fed by a task, or a stream that produces its own frames), and the body faults built on it: slow, truncated, reset.

use crate::connection::ConnState;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// The error a body yields to make hyper abort the response (and the HTTP/1 connection).
#[derive(Debug, thiserror::Error)]
#[error("mock-upstream: response body cut by an injected fault")]
pub struct BodyCut;

/// One chunk of a channel body.
pub(crate) type Chunk = Result<Bytes, BodyCut>;

/// A body that makes its frames when hyper polls for them (a token stream, `reply::stream`):
/// no task and no channel between the producer and the connection.
pub(crate) trait FrameSource: Send + 'static {
    /// The next chunk, `None` at the end; when pending, the source has arranged its wake-up.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Chunk>>;
}

/// A response body: a buffer sent at once, chunks produced over time by a task, or a source
/// polled for its frames.
pub(crate) enum MockBody {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Chunk>),
    /// A token stream: it records each token's lateness when hyper takes the frame for
    /// writing, the closest point to the socket write the body sees (which also counts them
    /// as `tokens_streamed`).
    Stream(Box<dyn FrameSource>),
}

impl MockBody {
    pub(crate) fn full(b: impl Into<Bytes>) -> MockBody {
        MockBody::Full(Some(b.into()))
    }

    /// A channel body and the sender a producer task writes to.
    pub(crate) fn channel() -> (mpsc::Sender<Chunk>, MockBody) {
        let (tx, rx) = mpsc::channel(16);
        (tx, MockBody::Channel(rx))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyCut>>> {
        match self.get_mut() {
            MockBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Channel(rx) => rx.poll_recv(cx).map(|c| c.map(|r| r.map(Frame::data))),
            MockBody::Stream(source) => {
                source.poll_frame(cx).map(|c| c.map(|r| r.map(Frame::data)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            MockBody::Channel(_) | MockBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// How long a cut body waits after its last good chunk, so hyper flushes it to the socket
/// before the error aborts the connection (otherwise the client might see nothing at all).
pub(crate) const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

/// Sends `data` at `bytes_per_sec`, in chunks of about 1/20 s.
pub(crate) fn slow(data: Bytes, bytes_per_sec: u64) -> MockBody {
    let (tx, body) = MockBody::channel();
    let chunk = (bytes_per_sec / 20).max(1) as usize;
    let pause = Duration::from_secs_f64(chunk as f64 / bytes_per_sec.max(1) as f64);
    tokio::spawn(async move {
        let mut rest = data;
        while !rest.is_empty() {
            let piece = rest.split_to(chunk.min(rest.len()));
            if tx.send(Ok(piece)).await.is_err() {
                return; // client went away
            }
            if !rest.is_empty() {
                tokio::time::sleep(pause).await;
            }
        }
    });
    body
}

/// Sends the first `keep` bytes of `data`, then aborts: with `reset`, the connection ends
/// with a TCP RST; without, it just closes (a truncated body).
pub(crate) fn cut(data: Bytes, keep: usize, conn: Arc<ConnState>, reset: bool) -> MockBody {
    let (tx, body) = MockBody::channel();
    tokio::spawn(async move {
        let head = data.slice(..keep.min(data.len()));
        if !head.is_empty() && tx.send(Ok(head)).await.is_err() {
            return;
        }
        tokio::time::sleep(FLUSH_BEFORE_CUT).await;
        if reset {
            conn.request_reset();
        }
        let _ = tx.send(Err(BodyCut)).await;
    });
    body
}
