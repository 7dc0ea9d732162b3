//! The attempt guard: a caller's veto over every attempt that could reach the upstream (spend limits count what the upstream can bill), and what each attempt used.

use crate::exchange::Tokens;
use crate::outcome::Outcome;

/// Asked before every attempt that could reach the upstream (first tries and retries), so
/// spend limits count what the upstream can bill. One value per logical request.
///
/// The client asks the circuit breaker first and the guard second, right before sending: an
/// attempt the breaker rejects is never sent, so it must not consume spend; an attempt the
/// breaker admitted but the guard refuses gives its breaker admission (a half-open probe
/// slot) back unused.
pub trait AttemptGuard {
    /// Admits the next attempt, or refuses it with the reason (e.g. "max_requests = 50 reached").
    fn admit(&mut self) -> Result<(), String>;
    /// The admitted attempt has its connection and its request begins going out: from here
    /// the upstream may receive it. Lets a guard whose request is dropped mid-attempt
    /// (cancelled at the end of a run) tell a sent attempt from one still waiting for the pool.
    fn sending(&mut self) {}
    /// What an admitted attempt used, once it ended (not called for an attempt whose future
    /// was dropped: the guard settles that on drop).
    fn settle(&mut self, used: &AttemptUse);
}

/// What one attempt is known to have consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptUse {
    /// Whether the request began going out on a connection: from then on the upstream may
    /// have received, processed and billed it (a write timeout or a reset does not prove
    /// otherwise). False when no connection was obtained (pool timeout, connect error).
    pub sent: bool,
    /// How the attempt ended (`timeout_deadline` when the request's deadline cut it short).
    pub outcome: Outcome,
    /// Tokens the upstream can bill for it: `usage` when the response carried it, else the
    /// content tokens seen (counted stream chunks), else `None` (nothing known: price an
    /// estimate).
    pub tokens: Option<Tokens>,
}

/// The guard refused a request's first attempt: nothing was sent, and the request has no
/// outcome (the load layer counts it as refused by the guard).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("refused by the attempt guard: {why}")]
pub struct Refused {
    /// The guard's reason.
    pub why: String,
}

/// No guard: every attempt is admitted (what `Client::execute` uses; compiles to nothing).
pub(crate) struct Unguarded;

impl AttemptGuard for Unguarded {
    #[inline(always)]
    fn admit(&mut self) -> Result<(), String> {
        Ok(())
    }

    #[inline(always)]
    fn settle(&mut self, _: &AttemptUse) {}
}
