//! One generator worker: a thread with its own single-threaded runtime and recorder, so the hot path takes no lock.

use super::{
    requests::{Prepared, RequestMix},
    stop::{Stop, StopStage},
};
use crate::{
    client::{Client, Exchange, RequestSpec},
    metrics::{audit::CountedTokens, ledger::Tally, Finished, Outcome, Recorder, SecondBucket},
};
use bytes::BytesMut;
use rand::Rng;
use std::{
    cell::{Cell, RefCell},
    future::Future,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    task::{Poll, Waker},
    time::{Duration, Instant},
};
use tokio::{sync::mpsc::UnboundedSender, task::LocalSet};

/// What relaybench counts of an answer whose text was kept (usage audit on): the answer's and
/// the reasoning's tokens with the target's encoding, and the prompt counted when the request
/// was built. Counted on the audit's own thread (see `audit_counter`); the text comes back for
/// the history.
async fn count_tokens(
    mix: &RequestMix,
    prompt: Option<u32>,
    ex: &mut Exchange,
) -> Option<CountedTokens> {
    if !mix.audit {
        // A conversation keeps its answers' text for the history, not for the audit.
        return None;
    }
    let text = ex.text.take()?;
    let (text, counted) = super::audit_counter::count(mix.encoding.encoding, text).await?;
    ex.text = Some(text);
    Some(CountedTokens {
        prompt,
        completion: counted.completion,
        reasoning: counted.reasoning,
    })
}

/// The moments that divide a run.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    /// When load starts.
    pub start: Instant,
    /// Requests intended before this are warm-up.
    pub warmup_end: Instant,
}

/// State shared by every worker of a run.
#[derive(Clone)]
pub struct Shared {
    /// The client (and its pool) all workers send through.
    pub client: Client,
    /// The request mix.
    pub mix: Arc<RequestMix>,
    /// Stop signal.
    pub stop: Stop,
    /// Requests issued after warm-up (for the count bound).
    pub issued: Arc<AtomicU64>,
    /// The count bound, if any.
    pub limit: Option<u64>,
    /// Requests in flight right now.
    pub in_flight: Arc<AtomicU64>,
    /// Where finished one-second buckets go.
    pub buckets: UnboundedSender<SecondBucket>,
    /// Run timeline.
    pub timeline: Timeline,
    /// Base seed.
    pub seed: u64,
    /// The target's request and cost limits.
    pub guard: Arc<super::guard::SpendGuard>,
    /// Templated requests' global sequence number (`{{index}}`), counted only when the mix has templates.
    pub sequence: Arc<AtomicU64>,
    /// The per-request limits a good request meets (`[slo]`).
    pub slo: crate::metrics::Slo,
    /// Where each finished request's trace line goes (`--trace`), if anywhere.
    pub trace: Option<crate::trace::TraceTap>,
}

/// What a worker's tasks share: the run's shared state plus this worker's recorder and its side of the ledger.
pub struct WorkerContext {
    shared: Shared,
    recorder: RefCell<Recorder>,
    /// Arrivals and what became of those that never reached the client, counted where they are
    /// born, apart from the recorder (measured, warm-up).
    ledger: RefCell<[Tally; 2]>,
    /// Where templated bodies are rendered; its allocation is reused between requests.
    body_buffer: RefCell<BytesMut>,
    /// Wakes this worker's in-flight requests when the run reaches `Cancelled`.
    cancel: LocalCancel,
    /// Stop signal (copied out of `shared` for short access).
    pub stop: Stop,
    /// Run timeline.
    pub timeline: Timeline,
    /// This worker's seed.
    pub seed: u64,
}

/// What a worker hands back when it is done.
pub struct WorkerOutput {
    /// Everything it measured.
    pub recorder: Recorder,
    /// Its side of the ledger after warm-up.
    pub measured: Tally,
    /// Its side of the ledger during warm-up.
    pub warmup: Tally,
}

/// What became of a request the generator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// It went to the client and ended in an outcome (recorded). Sending again makes sense
    /// from `not_before` on when the client said so (a request that never reached the
    /// upstream: circuit open, budget exhausted, refused connection).
    Done {
        /// The earliest time another request is worth sending, if the client set one.
        not_before: Option<Instant>,
    },
    /// A spend guard refused it before anything was sent: the run stops.
    Refused,
}

impl WorkerContext {
    /// A context for worker number `index`.
    pub fn new(shared: Shared, index: usize) -> WorkerContext {
        WorkerContext {
            recorder: RefCell::new(
                Recorder::with_slo(shared.timeline.start, shared.slo)
                    .recording_headers(&shared.mix.record_headers),
            ),
            ledger: RefCell::new([Tally::default(); 2]),
            body_buffer: RefCell::new(BytesMut::new()),
            cancel: LocalCancel::default(),
            stop: shared.stop.clone(),
            timeline: shared.timeline,
            seed: shared.seed.wrapping_add(index as u64 * 7919),
            shared,
        }
    }

    /// Takes one request from the count bound; false once the bound is reached.
    pub fn claim_request(&self) -> bool {
        let Some(limit) = self.shared.limit else {
            return true;
        };
        if self.shared.issued.fetch_add(1, Relaxed) < limit {
            return true;
        }
        self.shared.issued.fetch_sub(1, Relaxed);
        false
    }

    /// Sends one request picked from the mix, races it against cancellation, and records it.
    /// A spend guard's refusal sends nothing and is counted in the ledger, not as an outcome.
    pub async fn execute_and_record<R: Rng>(
        &self,
        intended: Instant,
        warmup: bool,
        rng: &mut R,
    ) -> Sent {
        let prepared = self.shared.mix.pick(rng);
        self.send(prepared, None, intended, warmup, rng).await.0
    }

    /// The run's request mix.
    pub fn mix(&self) -> &RequestMix {
        &self.shared.mix
    }

    /// Sends `prepared` (for a conversation's turn: its number, and the body with the history
    /// after the first turn), races it against cancellation and records it; also returns the
    /// answer's text when it was kept and the request ended `ok`.
    pub async fn send<R: Rng>(
        &self,
        prepared: &Prepared,
        turn: Option<(u16, Option<bytes::Bytes>)>,
        intended: Instant,
        warmup: bool,
        rng: &mut R,
    ) -> (Sent, Option<String>) {
        // The sequence number is taken for every request of a templated mix, so `{{index}}`
        // numbers the run's requests whichever entry they came from.
        let index = self
            .shared
            .mix
            .is_templated()
            .then(|| self.shared.sequence.fetch_add(1, Relaxed));
        let turn_index = turn.as_ref().map(|(k, _)| *k);
        let body = match (turn, &prepared.template, index) {
            // A session's first turn goes as built; a later one with its history.
            (Some((_, body)), _, _) => body,
            (None, Some(template), Some(index)) => {
                Some(template.render_bytes(index, rng, &mut self.body_buffer.borrow_mut()))
            }
            _ => None,
        };
        let rendered;
        let spec = match body {
            Some(body) => {
                rendered = RequestSpec {
                    body,
                    ..prepared.spec.clone()
                };
                &rendered
            }
            None => &prepared.spec,
        };
        let mut spend = self
            .shared
            .guard
            .request(spec.body.len(), prepared.max_tokens, warmup);
        self.shared.in_flight.fetch_add(1, Relaxed);
        let client = &self.shared.client;
        // Pinned where it is made and polled through a reference: the request's future is
        // large, and every move of it is a copy on the hot path.
        let ended = {
            let execute = std::pin::pin!(async {
                #[cfg(feature = "fixtures")]
                test_panic(spec);
                client.execute_guarded(spec, &mut spend).await
            });
            self.cancel.or_cancelled(execute).await
        };
        self.shared.in_flight.fetch_sub(1, Relaxed);
        let mut exchange = match ended {
            Ok(Some(Ok(exchange))) => exchange,
            Ok(Some(Err(_refused))) => {
                self.tally(warmup, |t| t.refused_by_guard += 1);
                self.stop.advance(StopStage::Draining);
                return (Sent::Refused, None);
            }
            // Cut short at the end of the run: its attempts that went out still count (the
            // upstream saw them), which the spend guard followed when the exchange was dropped.
            Ok(None) => Exchange {
                attempts: spend.attempts_sent(),
                ..Exchange::unsent(Outcome::Cancelled, Instant::now())
            },
            Err(panic) => Exchange {
                attempts: spend.attempts_sent(),
                detail: Some(format!("relaybench panicked: {panic}")),
                ..Exchange::unsent(Outcome::InternalError, Instant::now())
            },
        };
        drop(spend);
        if self.shared.guard.has_tripped() {
            // A guard that refused a retry stops the run like one that refused a first try.
            self.stop.advance(StopStage::Draining);
        }
        // Only the first turn's prompt was counted when the mix was built: a later turn's
        // history is not counted per request (not audited, like a templated prompt).
        let prompt = prepared
            .prompt_tokens
            .filter(|_| turn_index.unwrap_or(1) <= 1);
        let counted = count_tokens(&self.shared.mix, prompt, &mut exchange).await;
        let requested = match turn_index {
            // A later turn's input is the whole history, not the drawn prompt's length.
            Some(turn) => Some(crate::metrics::lengths::Requested {
                turn: Some(turn),
                input: prepared
                    .requested
                    .and_then(|r| r.input)
                    .filter(|_| turn <= 1),
                ..prepared.requested.unwrap_or_default()
            }),
            None => prepared.requested,
        };
        self.record(intended, &exchange, warmup, counted, requested);
        let answer = (exchange.outcome == Outcome::Ok)
            .then(|| exchange.text.map(|t| t.answer))
            .flatten();
        let sent = Sent::Done {
            not_before: exchange.retry_not_before,
        };
        (sent, answer)
    }

    /// Counts a session that ran all its turns (`completed`) or ended early (a failed turn, the
    /// run's end or its count bound), unless it started in warm-up.
    pub fn note_session(&self, warmup: bool, completed: bool) {
        if !warmup {
            self.recorder.borrow_mut().note_session(completed);
        }
    }

    /// Records a finished request (and forwards a completed one-second bucket).
    fn record(
        &self,
        intended: Instant,
        exchange: &Exchange,
        warmup: bool,
        counted: Option<CountedTokens>,
        requested: Option<crate::metrics::lengths::Requested>,
    ) {
        if let Some(trace) = &self.shared.trace {
            trace.offer(intended, exchange, warmup);
        }
        let flushed = self.recorder.borrow_mut().record(Finished {
            intended,
            exchange,
            warmup,
            counted,
            requested,
        });
        if let Some(bucket) = flushed {
            let _ = self.shared.buckets.send(bucket);
            // Once a second the trace's batch goes out too, so the file follows the run.
            if let Some(trace) = &self.shared.trace {
                trace.flush();
            }
        }
    }

    /// Records an arrival that was never sent because the run was cancelled while it waited
    /// (queued at the in-flight cap): it ends `cancelled`, like a request in flight.
    pub fn record_cancelled(&self, intended: Instant, warmup: bool) {
        let exchange = Exchange::unsent(Outcome::Cancelled, Instant::now());
        self.record(intended, &exchange, warmup, None, None);
    }

    /// Runs the worker's tasks to their end. Once the run reaches `Cancelled`, every request
    /// still in flight on this worker is woken and ends as `cancelled`.
    pub async fn drive(&self, local: LocalSet) {
        let mut local = std::pin::pin!(local);
        tokio::select! {
            _ = local.as_mut() => {}
            _ = self.stop.reached(StopStage::Cancelled) => {
                self.cancel.fire();
                local.await;
            }
        }
    }

    /// Requests in flight across the run.
    pub fn in_flight(&self) -> &AtomicU64 {
        &self.shared.in_flight
    }

    /// Records how late an open-model request started.
    pub fn note_start_lag(&self, lag: std::time::Duration, warmup: bool) {
        if !warmup {
            self.recorder.borrow_mut().note_start_lag(lag);
        }
    }

    /// Counts a request being born (an arrival of the schedule, a user deciding to send).
    pub fn note_arrival(&self, warmup: bool) {
        self.tally(warmup, |t| t.arrivals += 1);
    }

    /// Counts an arrival the in-flight cap refused to start.
    pub fn note_dropped(&self, warmup: bool) {
        self.tally(warmup, |t| t.dropped += 1);
    }

    /// Counts an arrival that must wait for a slot at the in-flight cap.
    pub fn note_queued(&self, warmup: bool) {
        self.tally(warmup, |t| t.queued += 1);
    }

    /// Records how long a queued arrival waited before it was sent.
    pub fn note_queue_wait(&self, warmup: bool, waited: Duration) {
        if !warmup {
            self.recorder.borrow_mut().note_queue_wait(waited);
        }
    }

    fn tally(&self, warmup: bool, f: impl FnOnce(&mut Tally)) {
        f(&mut self.ledger.borrow_mut()[usize::from(warmup)]);
    }

    /// Flushes the last bucket and returns the recorder and the ledger.
    pub fn finish(self) -> WorkerOutput {
        let mut recorder = self.recorder.into_inner();
        let _ = self.shared.buckets.send(recorder.take_bucket());
        let [measured, warmup] = self.ledger.into_inner();
        WorkerOutput {
            recorder,
            measured,
            warmup,
        }
    }
}

/// Tests only (the `fixtures` feature, never in a release binary): a request carrying the
/// header `x-relaybench-test-panic` panics inside the request task, as a bug in the client
/// would, so the tests can check that it ends as `internal_error` and nothing is lost.
#[cfg(feature = "fixtures")]
fn test_panic(spec: &RequestSpec) {
    if let Some(v) = spec.headers.get("x-relaybench-test-panic") {
        panic!("injected by the test: {}", v.to_str().unwrap_or("?"));
    }
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Worker-local cancellation. Each in-flight request parks its waker here instead of
/// registering with the run-wide stop channel, which would cost a mutex round trip per
/// request; [`WorkerContext::drive`] watches that channel once for the whole worker.
#[derive(Default)]
struct LocalCancel {
    /// Set once the run reached `Cancelled`.
    fired: Cell<bool>,
    /// Wakers of requests waiting on the upstream.
    wakers: RefCell<slab::Slab<Waker>>,
}

impl LocalCancel {
    /// `work`'s output, `Ok(None)` when the worker's requests are cancelled first, or the
    /// message of a panic inside it: a request that panics must end as an outcome
    /// (`internal_error`) and leave the worker, its counters and the run going.
    async fn or_cancelled<F: Future>(
        &self,
        mut work: std::pin::Pin<&mut F>,
    ) -> Result<Option<F::Output>, String> {
        let mut parked = Parked {
            cancel: self,
            key: None,
        };
        std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
                Ok(Poll::Ready(output)) => return Poll::Ready(Ok(Some(output))),
                Err(payload) => return Poll::Ready(Err(panic_message(payload.as_ref()))),
                Ok(Poll::Pending) => {}
            }
            if self.fired.get() {
                return Poll::Ready(Ok(None));
            }
            parked.park(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Cancels: wakes every parked request (each then sees `fired`).
    fn fire(&self) {
        self.fired.set(true);
        let wakers: Vec<Waker> = self.wakers.borrow_mut().drain().collect();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// One request's place among the parked wakers; leaving it (request done or dropped) frees it.
struct Parked<'a> {
    cancel: &'a LocalCancel,
    key: Option<usize>,
}

impl Parked<'_> {
    fn park(&mut self, waker: &Waker) {
        let mut wakers = self.cancel.wakers.borrow_mut();
        match self.key.and_then(|k| wakers.get_mut(k)) {
            Some(parked) if parked.will_wake(waker) => {}
            Some(parked) => parked.clone_from(waker),
            None => self.key = Some(wakers.insert(waker.clone())),
        }
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            // Already gone when `fire` drained the list.
            self.cancel.wakers.borrow_mut().try_remove(key);
        }
    }
}
