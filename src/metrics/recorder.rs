//! The per-worker recorder: turns each finished request into histogram values and counters, with no lock on the hot path.
//!
//! Every generator worker owns one `Recorder`; they are merged once at the end of a run,
//! and each worker hands its finished one-second buckets to the run's `SeriesCollector`.

use super::{
    audit::{CountedTokens, UsageAudit},
    headers::{self, HeaderTally},
    histogram::{new_histogram, record_clamped},
    lengths::{LengthRecorder, Requested},
    series::SecondBucket,
    slo::Slo,
};
use crate::client::{Exchange, Outcome, RetryReason, Tokens};
use hdrhistogram::Histogram;
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// The timing histograms kept per run (µs), by stable name; thresholds may name any of them.
pub const TIMING_HISTOGRAMS: [&str; 12] = [
    "latency",
    "service",
    "pool_wait",
    "connect",
    "ttfb",
    "ttft",
    "itl",
    "tpot",
    "start_lag",
    "queue_wait",
    "ttfat",
    "reasoning_time",
];

/// The rate histogram kept beside them: output tokens per second of each response (milli-tokens/s).
pub const TOKENS_PER_S: &str = "tokens_per_s";

/// Index of each histogram in [`Recorder`]'s array: the order of [`TIMING_HISTOGRAMS`], then
/// [`TOKENS_PER_S`]. An array rather than a map because every request records into several.
#[derive(Clone, Copy)]
#[repr(usize)]
enum Slot {
    Latency,
    Service,
    PoolWait,
    Connect,
    Ttfb,
    Ttft,
    Itl,
    Tpot,
    StartLag,
    QueueWait,
    Ttfat,
    ReasoningTime,
    TokensPerS,
}

/// Histograms a recorder keeps.
const SLOTS: usize = TIMING_HISTOGRAMS.len() + 1;

fn slot_name(index: usize) -> &'static str {
    TIMING_HISTOGRAMS
        .get(index)
        .copied()
        .unwrap_or(TOKENS_PER_S)
}

/// A start later than this behind its schedule counts as late (timer and scheduling noise is far below it).
pub const LATE_AFTER: Duration = Duration::from_millis(5);

/// One request as the generator saw it: when it was meant to start, when it did, and what the client reported.
pub struct Finished<'a> {
    /// The scheduled (open model) or ready (closed model) time: latency is measured from here.
    pub intended: Instant,
    /// What the client measured.
    pub exchange: &'a Exchange,
    /// True when `intended` falls inside the warm-up period (counted apart, not in statistics).
    pub warmup: bool,
    /// What relaybench counted of the request and its answer (usage audit on, answer `ok`).
    pub counted: Option<CountedTokens>,
    /// The token lengths a generated request asked for, if it did.
    pub requested: Option<Requested>,
}

/// Everything one worker measured.
pub struct Recorder {
    /// Run start; second buckets are counted from here.
    origin: Instant,
    /// Latency and timing histograms, in [`Slot`] order; see [`Recorder::histograms`].
    histograms: [Histogram<u64>; SLOTS],
    /// Values above each histogram's range (1 h), recorded as 1 h; same order.
    clamped: [u64; SLOTS],
    /// Outcome counts after warm-up.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Outcome counts during warm-up.
    pub warmup_outcomes: BTreeMap<Outcome, u64>,
    /// The per-request limits a good request meets (`[slo]`; unset: every `ok` request is good).
    slo: Slo,
    /// Requests after warm-up that were good: `ok` and within the SLO.
    pub good: u64,
    /// Attempts made (first tries + retries) after warm-up.
    pub attempts: u64,
    /// Attempts made during warm-up (the upstream saw and may bill them too).
    pub warmup_attempts: u64,
    /// Retries by reason key after warm-up.
    pub retries: BTreeMap<RetryReason, u64>,
    /// Token totals after warm-up.
    pub tokens: TokenTotals,
    /// Reported against counted tokens, per request, after warm-up (usage audit on).
    pub audit: UsageAudit,
    /// First error excerpt seen per outcome, for reports.
    pub error_samples: BTreeMap<Outcome, String>,
    /// Open model: requests that started more than `LATE_AFTER` behind schedule.
    pub late: u64,
    /// When the last measured request finished (the end of the measured window).
    pub last_finish: Option<Instant>,
    /// The one-second bucket being filled.
    bucket: SecondBucket,
    /// Requested and received lengths, and TTFT per prefix group (generated requests only).
    pub lengths: LengthRecorder,
    /// Recorded response headers (`[report] record_headers`), in the order the client's
    /// [`Exchange::recorded`] indexes them; empty when none are configured.
    pub headers: Vec<HeaderTally>,
}

/// Token counts summed over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenTotals {
    /// Prompt tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Responses whose output count came from `usage`.
    pub from_usage: u64,
    /// Responses whose output count came from counting stream chunks (no `usage`, no tokenizer
    /// count: one delta taken as one token, an estimate).
    pub counted: u64,
    /// Reasoning tokens among `output` (from `usage` where the protocol reports them, else the
    /// reasoning deltas or text counted).
    #[serde(default)]
    pub reasoning: u64,
    /// Responses whose output count came from relaybench's tokenizer (no `usage`; audit on).
    #[serde(default)]
    pub tokenizer: u64,
}

impl TokenTotals {
    /// Where the run's output token counts came from, the least trustworthy source present:
    /// `estimated` (stream deltas counted), `counted` (relaybench's tokenizer), `usage` (the
    /// upstream's report); `None` when no answer carried tokens.
    pub fn source(&self) -> Option<&'static str> {
        if self.counted > 0 {
            Some("estimated")
        } else if self.tokenizer > 0 {
            Some("counted")
        } else if self.from_usage > 0 {
            Some("usage")
        } else {
            None
        }
    }
}

impl Recorder {
    /// A recorder for a run that started at `origin`.
    pub fn new(origin: Instant) -> Recorder {
        Recorder::with_slo(origin, Slo::default())
    }

    /// A recorder for a run that started at `origin`, classifying requests against `slo`.
    pub fn with_slo(origin: Instant, slo: Slo) -> Recorder {
        Recorder {
            slo,
            good: 0,
            origin,
            histograms: std::array::from_fn(|_| new_histogram()),
            clamped: [0; SLOTS],
            outcomes: BTreeMap::new(),
            warmup_outcomes: BTreeMap::new(),
            attempts: 0,
            warmup_attempts: 0,
            retries: BTreeMap::new(),
            tokens: TokenTotals::default(),
            audit: UsageAudit::default(),
            error_samples: BTreeMap::new(),
            late: 0,
            last_finish: None,
            bucket: SecondBucket::new(0),
            lengths: LengthRecorder::default(),
            headers: Vec::new(),
        }
    }

    /// This recorder, also recording the response headers `names` (in the client's order).
    pub fn recording_headers(mut self, names: &[http::HeaderName]) -> Recorder {
        self.headers = names.iter().cloned().map(HeaderTally::new).collect();
        self
    }

    /// Records one finished request. Returns the completed second bucket when this request starts a new second.
    pub fn record(&mut self, done: Finished<'_>) -> Option<SecondBucket> {
        let ex = done.exchange;
        let outcome = ex.outcome;
        if done.warmup {
            *self.warmup_outcomes.entry(outcome).or_default() += 1;
            self.warmup_attempts += ex.attempts as u64;
            // Counted in the second it ended (outside every statistic) so that the saturation
            // watch sees all the upstream's completions, the warm-up's included.
            let flushed = self.roll_to(ex.finished);
            self.bucket.warmup_completed += 1;
            self.bucket.warmup_ok += u64::from(outcome == Outcome::Ok);
            return flushed;
        }
        *self.outcomes.entry(outcome).or_default() += 1;
        self.attempts += ex.attempts as u64;
        self.last_finish = self.last_finish.max(Some(ex.finished));
        // Rolled first, so that this request's figures land in the bucket of its own second.
        let flushed = self.roll_to(ex.finished);
        // Retries as `retries` counts them (not a cancelled request's), so live counters never exceed the final ones.
        let retries = if outcome == Outcome::Cancelled {
            0
        } else {
            ex.retries.len() as u64
        };
        self.bucket.note(outcome, ex.attempts as u64, retries);
        if outcome == Outcome::Cancelled {
            // Its latency is unknown (cut short by the run), so it is counted but not timed.
            return flushed;
        }
        for reason in &ex.retries {
            *self.retries.entry(*reason).or_default() += 1;
        }
        for (i, value) in &ex.recorded {
            if let Some(tally) = self.headers.get_mut(*i) {
                tally.note(value);
            }
        }
        if let Some(detail) = &ex.detail {
            if outcome.is_error() && !self.error_samples.contains_key(&outcome) {
                // The recorded headers (a relay's request id) say which request to look up.
                let sample = detail.clone() + &headers::suffix(&self.headers, &ex.recorded);
                self.error_samples.insert(outcome, sample);
            }
        }
        let latency_d = ex.finished.saturating_duration_since(done.intended);
        let latency = micros(latency_d);
        self.put(Slot::Latency, latency);
        if let Some(sent) = ex.sent {
            self.put(
                Slot::Service,
                micros(ex.finished.saturating_duration_since(sent)),
            );
        }
        if ex.attempts > 0 {
            self.put(Slot::PoolWait, micros(ex.pool_wait));
        }
        if let Some(connect) = ex.connect {
            self.put(Slot::Connect, micros(connect));
        }
        if let Some(ttfb) = ex.ttfb {
            self.put(Slot::Ttfb, micros(ttfb));
        }
        if let Some(requested) = done.requested {
            self.lengths.note_requested(requested);
            if let Some(turn) = requested.turn {
                self.lengths
                    .note_turn(turn, latency, outcome == Outcome::Ok);
            }
        }
        if outcome == Outcome::Ok {
            self.record_tokens(ex, done.counted, done.requested);
        }
        // A few comparisons on figures already measured (see `slo`): no allocation per request.
        let good = self.slo.is_good(latency_d, ex);
        self.good += u64::from(good);
        self.bucket.add(outcome, latency, good);
        flushed
    }

    fn record_tokens(
        &mut self,
        ex: &Exchange,
        counted: Option<CountedTokens>,
        requested: Option<Requested>,
    ) {
        if let Some(counted) = counted {
            self.audit_one(ex.tokens, counted);
        }
        let Some(tokens) = ex.tokens else { return };
        let Tokens {
            input,
            mut output,
            from_usage,
            mut reasoning,
        } = tokens;
        match (from_usage, counted) {
            (true, Some(c)) if reasoning == 0 => {
                // Anthropic reports thinking inside `output_tokens` only: counted, it is known.
                self.tokens.from_usage += 1;
                reasoning = c.reasoning.into();
            }
            (true, _) => self.tokens.from_usage += 1,
            // No `usage`: the tokenizer's count stands in for the deltas counted.
            (false, Some(c)) => {
                self.tokens.tokenizer += 1;
                (output, reasoning) = (c.completion.into(), c.reasoning.into());
            }
            (false, None) => self.tokens.counted += 1,
        }
        self.tokens.input += input;
        self.tokens.output += output;
        self.tokens.reasoning += reasoning;
        // Stream metrics belong to the attempt that produced the answer: a failed attempt
        // before it and the backoff after that are in the latency, not here.
        let answered = ex.stream.as_ref().and_then(|stream| {
            let first = stream.first_token?;
            let start = ex.attempt_sent.unwrap_or(first);
            Some((
                stream,
                first,
                start,
                micros(first.saturating_duration_since(start)),
            ))
        });
        if let Some(requested) = requested {
            let ttft = answered.map(|(.., ttft)| ttft);
            self.lengths.note_received(requested, output, ttft);
        }
        let Some((stream, first, start, ttft)) = answered else {
            return;
        };
        self.put(Slot::Ttft, ttft);
        self.bucket.note_ttft(ttft);
        if let Some(answer) = stream.first_answer {
            self.put(Slot::Ttfat, micros(answer.saturating_duration_since(start)));
        }
        if let Some(reasoning) = stream.reasoning_time() {
            self.put(Slot::ReasoningTime, micros(reasoning));
        }
        for gap in &stream.inter_token {
            self.put(Slot::Itl, micros(*gap));
        }
        if let (Some(last), true) = (stream.last_token, output > 1) {
            // Decode time ends at the last token: a usage chunk or `[DONE]` sent later is no token.
            let decode = last.saturating_duration_since(first);
            let gaps = u32::try_from(output - 1).unwrap_or(u32::MAX);
            self.put(Slot::Tpot, micros(decode / gaps));
        }
        let total = ex.finished.saturating_duration_since(start).as_secs_f64();
        if total > 0.0 {
            // Stored as milli-tokens per second so the integer histogram keeps three digits.
            self.put(Slot::TokensPerS, (output as f64 / total * 1000.0) as u64);
        }
    }

    /// Compares what the upstream reported with what relaybench counted, for one answer.
    fn audit_one(&mut self, reported: Option<Tokens>, counted: CountedTokens) {
        self.audit.counted_answers += 1;
        if counted.prompt.is_none() {
            self.audit.prompts_not_audited += 1;
        }
        let Some(reported) = reported.filter(|t| t.from_usage) else {
            return;
        };
        if let Some(prompt) = counted.prompt {
            self.audit.prompt.add(reported.input, prompt.into());
        }
        self.audit
            .completion
            .add(reported.output, counted.completion.into());
    }

    /// Counts a conversation session that ran all its turns, or one that ended early.
    pub fn note_session(&mut self, completed: bool) {
        self.lengths.note_session(completed);
    }

    /// Records an open-model start lag (every start, so the lag distribution is complete).
    pub fn note_start_lag(&mut self, lag: Duration) {
        if lag > LATE_AFTER {
            self.late += 1;
        }
        self.put(Slot::StartLag, micros(lag));
    }

    /// Records how long an open-model arrival waited at the in-flight cap before it was sent.
    pub fn note_queue_wait(&mut self, waited: Duration) {
        self.put(Slot::QueueWait, micros(waited));
    }

    fn put(&mut self, slot: Slot, value: u64) {
        if record_clamped(&mut self.histograms[slot as usize], value) {
            self.clamped[slot as usize] += 1;
        }
    }

    /// Every histogram with its stable name ([`TIMING_HISTOGRAMS`], then [`TOKENS_PER_S`]).
    pub fn histograms(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> {
        self.histograms
            .iter()
            .enumerate()
            .map(|(i, h)| (slot_name(i), h))
    }

    /// Values of histogram `name` that were above its range and recorded as 1 h.
    pub fn clamped(&self, name: &str) -> u64 {
        (0..SLOTS)
            .find(|i| slot_name(*i) == name)
            .map_or(0, |i| self.clamped[i])
    }

    /// Moves the current bucket forward to the second of `now`, returning the finished one if the second changed.
    pub fn roll_to(&mut self, now: Instant) -> Option<SecondBucket> {
        let second = now.saturating_duration_since(self.origin).as_secs();
        if second <= self.bucket.second {
            return None;
        }
        Some(std::mem::replace(
            &mut self.bucket,
            SecondBucket::new(second),
        ))
    }

    /// Hands over the bucket being filled (at the end of a run).
    pub fn take_bucket(&mut self) -> SecondBucket {
        let second = self.bucket.second;
        std::mem::replace(&mut self.bucket, SecondBucket::new(second))
    }

    /// Adds another worker's recorder into this one. Merging is exact: histograms add counts.
    pub fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = mine.add(theirs);
        }
        for (mine, theirs) in self.clamped.iter_mut().zip(&other.clamped) {
            *mine += theirs;
        }
        add_counts(&mut self.outcomes, &other.outcomes);
        add_counts(&mut self.warmup_outcomes, &other.warmup_outcomes);
        add_counts(&mut self.retries, &other.retries);
        self.attempts += other.attempts;
        self.good += other.good;
        self.warmup_attempts += other.warmup_attempts;
        self.tokens.input += other.tokens.input;
        self.tokens.output += other.tokens.output;
        self.tokens.from_usage += other.tokens.from_usage;
        self.tokens.counted += other.tokens.counted;
        self.tokens.reasoning += other.tokens.reasoning;
        self.tokens.tokenizer += other.tokens.tokenizer;
        self.audit.merge(&other.audit);
        self.lengths.merge(&other.lengths);
        self.last_finish = self.last_finish.max(other.last_finish);
        self.late += other.late;
        for (k, v) in &other.error_samples {
            self.error_samples.entry(*k).or_insert_with(|| v.clone());
        }
        if self.headers.is_empty() {
            self.headers = other
                .headers
                .iter()
                .map(|t| HeaderTally::new(t.name.clone()))
                .collect();
        }
        for (mine, theirs) in self.headers.iter_mut().zip(&other.headers) {
            mine.merge(theirs);
        }
    }

    /// Logical requests recorded (after warm-up).
    pub fn total(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

fn add_counts<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// Whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_carry_the_names_results_files_use() {
        let slots = [
            (Slot::Latency, "latency"),
            (Slot::Service, "service"),
            (Slot::PoolWait, "pool_wait"),
            (Slot::Connect, "connect"),
            (Slot::Ttfb, "ttfb"),
            (Slot::Ttft, "ttft"),
            (Slot::Itl, "itl"),
            (Slot::Tpot, "tpot"),
            (Slot::Ttfat, "ttfat"),
            (Slot::ReasoningTime, "reasoning_time"),
            (Slot::StartLag, "start_lag"),
            (Slot::QueueWait, "queue_wait"),
            (Slot::TokensPerS, TOKENS_PER_S),
        ];
        assert_eq!(slots.len(), SLOTS);
        for (slot, name) in slots {
            assert_eq!(slot_name(slot as usize), name);
        }
        let mut r = Recorder::new(Instant::now());
        r.put(Slot::Itl, 1234);
        let named: Vec<_> = r.histograms().filter(|(_, h)| !h.is_empty()).collect();
        assert_eq!(named.len(), 1);
        assert_eq!((named[0].0, named[0].1.max()), ("itl", 1234));
    }

    #[test]
    fn recorded_headers_are_tallied_and_follow_the_error_sample() {
        use http::{HeaderName, HeaderValue};
        let t0 = Instant::now();
        let names = [
            HeaderName::from_static("x-overhead-ms"),
            HeaderName::from_static("x-request-id"),
        ];
        let mut r = Recorder::new(t0).recording_headers(&names);
        let failed = Exchange {
            attempts: 1,
            detail: Some("upstream said no".into()),
            recorded: vec![
                (0, HeaderValue::from_static("4")),
                (1, HeaderValue::from_static("req_abc")),
            ],
            ..Exchange::unsent(Outcome::Status(502), t0 + Duration::from_millis(5))
        };
        let ok = Exchange {
            attempts: 1,
            recorded: vec![(0, HeaderValue::from_static("2"))],
            ..Exchange::unsent(Outcome::Ok, t0 + Duration::from_millis(5))
        };
        for ex in [&failed, &ok] {
            r.record(Finished {
                intended: t0,
                exchange: ex,
                warmup: false,
                counted: None,
                requested: None,
            });
        }
        assert_eq!(
            r.error_samples[&Outcome::Status(502)],
            "upstream said no · x-overhead-ms: 4 · x-request-id: req_abc"
        );
        let mut merged = Recorder::new(t0);
        merged.merge(&r);
        let stored = headers::stored(&merged.headers);
        let timing = stored["x-overhead-ms"].numeric.as_ref().unwrap();
        assert_eq!(timing.summary.count, 2);
        assert!(
            (timing.summary.max - 4.0).abs() < 0.01,
            "{}",
            timing.summary.max
        );
        assert_eq!(stored["x-request-id"].last_text, vec!["req_abc"]);
        assert!(
            Recorder::new(t0).headers.is_empty(),
            "none configured: none kept"
        );
    }

    #[test]
    fn stream_metrics_come_from_the_answering_attempt_and_end_at_the_last_token() {
        use crate::client::StreamTiming;
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // First attempt sent at 0 (a 503), the answering one at 500 ms; tokens at 600, 700,
        // 800 ms; usage and [DONE] at 1,300 ms.
        let ex = Exchange {
            sent: Some(t0),
            attempt_sent: Some(ms(500)),
            attempts: 2,
            tokens: Some(Tokens {
                input: 5,
                output: 3,
                from_usage: true,
                reasoning: 0,
            }),
            stream: Some(StreamTiming {
                first_token: Some(ms(600)),
                inter_token: vec![Duration::from_millis(100); 2],
                last_token: Some(ms(800)),
                content_chunks: 3,
                ..StreamTiming::default()
            }),
            ..Exchange::unsent(Outcome::Ok, ms(1300))
        };
        let mut r = Recorder::new(t0);
        r.record(Finished {
            intended: t0,
            exchange: &ex,
            warmup: false,
            counted: None,
            requested: None,
        });
        let value = |name: &str| {
            let (_, h) = r.histograms().find(|(n, _)| *n == name).unwrap();
            (h.len(), h.value_at_quantile(0.5))
        };
        let near = |(count, v): (u64, u64), want: u64| count >= 1 && v.abs_diff(want) <= want / 500;
        assert!(
            near(value("latency"), 1_300_000),
            "latency covers everything"
        );
        assert!(
            near(value("ttft"), 100_000),
            "TTFT from the answering send: {:?}",
            value("ttft")
        );
        assert!(
            near(value("tpot"), 100_000),
            "(800 − 600) / 2: {:?}",
            value("tpot")
        );
        assert_eq!(value("itl").0, 2);
        assert!(
            near(value("tokens_per_s"), 3_750),
            "3 tokens / 0.8 s: {:?}",
            value("tokens_per_s")
        );
    }

    #[test]
    fn values_above_an_hour_are_counted_per_histogram_and_merged() {
        let mut a = Recorder::new(Instant::now());
        a.put(Slot::Latency, super::super::histogram::MAX_TRACKABLE_US + 1);
        a.put(Slot::Latency, 5_000);
        a.put(Slot::Ttft, u64::MAX);
        let mut b = Recorder::new(Instant::now());
        b.put(Slot::Latency, 7_200_000_000);
        a.merge(&b);
        assert_eq!(a.clamped("latency"), 2);
        assert_eq!(a.clamped("ttft"), 1);
        assert_eq!(a.clamped("service"), 0);
        assert_eq!(a.clamped("no such histogram"), 0);
    }
}
