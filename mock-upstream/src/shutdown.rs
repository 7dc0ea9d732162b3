//! `Shutdown`: the one signal that stops the accept loops, winds down connections and releases parked (hung) requests.

use tokio::sync::watch;

/// Held by `MockHandle`; firing it (or dropping it) starts the shutdown.
#[derive(Debug)]
pub(crate) struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// Cheap to clone; every task that must stop on shutdown holds one.
#[derive(Clone, Debug)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<bool>,
}

pub(crate) fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    /// Starts the shutdown; idempotent.
    pub(crate) fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl Drop for ShutdownTrigger {
    fn drop(&mut self) {
        self.trigger();
    }
}

impl Shutdown {
    /// Resolves once shutdown has started (also if the trigger is gone).
    pub(crate) async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stopped| *stopped).await;
    }

    /// Whether shutdown has started, without waiting or registering to be woken: one version
    /// check. (Only a start of shutdown is ever sent, and a gone trigger counts as one.)
    pub(crate) fn started(&self) -> bool {
        self.rx.has_changed().unwrap_or(true)
    }
}
