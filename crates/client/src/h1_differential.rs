//! Differential test of relaybench's HTTP/1.1 engine against hyper's client connection: random valid and invalid responses, cut at random split points, must end the same way in both (allowed differences listed below, each with its reason).
//!
//! Each case is a response (interim 1xx heads, the final head, a body framed by length,
//! chunks or the end of the connection, bytes after it) delivered by a scripted socket
//! ([`Wire`]) in pieces, some after a delay, then the server keeps the connection open,
//! closes it or resets it. Both engines, driven through [`H1Conn`] as the pool drives them,
//! must agree on the status, the body bytes, the outcome (ok, protocol error, truncated,
//! reset, read timeout) and whether the connection carries a second request (refused,
//! served, or lent and failed). Time is tokio's paused clock, so hung cases cost nothing.
//!
//! Allowed differences (relaybench's engine follows RFC 9112; hyper is laxer here):
//! 1. **`Transfer-Encoding` with `Content-Length`**: both read the body by the transfer
//!    coding (§6.3 ¶3), but relaybench does not reuse the connection afterwards (§6.3 ¶3:
//!    such a message "ought to be handled as an error"; §11.2, request smuggling), where
//!    hyper keeps it.
//! 2. **A bare LF in the trailer section** (a trailer line or the final line of a chunked
//!    body ending in LF without CR): relaybench reports a protocol error (§7.1: the chunked
//!    body's lines end in CRLF); hyper takes the LF as part of a field line and then, by the
//!    bytes that follow, accepts, fails or waits for a CRLF that never comes.
//! 3. **A malformed trailer line in a trailer section that never ends**: relaybench checks
//!    each trailer line as it comes and reports the protocol error at once; hyper parses the
//!    trailer section only once its empty line has come, so it waits for the rest (read
//!    timeout) or sees the connection end (truncated, reset). A section that does end is
//!    judged by both alike. (Heads are parsed by both at the same moments: on the first
//!    bytes, then whenever an empty line may have come.)
//!
//! Not generated, because the engines' limits differ there by design: chunk-size and trailer
//! lines over 4 KiB (relaybench's limit per line; hyper's is 16 KiB of extensions per body),
//! trailer sections over 100 fields or 64 KiB (hyper's limits; relaybench has none beyond
//! the line's).
//!
//! Run more cases locally with `PROPTEST_CASES=100000`.

use super::{
    h1::{H1Conn, OwnConn, MAX_HEAD},
    h1_hyper::HyperConn,
    message::Outgoing,
    timed_io::WriteProbe,
};
use crate::outcome::{IoKind, Outcome, Phase};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use proptest::{prelude::*, test_runner::TestRunner};
use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Cases per run in CI (a few seconds in a debug build).
const CASES: u32 = 4000;
/// The read timeout of both engines (paused clock: waiting it out costs nothing).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The answer to the second request on a kept-alive connection.
const SECOND: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond";

/// What the server does once the first reply is out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Keeps the connection open and answers a second request with [`SECOND`].
    KeepOpen,
    /// Closes it (reads see the end of the stream).
    Close,
    /// Resets it (the next read fails with `ConnectionReset`).
    Reset,
}

/// One stretch of the reply, readable `at` after the first request's last byte.
#[derive(Clone)]
struct Piece {
    /// The bytes; one read returns at most one piece.
    bytes: Vec<u8>,
    /// When it becomes readable, counted from the request.
    at: Duration,
}

/// One generated response and how it is delivered.
#[derive(Clone)]
struct Case {
    /// Whether the request is a HEAD (else a GET).
    head_request: bool,
    /// The reply to the first request, in pieces.
    pieces: Vec<Piece>,
    /// What follows the reply.
    end: End,
    /// The final head has both `Transfer-Encoding` and `Content-Length` (difference 1).
    te_and_cl: bool,
    /// A chunked body has a bare LF in its trailer section (difference 2).
    lf_in_trailers: bool,
    /// A chunked body has a malformed trailer line (difference 3).
    bad_trailer: bool,
}

impl Case {
    /// `bytes` in one piece, no allowed difference.
    fn raw(bytes: &[u8], end: End) -> Case {
        Case {
            head_request: false,
            pieces: vec![Piece {
                bytes: bytes.to_vec(),
                at: Duration::ZERO,
            }],
            end,
            te_and_cl: false,
            lf_in_trailers: false,
            bad_trailer: false,
        }
    }

    /// The same response delivered in pieces of `size` bytes.
    fn in_pieces_of(&self, size: usize) -> Case {
        let bytes: Vec<u8> = self.pieces.iter().flat_map(|p| p.bytes.clone()).collect();
        Case {
            pieces: bytes
                .chunks(size)
                .map(|piece| Piece {
                    bytes: piece.to_vec(),
                    at: Duration::ZERO,
                })
                .collect(),
            ..self.clone()
        }
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = if self.head_request { "HEAD" } else { "GET" };
        writeln!(f, "{method} request; then {:?}", self.end)?;
        for piece in &self.pieces {
            writeln!(f, "  +{:?} \"{}\"", piece.at, piece.bytes.escape_ascii())?;
        }
        write!(
            f,
            "  te_and_cl: {}, lf_in_trailers: {}, bad_trailer: {}",
            self.te_and_cl, self.lf_in_trailers, self.bad_trailer
        )
    }
}

/// A scripted server socket: reply pieces become readable after the request that asked for
/// them, one piece per read at most, so a case decides exactly where reads split.
struct Wire {
    /// Pieces of the first reply not yet read.
    pieces: VecDeque<Piece>,
    /// What follows them.
    end: End,
    /// Bytes of [`SECOND`] already read.
    second_read: usize,
    /// Everything the client wrote.
    written: Vec<u8>,
    /// Complete requests written (each ends with an empty line; none has a body).
    requests: usize,
    /// When the first request was complete.
    first_at: Option<Instant>,
    /// Whether the reset was reported.
    reset_sent: bool,
    /// The reader waiting for a request or a piece.
    reader: Option<Waker>,
    /// Timer of a delayed piece.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Wire {
    fn new(case: &Case) -> Wire {
        Wire {
            pieces: case.pieces.iter().cloned().collect(),
            end: case.end,
            second_read: 0,
            written: Vec::new(),
            requests: 0,
            first_at: None,
            reset_sent: false,
            reader: None,
            timer: None,
        }
    }

    fn wait(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        self.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let wire = self.get_mut();
        let Some(first_at) = wire.first_at else {
            return wire.wait(cx);
        };
        if let Some(piece) = wire.pieces.front_mut() {
            let due = first_at + piece.at;
            if Instant::now() < due {
                let timer = wire
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if timer.deadline() != due {
                    timer.as_mut().reset(due);
                }
                std::task::ready!(timer.as_mut().poll(cx));
            }
            let n = piece.bytes.len().min(buf.remaining());
            buf.put_slice(&piece.bytes[..n]);
            piece.bytes.drain(..n);
            if piece.bytes.is_empty() {
                wire.pieces.pop_front();
            }
            return Poll::Ready(Ok(()));
        }
        match wire.end {
            End::Close => Poll::Ready(Ok(())),
            End::Reset if !wire.reset_sent => {
                wire.reset_sent = true;
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
            End::Reset => Poll::Ready(Ok(())),
            End::KeepOpen if wire.requests >= 2 && wire.second_read < SECOND.len() => {
                let rest = &SECOND[wire.second_read..];
                let n = rest.len().min(buf.remaining());
                buf.put_slice(&rest[..n]);
                wire.second_read += n;
                Poll::Ready(Ok(()))
            }
            End::KeepOpen => wire.wait(cx),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let wire = self.get_mut();
        wire.written.extend_from_slice(buf);
        let requests = wire.written.windows(4).filter(|w| w == b"\r\n\r\n").count();
        if requests > wire.requests {
            wire.requests = requests;
            wire.first_at.get_or_insert_with(Instant::now);
            if let Some(reader) = wire.reader.take() {
                reader.wake();
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Which engine speaks.
#[derive(Clone, Copy, Debug)]
enum Engine {
    Relaybench,
    Hyper,
}

/// Whether the connection carried a second request.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reuse {
    /// Not lent again (the exchange failed, or the engine judged the connection spent).
    Refused,
    /// Lent, and the second request got [`SECOND`].
    Served,
    /// Lent, and the second request ended otherwise.
    Failed(Outcome, Option<u16>),
}

/// How one engine handled a case.
#[derive(Clone, PartialEq, Eq)]
struct Observed {
    /// The final status, if a head was accepted.
    status: Option<u16>,
    /// Body bytes handed out.
    body: Vec<u8>,
    /// How the exchange ended (`Ok`: the body was read to its end).
    outcome: Outcome,
    /// Whether the connection carried a second request.
    reuse: Reuse,
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status {:?}, {:?}, reuse {:?}, body \"{}\"",
            self.status,
            self.outcome,
            self.reuse,
            self.body.escape_ascii()
        )
    }
}

/// One exchange as the client makes it: the head, then every body piece under the read timeout.
async fn exchange(conn: &mut H1Conn, head_request: bool) -> (Option<u16>, Vec<u8>, Outcome) {
    let uri = http::Uri::from_static("http://wire.test/v1/x");
    let host = HeaderValue::from_static("wire.test");
    let (headers, body) = (HeaderMap::new(), Bytes::new());
    let method = if head_request {
        Method::HEAD
    } else {
        Method::GET
    };
    let request = Outgoing {
        method: &method,
        uri: &uri,
        host: &host,
        headers: &headers,
        body: &body,
        record: &[],
    };
    let head = match conn.send(&request, READ_TIMEOUT).await {
        Ok(head) => head,
        Err(outcome) => return (None, Vec::new(), outcome),
    };
    let status = Some(head.status.as_u16());
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(READ_TIMEOUT, conn.next_data()).await {
            Err(_) => return (status, body, Outcome::Timeout(Phase::Read)),
            Ok(Err(outcome)) => return (status, body, outcome),
            Ok(Ok(None)) => return (status, body, Outcome::Ok),
            Ok(Ok(Some(piece))) => body.extend_from_slice(piece),
        }
    }
}

/// Runs `case` through `engine` as the pool would: the exchange, the check when the
/// connection is given back, a pause, the idle check when it is lent again, a second request.
async fn observe(engine: Engine, case: &Case) -> Observed {
    let wire = Wire::new(case);
    let mut conn = match engine {
        Engine::Relaybench => H1Conn::Own(OwnConn::new(Box::new(wire))),
        Engine::Hyper => H1Conn::Hyper(
            HyperConn::handshake(wire, WriteProbe::shared())
                .await
                .expect("hyper's handshake needs no I/O"),
        ),
    };
    let (status, body, outcome) = exchange(&mut conn, case.head_request).await;
    let given_back = outcome == Outcome::Ok && conn.is_reusable();
    // Longer than any delay of a case: whatever the server sent has arrived.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let reuse = if given_back && conn.check_idle() {
        match exchange(&mut conn, false).await {
            (Some(200), body, Outcome::Ok) if body == b"second" => Reuse::Served,
            (status, _, outcome) => Reuse::Failed(outcome, status),
        }
    } else {
        Reuse::Refused
    };
    Observed {
        status,
        body,
        outcome,
        reuse,
    }
}

/// A runtime on tokio's paused clock: timeouts of hung cases pass at once.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// Both engines' accounts of `case`.
fn both(runtime: &tokio::runtime::Runtime, case: &Case) -> (Observed, Observed) {
    runtime.block_on(async {
        (
            observe(Engine::Relaybench, case).await,
            observe(Engine::Hyper, case).await,
        )
    })
}

/// Whether relaybench's and hyper's accounts agree, or differ only as allowed (module doc).
fn judge(case: &Case, ours: &Observed, hyper: &Observed) -> Result<(), String> {
    if ours == hyper {
        return Ok(());
    }
    // Difference 1: no reuse after a message with both framings.
    let reuse_apart = Observed {
        reuse: hyper.reuse.clone(),
        ..ours.clone()
    };
    if case.te_and_cl && ours.reuse == Reuse::Refused && reuse_apart == *hyper {
        return Ok(());
    }
    // Difference 2: a bare LF in the trailer section is a protocol error.
    if case.lf_in_trailers
        && ours.outcome == Outcome::Io(IoKind::Protocol)
        && ours.status == hyper.status
    {
        return Ok(());
    }
    // Difference 3: a malformed trailer section is reported before it ends.
    let hyper_waited_for_the_end = matches!(
        hyper.outcome,
        Outcome::Timeout(Phase::Read) | Outcome::Io(IoKind::Truncated) | Outcome::Io(IoKind::Reset)
    );
    if case.bad_trailer
        && ours.outcome == Outcome::Io(IoKind::Protocol)
        && hyper_waited_for_the_end
        && (ours.status, &ours.body) == (hyper.status, &hyper.body)
    {
        return Ok(());
    }
    Err(format!(
        "the engines disagree on\n{case:?}\n relaybench: {ours:?}\n hyper:      {hyper:?}"
    ))
}

/// Runs `case` through both engines, in its pieces and byte by byte (in 1 KiB pieces when
/// large), asserts they agree, and returns relaybench's account.
fn agreed(case: Case) -> Observed {
    let runtime = runtime();
    let mut first = None;
    let len: usize = case.pieces.iter().map(|p| p.bytes.len()).sum();
    let small = if len < 4096 { 1 } else { 1024 };
    for case in [case.in_pieces_of(small), case] {
        let (ours, hyper) = both(&runtime, &case);
        if let Err(disagreement) = judge(&case, &ours, &hyper) {
            panic!("{disagreement}");
        }
        if let Some(first) = &first {
            assert_eq!(&ours, first, "the split points changed the outcome");
        }
        first = Some(ours);
    }
    first.expect("two runs")
}

#[test]
fn both_engines_agree_on_random_responses_at_random_split_points() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let runtime = runtime();
    let result = TestRunner::new(config).run(&gen::case(), |case| {
        let (ours, hyper) = both(&runtime, &case);
        judge(&case, &ours, &hyper).map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// The generator: responses as relays send them and as they get them wrong.
mod gen {
    use super::*;
    use proptest::{collection::vec, option, sample::select};

    /// How head lines end.
    #[derive(Clone, Copy, Debug)]
    pub enum LineEnds {
        /// CRLF everywhere.
        Crlf,
        /// A bare LF everywhere (RFC 9112 §2.2 lets a recipient accept it).
        Lf,
        /// CRLF except the n-th line (modulo the line count).
        OneLf(usize),
    }

    /// How a `Content-Length` is written, relative to the body's real length `n`.
    #[derive(Clone, Copy, Debug)]
    pub enum Length {
        Exact,
        /// `n, n` (RFC 9112 §6.3 ¶5: one length).
        ListedTwice,
        /// Two `Content-Length` lines of `n`.
        Repeated,
        /// `n, n+1`.
        ListedDiffering,
        /// Two lines, `n` and `n+1`.
        RepeatedDiffering,
        /// `n, , n` (an empty list element).
        EmptyElement,
        /// Fewer than sent: the rest are stray bytes.
        Shorter(usize),
        /// More than sent: the body is cut short.
        Longer(usize),
        Plus,
        Negative,
        Hex,
        Empty,
        TwoNumbers,
        Overflow,
    }

    impl Length {
        fn lines(self, n: usize) -> Vec<String> {
            let one = |v: String| vec![v];
            match self {
                Length::Exact => one(n.to_string()),
                Length::ListedTwice => one(format!("{n}, {n}")),
                Length::Repeated => vec![n.to_string(), n.to_string()],
                Length::ListedDiffering => one(format!("{n}, {}", n + 1)),
                Length::RepeatedDiffering => vec![n.to_string(), (n + 1).to_string()],
                Length::EmptyElement => one(format!("{n}, , {n}")),
                Length::Shorter(d) => one(n.saturating_sub(d).to_string()),
                Length::Longer(d) => one((n + d).to_string()),
                Length::Plus => one(format!("+{n}")),
                Length::Negative => one(format!("-{n}")),
                Length::Hex => one(format!("0x{n:x}")),
                Length::Empty => one(String::new()),
                Length::TwoNumbers => one(format!("{n} {n}")),
                Length::Overflow => one("184467440737095516160".into()),
            }
        }
    }

    fn length() -> impl Strategy<Value = Length> {
        prop_oneof![
            20 => Just(Length::Exact),
            3 => Just(Length::ListedTwice),
            3 => Just(Length::Repeated),
            1 => Just(Length::ListedDiffering),
            1 => Just(Length::RepeatedDiffering),
            1 => Just(Length::EmptyElement),
            2 => (1usize..20).prop_map(Length::Shorter),
            2 => (1usize..20).prop_map(Length::Longer),
            1 => Just(Length::Plus),
            1 => Just(Length::Negative),
            1 => Just(Length::Hex),
            1 => Just(Length::Empty),
            1 => Just(Length::TwoNumbers),
            1 => Just(Length::Overflow),
        ]
    }

    /// How a chunk's size line and data are written, and what is wrong with them.
    #[derive(Clone, Debug)]
    pub enum ChunkFault {
        None,
        /// Size in upper-case hex.
        Upper,
        /// This many leading zeros before the size.
        LeadingZeros(usize),
        /// Whitespace between size and line end (allowed as BWS).
        TrailingSpace,
        /// The size replaced by this text.
        BadSize(&'static str),
        /// A bare LF ends the size line.
        BareLfAfterSize,
        /// The extension holds a bare LF before the CRLF.
        LfInExtension,
        /// The data is followed by these two bytes instead of CRLF.
        AfterData(&'static str),
        /// The size says this many more bytes than are sent.
        SizeTooLarge(usize),
    }

    #[derive(Clone, Debug)]
    pub struct Chunk {
        pub data: Vec<u8>,
        pub extension: Option<&'static str>,
        pub fault: ChunkFault,
    }

    fn chunk() -> impl Strategy<Value = Chunk> {
        let fault = prop_oneof![
            30 => Just(ChunkFault::None),
            3 => Just(ChunkFault::Upper),
            2 => (1usize..20).prop_map(ChunkFault::LeadingZeros),
            1 => Just(ChunkFault::TrailingSpace),
            1 => select(vec!["zz", "-1", "", " 5", "5 5", "0x5", "fffffffffffffffff1"])
                .prop_map(ChunkFault::BadSize),
            1 => Just(ChunkFault::BareLfAfterSize),
            1 => Just(ChunkFault::LfInExtension),
            1 => select(vec!["\n", "XX", "\r", "\n\r"]).prop_map(ChunkFault::AfterData),
            1 => (1usize..5).prop_map(ChunkFault::SizeTooLarge),
        ];
        (
            vec(any::<u8>(), 1..40),
            option::weighted(0.2, extension()),
            fault,
        )
            .prop_map(|(data, extension, fault)| Chunk {
                data,
                extension,
                fault,
            })
    }

    fn extension() -> impl Strategy<Value = &'static str> {
        select(vec![
            ";a",
            ";a=b",
            ";name=\"quoted;value\"",
            " ; a = b",
            ";",
            ";x\x01y",
        ])
    }

    impl Chunk {
        fn render(&self, out: &mut Vec<u8>) {
            let size = match self.fault {
                ChunkFault::SizeTooLarge(more) => self.data.len() + more,
                _ => self.data.len(),
            };
            let size = match self.fault {
                ChunkFault::Upper => format!("{size:X}"),
                ChunkFault::LeadingZeros(k) => format!("{}{size:x}", "0".repeat(k)),
                ChunkFault::TrailingSpace => format!("{size:x} \t"),
                ChunkFault::BadSize(text) => text.to_string(),
                _ => format!("{size:x}"),
            };
            out.extend_from_slice(size.as_bytes());
            out.extend_from_slice(self.extension.unwrap_or("").as_bytes());
            match self.fault {
                ChunkFault::BareLfAfterSize => out.push(b'\n'),
                ChunkFault::LfInExtension => out.extend_from_slice(b";x\ny\r\n"),
                _ => out.extend_from_slice(b"\r\n"),
            }
            out.extend_from_slice(&self.data);
            match self.fault {
                ChunkFault::AfterData(end) => out.extend_from_slice(end.as_bytes()),
                _ => out.extend_from_slice(b"\r\n"),
            }
        }
    }

    /// A trailer line.
    #[derive(Clone, Debug)]
    pub enum Trailer {
        Field,
        NoColon,
        ObsFold,
        /// Ends in a bare LF (difference 2).
        BareLf,
    }

    impl Trailer {
        fn line(&self) -> &'static [u8] {
            match self {
                Trailer::Field => b"x-checksum: 1f2e\r\n",
                Trailer::NoColon => b"not a field\r\n",
                Trailer::ObsFold => b" folded\r\n",
                Trailer::BareLf => b"x-checksum: 1f2e\n",
            }
        }
    }

    fn trailer() -> impl Strategy<Value = Trailer> {
        prop_oneof![
            8 => Just(Trailer::Field),
            1 => Just(Trailer::NoColon),
            1 => Just(Trailer::ObsFold),
            1 => Just(Trailer::BareLf),
        ]
    }

    /// How the body is framed.
    #[derive(Clone, Debug)]
    pub enum Framing {
        /// No framing field: the body runs to the end of the connection.
        UntilClose,
        /// `Content-Length`.
        Length(Length),
        /// Chunked, possibly with a `Content-Length` too.
        Chunked {
            te: Vec<&'static str>,
            chunks: Vec<Chunk>,
            last: &'static str,
            trailers: Vec<Trailer>,
            /// The final line is a bare LF (difference 2).
            bare_lf_end: bool,
            length: Option<Length>,
        },
        /// A transfer coding that does not end in chunked: until close.
        OtherCoding {
            te: &'static str,
            length: Option<Length>,
        },
    }

    fn framing() -> impl Strategy<Value = Framing> {
        let te = prop_oneof![
            6 => Just(vec!["chunked"]),
            1 => Just(vec!["Chunked"]),
            1 => Just(vec!["gzip, chunked"]),
            1 => Just(vec!["gzip", "chunked"]),
        ];
        let chunked = (
            te,
            vec(chunk(), 0..6),
            select(vec!["0", "000", "0;last=1"]),
            prop_oneof![6 => Just(vec![]), 2 => vec(trailer(), 1..3)],
            prop::bool::weighted(0.03),
            option::weighted(0.1, length()),
        )
            .prop_map(|(te, chunks, last, trailers, bare_lf_end, length)| {
                Framing::Chunked {
                    te,
                    chunks,
                    last,
                    trailers,
                    bare_lf_end,
                    length,
                }
            });
        let other = (
            select(vec!["gzip", "chunked, gzip", "identity"]),
            option::weighted(0.2, length()),
        )
            .prop_map(|(te, length)| Framing::OtherCoding { te, length });
        prop_oneof![
            10 => length().prop_map(Framing::Length),
            6 => chunked,
            2 => Just(Framing::UntilClose),
            1 => other,
        ]
    }

    /// A noise field in a head.
    #[derive(Clone, Debug)]
    pub enum Field {
        Plain(&'static str, &'static str),
        /// An obs-fold continuation line (RFC 9112 §5.2: rejected by both, httparse's default).
        ObsFold,
        /// Whitespace between name and colon (§5.1: must be rejected).
        SpaceBeforeColon,
        /// A name with a character outside `tchar`.
        BadName,
    }

    fn field() -> impl Strategy<Value = Field> {
        let plain = (
            select(vec![
                "server",
                "date",
                "content-type",
                "x-request-id",
                "retry-after",
                "Keep-Alive",
                "vary",
                "x-empty",
            ]),
            select(vec![
                "nginx",
                "Tue, 15 Nov 1994 08:12:31 GMT",
                "application/json",
                "4f2a-91",
                "0",
                "timeout=5",
                "",
                "  padded\t",
            ]),
        )
            .prop_map(|(name, value)| Field::Plain(name, value));
        prop_oneof![
            40 => plain,
            1 => Just(Field::ObsFold),
            1 => Just(Field::SpaceBeforeColon),
            1 => Just(Field::BadName),
        ]
    }

    impl Field {
        fn lines(&self) -> Vec<String> {
            match self {
                Field::Plain(name, value) => vec![format!("{name}: {value}")],
                Field::ObsFold => vec!["x-folded: a".into(), " b".into()],
                Field::SpaceBeforeColon => vec!["x-spaced : 1".into()],
                Field::BadName => vec!["x@y: 1".into()],
            }
        }
    }

    /// Everything a case is made of, before it is rendered to bytes.
    #[derive(Clone, Debug)]
    pub struct Spec {
        head_request: bool,
        interim: Vec<(u16, Vec<Field>)>,
        version: &'static str,
        status: &'static str,
        reason: &'static str,
        connection: Vec<&'static str>,
        fields: Vec<Field>,
        /// Extra `x-n: v` fields, to reach the field count limit.
        many: usize,
        framing: Framing,
        body: Vec<u8>,
        /// Pad the final head to exactly this many bytes.
        head_size: Option<usize>,
        line_ends: LineEnds,
        after: &'static [u8],
        /// Cut the response at this fraction (of 65,536) of its length.
        cut: Option<u16>,
        end: End,
        /// Split points (fractions of 65,536 of the length) and the delay before each piece.
        splits: Vec<(u16, u64)>,
        first_delay: u64,
    }

    pub fn case() -> impl Strategy<Value = Case> {
        let head = (
            prop::bool::weighted(0.15),
            prop_oneof![
                8 => Just(vec![]),
                1 => vec((select(vec![100u16, 102, 103]), vec(field(), 0..2)), 1..3),
            ],
            prop_oneof![
                30 => Just("HTTP/1.1"),
                6 => Just("HTTP/1.0"),
                1 => select(vec!["HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.1 "]),
            ],
            prop_oneof![
                30 => Just("200"),
                10 => select(vec!["201", "204", "206", "304", "404", "429", "500", "503"]),
                1 => select(vec!["101", "199", "999", "600", "2x0", "20", "2000", "099"]),
            ],
            select(vec!["OK", "", "Whatever It Says", " two  spaces"]),
            prop_oneof![
                12 => Just(vec![]),
                2 => select(vec!["close", "keep-alive", "Keep-Alive", "keep-alive, close", "upgrade"])
                    .prop_map(|c| vec![c]),
                1 => Just(vec!["close", "keep-alive"]),
                1 => Just(vec!["keep-alive", "close"]),
            ],
            vec(field(), 0..4),
            prop_oneof![30 => Just(0usize), 1 => 90usize..110],
        );
        let rest = (
            framing(),
            prop_oneof![
                12 => vec(any::<u8>(), 0..64),
                3 => vec(any::<u8>(), 0..3000),
                1 => (20_000usize..70_000).prop_map(|n| (0..n).map(|i| (i % 251) as u8).collect()),
            ],
            prop_oneof![
                40 => Just(None),
                1 => (MAX_HEAD - 3..MAX_HEAD + 3).prop_map(Some),
                1 => (MAX_HEAD - 4000..MAX_HEAD + 4000).prop_map(Some),
            ],
            prop_oneof![
                16 => Just(LineEnds::Crlf),
                2 => Just(LineEnds::Lf),
                1 => any::<usize>().prop_map(LineEnds::OneLf),
            ],
            prop_oneof![
                16 => Just(&b""[..]),
                1 => Just(&b"garbage"[..]),
                1 => Just(&b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..]),
            ],
            option::weighted(0.15, any::<u16>()),
            prop_oneof![5 => Just(End::KeepOpen), 4 => Just(End::Close), 1 => Just(End::Reset)],
            vec(
                (any::<u16>(), prop_oneof![3 => Just(0u64), 1 => 1u64..50]),
                0..6,
            ),
            prop_oneof![3 => Just(0u64), 1 => 1u64..50],
        );
        (head, rest).prop_map(
            |(
                (head_request, interim, version, status, reason, connection, fields, many),
                (framing, body, head_size, line_ends, after, cut, end, splits, first_delay),
            )| {
                Spec {
                    head_request,
                    interim,
                    version,
                    status,
                    reason,
                    connection,
                    fields,
                    many,
                    framing,
                    body,
                    head_size,
                    line_ends,
                    after,
                    cut,
                    end,
                    splits,
                    first_delay,
                }
                .render()
            },
        )
    }

    /// A head from its lines (status line first), each ended as `ends` says, then the empty line.
    fn head(lines: &[String], ends: LineEnds) -> Vec<u8> {
        let mut out = Vec::new();
        let count = lines.len() + 1;
        for (i, line) in lines.iter().map(String::as_str).chain([""]).enumerate() {
            out.extend_from_slice(line.as_bytes());
            let lf = match ends {
                LineEnds::Crlf => false,
                LineEnds::Lf => true,
                LineEnds::OneLf(n) => n % count == i,
            };
            out.extend_from_slice(if lf { b"\n" } else { b"\r\n" });
        }
        out
    }

    impl Spec {
        pub fn render(self) -> Case {
            let mut bytes = Vec::new();
            for (code, fields) in &self.interim {
                let mut lines = vec![format!("HTTP/1.1 {code} Interim")];
                lines.extend(fields.iter().flat_map(Field::lines));
                bytes.extend(head(&lines, self.line_ends));
            }
            let mut lines = vec![format!("{} {} {}", self.version, self.status, self.reason)];
            lines.extend(self.fields.iter().flat_map(Field::lines));
            lines.extend(self.connection.iter().map(|c| format!("connection: {c}")));
            lines.extend((0..self.many).map(|i| format!("x-{i}: v")));
            let (body, te_and_cl, lf_in_trailers, bad_trailer) = self.framing_lines(&mut lines);
            if let Some(size) = self.head_size {
                lines.insert(1, "x-pad: p".into());
                let short = size.saturating_sub(head(&lines, self.line_ends).len());
                lines[1].push_str(&"p".repeat(short));
            }
            bytes.extend(head(&lines, self.line_ends));
            bytes.extend(body);
            bytes.extend_from_slice(self.after);
            if let Some(cut) = self.cut {
                bytes.truncate(bytes.len() * cut as usize / 65_536);
            }
            Case {
                head_request: self.head_request,
                pieces: self.pieces(bytes),
                end: self.end,
                te_and_cl,
                lf_in_trailers,
                bad_trailer,
            }
        }

        /// Adds the framing fields to `lines`; returns the body as sent and the allowed
        /// differences it opens (1, 2, 3 for trailers).
        fn framing_lines(&self, lines: &mut Vec<String>) -> (Vec<u8>, bool, bool, bool) {
            let lengths = |lines: &mut Vec<String>, length: &Option<Length>| {
                for value in length.map_or(vec![], |l| l.lines(self.body.len())) {
                    lines.push(format!("content-length: {value}"));
                }
                length.is_some()
            };
            match &self.framing {
                Framing::UntilClose => (self.body.clone(), false, false, false),
                Framing::Length(length) => {
                    lengths(lines, &Some(*length));
                    (self.body.clone(), false, false, false)
                }
                Framing::OtherCoding { te, length } => {
                    lines.push(format!("transfer-encoding: {te}"));
                    let both = lengths(lines, length);
                    (self.body.clone(), both, false, false)
                }
                Framing::Chunked {
                    te,
                    chunks,
                    last,
                    trailers,
                    bare_lf_end,
                    length,
                } => {
                    lines.extend(te.iter().map(|te| format!("transfer-encoding: {te}")));
                    let both = lengths(lines, length);
                    let mut body = Vec::new();
                    for chunk in chunks {
                        chunk.render(&mut body);
                    }
                    body.extend_from_slice(last.as_bytes());
                    body.extend_from_slice(b"\r\n");
                    for trailer in trailers {
                        body.extend_from_slice(trailer.line());
                    }
                    body.extend_from_slice(if *bare_lf_end { b"\n" } else { b"\r\n" });
                    let lf = *bare_lf_end || trailers.iter().any(|t| matches!(t, Trailer::BareLf));
                    let bad = trailers
                        .iter()
                        .any(|t| matches!(t, Trailer::NoColon | Trailer::ObsFold));
                    (body, both, lf, bad)
                }
            }
        }

        /// `bytes` in pieces at the split points, each readable after its delay.
        fn pieces(&self, bytes: Vec<u8>) -> Vec<Piece> {
            let len = bytes.len();
            let mut cuts: Vec<(usize, u64)> = self
                .splits
                .iter()
                .map(|&(at, delay)| (len * at as usize / 65_536, delay))
                .filter(|&(at, _)| at > 0 && at < len)
                .collect();
            cuts.sort_unstable();
            cuts.dedup_by_key(|c| c.0);
            let mut pieces = Vec::new();
            let (mut from, mut at) = (0, Duration::from_millis(self.first_delay));
            for (to, delay) in cuts.into_iter().chain([(len, 0)]) {
                if to > from {
                    pieces.push(Piece {
                        bytes: bytes[from..to].to_vec(),
                        at,
                    });
                }
                from = to;
                at += Duration::from_millis(delay);
            }
            pieces
        }
    }
}

#[test]
fn both_engines_accept_heads_up_to_64_kib() {
    for (size, accepted) in [
        (MAX_HEAD - 1, true),
        (MAX_HEAD, true),
        (MAX_HEAD + 1, false),
    ] {
        let mut head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-pad: ".to_vec();
        head.resize(size - 4, b'p');
        head.extend_from_slice(b"\r\n\r\nhi");
        let ours = agreed(Case::raw(&head, End::Close));
        assert_eq!(ours.outcome == Outcome::Ok, accepted, "{size}: {ours:?}");
    }
}

/// What the differential test found in relaybench's engine, each as its minimal case: both
/// engines must agree, and relaybench must end as stated.
mod found {
    use super::*;

    fn ok(status: u16, body: &[u8], reuse: Reuse) -> Observed {
        Observed {
            status: Some(status),
            body: body.to_vec(),
            outcome: Outcome::Ok,
            reuse,
        }
    }

    fn failed(status: Option<u16>, body: &[u8], outcome: Outcome) -> Observed {
        Observed {
            status,
            body: body.to_vec(),
            outcome,
            reuse: Reuse::Refused,
        }
    }

    const PROTOCOL: Outcome = Outcome::Io(IoKind::Protocol);

    /// A chunked response whose body is `body` (after the head's fields).
    fn chunked(body: &str) -> Case {
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        Case::raw(format!("{head}{body}").as_bytes(), End::KeepOpen)
    }

    #[test]
    fn a_list_of_equal_content_lengths_is_one_length() {
        // RFC 9112 §6.3 ¶5 (and RFC 9110 §8.6).
        let case = Case::raw(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\nhi",
            End::KeepOpen,
        );
        assert_eq!(agreed(case), ok(200, b"hi", Reuse::Served));
    }

    #[test]
    fn a_later_keep_alive_does_not_undo_close() {
        let case = Case::raw(
            b"HTTP/1.0 200 OK\r\nconnection: close\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nhi",
            End::KeepOpen,
        );
        assert_eq!(agreed(case), ok(200, b"hi", Reuse::Refused));
    }

    #[test]
    fn transfer_encoding_in_http_1_0_is_faulty_framing() {
        // RFC 9112 §6.1: HTTP/1.0 has no transfer codings.
        let case = Case::raw(
            b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            End::KeepOpen,
        );
        assert_eq!(agreed(case), failed(None, b"", PROTOCOL));
    }

    #[test]
    fn transfer_encoding_overrides_an_invalid_content_length() {
        // RFC 9112 §6.3 ¶3; the connection is not reused (difference 1).
        let mut case = Case::raw(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: abc\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            End::KeepOpen,
        );
        case.te_and_cl = true;
        assert_eq!(agreed(case), ok(200, b"hi", Reuse::Refused));
    }

    #[test]
    fn a_chunk_size_line_without_digits_is_a_protocol_error() {
        // httparse reads an empty size as 0: the body would end before it began.
        for body in ["\r\nhi", " \r\nhi", ";ext\r\nhi"] {
            assert_eq!(
                agreed(chunked(body)),
                failed(Some(200), b"", PROTOCOL),
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_bare_lf_in_a_chunk_extension_is_a_protocol_error() {
        let case = chunked("2;x\ny\r\nhi\r\n0\r\n\r\n");
        assert_eq!(agreed(case), failed(Some(200), b"", PROTOCOL));
    }

    #[test]
    fn a_malformed_trailer_field_is_a_protocol_error() {
        let case = chunked("2\r\nhi\r\n0\r\nnot a field\r\n\r\n");
        assert_eq!(agreed(case), failed(Some(200), b"hi", PROTOCOL));
    }

    #[test]
    fn a_chunk_size_may_have_any_number_of_leading_zeros() {
        // chunk-size = 1*HEXDIG (RFC 9112 §7.1); httparse stops at 16 digits.
        let case = chunked("000000000000000000002\r\nhi\r\n0\r\n\r\n");
        assert_eq!(agreed(case), ok(200, b"hi", Reuse::Served));
    }

    #[test]
    fn a_bodiless_answer_ignores_its_framing_fields() {
        // RFC 9112 §6.3 ¶2: no body, whatever the fields say.
        let no_content = Case::raw(
            b"HTTP/1.1 204 No Content\r\ncontent-length: abc\r\n\r\n",
            End::KeepOpen,
        );
        assert_eq!(agreed(no_content), ok(204, b"", Reuse::Served));
        let head = Case {
            head_request: true,
            ..Case::raw(
                b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n",
                End::KeepOpen,
            )
        };
        assert_eq!(agreed(head), ok(200, b"", Reuse::Served));
    }

    #[test]
    fn a_malformed_head_after_an_interim_head_is_reported_when_it_comes() {
        let mut case = Case::raw(b"HTTP/1.1 199 OK\r\n\r\n", End::KeepOpen);
        case.pieces.push(Piece {
            bytes: b"\x00".to_vec(),
            at: Duration::ZERO,
        });
        assert_eq!(agreed(case), failed(None, b"", PROTOCOL));
    }

    #[test]
    fn a_chunked_body_followed_by_stray_bytes_is_complete_and_the_connection_spent() {
        let case = Case::raw(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\ngarbage",
            End::KeepOpen,
        );
        assert_eq!(agreed(case), ok(200, b"", Reuse::Refused));
    }
}
