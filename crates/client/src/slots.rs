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
    /// An HTTP/1.1 connection, lent whole (idle and checked, or just dialled).
    H1(Conn),
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
    /// Idle HTTP/1.1 connections, most recently used last.
    idle: Vec<Conn>,
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
    fn take_idle(&mut self, now: Instant) -> Option<Conn> {
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
                return Grant::H1(conn);
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
    pub fn give_back(&mut self, mut conn: Conn, now: Instant) {
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
