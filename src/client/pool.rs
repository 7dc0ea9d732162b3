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

use super::{
    conn::{Conn, DialError},
    origin::Origin,
    settings::ClientSettings,
    stats::{PoolCounters, PoolStats},
};
use std::{
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// A connection lent to one request, with how it was obtained.
pub struct Checkout {
    /// The connection; `None` only after it was given back.
    conn: Option<Conn>,
    /// The slot; released when the checkout is dropped or given back.
    _permit: OwnedSemaphorePermit,
    /// Time spent waiting for a slot.
    pub pool_wait: Duration,
    /// Time spent dialling a new connection (`None` when reused).
    pub connect: Option<Duration>,
    /// Whether an idle connection was reused.
    pub reused: bool,
}

impl Checkout {
    /// The lent connection.
    pub fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("checkout holds a connection until given back")
    }
}

/// A pool of connections to one origin.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    origin: Origin,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    pool_timeout: Duration,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Conn>>,
    /// Connections are dialled and driven on the runtime that built the pool, which outlives
    /// every generator worker: a connection must not die with the worker that happened to open it.
    runtime: tokio::runtime::Handle,
    counters: Arc<PoolCounters>,
}

impl Pool {
    /// A pool for `origin` shaped by `settings`; starts the idle reaper.
    pub fn new(origin: Origin, settings: &ClientSettings) -> Pool {
        let inner = Arc::new(PoolInner {
            origin,
            max_idle: settings.max_idle_connections,
            idle_timeout: settings.idle_timeout.0,
            connect_timeout: settings.timeouts.connect.0,
            pool_timeout: settings.timeouts.pool.0,
            slots: Arc::new(Semaphore::new(settings.max_connections.max(1))),
            idle: Mutex::new(Vec::new()),
            counters: Arc::new(PoolCounters::default()),
            runtime: tokio::runtime::Handle::current(),
        });
        spawn_reaper(Arc::downgrade(&inner));
        Pool { inner }
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
        let pool_wait = waited_from.elapsed();
        if let Some(conn) = inner.take_idle() {
            inner.counters.on_reuse();
            return Ok(Checkout {
                conn: Some(conn),
                _permit: permit,
                pool_wait,
                connect: None,
                reused: true,
            });
        }
        let dial_from = Instant::now();
        let (origin, timeout, counters) = (
            inner.origin.clone(),
            inner.connect_timeout,
            inner.counters.clone(),
        );
        let dialled = inner
            .runtime
            .spawn(async move { Conn::dial(&origin, timeout, &counters).await });
        let dialled = dialled
            .await
            .unwrap_or_else(|e| Err(DialError::Failed(format!("dial task failed: {e}"))));
        match dialled {
            Ok(conn) => Ok(Checkout {
                conn: Some(conn),
                _permit: permit,
                pool_wait,
                connect: Some(dial_from.elapsed()),
                reused: false,
            }),
            Err(e) => {
                inner.counters.on_connect_failure();
                Err(e.into())
            }
        }
    }

    /// Returns a connection whose exchange completed cleanly, for reuse; the slot is freed either way.
    pub fn give_back(&self, mut checkout: Checkout) {
        let Some(mut conn) = checkout.conn.take() else {
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
