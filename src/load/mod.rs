//! Load generation: worker threads that drive the client by a load model, the run's timeline, the stop/grace/cancel sequence, and the saturation stop.

mod audit_counter;
pub mod closed;
pub mod conversation;
pub mod guard;
pub mod lengths;
pub mod open;
pub mod overload;
pub mod pacer;
pub mod requests;
pub mod saturation;
pub mod stop;
pub mod synthetic;
pub mod template;
pub mod worker;

pub use requests::{MixOptions, RequestMix};
pub use stop::{Stop, StopStage};

use crate::{
    client::Client,
    metrics::{
        ledger::Ledger, live::LiveTotals, Recorder, Saturation, SeriesCollector, SeriesPoint, Slo,
    },
    scenario::{LoadModel, Workload},
};
use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};
use worker::{Shared, Timeline, WorkerContext, WorkerOutput};

/// Live figures for progress displays, refreshed once per second.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Seconds since load started.
    pub elapsed: f64,
    /// Planned seconds (warm-up + duration), if bounded by time.
    pub total: Option<f64>,
    /// The last complete second.
    pub last: Option<SeriesPoint>,
    /// Requests in flight.
    pub in_flight: u64,
    /// Open connections.
    pub open_connections: u64,
    /// Requests waiting for a pool slot.
    pub waiting_for_pool: u64,
    /// The circuit breaker's state (`closed`, `open`, `half_open`); `None` when it is off.
    pub breaker: Option<&'static str>,
    /// What the run spent so far (attempts sent and their cost), when the target's model has a price.
    pub spend: Option<crate::metrics::ledger::Spend>,
    /// Measured totals and recent percentiles, from the buckets received so far.
    pub totals: Arc<LiveTotals>,
}

/// What a run of the generator produced.
pub struct LoadOutput {
    /// All workers' recorders merged.
    pub recorder: Recorder,
    /// The one-second series.
    pub series: Vec<SeriesPoint>,
    /// Seconds from the end of warm-up to the last measured request.
    pub measured_seconds: f64,
    /// When load started (time zero of the series and of breaker events).
    pub start: Instant,
    /// Arrivals as the generator counted them, and what was in flight at the stop.
    pub ledger: Ledger,
    /// Set when `stop_on_saturation` ended the run.
    pub saturated: Option<Saturation>,
}

/// Drives `workload` through `client` until the workload's bounds or `stop` end it; requests
/// are classified good or not against `slo` as they are recorded.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    workload: &Workload,
    slo: Slo,
    client: Client,
    mix: RequestMix,
    guard: Arc<guard::SpendGuard>,
    stop: Stop,
    seed: u64,
    trace: Option<crate::trace::TraceTap>,
    mut on_progress: impl FnMut(&Progress),
) -> LoadOutput {
    let start = Instant::now();
    if let Some(tap) = &trace {
        tap.begin(start);
    }
    let timeline = Timeline {
        start,
        warmup_end: start + workload.warmup.0,
    };
    let user_stages = workload.user_stages();
    // A closed model with stages ends with its last stage (stages count from the start of
    // load, warm-up included, like the ramp's schedule); a `duration` can only shorten it.
    let measure_end = [
        workload.duration.map(|d| timeline.warmup_end + d.0),
        user_stages.as_ref().map(|s| start + s.total()),
    ]
    .into_iter()
    .flatten()
    .min();
    let (bucket_tx, mut bucket_rx) = tokio::sync::mpsc::unbounded_channel();
    let in_flight = Arc::new(AtomicU64::new(0));
    let shared_guard = guard.clone();
    let shared = Shared {
        client: client.clone(),
        mix: Arc::new(mix),
        stop: stop.clone(),
        issued: Arc::new(AtomicU64::new(0)),
        limit: workload.requests,
        in_flight: in_flight.clone(),
        buckets: bucket_tx,
        timeline,
        seed,
        guard,
        sequence: Arc::new(AtomicU64::new(0)),
        slo,
        trace,
    };
    let threads = workload.threads().max(1);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<WorkerOutput>();
    let handles = spawn_workers(workload, shared, threads, done_tx);

    let mut collector = SeriesCollector::default();
    // Folded from the buckets once per worker and second, for live displays. Shared with each
    // second's `Progress` without a copy: a display that keeps it past the callback costs one
    // copy at the next bucket (`Arc::make_mut`).
    let mut totals = Arc::new(LiveTotals::default());
    let breaker_on = client.settings().breaker.enabled;
    // Fed from what this loop already receives (buckets, its in-flight samples), never from a request.
    let mut watch = saturation::SaturationWatch::for_workload(workload, seed);
    let mut saturated = None;
    let mut outputs = Vec::new();
    let mut grace_end: Option<Instant> = None;
    let mut in_flight_at_stop: Option<(u64, u64)> = None;
    let mut next_tick = start + Duration::from_secs(1);
    while outputs.len() < handles.len() {
        let now = Instant::now();
        if stop.stage() == StopStage::Running && measure_end.is_some_and(|end| now >= end) {
            stop.advance(StopStage::Draining);
        }
        if stop.stage() >= StopStage::Draining && grace_end.is_none() {
            grace_end = Some(now + workload.grace.0);
        }
        if stop.was_hurried() {
            grace_end = grace_end.map(|end| end.min(now));
        }
        if grace_end.is_some_and(|end| now >= end) && stop.stage() < StopStage::Cancelled {
            // What the grace period could not finish, and how much of it was still queued for a
            // connection (the pool, not the upstream, held it), before it is cancelled.
            in_flight_at_stop = Some((in_flight.load(Relaxed), client.pool_stats().waiting));
            stop.advance(StopStage::Cancelled);
        }
        let wake = [
            Some(next_tick),
            measure_end.filter(|_| stop.stage() == StopStage::Running),
            grace_end,
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + Duration::from_millis(10));
        tokio::select! {
            Some(out) = done_rx.recv() => outputs.push(out),
            Some(bucket) = bucket_rx.recv() => {
                if let Some(w) = &mut watch {
                    w.note_bucket(&bucket);
                }
                Arc::make_mut(&mut totals).add(&bucket);
                collector.add(bucket);
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = stop.reached(StopStage::Draining), if grace_end.is_none() => {}
        }
        if Instant::now() >= next_tick {
            let second = next_tick.duration_since(start).as_secs();
            let in_flight_now = in_flight.load(Relaxed);
            collector.sample(second - 1, in_flight_now, client.open_connections());
            if let Some(w) = watch
                .as_mut()
                .filter(|_| stop.stage() == StopStage::Running)
            {
                w.note_in_flight(second - 1, in_flight_now);
                if let Some(found) = w.check(second) {
                    // The same path as the end of the duration: grace, cancel, ledger, report.
                    saturated = Some(found);
                    stop.advance(StopStage::Draining);
                }
            }
            next_tick += Duration::from_secs(1);
            on_progress(&Progress {
                elapsed: start.elapsed().as_secs_f64(),
                total: measure_end.map(|end| end.duration_since(start).as_secs_f64()),
                last: collector.latest_before(second),
                in_flight: in_flight.load(Relaxed),
                open_connections: client.open_connections(),
                waiting_for_pool: client.pool_stats().waiting,
                breaker: breaker_on.then(|| client.breaker_state().name()),
                spend: shared_guard.is_priced().then(|| shared_guard.spend()),
                totals: totals.clone(),
            });
        }
    }
    for handle in handles {
        let _ = handle.join();
    }
    while let Ok(bucket) = bucket_rx.try_recv() {
        collector.add(bucket);
    }
    let mut recorder = Recorder::new(start);
    let (in_flight, waiting_for_pool) = in_flight_at_stop.unwrap_or_default();
    let mut ledger = Ledger {
        in_flight_at_stop: in_flight,
        waiting_for_pool_at_stop: waiting_for_pool,
        ..Ledger::default()
    };
    for out in &outputs {
        recorder.merge(&out.recorder);
        ledger.measured.add(&out.measured);
        ledger.warmup.add(&out.warmup);
    }
    let measured_seconds = recorder
        .last_finish
        .map(|end| {
            end.saturating_duration_since(timeline.warmup_end)
                .as_secs_f64()
        })
        .unwrap_or(0.0);
    LoadOutput {
        recorder,
        series: collector.finish(),
        measured_seconds,
        start,
        ledger,
        saturated,
    }
}

/// Starts `threads` worker threads, each with a current-thread runtime, sharing the users between them.
fn spawn_workers(
    workload: &Workload,
    shared: Shared,
    threads: usize,
    done: tokio::sync::mpsc::UnboundedSender<WorkerOutput>,
) -> Vec<std::thread::JoinHandle<()>> {
    let stages = workload.user_stages().map(Arc::new);
    let users = match &stages {
        Some(s) => s.max_users(),
        None => workload.users.unwrap_or(1),
    };
    let settings = shared.client.settings().clone();
    // Every worker owns a pool holding an exact share of the connection cap, so no worker
    // can be left without a connection.
    let threads = threads.min(settings.max_connections.max(1));
    let threads = if workload.is_open() {
        // Each worker holds an exact share of the in-flight cap, and a share of 0 could never send.
        let cap = workload
            .max_in_flight
            .map_or(usize::MAX, |c| c.max(1) as usize);
        threads.min(cap)
    } else {
        threads.min(users.max(1))
    };
    let think_time = workload.think_time.0;
    let max_in_flight = workload.max_in_flight;
    let (on_overload, max_queue) = (workload.on_overload, workload.max_queue);
    (0..threads)
        .map(|index| {
            let shared = shared.clone();
            let shared_seed = shared.seed;
            let done = done.clone();
            let model = workload.model;
            let pacer = workload.is_open().then(|| workload.pacer());
            let share = match &stages {
                // Interleaved, so a ramp uses every worker's connections from its first user.
                Some(s) => closed::UserSet {
                    count: (users + threads - 1 - index) / threads,
                    first: index,
                    stride: threads,
                    stages: Some(s.clone()),
                },
                None => closed::UserSet {
                    count: split(users, threads, index),
                    first: 0,
                    stride: 1,
                    stages: None,
                },
            };
            let connections = split(settings.max_connections, threads, index);
            let slots = overload::InFlightSlots::new(
                max_in_flight.map(|cap| split(cap as usize, threads, index)),
                on_overload,
                split(max_queue, threads, index),
            );
            // An idle share of 0 would close every connection after each request; rounding
            // up keeps keep-alive working at the cost of up to `threads − 1` extra idle ones.
            let idle = split(settings.max_idle_connections, threads, index)
                .max(usize::from(settings.max_idle_connections > 0));
            // A shard (i of n) walks the whole schedule and takes arrival a when a % n == i; its
            // threads split those the same way, so every arrival of the unsharded schedule is taken
            // by exactly one thread of exactly one shard.
            let (slot, stride) = match workload.segment {
                Some(s) => (
                    s.index as usize + s.count as usize * index,
                    s.count as usize * threads,
                ),
                None => (index, threads),
            };
            std::thread::Builder::new()
                .name(format!("relaybench-worker-{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime can be built");
                    let output = runtime.block_on(async move {
                        // Built here, on this worker's runtime: its connections are driven by
                        // the same thread that sends on them, so no request crosses threads.
                        let mut shared = shared;
                        shared.client = shared.client.for_worker(connections, idle);
                        let ctx = WorkerContext::new(shared, index);
                        match (model, pacer) {
                            (LoadModel::Closed, _) | (_, None) => {
                                closed::run_users(ctx, share, think_time).await
                            }
                            // Same schedule seed on every worker: each takes its exact share.
                            (_, Some(pacer)) => {
                                open::run_schedule(ctx, pacer, slot, stride, slots, shared_seed)
                                    .await
                            }
                        }
                    });
                    let _ = done.send(output);
                })
                .expect("worker thread can be spawned")
        })
        .collect()
}

/// Share `index` of `total` split over `parts`: floor((i+1)·T/P) − floor(i·T/P), so shares add up to the total exactly.
fn split(total: usize, parts: usize, index: usize) -> usize {
    let parts = parts.max(1);
    (index + 1) * total / parts - index * total / parts
}
