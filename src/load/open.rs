//! The open models (constant rate, Poisson, ramping stages): requests start at their scheduled times whatever the upstream does.
//!
//! Every worker walks the same seeded schedule and takes every `workers`-th arrival, so the
//! split across threads is exact. The dispatcher counts each arrival it takes in the ledger
//! when it reaches it; a request that starts late is timed from its scheduled time anyway, and
//! its start lag is recorded. Beyond the in-flight cap an arrival waits for a slot (or is
//! dropped when the scenario asks for drops): see `overload`.
//!
//! At high rates the gaps between arrivals are shorter than a sleep can hit, so the dispatcher
//! does not sleep per arrival: it sends every arrival already due in one pass, waits out gaps
//! shorter than [`DENSE_GAP`] by yielding to the worker's own requests (no other thread
//! involved), and sleeps on the precise timer only across longer gaps (see [`pace`]).

use super::{
    overload::{Admit, Arrival, InFlightSlots},
    pacer::Pacer,
    stop::StopStage,
    worker::{Sent, WorkerContext, WorkerOutput},
};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::{
    rc::Rc,
    time::{Duration, Instant},
};
use tokio::task::LocalSet;

/// Gaps to the next arrival shorter than this are waited out by yielding to the worker's other
/// tasks rather than slept: a precise sleep ends tens of microseconds late and costs a wake from
/// another thread, so below this it would be later, and dearer, than polling the clock between
/// the requests' own work.
pub const DENSE_GAP: Duration = Duration::from_micros(100);

/// Arrivals sent in one pass at most before the dispatcher lets the worker's requests run: a
/// dispatcher catching up after a stall must not keep the requests it started from their sockets.
pub const MAX_BATCH: usize = 64;

/// What the dispatcher does about the next arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// It is due: send it now, in this pass.
    Send,
    /// Let the worker's other tasks run, then look again (it is due soon, or the pass is full).
    Yield,
    /// Sleep on the precise timer until it is due.
    Sleep,
}

/// The dispatcher's decision for an arrival due at `due`, at `now`, after `sent_in_pass`
/// arrivals were sent since it last gave the worker's requests a turn.
pub fn pace(due: Instant, now: Instant, sent_in_pass: usize) -> Pace {
    if due <= now {
        if sent_in_pass >= MAX_BATCH {
            Pace::Yield
        } else {
            Pace::Send
        }
    } else if due - now < DENSE_GAP {
        Pace::Yield
    } else {
        Pace::Sleep
    }
}

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
            let start = ctx.timeline.start;
            let mut mine = share(pacer.as_mut(), &mut schedule_rng, index, workers)
                .map(|offset| start + offset);
            let mut rng = SmallRng::seed_from_u64(ctx.seed);
            // One wait on the stop signal for the whole schedule, not one per arrival.
            let draining = ctx.stop.reached(StopStage::Draining);
            tokio::pin!(draining);
            let mut stopping = false;
            let mut sent_in_pass = 0;
            let mut next = mine.next();
            while let Some(due) = next {
                let now = Instant::now();
                let step = pace(due, now, sent_in_pass);
                if step == Pace::Send {
                    sent_in_pass += 1;
                    if !dispatch(&ctx, &slots, due, now, rng.gen()) {
                        break;
                    }
                    next = mine.next();
                    continue;
                }
                sent_in_pass = 0;
                // Once the run stops, arrivals already due still belong to it — a dispatcher
                // running late must not lose them — and later ones do not.
                if due > now {
                    stopping = stopping || ctx.stop.stage() >= StopStage::Draining;
                    if stopping {
                        break;
                    }
                }
                if step == Pace::Yield {
                    tokio::task::yield_now().await;
                } else {
                    tokio::select! {
                        biased;
                        _ = &mut draining => stopping = true,
                        _ = precise_sleep::sleep_until(due) => {}
                    }
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

/// Worker `index` of `workers`'s arrivals: every `workers`-th of the whole schedule, from the
/// `index`-th, so the workers' shares add up to the schedule exactly.
fn share<'a>(
    pacer: &'a mut dyn Pacer,
    rng: &'a mut SmallRng,
    index: usize,
    workers: usize,
) -> impl Iterator<Item = Duration> + 'a {
    std::iter::from_fn(move || pacer.next_arrival(&mut *rng))
        .skip(index)
        .step_by(workers.max(1))
}

/// Counts the arrival due at `due` and reached at `now`, and starts, queues or drops it; false
/// once the run's count bound is reached (nothing counted then).
fn dispatch(
    ctx: &Rc<WorkerContext>,
    slots: &Rc<InFlightSlots>,
    due: Instant,
    now: Instant,
    seed: u64,
) -> bool {
    let warmup = due < ctx.timeline.warmup_end;
    if !warmup && !ctx.claim_request() {
        return false;
    }
    ctx.note_arrival(warmup);
    ctx.note_start_lag(now.saturating_duration_since(due), warmup);
    let arrival = Arrival {
        due,
        born: now,
        warmup,
        seed,
    };
    match slots.offer(arrival) {
        Admit::Start => {
            tokio::task::spawn_local(send_in_slot(ctx.clone(), slots.clone(), arrival));
        }
        Admit::Queued => ctx.note_queued(warmup),
        Admit::Dropped => ctx.note_dropped(warmup),
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::pacer::RatePacer;

    #[test]
    fn due_arrivals_go_in_one_pass_short_gaps_yield_and_only_long_gaps_sleep() {
        let now = Instant::now();
        let micros = |n| Duration::from_micros(n);
        assert_eq!(pace(now, now, 0), Pace::Send);
        assert_eq!(pace(now - micros(500), now, MAX_BATCH - 1), Pace::Send);
        // A full pass lets the requests run before the rest of a backlog.
        assert_eq!(pace(now - micros(500), now, MAX_BATCH), Pace::Yield);
        assert_eq!(pace(now + micros(1), now, 0), Pace::Yield);
        assert_eq!(pace(now + DENSE_GAP - micros(1), now, 0), Pace::Yield);
        assert_eq!(pace(now + DENSE_GAP, now, 0), Pace::Sleep);
        assert_eq!(pace(now + micros(5_000), now, MAX_BATCH), Pace::Sleep);
    }

    #[test]
    fn the_workers_shares_are_the_schedule_exactly_once() {
        for (workers, poisson) in [(1, false), (2, false), (3, true), (7, true)] {
            let schedule =
                || RatePacer::constant(1_000.0, Some(Duration::from_millis(1_003)), poisson);
            let mut whole = schedule();
            let mut rng = SmallRng::seed_from_u64(9);
            let all: Vec<Duration> = share(&mut whole, &mut rng, 0, 1).collect();
            let mut merged: Vec<(Duration, usize)> = Vec::new();
            for index in 0..workers {
                let mut pacer = schedule();
                let mut rng = SmallRng::seed_from_u64(9);
                merged.extend(share(&mut pacer, &mut rng, index, workers).map(|t| (t, index)));
            }
            merged.sort();
            let times: Vec<Duration> = merged.iter().map(|(t, _)| *t).collect();
            assert_eq!(times, all, "{workers} workers, poisson {poisson}");
            // Arrival k went to worker k mod workers.
            assert!(merged
                .iter()
                .enumerate()
                .all(|(k, (_, w))| k % workers == *w));
        }
    }
}
