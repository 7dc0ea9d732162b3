//! The floor under any streaming benchmark on this machine: the same socket work as a
//! streamed chat (one HTTP/1.1 request, then a chunked reply of one small write per token on
//! the schedule the LLM benchmark uses) with nothing else — no HTTP library, no SSE or JSON,
//! no metrics. What its two processes cost per request is what the kernel's loopback path
//! and the runtime's polling cost; `bench/llm/run.sh` prints it beside the real tools.
//!
//! ```text
//! stream_floor serve ADDR                       # one thread, like `relaybench mock --workers 1`
//! stream_floor load ADDR STREAMS SECONDS        # closed loop; prints one JSON line:
//!     {"completed": N, "completed_in_time": N, "failed": N, "measured_seconds": S}
//! ```
//!
//! Loopback only (the bench passes 127.0.0.1); `load` stops by itself after SECONDS and the
//! streams it has open, and `serve` runs until its process is ended.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The stream's schedule (as `bench/llm/run.sh` sets the mock): first token at 50 ms, then a
/// token every 10 ms, 64 in all.
const TTFT: Duration = Duration::from_millis(50);
const GAP: Duration = Duration::from_millis(10);
const TOKENS: usize = 64;

/// A token event in the shape (and so of the size) the mock sends, as one HTTP/1.1 chunk (the
/// size line, the event, CRLF).
fn token_frame() -> Vec<u8> {
    let event = concat!(
        "data: {\"id\":\"chatcmpl-7b6caec864af17ba\",\"object\":\"chat.completion.chunk\",",
        "\"created\":1796249346,\"model\":\"mock-1\",\"system_fingerprint\":\"fp_mock\",",
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" server\"},\"logprobs\":null,",
        "\"finish_reason\":null}]}\n\n"
    );
    chunk(event.as_bytes())
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

const HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
const BODY: &str = r#"{"model":"mock-1","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"Write a short story about a lighthouse keeper."}]}"#;

/// The request every stream sends: [`BODY`] with its head.
fn request() -> Vec<u8> {
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        BODY.len()
    );
    [head.as_bytes(), BODY.as_bytes()].concat()
}

/// Reads one request (its head and body); false when the peer closed.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut tmp = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if buf.len() >= end + 4 + BODY.len() {
                return true;
            }
        }
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// One connection: each request gets the head at once, then each token as its own write at
/// its due time (due from the previous one's due time, as the mock does), then the ending.
async fn serve_conn(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let token = token_frame();
    let mut end = chunk(b"data: [DONE]\n\n");
    end.extend_from_slice(b"0\r\n\r\n");
    let mut buf = Vec::with_capacity(1024);
    while read_request(&mut sock, &mut buf).await {
        let start = tokio::time::Instant::now();
        if sock.write_all(HEAD).await.is_err() {
            return;
        }
        let mut due = start + TTFT;
        for _ in 0..TOKENS {
            tokio::time::sleep_until(due).await;
            if sock.write_all(&token).await.is_err() {
                return;
            }
            due += GAP;
        }
        if sock.write_all(&end).await.is_err() {
            return;
        }
    }
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (sock, _) = listener.accept().await?;
        tokio::spawn(serve_conn(sock));
    }
}

/// Streams completed, and users that ended on an error (a refused connect, a reply cut short).
#[derive(Default)]
struct Counts {
    done: AtomicU64,
    failed: AtomicU64,
}

/// One closed-loop user: a request, then reads (one per arrival, as a streaming client must
/// to time each token) until the reply's last chunk, until `stop`.
async fn user(addr: SocketAddr, stop: Arc<AtomicBool>, counts: Arc<Counts>) {
    if stream_until(addr, &stop, &counts.done).await.is_err() {
        counts.failed.fetch_add(1, Ordering::Relaxed);
    }
}

async fn stream_until(
    addr: SocketAddr,
    stop: &AtomicBool,
    done: &AtomicU64,
) -> std::io::Result<()> {
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let request = request();
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        sock.write_all(&request).await?;
        // The reply ends with "[DONE]" and the last chunk; keep the tail of what came.
        let mut tail = [0u8; 8];
        loop {
            match sock.read(&mut buf).await? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    let k = n.min(tail.len());
                    tail.copy_within(k.., 0);
                    tail[8 - k..].copy_from_slice(&buf[n - k..n]);
                    if tail.ends_with(b"\n0\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

async fn load(addr: SocketAddr, streams: usize, seconds: f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let users: Vec<_> = (0..streams)
        .map(|_| tokio::spawn(user(addr, stop.clone(), counts.clone())))
        .collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let counted = counts.done.load(Ordering::Relaxed);
    let measured = started.elapsed().as_secs_f64();
    // Bounded: a stream lasts 0.69 s; the users still in one finish it and stop.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        for u in users {
            let _ = u.await;
        }
    })
    .await;
    println!(
        "{{\"completed\": {}, \"completed_in_time\": {counted}, \"failed\": {}, \"measured_seconds\": {measured:.3}}}",
        counts.done.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed)
    );
}

/// Says how to call it and exits 2.
fn usage() -> ! {
    eprintln!("usage: stream_floor serve ADDR | stream_floor load ADDR STREAMS SECONDS");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(Ok(addr)) = args.get(2).map(|a| a.parse::<SocketAddr>()) else {
        usage()
    };
    if !addr.ip().is_loopback() {
        eprintln!("stream_floor runs on loopback only");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match (args[1].as_str(), args.get(3), args.get(4)) {
        ("serve", None, None) => {
            if let Err(e) = rt.block_on(serve(addr)) {
                eprintln!("stream_floor serve: {e}");
                std::process::exit(2);
            }
        }
        ("load", Some(n), Some(s)) => match (n.parse(), s.parse()) {
            (Ok(n), Ok(s)) => rt.block_on(load(addr, n, s)),
            _ => usage(),
        },
        _ => usage(),
    }
}
