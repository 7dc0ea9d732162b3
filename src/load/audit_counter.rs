//! The usage audit's token counting, on one thread of the process's own instead of the generator's worker threads.
//!
//! Counting an answer's tokens takes BPE work proportional to its length. On a worker's thread
//! it would delay that thread's other streams, whose tokens are timed as their bytes are read.
//! On tokio's blocking pool it started a thread per concurrently ending answer (about fifty at
//! 256 streams on 2 cores), all competing with the workers for the cores. One thread takes the
//! answers in turn: counting competes with the workers for one core at most, and a request's
//! record waits for its count, never its timing.

use crate::client::AnswerText;
use relaybench_tokens::Encoding;
use std::sync::{mpsc, OnceLock};
use tokio::sync::oneshot;

/// An answer to count, and where its text and counts go back.
struct Job {
    encoding: Encoding,
    text: Box<AnswerText>,
    done: oneshot::Sender<(Box<AnswerText>, Counted)>,
}

/// Tokens of an answer, its reasoning included, and of the reasoning alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub completion: u32,
    pub reasoning: u32,
}

/// The counting thread's queue, started on first use; the thread lives as long as the process.
fn queue() -> Option<&'static mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("relaybench-audit-count".into())
                .spawn(move || {
                    for job in rx {
                        let _ = job.done.send(count_now(job.encoding, job.text));
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Counts `text` with `encoding` on the counting thread and hands the text back with its
/// counts; here, when that thread could not be started. `None` if the thread died mid-count.
pub async fn count(
    encoding: Encoding,
    text: Box<AnswerText>,
) -> Option<(Box<AnswerText>, Counted)> {
    let (done, counted) = oneshot::channel();
    let job = Job {
        encoding,
        text,
        done,
    };
    let Some(queue) = queue() else {
        return Some(count_now(job.encoding, job.text));
    };
    match queue.send(job) {
        Ok(()) => counted.await.ok(),
        Err(mpsc::SendError(job)) => Some(count_now(job.encoding, job.text)),
    }
}

fn count_now(encoding: Encoding, text: Box<AnswerText>) -> (Box<AnswerText>, Counted) {
    let reasoning = encoding.count(&text.reasoning);
    let completion = encoding.count(&text.answer) + reasoning;
    (
        text,
        Counted {
            completion,
            reasoning,
        },
    )
}
