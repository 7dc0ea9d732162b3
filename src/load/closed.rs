//! The closed model: N users, each issuing its next request when the previous one ended (plus optional think time).
//!
//! Latency is measured from the moment a user is ready to send, so in a closed model it
//! equals the response time; the open models (see `pacer`) measure from the schedule.

use super::{
    stop::StopStage,
    worker::{WorkerContext, WorkerOutput},
};
use rand::{rngs::SmallRng, SeedableRng};
use std::{
    rc::Rc,
    time::{Duration, Instant},
};
use tokio::task::LocalSet;

/// Runs `users` closed-loop users on the current thread's runtime and returns what they measured.
pub async fn run_users(ctx: WorkerContext, users: usize, think_time: Duration) -> WorkerOutput {
    let ctx = Rc::new(ctx);
    let local = LocalSet::new();
    for user in 0..users {
        let ctx = ctx.clone();
        local.spawn_local(async move { user_loop(&ctx, user as u64, think_time).await });
    }
    local.await;
    Rc::try_unwrap(ctx)
        .ok()
        .expect("all users have finished")
        .finish()
}

async fn user_loop(ctx: &WorkerContext, user: u64, think_time: Duration) {
    let mut rng = SmallRng::seed_from_u64(ctx.seed ^ user.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    loop {
        if ctx.stop.stage() != StopStage::Running {
            return;
        }
        let intended = Instant::now();
        let warmup = intended < ctx.timeline.warmup_end;
        if !warmup && !ctx.claim_request() {
            return;
        }
        if !ctx.execute_and_record(intended, warmup, &mut rng).await {
            return;
        }
        if !think_time.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(think_time) => {}
                _ = ctx.stop.reached(StopStage::Draining) => return,
            }
        }
    }
}
