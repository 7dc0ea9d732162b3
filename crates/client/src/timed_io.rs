//! The socket wrapper behind the write timeout ([`TimedIo`]), the write progress hyper's HTTP/1.1 engine needs for its read timeout ([`WriteProbe`]), and how I/O errors on an established connection become outcomes ([`classify_io`]).
//!
//! **How the write timeout works.** Sending a request and waiting for its answer are one
//! future (and for HTTP/2, `h2` writes from inside its connection task), so the request
//! cannot tell "still writing" from "waiting for the answer" by itself.
//! The socket is therefore wrapped in [`TimedIo`]: whenever a write (or flush) cannot make
//! progress, a timer of `timeouts.write` starts; if the socket accepts no byte before it
//! fires, the write fails with a [`WriteTimedOut`] I/O error, which reaches the request
//! (through `h2`, for HTTP/2) and becomes `timeout(write)`. Like the read
//! timeout, it bounds the longest stall (httpx's meaning), not the total send time. (An
//! HTTP/2 stream also waits for the server's flow-control window before handing body bytes to
//! the connection; that wait is bounded by the same limit, in `h2::send_body`.)
//!
//! hyper's HTTP/1.1 client (`engine = "hyper"`) writes the request from a task of its own, so
//! its socket also stamps the time of the last successful write on a [`WriteProbe`]: the
//! read timeout for the head starts when the request has gone out. Our own HTTP/1.1
//! connection and `h2` know that time without a stamp, and their sockets carry no probe.

use crate::outcome::{IoKind, Outcome, Phase};
use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Sleep,
};

/// The I/O error a stalled write ends with (`h2` keeps only its kind, `TimedOut`: see `h2::classify`).
#[derive(Debug, thiserror::Error)]
#[error("write timed out after {0:?}")]
pub struct WriteTimedOut(pub Duration);

/// A socket whose writes fail with [`WriteTimedOut`] after stalling for the write timeout.
pub struct TimedIo<T> {
    /// The socket (TCP or TLS over TCP).
    inner: T,
    /// The stall limit.
    limit: Duration,
    /// Armed while a write is stalled.
    stall: Option<Pin<Box<Sleep>>>,
    /// Stamped with every write that makes progress (hyper's HTTP/1.1 engine only), and
    /// whether a flush moves bytes (TLS records) and so counts as progress.
    probe: Option<(Arc<WriteProbe>, bool)>,
}

impl<T> TimedIo<T> {
    /// `inner` with writes bounded by `limit`.
    pub fn new(inner: T, limit: Duration) -> TimedIo<T> {
        TimedIo {
            inner,
            limit,
            stall: None,
            probe: None,
        }
    }

    /// [`TimedIo::new`], also stamping `probe` whenever the socket accepts bytes; with
    /// `flush_writes` (TLS), a completed flush counts as accepting bytes too.
    pub fn with_probe(
        inner: T,
        limit: Duration,
        probe: Arc<WriteProbe>,
        flush_writes: bool,
    ) -> TimedIo<T> {
        TimedIo {
            probe: Some((probe, flush_writes)),
            ..TimedIo::new(inner, limit)
        }
    }

    /// Turns a pending write into a timeout once the stall outlasts the limit.
    fn guard<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
        flush: bool,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(result) => {
                self.stall = None;
                if let Some((probe, flush_writes)) = &self.probe {
                    if result.is_ok() && (!flush || *flush_writes) {
                        probe.stamp();
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let limit = self.limit;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                ready!(stall.as_mut().poll(cx));
                self.stall = None;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    WriteTimedOut(limit),
                )))
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, polled, false)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, polled, false)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, polled, true)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// When the socket last accepted request bytes.
#[derive(Debug)]
pub struct WriteProbe {
    /// The clock origin of `last_write`.
    epoch: Instant,
    /// Nanoseconds after `epoch` of the last successful write.
    last_write: AtomicU64,
}

impl WriteProbe {
    /// A probe that has seen no write yet.
    pub fn shared() -> Arc<WriteProbe> {
        Arc::new(WriteProbe {
            epoch: Instant::now(),
            last_write: AtomicU64::new(0),
        })
    }

    fn stamp(&self) {
        let nanos = self.epoch.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.last_write.store(nanos, Relaxed);
    }

    /// When bytes were last written.
    pub fn last_write(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.last_write.load(Relaxed))
    }
}

/// Maps an I/O error on an established connection to an outcome.
pub fn classify_io(e: &io::Error) -> Outcome {
    if e.get_ref().is_some_and(|inner| inner.is::<WriteTimedOut>()) {
        return Outcome::Timeout(Phase::Write);
    }
    use io::ErrorKind::*;
    // A FIN before the declared length is a truncated body; an RST is a reset.
    match e.kind() {
        UnexpectedEof => Outcome::Io(IoKind::Truncated),
        ConnectionReset | ConnectionAborted | BrokenPipe => Outcome::Io(IoKind::Reset),
        _ => Outcome::Io(IoKind::Other),
    }
}
