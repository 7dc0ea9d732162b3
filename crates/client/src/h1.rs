//! A lean HTTP/1.1 client connection: the request's own future writes the request and reads the response on the socket, with `httparse` for the head and the chunk sizes.
//!
//! Why not hyper's HTTP/1.1 client connection (still used for HTTP/2): it runs each
//! connection as a task of its own and hands requests and responses across channels, and
//! it builds a header map for every response. Under callgrind that path cost ≈ 12,700 of the
//! generator's ≈ 22,300 instructions per request, and a load generator that is slower than
//! the server it measures measures itself. One request at a time owns an HTTP/1.1
//! connection anyway, so here the request's future drives the socket directly: no task, no
//! channel, no wake-up hand-over, and response headers are only collected for non-2xx
//! answers (where `Retry-After` matters).
//!
//! Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; `Transfer-Encoding`
//! ending in `chunked` wins over `Content-Length`; differing `Content-Length` values are a
//! protocol error; otherwise the body runs to the end of the connection. Interim 1xx heads
//! are skipped. A connection is reused only after a complete response that did not say
//! `Connection: close` (HTTP/1.0: only with `keep-alive`) and left no stray bytes behind.

use super::h1_hyper::HyperConn;
use super::message::{Head, Outgoing};
use super::timed_io::classify_io;
use crate::outcome::{IoKind, Outcome, Phase};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use std::{
    mem::MaybeUninit,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Sleep;

/// A socket an HTTP/1.1 connection runs on (TCP, or TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Read buffer to start with: enough for the whole of most LLM API responses. It grows for
/// a larger head (up to [`MAX_HEAD`]), and while large bodies fill it (up to [`MAX_READ_BUF`]),
/// so a big download is not read in 8 KiB system calls; it never shrinks while the
/// connection lives.
const READ_BUF: usize = 8 * 1024;
/// Largest buffer a body grows the read buffer to.
const MAX_READ_BUF: usize = 64 * 1024;
/// Largest response head accepted (status line, fields and the empty line), by both engines.
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per response head at most.
const MAX_HEADERS: usize = 100;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4 * 1024;
/// Request bodies up to this size are copied behind the head (one write); larger ones are
/// written on their own rather than copied.
const COALESCE_BODY: usize = 16 * 1024;

/// How the rest of the current response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// No response in progress: the connection may carry a request.
    Idle,
    /// This many body bytes remain.
    Length(u64),
    /// Chunked transfer coding, at the given point of a chunk.
    Chunked(Chunk),
    /// The body ends when the server closes the connection.
    UntilClose,
    /// An exchange began and has not completed (or left stray bytes, or the server closed
    /// the idle connection): the connection cannot carry another request. Any state but
    /// `Idle` refuses reuse; this one also covers the time before a response head.
    Broken,
}

/// Where a chunked body stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// This many bytes of chunk data remain.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

/// An HTTP/1.1 connection lent to one request at a time, spoken by the engine the settings
/// chose (`client.engine`). The pool sees one kind of HTTP/1.1 connection whichever it is.
pub enum H1Conn {
    /// relaybench's own connection (this module).
    Own(OwnConn),
    /// hyper's client connection.
    Hyper(HyperConn),
}

impl H1Conn {
    /// Whether the connection can carry a request now (no exchange in progress or left
    /// incomplete, and nothing said the connection ends).
    pub fn is_reusable(&self) -> bool {
        match self {
            H1Conn::Own(c) => c.is_reusable(),
            H1Conn::Hyper(c) => c.is_reusable(),
        }
    }

    /// Checks, without blocking, that an idle connection has not been closed by the server
    /// meanwhile; a closed one is never lent again.
    pub fn check_idle(&mut self) -> bool {
        match self {
            H1Conn::Own(c) => c.check_idle(),
            H1Conn::Hyper(c) => c.check_idle(),
        }
    }

    /// Writes `request` and reads up to the head of the final response; see [`OwnConn::send`].
    pub async fn send(
        &mut self,
        request: &Outgoing<'_>,
        read_timeout: Duration,
    ) -> Result<Head, Outcome> {
        match self {
            H1Conn::Own(c) => c.send(request, read_timeout).await,
            // Boxed so that hyper's larger future does not grow every request's future.
            H1Conn::Hyper(c) => Box::pin(c.send(request, read_timeout)).await,
        }
    }

    /// The next piece of the response body, `None` at its end.
    pub async fn next_data(&mut self) -> Result<Option<&[u8]>, Outcome> {
        match self {
            H1Conn::Own(c) => c.next_data().await,
            H1Conn::Hyper(c) => c.next_data().await,
        }
    }
}

/// relaybench's own HTTP/1.1 connection.
pub struct OwnConn {
    /// The socket.
    io: Box<dyn Io>,
    /// Bytes read and not yet consumed are `buf[start..end]`.
    buf: Vec<u8>,
    /// First unconsumed byte.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// The request being written (kept to reuse its allocation).
    out: Vec<u8>,
    /// How the current response is delimited.
    framing: Framing,
    /// Whether the connection may carry another request after this response.
    keep_alive: bool,
    /// The read timer for response heads, kept across requests: pushing a registered tokio
    /// timer later is one atomic store, where a timer per request is an insertion into and
    /// a removal from the timer wheel (≈ 190 instructions, 2 % of a request).
    timer: Option<Pin<Box<Sleep>>>,
}

impl OwnConn {
    /// Wraps a connected socket.
    pub fn new(io: Box<dyn Io>) -> OwnConn {
        OwnConn {
            io,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            out: Vec::with_capacity(512),
            framing: Framing::Idle,
            keep_alive: true,
            timer: None,
        }
    }

    /// Whether the connection can carry a request now. A connection is marked broken
    /// before every exchange and made idle again only by a complete one, so an exchange
    /// dropped halfway (timeout, cancel) never lends its connection again.
    pub fn is_reusable(&self) -> bool {
        self.framing == Framing::Idle && self.keep_alive
    }

    /// Checks, without blocking and without a system call unless the socket was reported
    /// readable, that an idle connection has not been closed by the server meanwhile (or
    /// sent bytes nobody asked for). A closed connection is marked broken.
    pub fn check_idle(&mut self) -> bool {
        if !self.is_reusable() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 1];
        let mut buf = ReadBuf::new(&mut probe);
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut buf) {
            Poll::Pending => true,
            // End of stream, stray bytes, or an error: not fit for a request.
            Poll::Ready(_) => {
                self.framing = Framing::Broken;
                false
            }
        }
    }

    /// Writes `request` and reads up to the head of the final response (interim 1xx heads
    /// are skipped). The head must come within `read_timeout` of the request's last byte
    /// (a slow upload is the write timeout's business).
    pub async fn send(
        &mut self,
        request: &Outgoing<'_>,
        read_timeout: Duration,
    ) -> Result<Head, Outcome> {
        // Until the exchange completes, the connection is not fit for another request.
        self.framing = Framing::Broken;
        self.start = 0;
        self.end = 0;
        self.write_request(request).await?;
        let deadline = tokio::time::Instant::now() + read_timeout;
        let mut timer = match self.timer.take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let head = self
            .read_head(request.method == Method::HEAD, timer.as_mut())
            .await;
        self.timer = Some(timer);
        head
    }

    async fn read_head(
        &mut self,
        no_body_expected: bool,
        mut timer: Pin<&mut Sleep>,
    ) -> Result<Head, Outcome> {
        loop {
            if let Some(head) = self.parse_head(no_body_expected)? {
                return Ok(head);
            }
            if self.end - self.start >= MAX_HEAD {
                return Err(Outcome::Io(IoKind::Protocol));
            }
            tokio::select! {
                biased;
                more = self.more() => more?,
                _ = timer.as_mut() => return Err(Outcome::Timeout(Phase::Read)),
            }
        }
    }

    /// The next piece of the response body, `None` at its end. Pieces are whatever the
    /// socket delivered: a caller that parses them must carry state across pieces. After an
    /// error the framing is left mid-body, so the connection is never reused.
    pub async fn next_data(&mut self) -> Result<Option<&[u8]>, Outcome> {
        loop {
            match self.framing {
                Framing::Idle => return Ok(None),
                Framing::Broken => return Err(Outcome::Io(IoKind::Other)),
                Framing::Length(0) => {
                    self.finish();
                    return Ok(None);
                }
                Framing::Length(left) => {
                    let n = self.buffered_up_to(left).await?;
                    self.framing = Framing::Length(left - n as u64);
                    return Ok(Some(self.take(n)));
                }
                Framing::UntilClose => {
                    if self.start == self.end && self.fill().await? == 0 {
                        // The server closing the connection is the end of this body.
                        self.framing = Framing::Idle;
                        return Ok(None);
                    }
                    let n = self.end - self.start;
                    return Ok(Some(self.take(n)));
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    let n = self.buffered_up_to(left).await?;
                    let left = left - n as u64;
                    self.framing = Framing::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    });
                    return Ok(Some(self.take(n)));
                }
                Framing::Chunked(chunk) => {
                    if !self.advance_chunk(chunk)? {
                        if self.end - self.start > MAX_LINE {
                            return Err(Outcome::Io(IoKind::Protocol));
                        }
                        self.more().await?;
                    }
                }
            }
        }
    }

    /// How many of the next `left` body bytes are buffered, reading when none are.
    async fn buffered_up_to(&mut self, left: u64) -> Result<usize, Outcome> {
        if self.start == self.end {
            self.more().await?;
        }
        Ok((self.end - self.start).min(usize::try_from(left).unwrap_or(usize::MAX)))
    }

    /// Moves a chunked body past its next size line, data CRLF or trailer line, if it is
    /// buffered; `false` when more bytes are needed.
    fn advance_chunk(&mut self, chunk: Chunk) -> Result<bool, Outcome> {
        let pending = &self.buf[self.start..self.end];
        match chunk {
            Chunk::Size => match httparse::parse_chunk_size(pending) {
                Ok(httparse::Status::Complete((used, size))) => {
                    self.start += used;
                    self.framing = Framing::Chunked(if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    });
                    Ok(true)
                }
                Ok(httparse::Status::Partial) => Ok(false),
                Err(_) => Err(Outcome::Io(IoKind::Protocol)),
            },
            Chunk::DataEnd => match pending {
                [b'\r', b'\n', ..] => {
                    self.start += 2;
                    self.framing = Framing::Chunked(Chunk::Size);
                    Ok(true)
                }
                [] | [b'\r'] => Ok(false),
                _ => Err(Outcome::Io(IoKind::Protocol)),
            },
            Chunk::Trailers => match pending.iter().position(|&b| b == b'\n') {
                None => Ok(false),
                Some(at) => {
                    self.start += at + 1;
                    if matches!(pending[..at], [] | [b'\r']) {
                        self.finish();
                    }
                    Ok(true)
                }
            },
            Chunk::Data(_) => unreachable!("chunk data is read by next_data"),
        }
    }

    /// The response is complete: the connection is idle again, unless the server sent
    /// bytes beyond it (a reply to nothing) — then it must not be reused.
    fn finish(&mut self) {
        self.framing = if self.start == self.end {
            Framing::Idle
        } else {
            Framing::Broken
        };
    }

    /// Hands out `n` buffered bytes.
    fn take(&mut self, n: usize) -> &[u8] {
        let from = self.start;
        self.start += n;
        &self.buf[from..from + n]
    }

    /// Reads more bytes; the end of the stream here cuts the response short.
    async fn more(&mut self) -> Result<(), Outcome> {
        match self.fill().await? {
            0 => Err(Outcome::Io(IoKind::Truncated)),
            _ => Ok(()),
        }
    }

    /// Reads more bytes from the socket into the buffer; returns how many (0 at end of stream).
    async fn fill(&mut self) -> Result<usize, Outcome> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            } else {
                // Only a head (or line) larger than the buffer gets here; both are bounded.
                let grown = (self.buf.len() * 2).min(MAX_HEAD + READ_BUF);
                self.buf.resize(grown, 0);
            }
        }
        let n = self
            .io
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| classify_io(&e))?;
        self.end += n;
        if n == 0 {
            self.keep_alive = false;
        } else if self.end == self.buf.len() && self.buf.len() < MAX_READ_BUF {
            // The socket had more than the buffer could take: read more per call.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        Ok(n)
    }

    async fn write_request(&mut self, request: &Outgoing<'_>) -> Result<(), Outcome> {
        let body = request.body;
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(request.method.as_str().as_bytes());
        out.push(b' ');
        let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        out.extend_from_slice(request.host.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in request.headers {
            if matches!(
                *name,
                http::header::HOST | http::header::CONTENT_LENGTH | http::header::TRANSFER_ENCODING
            ) {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || sends_body(request.method) {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        let coalesce = body.len() <= COALESCE_BODY;
        if coalesce {
            out.extend_from_slice(body);
        }
        let (io, out) = (&mut self.io, &self.out);
        let written = async {
            io.write_all(out).await?;
            if !coalesce {
                io.write_all(body).await?;
            }
            io.flush().await
        };
        written.await.map_err(|e| classify_io(&e))
    }

    /// Parses a response head if one is buffered: `None` when more bytes are needed.
    fn parse_head(&mut self, no_body_expected: bool) -> Result<Option<Head>, Outcome> {
        loop {
            // Uninitialised slots: filling 100 empty headers per response cost more than parsing.
            let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut response,
                &self.buf[self.start..self.end],
                &mut slots,
            );
            let used = match parsed {
                Ok(httparse::Status::Complete(used)) => used,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(_) => return Err(Outcome::Io(IoKind::Protocol)),
            };
            let code = response.code.unwrap_or(0);
            let Ok(status) = StatusCode::from_u16(code) else {
                return Err(Outcome::Io(IoKind::Protocol));
            };
            if status.is_informational() {
                if status == StatusCode::SWITCHING_PROTOCOLS {
                    // Nothing was asked to upgrade.
                    return Err(Outcome::Io(IoKind::Protocol));
                }
                self.start += used;
                continue;
            }
            let http10 = response.version == Some(0);
            let mut keep_alive = !http10;
            let mut length: Option<u64> = None;
            let mut chunked = None;
            for header in response.headers.iter() {
                let name = header.name;
                if name.eq_ignore_ascii_case("content-length") {
                    let Some(n) = parse_length(header.value) else {
                        return Err(Outcome::Io(IoKind::Protocol));
                    };
                    if length.is_some_and(|seen| seen != n) {
                        return Err(Outcome::Io(IoKind::Protocol));
                    }
                    length = Some(n);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    // Only the last coding decides; several headers form one list.
                    chunked = Some(last_token_is(header.value, b"chunked"));
                } else if name.eq_ignore_ascii_case("connection") {
                    if has_token(header.value, b"close") {
                        keep_alive = false;
                    } else if http10 && has_token(header.value, b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
            let headers = (!status.is_success()).then(|| collect_headers(response.headers));
            self.start += used;
            let no_body = no_body_expected
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED;
            self.framing = match (no_body, chunked, length) {
                (true, _, _) => Framing::Length(0),
                (false, Some(true), _) => Framing::Chunked(Chunk::Size),
                (false, Some(false), _) | (false, None, None) => {
                    keep_alive = false;
                    Framing::UntilClose
                }
                (false, None, Some(n)) => Framing::Length(n),
            };
            if chunked.is_some() && length.is_some() {
                // A message with both may be an attempt at request smuggling: do not reuse.
                keep_alive = false;
            }
            self.keep_alive = keep_alive;
            return Ok(Some(Head { status, headers }));
        }
    }
}

/// Whether a request with this method carries a `Content-Length` even when its body is empty.
pub fn sends_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// A `Content-Length` value: digits only.
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Whether the last element of a comma-separated header value is `token`.
fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// The response headers as a map (invalid names or values are left out).
fn collect_headers(headers: &[httparse::Header<'_>]) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(headers.len());
    for header in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) {
            map.append(name, value);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tokens() {
        assert!(has_token(b"keep-alive, Close", b"close"));
        assert!(!has_token(b"closed", b"close"));
        assert!(last_token_is(b"gzip, chunked", b"chunked"));
        assert!(!last_token_is(b"chunked, gzip", b"chunked"));
        assert_eq!(parse_length(b" 42 "), Some(42));
        assert_eq!(parse_length(b"+42"), None);
        assert_eq!(parse_length(b""), None);
        assert_eq!(parse_length(b"99999999999999999999999"), None);
    }
}
