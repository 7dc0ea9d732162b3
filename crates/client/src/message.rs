//! The request and the response as the client's connections carry them, whichever the protocol: `Outgoing` (borrowed from the spec), the response `Head`, and a `ResponseBody` read piece by piece.

use super::h1::H1Conn;
use crate::outcome::Outcome;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

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
    /// Response headers to pick out of the head, whatever its status (empty: none, and
    /// nothing is looked up).
    pub record: &'a [HeaderName],
}

/// The head of a final response.
pub struct Head {
    /// The status code.
    pub status: StatusCode,
    /// The headers, kept only for non-2xx responses (retry hints, reports).
    pub headers: Option<HeaderMap>,
    /// The values of the headers the request asked to record ([`Outgoing::record`]), by
    /// index into that list (empty when none were asked: no allocation).
    pub recorded: Vec<(usize, HeaderValue)>,
}

/// The values in `headers` of the headers named in `record`, by index into `record`.
pub fn recorded(headers: &HeaderMap, record: &[HeaderName]) -> Vec<(usize, HeaderValue)> {
    let mut out = Vec::new();
    for (i, name) in record.iter().enumerate() {
        out.extend(headers.get_all(name).iter().map(|v| (i, v.clone())));
    }
    out
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
    /// An HTTP/2 stream's data frames.
    H2 {
        /// The stream's receiving half.
        body: h2::RecvStream,
        /// The last data frame handed out.
        frame: Bytes,
    },
}

impl ResponseBody<'_> {
    /// The next piece of the body, `None` at its end.
    pub async fn next_data(&mut self) -> Result<Option<&[u8]>, Outcome> {
        match self {
            ResponseBody::H1(conn) => conn.next_data().await,
            ResponseBody::H2 { body, frame } => match super::h2::next_data(body).await? {
                None => Ok(None),
                Some(data) => {
                    *frame = data;
                    Ok(Some(frame))
                }
            },
        }
    }
}
