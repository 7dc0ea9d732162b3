//! A scripted HTTP/1.1 upstream on a loopback socket for the misbehaving-upstream tests: raw
//! tokio sockets (or TLS over them, `start_tls`), a reply chosen per request by the test's
//! script, and a log of everything the server did, so a test can compare the client's outcomes
//! with the server's own account.
#![allow(dead_code)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A server-side connection: TCP, or TLS over TCP.
trait Socket: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket underneath (for a reset).
    fn tcp(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// What the server does after writing a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Keep the connection for the next request.
    KeepOpen,
    /// Close it (FIN).
    Close,
    /// Reset it (RST: linger 0, then close).
    Reset,
    /// Keep it while idle for this long, then close it (a keep-alive timeout on the server).
    CloseWhenIdle(Duration),
    /// Never answer further and never close (a hung upstream); the connection is held until
    /// the server is dropped.
    Hang,
}

/// One scripted answer: after `after`, the `pieces` are written with `gap` between them, then `then`.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Bytes written, in order (a pause of `gap` between pieces, so the client sees them apart).
    pub pieces: Vec<Vec<u8>>,
    /// Wait before the first piece.
    pub after: Duration,
    /// Pause between pieces.
    pub gap: Duration,
    /// What follows the reply.
    pub then: Then,
}

impl Reply {
    /// `pieces` written 20 ms apart on a connection kept open.
    pub fn new(pieces: &[&[u8]]) -> Reply {
        Reply {
            pieces: pieces.iter().map(|p| p.to_vec()).collect(),
            after: Duration::ZERO,
            gap: Duration::from_millis(20),
            then: Then::KeepOpen,
        }
    }

    /// A complete response with `status`, extra header lines (`"retry-after: 1"`) and `body`.
    pub fn status(status: u16, headers: &[&str], body: &[u8]) -> Reply {
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n",
            reason(status),
            body.len()
        );
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Reply::new(&[&bytes])
    }

    /// A 200 with a JSON body.
    pub fn json(body: &str) -> Reply {
        Reply::status(200, &["content-type: application/json"], body.as_bytes())
    }

    /// A 200 server-sent-event stream of `events` (each a `data:` payload), chunked, one chunk per event.
    pub fn sse(events: &[&str]) -> Reply {
        let mut pieces = vec![b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()];
        for e in events {
            let data = format!("data: {e}\n\n");
            pieces.push(format!("{:x}\r\n{data}\r\n", data.len()).into_bytes());
        }
        pieces.push(b"0\r\n\r\n".to_vec());
        Reply {
            pieces,
            gap: Duration::from_millis(5),
            ..Reply::new(&[])
        }
    }

    /// Nothing is written and the connection hangs.
    pub fn hang() -> Reply {
        Reply {
            then: Then::Hang,
            ..Reply::new(&[])
        }
    }

    /// The same reply, then `then`.
    pub fn then(mut self, then: Then) -> Reply {
        self.then = then;
        self
    }

    /// The same reply, after a wait.
    pub fn after(mut self, wait: Duration) -> Reply {
        self.after = wait;
        self
    }

    /// The same reply with another pause between pieces.
    pub fn gap(mut self, gap: Duration) -> Reply {
        self.gap = gap;
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// What the server did, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Accepted connection `conn` (0-based, in accept order).
    Accepted { conn: usize },
    /// Request number `index` (0-based, over all connections) arrived on `conn`.
    Request { conn: usize, index: usize },
    /// The reply to request `index` was written completely.
    Replied { conn: usize, index: usize },
    /// The server closed `conn` (FIN), or reset it.
    Closed { conn: usize, reset: bool },
    /// The client closed `conn` (end of stream or error while reading).
    ClientClosed { conn: usize },
    /// Piece `piece` of the reply to request `index` was written (kept out of
    /// [`Scripted::events`]; read with [`Scripted::writes`]).
    Wrote { index: usize, piece: usize },
}

/// Picks the reply to request `index` (0-based over the whole server), given its raw bytes;
/// `None` closes the connection without answering.
pub type Script = dyn Fn(usize, &[u8]) -> Option<Reply> + Send + Sync;

/// A running scripted server.
pub struct Scripted {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Everything it did, with when.
    log: Arc<Mutex<Vec<(Instant, Event)>>>,
    /// Raw requests in arrival order.
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The accept loop (aborted on drop, which ends every connection task with it).
    accept: tokio::task::JoinHandle<()>,
    /// Connection tasks, aborted on drop.
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.accept.abort();
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Scripted {
    /// Serves `replies` in order, one per request, over however many connections the client
    /// opens; requests beyond the list get their connection closed.
    pub async fn replies(replies: Vec<Reply>) -> Scripted {
        let replies = Arc::new(replies);
        Scripted::start(move |i, _| replies.get(i).cloned()).await
    }

    /// Serves the reply `script` picks for each request.
    pub async fn start(
        script: impl Fn(usize, &[u8]) -> Option<Reply> + Send + Sync + 'static,
    ) -> Scripted {
        Scripted::start_with(None, script).await
    }

    /// Like [`Scripted::start`], over TLS (`acceptor` holds the certificate and the ALPN
    /// protocols offered); a connection is logged as accepted once its TLS handshake completed.
    pub async fn start_tls(
        acceptor: tokio_rustls::TlsAcceptor,
        script: impl Fn(usize, &[u8]) -> Option<Reply> + Send + Sync + 'static,
    ) -> Scripted {
        Scripted::start_with(Some(acceptor), script).await
    }

    async fn start_with(
        tls: Option<tokio_rustls::TlsAcceptor>,
        script: impl Fn(usize, &[u8]) -> Option<Reply> + Send + Sync + 'static,
    ) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let accept = {
            let (log, requests, tasks) = (log.clone(), requests.clone(), tasks.clone());
            tokio::spawn(async move {
                let mut conn = 0;
                while let Ok((socket, _)) = listener.accept().await {
                    let (log, requests, script) = (log.clone(), requests.clone(), script.clone());
                    let task = match tls.clone() {
                        None => {
                            push(&log, Event::Accepted { conn });
                            tokio::spawn(serve(socket, conn, log, requests, script))
                        }
                        Some(acceptor) => tokio::spawn(async move {
                            let Ok(socket) = acceptor.accept(socket).await else {
                                return;
                            };
                            push(&log, Event::Accepted { conn });
                            serve(socket, conn, log, requests, script).await
                        }),
                    };
                    tasks.lock().unwrap().push(task);
                    conn += 1;
                }
            })
        };
        Scripted {
            addr,
            log,
            requests,
            accept,
            tasks,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every event so far (piece writes left out).
    pub fn events(&self) -> Vec<Event> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Wrote { .. }))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// When each piece of the reply to request `index` was written, in piece order.
    pub fn writes(&self, index: usize) -> Vec<Instant> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| matches!(e, Event::Wrote { index: i, .. } if *i == index))
            .map(|(t, _)| *t)
            .collect()
    }

    /// Every event so far with its time.
    pub fn timed_events(&self) -> Vec<(Instant, Event)> {
        self.log.lock().unwrap().clone()
    }

    /// Raw requests received, in order.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests received.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, Event::Accepted { .. }))
            .count()
    }
}

fn push(log: &Mutex<Vec<(Instant, Event)>>, e: Event) {
    log.lock().unwrap().push((Instant::now(), e));
}

async fn serve(
    mut socket: impl Socket,
    conn: usize,
    log: Arc<Mutex<Vec<(Instant, Event)>>>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    script: Arc<Script>,
) {
    let mut pending = Vec::new();
    let mut idle_limit: Option<Duration> = None;
    loop {
        let next = read_request(&mut socket, &mut pending);
        let request = match idle_limit {
            None => next.await,
            Some(limit) => match tokio::time::timeout(limit, next).await {
                Ok(r) => r,
                Err(_) => {
                    push(&log, Event::Closed { conn, reset: false });
                    return;
                }
            },
        };
        let Some(request) = request else {
            push(&log, Event::ClientClosed { conn });
            return;
        };
        let index = {
            let mut r = requests.lock().unwrap();
            r.push(request.clone());
            r.len() - 1
        };
        push(&log, Event::Request { conn, index });
        let Some(reply) = script(index, &request) else {
            push(&log, Event::Closed { conn, reset: false });
            return;
        };
        tokio::time::sleep(reply.after).await;
        for (i, piece) in reply.pieces.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(reply.gap).await;
            }
            if socket.write_all(piece).await.is_err() {
                push(&log, Event::ClientClosed { conn });
                return;
            }
            push(&log, Event::Wrote { index, piece: i });
        }
        if !reply.pieces.is_empty() {
            push(&log, Event::Replied { conn, index });
        }
        match reply.then {
            Then::KeepOpen => {}
            Then::CloseWhenIdle(limit) => idle_limit = Some(limit),
            Then::Close => {
                push(&log, Event::Closed { conn, reset: false });
                return;
            }
            Then::Reset => {
                // Linger 0: the close resets the connection (RST), which is what this reply is for.
                let _ = socket.tcp().set_zero_linger();
                push(&log, Event::Closed { conn, reset: true });
                return;
            }
            Then::Hang => {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Reads one request (head plus a `content-length` body); `None` when the client closed.
async fn read_request(socket: &mut impl Socket, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if pending.len() >= end + 4 + length {
                return Some(pending.drain(..end + 4 + length).collect());
            }
        }
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    }
}
