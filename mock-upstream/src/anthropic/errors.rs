//! Anthropic's error body `{"type":"error","error":{"type","message"}}`, its `type` per status.

use crate::openai::errors::ApiError;
use bytes::Bytes;
use serde_json::json;

/// Anthropic's error `type` for a status (529 is Anthropic's own "overloaded").
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ if status < 500 => "invalid_request_error",
        _ => "api_error",
    }
}

/// `e` in Anthropic's shape: its status picks the type, its message is kept.
pub(crate) fn body(e: &ApiError) -> Bytes {
    let v = json!({
        "type": "error",
        "error": { "type": error_type(e.status.as_u16()), "message": e.message },
    });
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}
