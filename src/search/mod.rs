//! `relaybench search`: find the largest (or smallest) value of one knob that meets an objective, per target, by bracketing and bisection over normal runs.
//!
//! * [`strategy`]: the pure policy — which value to probe next, when to repeat, when it is over.
//! * [`noise`]: one probe's verdict against the objective, and whether it is within noise.
//! * [`probe`]: a probe's scenario: the knob applied to a copy of the scenario (`configure_probe_workload`).
//! * [`driver`]: the async loop that runs probes through `runner`, keeps the budget and the spend guard.
//! * [`describe`]: the one-sentence answer, and the plan `search --validate` prints.

pub mod describe;
pub mod driver;
pub mod noise;
pub mod probe;
pub mod strategy;

pub use driver::{search, SearchEvent};
