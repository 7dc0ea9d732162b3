//! `MockServer::start` and `MockHandle`: our own accept loop (exact connection counts, TCP_NODELAY), hyper-util's auto builder (HTTP/1.1 keep-alive and h2c prior knowledge on one port), graceful shutdown.

use crate::config::{ConfigError, MockConfig};
use crate::connection::{ConnState, FaultIo};
use crate::router::{self, Surface};
use crate::shutdown::{self, ShutdownTrigger};
use crate::state::Shared;
use crate::stats::StatsSnapshot;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How long in-flight requests may run after shutdown starts before their connections are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Entry point: `MockServer::start(addr, config)`.
pub struct MockServer;

/// A running mock. Dropping it stops the server too (abruptly, in the background);
/// `shutdown().await` stops it gracefully and waits.
pub struct MockHandle {
    addr: SocketAddr,
    control_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    trigger: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
}

impl MockServer {
    /// Binds `addr` (port 0 allowed) and serves until the handle is shut down.
    /// An invalid config is an `InvalidInput` error naming the field.
    pub async fn start(addr: SocketAddr, config: MockConfig) -> io::Result<MockHandle> {
        let (trigger, shutdown) = shutdown::channel();
        let control = config.control.clone();
        let shared = Arc::new(
            Shared::new(config, shutdown)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        );
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (surface, control_listener) = match (control.enabled, control.listen) {
            (true, Some(at)) => (
                Surface::Api { control: false },
                Some(TcpListener::bind(at).await?),
            ),
            (enabled, _) => (Surface::Api { control: enabled }, None),
        };
        let control_addr = match &control_listener {
            Some(l) => Some(l.local_addr()?),
            None if control.enabled => Some(local),
            None => None,
        };
        let mut tasks = vec![tokio::spawn(accept_loop(listener, shared.clone(), surface))];
        if let Some(l) = control_listener {
            tasks.push(tokio::spawn(accept_loop(
                l,
                shared.clone(),
                Surface::ControlOnly,
            )));
        }
        tracing::info!(%local, ?control_addr, "mock-upstream listening");
        Ok(MockHandle {
            addr: local,
            control_addr,
            shared,
            trigger,
            tasks,
        })
    }
}

impl MockHandle {
    /// The bound API address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash, no `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where `/_mock/*` is served, if anywhere.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The config in force (with the seed in use filled in).
    pub fn config(&self) -> MockConfig {
        let active = self.shared.active();
        let mut c = active.config.clone();
        c.seed = Some(active.seed);
        c
    }

    /// Changes faults at run time; the schedule restarts from now. An invalid config is
    /// logged and ignored — use `try_set_config` to see the error.
    pub fn set_config(&self, config: MockConfig) {
        if let Err(e) = self.try_set_config(config) {
            tracing::warn!("set_config ignored: {e}");
        }
    }

    /// Like `set_config`, returning why a config was refused.
    pub fn try_set_config(&self, config: MockConfig) -> Result<(), ConfigError> {
        self.shared.set_config(config)
    }

    /// Zeroes stats, restarts the schedule and request numbering, refills rate buckets.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Graceful: stop accepting, let in-flight requests finish for up to `SHUTDOWN_GRACE`,
    /// then drop what is left and return once every connection is closed.
    pub async fn shutdown(mut self) {
        self.trigger.trigger();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().keep_alive(true);
    b.http2().max_concurrent_streams(1024);
    b
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, surface: Surface) {
    let builder = Arc::new(http_builder());
    let mut shutdown = shared.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, shared.clone(), builder.clone(), surface));
                }
                Err(e) => {
                    // Typically EMFILE under a connection flood: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    surface: Surface,
) {
    let _open = shared.stats.connection_opened();
    let conn = Arc::new(ConnState::new(shared.next_connection()));
    let io = TokioIo::new(FaultIo::new(stream, conn.clone()));
    let service = {
        let (shared, conn) = (shared.clone(), conn.clone());
        service_fn(move |req| router::handle(req, shared.clone(), conn.clone(), surface))
    };
    let http = builder.serve_connection(io, service);
    tokio::pin!(http);
    let mut shutdown = shared.shutdown.clone();
    let mut closing = false;
    loop {
        tokio::select! {
            _ = http.as_mut() => break,
            _ = shutdown.wait(), if !closing => {
                closing = true;
                http.as_mut().graceful_shutdown();
            }
            _ = conn.close_requested(), if !closing => {
                closing = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
}
