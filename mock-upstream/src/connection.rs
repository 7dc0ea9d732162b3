//! Per-connection state (`ConnState`) and the socket wrapper (`FaultIo`) that lets a request reset its TCP connection.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// What the requests of one TCP connection share.
pub(crate) struct ConnState {
    /// Accept order since start (or reset); seeds the handshake delay.
    pub index: u64,
    /// Responses started on this connection.
    requests: AtomicU64,
    /// When the emulated handshake is over; set by the first request.
    handshake_done_at: OnceLock<Instant>,
    /// A request asked for a TCP reset (RST instead of FIN) when the connection ends.
    reset: AtomicBool,
    /// A request asked for the connection to close after its response (set before `close` is notified).
    close_asked: AtomicBool,
    /// Wakes the connection task when a request asks for the connection to close.
    close: Notify,
}

impl ConnState {
    pub(crate) fn new(index: u64) -> ConnState {
        ConnState {
            index,
            requests: AtomicU64::new(0),
            handshake_done_at: OnceLock::new(),
            reset: AtomicBool::new(false),
            close_asked: AtomicBool::new(false),
            close: Notify::new(),
        }
    }

    /// Counts a request and returns its 1-based position on this connection.
    pub(crate) fn count_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// When the handshake ends: the first caller fixes it at now + `delay()`; later requests
    /// (including concurrent HTTP/2 streams) wait for the same instant. Returns whether this
    /// call was the one that fixed it.
    pub(crate) fn handshake_deadline(&self, delay: impl FnOnce() -> Duration) -> (Instant, bool) {
        let mut first = false;
        let at = *self.handshake_done_at.get_or_init(|| {
            first = true;
            Instant::now() + delay()
        });
        (at, first)
    }

    /// Marks the connection to end with a TCP RST.
    pub(crate) fn request_reset(&self) {
        self.reset.store(true, Ordering::Release);
    }

    fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }

    /// Asks the connection task to close gracefully after in-flight responses.
    pub(crate) fn request_close(&self) {
        self.close_asked.store(true, Ordering::Release);
        self.close.notify_one();
    }

    /// Whether a request asked for the connection to close: one load, no waiting.
    pub(crate) fn close_asked(&self) -> bool {
        self.close_asked.load(Ordering::Acquire)
    }

    /// Resolves when a request asked for the connection to close.
    pub(crate) async fn close_requested(&self) {
        self.close.notified().await
    }
}

/// The accepted socket. Once a request has asked for a reset, writes fail and dropping the
/// socket sends RST (SO_LINGER 0) instead of a FIN, which is what a client sees as
/// "connection reset by peer".
pub(crate) struct FaultIo {
    stream: TcpStream,
    state: std::sync::Arc<ConnState>,
}

impl FaultIo {
    pub(crate) fn new(stream: TcpStream, state: std::sync::Arc<ConnState>) -> FaultIo {
        FaultIo { stream, state }
    }

    fn reset_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "mock-upstream: injected reset",
        )
    }
}

impl Drop for FaultIo {
    fn drop(&mut self) {
        if self.state.reset_requested() {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.state.reset_requested() {
            return Poll::Ready(Err(self.reset_error()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.state.reset_requested() {
            return Poll::Ready(Err(self.reset_error()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A FIN before the RST would let the client see a clean EOF instead of a reset.
        if self.state.reset_requested() {
            return Poll::Ready(Err(self.reset_error()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
