//! The connection pool: a hard cap on open connections, FIFO waiting for a slot, idle keep-alive reuse and expiry.
//!
//! Why not hyper-util's legacy client: it has no cap on total connections per origin and
//! does not say how long a request waited or whether its connection was new. The cap is
//! the thing users tune, so the pool is built here on hyper's connection-level API.
//!
//! Invariant: every open connection is either idle (in `idle`) or held by exactly one
//! holder of a slot permit, and a new connection is only dialled by a permit holder that
//! found `idle` empty. Hence `open ≤ max_connections`, also under racing connects.
//! tokio's semaphore is fair, so waiters get slots in FIFO order.
//!
//! HTTP/2 (`http = "2"`): a slot is a *stream*; there are `max_connections ×
//! http2_max_streams` of them. Connections are shared: a stream goes to the first open
//! connection with fewer than `http2_max_streams` active streams; only when all are full is
//! another one dialled, and dials are counted before they start, so the connection cap
//! still holds under racing connects. (Over TLS with `http = "auto"`, a connection that
//! negotiates h2 is used like an HTTP/1.1 one: one request at a time.)

use super::{
    conn::{Conn, DialConfig, DialError, Sender, WriteProbe},
    origin::Origin,
    settings::{ClientSettings, HttpVersion},
    stats::{PoolCounters, PoolStats},
};
use bytes::Bytes;
use http_body_util::Full;
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc, Mutex, Weak,
    },
    time::{Duration, Instant},
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Why no connection could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// No slot became free within the pool timeout.
    #[error("no connection slot within {0:?}")]
    PoolTimeout(Duration),
    /// A slot was free but dialling failed.
    #[error(transparent)]
    Dial(#[from] DialError),
}

/// How the connection is lent.
enum Lent {
    /// An HTTP/1.1 connection, owned by this request until given back.
    Exclusive(Conn),
    /// One stream of a shared HTTP/2 connection.
    Shared(Arc<SharedConn>),
    /// Already given back.
    Returned,
}

/// A connection lent to one request, with how it was obtained.
pub struct Checkout {
    /// The connection.
    lent: Lent,
    /// The slot; released when the checkout is dropped or given back.
    _permit: OwnedSemaphorePermit,
    /// The pool's shared HTTP/2 list, told when a stream ends (None for HTTP/1.1).
    shared: Option<Arc<SharedList>>,
    /// Time spent waiting for a slot.
    pub pool_wait: Duration,
    /// Time spent dialling a new connection (`None` when reused).
    pub connect: Option<Duration>,
    /// Whether an existing connection was reused.
    pub reused: bool,
    /// The connection's id (unique per pool).
    pub conn_id: u64,
    /// The connection's write progress, for the read timeout of the response head.
    pub probe: Arc<WriteProbe>,
}

impl Checkout {
    /// Sends `request` on the lent connection and waits for the response head.
    pub async fn send(
        &mut self,
        request: http::Request<Full<Bytes>>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        match &mut self.lent {
            Lent::Exclusive(conn) => {
                conn.uses += 1;
                conn.sender.send(request).await
            }
            Lent::Shared(shared) => {
                // A clone of the h2 sender per stream: no lock is held while sending.
                let mut sender = Sender::H2(shared.h2.clone());
                sender.send(request).await
            }
            Lent::Returned => unreachable!("a checkout holds its connection until given back"),
        }
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let (Lent::Shared(conn), Some(list)) = (&self.lent, &self.shared) {
            if conn.active.fetch_sub(1, Relaxed) == 1 {
                *conn.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            }
            list.changed.notify_waiters();
        }
    }
}

/// An HTTP/2 connection shared by several requests.
struct SharedConn {
    /// The connection (kept for its id, counters and close-on-drop).
    conn: Conn,
    /// A sender clone handed to each stream.
    h2: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    /// Streams in flight on it.
    active: AtomicUsize,
    /// When its last stream ended (for `idle_timeout`).
    idle_since: Mutex<Instant>,
}

/// The open HTTP/2 connections of a pool.
struct SharedList {
    /// Connections and dials in progress.
    state: Mutex<SharedState>,
    /// Woken when a stream ends or a dial finishes.
    changed: Notify,
    /// Streams per connection before another is opened.
    per_conn: usize,
    /// Connection cap.
    max_conns: usize,
}

struct SharedState {
    /// Open connections, oldest first.
    conns: Vec<Arc<SharedConn>>,
    /// Dials in progress (they count against the cap).
    dialing: usize,
}

/// What the shared list offers a stream slot holder.
enum Pick {
    /// A connection with room.
    Use(Arc<SharedConn>),
    /// Room to dial a new connection (already counted in `dialing`).
    Dial,
    /// All connections are full and the cap is reached: wait for a change.
    Wait,
}

impl SharedList {
    fn pick(&self) -> Pick {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.conns.retain(|c| c.conn.is_usable());
        for c in &st.conns {
            if c.active.load(Relaxed) < self.per_conn {
                c.active.fetch_add(1, Relaxed);
                return Pick::Use(c.clone());
            }
        }
        if st.conns.len() + st.dialing < self.max_conns {
            st.dialing += 1;
            return Pick::Dial;
        }
        Pick::Wait
    }

    fn dial_done(&self, conn: Option<Conn>) -> Option<Arc<SharedConn>> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.dialing -= 1;
        let shared = conn.and_then(|conn| {
            let h2 = match &conn.sender {
                Sender::H2(s) => s.clone(),
                Sender::H1(_) => return None,
            };
            let shared = Arc::new(SharedConn {
                conn,
                h2,
                active: AtomicUsize::new(1),
                idle_since: Mutex::new(Instant::now()),
            });
            st.conns.push(shared.clone());
            Some(shared)
        });
        drop(st);
        self.changed.notify_waiters();
        shared
    }
}

/// Assembles a checkout.
fn checkout(
    lent: Lent,
    permit: OwnedSemaphorePermit,
    shared: Option<Arc<SharedList>>,
    pool_wait: Duration,
    connect: Option<Duration>,
) -> Checkout {
    let (conn_id, probe) = match &lent {
        Lent::Exclusive(c) => (c.id, c.probe.clone()),
        Lent::Shared(c) => (c.conn.id, c.conn.probe.clone()),
        Lent::Returned => unreachable!("a fresh checkout holds a connection"),
    };
    Checkout {
        lent,
        _permit: permit,
        shared,
        pool_wait,
        reused: connect.is_none(),
        connect,
        conn_id,
        probe,
    }
}

/// A pool of connections to one origin.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    /// Where connections go.
    origin: Origin,
    /// Idle HTTP/1.1 connections kept at most.
    max_idle: usize,
    /// How long an idle connection lives.
    idle_timeout: Duration,
    /// How connections are dialled.
    dial: DialConfig,
    /// Longest wait for a slot.
    pool_timeout: Duration,
    /// Slots: connections (HTTP/1.1) or streams (HTTP/2).
    slots: Arc<Semaphore>,
    /// Idle HTTP/1.1 connections.
    idle: Mutex<Vec<Conn>>,
    /// Shared HTTP/2 connections (only when `http = "2"`).
    shared: Option<Arc<SharedList>>,
    /// Connections are dialled and driven on the runtime that built the pool, which outlives
    /// every generator worker: a connection must not die with the worker that happened to open it.
    runtime: tokio::runtime::Handle,
    /// Counters for reports.
    counters: Arc<PoolCounters>,
}

impl Pool {
    /// A pool for `origin` shaped by `settings`; starts the idle reaper.
    pub fn new(origin: Origin, settings: &ClientSettings, dial: DialConfig) -> Pool {
        Pool::with_counters(origin, settings, dial, Arc::new(PoolCounters::default()))
    }

    /// A pool whose counters are shared with other pools to the same origin (one per
    /// generator worker), so open/peak/opened figures stay global and exact.
    pub fn with_counters(
        origin: Origin,
        settings: &ClientSettings,
        dial: DialConfig,
        counters: Arc<PoolCounters>,
    ) -> Pool {
        let max_conns = settings.max_connections.max(1);
        let shared = (settings.http == HttpVersion::Http2).then(|| {
            Arc::new(SharedList {
                state: Mutex::new(SharedState {
                    conns: Vec::new(),
                    dialing: 0,
                }),
                changed: Notify::new(),
                per_conn: settings.http2_max_streams.max(1),
                max_conns,
            })
        });
        let slots = match &shared {
            Some(list) => max_conns.saturating_mul(list.per_conn),
            None => max_conns,
        };
        let inner = Arc::new(PoolInner {
            origin,
            max_idle: settings.max_idle_connections,
            idle_timeout: settings.idle_timeout.0,
            dial,
            pool_timeout: settings.timeouts.pool.0,
            slots: Arc::new(Semaphore::new(slots.min(Semaphore::MAX_PERMITS))),
            idle: Mutex::new(Vec::new()),
            shared,
            counters,
            runtime: tokio::runtime::Handle::current(),
        });
        spawn_reaper(Arc::downgrade(&inner));
        Pool { inner }
    }

    /// The counters (shared with sibling pools built by `with_counters`).
    pub fn counters(&self) -> Arc<PoolCounters> {
        self.inner.counters.clone()
    }

    /// How this pool dials.
    pub fn dial_config(&self) -> DialConfig {
        self.inner.dial.clone()
    }

    /// Waits (FIFO, up to the pool timeout) for a slot, then lends an idle connection or dials a new one.
    pub async fn checkout(&self) -> Result<Checkout, CheckoutError> {
        let inner = &self.inner;
        let waited_from = Instant::now();
        let permit = match inner.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                inner.counters.wait_begin();
                let _waiting = WaitGuard(&inner.counters);
                match tokio::time::timeout(inner.pool_timeout, inner.slots.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(CheckoutError::PoolTimeout(inner.pool_timeout)),
                }
            }
        };
        match &inner.shared {
            Some(list) => self.checkout_shared(list, permit, waited_from).await,
            None => self.checkout_exclusive(permit, waited_from).await,
        }
    }

    async fn checkout_exclusive(
        &self,
        permit: OwnedSemaphorePermit,
        waited_from: Instant,
    ) -> Result<Checkout, CheckoutError> {
        let inner = &self.inner;
        let pool_wait = waited_from.elapsed();
        if let Some(conn) = inner.take_idle() {
            inner.counters.on_reuse();
            return Ok(checkout(
                Lent::Exclusive(conn),
                permit,
                None,
                pool_wait,
                None,
            ));
        }
        let dial_from = Instant::now();
        let conn = self.dial().await?;
        let connect = Some(dial_from.elapsed());
        Ok(checkout(
            Lent::Exclusive(conn),
            permit,
            None,
            pool_wait,
            connect,
        ))
    }

    async fn checkout_shared(
        &self,
        list: &Arc<SharedList>,
        permit: OwnedSemaphorePermit,
        waited_from: Instant,
    ) -> Result<Checkout, CheckoutError> {
        let deadline = waited_from + self.inner.pool_timeout;
        loop {
            // Registered before looking, so a change between the look and the wait is not missed.
            let changed = list.changed.notified();
            match list.pick() {
                Pick::Use(conn) => {
                    self.inner.counters.on_reuse();
                    let pool_wait = waited_from.elapsed();
                    let lent = Lent::Shared(conn);
                    return Ok(checkout(lent, permit, Some(list.clone()), pool_wait, None));
                }
                Pick::Dial => {
                    let pool_wait = waited_from.elapsed();
                    let dial_from = Instant::now();
                    let conn = match self.dial().await {
                        Ok(conn) => list.dial_done(Some(conn)),
                        Err(e) => {
                            list.dial_done(None);
                            return Err(e.into());
                        }
                    };
                    let Some(conn) = conn else {
                        return Err(CheckoutError::Dial(DialError::Failed(
                            "http = \"2\" but the server answered with HTTP/1.1".into(),
                        )));
                    };
                    let connect = Some(dial_from.elapsed());
                    let lent = Lent::Shared(conn);
                    return Ok(checkout(
                        lent,
                        permit,
                        Some(list.clone()),
                        pool_wait,
                        connect,
                    ));
                }
                Pick::Wait => {
                    if tokio::time::timeout_at(deadline.into(), changed)
                        .await
                        .is_err()
                    {
                        return Err(CheckoutError::PoolTimeout(self.inner.pool_timeout));
                    }
                }
            }
        }
    }

    /// Dials on the pool's runtime (see `PoolInner::runtime`).
    async fn dial(&self) -> Result<Conn, DialError> {
        let inner = &self.inner;
        let (origin, config, counters) = (
            inner.origin.clone(),
            inner.dial.clone(),
            inner.counters.clone(),
        );
        let dialled = inner
            .runtime
            .spawn(async move { Conn::dial(&origin, &config, &counters).await });
        let result = dialled
            .await
            .unwrap_or_else(|e| Err(DialError::Failed(format!("dial task failed: {e}"))));
        if result.is_err() {
            inner.counters.on_connect_failure();
        }
        result
    }

    /// Returns a connection whose exchange completed cleanly, for reuse; the slot is freed either way.
    pub fn give_back(&self, mut checkout: Checkout) {
        if !matches!(checkout.lent, Lent::Exclusive(_)) {
            // A shared stream ends when the checkout drops (which updates its stream count).
            return;
        }
        let Lent::Exclusive(mut conn) = std::mem::replace(&mut checkout.lent, Lent::Returned)
        else {
            return;
        };
        if !conn.is_usable() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.inner.max_idle {
            idle.push(conn);
        }
        // Dropping `conn` (idle list full) closes it; the permit drops after the lock is released.
        drop(idle);
    }

    /// Counters so far.
    pub fn stats(&self) -> PoolStats {
        self.inner.counters.snapshot()
    }

    /// Connections open right now (for the live series).
    pub fn open_now(&self) -> u64 {
        self.inner.counters.open_now()
    }

    /// Requests waiting for a slot right now.
    pub fn waiting_now(&self) -> u64 {
        self.inner.counters.snapshot().waiting
    }

    /// Closes every idle connection (at the end of a run).
    pub fn close_idle(&self) {
        let drained: Vec<Conn> =
            std::mem::take(&mut *self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()));
        drop(drained);
        if let Some(list) = &self.inner.shared {
            let mut st = list.state.lock().unwrap_or_else(|e| e.into_inner());
            st.conns.retain(|c| c.active.load(Relaxed) > 0);
        }
    }
}

impl PoolInner {
    /// Most recently used first: warm connections are reused, cold ones age out.
    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(conn) = idle.pop() {
            if conn.is_usable() && conn.idle_since.elapsed() < self.idle_timeout {
                return Some(conn);
            }
        }
        None
    }

    fn reap_expired(&self) {
        let expired: Vec<Conn> = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let (keep, expired) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|c| c.is_usable() && c.idle_since.elapsed() < self.idle_timeout);
            *idle = keep;
            expired
        };
        drop(expired);
        if let Some(list) = &self.shared {
            let mut st = list.state.lock().unwrap_or_else(|e| e.into_inner());
            // A shared connection expires only when no stream is using it.
            st.conns.retain(|c| {
                c.conn.is_usable()
                    && (c.active.load(Relaxed) > 0
                        || c.idle_since
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .elapsed()
                            < self.idle_timeout)
            });
        }
    }
}

struct WaitGuard<'a>(&'a PoolCounters);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.wait_end();
    }
}

/// Closes idle connections once they pass `idle_timeout`, so the upstream sees them go.
fn spawn_reaper(pool: Weak<PoolInner>) {
    tokio::spawn(async move {
        loop {
            let period = match pool.upgrade() {
                Some(inner) => (inner.idle_timeout / 4)
                    .clamp(Duration::from_millis(10), Duration::from_secs(1)),
                None => return,
            };
            tokio::time::sleep(period).await;
            match pool.upgrade() {
                Some(inner) => inner.reap_expired(),
                None => return,
            }
        }
    });
}
