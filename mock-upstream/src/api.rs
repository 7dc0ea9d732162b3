//! The steps every API request (chat, responses, messages, embeddings) goes through, in order:
//! key, body, model, rate limit, fate roll (injected error, hang, body fault), capacity,
//! latency, reply. Errors on the way are written in the route's protocol's shape.

use crate::body::{self, MockBody};
use crate::config::MockConfig;
use crate::connection::ConnState;
use crate::faults::capacity::Admission;
use crate::faults::pause;
use crate::faults::plan::{self, Fate};
use crate::faults::rate_limit::{format_reset, BucketState, RateDecision};
use crate::faults::schedule::Profile;
use crate::lateness::Timed;
use crate::openai::embeddings::EmbeddingsPlan;
use crate::openai::errors::{ApiError, ErrorShape};
use crate::reply::stream::{Ending, StreamCut, StreamPacing};
use crate::reply::{Reply, ReplySettings};
use crate::respond;
use crate::router::RNG_REQUEST;
use crate::state::{rng_for, Active, Shared};
use crate::stats::FaultKind;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::body::Incoming;
use rand::Rng;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API routes that carry faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiKind {
    Chat,
    Responses,
    Messages,
    Embeddings,
}

impl ApiKind {
    /// The error body the route answers with.
    pub(crate) fn shape(self) -> ErrorShape {
        match self {
            ApiKind::Messages => ErrorShape::Anthropic,
            _ => ErrorShape::OpenAi,
        }
    }
}

enum Plan {
    Text(Reply),
    Embeddings(EmbeddingsPlan),
}

impl Plan {
    fn model(&self) -> &str {
        match self {
            Plan::Text(p) => &p.model,
            Plan::Embeddings(p) => &p.model,
        }
    }
    fn token_cost(&self) -> u64 {
        match self {
            Plan::Text(p) => p.token_cost,
            Plan::Embeddings(p) => p.prompt_tokens,
        }
    }
    fn streaming(&self) -> bool {
        matches!(self, Plan::Text(p) if p.stream)
    }
}

/// Early exit of a step: the response to send instead. (Its size does not matter: it is built
/// once and moved once per request, so clippy's `result_large_err` is allowed where used.)
type Step<T> = Result<T, Response<MockBody>>;

/// Serves one API request, given its headers and body. (Not the `Request` itself: each await
/// that takes it by value copies its 200-odd bytes into the next future; hence one argument
/// more than clippy likes.)
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve(
    kind: ApiKind,
    headers: HeaderMap,
    body: Incoming,
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    active: &Arc<Active>,
    seq: u64,
    id: &[u8; 16],
) -> Response<MockBody> {
    match run(kind, headers, body, shared, conn, active, seq, id).await {
        Ok(r) | Err(r) => r,
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    kind: ApiKind,
    headers: HeaderMap,
    body: Incoming,
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
    active: &Arc<Active>,
    seq: u64,
    id: &[u8; 16],
) -> Step<Response<MockBody>> {
    let config = &active.config;
    let shape = kind.shape();
    let fail = |e: &ApiError| respond::error_in(shape, e);
    if let Err(refused) = check_key(&headers, config, kind) {
        drain(body).await;
        return Err(refused);
    }
    let body = read_body(body, config.body_limit, shape).await?;
    // The reply's schedule starts when the whole request is in: what comes before depends on
    // the client's upload, what comes after (parsing, injected latency) is the mock's to keep.
    let mut accepted = Instant::now();
    let profile = active.schedule.now();
    let settings = ReplySettings {
        config,
        reasoning: &profile.reasoning,
    };
    let (seed, settings) = (active.seed, &settings);
    let plan = match kind {
        ApiKind::Chat => crate::openai::chat::parse(&body, seed, settings).map(Plan::Text),
        ApiKind::Responses => {
            crate::openai::responses::parse(&body, seed, settings).map(Plan::Text)
        }
        ApiKind::Messages => {
            crate::anthropic::messages::parse(&body, seed, settings).map(Plan::Text)
        }
        ApiKind::Embeddings => {
            EmbeddingsPlan::parse(&body, config.embedding_dim).map(Plan::Embeddings)
        }
    }
    .map_err(|e| fail(&e))?;
    // The body and the header values may be slices of the connection's read buffer: holding
    // them through the injected latency would keep a second buffer per connection alive.
    drop(body);
    drop(headers);
    if !config.models.is_empty() && !config.models.iter().any(|m| m == plan.model()) {
        return Err(fail(&ApiError::unknown_model(plan.model())));
    }
    let rate = check_rate(shared, active, plan.token_cost(), shape)?;
    // A JSON reply that can neither fail nor wait a random time draws no random numbers, so its
    // generator is not seeded at all (the fault-free hot path); the n-th request of a seeded
    // server still draws the same numbers whenever it draws any.
    let seeded = || rng_for(active.seed, RNG_REQUEST, seq);
    let mut rng = (plan.streaming() || profile.draws_random()).then(seeded);
    let fate = match &mut rng {
        Some(rng) => plan::decide(
            rng.gen::<f64>(),
            &profile.errors,
            &profile.faults,
            plan.streaming(),
        ),
        None => Fate::Healthy,
    };
    match fate {
        Fate::Error(status) => return Err(injected_error(shared, status, profile, config, shape)),
        Fate::Hang => {
            shared.stats.fault(FaultKind::Hang);
            tracing::debug!(seq, "fault: hang");
            shared.shutdown.clone().wait().await;
            return Err(fail(&ApiError::injected(503)));
        }
        _ => {}
    }
    let permit = admit(shared, active, profile, shape).await?;
    if active.capacity.is_some() {
        // Waiting in the capacity queue is an injected fault, not the mock falling behind.
        accepted = Instant::now();
    }
    let delay = profile
        .latency
        .fixed()
        .unwrap_or_else(|| profile.latency.sample(rng.get_or_insert_with(seeded)));
    let due = accepted + delay;
    pause(due.saturating_duration_since(Instant::now())).await;
    let streaming = plan.streaming();
    let mut resp = match plan {
        Plan::Text(p) if p.stream => {
            let ending = match fate {
                Fate::StreamCut | Fate::Reset => Ending::Cut(StreamCut {
                    conn: conn.clone(),
                    reset: fate == Fate::Reset,
                }),
                Fate::StreamError => Ending::Error,
                _ => Ending::Complete,
            };
            count_body_fault(shared, fate, seq);
            let pacing = StreamPacing {
                due,
                ttft: profile.stream.ttft.clone(),
                inter_token: profile.stream.inter_token.clone(),
                rng: rng.unwrap_or_else(seeded),
                permit,
                lateness: shared.lateness.clone(),
                pacer: shared.pacer.clone(),
            };
            let body = p.stream_body(id, unix_now(), pacing, ending);
            let mut r = respond::typed(StatusCode::OK, body, "text/event-stream; charset=utf-8");
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Plan::Text(p) => deliver(
            shared,
            conn,
            profile,
            fate,
            seq,
            p.whole_body(id, unix_now()),
        ),
        Plan::Embeddings(p) => deliver(
            shared,
            conn,
            profile,
            fate,
            seq,
            p.response_body(active.seed),
        ),
    };
    if !streaming {
        // Returned to hyper now, which writes it in the same poll: the whole reply's send.
        shared.lateness.record(Timed::Whole, due, Instant::now());
    }
    if let Some(d) = rate {
        rate_headers(&mut resp, &d);
    }
    Ok(resp)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `require_key` as `Authorization: Bearer KEY`, or on `/v1/messages` also as Anthropic's
/// `x-api-key: KEY`; a refusal is a 401 in the route's shape.
#[allow(clippy::result_large_err)]
fn check_key(headers: &HeaderMap, config: &MockConfig, kind: ApiKind) -> Step<()> {
    let Some(key) = &config.require_key else {
        return Ok(());
    };
    let header = |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let bearer = header(&AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
    let x_api_key = header(&X_API_KEY).filter(|_| kind == ApiKind::Messages);
    if [bearer, x_api_key]
        .iter()
        .any(|given| given.map(str::trim) == Some(key.as_str()))
    {
        return Ok(());
    }
    let mut e = ApiError::unauthorized();
    if kind == ApiKind::Messages {
        e.message = "invalid x-api-key".into();
    }
    Err(respond::error_in(kind.shape(), &e))
}

static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

async fn read_body(mut body: Incoming, limit: u64, shape: ErrorShape) -> Step<Bytes> {
    let too_large = || respond::error_in(shape, &ApiError::too_large(limit));
    // hyper has read `content-length` already (and refused a malformed one): the body's exact
    // size hint is that length, and a chunked body has none.
    if body.size_hint().upper().is_some_and(|n| n > limit) {
        drain(body).await;
        return Err(too_large());
    }
    // A small body arrives as one frame: it is kept as is, and only a body in several frames is copied together.
    let mut first: Option<Bytes> = None;
    let mut data = bytes::BytesMut::new();
    // Stops as soon as the declared length has arrived, rather than polling once more for the end.
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                return Err(respond::error_in(
                    shape,
                    &ApiError::invalid(format!("Could not read the request body: {e}")),
                ))
            }
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let seen = first.as_ref().map_or(0, Bytes::len) + data.len();
        if (seen + chunk.len()) as u64 > limit {
            drain(body).await;
            return Err(too_large());
        }
        match first.take() {
            None if data.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    data.extend_from_slice(&earlier);
                }
                data.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| data.freeze()))
}

/// Reads and discards what is left of a request body (up to a bound, briefly) before an early
/// reply. Closing a socket with unread input makes the kernel send RST, and the client would
/// lose the error response itself; nginx's "lingering close" exists for the same reason.
///
/// Boxed: it only runs on early exits, and inline its timer would enlarge the future of every
/// request, which hyper keeps allocated per connection (thousands of held connections).
pub(crate) fn drain(mut body: Incoming) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    const MAX_DRAIN: usize = 16 * 1024 * 1024;
    const DRAIN_WAIT: Duration = Duration::from_secs(2);
    Box::pin(async move {
        if body.is_end_stream() {
            return;
        }
        let _ = tokio::time::timeout(DRAIN_WAIT, async {
            let mut seen = 0;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len());
                if seen > MAX_DRAIN {
                    break;
                }
            }
        })
        .await;
    })
}

#[allow(clippy::result_large_err)]
fn check_rate(
    shared: &Shared,
    active: &Active,
    cost: u64,
    shape: ErrorShape,
) -> Step<Option<RateDecision>> {
    let Some(limiter) = &active.rate else {
        return Ok(None);
    };
    let decision = limiter.check(Instant::now(), cost);
    let Some((kind, state)) = decision.refused_by() else {
        return Ok(Some(decision));
    };
    shared.stats.fault(if kind == "requests" {
        FaultKind::RateLimitRequests
    } else {
        FaultKind::RateLimitTokens
    });
    let wait = state.retry_after.unwrap_or_default();
    tracing::debug!(kind, wait_ms = wait.as_millis() as u64, "fault: rate limit");
    let mut e = ApiError::injected(429);
    e.kind = if kind == "requests" {
        "requests"
    } else {
        "tokens"
    };
    e.message = format!(
        "Rate limit reached on {kind} per min (RPM/TPM): Limit {}, Remaining {}. Please try again in {}.",
        state.limit,
        state.remaining,
        format_reset(wait)
    );
    let mut r = respond::error_in(shape, &e);
    retry_headers(&mut r, wait);
    rate_headers(&mut r, &decision);
    Err(r)
}

fn injected_error(
    shared: &Shared,
    status: u16,
    profile: &Profile,
    config: &MockConfig,
    shape: ErrorShape,
) -> Response<MockBody> {
    shared.stats.injected_error(status);
    tracing::debug!(status, "fault: injected error");
    let mut r = respond::error_in(shape, &ApiError::injected(status));
    if matches!(status, 429 | 503 | 529) {
        retry_headers(&mut r, profile.retry_after);
    }
    if status == 429 {
        // A nominal limit when no real one is configured, so clients that read the headers see a full set.
        let wait = profile.retry_after;
        let requests = BucketState {
            limit: config.rate_limit.requests_per_minute.unwrap_or(10_000),
            remaining: 0,
            reset: wait,
            retry_after: Some(wait),
        };
        let tokens = BucketState {
            limit: config.rate_limit.tokens_per_minute.unwrap_or(2_000_000),
            remaining: 0,
            reset: wait,
            retry_after: Some(wait),
        };
        rate_headers(
            &mut r,
            &RateDecision {
                requests: Some(requests),
                tokens: Some(tokens),
            },
        );
    }
    r
}

fn retry_headers(r: &mut Response<MockBody>, wait: Duration) {
    respond::set_header(
        r,
        "retry-after",
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    );
    respond::set_header(
        r,
        "retry-after-ms",
        wait.as_millis() + u128::from(wait.subsec_nanos() % 1_000_000 > 0),
    );
}

fn rate_headers(r: &mut Response<MockBody>, d: &RateDecision) {
    if let Some(s) = d.requests {
        respond::set_header(r, "x-ratelimit-limit-requests", s.limit);
        respond::set_header(r, "x-ratelimit-remaining-requests", s.remaining);
        respond::set_header(r, "x-ratelimit-reset-requests", format_reset(s.reset));
    }
    if let Some(s) = d.tokens {
        respond::set_header(r, "x-ratelimit-limit-tokens", s.limit);
        respond::set_header(r, "x-ratelimit-remaining-tokens", s.remaining);
        respond::set_header(r, "x-ratelimit-reset-tokens", format_reset(s.reset));
    }
}

async fn admit(
    shared: &Shared,
    active: &Active,
    profile: &Profile,
    shape: ErrorShape,
) -> Step<Option<tokio::sync::OwnedSemaphorePermit>> {
    let Some(gate) = &active.capacity else {
        return Ok(None);
    };
    match gate.enter().await {
        Admission::Immediate(p) => Ok(Some(p)),
        Admission::Queued(p) => {
            shared.stats.fault(FaultKind::CapacityQueued);
            Ok(Some(p))
        }
        Admission::Rejected => {
            shared.stats.fault(FaultKind::CapacityRejected);
            tracing::debug!("fault: capacity full, 503");
            let mut r = respond::error_in(shape, &ApiError::injected(503));
            retry_headers(&mut r, profile.retry_after);
            Err(r)
        }
    }
}

fn count_body_fault(shared: &Shared, fate: Fate, seq: u64) {
    let kind = match fate {
        Fate::Reset => FaultKind::Reset,
        Fate::Truncate => FaultKind::Truncate,
        Fate::SlowBody => FaultKind::SlowBody,
        Fate::StreamCut => FaultKind::StreamCut,
        Fate::StreamError => FaultKind::StreamError,
        _ => return,
    };
    shared.stats.fault(kind);
    tracing::debug!(seq, fault = ?fate, "fault: body");
}

/// A JSON reply, whole or through its body fault.
fn deliver(
    shared: &Shared,
    conn: &Arc<ConnState>,
    profile: &Profile,
    fate: Fate,
    seq: u64,
    data: Bytes,
) -> Response<MockBody> {
    count_body_fault(shared, fate, seq);
    let len = data.len();
    let body = match fate {
        Fate::Truncate => body::cut(data, len / 2, conn.clone(), false),
        Fate::Reset => body::cut(data, len / 2, conn.clone(), true),
        Fate::SlowBody => body::slow(data, profile.faults.slow_body_rate),
        _ => return respond::json(StatusCode::OK, data),
    };
    let mut r = respond::typed(StatusCode::OK, body, "application/json");
    // Declared in full so that a cut body is a visible truncation, not a shorter reply.
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}
