//! Saturation stop (`stop_on_saturation`): decides from a window of per-second samples whether the upstream can no longer keep up, so that a run — a search probe above all — ends early instead of measuring a growing queue.
//!
//! Nothing here touches a request: the load loop feeds the watch what it already has once per
//! second — the workers' finished one-second buckets (completions and `ok`s, the warm-up's
//! included), its own in-flight sample — and the watch replays the open model's seeded
//! schedule on its own copy of the pacer to know how many arrivals were due in each second.
//! [`decide`] is a pure function of a window of those samples; [`SaturationWatch`] only
//! gathers them and asks it once per settled second.
//!
//! **Criteria** (checked in this order; the first that holds for the whole window wins):
//!
//! * `all_failing` (every model): at least `max(5, window)` requests finished in the window and
//!   none of them ended `ok`.
//! * `rate_below_target` (open models): the upstream answers (at least one completion a second
//!   on average, and the completions are not still rising — a pipeline filling up is not
//!   saturation), fewer than 98 % of the arrivals due in the window completed, the shortfall is
//!   beyond the noise of where second boundaries fall (3·√(2·in-flight + 2), at least 5), and the backlog
//!   is held by the upstream: in-flight grew by at least half the shortfall, or sits at
//!   `max_in_flight`. A generator that falls behind its own schedule also completes less than
//!   was due, but its in-flight does not grow: that is its lateness (`late %`), not saturation.
//! * `in_flight_growing` (open models): in-flight rose every second of the window, at least
//!   doubled and grew beyond the noise above, while the upstream answered (as above) and the schedule's own rate did
//!   not climb by more than a quarter (a ramp's in-flight grows with its rate).
//!
//! A closed model's in-flight is bounded by its users and its rate is whatever the upstream
//! allows, so only `all_failing` applies to it.
//!
//! **When.** A second is judged two seconds after it ended (a worker hands its bucket over when
//! its first request of a later second finishes), and only windows that start after the warm-up
//! and at least one second after load started. Until a request's worth of time has passed, a
//! healthy but slow upstream looks like a saturated one (nothing completes, in-flight climbs), so
//! the warm-up should be at least as long as a typical request.

use super::pacer::Pacer;
use crate::{
    metrics::{SaturationReason, SecondBucket},
    scenario::Workload,
    units::Dur,
};
use rand::{rngs::SmallRng, SeedableRng};
use std::{collections::BTreeMap, time::Duration};

/// Default `saturation_window`.
pub const DEFAULT_WINDOW: Dur = Dur::secs(3);

/// Completions below this share of the arrivals due mean the upstream is behind.
const SHORTFALL: f64 = 0.98;

/// Seconds between the end of a second and its judgement (buckets arrive late).
const SETTLE: u64 = 2;

/// One second of a run as the watch sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Open model: arrivals the schedule had due in this second, warm-up included.
    pub due: u64,
    /// Requests that finished in this second, warm-up included.
    pub completed: u64,
    /// Of which `ok`.
    pub ok: u64,
    /// Requests in flight at the end of the second.
    pub in_flight: u64,
}

/// What the load model allows the criteria to assume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Open model (a schedule): the rate and in-flight criteria apply.
    pub open: bool,
    /// The open model's in-flight cap, if any: a backlog held at it is queued or dropped, not in flight.
    pub max_in_flight: Option<u64>,
}

/// Whether the window (one sample per second, oldest first) shows a saturated upstream;
/// `in_flight_before` is in-flight at the end of the second before the window.
pub fn decide(
    rules: &Rules,
    in_flight_before: u64,
    window: &[Sample],
) -> Option<(SaturationReason, String)> {
    let w = Totals::of(in_flight_before, window)?;
    if let Some(detail) = all_failing(&w) {
        return Some((SaturationReason::AllFailing, detail));
    }
    // The rate and in-flight criteria need a schedule, and an upstream that answers at a rate
    // no longer rising: a pipeline still filling (or recovering) is not judged.
    if !rules.open || !w.answering() {
        return None;
    }
    if let Some(detail) = rate_below_target(rules, &w) {
        return Some((SaturationReason::RateBelowTarget, detail));
    }
    in_flight_growing(&w).map(|detail| (SaturationReason::InFlightGrowing, detail))
}

/// A window's figures.
struct Totals<'a> {
    window: &'a [Sample],
    first: Sample,
    last: Sample,
    secs: u64,
    completed: u64,
    ok: u64,
    due: u64,
    /// In-flight at the end of the second before the window, and at its end.
    x0: u64,
    x_end: u64,
}

impl<'a> Totals<'a> {
    fn of(in_flight_before: u64, window: &'a [Sample]) -> Option<Totals<'a>> {
        let (first, last) = (*window.first()?, *window.last()?);
        Some(Totals {
            window,
            first,
            last,
            secs: window.len() as u64,
            completed: window.iter().map(|s| s.completed).sum(),
            ok: window.iter().map(|s| s.ok).sum(),
            due: window.iter().map(|s| s.due).sum(),
            x0: in_flight_before,
            x_end: last.in_flight,
        })
    }

    /// At least one completion a second on average, and the last second's not above the first's beyond noise.
    fn answering(&self) -> bool {
        self.completed >= self.secs
            && (self.last.completed as f64)
                <= self.first.completed as f64 + count_noise(self.first.completed)
    }

    /// Requests per second over the window.
    fn rate(&self, n: u64) -> f64 {
        n as f64 / self.secs as f64
    }
}

fn all_failing(w: &Totals<'_>) -> Option<String> {
    (w.ok == 0 && w.completed >= w.secs.max(5)).then(|| {
        format!(
            "all {} requests that finished in {} s failed, none ok",
            w.completed, w.secs
        )
    })
}

fn rate_below_target(rules: &Rules, w: &Totals<'_>) -> Option<String> {
    let shortfall = w.due.saturating_sub(w.completed);
    let behind = w.due > 0
        && (w.completed as f64) < SHORTFALL * w.due as f64
        && shortfall as f64 >= boundary_noise(w.x0.max(w.x_end));
    // The upstream, not the generator, holds what is missing: in flight, or queued at the cap.
    let held = w.x_end.saturating_sub(w.x0) * 2 >= shortfall
        || rules.max_in_flight.is_some_and(|cap| w.x_end >= cap);
    (behind && held).then(|| {
        format!(
            "{} requests completed in {} s ({:.1} req/s) of {} due ({:.1} req/s, {:.0}% of the target), {} → {} in flight",
            w.completed,
            w.secs,
            w.rate(w.completed),
            w.due,
            w.rate(w.due),
            w.completed as f64 * 100.0 / w.due as f64,
            w.x0,
            w.x_end,
        )
    })
}

fn in_flight_growing(w: &Totals<'_>) -> Option<String> {
    let mut previous = w.x0;
    let rising = w.window.iter().all(|s| {
        let up = s.in_flight > previous;
        previous = s.in_flight;
        up
    });
    let grown = w.x_end.saturating_sub(w.x0) as f64 >= boundary_noise(w.x_end).max(w.x0 as f64);
    // A ramp's in-flight grows with its rate.
    let schedule_flat = w.last.due as f64 <= 1.25 * w.first.due as f64 + count_noise(w.first.due);
    (rising && grown && schedule_flat).then(|| {
        format!(
            "requests in flight rose every second for {} s, {} → {}, while {} completed ({:.1} req/s)",
            w.secs,
            w.x0,
            w.x_end,
            w.completed,
            w.rate(w.completed)
        )
    })
}

/// How much a per-second count of about `n` moves by chance: three Poisson deviations, at least 3.
fn count_noise(n: u64) -> f64 {
    (3.0 * (n as f64).sqrt()).max(3.0)
}

/// How far completions can fall behind arrivals over a window by chance with `in_flight`
/// requests under way: a healthy run's shortfall is its change of in-flight, which moves by about
/// √(2·in-flight) between two samples; three times that, and at least 5 requests.
fn boundary_noise(in_flight: u64) -> f64 {
    (3.0 * ((2 * in_flight + 2) as f64).sqrt()).max(5.0)
}

/// The open model's schedule, replayed apart from the dispatchers to count arrivals due per second.
struct Replay {
    pacer: Box<dyn Pacer>,
    rng: SmallRng,
    /// The next arrival's offset from the start of load.
    next: Option<Duration>,
    /// Index of `next` in the whole schedule.
    index: u64,
    /// A shard takes arrival `a` when `a % stride == slot`.
    slot: u64,
    stride: u64,
    /// Arrivals after the warm-up the count bound (`requests`) still allows.
    remaining: Option<u64>,
    warmup: Duration,
}

impl Replay {
    /// Counts this process's arrivals due before `end` into `seconds`.
    fn count_until(&mut self, end: Duration, seconds: &mut BTreeMap<u64, Sample>) {
        while let Some(at) = self.next.filter(|at| *at < end) {
            let mine = self.index % self.stride == self.slot;
            let measured = at >= self.warmup;
            let allowed = !measured || self.remaining.is_none_or(|n| n > 0);
            if mine && allowed {
                if measured {
                    self.remaining = self.remaining.map(|n| n - 1);
                }
                seconds.entry(at.as_secs()).or_default().due += 1;
            }
            self.index += 1;
            self.next = self.pacer.next_arrival(&mut self.rng);
        }
    }
}

/// Gathers the per-second samples of a run and asks [`decide`] about each settled window.
pub struct SaturationWatch {
    rules: Rules,
    /// Seconds per window.
    window: u64,
    /// The earliest second a window may start at: after warm-up, and not the first second of load.
    first_start: u64,
    /// Warm-up length in seconds (the measured phase's time zero).
    warmup_secs: f64,
    /// Samples of seconds not yet judged out of every window.
    seconds: BTreeMap<u64, Sample>,
    /// Open model: the schedule.
    replay: Option<Replay>,
    /// The last second already judged as a window's end.
    judged: Option<u64>,
}

impl SaturationWatch {
    /// A watch for `workload`, whose open-model schedule was seeded with `seed`; `None` unless the workload asks for it.
    pub fn for_workload(workload: &Workload, seed: u64) -> Option<SaturationWatch> {
        if !workload.stop_on_saturation {
            return None;
        }
        let warmup = workload.warmup.0;
        let replay = workload.is_open().then(|| {
            let mut pacer = workload.pacer();
            let mut rng = SmallRng::seed_from_u64(seed);
            let next = pacer.next_arrival(&mut rng);
            let (slot, stride) = workload
                .segment
                .map_or((0, 1), |s| (u64::from(s.index), u64::from(s.count).max(1)));
            Replay {
                pacer,
                rng,
                next,
                index: 0,
                slot,
                stride,
                remaining: workload.requests,
                warmup,
            }
        });
        Some(SaturationWatch {
            rules: Rules {
                open: workload.is_open(),
                max_in_flight: workload.max_in_flight.filter(|_| workload.is_open()),
            },
            window: workload.saturation_window.0.as_secs().max(2),
            first_start: warmup.as_secs_f64().ceil().max(1.0) as u64,
            warmup_secs: warmup.as_secs_f64(),
            seconds: BTreeMap::new(),
            replay,
            judged: None,
        })
    }

    /// Counts a worker's finished second (the warm-up's requests included).
    pub fn note_bucket(&mut self, bucket: &SecondBucket) {
        let s = self.seconds.entry(bucket.second).or_default();
        s.completed += bucket.completed + bucket.warmup_completed;
        s.ok += bucket.ok + bucket.warmup_ok;
    }

    /// Records in-flight at the end of `second`.
    pub fn note_in_flight(&mut self, second: u64, in_flight: u64) {
        self.seconds.entry(second).or_default().in_flight = in_flight;
    }

    /// Judges the window ending at the latest settled second, `now_second` being the run's
    /// current second; returns the saturation found, with its time into the measured phase.
    pub fn check(&mut self, now_second: u64) -> Option<crate::metrics::Saturation> {
        let end = now_second.checked_sub(SETTLE)?;
        let start = (end + 1).checked_sub(self.window)?;
        if start < self.first_start || self.judged.is_some_and(|j| j >= end) {
            return None;
        }
        self.judged = Some(end);
        if let Some(replay) = &mut self.replay {
            replay.count_until(Duration::from_secs(end + 1), &mut self.seconds);
        }
        let before = self.seconds.get(&(start - 1)).map_or(0, |s| s.in_flight);
        let window: Vec<Sample> = (start..=end)
            .map(|s| self.seconds.get(&s).copied().unwrap_or_default())
            .collect();
        // Only the second before the next window is needed again.
        self.seconds = self.seconds.split_off(&start);
        let (reason, detail) = decide(&self.rules, before, &window)?;
        Some(crate::metrics::Saturation {
            reason,
            at_s: ((end + 1) as f64 - self.warmup_secs).max(0.0),
            detail,
        })
    }
}

#[cfg(test)]
mod tests;
