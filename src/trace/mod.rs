//! Per-request traces (`--trace FILE`): one JSON line per logical request, written by a thread of its own behind a bounded queue that drops (and counts) rather than wait.
//!
//! A worker copies each finished request into a [`Record`] — the instants the client measured,
//! no formatting — in its own [`TraceTap`]'s batch, and hands full batches (and the rest at
//! each new second and at its end) to a bounded queue with a non-blocking `try_send`. When the
//! queue is full (the disk cannot keep up) the batch is dropped and its records counted: the
//! request path is never slowed. Batches, and a writer that polls the queue instead of
//! sleeping on it, keep the cost per request to a copy: a send per record that had to wake a
//! sleeping writer cost a futex call each, and made tracing 70 % of a request's CPU.
//!
//! The writer thread turns records into lines ([`line`]) and writes them, zstd-compressed
//! when the file name ends in `.zst`. Every run of an invocation writes into the same file; a
//! line's `run` is the index of its run in results.json.

mod line;
mod writer;

use crate::client::{Exchange, Outcome, RetriedAttempt, Tokens};
use std::{
    cell::RefCell,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        mpsc::{self, SyncSender, TrySendError},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// Records per batch a worker hands to the queue.
pub const BATCH: usize = 256;
/// Batches the queue holds before it drops: 32,768 records, about 1.6 s at 20,000 req/s
/// (≈ 7 MB when full: a record is about 200 bytes).
pub const QUEUE_BATCHES: usize = 128;

/// What one run's trace came to, for results.json and the terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraceStats {
    /// Lines written for the run (warm-up requests included, marked `"warmup": true`).
    pub lines: u64,
    /// Requests whose line was dropped because the writer's queue was full.
    pub dropped: u64,
}

/// One finished request, as the worker copied it out of the client's `Exchange`.
#[derive(Debug)]
pub struct Record {
    /// The run it belongs to (index in results.json).
    run: u32,
    /// Inside the warm-up period.
    warmup: bool,
    /// When it was meant to start (latency is measured from here).
    intended: Instant,
    /// How it ended.
    outcome: Outcome,
    /// How the last attempt itself ended.
    last_attempt: Option<Outcome>,
    /// The last attempt's response status.
    status: Option<u16>,
    /// First attempt's send.
    sent: Option<Instant>,
    /// Last attempt's send.
    attempt_sent: Option<Instant>,
    /// End (last byte or giving up).
    finished: Instant,
    /// Pool wait over all attempts.
    pool_wait: Duration,
    /// Dial time of the last new connection.
    connect: Option<Duration>,
    /// Last attempt's send to its response head.
    ttfb: Option<Duration>,
    /// First token of the answering stream.
    first_token: Option<Instant>,
    /// Attempts made.
    attempts: u32,
    /// The attempts retried before the last one.
    retried: Vec<RetriedAttempt>,
    /// Token counts.
    tokens: Option<Tokens>,
    /// Connection of the last attempt.
    conn_id: Option<u64>,
    /// Whether that connection was reused.
    reused: bool,
}

impl Record {
    /// Copies what a trace line shows out of a finished exchange.
    fn of(run: u32, intended: Instant, ex: &Exchange, warmup: bool) -> Record {
        Record {
            run,
            warmup,
            intended,
            outcome: ex.outcome,
            last_attempt: ex.last_attempt,
            status: ex.status,
            sent: ex.sent,
            attempt_sent: ex.attempt_sent,
            finished: ex.finished,
            pool_wait: ex.pool_wait,
            connect: ex.connect,
            ttfb: ex.ttfb,
            first_token: ex.stream.as_ref().and_then(|s| s.first_token),
            attempts: ex.attempts,
            // Empty (no allocation) unless the request was retried.
            retried: ex.retried.clone(),
            tokens: ex.tokens,
            conn_id: ex.conn_id,
            reused: ex.reused,
        }
    }
}

/// Who a run is, as every one of its lines says.
#[derive(Clone, Debug)]
pub struct RunLabels {
    /// Target name.
    pub target: String,
    /// Variant name.
    pub variant: String,
}

/// What the workers send to the writer.
enum Message {
    /// A run starts: its labels and its time zero (offsets in its lines count from here).
    Run {
        run: u32,
        labels: RunLabels,
        origin: Instant,
    },
    /// Finished requests.
    Lines(Vec<Record>),
}

/// The trace file of one invocation and the thread that writes it.
pub struct TraceSink {
    /// The queue to the writer.
    tx: SyncSender<Message>,
    /// The writer; returns lines written per run.
    writer: JoinHandle<Result<Vec<u64>, String>>,
    /// Requests dropped at the full queue, per run.
    dropped: Mutex<Vec<Arc<AtomicU64>>>,
    /// The file, for messages.
    path: PathBuf,
}

impl TraceSink {
    /// Creates (truncates) `path` and starts the writer. Fails — before any load — when the
    /// file cannot be created.
    pub fn create(path: &Path) -> Result<TraceSink, String> {
        let output = writer::Output::create(path)
            .map_err(|e| format!("--trace {}: cannot create: {e}", path.display()))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE_BATCHES);
        let writer = std::thread::Builder::new()
            .name("relaybench-trace".into())
            .spawn(move || writer::write_all(output, rx))
            .map_err(|e| format!("--trace: cannot start the writer thread: {e}"))?;
        Ok(TraceSink {
            tx,
            writer,
            dropped: Mutex::new(Vec::new()),
            path: path.to_path_buf(),
        })
    }

    /// A tap for the next run (numbered in the order taps are made: the order of results.json).
    pub fn tap(&self, labels: RunLabels) -> TraceTap {
        let mut dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        let counter = Arc::new(AtomicU64::new(0));
        dropped.push(counter.clone());
        TraceTap {
            tx: self.tx.clone(),
            run: (dropped.len() - 1) as u32,
            labels: Arc::new(labels),
            dropped: counter,
            batch: RefCell::new(Vec::new()),
        }
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the writer to write every queued line and close the file; returns each
    /// run's figures in run order.
    pub fn finish(self) -> Result<Vec<TraceStats>, String> {
        let TraceSink {
            tx,
            writer,
            dropped,
            path,
        } = self;
        drop(tx);
        let lines = writer
            .join()
            .map_err(|_| format!("--trace {}: the writer thread panicked", path.display()))?
            .map_err(|e| format!("--trace {}: {e}", path.display()))?;
        let dropped = dropped.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(dropped
            .iter()
            .enumerate()
            .map(|(run, d)| TraceStats {
                lines: lines.get(run).copied().unwrap_or(0),
                dropped: d.load(Relaxed),
            })
            .collect())
    }
}

/// One run's entrance to the trace queue; each worker has its own clone, with its own batch
/// (sent when full, at [`TraceTap::flush`], and when the tap is dropped).
pub struct TraceTap {
    /// The queue to the writer.
    tx: SyncSender<Message>,
    /// This run's number.
    run: u32,
    /// This run's labels (sent once, at [`TraceTap::begin`]).
    labels: Arc<RunLabels>,
    /// Records dropped at the full queue.
    dropped: Arc<AtomicU64>,
    /// Records not yet handed to the queue.
    batch: RefCell<Vec<Record>>,
}

impl Clone for TraceTap {
    /// The same run's tap with an empty batch of its own.
    fn clone(&self) -> TraceTap {
        TraceTap {
            tx: self.tx.clone(),
            run: self.run,
            labels: self.labels.clone(),
            dropped: self.dropped.clone(),
            batch: RefCell::new(Vec::new()),
        }
    }
}

impl Drop for TraceTap {
    fn drop(&mut self) {
        self.flush();
    }
}

impl TraceTap {
    /// Tells the writer the run starts at `origin` (waits for room: it happens once, before load).
    pub fn begin(&self, origin: Instant) {
        let _ = self.tx.send(Message::Run {
            run: self.run,
            labels: (*self.labels).clone(),
            origin,
        });
    }

    /// Adds one finished request to the batch; a full batch goes to the queue.
    pub fn offer(&self, intended: Instant, exchange: &Exchange, warmup: bool) {
        let full = {
            let mut batch = self.batch.borrow_mut();
            if batch.capacity() == 0 {
                batch.reserve_exact(BATCH);
            }
            batch.push(Record::of(self.run, intended, exchange, warmup));
            batch.len() >= BATCH
        };
        if full {
            self.flush();
        }
    }

    /// Hands the batch to the queue, or drops and counts it when the queue is full.
    pub fn flush(&self) {
        let batch = std::mem::take(&mut *self.batch.borrow_mut());
        if batch.is_empty() {
            return;
        }
        match self.tx.try_send(Message::Lines(batch)) {
            Ok(()) => {}
            Err(TrySendError::Full(Message::Lines(lost)))
            | Err(TrySendError::Disconnected(Message::Lines(lost))) => {
                self.dropped.fetch_add(lost.len() as u64, Relaxed);
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // A queue of two batches that nobody drains: a blocking send would hang this test.
        let (tx, rx) = mpsc::sync_channel(2);
        let tap = TraceTap {
            tx,
            run: 0,
            labels: Arc::new(RunLabels {
                target: "t".into(),
                variant: "v".into(),
            }),
            dropped: Arc::new(AtomicU64::new(0)),
            batch: RefCell::new(Vec::new()),
        };
        let ex = Exchange::unsent(Outcome::Ok, Instant::now());
        for _ in 0..(4 * BATCH + 3) {
            tap.offer(Instant::now(), &ex, false);
        }
        assert_eq!(tap.batch.borrow().len(), 3, "the rest waits in the batch");
        tap.flush();
        assert_eq!(tap.dropped.load(Relaxed), 2 * BATCH as u64 + 3);
        assert_eq!(rx.try_iter().count(), 2);
    }

    #[test]
    fn lines_are_counted_per_run_and_drops_per_tap() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TraceSink::create(&dir.path().join("t.jsonl")).unwrap();
        let origin = Instant::now();
        let taps: Vec<TraceTap> = ["a", "b"]
            .iter()
            .map(|v| {
                sink.tap(RunLabels {
                    target: "t".into(),
                    variant: v.to_string(),
                })
            })
            .collect();
        for (n, tap) in taps.iter().enumerate() {
            tap.begin(origin);
            let ex = Exchange::unsent(Outcome::Status(503), origin + Duration::from_millis(7));
            for _ in 0..=n {
                tap.offer(origin + Duration::from_millis(2), &ex, false);
            }
        }
        drop(taps);
        let stats = sink.finish().unwrap();
        assert_eq!(
            stats,
            [
                TraceStats {
                    lines: 1,
                    dropped: 0
                },
                TraceStats {
                    lines: 2,
                    dropped: 0
                }
            ]
        );
        let text = std::fs::read_to_string(dir.path().join("t.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["variant"], "a");
        assert_eq!(first["outcome"], "status_503");
        assert_eq!(first["intended_ms"], 2.0);
        assert_eq!(first["end_ms"], 7.0);
        assert_eq!(first["latency_ms"], 5.0);
        assert_eq!(first["send_ms"], serde_json::Value::Null);
    }
}
