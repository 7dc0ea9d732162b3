//! The open models (constant rate, Poisson, ramping stages): requests start at their scheduled times whatever the upstream does.
//!
//! Every worker walks the same seeded schedule and takes every `workers`-th arrival, so the
//! split across threads is exact. A request that starts late is timed from its scheduled
//! time anyway, and its start lag is recorded; a request refused by `max_in_flight` is
//! counted as dropped, never silently skipped.

use super::{
    pacer::Pacer,
    stop::StopStage,
    worker::{WorkerContext, WorkerOutput},
};
use rand::{rngs::SmallRng, SeedableRng};
use std::{rc::Rc, sync::atomic::Ordering::Relaxed, time::Instant};
use tokio::task::LocalSet;

/// Runs this worker's share (`index` of `workers`) of the schedule produced by `pacer`.
pub async fn run_schedule(
    ctx: WorkerContext,
    mut pacer: Box<dyn Pacer>,
    index: usize,
    workers: usize,
    max_in_flight: Option<u64>,
    schedule_seed: u64,
) -> WorkerOutput {
    let ctx = Rc::new(ctx);
    let local = LocalSet::new();
    let dispatcher = {
        let ctx = ctx.clone();
        async move {
            let mut schedule_rng = SmallRng::seed_from_u64(schedule_seed);
            let mut rng = SmallRng::seed_from_u64(ctx.seed);
            let mut arrival = 0usize;
            // One wait on the stop signal for the whole schedule, not one per arrival.
            let draining = ctx.stop.reached(StopStage::Draining);
            tokio::pin!(draining);
            while let Some(offset) = pacer.next_arrival(&mut schedule_rng) {
                let mine = arrival % workers == index;
                arrival += 1;
                if !mine {
                    continue;
                }
                let due = ctx.timeline.start + offset;
                tokio::select! {
                    biased;
                    _ = &mut draining => break,
                    _ = precise_sleep::sleep_until(due) => {}
                }
                let warmup = due < ctx.timeline.warmup_end;
                if !warmup && !ctx.claim_request() {
                    break;
                }
                ctx.note_start_lag(Instant::now().saturating_duration_since(due), warmup);
                if max_in_flight.is_some_and(|cap| ctx.in_flight().load(Relaxed) >= cap) {
                    ctx.note_dropped(warmup);
                    continue;
                }
                let ctx = ctx.clone();
                let seed = rand::Rng::gen::<u64>(&mut rng);
                tokio::task::spawn_local(async move {
                    let mut rng = SmallRng::seed_from_u64(seed);
                    ctx.execute_and_record(due, warmup, &mut rng).await;
                });
            }
        }
    };
    local.spawn_local(dispatcher);
    ctx.drive(local).await;
    Rc::try_unwrap(ctx)
        .ok()
        .expect("all requests have finished")
        .finish()
}
