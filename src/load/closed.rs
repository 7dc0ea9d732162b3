//! The closed model: N users, each issuing its next request when the previous one ended (plus optional think time).
//!
//! Latency is measured from the moment a user is ready to send, so in a closed model it
//! equals the response time; the open models (see `pacer`) measure from the schedule.
//!
//! With `stages`, the number of active users follows a piecewise-linear curve (k6's
//! ramping-vus): every user that the curve ever needs is spawned up front, and user `g`
//! (global index across worker threads) sends only while the curve is above `g`.

use super::{
    conversation::SessionBody,
    requests::{Conversation, Prepared},
    stop::StopStage,
    worker::{Sent, WorkerContext, WorkerOutput},
};
use crate::scenario::parse::MAX_TURNS;
use rand::{rngs::SmallRng, SeedableRng};
use std::{
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::task::LocalSet;

/// How often an idle staged user looks at the curve again. Short against any stage a person
/// would write (seconds), long enough that idle users cost next to nothing.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// The active-user curve of a closed model with stages: linear from each stage's start count
/// to its `users` over its duration, then held at the last count.
#[derive(Clone, Debug, PartialEq)]
pub struct UserStages {
    start: usize,
    stages: Vec<(usize, Duration)>,
}

impl UserStages {
    /// A curve starting at `start` users through `stages` of (users at the end, duration).
    pub fn new(start: usize, stages: Vec<(usize, Duration)>) -> UserStages {
        UserStages { start, stages }
    }

    /// Active users wanted at `elapsed` since load started (fractional inside a ramp).
    pub fn target(&self, elapsed: Duration) -> f64 {
        let mut from = self.start as f64;
        let mut begin = Duration::ZERO;
        for &(users, length) in &self.stages {
            let to = users as f64;
            let end = begin + length;
            if elapsed < end {
                // A zero-length stage never gets here (elapsed < begin + 0 is impossible
                // once elapsed ≥ begin), so the division is safe.
                let f = (elapsed - begin).as_secs_f64() / length.as_secs_f64();
                return from + (to - from) * f;
            }
            from = to;
            begin = end;
        }
        from
    }

    /// Whether user `g` (0-based, global) is active at `elapsed`.
    pub fn active(&self, g: usize, elapsed: Duration) -> bool {
        self.target(elapsed) > g as f64
    }

    /// The most users the curve ever asks for: how many user tasks to spawn.
    pub fn max_users(&self) -> usize {
        self.stages
            .iter()
            .map(|s| s.0)
            .chain(std::iter::once(self.start))
            .max()
            .unwrap_or(0)
    }

    /// Total length of the stages.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.1).sum()
    }
}

/// Which users a worker runs and, with stages, when each is active.
#[derive(Clone, Debug)]
pub struct UserSet {
    /// Users on this worker.
    pub count: usize,
    /// Global index of local user `i` is `first + i * stride` (interleaved across workers,
    /// so a ramp spreads over every worker's share of the connections from the start).
    pub first: usize,
    /// Distance between this worker's global indexes.
    pub stride: usize,
    /// The active-user curve; `None` means every user is always active.
    pub stages: Option<Arc<UserStages>>,
}

/// Runs the closed-loop users of `users` on the current thread's runtime and returns what they measured.
pub async fn run_users(ctx: WorkerContext, users: UserSet, think_time: Duration) -> WorkerOutput {
    let ctx = Rc::new(ctx);
    let local = LocalSet::new();
    for user in 0..users.count {
        let ctx = ctx.clone();
        let global = users.first + user * users.stride;
        let stages = users.stages.clone();
        local.spawn_local(async move {
            user_loop(&ctx, user as u64, global, stages.as_deref(), think_time).await
        });
    }
    ctx.drive(local).await;
    Rc::try_unwrap(ctx)
        .ok()
        .expect("all users have finished")
        .finish()
}

async fn user_loop(
    ctx: &WorkerContext,
    user: u64,
    global: usize,
    stages: Option<&UserStages>,
    think_time: Duration,
) {
    let mut rng = SmallRng::seed_from_u64(ctx.seed ^ user.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    loop {
        if ctx.stop.stage() != StopStage::Running {
            return;
        }
        let intended = Instant::now();
        if let Some(stages) = stages {
            let elapsed = intended.saturating_duration_since(ctx.timeline.start);
            if !stages.active(global, elapsed) {
                // Idle: above the curve. A lowered target lands here too, after the user's
                // in-flight request (and think time) ended, so no request is cut short.
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = ctx.stop.reached(StopStage::Draining) => return,
                }
                continue;
            }
        }
        let warmup = intended < ctx.timeline.warmup_end;
        if !warmup && !ctx.claim_request() {
            return;
        }
        ctx.note_arrival(warmup);
        let prepared = ctx.mix().pick(&mut rng);
        let sent = match &prepared.conversation {
            None => ctx.send(prepared, None, intended, warmup, &mut rng).await.0,
            Some(c) => run_session(ctx, prepared, c, intended, warmup, &mut rng).await,
        };
        let not_before = match sent {
            Sent::Refused => return,
            Sent::Done { not_before } => not_before,
        };
        // A request that never reached the upstream (circuit open, budget spent, connection
        // refused) ends at once: sending again right away would be a hot loop that measures
        // relaybench, not the upstream. Wait until the client says another try makes sense.
        let resume = match (not_before, think_time.is_zero()) {
            // The common case reads no clock.
            (None, true) => None,
            (not_before, _) => {
                let now = Instant::now();
                let thought = (!think_time.is_zero()).then(|| now + think_time);
                not_before.max(thought).filter(|at| *at > now)
            }
        };
        if let Some(at) = resume {
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {}
                _ = ctx.stop.reached(StopStage::Draining) => return,
            }
        }
    }
}

/// Runs one conversation session opened by `first` (its first turn already claimed and
/// counted as an arrival) and returns what became of its last turn. Each later turn is an
/// arrival of its own, claimed from the count bound; the session ends early on a turn that
/// did not end `ok` (its answer, the next turn's history, is missing), at the run's end, or
/// when the count bound is reached.
async fn run_session(
    ctx: &WorkerContext,
    first: &Prepared,
    conversation: &Conversation,
    mut intended: Instant,
    warmup: bool,
    rng: &mut SmallRng,
) -> Sent {
    let session_warmup = warmup;
    let mut warmup = warmup;
    let turns = conversation.turns.sample(rng).min(MAX_TURNS);
    let Some(mut body) = SessionBody::start(first, conversation) else {
        return ctx.send(first, None, intended, warmup, rng).await.0;
    };
    let mut turn: u16 = 1;
    // The first turn goes as built.
    let mut next_body = None;
    let completed = loop {
        let (sent, answer) = ctx
            .send(first, Some((turn, next_body.take())), intended, warmup, rng)
            .await;
        let Some(answer) = answer else {
            ctx.note_session(session_warmup, false);
            return sent;
        };
        if u32::from(turn) >= turns {
            break (true, sent);
        }
        if !conversation.think_time.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(conversation.think_time) => {}
                _ = ctx.stop.reached(StopStage::Draining) => break (false, sent),
            }
        }
        if ctx.stop.stage() != StopStage::Running {
            break (false, sent);
        }
        intended = Instant::now();
        warmup = intended < ctx.timeline.warmup_end;
        if !warmup && !ctx.claim_request() {
            break (false, sent);
        }
        ctx.note_arrival(warmup);
        // A ShareGPT conversation's own next human turn, while it has one.
        match first
            .later_turns
            .as_deref()
            .and_then(|t| t.get(usize::from(turn) - 1))
        {
            Some(text) => body.add_user_text(answer, text),
            None => body.add_turn(answer, ctx.mix().pick_turn(conversation, rng)),
        }
        next_body = Some(body.render());
        turn += 1;
    };
    ctx.note_session(session_warmup, completed.0);
    completed.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn target_moves_linearly_through_stages_then_holds() {
        let c = UserStages::new(0, vec![(10, s(10.0)), (50, s(20.0)), (20, s(10.0))]);
        assert_eq!(c.target(s(0.0)), 0.0);
        assert!((c.target(s(5.0)) - 5.0).abs() < 1e-9);
        assert!((c.target(s(10.0)) - 10.0).abs() < 1e-9);
        assert!((c.target(s(20.0)) - 30.0).abs() < 1e-9);
        assert!((c.target(s(35.0)) - 35.0).abs() < 1e-9, "ramping down");
        assert_eq!(c.target(s(100.0)), 20.0, "held after the last stage");
        assert_eq!(c.max_users(), 50);
        assert_eq!(c.total(), s(40.0));
    }

    #[test]
    fn start_users_and_flat_and_zero_length_stages() {
        let c = UserStages::new(4, vec![(4, s(2.0)), (8, Duration::ZERO), (8, s(1.0))]);
        assert_eq!(c.target(s(1.0)), 4.0);
        assert_eq!(c.target(s(2.0)), 8.0, "a zero-length stage is a step");
        assert_eq!(c.max_users(), 8);
        assert_eq!(UserStages::new(6, vec![(2, s(1.0))]).max_users(), 6);
    }

    #[test]
    fn user_g_is_active_while_the_target_is_above_it() {
        let c = UserStages::new(0, vec![(8, s(4.0))]);
        // target(t) = 2t: user 0 from just after 0 s, user 3 after 1.5 s, user 7 after 3.5 s.
        assert!(!c.active(0, s(0.0)));
        assert!(c.active(0, s(0.01)));
        assert!(!c.active(3, s(1.5)));
        assert!(c.active(3, s(1.51)));
        assert!(!c.active(7, s(3.49)));
        assert!(c.active(7, s(4.0)));
        assert!(!c.active(8, s(10.0)), "never more than the stage's users");
    }
}
