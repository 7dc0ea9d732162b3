//! The trace writer thread: receives records, formats each as a JSON line, writes them (zstd-compressed for a `.zst` file).

use super::{line::Line, Message, RunLabels};
use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
    sync::mpsc::{Receiver, TryRecvError},
    time::{Duration, Instant},
};

/// zstd level: the library's default, which keeps up with far more than 20,000 lines/s on one core.
const ZSTD_LEVEL: i32 = 3;

/// The file, plain or compressed.
pub(super) enum Output {
    /// JSON lines as they are.
    Plain(BufWriter<File>),
    /// A zstd frame of JSON lines.
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl Output {
    /// Creates `path`, compressed when its name ends in `.zst`.
    pub(super) fn create(path: &Path) -> io::Result<Output> {
        let file = BufWriter::with_capacity(256 * 1024, File::create(path)?);
        let zst = path.extension().is_some_and(|e| e == "zst");
        Ok(if zst {
            Output::Zstd(zstd::Encoder::new(file, ZSTD_LEVEL)?)
        } else {
            Output::Plain(file)
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Plain(w) => w,
            Output::Zstd(w) => w,
        }
    }

    /// Flushes everything and closes the zstd frame.
    fn finish(self) -> io::Result<()> {
        match self {
            Output::Plain(mut w) => w.flush(),
            Output::Zstd(w) => w.finish()?.flush(),
        }
    }
}

/// How long the writer sleeps when the queue is empty. It polls rather than waits on the
/// queue: a waiting receiver must be woken by the sender (a system call on the request path).
const POLL: Duration = Duration::from_millis(5);

/// The next message, polling; None once every sender is gone and the queue is empty.
fn next(rx: &Receiver<Message>) -> Option<Message> {
    loop {
        match rx.try_recv() {
            Ok(m) => return Some(m),
            Err(TryRecvError::Empty) => std::thread::sleep(POLL),
            Err(TryRecvError::Disconnected) => return None,
        }
    }
}

/// Writes every message until all senders are gone; returns the lines written per run.
pub(super) fn write_all(mut output: Output, rx: Receiver<Message>) -> Result<Vec<u64>, String> {
    let mut runs: Vec<Option<(RunLabels, Instant)>> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut buffer = Vec::with_capacity(256 * 1024);
    let mut failed: Option<io::Error> = None;
    while let Some(message) = next(&rx) {
        match message {
            Message::Run {
                run,
                labels,
                origin,
            } => {
                let i = run as usize;
                if runs.len() <= i {
                    runs.resize_with(i + 1, || None);
                    lines.resize(i + 1, 0);
                }
                runs[i] = Some((labels, origin));
            }
            Message::Lines(records) => {
                // After a write error the queue is still drained, so that no worker waits on it.
                if failed.is_some() {
                    continue;
                }
                let Some(run) = records.first().map(|r| r.run as usize) else {
                    continue;
                };
                let Some(Some((labels, origin))) = runs.get(run) else {
                    continue;
                };
                buffer.clear();
                for record in &records {
                    // Serializing plain numbers and strings into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut buffer, &Line::of(record, labels, *origin));
                    buffer.push(b'\n');
                }
                match output.writer().write_all(&buffer) {
                    Ok(()) => lines[run] += records.len() as u64,
                    Err(e) => failed = Some(e),
                }
            }
        }
    }
    let closed = output.finish();
    match failed.map_or(closed, Err) {
        Ok(()) => Ok(lines),
        Err(e) => Err(format!(
            "writing failed after {} lines: {e}",
            lines.iter().sum::<u64>()
        )),
    }
}
