//! Small response builders shared by the handlers: JSON, OpenAI errors, headers.

use crate::body::MockBody;
use crate::openai::errors::{ApiError, ErrorShape};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<MockBody> {
    with_type(status, body, "application/json")
}

/// A response with a body of the given content type.
pub(crate) fn with_type(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
) -> Response<MockBody> {
    typed(status, MockBody::full(body), content_type)
}

/// A response with any body (whole, streamed, or cut by a fault) and a static content type.
pub(crate) fn typed(
    status: StatusCode,
    body: MockBody,
    content_type: &'static str,
) -> Response<MockBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An OpenAI-shaped error response.
pub(crate) fn error(e: &ApiError) -> Response<MockBody> {
    json(e.status, e.body())
}

/// An error response in `shape`.
pub(crate) fn error_in(shape: ErrorShape, e: &ApiError) -> Response<MockBody> {
    json(e.status, e.body_in(shape))
}

/// Sets a header from any displayable value (numbers, formatted durations).
pub(crate) fn set_header(
    r: &mut Response<MockBody>,
    name: &'static str,
    value: impl std::fmt::Display,
) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        r.headers_mut().insert(HeaderName::from_static(name), v);
    }
}
