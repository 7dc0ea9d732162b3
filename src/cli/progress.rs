//! Live progress on stderr: one line per second per run (a richer TTY display can replace this without touching the generator).

use crate::{load::Progress as Live, scenario::PlannedRun};

/// Prints progress unless quiet.
pub struct Progress {
    quiet: bool,
}

impl Progress {
    /// A printer; `quiet` silences it.
    pub fn new(quiet: bool) -> Progress {
        Progress { quiet }
    }

    /// Called once per second by the generator.
    pub fn update(&mut self, run: &PlannedRun, p: &Live) {
        if self.quiet {
            return;
        }
        let total = p.total.map(|t| format!("/{t:.0}s")).unwrap_or_default();
        let (rps, p99, errors, timeouts) = match &p.last {
            Some(s) => (s.completed, s.p99_ms, s.errors, s.timeouts),
            None => (0, 0.0, 0, 0),
        };
        eprintln!(
            "[{}/{}] {:>4.0}s{total}  {rps} req/s  p99 {p99:.1} ms  errors {errors}  timeouts {timeouts}  in-flight {}  conns {}",
            run.target.name, run.variant, p.elapsed, p.in_flight, p.open_connections
        );
    }
}
