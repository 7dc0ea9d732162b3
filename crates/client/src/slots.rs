//! The pool's one slot mechanism: which connection (or room to dial one) each request gets, HTTP/1.1 and HTTP/2 alike, FIFO, under the connection cap; kept under one lock by the pool.

use super::{
    conn::{Conn, DialError, Opened, Sender},
    h2::{H2Conn, H2Probe},
};
use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// What a request is given.
pub enum Grant {
    /// An HTTP/1.1 connection, lent whole (idle and checked, or just dialled). Boxed once
    /// when dialled: it moves between the idle list and requests on every request, and a
    /// pointer moves cheaper than the connection.
    H1(Box<Conn>),
    /// A stream of a shared HTTP/2 connection (already counted in its entry's `active`).
    H2(Arc<SharedConn>),
    /// Room under the cap to dial a connection (already counted in `dialing`).
    Dial,
}

/// What the pool has learnt about the protocol its connections speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Negotiated {
    /// `http = "auto"` over TLS before any connection completed ALPN.
    Unknown,
    /// HTTP/1.1 (asked for, or picked by ALPN).
    Http1,
    /// HTTP/2 (asked for, or picked by ALPN).
    Http2,
}

/// How the slots are shaped (from the client's settings).
pub struct Shape {
    /// Hard cap on open connections, dials in progress included.
    pub max_conns: usize,
    /// Idle HTTP/1.1 connections kept at most.
    pub max_idle: usize,
    /// Streams per HTTP/2 connection at most (`http2_max_streams`); the server may allow fewer.
    pub per_conn: usize,
    /// How long an idle connection lives.
    pub idle_timeout: Duration,
}

/// An HTTP/2 connection, shared by the streams running on it.
pub struct SharedConn {
    /// Counts it open; its id.
    pub opened: Opened,
    /// The connection.
    pub h2: H2Conn,
}

/// An HTTP/2 connection in the pool.
struct Shared {
    /// The connection; each stream holds a clone while it runs.
    conn: Arc<SharedConn>,
    /// Asks whether the connection still takes streams (no `GOAWAY`).
    probe: H2Probe,
    /// Streams lent on it right now.
    active: usize,
    /// When its last stream ended (for `idle_timeout`).
    idle_since: Instant,
    /// It takes no new streams (`GOAWAY`, or closed); it leaves the pool with its last stream.
    retired: bool,
}

impl Shared {
    fn h2(&self) -> &H2Conn {
        &self.conn.h2
    }

    /// Whether it takes no new streams, looking again unless already known.
    fn is_retired(&mut self) -> bool {
        if !self.retired && (self.h2().is_closed() || !self.probe.takes_streams()) {
            self.retired = true;
        }
        self.retired
    }
}

/// Every connection of a pool and every request waiting for one.
///
/// Open connections are the idle HTTP/1.1 ones, the lent HTTP/1.1 ones, the HTTP/2 entries
/// and the dials in progress; the sum never exceeds `max_conns`, since a dial is only
/// granted below it and counted at once. Waiters are served strictly in arrival order, by
/// [`Slots::serve`] whenever something that could serve them changes.
pub struct Slots {
    /// Limits.
    shape: Shape,
    /// What the connections speak.
    protocol: Negotiated,
    /// Idle HTTP/1.1 connections, most recently used last. Boxed (see `Grant::H1`): a
    /// connection passes through this list on every request.
    #[allow(clippy::vec_box)]
    idle: Vec<Box<Conn>>,
    /// HTTP/1.1 connections lent to a request.
    lent: usize,
    /// HTTP/2 connections, oldest first.
    shared: Vec<Shared>,
    /// Dials in progress.
    dialing: usize,
    /// Requests waiting, in arrival order.
    waiters: VecDeque<oneshot::Sender<Grant>>,
}

impl Slots {
    /// No connections yet.
    pub fn new(shape: Shape, protocol: Negotiated) -> Slots {
        Slots {
            shape,
            protocol,
            idle: Vec::new(),
            lent: 0,
            shared: Vec::new(),
            dialing: 0,
            waiters: VecDeque::new(),
        }
    }

    /// Connections open or being dialled.
    fn open(&self) -> usize {
        self.idle.len() + self.lent + self.shared.len() + self.dialing
    }

    /// A request arrives: what it gets now, or where it waits for its turn.
    pub fn arrive(&mut self, now: Instant) -> Result<Grant, oneshot::Receiver<Grant>> {
        if self.waiters.is_empty() {
            if let Some(grant) = self.offer(now) {
                return Ok(grant);
            }
            if self.coming() == 0 && self.may_dial() {
                self.dialing += 1;
                return Ok(Grant::Dial);
            }
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push_back(tx);
        // It may be the one a dial would serve, further down the queue than those covered.
        self.serve();
        Err(rx)
    }

    /// Hands what is free to waiters, first come first served: a connection with room, else
    /// (beyond the waiters that HTTP/2 connections being dialled or settling will take) room
    /// to dial, under the cap.
    pub fn serve(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut covered = self.coming();
        // Once nothing existing is free, skipping covered waiters does not change that.
        let mut exhausted = false;
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters.get(i).is_some_and(|w| w.is_closed()) {
                // Gave up (pool timeout, cancelled) before its turn.
                self.waiters.remove(i);
                continue;
            }
            let offered = if exhausted { None } else { self.offer(now) };
            let grant = match offered {
                Some(grant) => grant,
                None if covered > 0 => {
                    exhausted = true;
                    covered -= 1;
                    i += 1;
                    continue;
                }
                None if self.may_dial() => {
                    exhausted = true;
                    self.dialing += 1;
                    covered += self.streams_per_dial();
                    Grant::Dial
                }
                None => return,
            };
            let Some(waiter) = self.waiters.remove(i) else {
                return;
            };
            if let Err(grant) = waiter.send(grant) {
                // It gave up just now: the grant goes to the next one.
                self.undo(grant);
                exhausted = false;
            }
        }
    }

    /// A connection that is free right now: a stream of an HTTP/2 connection with room under
    /// its limit, else an idle HTTP/1.1 connection that passes the idle check.
    fn offer(&mut self, now: Instant) -> Option<Grant> {
        let per_conn = self.shape.per_conn;
        let mut i = 0;
        while let Some(entry) = self.shared.get_mut(i) {
            if entry.active < entry.h2().stream_limit(per_conn) && !entry.is_retired() {
                entry.active += 1;
                return Some(Grant::H2(entry.conn.clone()));
            }
            if entry.active == 0 && entry.is_retired() {
                self.shared.remove(i);
                continue;
            }
            i += 1;
        }
        self.take_idle(now).map(Grant::H1)
    }

    /// The idle check, the one way an HTTP/1.1 connection leaves the idle list for a request:
    /// most recently used first (warm connections are reused, cold ones age out), not past
    /// `idle_timeout`, and not closed by the server meanwhile. Failing ones are closed.
    fn take_idle(&mut self, now: Instant) -> Option<Box<Conn>> {
        while let Some(mut conn) = self.idle.pop() {
            let fresh = now.saturating_duration_since(conn.idle_since) < self.shape.idle_timeout;
            let alive = match &mut conn.sender {
                Sender::H1(h1) => h1.check_idle(),
                Sender::H2(_) => false,
            };
            if fresh && alive {
                self.lent += 1;
                return Some(conn);
            }
        }
        None
    }

    /// Streams that HTTP/2 connections being dialled or settling will have room for, beyond
    /// the one each dialler takes: waiters counting on them wait rather than dial, so a burst
    /// of N streams opens ⌈N / per_conn⌉ connections, not N.
    fn coming(&self) -> usize {
        if self.protocol != Negotiated::Http2 {
            return 0;
        }
        let settling: usize = self
            .shared
            .iter()
            .filter(|s| !s.retired && s.h2().is_settling())
            .map(|s| self.shape.per_conn.saturating_sub(s.active))
            .sum();
        self.dialing * self.streams_per_dial() + settling
    }

    /// Streams a dial brings beyond its dialler's, as far as is known before it completes.
    fn streams_per_dial(&self) -> usize {
        match self.protocol {
            Negotiated::Http2 => self.shape.per_conn - 1,
            Negotiated::Http1 | Negotiated::Unknown => 0,
        }
    }

    /// Whether a new connection may be dialled: under the cap, and (auto mode) not while the
    /// first connection is still finding out which protocol the server speaks.
    fn may_dial(&self) -> bool {
        self.open() < self.shape.max_conns
            && !(self.protocol == Negotiated::Unknown && self.dialing > 0)
    }

    /// Takes back a grant its waiter could not receive.
    fn undo(&mut self, grant: Grant) {
        match grant {
            Grant::H1(conn) => {
                self.lent -= 1;
                self.idle.push(conn);
            }
            Grant::H2(conn) => {
                if let Some(entry) = self.shared.iter_mut().find(|s| Arc::ptr_eq(&s.conn, &conn)) {
                    entry.active -= 1;
                }
            }
            Grant::Dial => self.dialing -= 1,
        }
    }

    /// A grant nobody will use (its request gave up while it was on the way) comes back.
    pub fn release(&mut self, grant: Grant) {
        self.undo(grant);
        self.trim_idle();
        self.serve();
    }

    /// A dial ended; the new connection goes to its dialler (for HTTP/2, with its first
    /// stream taken). The first connection of an `auto` pool tells the protocol.
    pub fn dial_done(&mut self, dialled: Result<Conn, DialError>) -> Result<Grant, DialError> {
        self.dialing -= 1;
        let granted = dialled.map(|conn| {
            let h2 = matches!(conn.sender, Sender::H2(_));
            if self.protocol == Negotiated::Unknown {
                self.protocol = if h2 {
                    Negotiated::Http2
                } else {
                    Negotiated::Http1
                };
            }
            if !h2 {
                self.lent += 1;
                return Grant::H1(Box::new(conn));
            }
            let Conn {
                opened,
                sender: Sender::H2(h2),
                ..
            } = conn
            else {
                unreachable!("checked above")
            };
            let conn = Arc::new(SharedConn { opened, h2 });
            self.shared.push(Shared {
                probe: conn.h2.probe(),
                conn: conn.clone(),
                active: 1,
                idle_since: Instant::now(),
                retired: false,
            });
            Grant::H2(conn)
        });
        // A failed dial frees its room; a first connection may let others dial or share.
        self.serve();
        granted
    }

    /// An HTTP/1.1 exchange completed cleanly: the connection goes to the first waiter, or
    /// becomes idle (unless `max_idle` are idle already: then it is closed).
    pub fn give_back(&mut self, mut conn: Box<Conn>, now: Instant) {
        self.lent -= 1;
        conn.idle_since = now;
        if self.waiters.is_empty() {
            if self.idle.len() < self.shape.max_idle {
                self.idle.push(conn);
            }
            return;
        }
        self.idle.push(conn);
        self.serve();
        self.trim_idle();
    }

    /// A lent HTTP/1.1 connection was closed (an exchange that did not complete, or a
    /// response that ended the connection): its room may serve a waiter.
    pub fn lost(&mut self) {
        self.lent -= 1;
        self.serve();
    }

    /// A stream of `conn` ended. A connection that takes no new streams leaves the pool with
    /// its last one.
    pub fn stream_ended(&mut self, conn: &Arc<SharedConn>) {
        if let Some(i) = self.shared.iter().position(|s| Arc::ptr_eq(&s.conn, conn)) {
            let entry = &mut self.shared[i];
            entry.active -= 1;
            if entry.active == 0 {
                if entry.is_retired() {
                    self.shared.remove(i);
                } else {
                    entry.idle_since = Instant::now();
                }
            }
        }
        self.serve();
    }

    /// Something about an HTTP/2 connection changed (settings read, limit changed, closed).
    pub fn changed(&mut self) {
        self.shared.retain_mut(|s| s.active > 0 || !s.is_retired());
        self.serve();
    }

    /// Closes idle connections past `idle_timeout` (and any the server closed meanwhile).
    pub fn reap(&mut self, now: Instant) {
        let timeout = self.shape.idle_timeout;
        self.idle
            .retain(|c| c.is_usable() && now.saturating_duration_since(c.idle_since) < timeout);
        self.shared.retain_mut(|s| {
            s.active > 0
                || (!s.is_retired() && now.saturating_duration_since(s.idle_since) < timeout)
        });
        self.serve();
    }

    /// Closes every connection nobody is using.
    pub fn close_idle(&mut self) {
        self.idle.clear();
        self.shared.retain(|s| s.active > 0);
    }

    /// Keeps at most `max_idle` idle connections, closing the oldest.
    fn trim_idle(&mut self) {
        let excess = self.idle.len().saturating_sub(self.shape.max_idle);
        self.idle.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::PoolCounters;
    use tokio::io::DuplexStream;

    const IDLE: Duration = Duration::from_secs(30);

    fn slots(max_conns: usize, max_idle: usize, protocol: Negotiated) -> Slots {
        let shape = Shape {
            max_conns,
            max_idle,
            per_conn: 10,
            idle_timeout: IDLE,
        };
        Slots::new(shape, protocol)
    }

    /// An HTTP/1.1 connection over an in-memory pipe; the far end stands for the server.
    fn conn(counters: &Arc<PoolCounters>) -> (Conn, DuplexStream) {
        let (near, far) = tokio::io::duplex(64);
        (Conn::h1_for_test(Box::new(near), counters), far)
    }

    fn kind(grant: &Grant) -> &'static str {
        match grant {
            Grant::H1(_) => "h1",
            Grant::H2(_) => "h2",
            Grant::Dial => "dial",
        }
    }

    fn at_once(arrival: Result<Grant, oneshot::Receiver<Grant>>) -> Grant {
        match arrival {
            Ok(grant) => grant,
            Err(_) => panic!("expected a grant at once"),
        }
    }

    fn waiting(arrival: Result<Grant, oneshot::Receiver<Grant>>) -> oneshot::Receiver<Grant> {
        match arrival {
            Ok(grant) => panic!("expected to wait, got {}", kind(&grant)),
            Err(rx) => rx,
        }
    }

    fn got(rx: &mut oneshot::Receiver<Grant>) -> Option<&'static str> {
        rx.try_recv().ok().map(|g| kind(&g))
    }

    #[tokio::test]
    async fn dials_stay_under_the_cap_and_waiters_are_served_in_arrival_order() {
        let counters = Arc::new(PoolCounters::default());
        let mut s = slots(2, 10, Negotiated::Http1);
        let now = Instant::now();
        for _ in 0..2 {
            assert_eq!(kind(&at_once(s.arrive(now))), "dial");
        }
        let (mut third, mut fourth) = (waiting(s.arrive(now)), waiting(s.arrive(now)));
        let (a, _server_a) = conn(&counters);
        let Ok(Grant::H1(a)) = s.dial_done(Ok(a)) else {
            panic!("the dialler gets its connection")
        };
        assert_eq!((got(&mut third), got(&mut fourth)), (None, None));
        // The connection given back goes to the first waiter, not to the idle list.
        s.give_back(a, now);
        assert_eq!(got(&mut third), Some("h1"));
        assert_eq!(got(&mut fourth), None);
        // A failed dial frees its room: the next waiter may dial.
        let failed = s.dial_done(Err(DialError::Failed("refused".into())));
        assert!(failed.is_err());
        assert_eq!(got(&mut fourth), Some("dial"));
        assert_eq!(s.open(), 2, "one lent, one being dialled");
    }

    #[tokio::test]
    async fn a_grant_for_a_waiter_that_gave_up_goes_to_the_next() {
        let counters = Arc::new(PoolCounters::default());
        let mut s = slots(1, 10, Negotiated::Http1);
        let now = Instant::now();
        assert_eq!(kind(&at_once(s.arrive(now))), "dial");
        let (gone, mut next) = (waiting(s.arrive(now)), waiting(s.arrive(now)));
        let (a, _server) = conn(&counters);
        let Ok(Grant::H1(a)) = s.dial_done(Ok(a)) else {
            panic!()
        };
        drop(gone);
        s.give_back(a, now);
        assert_eq!(got(&mut next), Some("h1"));
        assert_eq!((s.lent, s.idle.len()), (1, 0));
    }

    #[tokio::test]
    async fn auto_mode_dials_one_connection_until_it_knows_the_protocol() {
        let counters = Arc::new(PoolCounters::default());
        let mut s = slots(3, 10, Negotiated::Unknown);
        let now = Instant::now();
        assert_eq!(kind(&at_once(s.arrive(now))), "dial");
        let (mut b, mut c) = (waiting(s.arrive(now)), waiting(s.arrive(now)));
        assert_eq!(
            (got(&mut b), got(&mut c)),
            (None, None),
            "nobody else dials"
        );
        let (a, _server) = conn(&counters);
        assert!(matches!(s.dial_done(Ok(a)), Ok(Grant::H1(_))));
        assert_eq!(s.protocol, Negotiated::Http1);
        // HTTP/1.1 carries one request at a time: the others dial their own.
        assert_eq!((got(&mut b), got(&mut c)), (Some("dial"), Some("dial")));
    }

    #[tokio::test]
    async fn the_idle_check_skips_expired_and_server_closed_connections() {
        let counters = Arc::new(PoolCounters::default());
        let mut s = slots(3, 10, Negotiated::Http1);
        let t0 = Instant::now();
        let mut servers = Vec::new();
        for _ in 0..3 {
            assert_eq!(kind(&at_once(s.arrive(t0))), "dial");
        }
        let mut conns = Vec::new();
        for _ in 0..3 {
            let (c, server) = conn(&counters);
            servers.push(server);
            let Ok(Grant::H1(c)) = s.dial_done(Ok(c)) else {
                panic!()
            };
            conns.push(c);
        }
        // Given back oldest first: `expired` at t0, `alive` and `closed` (the last, so tried
        // first) later.
        let later = t0 + IDLE / 2;
        let ids: Vec<u64> = conns.iter().map(|c| c.id()).collect();
        for (c, at) in conns.into_iter().zip([t0, later, later]) {
            s.give_back(c, at);
        }
        drop(servers.pop()); // the server closes the most recent one while it is idle
        let Ok(Grant::H1(lent)) = s.arrive(t0 + IDLE) else {
            panic!("the one fresh, open connection is lent")
        };
        assert_eq!(lent.id(), ids[1]);
        // The closed one was closed; the expired one is still idle (below it in the list)
        // until a look reaches it or the reaper runs.
        assert_eq!(counters.snapshot().closed, 1);
        s.reap(t0 + IDLE);
        assert_eq!(counters.snapshot().closed, 2);
        assert_eq!(s.open(), 1);
    }

    #[tokio::test]
    async fn at_most_max_idle_connections_are_kept() {
        let counters = Arc::new(PoolCounters::default());
        let mut s = slots(3, 1, Negotiated::Http1);
        let now = Instant::now();
        let mut servers = Vec::new();
        let mut conns = Vec::new();
        for _ in 0..2 {
            assert_eq!(kind(&at_once(s.arrive(now))), "dial");
            let (c, server) = conn(&counters);
            servers.push(server);
            let Ok(Grant::H1(c)) = s.dial_done(Ok(c)) else {
                panic!()
            };
            conns.push(c);
        }
        for c in conns {
            s.give_back(c, now);
        }
        assert_eq!((s.idle.len(), counters.snapshot().closed), (1, 1));
        s.close_idle();
        assert_eq!((s.open(), counters.snapshot().closed), (0, 2));
    }
}
