//! `Schedule`: the base profile and the phases that override it over time; answers "which profile applies now?".

use crate::config::{
    ConnectionFaults, ErrorRates, Latency, MockConfig, Phase, Reasoning, StreamTiming,
};
use std::time::{Duration, Instant};

/// The fault settings in force at one moment (the base config or a phase over it).
#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub latency: Latency,
    pub handshake_delay: Latency,
    pub errors: ErrorRates,
    pub retry_after: Duration,
    pub faults: ConnectionFaults,
    pub stream: StreamTiming,
    pub reasoning: Reasoning,
}

impl Profile {
    fn base(c: &MockConfig) -> Profile {
        Profile {
            latency: c.latency.clone(),
            handshake_delay: c.handshake_delay.clone(),
            errors: c.errors.clone(),
            retry_after: c.retry_after,
            faults: c.faults.clone(),
            stream: c.stream.clone(),
            reasoning: c.reasoning.clone(),
        }
    }

    /// Whether serving a JSON reply under this profile draws random numbers: an error or
    /// fault that may be rolled, or a latency that is not fixed.
    pub(crate) fn draws_random(&self) -> bool {
        let f = &self.faults;
        self.errors.total() > 0.0
            || [
                f.reset,
                f.hang,
                f.truncate,
                f.slow_body,
                f.stream_cut,
                f.stream_error,
            ]
            .iter()
            .any(|p| *p > 0.0)
            || self.latency.fixed().is_none()
    }

    fn with_phase(&self, p: &Phase) -> Profile {
        let mut out = self.clone();
        if let Some(l) = &p.latency {
            out.latency = l.clone();
        }
        if let Some(h) = &p.handshake_delay {
            out.handshake_delay = h.clone();
        }
        if let Some(e) = &p.errors {
            out.errors = e.clone();
        }
        if let Some(r) = p.retry_after {
            out.retry_after = r;
        }
        if let Some(f) = &p.faults {
            out.faults = f.clone();
        }
        if let Some(s) = &p.stream {
            out.stream = s.clone();
        }
        if let Some(r) = &p.reasoning {
            out.reasoning = r.clone();
        }
        if let Some(m) = p.latency_multiplier {
            out.latency = out.latency.scaled(m);
            out.stream.ttft = out.stream.ttft.scaled(m);
            out.stream.inter_token = out.stream.inter_token.scaled(m);
        }
        out
    }
}

/// Profiles compiled once per config, so a request only compares offsets.
pub(crate) struct Schedule {
    epoch: Instant,
    base: Profile,
    phases: Vec<(Duration, Option<Duration>, Profile)>,
}

impl Schedule {
    pub(crate) fn new(c: &MockConfig, epoch: Instant) -> Schedule {
        let base = Profile::base(c);
        let phases = c
            .schedule
            .iter()
            .map(|p| (p.start, p.end, base.with_phase(p)))
            .collect();
        Schedule {
            epoch,
            base,
            phases,
        }
    }

    /// The profile in force now (no clock read when there is no schedule).
    pub(crate) fn now(&self) -> &Profile {
        if self.phases.is_empty() {
            return &self.base;
        }
        self.at(Instant::now())
    }

    /// The profile in force at `now`: the first phase whose window holds it, else the base.
    pub(crate) fn at(&self, now: Instant) -> &Profile {
        if self.phases.is_empty() {
            return &self.base;
        }
        let t = now.saturating_duration_since(self.epoch);
        self.phases
            .iter()
            .find(|(start, end, _)| t >= *start && end.is_none_or(|e| t < e))
            .map(|(_, _, p)| p)
            .unwrap_or(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_override_inside_their_window_only() {
        let c = MockConfig::from_toml_str(
            "latency = \"10ms\"\n[[schedule]]\nstart = \"10s\"\nend = \"20s\"\nerrors = { \"503\" = 1.0 }\n\
             [[schedule]]\nstart = \"30s\"\nend = \"35s\"\nlatency_multiplier = 5.0\n",
            None,
        )
        .unwrap();
        let t0 = Instant::now();
        let s = Schedule::new(&c, t0);
        let at = |secs: u64| s.at(t0 + Duration::from_secs(secs));
        assert_eq!(at(5).errors.get(503), 0.0);
        assert_eq!(at(10).errors.get(503), 1.0);
        assert_eq!(at(19).errors.get(503), 1.0);
        assert_eq!(at(20).errors.get(503), 0.0);
        assert_eq!(at(32).latency, Latency::fixed_ms(50));
        assert_eq!(at(36).latency, Latency::fixed_ms(10));
    }
}
