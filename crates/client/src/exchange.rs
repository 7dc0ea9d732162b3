//! What the client is asked to send (`RequestSpec`) and what it reports back about one logical request (`Exchange`).

use crate::outcome::Outcome;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// What the answer to a request is, which says how its body is read and what makes a 2xx valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Any body (an `http` request): bytes are counted, a 2xx is success (unless the
    /// request's [`Expect`] asks more).
    Opaque,
    /// An OpenAI chat completion, one JSON body: kept (bounded) to read `usage`; valid when it
    /// is a JSON object without `error` whose `choices` each carry a `message`.
    Json,
    /// OpenAI embeddings, one JSON body: kept (bounded) to read `usage`; valid when it is a JSON
    /// object without `error` whose `data` entries each carry an `embedding`.
    Embeddings,
    /// A chat-completion stream of server-sent events: every token timed as it arrives; valid
    /// when it holds at least one chunk, no error event, and ends with `[DONE]`.
    Sse,
    /// An OpenAI Responses answer, one JSON body: valid when it is a JSON object without a
    /// non-null `error` whose `output` is a list.
    Responses,
    /// An OpenAI Responses stream: valid when it holds an event, no `error`/`response.failed`
    /// event, and ends with `response.completed` (or `response.incomplete`).
    ResponsesSse,
    /// An Anthropic Messages answer, one JSON body: valid when it is an object of `"type":
    /// "message"` whose `content` is a list (a 2xx `{"type":"error"}` body is not).
    Messages,
    /// An Anthropic Messages stream: valid when it holds an event, no `error` event, and ends
    /// with `message_stop`.
    MessagesSse,
}

/// The LLM API a target speaks (its `api` setting): what bodies, paths, headers and events are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    #[default]
    OpenaiChat,
    /// OpenAI Responses (`/v1/responses`).
    OpenaiResponses,
    /// Anthropic Messages (`/v1/messages`).
    AnthropicMessages,
}

impl BodyKind {
    /// Whether the answer is a stream of server-sent events.
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            BodyKind::Sse | BodyKind::ResponsesSse | BodyKind::MessagesSse
        )
    }

    /// The LLM API of a completion answer (streamed or not); `None` for opaque and embeddings.
    pub fn api(self) -> Option<Api> {
        match self {
            BodyKind::Json | BodyKind::Sse => Some(Api::OpenaiChat),
            BodyKind::Responses | BodyKind::ResponsesSse => Some(Api::OpenaiResponses),
            BodyKind::Messages | BodyKind::MessagesSse => Some(Api::AnthropicMessages),
            BodyKind::Opaque | BodyKind::Embeddings => None,
        }
    }

    /// The completion answer of `api`, streamed or not.
    pub fn completion(api: Api, stream: bool) -> BodyKind {
        match (api, stream) {
            (Api::OpenaiChat, false) => BodyKind::Json,
            (Api::OpenaiChat, true) => BodyKind::Sse,
            (Api::OpenaiResponses, false) => BodyKind::Responses,
            (Api::OpenaiResponses, true) => BodyKind::ResponsesSse,
            (Api::AnthropicMessages, false) => BodyKind::Messages,
            (Api::AnthropicMessages, true) => BodyKind::MessagesSse,
        }
    }
}

/// What the user requires of an answer beyond a 2xx status (`expect_status` and
/// `expect_body_contains` of an `http` mix entry). A 2xx that fails it is `bad_response`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// The 2xx statuses that count as success; empty: any 2xx. (A non-2xx status is never
    /// success: it stays its own `status_N` outcome, retried and counted as configured.)
    pub status: Vec<u16>,
    /// Text the body must contain (searched as the body arrives, across piece boundaries).
    pub body_contains: Option<String>,
}

/// One request as the generator wants it sent (the client adds Host and content-length).
#[derive(Clone, Debug)]
pub struct RequestSpec {
    /// HTTP method.
    pub method: Method,
    /// Path (and query) relative to the target's base URL.
    pub path: String,
    /// Extra headers (authorization, content-type, user headers). Values marked sensitive,
    /// and those of credential headers (`authorization`, `x-api-key`, ...), are kept out of
    /// every excerpt the client reports.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// What the answer is: how to read it and what makes it valid.
    pub body_kind: BodyKind,
    /// The user's checks of the answer, if any (shared: specs are cloned per rendered body).
    pub expect: Option<Arc<Expect>>,
    /// Keep the answer's text (answer and reasoning apart) in [`Exchange::text`], for a usage
    /// audit that counts its tokens. Off, nothing of the text is kept.
    pub keep_text: bool,
    /// Response headers to record (lower-case names, parsed once), whatever the status; their
    /// values come back in [`Exchange::recorded`]. `None`: no header is looked up.
    pub record_headers: Option<Arc<[HeaderName]>>,
}

/// The text of a completion answer, kept only when [`RequestSpec::keep_text`] asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnswerText {
    /// The answer's text (content deltas, `output_text`, `text` blocks), concatenated.
    pub answer: String,
    /// The reasoning text (`reasoning_content`/`reasoning`, reasoning summaries, `thinking`).
    pub reasoning: String,
}

/// Token counts of one response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens from `usage` (0 when unknown).
    pub input: u64,
    /// Output tokens: from `usage` when present, else counted token deltas.
    pub output: u64,
    /// Whether `output` came from `usage` (true) or from counting chunks (false).
    pub from_usage: bool,
    /// Reasoning tokens among `output`: from `usage` where the protocol reports them (Chat's
    /// `completion_tokens_details`, Responses' `output_tokens_details`), else the reasoning
    /// deltas counted (Anthropic has no such field; a JSON answer without it says 0).
    pub reasoning: u64,
}

/// Arrival times of a streamed response's tokens: deltas of the answer or of reasoning
/// (Chat `reasoning_content` / `reasoning`, Responses reasoning summaries, Anthropic
/// `thinking`), never the role-only first chunk, an empty delta, a usage-only chunk or a
/// `signature_delta`.
#[derive(Clone, Debug, Default)]
pub struct StreamTiming {
    /// When the first non-empty answer or reasoning delta arrived (TTFT's end).
    pub first_token: Option<Instant>,
    /// When the first non-empty answer delta arrived (time to first answer token's end).
    pub first_answer: Option<Instant>,
    /// When the first non-empty reasoning delta arrived.
    pub first_reasoning: Option<Instant>,
    /// Gaps between consecutive token deltas after the first (reasoning included).
    pub inter_token: Vec<Duration>,
    /// When the last token delta arrived.
    pub last_token: Option<Instant>,
    /// Token deltas (answer or reasoning) seen.
    pub content_chunks: u64,
    /// Of those, reasoning deltas.
    pub reasoning_chunks: u64,
}

/// Inter-token gaps a stream makes room for at its second token.
const GAPS_RESERVED: usize = 64;

impl StreamTiming {
    /// Notes a token delta that arrived at `now`.
    pub fn token(&mut self, reasoning: bool, now: Instant) {
        self.content_chunks += 1;
        match self.last_token {
            None => self.first_token = Some(now),
            Some(last) => {
                if self.inter_token.capacity() == 0 {
                    // Room for a typical answer at once, rather than growing 4, 8, 16, ...
                    self.inter_token.reserve(GAPS_RESERVED);
                }
                self.inter_token.push(now.saturating_duration_since(last));
            }
        }
        self.last_token = Some(now);
        if reasoning {
            self.reasoning_chunks += 1;
            self.first_reasoning.get_or_insert(now);
        } else {
            self.first_answer.get_or_insert(now);
        }
    }

    /// Reasoning time: from the first reasoning token to the first answer token, when the
    /// reasoning came first (`None` without reasoning, or without an answer after it).
    pub fn reasoning_time(&self) -> Option<Duration> {
        let (reasoning, answer) = (self.first_reasoning?, self.first_answer?);
        (reasoning <= answer).then(|| answer.saturating_duration_since(reasoning))
    }
}

/// Why an attempt was retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetryReason {
    /// A retryable HTTP status.
    Status(u16),
    /// A connect error or connect timeout.
    Connect,
    /// A write/read timeout.
    Timeout,
    /// A reset or truncated response.
    Reset,
    /// A stream the server did not process (HTTP/2 `REFUSED_STREAM`, or above a `GOAWAY`'s
    /// last-stream-id): always safe to retry.
    Unprocessed,
}

impl RetryReason {
    /// Stable key for results files.
    pub fn key(&self) -> String {
        match self {
            RetryReason::Status(code) => format!("status_{code}"),
            RetryReason::Connect => "connect".into(),
            RetryReason::Timeout => "timeout".into(),
            RetryReason::Reset => "reset".into(),
            RetryReason::Unprocessed => "unprocessed".into(),
        }
    }
}

/// An attempt that was retried: how it ended and the wait slept before the next one (kept
/// for per-request traces; pushed only when a retry is made, so a request without retries
/// allocates nothing for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetriedAttempt {
    /// How the attempt ended.
    pub outcome: Outcome,
    /// When it ended.
    pub ended: Instant,
    /// The backoff (or server-asked wait) slept after it.
    pub backoff: Duration,
}

/// Everything measured about one logical request, across its attempts.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// How it ended.
    pub outcome: Outcome,
    /// When the first attempt had its connection and began sending (None if never sent).
    /// Service time runs from here, so it covers every attempt and backoff.
    pub sent: Option<Instant>,
    /// When the last attempt — the one whose result `outcome` is — had its connection and
    /// began sending (None if it never got that far). TTFT, TPOT and tokens/s of a stream are
    /// measured from here, so a failed earlier attempt and the backoff after it are not in them.
    pub attempt_sent: Option<Instant>,
    /// When the last byte arrived or the request gave up.
    pub finished: Instant,
    /// Time waiting for connection slots, summed over attempts.
    pub pool_wait: Duration,
    /// Dial time of the last new connection used (None if all attempts reused connections).
    pub connect: Option<Duration>,
    /// From sending the last attempt to its response head.
    pub ttfb: Option<Duration>,
    /// Attempts made (1 = no retries; 0 = never sent, e.g. circuit open).
    pub attempts: u32,
    /// Why each retry that was made happened, in order (`attempts - 1` of them once anything
    /// was sent: a retry the breaker or the guard refused was not made).
    pub retries: Vec<RetryReason>,
    /// The attempts before the last one, each retried after a backoff (empty without retries).
    pub retried: Vec<RetriedAttempt>,
    /// How the last attempt itself ended (None if nothing was attempted); `outcome` can differ
    /// when the request ended for another reason after it (a retry refused by the budget,
    /// the breaker or the guard).
    pub last_attempt: Option<Outcome>,
    /// The HTTP status of the last attempt's response head (None if it got no head).
    pub status: Option<u16>,
    /// Whether the last attempt reused a pooled connection.
    pub reused: bool,
    /// The pool's id of the connection the last attempt used (None if it got none).
    pub conn_id: Option<u64>,
    /// Response body bytes of the last attempt.
    pub body_bytes: u64,
    /// Token counts, for OpenAI responses. On a failed attempt, the tokens its answer had
    /// delivered before it failed (a stream cut or ended by an error event mid-way), so the
    /// spend they cost can be settled; only an `ok` answer's tokens are measurements.
    pub tokens: Option<Tokens>,
    /// Stream token timing, for SSE responses.
    pub stream: Option<StreamTiming>,
    /// The answer's text, when the spec asked to keep it (an `ok` answer only).
    pub text: Option<Box<AnswerText>>,
    /// A short excerpt of an error body or error message, for reports (never contains request secrets).
    pub detail: Option<String>,
    /// The last attempt's values of the headers [`RequestSpec::record_headers`] names, by index
    /// into that list (empty, never allocated, when none are named).
    pub recorded: Vec<(usize, HeaderValue)>,
    /// Set when the request ended because nothing could usefully be sent: the earliest time
    /// at which sending again makes sense, so a caller that sends back to back (a closed-model
    /// user) waits instead of spinning. `None` means "at once".
    ///
    /// - `circuit_open`, or a retry the breaker refused: when the breaker admits probes again
    ///   (the end of its open period; while half-open with every probe slot taken, a short
    ///   pause — probes settle in about a response time — bounded by the half-open period).
    /// - `budget_exhausted`: the end of the backoff the refused retry would have slept.
    /// - `connect_error` or `timeout_connect` (no connection was made, nothing reached the
    ///   upstream), whether or not retries ran: the end of the backoff the next retry would
    ///   sleep.
    ///
    /// Every other outcome leaves it `None`: the upstream answered (or the run stopped it),
    /// and when to send next is the load model's business.
    pub retry_not_before: Option<Instant>,
}

impl Exchange {
    /// An exchange that ended before anything was sent.
    pub fn unsent(outcome: Outcome, finished: Instant) -> Exchange {
        Exchange {
            outcome,
            sent: None,
            attempt_sent: None,
            finished,
            pool_wait: Duration::ZERO,
            connect: None,
            ttfb: None,
            attempts: 0,
            retries: Vec::new(),
            retried: Vec::new(),
            last_attempt: None,
            status: None,
            reused: false,
            conn_id: None,
            body_bytes: 0,
            tokens: None,
            stream: None,
            text: None,
            detail: None,
            recorded: Vec::new(),
            retry_not_before: None,
        }
    }
}
