//! Live progress: an indicatif bar per run on a terminal, plain periodic lines otherwise (CI logs), nothing with `--quiet`.

use crate::{
    load::Progress as Live,
    scenario::{Plan, PlannedRun},
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Seconds between plain lines when stderr is not a terminal.
const PLAIN_EVERY: f64 = 5.0;

/// Prints progress for the runs of a plan.
pub struct Progress {
    mode: Mode,
    current: Option<String>,
    last_plain: f64,
    total_runs: usize,
    run_index: usize,
}

enum Mode {
    Quiet,
    Plain,
    Bar(Option<ProgressBar>),
}

impl Progress {
    /// A printer for `plan`; `quiet` silences it.
    pub fn new(quiet: bool, plan: &Plan) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar(None)
        } else {
            Mode::Plain
        };
        Progress {
            mode,
            current: None,
            last_plain: f64::NEG_INFINITY,
            total_runs: plan.runs.len(),
            run_index: 0,
        }
    }

    /// Called once per second by the generator.
    pub fn update(&mut self, run: &PlannedRun, p: &Live) {
        let name = format!("{}/{}", run.target.name, run.variant);
        if self.current.as_deref() != Some(name.as_str()) {
            self.finish();
            self.current = Some(name.clone());
            self.run_index += 1;
            self.last_plain = f64::NEG_INFINITY;
        }
        let (rps, p99, errors, timeouts) = match &p.last {
            Some(s) => (s.completed, s.p99_ms, s.errors, s.timeouts),
            None => (0, 0.0, 0, 0),
        };
        let figures = format!(
            "{rps} req/s  p99 {p99:.1} ms  errors {errors}  timeouts {timeouts}  in-flight {}  conns {}",
            p.in_flight, p.open_connections
        );
        let (index, total_runs) = (self.run_index, self.total_runs);
        match &mut self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                if p.elapsed - self.last_plain >= PLAIN_EVERY {
                    self.last_plain = p.elapsed;
                    let total = p.total.map(|t| format!("/{t:.0}s")).unwrap_or_default();
                    eprintln!(
                        "[{index}/{total_runs} {name}] {:.0}s{total}  {figures}",
                        p.elapsed
                    );
                }
            }
            Mode::Bar(bar) => {
                let bar = bar.get_or_insert_with(|| new_bar(&name, index, total_runs, p.total));
                bar.set_position(p.elapsed as u64);
                bar.set_message(figures);
            }
        }
    }

    /// Ends the current run's bar.
    pub fn finish(&mut self) {
        if let Mode::Bar(bar) = &mut self.mode {
            if let Some(b) = bar.take() {
                b.finish();
            }
        }
    }
}

fn new_bar(name: &str, index: usize, total_runs: usize, total: Option<f64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t.ceil() as u64),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let template = format!("[{index}/{total_runs}] {name} {{bar:20}} {{pos}}/{{len}}s  {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
