//! A scripted HTTP/2 upstream on a loopback socket (cleartext, prior knowledge) for the misbehaving-upstream tests: what the server does with each stream is chosen by the test's script, and it logs everything it did, so a test can compare the client's outcomes with the server's own account.
//!
//! Written on raw frames rather than on the `h2` crate's server: that server picks a
//! `GOAWAY`'s last-stream-id itself (every stream it has read) and cannot change its
//! `SETTINGS_MAX_CONCURRENT_STREAMS` after the handshake; here both are the test's choice.
//! Request header blocks are not decoded (no test needs them, so no HPACK decoder); responses
//! are encoded with HPACK's static table only.
#![allow(dead_code)]

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{tcp::OwnedReadHalf, TcpListener, TcpStream},
    sync::mpsc,
};

/// A well-formed (OpenAI-shaped) chat completion, the body of every scripted answer (and a
/// handy valid answer for other scripted upstreams).
pub const CHAT_BODY: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"mock-1","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

/// What the server does with one complete request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Answers `status` (with [`CHAT_BODY`]) after `after`.
    Reply { status: u16, after: Duration },
    /// Never answers; the stream stays open until the client resets it.
    Hang,
    /// Resets the stream with `REFUSED_STREAM` (the server did not process it).
    Refuse,
    /// Sends `GOAWAY` naming `last` as the last stream it processes, leaves this stream (which
    /// must be above `last`) and every other one above `last` unanswered, answers the streams
    /// up to `last` as already scripted, then closes the connection.
    GoAway { last: u32 },
}

impl Act {
    /// A 200 after `ms` milliseconds.
    pub fn ok_after(ms: u64) -> Act {
        Act::Reply {
            status: 200,
            after: Duration::from_millis(ms),
        }
    }
}

/// One complete request, as the script sees it.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    /// Connection (0-based, in accept order).
    pub conn: usize,
    /// Its stream id.
    pub stream: u32,
    /// Request number (0-based, over all connections, in order of completion).
    pub index: usize,
}

/// What the server did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H2Event {
    /// Accepted connection `conn`.
    Accepted { conn: usize },
    /// A request arrived complete on `stream` (its number is `index`).
    Request {
        conn: usize,
        stream: u32,
        index: usize,
    },
    /// The answer to it was written.
    Replied {
        conn: usize,
        stream: u32,
        index: usize,
    },
    /// It was reset with `REFUSED_STREAM` by the script.
    Refused {
        conn: usize,
        stream: u32,
        index: usize,
    },
    /// A stream opened beyond the limit the server advertised (reset with `REFUSED_STREAM`).
    OverLimit { conn: usize, stream: u32 },
    /// `GOAWAY` sent with this last-stream-id.
    GoAway { conn: usize, last: u32 },
    /// A stream above the `GOAWAY`'s last-stream-id: never processed.
    Unprocessed { conn: usize, stream: u32 },
    /// New `SETTINGS_MAX_CONCURRENT_STREAMS` sent.
    Limit { conn: usize, max_streams: u32 },
    /// The client reset a stream that was open.
    ClientReset { conn: usize, stream: u32 },
    /// The server closed the connection.
    Closed { conn: usize },
    /// The client closed the connection.
    ClientClosed { conn: usize },
}

/// Picks what to do with each complete request.
pub type H2Script = dyn Fn(Req) -> Act + Send + Sync;

/// What every connection task shares.
struct Shared {
    /// Everything the server did, with when.
    log: Mutex<Vec<(Instant, H2Event)>>,
    /// Most streams open at once, per connection.
    peaks: Mutex<Vec<usize>>,
    /// Requests completed so far (the next index).
    requests: Mutex<usize>,
    /// The advertised stream limit (None: none advertised).
    limit: Mutex<Option<u32>>,
    /// Each connection's state, for `set_max_streams`.
    conns: Mutex<Vec<Arc<Mutex<ConnState>>>>,
    /// The script.
    script: Box<H2Script>,
}

impl Shared {
    fn push(&self, e: H2Event) {
        self.log.lock().unwrap().push((Instant::now(), e));
    }
}

/// A running scripted HTTP/2 server.
pub struct H2Server {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Shared with the connection tasks.
    shared: Arc<Shared>,
    /// The accept loop (aborted on drop).
    accept: tokio::task::JoinHandle<()>,
    /// Connection tasks (aborted on drop).
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Drop for H2Server {
    fn drop(&mut self) {
        self.accept.abort();
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl H2Server {
    /// Serves on 127.0.0.1:0, advertising `max_streams` (if any), acting as `script` says.
    pub async fn start(
        max_streams: Option<u32>,
        script: impl Fn(Req) -> Act + Send + Sync + 'static,
    ) -> H2Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            log: Mutex::default(),
            peaks: Mutex::default(),
            requests: Mutex::default(),
            limit: Mutex::new(max_streams),
            conns: Mutex::default(),
            script: Box::new(script),
        });
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (shared, tasks) = (shared.clone(), tasks.clone());
            tokio::spawn(async move {
                let mut conn = 0;
                while let Ok((socket, _)) = listener.accept().await {
                    shared.push(H2Event::Accepted { conn });
                    shared.peaks.lock().unwrap().push(0);
                    let task = tokio::spawn(serve(socket, conn, shared.clone()));
                    tasks.lock().unwrap().push(task);
                    conn += 1;
                }
            })
        };
        H2Server {
            addr,
            shared,
            accept,
            tasks,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<H2Event> {
        let log = self.shared.log.lock().unwrap();
        log.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Every event so far, with its time.
    pub fn timed_events(&self) -> Vec<(Instant, H2Event)> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Most streams open at once on any one connection.
    pub fn peak_open(&self) -> usize {
        let peaks = self.shared.peaks.lock().unwrap();
        peaks.iter().copied().max().unwrap_or(0)
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.shared.peaks.lock().unwrap().len()
    }

    /// Advertises a new stream limit on every open connection (and to later ones).
    pub fn set_max_streams(&self, max_streams: u32) {
        *self.shared.limit.lock().unwrap() = Some(max_streams);
        for state in self.shared.conns.lock().unwrap().iter() {
            let state = state.lock().unwrap();
            let _ = state.out.send(Out::Frame(settings(Some(max_streams))));
            self.shared.push(H2Event::Limit {
                conn: state.conn,
                max_streams,
            });
        }
    }
}

/// What the writer of a connection is asked to do.
enum Out {
    /// Write these bytes.
    Frame(Vec<u8>),
    /// Close the connection.
    Close,
}

/// One connection's state, shared by its reader and its delayed answers.
struct ConnState {
    /// The connection's number.
    conn: usize,
    /// Streams open (opened by the client, not yet answered or reset).
    open: BTreeSet<u32>,
    /// The last-stream-id of the `GOAWAY` sent, if any.
    goaway: Option<u32>,
    /// The writer.
    out: mpsc::UnboundedSender<Out>,
}

impl ConnState {
    /// After a `GOAWAY`: once every stream up to its last-stream-id is answered, close.
    fn close_if_drained(&self, shared: &Shared) {
        if let Some(last) = self.goaway {
            if self.open.iter().all(|s| *s > last) {
                let _ = self.out.send(Out::Close);
                shared.push(H2Event::Closed { conn: self.conn });
            }
        }
    }
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const REFUSED_STREAM: u32 = 0x7;
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A SETTINGS frame advertising `max_streams` (`SETTINGS_MAX_CONCURRENT_STREAMS`, 0x3).
fn settings(max_streams: Option<u32>) -> Vec<u8> {
    let mut payload = Vec::new();
    if let Some(max) = max_streams {
        payload.extend_from_slice(&3u16.to_be_bytes());
        payload.extend_from_slice(&max.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

/// HPACK: a literal header field without indexing, its name from the static table.
fn literal(block: &mut Vec<u8>, name_index: u8, value: &[u8]) {
    if name_index < 15 {
        block.push(name_index);
    } else {
        block.extend_from_slice(&[0x0f, name_index - 15]);
    }
    block.push(value.len() as u8);
    block.extend_from_slice(value);
}

/// The answer's frames: HEADERS (`:status`, content-type, content-length), DATA ending the stream.
fn answer(stream: u32, status: u16) -> Vec<u8> {
    let mut block = Vec::new();
    if status == 200 {
        block.push(0x88); // static table entry 8, `:status: 200`
    } else {
        literal(&mut block, 8, status.to_string().as_bytes());
    }
    literal(&mut block, 31, b"application/json");
    literal(&mut block, 28, CHAT_BODY.len().to_string().as_bytes());
    let mut frames = frame(HEADERS, END_HEADERS, stream, &block);
    frames.extend(frame(DATA, END_STREAM, stream, CHAT_BODY.as_bytes()));
    frames
}

async fn serve(socket: TcpStream, conn: usize, shared: Arc<Shared>) {
    let (mut rd, mut wr) = socket.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Frame(bytes) => {
                    if wr.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Out::Close => {
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        }
    });
    let state = Arc::new(Mutex::new(ConnState {
        conn,
        open: BTreeSet::new(),
        goaway: None,
        out: tx.clone(),
    }));
    shared.conns.lock().unwrap().push(state.clone());
    let mut preface = [0u8; 24];
    if rd.read_exact(&mut preface).await.is_err() || preface != PREFACE {
        shared.push(H2Event::ClientClosed { conn });
        return;
    }
    let limit = *shared.limit.lock().unwrap();
    let _ = tx.send(Out::Frame(settings(limit)));
    read_frames(&mut rd, conn, &shared, &state).await;
    if !writer.is_finished() {
        shared.push(H2Event::ClientClosed { conn });
    }
}

/// Reads frames until the connection ends, acting on each.
async fn read_frames(
    rd: &mut OwnedReadHalf,
    conn: usize,
    shared: &Arc<Shared>,
    state: &Arc<Mutex<ConnState>>,
) {
    loop {
        let mut head = [0u8; 9];
        if rd.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        if rd.read_exact(&mut payload).await.is_err() {
            return;
        }
        let mut st = state.lock().unwrap();
        match kind {
            SETTINGS if flags & ACK == 0 => {
                let _ = st.out.send(Out::Frame(frame(SETTINGS, ACK, 0, &[])));
            }
            PING if flags & ACK == 0 => {
                let _ = st.out.send(Out::Frame(frame(PING, ACK, 0, &payload)));
            }
            HEADERS => {
                if st.goaway.is_some_and(|last| stream > last) {
                    shared.push(H2Event::Unprocessed { conn, stream });
                    continue;
                }
                let limit = *shared.limit.lock().unwrap();
                if limit.is_some_and(|max| st.open.len() >= max as usize) {
                    let _ = st.out.send(Out::Frame(frame(
                        RST_STREAM,
                        0,
                        stream,
                        &REFUSED_STREAM.to_be_bytes(),
                    )));
                    shared.push(H2Event::OverLimit { conn, stream });
                    continue;
                }
                st.open.insert(stream);
                let mut peaks = shared.peaks.lock().unwrap();
                peaks[conn] = peaks[conn].max(st.open.len());
                drop(peaks);
                if flags & END_STREAM != 0 {
                    complete(conn, stream, shared, state, &mut st);
                }
            }
            DATA => {
                if len > 0 {
                    // Give the connection window back, so request bodies never stall.
                    let increment = (len as u32).to_be_bytes();
                    let _ = st
                        .out
                        .send(Out::Frame(frame(WINDOW_UPDATE, 0, 0, &increment)));
                }
                if flags & END_STREAM != 0 && st.open.contains(&stream) {
                    complete(conn, stream, shared, state, &mut st);
                }
            }
            RST_STREAM if st.open.remove(&stream) => {
                shared.push(H2Event::ClientReset { conn, stream });
                st.close_if_drained(shared);
            }
            _ => {}
        }
    }
}

/// A request arrived complete: log it and do what the script says.
fn complete(
    conn: usize,
    stream: u32,
    shared: &Arc<Shared>,
    state: &Arc<Mutex<ConnState>>,
    st: &mut ConnState,
) {
    let index = {
        let mut n = shared.requests.lock().unwrap();
        *n += 1;
        *n - 1
    };
    shared.push(H2Event::Request {
        conn,
        stream,
        index,
    });
    let req = Req {
        conn,
        stream,
        index,
    };
    match (shared.script)(req) {
        Act::Hang => {}
        Act::Refuse => {
            st.open.remove(&stream);
            let code = REFUSED_STREAM.to_be_bytes();
            let _ = st.out.send(Out::Frame(frame(RST_STREAM, 0, stream, &code)));
            shared.push(H2Event::Refused {
                conn,
                stream,
                index,
            });
        }
        Act::GoAway { last } => {
            st.goaway = Some(last);
            let mut payload = last.to_be_bytes().to_vec();
            payload.extend_from_slice(&0u32.to_be_bytes()); // NO_ERROR
            let _ = st.out.send(Out::Frame(frame(GOAWAY, 0, 0, &payload)));
            shared.push(H2Event::GoAway { conn, last });
            let above: Vec<u32> = st.open.iter().copied().filter(|s| *s > last).collect();
            for stream in above {
                st.open.remove(&stream);
                shared.push(H2Event::Unprocessed { conn, stream });
            }
            st.close_if_drained(shared);
        }
        Act::Reply { status, after } => {
            let (shared, state) = (shared.clone(), state.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let mut st = state.lock().unwrap();
                if !st.open.remove(&stream) {
                    return; // reset by the client meanwhile
                }
                let _ = st.out.send(Out::Frame(answer(stream, status)));
                shared.push(H2Event::Replied {
                    conn,
                    stream,
                    index,
                });
                st.close_if_drained(&shared);
            });
        }
    }
}
