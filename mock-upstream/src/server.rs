//! `MockServer::start` and `MockHandle`: our own accept loop (exact connection counts, TCP_NODELAY), HTTP/1.1 keep-alive and h2c prior knowledge on one port, graceful shutdown.
//!
//! The protocol is told apart by *peeking* at a connection's first bytes for the HTTP/2
//! preface, then the connection goes to hyper's HTTP/1 or HTTP/2 server directly. hyper-util's
//! auto builder does the same by reading those bytes and replaying them through a wrapper;
//! hyper's HTTP/1 reader then finds a partial request in its buffer and doubles the buffer to
//! 16 KiB on every connection (10,000 held connections: 214 MiB RSS with the auto builder,
//! 165 MiB without).

use crate::config::{ConfigError, MockConfig};
use crate::connection::{ConnState, FaultIo};
use crate::lateness::LatenessSummary;
use crate::router::{self, Surface};
use crate::shutdown::{self, ShutdownTrigger};
use crate::state::Shared;
use crate::stats::StatsSnapshot;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulConnection;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
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

/// Loads both token encodings before the first request, which would otherwise pay for it (and
/// count it as the mock's own lateness). Once per process; later starts return at once.
async fn preload_encodings() {
    let loads =
        relaybench_tokens::Encoding::ALL.map(|e| tokio::task::spawn_blocking(move || e.preload()));
    for load in loads {
        let _ = load.await;
    }
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
        preload_encodings().await;
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
        self.shared.snapshot()
    }

    /// How far behind its own schedule the mock sent replies and tokens since start (or reset).
    pub fn lateness(&self) -> LatenessSummary {
        self.shared.lateness.summary()
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

/// hyper's servers for the two protocols, configured once per listener.
struct Builders {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Builders {
    fn new() -> Builders {
        let mut h1 = http1::Builder::new();
        h1.keep_alive(true);
        h1.writev(false);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.max_concurrent_streams(1024);
        Builders { h1, h2 }
    }
}

/// The first bytes of an HTTP/2 prior-knowledge connection (RFC 9113, section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a connection that has sent part of the HTTP/2 preface may take to send the rest.
const PREFACE_WAIT: Duration = Duration::from_secs(10);

/// Whether the client opened with the HTTP/2 preface. Peeked, never read, so hyper's reader
/// sees the first request whole.
async fn speaks_h2(stream: &TcpStream) -> bool {
    let mut buf = [0u8; H2_PREFACE.len()];
    let deadline = Instant::now() + PREFACE_WAIT;
    loop {
        let Ok(n) = stream.peek(&mut buf).await else {
            return false;
        };
        if n == 0 || !H2_PREFACE.starts_with(&buf[..n]) {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // Only part of the preface so far (clients send it in one write, so this is rare).
        // Peeking again at once would spin while those bytes sit unread: look again shortly.
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, surface: Surface) {
    let builders = Arc::new(Builders::new());
    let mut shutdown = shared.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, shared.clone(), builders.clone(), surface));
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
    builders: Arc<Builders>,
    surface: Surface,
) {
    let _open = shared.stats.connection_opened();
    let conn = Arc::new(ConnState::new(shared.next_connection()));
    let mut shutdown = shared.shutdown.clone();
    let h2 = tokio::select! {
        h2 = speaks_h2(&stream) => h2,
        _ = shutdown.wait() => return,
    };
    let io = TokioIo::new(FaultIo::new(stream, conn.clone()));
    let service = {
        let (shared, conn) = (shared.clone(), conn.clone());
        service_fn(move |req| router::handle(req, shared.clone(), conn.clone(), surface))
    };
    if h2 {
        drive(builders.h2.serve_connection(io, service), &shared, &conn).await;
    } else {
        drive(builders.h1.serve_connection(io, service), &shared, &conn).await;
    }
}

/// Runs one connection to its end; on shutdown, or when a request asked for the connection to
/// close, lets in-flight responses finish and then closes it.
async fn drive<C: GracefulConnection>(http: C, shared: &Shared, conn: &ConnState) {
    tokio::pin!(http);
    let mut shutdown = shared.shutdown.clone();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let close = conn.close_requested();
    tokio::pin!(close);
    let mut closing = false;
    // The two signals are polled once so that they will wake this task; after that, only once a
    // flag shows that one of them was given. (`select!` would poll both on every wake-up of the
    // connection: a watch channel and a `Notify` checked for nothing on every request.)
    let mut armed = false;
    std::future::poll_fn(|cx| loop {
        if http.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if closing || (armed && !shared.shutdown.started() && !conn.close_asked()) {
            return Poll::Pending;
        }
        armed = true;
        let stopped = stop.as_mut().poll(cx).is_ready();
        if !stopped && close.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        closing = true;
        http.as_mut().graceful_shutdown();
    })
    .await
}
