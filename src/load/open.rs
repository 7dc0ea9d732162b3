//! The open models (constant rate, Poisson, ramping stages): requests start at their scheduled times whatever the upstream does.
//!
//! Every worker walks the same seeded schedule and takes every `workers`-th arrival, so the
//! split across threads is exact. The dispatcher counts each arrival it takes in the ledger
//! when it reaches it; a request that starts late is timed from its scheduled time anyway, and
//! its start lag is recorded. Beyond the in-flight cap an arrival waits for a slot (or is
//! dropped when the scenario asks for drops): see `overload`.

use super::{
    overload::{Admit, Arrival, InFlightSlots},
    pacer::Pacer,
    stop::StopStage,
    worker::{Sent, WorkerContext, WorkerOutput},
};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::{rc::Rc, time::Instant};
use tokio::task::LocalSet;

/// Runs this worker's share (`index` of `workers`) of the schedule produced by `pacer`;
/// `slots` holds this worker's share of the in-flight cap.
pub async fn run_schedule(
    ctx: WorkerContext,
    mut pacer: Box<dyn Pacer>,
    index: usize,
    workers: usize,
    slots: InFlightSlots,
    schedule_seed: u64,
) -> WorkerOutput {
    let ctx = Rc::new(ctx);
    let slots = Rc::new(slots);
    let local = LocalSet::new();
    let dispatcher = {
        let (ctx, slots) = (ctx.clone(), slots.clone());
        async move {
            let mut schedule_rng = SmallRng::seed_from_u64(schedule_seed);
            let mut rng = SmallRng::seed_from_u64(ctx.seed);
            let mut arrival = 0usize;
            // One wait on the stop signal for the whole schedule, not one per arrival.
            let draining = ctx.stop.reached(StopStage::Draining);
            tokio::pin!(draining);
            let mut stopping = false;
            while let Some(offset) = pacer.next_arrival(&mut schedule_rng) {
                let mine = arrival % workers == index;
                arrival += 1;
                if !mine {
                    continue;
                }
                let due = ctx.timeline.start + offset;
                // Once the run stops, arrivals already due still belong to it — a dispatcher
                // running late must not lose them — and later ones do not.
                if !stopping {
                    tokio::select! {
                        biased;
                        _ = &mut draining => stopping = true,
                        _ = precise_sleep::sleep_until(due) => {}
                    }
                }
                if stopping && due > Instant::now() {
                    break;
                }
                let warmup = due < ctx.timeline.warmup_end;
                if !warmup && !ctx.claim_request() {
                    break;
                }
                let born = Instant::now();
                ctx.note_arrival(warmup);
                ctx.note_start_lag(born.saturating_duration_since(due), warmup);
                let next = Arrival {
                    due,
                    born,
                    warmup,
                    seed: rng.gen(),
                };
                match slots.offer(next) {
                    Admit::Start => {
                        tokio::task::spawn_local(send_in_slot(ctx.clone(), slots.clone(), next));
                    }
                    Admit::Queued => ctx.note_queued(warmup),
                    Admit::Dropped => ctx.note_dropped(warmup),
                }
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

/// Sends `arrival` in the slot taken for it, then the queued arrivals the slot is handed to,
/// until none waits. Once the run is cancelled, queued arrivals end `cancelled` unsent.
async fn send_in_slot(ctx: Rc<WorkerContext>, slots: Rc<InFlightSlots>, mut arrival: Arrival) {
    let mut was_queued = false;
    loop {
        if ctx.stop.stage() == StopStage::Cancelled {
            ctx.record_cancelled(arrival.due, arrival.warmup);
        } else {
            if was_queued {
                ctx.note_queue_wait(arrival.warmup, arrival.born.elapsed());
            }
            let mut rng = SmallRng::seed_from_u64(arrival.seed);
            // A refusal by a spend guard stops the run (the context advanced the stop signal);
            // the queued arrivals behind it are refused in turn and counted.
            let _: Sent = ctx
                .execute_and_record(arrival.due, arrival.warmup, &mut rng)
                .await;
        }
        match slots.finished() {
            Some(next) => {
                arrival = next;
                was_queued = true;
            }
            None => return,
        }
    }
}
