//! The OpenAI wire shapes: requests we parse, responses and SSE events we render (Chat
//! Completions, Responses), error bodies, generated text.

pub(crate) mod chat;
pub(crate) mod embeddings;
pub(crate) mod errors;
pub(crate) mod models;
pub(crate) mod responses;
pub(crate) mod text;

use errors::ApiError;

/// The body as text: one UTF-8 check of the whole body; parsing from a `str` then skips it per string.
pub(crate) fn utf8(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_json(&format!("the body is not UTF-8: {e}")))
}

/// Parses a JSON body, wording its errors as OpenAI does.
pub(crate) fn from_json<'a, T: serde::Deserialize<'a>>(body: &'a str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::invalid(format!("Invalid request body: {e}"))
        }
        _ => ApiError::bad_json(&e.to_string()),
    })
}
