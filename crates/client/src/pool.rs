//! The connection pool: a hard cap on open connections, FIFO waiting for a slot, idle keep-alive reuse and expiry.
//!
//! Why not hyper-util's legacy client: it has no cap on total connections per origin and
//! does not say how long a request waited or whether its connection was new. The cap is
//! the thing users tune, so the pool is built here, on our HTTP/1.1 connection (`h1`) and
//! hyper's HTTP/2 connection-level API.
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
//! still holds under racing connects. A stream that finds every connection full while an
//! h2 dial is in progress waits for that connection if it will have room (each dial covers
//! `http2_max_streams` streams), so a burst of N streams opens ⌈N / http2_max_streams⌉
//! connections, not N.
//!
//! `http = "auto"` over TLS: the protocol is only known once ALPN has run, so such a pool
//! uses the shared list too, starting with `max_connections` slots (one request per
//! connection, as for HTTP/1.1). Until the first connection has told which protocol the
//! server picked, nobody else dials — otherwise a burst would open one connection per
//! request before learning they could have shared one. When a connection negotiates h2,
//! the slots grow to `max_connections × http2_max_streams` (once) and connections are shared
//! exactly as with `http = "2"`; when it negotiates HTTP/1.1, each listed connection carries
//! one request at a time, so every slot holder finds an idle connection or room to dial and
//! waiting stays FIFO in the semaphore.

use super::{
    conn::{Conn, DialConfig, DialError, H2Sender, Sender},
    h1::H1Conn,
    message::{classify_hyper_error, Head, Outgoing, Response, ResponseBody},
    origin::Origin,
    settings::{ClientSettings, HttpVersion},
    stats::{PoolCounters, PoolStats},
    timed_io::WriteProbe,
};
use crate::outcome::{Outcome, Phase};
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed},
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
    /// The pool's shared list, told when a stream ends (None for exclusive HTTP/1.1).
    shared: Option<Arc<SharedList>>,
    /// A shared-list HTTP/1.1 connection taken out of its list entry for this exchange
    /// (the request drives it); put back when the checkout ends.
    borrowed: Option<H1Conn>,
    /// Time spent waiting for a slot.
    pub pool_wait: Duration,
    /// Time spent dialling a new connection (`None` when an idle one was reused).
    pub connect: Option<Duration>,
    /// The connection's id (unique per pool).
    pub conn_id: u64,
}

impl Checkout {
    /// Sends `request` on the lent connection and waits for the response head, which must
    /// come within `read_timeout` of the request's last byte (sending began at `sent`); the
    /// body is read from the returned response while the checkout is held.
    pub async fn send(
        &mut self,
        request: &Outgoing<'_>,
        sent: Instant,
        read_timeout: Duration,
    ) -> Result<Response<'_>, Outcome> {
        let Checkout { lent, borrowed, .. } = self;
        let h1 = match lent {
            Lent::Exclusive(conn) => match &mut conn.sender {
                Sender::H1(h1) => h1,
                Sender::H2(h2) => return send_h2(h2, request, sent, read_timeout).await,
                Sender::Lent => unreachable!("only shared connections are lent"),
            },
            Lent::Shared(shared) => match &shared.h2 {
                Some(h2) => return send_h2(h2, request, sent, read_timeout).await,
                None => borrowed.get_or_insert_with(|| shared.take_h1()),
            },
            Lent::Returned => unreachable!("a checkout holds its connection until given back"),
        };
        let head = h1.send(request, read_timeout).await?;
        Ok(Response {
            head,
            body: ResponseBody::H1(h1),
        })
    }
}

/// Waits for an HTTP/2 response head. hyper writes the request from its connection task, so
/// the read timeout counts from the later of `sent` and the last byte the socket accepted
/// (a slow upload is the write timeout's business).
async fn await_head<F, T>(
    head: F,
    probe: &WriteProbe,
    sent: Instant,
    read_timeout: Duration,
) -> Result<T, Outcome>
where
    F: std::future::Future<Output = Result<T, Outcome>>,
{
    tokio::pin!(head);
    loop {
        let from = probe.last_write().max(sent);
        match tokio::time::timeout_at((from + read_timeout).into(), &mut head).await {
            Ok(result) => return result,
            Err(_) if probe.last_write().max(sent) <= from => {
                return Err(Outcome::Timeout(Phase::Read))
            }
            Err(_) => continue,
        }
    }
}

/// Sends one request as a stream of an HTTP/2 connection and waits for the head.
async fn send_h2(
    h2: &H2Sender,
    request: &Outgoing<'_>,
    sent: Instant,
    read_timeout: Duration,
) -> Result<Response<'static>, Outcome> {
    let head = stream_head(h2.sender.clone(), request.to_hyper());
    await_head(head, &h2.probe, sent, read_timeout).await
}

/// One stream: waits for room under the server's stream limit, sends, returns the head.
async fn stream_head(
    mut sender: http2::SendRequest<Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> Result<Response<'static>, Outcome> {
    sender.ready().await.map_err(|e| classify_hyper_error(&e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| classify_hyper_error(&e))?;
    let (parts, body) = response.into_parts();
    Ok(Response {
        head: Head {
            status: parts.status,
            headers: (!parts.status.is_success()).then_some(parts.headers),
        },
        body: ResponseBody::H2 {
            body,
            frame: Bytes::new(),
        },
    })
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let (Lent::Shared(conn), Some(list)) = (&self.lent, &self.shared) {
            // An HTTP/1.1 exchange that did not complete leaves the connection mid-message: it
            // must not carry another request. (h2 streams are independent; the connection stays.)
            if let Some(h1) = self.borrowed.take() {
                if h1.is_reusable() {
                    conn.lock().sender = Sender::H1(h1);
                } else {
                    list.retire(conn);
                }
            }
            if conn.active.fetch_sub(1, Relaxed) == 1 {
                *conn.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            }
            list.changed.notify_waiters();
        }
    }
}

/// A connection in the shared list: HTTP/2 carrying up to `capacity` streams, or (with
/// `http = "auto"` when ALPN picked HTTP/1.1) keep-alive carrying one request at a time.
struct SharedConn {
    /// The connection's id (unique per pool).
    id: u64,
    /// The connection (counters, close-on-drop); locked only briefly, never across an await.
    conn: Mutex<Conn>,
    /// For HTTP/2, a sender clone handed to each stream (no lock while sending).
    h2: Option<H2Sender>,
    /// Requests it may carry at once.
    capacity: usize,
    /// Streams in flight on it.
    active: AtomicUsize,
    /// When its last stream ended (for `idle_timeout`).
    idle_since: Mutex<Instant>,
    /// Taken out of service (interrupted HTTP/1.1 exchange, or beyond `max_idle_connections`).
    retired: AtomicBool,
}

impl SharedConn {
    fn new(conn: Conn, per_conn: usize) -> SharedConn {
        let h2 = match &conn.sender {
            Sender::H2(s) => Some(s.clone()),
            Sender::H1(_) | Sender::Lent => None,
        };
        SharedConn {
            id: conn.id,
            capacity: if h2.is_some() { per_conn } else { 1 },
            h2,
            conn: Mutex::new(conn),
            active: AtomicUsize::new(1),
            idle_since: Mutex::new(Instant::now()),
            retired: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_h2(&self) -> bool {
        self.h2.is_some()
    }

    fn is_usable(&self) -> bool {
        !self.retired.load(Relaxed) && self.lock().is_usable()
    }

    fn idle_for(&self) -> Duration {
        self.idle_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Takes an HTTP/1.1 connection out of its entry for one exchange (capacity 1: nobody
    /// else can be using it).
    fn take_h1(&self) -> H1Conn {
        match std::mem::replace(&mut self.lock().sender, Sender::Lent) {
            Sender::H1(h1) => h1,
            _ => unreachable!("an HTTP/1.1 entry carries one exchange at a time"),
        }
    }
}

/// What the pool has learnt about the protocol its connections speak.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Negotiated {
    /// `http = "auto"` over TLS before any connection completed ALPN.
    Unknown,
    /// The server picked HTTP/1.1.
    Http1,
    /// HTTP/2 (asked for, or picked by ALPN).
    Http2,
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
    /// Idle HTTP/1.1 connections kept at most (auto mode).
    max_idle: usize,
    /// Whether HTTP/1.1 connections are welcome (`auto`); with `http = "2"` they are an error.
    accept_h1: bool,
    /// The pool's slots, and how many to add when the first h2 connection is negotiated.
    grow: Option<(Arc<Semaphore>, usize)>,
}

struct SharedState {
    /// Open connections, oldest first.
    conns: Vec<Arc<SharedConn>>,
    /// Dials in progress (they count against the cap).
    dialing: usize,
    /// The protocol learnt so far.
    protocol: Negotiated,
    /// Waiters counting on a stream of a connection being dialled (at most
    /// `dialing × (per_conn − 1)`: each dialler takes one stream itself).
    reserved: usize,
}

/// A waiter's claim on a stream of a connection being dialled; dropping it (pool timeout,
/// cancelled request) gives the claim back.
struct Reservation<'a> {
    /// The list the claim is on.
    list: &'a SharedList,
    /// Whether a claim is held right now.
    held: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.held {
            self.list.lock().reserved -= 1;
        }
    }
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
    /// `reserved` is the caller's claim on a stream of a connection being dialled; it is
    /// given up on every look (the caller either finds that stream now or claims again).
    fn pick(&self, reserved: &mut bool) -> Pick {
        let mut st = self.lock();
        if std::mem::take(reserved) {
            st.reserved -= 1;
        }
        st.conns.retain(|c| c.is_usable());
        for c in &st.conns {
            if c.active.load(Relaxed) < c.capacity {
                c.active.fetch_add(1, Relaxed);
                return Pick::Use(c.clone());
            }
        }
        if st.protocol == Negotiated::Unknown && st.dialing > 0 {
            // The dial in progress may bring a connection everybody can share.
            return Pick::Wait;
        }
        let coming = st.dialing.saturating_mul(self.per_conn - 1);
        if st.protocol == Negotiated::Http2 && st.reserved < coming {
            // An h2 dial in progress will have room for this stream: wait for it rather
            // than open a connection per request of a burst.
            st.reserved += 1;
            *reserved = true;
            return Pick::Wait;
        }
        if st.conns.len() + st.dialing < self.max_conns {
            st.dialing += 1;
            return Pick::Dial;
        }
        Pick::Wait
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the end of a dial; returns the new connection (with one stream taken) unless
    /// the dial failed or brought HTTP/1.1 where only h2 is wanted.
    fn dial_done(&self, conn: Option<Conn>) -> Option<Arc<SharedConn>> {
        let mut st = self.lock();
        st.dialing -= 1;
        let shared = conn
            .filter(|c| c.is_h2() || self.accept_h1)
            .map(|conn| Arc::new(SharedConn::new(conn, self.per_conn)));
        if let Some(conn) = &shared {
            if st.protocol == Negotiated::Unknown {
                st.protocol = if conn.is_h2() {
                    if let Some((slots, extra)) = &self.grow {
                        slots.add_permits(*extra);
                    }
                    Negotiated::Http2
                } else {
                    Negotiated::Http1
                };
            }
            st.conns.push(conn.clone());
        }
        drop(st);
        self.changed.notify_waiters();
        shared
    }

    /// Takes `conn` out of service; it closes when its last holder lets go.
    fn retire(&self, conn: &Arc<SharedConn>) {
        conn.retired.store(true, Relaxed);
        self.lock().conns.retain(|c| !Arc::ptr_eq(c, conn));
    }

    /// After a clean HTTP/1.1 exchange: keep the connection unless enough are idle already.
    fn returned(&self, conn: &Arc<SharedConn>) {
        if conn.is_h2() {
            return;
        }
        let idle = self
            .lock()
            .conns
            .iter()
            .filter(|c| !c.is_h2() && c.active.load(Relaxed) == 0)
            .count();
        if idle >= self.max_idle {
            self.retire(conn);
        }
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
    let conn_id = match &lent {
        Lent::Exclusive(c) => c.id,
        Lent::Shared(c) => c.id,
        Lent::Returned => unreachable!("a fresh checkout holds a connection"),
    };
    Checkout {
        lent,
        _permit: permit,
        shared,
        borrowed: None,
        pool_wait,
        connect,
        conn_id,
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
    /// Shared connections (`http = "2"`, or `http = "auto"` over TLS).
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
        let per_conn = settings.http2_max_streams.max(1);
        let h2_slots = max_conns
            .saturating_mul(per_conn)
            .min(Semaphore::MAX_PERMITS);
        let negotiating = settings.http == HttpVersion::Auto && origin.tls;
        let (slots, protocol) = match settings.http {
            HttpVersion::Http2 => (h2_slots, Some(Negotiated::Http2)),
            _ if negotiating => (max_conns.min(h2_slots), Some(Negotiated::Unknown)),
            _ => (max_conns.min(Semaphore::MAX_PERMITS), None),
        };
        let slots = Arc::new(Semaphore::new(slots));
        let shared = protocol.map(|protocol| {
            Arc::new(SharedList {
                state: Mutex::new(SharedState {
                    conns: Vec::new(),
                    dialing: 0,
                    protocol,
                    reserved: 0,
                }),
                changed: Notify::new(),
                per_conn,
                max_conns,
                max_idle: settings.max_idle_connections,
                accept_h1: negotiating,
                grow: negotiating.then(|| (slots.clone(), h2_slots - max_conns.min(h2_slots))),
            })
        });
        let inner = Arc::new(PoolInner {
            origin,
            max_idle: settings.max_idle_connections,
            idle_timeout: settings.idle_timeout.0,
            dial,
            pool_timeout: settings.timeouts.pool.0,
            slots,
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
        let mut waited = false;
        let permit = match inner.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                waited = true;
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
            None => self.checkout_exclusive(permit, waited_from, waited).await,
        }
    }

    async fn checkout_exclusive(
        &self,
        permit: OwnedSemaphorePermit,
        waited_from: Instant,
        waited: bool,
    ) -> Result<Checkout, CheckoutError> {
        let inner = &self.inner;
        // A slot that was free at once was not waited for: no clock read on the hot path.
        let now = if waited { Instant::now() } else { waited_from };
        let pool_wait = now - waited_from;
        if let Some(conn) = inner.take_idle(now) {
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
        let mut reservation = Reservation { list, held: false };
        loop {
            // Registered before looking, so a change between the look and the wait is not missed.
            let changed = list.changed.notified();
            match list.pick(&mut reservation.held) {
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

    /// Returns a connection whose exchange completed cleanly, for reuse; the slot is freed
    /// either way. `now` (the caller has just read the clock) is when it became idle.
    pub fn give_back(&self, mut checkout: Checkout, now: Instant) {
        if let (Lent::Shared(conn), Some(list)) = (&checkout.lent, &checkout.shared) {
            // A shared stream ends when the checkout drops (which updates its stream count and
            // puts an HTTP/1.1 connection back in its entry).
            list.returned(conn);
            return;
        }
        let Lent::Exclusive(mut conn) = std::mem::replace(&mut checkout.lent, Lent::Returned)
        else {
            return;
        };
        if !conn.is_usable() {
            return;
        }
        conn.idle_since = now;
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

    /// Closes every idle connection (at the end of a run).
    pub fn close_idle(&self) {
        let drained: Vec<Conn> =
            std::mem::take(&mut *self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()));
        drop(drained);
        if let Some(list) = &self.inner.shared {
            list.lock().conns.retain(|c| c.active.load(Relaxed) > 0);
        }
    }
}

impl PoolInner {
    /// Most recently used first: warm connections are reused, cold ones age out.
    fn take_idle(&self, now: Instant) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut conn) = idle.pop() {
            if now.saturating_duration_since(conn.idle_since) < self.idle_timeout
                && conn.check_idle()
            {
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
            // A shared connection expires only when no stream is using it.
            list.lock().conns.retain(|c| {
                c.is_usable() && (c.active.load(Relaxed) > 0 || c.idle_for() < self.idle_timeout)
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
