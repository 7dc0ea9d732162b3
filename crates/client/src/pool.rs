//! The connection pool: a hard cap on open connections, FIFO waiting for a slot, HTTP/1.1 connections lent whole and HTTP/2 connections shared as streams, idle keep-alive reuse and expiry.
//!
//! Why not hyper-util's legacy client: it has no cap on total connections per origin and
//! does not say how long a request waited or whether its connection was new. The cap is
//! the thing users tune, so the pool is built here, on our HTTP/1.1 connection (`h1`) and
//! our HTTP/2 connection (`h2`, on the `h2` crate).
//!
//! **One slot mechanism** (`slots`), whatever the protocol. A request is given one of: an
//! HTTP/1.1 connection (lent whole), a stream of an HTTP/2 connection, or room to dial a
//! new connection. Every open connection is idle, lent, shared (HTTP/2) or being dialled,
//! and a dial is granted only below `max_connections` and counted before it starts, so
//! `open ≤ max_connections` also under racing connects. One lock guards it all; a request
//! that finds nothing free joins one FIFO queue and is handed its grant by whoever frees
//! something (a connection given back, a stream ended, a dial done, a connection closed or
//! its server raising its stream limit), strictly in arrival order. A request that gives up
//! (pool timeout, cancelled) while a grant is on its way hands it back, so nothing leaks.
//!
//! **One idle check.** An HTTP/1.1 connection leaves the idle list for a request only
//! through `Slots::take_idle`: most recently used first, not past `idle_timeout`, and not
//! closed by the server while it sat idle (a look at the socket that costs no system call
//! unless the socket became readable). This holds for every HTTP/1.1 connection, including
//! one that ALPN picked under `http = "auto"`. At most `max_idle_connections` idle HTTP/1.1
//! connections are kept; the reaper closes idle connections past `idle_timeout` (HTTP/2 ones
//! once no stream has used them for that long).
//!
//! **HTTP/2.** A connection carries up to `min(http2_max_streams, the server's
//! SETTINGS_MAX_CONCURRENT_STREAMS)` streams; the server's value is read from `h2` each time
//! a stream is lent, so a limit the server lowers later holds from then on. Until the server's
//! settings are known (see `h2`) only the dialler's stream runs on a new connection. The pool
//! never opens more streams than the server allows, so `h2` does not queue a stream behind
//! the server's limit: waiting for a stream slot happens here and is pool wait, and a
//! stream's time to first byte starts when it is sent (the one exception is the instant a
//! server lowers its limit while a lent stream is about to open: see `h2::send`). A request that finds every
//! connection full waits for a connection being dialled (or settling) if it will have room
//! (each covers `http2_max_streams` streams), so a burst of N streams opens
//! ⌈N / http2_max_streams⌉ connections, not N. A connection whose server said `GOAWAY` takes
//! no new stream; its streams the server processed finish; it leaves the pool with its last.
//!
//! **`http = "auto"` over TLS.** The protocol is only known once ALPN has run. Until the
//! first connection has told which protocol the server picked, nobody else dials (otherwise
//! a burst would open one connection per request before learning they could have shared
//! one); waiters then share it (h2) or dial their own (HTTP/1.1), under the same cap.
//!
//! **Cost.** An HTTP/1.1 request takes the lock twice (checkout, give back) and allocates
//! nothing; a queue entry (a oneshot channel) is made only when a request has to wait, and a
//! clock read only when it waited.

use super::{
    conn::{Conn, DialConfig, DialError, Sender},
    h2::{self as http2, ConnWatcher, StreamTimeouts},
    message::{Outgoing, Response, ResponseBody},
    origin::Origin,
    settings::{ClientSettings, HttpVersion},
    slots::{Grant, Negotiated, Shape, SharedConn, Slots},
    stats::{PoolCounters, PoolStats},
};
use crate::outcome::Outcome;
use std::{
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

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
    H1(Box<Conn>),
    /// One stream of a shared HTTP/2 connection.
    H2(Arc<SharedConn>),
    /// Already given back.
    Returned,
}

/// A connection (or a stream of one) lent to one request, with how it was obtained.
pub struct Checkout<'p> {
    /// The pool it goes back to.
    pool: &'p PoolInner,
    /// The connection.
    lent: Lent,
    /// Time spent waiting for a slot: a free connection, a stream of one under its server's
    /// limit, or room to dial.
    pub pool_wait: Duration,
    /// Time spent dialling a new connection (`None` when an existing one was used).
    pub connect: Option<Duration>,
    /// The connection's id (unique per pool).
    pub conn_id: u64,
}

impl Checkout<'_> {
    /// Sends `request` on the lent connection and waits for the response head, which must
    /// come within `read_timeout` of the request's last byte; the body is read from the
    /// returned response while the checkout is held.
    pub async fn send(
        &mut self,
        request: &Outgoing<'_>,
        read_timeout: Duration,
    ) -> Result<Response<'_>, Outcome> {
        match &mut self.lent {
            Lent::H1(conn) => {
                let Sender::H1(h1) = &mut conn.sender else {
                    unreachable!("HTTP/2 connections are lent as streams")
                };
                let head = h1.send(request, read_timeout).await?;
                Ok(Response {
                    head,
                    body: ResponseBody::H1(h1),
                })
            }
            Lent::H2(conn) => {
                let limits = StreamTimeouts {
                    read: read_timeout,
                    write: self.pool.dial.write_timeout,
                };
                http2::send(&conn.h2, request, limits).await
            }
            Lent::Returned => unreachable!("a checkout holds its connection until given back"),
        }
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.lent, Lent::Returned) {
            Lent::H1(conn) => {
                // Not given back: the exchange did not complete, so the connection is closed
                // (before its room is counted free, so the cap also holds on the wire).
                drop(conn);
                self.pool.lock().lost();
            }
            Lent::H2(conn) => self.pool.lock().stream_ended(&conn),
            Lent::Returned => {}
        }
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
    /// How connections are dialled.
    dial: DialConfig,
    /// Longest wait for a slot.
    pool_timeout: Duration,
    /// Connections and waiting requests.
    slots: Mutex<Slots>,
    /// How long an idle connection lives (the reaper's pace).
    idle_timeout: Duration,
    /// Connections are dialled and driven on the runtime that built the pool, which outlives
    /// every generator worker: a connection must not die with the worker that happened to open it.
    runtime: tokio::runtime::Handle,
    /// Counters for reports.
    counters: Arc<PoolCounters>,
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ConnWatcher for PoolInner {
    fn changed(&self) {
        self.lock().changed();
    }
}

/// A grant (or dial result) that can be handed back when its request is gone.
trait GiveBack {
    fn give_back(self, pool: &PoolInner);
}

impl GiveBack for Grant {
    fn give_back(self, pool: &PoolInner) {
        pool.lock().release(self);
    }
}

impl GiveBack for Result<Grant, DialError> {
    fn give_back(self, pool: &PoolInner) {
        if let Ok(grant) = self {
            grant.give_back(pool);
        }
    }
}

/// A request's end of a hand-over; a grant that arrives after the request gave up goes back
/// to the pool (closing the channel first, so none can arrive after the look).
struct Pending<'a, T: GiveBack> {
    /// Where the grant arrives.
    rx: oneshot::Receiver<T>,
    /// Where it goes back.
    pool: &'a PoolInner,
}

impl<T: GiveBack> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        self.rx.close();
        if let Ok(unused) = self.rx.try_recv() {
            unused.give_back(self.pool);
        }
    }
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
        let protocol = match settings.http {
            HttpVersion::Http2 => Negotiated::Http2,
            HttpVersion::Auto if origin.tls => Negotiated::Unknown,
            HttpVersion::Auto | HttpVersion::Http1 => Negotiated::Http1,
        };
        let shape = Shape {
            max_conns: settings.max_connections.max(1),
            max_idle: settings.max_idle_connections,
            per_conn: settings.http2_max_streams.max(1),
            idle_timeout: settings.idle_timeout.0,
        };
        let inner = Arc::new(PoolInner {
            origin,
            dial,
            pool_timeout: settings.timeouts.pool.0,
            slots: Mutex::new(Slots::new(shape, protocol)),
            idle_timeout: settings.idle_timeout.0,
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

    /// Waits (FIFO, up to the pool timeout) for a slot: a free connection or stream, or room
    /// to dial a new connection, which is then dialled.
    pub async fn checkout(&self) -> Result<Checkout<'_>, CheckoutError> {
        let inner = &*self.inner;
        let arrived = Instant::now();
        // Bound first: a guard in the scrutinee would be held across the wait.
        let arrival = inner.lock().arrive(arrived);
        let (lent, pool_wait, connect) = match arrival {
            // Free at once, a connection in hand: not waited for, no second clock read.
            Ok(Grant::H1(conn)) => {
                inner.counters.on_reuse();
                (Lent::H1(conn), Duration::ZERO, None)
            }
            Ok(Grant::H2(conn)) => {
                inner.counters.on_reuse();
                (Lent::H2(conn), Duration::ZERO, None)
            }
            // Waiting for a slot or dialling is the rare path: boxed, so the future every
            // request awaits (and copies) stays small.
            other => Box::pin(self.wait_or_dial(other, arrived)).await?,
        };
        let conn_id = match &lent {
            Lent::H1(conn) => conn.id(),
            Lent::H2(conn) => conn.opened.id,
            Lent::Returned => unreachable!("a fresh checkout holds a connection"),
        };
        Ok(Checkout {
            pool: inner,
            lent,
            pool_wait,
            connect,
            conn_id,
        })
    }

    /// The slow part of [`Pool::checkout`]: waits (FIFO, up to the pool timeout) for a grant
    /// when none was free, and dials when the grant is room to dial.
    async fn wait_or_dial(
        &self,
        arrival: Result<Grant, oneshot::Receiver<Grant>>,
        arrived: Instant,
    ) -> Result<(Lent, Duration, Option<Duration>), CheckoutError> {
        let inner = &*self.inner;
        let (grant, pool_wait) = match arrival {
            Ok(grant) => (grant, Duration::ZERO),
            Err(rx) => {
                inner.counters.wait_begin();
                let _waiting = WaitGuard(&inner.counters);
                let mut pending = Pending { rx, pool: inner };
                let deadline = arrived + inner.pool_timeout;
                match tokio::time::timeout_at(deadline.into(), &mut pending.rx).await {
                    Ok(Ok(grant)) => (grant, arrived.elapsed()),
                    _ => return Err(CheckoutError::PoolTimeout(inner.pool_timeout)),
                }
            }
        };
        Ok(match grant {
            Grant::H1(conn) => {
                inner.counters.on_reuse();
                (Lent::H1(conn), pool_wait, None)
            }
            Grant::H2(conn) => {
                inner.counters.on_reuse();
                (Lent::H2(conn), pool_wait, None)
            }
            Grant::Dial => {
                let dial_from = Instant::now();
                let lent = match self.dial().await? {
                    Grant::H1(conn) => Lent::H1(conn),
                    Grant::H2(conn) => Lent::H2(conn),
                    Grant::Dial => unreachable!("a dial grants a connection"),
                };
                (lent, pool_wait, Some(dial_from.elapsed()))
            }
        })
    }

    /// Dials on the pool's runtime (see `PoolInner::runtime`). The dial task itself records
    /// the result in the slots, so a request that gives up while dialling (cancelled) leaves
    /// the new connection to the pool instead of losing track of it.
    async fn dial(&self) -> Result<Grant, DialError> {
        let (tx, rx) = oneshot::channel();
        let mut dial = DialTask {
            pool: self.inner.clone(),
            tx: Some(tx),
        };
        self.inner.runtime.spawn(async move {
            let pool = &dial.pool;
            let watcher: Weak<PoolInner> = Arc::downgrade(pool);
            let result = Conn::dial(&pool.origin, &pool.dial, &pool.counters, watcher).await;
            dial.done(result);
        });
        let mut pending = Pending {
            rx,
            pool: &self.inner,
        };
        (&mut pending.rx)
            .await
            .unwrap_or_else(|_| Err(DialError::Failed("dial task ended".into())))
    }

    /// Returns a connection whose exchange completed cleanly, for reuse; the slot is freed
    /// either way. `now` (the caller has just read the clock) is when it became idle.
    pub fn give_back(&self, mut checkout: Checkout<'_>, now: Instant) {
        match std::mem::replace(&mut checkout.lent, Lent::Returned) {
            Lent::H1(conn) if conn.is_usable() => self.inner.lock().give_back(conn, now),
            Lent::H1(conn) => {
                drop(conn);
                self.inner.lock().lost();
            }
            // An HTTP/2 stream ends when its checkout drops.
            stream => checkout.lent = stream,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> PoolStats {
        self.inner.counters.snapshot()
    }

    /// Connections open right now (for the live series).
    pub fn open_now(&self) -> u64 {
        self.inner.counters.open_now()
    }

    /// Closes every idle connection (at the end of a run).
    pub fn close_idle(&self) {
        self.inner.lock().close_idle();
    }
}

/// A dial in progress: records its result in the slots and hands it to the dialler, or back
/// to the pool when the dialler is gone; a dial that ends without a result (its task
/// dropped) still frees its room.
struct DialTask {
    /// The pool dialled for.
    pool: Arc<PoolInner>,
    /// The dialler's end; taken when the result is sent.
    tx: Option<oneshot::Sender<Result<Grant, DialError>>>,
}

impl DialTask {
    fn done(&mut self, result: Result<Conn, DialError>) {
        if result.is_err() {
            self.pool.counters.on_connect_failure();
        }
        let granted = self.pool.lock().dial_done(result);
        if let Some(tx) = self.tx.take() {
            if let Err(unused) = tx.send(granted) {
                unused.give_back(&self.pool);
            }
        }
    }
}

impl Drop for DialTask {
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.done(Err(DialError::Failed("dial task ended".into())));
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
                Some(inner) => inner.lock().reap(Instant::now()),
                None => return,
            }
        }
    });
}
