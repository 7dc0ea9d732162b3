//! `--ui`: the live dashboard and the Prometheus `/metrics` endpoint, served by axum on a loopback address while a plan runs, then the final report until Ctrl-C.
//!
//! The request path never sees it: the board is written once per second from the
//! generator's progress (itself folded from the one-second buckets the workers already hand
//! over), and set from each run's merged result when the run ends, so its counters finish
//! equal to results.json.
//!
//! * [`board`]: what is shown — one entry per run, probes of a search.
//! * [`server`]: the axum routes (`/`, `/live`, `/events`, `/metrics`, `/board.json`, report files).
//! * [`prometheus`]: the board in the OpenMetrics text format.

pub mod board;
mod prometheus;
mod server;

pub use board::{Board, ProbeView};

use crate::{load::Progress, metrics::RunResult, runner::RunEvent, scenario::PlannedRun};
use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};
use tokio::sync::watch;

/// The address `--ui` listens on when given without one: loopback, a free port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:0";

/// The running dashboard server and the board it shows.
pub struct Ui {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    target_rps: Option<f64>,
}

/// Binds `addr` for `--ui` (before any load is sent, so a busy address is a usage error).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| format!("--ui {addr}: cannot listen there: {e}; pick another address or port (`--ui 127.0.0.1:0` takes a free one)"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("--ui {addr}: {e}"))?;
    Ok(listener)
}

impl Ui {
    /// Serves `board` on `listener`; must be called within a tokio runtime. `target_rps` is the
    /// plan's open-model rate, shown beside the measured one.
    pub fn start(
        listener: TcpListener,
        board: Board,
        target_rps: Option<f64>,
    ) -> Result<Ui, String> {
        let addr = listener.local_addr().map_err(|e| format!("--ui: {e}"))?;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|e| format!("--ui {addr}: {e}"))?;
        let (tick, _) = watch::channel(0u64);
        let shared = Arc::new(server::Shared {
            board: Arc::new(Mutex::new(board)),
            tick,
            report: Mutex::new(None),
        });
        tokio::spawn(server::serve(listener, shared.clone()));
        Ok(Ui {
            shared,
            addr,
            target_rps,
        })
    }

    /// The dashboard's address, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Takes one runner event into the board and wakes the page (once per second per run).
    pub fn observe(&self, run: &PlannedRun, event: &RunEvent<'_>) {
        match event {
            RunEvent::Progress(p) => self.progress(run, p, self.target_rps),
            RunEvent::Finished(r) => self.update(|b| b.finished(run, r)),
        }
    }

    /// One second of `run`, whose open-model rate is `target_rps`.
    pub fn progress(&self, run: &PlannedRun, p: &Progress, target_rps: Option<f64>) {
        self.update(|b| b.progress(run, p, target_rps));
    }

    /// A search probe ended: its run's exact figures and its verdict.
    pub fn probe(&self, run: &PlannedRun, result: &RunResult, probe: ProbeView) {
        self.update(|b| {
            b.finished(run, result);
            b.probes.push(probe);
        });
    }

    /// The plan ended and its report is in `dir`: `/` serves it from now on.
    pub fn report_ready(&self, dir: &Path) {
        *self.shared.lock_report() = Some(dir.to_path_buf());
        self.update(|b| b.finished = true);
    }

    /// The report folder once written.
    pub fn report_dir(&self) -> Option<PathBuf> {
        self.shared.lock_report().clone()
    }

    fn update(&self, f: impl FnOnce(&mut Board)) {
        f(&mut self.shared.lock_board());
        self.shared.tick.send_modify(|n| *n += 1);
    }
}
