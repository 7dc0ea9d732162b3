//! Our HTTP/2 connections, on the `h2` crate: the handshake, the task that drives a connection and tells the pool what changed, one request as one stream (its own write and read timeouts), and how `h2` errors become outcomes.
//!
//! Why `h2` rather than hyper's HTTP/2 client (which runs on `h2`): hyper hides what the pool
//! has to know per connection and per stream — the server's `SETTINGS_MAX_CONCURRENT_STREAMS`
//! (`SendRequest::current_max_send_streams`), whether the server said `GOAWAY`
//! (`poll_ready` fails afterwards), and why a stream ended (`h2::Error::reason`,
//! `is_go_away`, `is_remote`) — and it queues a stream behind the server's limit inside the
//! request future, where the wait cannot be told apart from the server's time to answer.
//!
//! **Settled.** The server's first frame is its `SETTINGS`; until it has been read the
//! stream limit is unknown. The connection task sends a `PING` right after the handshake;
//! its answer comes after the server's `SETTINGS`, so from then on (or from the first
//! response head, whichever is first) the limit `h2` reports is the server's. Until then
//! the pool lends the connection to the request that dialled it only: the dialler pays no
//! extra round trip, and nobody else can open a stream the server would refuse.

use super::{
    message::{Head, Outgoing, Response, ResponseBody},
    origin::Origin,
    timed_io::{classify_io, TimedIo},
};
use crate::outcome::{IoKind, Outcome, Phase};
use bytes::Bytes;
use h2::{client::SendRequest, Ping, Reason};
use http::{header, uri, HeaderMap, Method, Version};
use std::{
    future::{poll_fn, Future},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc, Weak,
    },
    task::{Context, Poll, Waker},
    time::Duration,
};
use tokio::io::{AsyncRead, AsyncWrite};

/// Receive window of a stream, as hyper's client uses: an SSE stream or a large JSON
/// answer must not stall on window updates.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// Receive window of the whole connection (hyper's client default).
const CONN_WINDOW: u32 = 5 * 1024 * 1024;
/// Largest response header list accepted (hyper's client default).
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// Told when a connection's capacity may have grown or it closed, so waiting requests are
/// served (the pool implements it).
pub trait ConnWatcher: Send + Sync {
    /// Something about the connection changed: look again.
    fn changed(&self);
}

/// What the connection task and the streams learn about a connection, shared with the pool.
struct H2State {
    /// The server's `SETTINGS` have been read: `current_max_send_streams` is the server's.
    settled: AtomicBool,
    /// The connection task ended: the connection carries nothing more.
    closed: AtomicBool,
    /// The pool, told about changes (gone when the pool is).
    watcher: Weak<dyn ConnWatcher>,
}

impl H2State {
    /// Marks the server's settings as known; tells the pool the first time.
    fn settle(&self) {
        if !self.settled.swap(true, Relaxed) {
            self.notify();
        }
    }

    fn notify(&self) {
        if let Some(watcher) = self.watcher.upgrade() {
            watcher.changed();
        }
    }
}

/// An HTTP/2 connection: clones of its sender open streams; the connection itself is driven
/// by a task of its own (see [`handshake`]).
pub struct H2Conn {
    /// The stream opener; cloned per stream (clones share the connection).
    sender: SendRequest<Bytes>,
    /// Shared with the connection task.
    state: Arc<H2State>,
    /// `:scheme` of every request (requests carry only path and query).
    scheme: uri::Scheme,
    /// `:authority` of every request.
    authority: uri::Authority,
}

/// A sender kept by the pool to ask, without opening a stream, whether a connection still
/// takes new streams.
pub struct H2Probe(SendRequest<Bytes>);

impl H2Probe {
    /// False once the server said `GOAWAY` or the connection failed: `h2` refuses new
    /// streams from then on (streams already open go on).
    pub fn takes_streams(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        matches!(self.0.poll_ready(&mut cx), Poll::Ready(Ok(())))
    }
}

impl H2Conn {
    /// Streams the connection may carry at once: the server's advertised limit (capped at
    /// `cap`, our `http2_max_streams`) once its settings are known, one (the dialler's) before.
    pub fn stream_limit(&self, cap: usize) -> usize {
        if self.state.settled.load(Relaxed) {
            self.sender.current_max_send_streams().min(cap)
        } else {
            1.min(cap)
        }
    }

    /// Whether the settings are still unknown (the connection may have more room soon).
    pub fn is_settling(&self) -> bool {
        !self.state.settled.load(Relaxed)
    }

    /// Whether the connection task has ended.
    pub fn is_closed(&self) -> bool {
        self.state.closed.load(Relaxed)
    }

    /// A probe for `GOAWAY` (see [`H2Probe`]).
    pub fn probe(&self) -> H2Probe {
        H2Probe(self.sender.clone())
    }
}

/// Runs the HTTP/2 handshake on `io` (a connection to `origin`) and spawns the task that
/// drives the connection; `watcher` is told when the server's settings arrive, when its
/// stream limit changes and when the connection ends.
pub async fn handshake<T>(
    io: TimedIo<T>,
    origin: &Origin,
    watcher: Weak<dyn ConnWatcher>,
) -> Result<H2Conn, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let scheme = if origin.tls {
        uri::Scheme::HTTPS
    } else {
        uri::Scheme::HTTP
    };
    let authority =
        uri::Authority::try_from(origin.authority().as_str()).map_err(|e| e.to_string())?;
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_header_list_size(MAX_HEADER_LIST)
        .enable_push(false)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| e.to_string())?;
    let state = Arc::new(H2State {
        settled: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        watcher,
    });
    tokio::spawn(drive(connection, state.clone()));
    Ok(H2Conn {
        sender,
        state,
        scheme,
        authority,
    })
}

/// Drives the connection until it ends, reporting what the pool needs to know.
async fn drive<T>(mut connection: h2::client::Connection<TimedIo<T>, Bytes>, state: Arc<H2State>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut ping_pong = connection.ping_pong();
    let mut pong = ping_pong.as_mut().map(|p| Box::pin(p.ping(Ping::opaque())));
    let mut limit = connection.max_concurrent_send_streams();
    let _ = poll_fn(|cx| {
        if let Some(Poll::Ready(_)) = pong.as_mut().map(|p| p.as_mut().poll(cx)) {
            // Answered (or failed with the connection): either way nothing is left to wait for.
            pong = None;
            state.settle();
        }
        let polled = Pin::new(&mut connection).poll(cx);
        let now = connection.max_concurrent_send_streams();
        if now != limit {
            // The server changed its limit: a raised one may serve waiting requests.
            limit = now;
            state.notify();
        }
        polled
    })
    .await;
    state.closed.store(true, Relaxed);
    state.notify();
}

/// The limits one stream runs under.
#[derive(Clone, Copy)]
pub struct StreamTimeouts {
    /// Longest wait for the response head after the request went out.
    pub read: Duration,
    /// Longest wait for the server's flow control to take more of the request body.
    pub write: Duration,
}

/// Sends `request` as a new stream of `conn` and waits for the response head. The read
/// timeout runs from the moment this stream's last byte was handed to the connection, so
/// other streams' traffic never extends it. The pool lends a stream only under the server's
/// limit, so it opens at once; only in the instant a server lowers its limit (or while a
/// stream just given up is still being reset) does `h2` hold a new stream back, and that wait
/// counts as the server's time.
pub async fn send(
    conn: &H2Conn,
    request: &Outgoing<'_>,
    limits: StreamTimeouts,
) -> Result<Response<'static>, Outcome> {
    let mut sender = conn.sender.clone();
    let body = request.body;
    // Fails (nothing sent) once the server said GOAWAY: that is what makes `io_goaway` safe to
    // retry. No readiness wait after it: by then a GOAWAY could cover this very stream.
    let (response, mut stream) = sender
        .send_request(request_head(request, conn), body.is_empty())
        .map_err(|e| classify(&e))?;
    if !body.is_empty() {
        send_body(&mut stream, body, limits.write).await?;
    }
    let response = match tokio::time::timeout(limits.read, response).await {
        Err(_) => return Err(Outcome::Timeout(Phase::Read)),
        Ok(result) => result.map_err(|e| classify(&e))?,
    };
    // A response means the server's settings were read before it.
    conn.state.settle();
    let (parts, body) = response.into_parts();
    let recorded = super::message::recorded(&parts.headers, request.record);
    Ok(Response {
        head: Head {
            status: parts.status,
            headers: (!parts.status.is_success()).then_some(parts.headers),
            recorded,
        },
        body: ResponseBody::H2 {
            body,
            frame: Bytes::new(),
        },
    })
}

/// Hands the body to the stream as the server's flow control allows; a wait for window that
/// outlasts the write timeout is a write timeout. If the stream ends meanwhile (the server
/// answered or reset it), the response says how.
async fn send_body(
    stream: &mut h2::SendStream<Bytes>,
    body: &Bytes,
    write_timeout: Duration,
) -> Result<(), Outcome> {
    let mut rest = body.clone();
    while !rest.is_empty() {
        stream.reserve_capacity(rest.len());
        let mut granted = stream.capacity();
        if granted == 0 {
            let capacity = poll_fn(|cx| stream.poll_capacity(cx));
            granted = match tokio::time::timeout(write_timeout, capacity).await {
                Err(_) => return Err(Outcome::Timeout(Phase::Write)),
                Ok(Some(Ok(n))) => n,
                Ok(Some(Err(_)) | None) => return Ok(()),
            };
        }
        let piece = rest.split_to(granted.min(rest.len()));
        if stream.send_data(piece, rest.is_empty()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The request as `h2` takes it: the URI carries the connection's scheme and authority
/// (`:authority`, so no `Host`); connection-specific headers are illegal in HTTP/2 and dropped.
fn request_head(request: &Outgoing<'_>, conn: &H2Conn) -> http::Request<()> {
    let mut head = http::Request::new(());
    *head.method_mut() = request.method.clone();
    *head.uri_mut() = if request.uri.scheme().is_some() {
        request.uri.clone()
    } else {
        let mut parts = uri::Parts::default();
        parts.scheme = Some(conn.scheme.clone());
        parts.authority = Some(conn.authority.clone());
        parts.path_and_query = request.uri.path_and_query().cloned();
        uri::Uri::from_parts(parts).unwrap_or_else(|_| request.uri.clone())
    };
    *head.version_mut() = Version::HTTP_2;
    let headers = head.headers_mut();
    *headers = request.headers.clone();
    strip_connection_headers(headers);
    let payload = matches!(*request.method, Method::POST | Method::PUT | Method::PATCH);
    if (payload || !request.body.is_empty()) && !headers.contains_key(header::CONTENT_LENGTH) {
        headers.insert(header::CONTENT_LENGTH, request.body.len().into());
    }
    head
}

/// Removes the headers RFC 9113 §8.2.2 forbids in HTTP/2 (`TE` only unless `trailers`).
fn strip_connection_headers(headers: &mut HeaderMap) {
    if let Some(named) = headers.remove(header::CONNECTION) {
        // `Connection` names further headers that belong to this hop only.
        if let Ok(names) = named.to_str() {
            for name in names.split(',') {
                headers.remove(name.trim());
            }
        }
    }
    for name in [
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "host",
    ] {
        headers.remove(name);
    }
    if headers.get(header::TE).is_some_and(|te| te != "trailers") {
        headers.remove(header::TE);
    }
}

/// Maps an `h2` error on a stream to an outcome.
pub fn classify(e: &h2::Error) -> Outcome {
    if let Some(io) = e.get_io() {
        return classify_connection_io(io);
    }
    if e.is_remote() {
        // A stream above a GOAWAY's last-stream-id, or one opened after it, was never
        // processed by the server: as safe to retry as a refused one.
        if e.is_go_away() {
            return Outcome::Io(IoKind::GoAway);
        }
        if e.reason() == Some(Reason::REFUSED_STREAM) {
            return Outcome::Io(IoKind::RefusedStream);
        }
        if e.is_reset() {
            return Outcome::Io(IoKind::Reset);
        }
    }
    if e.is_library() || e.reason() == Some(Reason::PROTOCOL_ERROR) {
        return Outcome::Io(IoKind::Protocol);
    }
    Outcome::Io(IoKind::Other)
}

/// Maps the I/O error a connection failed with. `h2` keeps only its kind and message (not
/// the error's type, which [`classify_io`] looks for); on our sockets only the write timeout
/// (`TimedIo`) ends with `TimedOut`.
fn classify_connection_io(io: &std::io::Error) -> Outcome {
    if io.kind() == std::io::ErrorKind::TimedOut {
        return Outcome::Timeout(Phase::Write);
    }
    classify_io(io)
}

/// Reads the next piece of an HTTP/2 response body, giving its bytes back to the server's
/// flow-control window as they are taken.
pub async fn next_data(body: &mut h2::RecvStream) -> Result<Option<Bytes>, Outcome> {
    match body.data().await {
        None => Ok(None),
        Some(Err(e)) => Err(classify(&e)),
        Some(Ok(data)) => {
            let _ = body.flow_control().release_capacity(data.len());
            Ok(Some(data))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_specific_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "5"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip"),
            ("host", "example.com"),
            ("authorization", "Bearer k"),
        ] {
            headers.insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        strip_connection_headers(&mut headers);
        let left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["authorization"]);
        headers.insert(header::TE, http::HeaderValue::from_static("trailers"));
        strip_connection_headers(&mut headers);
        assert!(headers.contains_key(header::TE));
    }

    #[test]
    fn stream_errors_map_to_their_outcomes() {
        // A reason of our own (not the server's) is no refusal: only remote ones say
        // the server did not process the stream (the remote kinds are covered by tests/h2.rs).
        assert_eq!(
            classify(&h2::Error::from(Reason::REFUSED_STREAM)),
            Outcome::Io(IoKind::Other)
        );
        assert_eq!(
            classify(&h2::Error::from(Reason::PROTOCOL_ERROR)),
            Outcome::Io(IoKind::Protocol)
        );
        let io = |kind, text: &str| classify_connection_io(&std::io::Error::new(kind, text));
        use std::io::ErrorKind::*;
        assert_eq!(
            io(TimedOut, "write timed out after 1s"),
            Outcome::Timeout(Phase::Write)
        );
        assert_eq!(io(ConnectionReset, "reset"), Outcome::Io(IoKind::Reset));
        assert_eq!(io(BrokenPipe, "closed"), Outcome::Io(IoKind::Reset));
        assert_eq!(io(UnexpectedEof, "eof"), Outcome::Io(IoKind::Truncated));
    }
}
