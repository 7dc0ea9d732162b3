//! HTTP/1.1 through hyper's client connection (`client.engine = "hyper"`), behind the same interface as relaybench's own connection: a second opinion on an upstream.
//!
//! hyper runs the connection as a task of its own and hands the request and the response
//! across channels; this wrapper gives the pool what it expects of an HTTP/1.1 connection:
//! one request at a time, reuse only after a complete exchange that hyper keeps alive,
//! an idle check (`SendRequest::is_closed` / `poll_ready`), and outcomes classified as for
//! relaybench's own connection. Both engines accept heads up to the same size
//! ([`MAX_HEAD`]); framing judgements are hyper's own.
//!
//! **Timeouts.** The write timeout is the socket's ([`super::timed_io::TimedIo`]), as for
//! the other engine. hyper writes the request from its connection task, so the request
//! cannot tell when its last byte went out; the socket stamps every write
//! ([`WriteProbe`]) and the head's read timeout counts from the later of the hand-over to
//! hyper and the last stamp, which on a connection carrying one request at a time is the
//! request's last byte. What differs: the stamp is a write into the kernel's buffer, and
//! the time hyper's task takes to be scheduled before it writes counts as read time.
//! Body pieces get the read timeout each, as with the other engine.

use super::{
    h1::{sends_body, MAX_HEAD},
    message::{Head, Outgoing},
    timed_io::{classify_io, WriteProbe},
};
use crate::outcome::{IoKind, Outcome, Phase};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, client::conn::http1};
use hyper_util::rt::TokioIo;
use std::{
    future::Future,
    io,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    task::AbortHandle,
};

/// An HTTP/1.1 connection spoken by hyper, lent to one request at a time.
pub struct HyperConn {
    /// hyper's request sender for this connection.
    sender: http1::SendRequest<Full<Bytes>>,
    /// The body of the response being read (`None` before a response and after its end).
    body: Option<Incoming>,
    /// The last data frame handed out.
    frame: Bytes,
    /// Whether the last exchange completed (its body read to the end): until it has, the
    /// connection must not carry another request.
    complete: bool,
    /// When the socket last accepted bytes (hyper writes from its connection task).
    probe: Arc<WriteProbe>,
    /// hyper's connection task, which owns the socket: aborted when the connection is
    /// dropped, so the socket closes with it even if the server never answers.
    task: AbortHandle,
}

impl HyperConn {
    /// Starts hyper's HTTP/1.1 client connection on `io`; its task runs on the current runtime.
    /// `probe` is stamped by `io` whenever it accepts bytes.
    pub async fn handshake<T>(io: T, probe: Arc<WriteProbe>) -> Result<HyperConn, hyper::Error>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, connection) = http1::Builder::new()
            .max_header_size(MAX_HEAD)
            .handshake(TokioIo::new(io))
            .await?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        })
        .abort_handle();
        Ok(HyperConn {
            sender,
            body: None,
            frame: Bytes::new(),
            complete: true,
            probe,
            task,
        })
    }

    /// Whether the connection can carry a request now: the last exchange completed and
    /// hyper has not closed the connection (it does when the response said so, or the
    /// server closed it).
    pub fn is_reusable(&self) -> bool {
        self.complete && !self.sender.is_closed()
    }

    /// Checks, without blocking, that an idle connection is still open (hyper's task reads
    /// an idle connection and closes it on the server's FIN or on stray bytes).
    pub fn check_idle(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.is_reusable() && !matches!(self.sender.poll_ready(&mut cx), Poll::Ready(Err(_)))
    }

    /// Sends `request` and waits for the head of the final response, which must come within
    /// `read_timeout` of the request's last byte (see the module doc).
    pub async fn send(
        &mut self,
        request: &Outgoing<'_>,
        read_timeout: Duration,
    ) -> Result<Head, Outcome> {
        self.complete = false;
        self.body = None;
        let record = request.record;
        let request = to_hyper(request);
        let sender = &mut self.sender;
        let exchange = async move {
            sender.ready().await?;
            sender.send_request(request).await
        };
        let response = within_read_timeout(exchange, &self.probe, read_timeout).await?;
        let (parts, body) = response.into_parts();
        if parts.status == StatusCode::SWITCHING_PROTOCOLS {
            // Nothing was asked to upgrade (RFC 9110 §15.2.2), as relaybench's engine judges it.
            return Err(Outcome::Io(IoKind::Protocol));
        }
        self.body = Some(body);
        Ok(Head {
            status: parts.status,
            recorded: super::message::recorded(&parts.headers, record),
            headers: (!parts.status.is_success()).then_some(parts.headers),
        })
    }

    /// The next piece of the response body, `None` at its end.
    pub async fn next_data(&mut self) -> Result<Option<&[u8]>, Outcome> {
        loop {
            let Some(body) = &mut self.body else {
                return match self.complete {
                    true => Ok(None),
                    false => Err(Outcome::Io(IoKind::Other)),
                };
            };
            match body.frame().await {
                None => {
                    self.body = None;
                    self.complete = true;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.body = None;
                    return Err(classify(&e));
                }
                Some(Ok(frame)) => {
                    // Trailers are not body; empty data frames carry nothing.
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            self.frame = data;
                            return Ok(Some(&self.frame));
                        }
                    }
                }
            }
        }
    }
}

impl Drop for HyperConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The request as hyper takes it, on the wire as relaybench's own engine writes it: origin
/// form, `Host` first, the client's own `Content-Length` (a user's `Host`, length or
/// transfer coding would contradict the request's).
fn to_hyper(request: &Outgoing<'_>) -> http::Request<Full<Bytes>> {
    let mut headers = HeaderMap::with_capacity(request.headers.len() + 2);
    headers.insert(header::HOST, request.host.clone());
    for (name, value) in request.headers {
        if !matches!(
            *name,
            header::HOST | header::CONTENT_LENGTH | header::TRANSFER_ENCODING
        ) {
            headers.append(name.clone(), value.clone());
        }
    }
    let body = request.body;
    if !body.is_empty() || sends_body(request.method) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut hyper_request = http::Request::new(Full::new(body.clone()));
    *hyper_request.method_mut() = request.method.clone();
    if let Some(target) = request.uri.path_and_query() {
        *hyper_request.uri_mut() = http::Uri::from(target.clone());
    }
    *hyper_request.headers_mut() = headers;
    hyper_request
}

/// Waits for `response` until `read_timeout` has passed since the request's last byte went
/// out (stamped on `probe`) or, before any byte did, since the call.
async fn within_read_timeout<F, T>(
    response: F,
    probe: &WriteProbe,
    read_timeout: Duration,
) -> Result<T, Outcome>
where
    F: Future<Output = Result<T, hyper::Error>>,
{
    let handed_over = Instant::now();
    tokio::pin!(response);
    loop {
        let from = probe.last_write().max(handed_over);
        // The time already waited is a duration, so that the timer runs on tokio's clock
        // (which tests may pause) while the stamps are the socket's.
        let left = read_timeout.saturating_sub(from.elapsed());
        match tokio::time::timeout(left, &mut response).await {
            Ok(result) => return result.map_err(|e| classify(&e)),
            Err(_) if probe.last_write() <= from => return Err(Outcome::Timeout(Phase::Read)),
            // The request was still being written: the wait starts from its last byte.
            Err(_) => continue,
        }
    }
}

/// Maps a hyper error on an HTTP/1.1 connection to an outcome, as relaybench's own engine
/// classifies the same fault.
pub fn classify(e: &hyper::Error) -> Outcome {
    if e.is_incomplete_message() {
        return Outcome::Io(IoKind::Truncated);
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return Outcome::Io(IoKind::Protocol);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return match io.kind() {
                // hyper's body decoder reports malformed chunked framing (sizes, line ends,
                // trailers) as invalid input or data.
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                    Outcome::Io(IoKind::Protocol)
                }
                _ => classify_io(io),
            };
        }
        source = err.source();
    }
    if e.is_closed() || e.is_canceled() {
        return Outcome::Io(IoKind::Reset);
    }
    Outcome::Io(IoKind::Other)
}
