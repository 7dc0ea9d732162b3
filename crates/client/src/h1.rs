//! HTTP/1.1 connections: relaybench's own lean one, where the request's future writes the request and reads the response on the socket (`httparse` reads the head), and the choice between it and hyper's (`h1_hyper`) that `client.engine` makes.
//!
//! Why not hyper's HTTP/1.1 client connection (used for HTTP/2, and on request): it runs each
//! connection as a task of its own and hands requests and responses across channels, and
//! it builds a header map for every response — more than half of the generator's
//! instructions per request under callgrind (README, "Performance", has the figures), and a
//! load generator that is slower than the server it measures measures itself. One request at a time owns an HTTP/1.1
//! connection anyway, so here the request's future drives the socket directly: no task, no
//! channel, no wake-up hand-over, and response headers are only collected for non-2xx
//! answers (where `Retry-After` matters).
//!
//! Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304, whatever the fields
//! say; a `Transfer-Encoding` (which HTTP/1.0 does not have: a protocol error there) whose
//! last coding is `chunked` overrides any `Content-Length`, another coding runs to the end
//! of the connection; a `Content-Length` is a list of equal decimal values, differing ones a
//! protocol error; otherwise the body runs to the end of the connection. A chunked body's
//! lines end in CRLF: `1*HEXDIG` sizes, extensions skipped (a bare LF in one is an error),
//! well-formed trailer fields. Interim 1xx heads are skipped. A connection is reused only
//! after a complete response that did not say `Connection: close` (HTTP/1.0: only with
//! `keep-alive`), did not carry both framings, and left no stray bytes behind. Heads are
//! parsed with `httparse`, as hyper does; the rest is checked against hyper's client by
//! the differential test (`h1_differential`), which lists where and why the two differ.

// Bytes from an upstream decide every offset here: no index may panic.
#![deny(clippy::indexing_slicing)]

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

/// What reading a line of a chunked body did.
enum Step {
    /// Consumed a line; the framing moved on.
    Moved,
    /// The line is not complete yet.
    NeedMore,
    /// The last line: the body is complete.
    Ended,
}

/// A line of a chunked body's trailer section.
enum Trailer {
    /// A field line of this many bytes (skipped: trailers are not needed).
    Field(usize),
    /// The empty line that ends the body.
    End,
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
            .read_head(
                request.method == Method::HEAD,
                request.record,
                timer.as_mut(),
            )
            .await;
        self.timer = Some(timer);
        head
    }

    async fn read_head(
        &mut self,
        no_body_expected: bool,
        record: &[HeaderName],
        mut timer: Pin<&mut Sleep>,
    ) -> Result<Head, Outcome> {
        // Bytes pending when a parse last found the head incomplete. A head trickling in a
        // few bytes per read is parsed again only once an empty line may have come, not once
        // per read (which would cost time quadratic in its size).
        let mut incomplete: Option<usize> = None;
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or_default();
            if !pending.is_empty() && incomplete.is_none_or(|seen| may_end_a_head(pending, seen)) {
                if let Some(head) = self.parse_head(no_body_expected, record)? {
                    return Ok(head);
                }
                // Interim heads may have used up all that came: parse what comes next whole.
                incomplete = Some(self.end - self.start).filter(|&left| left > 0);
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
                Framing::Chunked(chunk) => match self.advance_chunk(chunk)? {
                    Step::Moved => {}
                    Step::NeedMore => self.more().await?,
                    Step::Ended => return Ok(None),
                },
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
    /// buffered. Lines end in CRLF (RFC 9112 §7.1) and are at most [`MAX_LINE`] long.
    fn advance_chunk(&mut self, chunk: Chunk) -> Result<Step, Outcome> {
        const PROTOCOL: Outcome = Outcome::Io(IoKind::Protocol);
        let pending = self.buf.get(self.start..self.end).unwrap_or_default();
        let used = match chunk {
            Chunk::Size => match chunk_size_line(pending).map_err(|()| PROTOCOL)? {
                Some((used, size)) => {
                    self.framing = Framing::Chunked(if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    });
                    used
                }
                None => 0,
            },
            Chunk::DataEnd => match pending {
                [b'\r', b'\n', ..] => {
                    self.framing = Framing::Chunked(Chunk::Size);
                    2
                }
                [] | [b'\r'] => 0,
                _ => return Err(PROTOCOL),
            },
            Chunk::Trailers => match trailer_line(pending).map_err(|()| PROTOCOL)? {
                Some(Trailer::Field(used)) => used,
                Some(Trailer::End) => {
                    self.start += 2;
                    self.finish();
                    return Ok(Step::Ended);
                }
                None => 0,
            },
            Chunk::Data(_) => unreachable!("chunk data is read by next_data"),
        };
        match used {
            0 if pending.len() < MAX_LINE => Ok(Step::NeedMore),
            0 => Err(PROTOCOL),
            used if used > MAX_LINE => Err(PROTOCOL),
            used => {
                self.start += used;
                Ok(Step::Moved)
            }
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

    /// Hands out `n` buffered bytes (`n` is never more than are buffered).
    fn take(&mut self, n: usize) -> &[u8] {
        let from = self.start;
        self.start += n;
        self.buf.get(from..from + n).unwrap_or_default()
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
        // There is room: the buffer was emptied, compacted or grown above (every caller
        // reads with less than a buffer's worth pending).
        let free = self.buf.get_mut(self.end..).unwrap_or_default();
        let n = self.io.read(free).await.map_err(|e| classify_io(&e))?;
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
    fn parse_head(
        &mut self,
        no_body_expected: bool,
        record: &[HeaderName],
    ) -> Result<Option<Head>, Outcome> {
        loop {
            // Uninitialised slots: filling 100 empty headers per response cost more than parsing.
            let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut response,
                self.buf.get(self.start..self.end).unwrap_or_default(),
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
            let (mut close, mut keep_alive_10) = (false, false);
            let mut length: Result<Option<u64>, ()> = Ok(None);
            let mut has_length = false;
            // Present, and whether its last coding is chunked.
            let mut coding: Option<bool> = None;
            for header in response.headers.iter() {
                let name = header.name;
                if name.eq_ignore_ascii_case("content-length") {
                    has_length = true;
                    length = content_length(length, header.value);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    // Only the last coding decides; several fields form one list.
                    coding = Some(last_token_is(header.value, b"chunked"));
                } else if name.eq_ignore_ascii_case("connection") {
                    // Once any field says close, nothing undoes it.
                    close |= has_token(header.value, b"close");
                    keep_alive_10 |= http10 && has_token(header.value, b"keep-alive");
                }
            }
            let headers = (!status.is_success()).then(|| collect_headers(response.headers));
            let recorded = pick_headers(response.headers, record);
            if used > MAX_HEAD {
                return Err(Outcome::Io(IoKind::Protocol));
            }
            self.start += used;
            // RFC 9112 §6.3, in its order: no body whatever the fields say; the transfer
            // coding (which HTTP/1.0 does not have, §6.1) over any length; the length; the
            // end of the connection.
            let no_body = no_body_expected
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED;
            let mut keep_alive = !close && (!http10 || keep_alive_10);
            self.framing = match (no_body, coding, length) {
                (true, _, _) => Framing::Length(0),
                (false, Some(_), _) if http10 => return Err(Outcome::Io(IoKind::Protocol)),
                (false, Some(true), _) => Framing::Chunked(Chunk::Size),
                (false, Some(false), _) | (false, None, Ok(None)) => {
                    keep_alive = false;
                    Framing::UntilClose
                }
                (false, None, Ok(Some(n))) => Framing::Length(n),
                (false, None, Err(())) => return Err(Outcome::Io(IoKind::Protocol)),
            };
            if coding.is_some() && has_length {
                // A message with both may be an attempt at request smuggling (§6.3 ¶3, §11.2):
                // read it by its coding, then do not reuse the connection.
                keep_alive = false;
            }
            self.keep_alive = keep_alive;
            return Ok(Some(Head {
                status,
                headers,
                recorded,
            }));
        }
    }
}

/// Whether the bytes of `pending` after the first `seen` may complete an empty line (`LF LF`,
/// or `LF CR LF`: RFC 9112 §2.2 lets a recipient take a bare LF for CRLF); the same test
/// hyper makes before parsing a partial head again.
fn may_end_a_head(pending: &[u8], seen: usize) -> bool {
    let fresh = pending.get(seen.saturating_sub(3)..).unwrap_or_default();
    (0..fresh.len()).any(|at| {
        matches!(
            fresh.get(at..).unwrap_or_default(),
            [b'\n', b'\n', ..] | [b'\n', b'\r', b'\n', ..]
        )
    })
}

/// Whether a request with this method carries a `Content-Length` even when its body is empty.
pub fn sends_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// The length `Content-Length` fields say so far: `seen` combined with one more field value.
/// A value is a list of decimal lengths which must all be equal (RFC 9112 §6.3 ¶5), as
/// must the values of repeated fields; anything else makes the framing invalid (`Err`).
fn content_length(seen: Result<Option<u64>, ()>, value: &[u8]) -> Result<Option<u64>, ()> {
    let mut length = seen?;
    for element in value.split(|&b| b == b',') {
        let digits = element.trim_ascii();
        if digits.is_empty() {
            return Err(());
        }
        let mut n: u64 = 0;
        for &b in digits {
            let digit = (b as char).to_digit(10).ok_or(())?;
            n = n
                .checked_mul(10)
                .ok_or(())?
                .checked_add(digit.into())
                .ok_or(())?;
        }
        if length.is_some_and(|seen| seen != n) {
            return Err(());
        }
        length = Some(n);
    }
    Ok(length)
}

/// A chunk-size line, `1*HEXDIG [ BWS ";" extensions ] CRLF` (RFC 9112 §7.1; extensions
/// are skipped, but may not hold a bare LF): its length and the size, `None` while it is
/// incomplete, `Err` when malformed.
fn chunk_size_line(line: &[u8]) -> Result<Option<(usize, u64)>, ()> {
    let mut size: u64 = 0;
    let mut at = 0;
    while let Some(digit) = line.get(at).and_then(|&b| (b as char).to_digit(16)) {
        size = size
            .checked_mul(16)
            .ok_or(())?
            .checked_add(digit.into())
            .ok_or(())?;
        at += 1;
    }
    if at == 0 {
        return if line.is_empty() { Ok(None) } else { Err(()) };
    }
    let mut extension = false;
    while let Some(&b) = line.get(at) {
        match b {
            b'\r' => {
                return match line.get(at + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((at + 2, size))),
                    Some(_) => Err(()),
                }
            }
            b'\n' => return Err(()),
            b';' => extension = true,
            b' ' | b'\t' => {}
            _ if extension => {}
            _ => return Err(()),
        }
        at += 1;
    }
    Ok(None)
}

/// A line of the trailer section: a well-formed field line ending in CRLF, or the empty line;
/// `None` while it is incomplete, `Err` when malformed.
fn trailer_line(pending: &[u8]) -> Result<Option<Trailer>, ()> {
    let Some(lf) = pending.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    match pending.get(..=lf).unwrap_or_default() {
        b"\r\n" => Ok(Some(Trailer::End)),
        [.., b'\r', b'\n'] => {
            let line = pending.get(..=lf).unwrap_or_default();
            // One field line on its own parses as an incomplete head: nothing wrong with it.
            match httparse::parse_headers(line, &mut [httparse::EMPTY_HEADER; 1]) {
                Ok(httparse::Status::Partial) => Ok(Some(Trailer::Field(lf + 1))),
                _ => Err(()),
            }
        }
        _ => Err(()),
    }
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

/// The values of the headers named in `record`, by index into it (invalid values are left
/// out). Nothing is looked at, and nothing allocated, when `record` is empty.
fn pick_headers(
    headers: &[httparse::Header<'_>],
    record: &[HeaderName],
) -> Vec<(usize, HeaderValue)> {
    let mut out = Vec::new();
    if record.is_empty() {
        return out;
    }
    for header in headers {
        // `record` holds lower-case names; the wire may use any case.
        let Some(i) = record
            .iter()
            .position(|name| header.name.eq_ignore_ascii_case(name.as_str()))
        else {
            continue;
        };
        if let Ok(value) = HeaderValue::from_bytes(header.value) {
            out.push((i, value));
        }
    }
    out
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
    fn recorded_headers_are_found_in_any_case_and_nothing_is_allocated_without_any() {
        let raw = [
            httparse::Header {
                name: "Content-Type",
                value: b"application/json",
            },
            httparse::Header {
                name: "X-Overhead-MS",
                value: b"3.5",
            },
            httparse::Header {
                name: "x-request-id",
                value: b"req_1",
            },
        ];
        let none = pick_headers(&raw, &[]);
        assert!(none.is_empty());
        assert_eq!(none.capacity(), 0, "no header named: no allocation");
        let record = [
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-overhead-ms"),
            HeaderName::from_static("x-absent"),
        ];
        let found = pick_headers(&raw, &record);
        assert_eq!(
            found,
            vec![
                (1, HeaderValue::from_static("3.5")),
                (0, HeaderValue::from_static("req_1"))
            ]
        );
        let mut map = HeaderMap::new();
        map.insert("x-overhead-ms", HeaderValue::from_static("3.5"));
        let via_map = super::super::message::recorded(&map, &record);
        assert_eq!(via_map, vec![(1, HeaderValue::from_static("3.5"))]);
        assert_eq!(super::super::message::recorded(&map, &[]).capacity(), 0);
    }

    #[test]
    fn header_tokens() {
        assert!(has_token(b"keep-alive, Close", b"close"));
        assert!(!has_token(b"closed", b"close"));
        assert!(last_token_is(b"gzip, chunked", b"chunked"));
        assert!(!last_token_is(b"chunked, gzip", b"chunked"));
    }

    #[test]
    fn content_lengths() {
        let one = |value: &[u8]| content_length(Ok(None), value);
        assert_eq!(one(b" 42 "), Ok(Some(42)));
        assert_eq!(one(b"42, 42,42"), Ok(Some(42)));
        assert_eq!(content_length(Ok(Some(42)), b"42"), Ok(Some(42)));
        assert_eq!(content_length(Ok(Some(42)), b"43"), Err(()));
        assert_eq!(content_length(Err(()), b"42"), Err(()));
        for bad in [
            &b"+42"[..],
            b"",
            b"42, 43",
            b"42,,42",
            b"4 2",
            b"0x2a",
            b"99999999999999999999999",
        ] {
            assert_eq!(one(bad), Err(()), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn chunk_size_lines() {
        assert_eq!(chunk_size_line(b"1a\r\nxx"), Ok(Some((4, 26))));
        assert_eq!(
            chunk_size_line(b"00000000000000000001A;a=\"b;c\" \r\n"),
            Ok(Some((32, 26)))
        );
        assert_eq!(chunk_size_line(b"5 \t; x\r\n"), Ok(Some((8, 5))));
        for partial in [&b""[..], b"5", b"5;ext", b"5\r"] {
            assert_eq!(
                chunk_size_line(partial),
                Ok(None),
                "{}",
                partial.escape_ascii()
            );
        }
        for bad in [
            &b"\r\n"[..],
            b" 5\r\n",
            b"5 5\r\n",
            b"5\n",
            b"5;x\ny\r\n",
            b"5\rx",
            b"-1\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            assert_eq!(chunk_size_line(bad), Err(()), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn trailer_lines() {
        assert!(matches!(trailer_line(b"\r\nHTTP"), Ok(Some(Trailer::End))));
        assert!(matches!(
            trailer_line(b"a: b\r\n\r\n"),
            Ok(Some(Trailer::Field(6)))
        ));
        assert!(matches!(trailer_line(b"a: b\r"), Ok(None)));
        for bad in [&b"a: b\n"[..], b"\n", b"no colon\r\n", b" folded\r\n"] {
            assert!(trailer_line(bad).is_err(), "{}", bad.escape_ascii());
        }
    }
}
