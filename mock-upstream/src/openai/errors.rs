//! `ApiError`: an error response, rendered in OpenAI's shape `{"error":{"message","type","param","code"}}`
//! or (`ErrorShape::Anthropic`) in Anthropic's.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;
use std::borrow::Cow;

/// Which protocol's error body a route answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorShape {
    /// `{"error":{"message","type","param","code"}}`: Chat, Responses, embeddings, everything else.
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`: `/v1/messages`.
    Anthropic,
}

/// One OpenAI-shaped error, ready to be rendered with its status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type` ("invalid_request_error", "server_error", "requests", "tokens").
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
        }
    }

    pub(crate) fn param(mut self, p: &'static str) -> ApiError {
        self.param = Some(p);
        self
    }

    pub(crate) fn code(mut self, c: &'static str) -> ApiError {
        self.code = Some(c);
        self
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub(crate) fn missing(field: &'static str) -> ApiError {
        ApiError::invalid(format!("Missing required parameter: '{field}'."))
            .param(field)
            .code("missing_required_parameter")
    }

    pub(crate) fn bad_json(detail: &str) -> ApiError {
        ApiError::invalid(format!(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.) Detail: {detail}"
        ))
    }

    pub(crate) fn unknown_model(model: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .param("model")
        .code("model_not_found")
    }

    pub(crate) fn unknown_url(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Invalid URL ({method} {path})"),
        )
        .code("unknown_url")
    }

    pub(crate) fn wrong_method(method: &str, path: &str, allowed: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("Method {method} is not allowed on {path}; use {allowed}."),
        )
        .code("method_not_allowed")
    }

    pub(crate) fn too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("Request body exceeds the limit of {limit} bytes."),
        )
        .code("request_too_large")
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        )
        .code("invalid_api_key")
    }

    /// An injected (or capacity) error for `status`: the type, code and wording a provider or
    /// relay answers with (a 400 for an over-long context, 402 for an empty balance, ...).
    pub(crate) fn injected(status: u16) -> ApiError {
        let (kind, code, message): (_, _, Cow<'static, str>) = match status {
            400 => ("invalid_request_error", Some("context_length_exceeded"), "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages. (injected by mock-upstream)".into()),
            401 => ("invalid_request_error", Some("invalid_api_key"), "Incorrect API key provided (injected by mock-upstream).".into()),
            402 => ("insufficient_quota", Some("insufficient_quota"), "Insufficient balance: your account balance is too low to make this request. Please top up and try again (injected by mock-upstream).".into()),
            403 => ("invalid_request_error", Some("permission_denied"), "You do not have permission to use this model with this key (injected by mock-upstream).".into()),
            404 => ("invalid_request_error", Some("model_not_found"), "The model does not exist or you do not have access to it (injected by mock-upstream).".into()),
            429 => ("requests", Some("rate_limit_exceeded"), "Rate limit reached for requests (injected by mock-upstream). Please try again later.".into()),
            500 => ("server_error", None, "The server had an error while processing your request. Sorry about that!".into()),
            502 => ("server_error", None, "Bad gateway.".into()),
            503 => ("server_error", None, "The engine is currently overloaded, please try again later.".into()),
            504 => ("server_error", None, "Gateway timeout.".into()),
            529 => ("server_error", None, "Overloaded (injected by mock-upstream).".into()),
            _ if status < 500 => ("invalid_request_error", None, format!("Request refused with status {status} (injected by mock-upstream).").into()),
            _ => ("server_error", None, format!("The server had an error ({status}) while processing your request (injected by mock-upstream).").into()),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        ApiError {
            status,
            message: message.into_owned(),
            kind,
            param: None,
            code,
        }
    }

    /// The body in `shape`.
    pub(crate) fn body_in(&self, shape: ErrorShape) -> Bytes {
        match shape {
            ErrorShape::OpenAi => self.body(),
            ErrorShape::Anthropic => crate::anthropic::errors::body(self),
        }
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> Bytes {
        let env = Envelope {
            error: Inner {
                message: &self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        };
        serde_json::to_vec(&env).map(Bytes::from).unwrap_or_else(|_| Bytes::from_static(b"{\"error\":{\"message\":\"error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}"))
    }
}
