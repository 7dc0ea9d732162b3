//! The run's stop signal in two steps — stop issuing requests, then cancel what is still in flight — shared by the generator, the CLI's Ctrl-C handler and the progress display.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};
use tokio::sync::watch;

/// Where a run is in its shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopStage {
    /// Issuing requests.
    Running,
    /// No new requests; in-flight ones may finish (the grace period).
    Draining,
    /// In-flight requests are cancelled and counted as `cancelled`.
    Cancelled,
}

/// A cloneable handle on the run's stop stage. Cheap to check on the hot path.
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<StopStage>>,
    rx: watch::Receiver<StopStage>,
    interrupted: Arc<AtomicBool>,
    /// The grace period is cut short (a second Ctrl-C): cancel what is in flight now.
    hurried: Arc<AtomicBool>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// A fresh signal in the `Running` stage.
    pub fn new() -> Stop {
        let (tx, rx) = watch::channel(StopStage::Running);
        Stop {
            tx: Arc::new(tx),
            rx,
            interrupted: Arc::new(AtomicBool::new(false)),
            hurried: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The current stage.
    pub fn stage(&self) -> StopStage {
        *self.rx.borrow()
    }

    /// Moves forward to `stage` (never backwards).
    pub fn advance(&self, stage: StopStage) {
        self.tx.send_if_modified(|current| {
            if stage > *current {
                *current = stage;
                true
            } else {
                false
            }
        });
    }

    /// Marks the run as interrupted by the user (Ctrl-C) and starts draining.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.advance(StopStage::Draining);
    }

    /// Cuts the grace period short (a second Ctrl-C): the generator cancels what is in flight
    /// at once, still counting it, instead of waiting for it.
    pub fn hurry(&self) {
        self.hurried.store(true, Ordering::SeqCst);
        self.interrupt();
    }

    /// Whether the grace period was cut short.
    pub fn was_hurried(&self) -> bool {
        self.hurried.load(Ordering::SeqCst)
    }

    /// Whether the user interrupted the run.
    pub fn was_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Resolves once the stage is at least `stage`.
    pub async fn reached(&self, stage: StopStage) {
        let mut rx = self.rx.clone();
        // An error means every sender is gone: nobody can advance any more, so stop waiting.
        let _ = rx.wait_for(|s| *s >= stage).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stages_only_move_forward() {
        let stop = Stop::new();
        assert_eq!(stop.stage(), StopStage::Running);
        stop.advance(StopStage::Cancelled);
        stop.advance(StopStage::Draining);
        assert_eq!(stop.stage(), StopStage::Cancelled);
        stop.reached(StopStage::Draining).await;
        assert!(!stop.was_interrupted());
    }
}
