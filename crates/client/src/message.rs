//! The request and the response as the client's connections carry them, whichever the protocol: `Outgoing` (borrowed from the spec), the response `Head`, and a `ResponseBody` read piece by piece.

use super::{h1::H1Conn, timed_io::classify_io};
use crate::outcome::{IoKind, Outcome, Phase};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// One request, borrowed from the generator's spec: nothing is cloned to send it.
pub struct Outgoing<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Absolute request URI (HTTP/1.1 sends its path and query; HTTP/2 all of it).
    pub uri: &'a http::Uri,
    /// The `Host` header.
    pub host: &'a HeaderValue,
    /// Headers of the request (the client supplies `Host` and `Content-Length` itself).
    pub headers: &'a HeaderMap,
    /// Request body.
    pub body: &'a Bytes,
}

impl Outgoing<'_> {
    /// The request as hyper takes it (for HTTP/2).
    pub fn to_hyper(&self) -> http::Request<http_body_util::Full<Bytes>> {
        let mut request = http::Request::new(http_body_util::Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        // One map clone instead of re-validating every header through the builder.
        *request.headers_mut() = self.headers.clone();
        request
            .headers_mut()
            .insert(http::header::HOST, self.host.clone());
        request
    }
}

/// The head of a final response.
pub struct Head {
    /// The status code.
    pub status: StatusCode,
    /// The headers, kept only for non-2xx responses (retry hints, reports).
    pub headers: Option<HeaderMap>,
}

/// A response whose head has arrived.
pub struct Response<'a> {
    /// Status and (for non-2xx) headers.
    pub head: Head,
    /// The body, still to be read.
    pub body: ResponseBody<'a>,
}

/// A response body, read piece by piece.
pub enum ResponseBody<'a> {
    /// Read straight from the HTTP/1.1 connection the request holds.
    H1(&'a mut H1Conn),
    /// An HTTP/2 stream's frames.
    H2 {
        /// hyper's body.
        body: Incoming,
        /// The last data frame handed out.
        frame: Bytes,
    },
}

impl ResponseBody<'_> {
    /// The next piece of the body, `None` at its end.
    pub async fn next_data(&mut self) -> Result<Option<&[u8]>, Outcome> {
        match self {
            ResponseBody::H1(conn) => conn.next_data().await,
            ResponseBody::H2 { body, frame } => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(classify_hyper_error(&e)),
                    Some(Ok(f)) => {
                        if let Ok(data) = f.into_data() {
                            *frame = data;
                            return Ok(Some(frame));
                        }
                    }
                }
            },
        }
    }
}

/// Maps a hyper error on an established (HTTP/2) connection to an outcome.
pub fn classify_hyper_error(e: &hyper::Error) -> Outcome {
    if e.is_incomplete_message() {
        return Outcome::Io(IoKind::Truncated);
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return Outcome::Io(IoKind::Protocol);
    }
    if e.is_timeout() {
        return Outcome::Timeout(Phase::Read);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return classify_io(io);
        }
        source = err.source();
    }
    if e.is_closed() || e.is_canceled() {
        return Outcome::Io(IoKind::Reset);
    }
    Outcome::Io(IoKind::Other)
}
