//! `Pacer`: the one timer every stream of a server waits on — a queue of (due time, waker)
//! and a task that sleeps precisely until the earliest entry and then wakes every stream due
//! by then in one pass.
//!
//! A stream's next token is one wake: the ticker's. Before, each token cost a coarse tokio
//! sleep, a hand-over to the precise-sleep thread and a cross-thread wake from it (on a
//! current-thread runtime a write to the runtime's eventfd per token), then a channel send
//! that woke the connection's task again. Here the precise sleep is paid once per batch of
//! due streams, and the streams are woken from the ticker, on the runtime's own thread.
//!
//! The ticker is spawned by the first registration and ends when the queue is empty, so an
//! idle server (or one that has stopped) holds no task. Entries of streams that went away stay
//! until they fall due; waking a finished task does nothing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Shortest time between two passes of the ticker. Streams due inside it are woken together
/// in the next pass (at most this late); a pass costs a precise sleep, so a floor on their
/// spacing bounds the cost of thousands of streams whose tokens fall microseconds apart.
const MIN_PASS_GAP: Duration = Duration::from_micros(200);

/// One stream waiting for its next token.
struct Entry {
    due: Instant,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

/// What the lock guards.
#[derive(Default)]
struct Queue {
    /// Waiting streams, earliest first.
    heap: BinaryHeap<Reverse<Entry>>,
    /// A ticker task is running (it clears this itself when it finds the queue empty).
    running: bool,
    /// When the ticker's current sleep ends, the earliest the next pass may be (the last pass
    /// plus [`MIN_PASS_GAP`]), and its waker: a registration it should serve sooner wakes it.
    sleeping: Option<(Instant, Instant, Waker)>,
}

/// The timer of one server's streams (in `Shared`).
#[derive(Default)]
pub(crate) struct Pacer {
    queue: Mutex<Queue>,
}

impl Pacer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes `waker` at `due` (never before it). Must be called on a tokio runtime: the first
    /// registration after an idle spell spawns the ticker there.
    pub(crate) fn wake_at(self: &Arc<Self>, due: Instant, waker: &Waker) {
        let mut q = self.lock();
        q.heap.push(Reverse(Entry {
            due,
            waker: waker.clone(),
        }));
        if !q.running {
            q.running = true;
            drop(q);
            tokio::spawn(tick(self.clone()));
            return;
        }
        let wake = match &q.sleeping {
            Some((until, floor, _)) if due.max(*floor) < *until => {
                q.sleeping.take().map(|(_, _, w)| w)
            }
            _ => None,
        };
        drop(q);
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Wakes every stream due by now; returns when the next pass should be and the earliest it
    /// may be, or `None` (and marks the ticker stopped) when nothing waits.
    fn pass(&self, woken: &mut Vec<Waker>) -> Option<(Instant, Instant)> {
        let now = Instant::now();
        let next = {
            let mut q = self.lock();
            while let Some(Reverse(e)) = q.heap.peek() {
                if e.due > now {
                    break;
                }
                if let Some(Reverse(e)) = q.heap.pop() {
                    woken.push(e.waker);
                }
            }
            let next = q.heap.peek().map(|Reverse(e)| e.due);
            if next.is_none() {
                q.running = false;
            }
            next
        };
        // Woken outside the lock: a woken stream may register again at once (on another worker).
        for w in woken.drain(..) {
            w.wake();
        }
        let floor = now + MIN_PASS_GAP;
        next.map(|due| (due.max(floor), floor))
    }
}

/// The ticker: a pass, a precise sleep until the next one (cut short when a stream due sooner
/// registers), until the queue is empty.
async fn tick(pacer: Arc<Pacer>) {
    let mut woken = Vec::new();
    while let Some((until, floor)) = pacer.pass(&mut woken) {
        let sleep = precise_sleep::sleep_until(until);
        tokio::pin!(sleep);
        std::future::poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut q = pacer.lock();
            if q.heap
                .peek()
                .is_some_and(|Reverse(e)| e.due.max(floor) < until)
            {
                // Registered while this task was not yet sleeping: go round now.
                return Poll::Ready(());
            }
            q.sleeping = Some((until, floor, cx.waker().clone()));
            Poll::Pending
        })
        .await;
        pacer.lock().sleeping = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::Context;

    /// Waits on the pacer until `due`.
    struct Wait {
        pacer: Arc<Pacer>,
        due: Instant,
        registered: bool,
    }

    impl Future for Wait {
        type Output = Instant;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
            let now = Instant::now();
            if now >= self.due {
                return Poll::Ready(now);
            }
            if !self.registered {
                self.registered = true;
                self.pacer.wake_at(self.due, cx.waker());
            }
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn wakes_each_waiter_at_or_just_after_its_time_and_then_stops() {
        let pacer = Arc::new(Pacer::default());
        let start = Instant::now();
        // Registered out of order, some sooner than the ticker's current sleep.
        let offsets = [30u64, 5, 20, 5, 1, 12, 40, 2];
        let waits: Vec<_> = offsets
            .iter()
            .map(|ms| {
                let w = Wait {
                    pacer: pacer.clone(),
                    due: start + Duration::from_millis(*ms),
                    registered: false,
                };
                tokio::spawn(async move {
                    let due = w.due;
                    (due, w.await)
                })
            })
            .collect();
        for w in waits {
            let (due, woke) = w.await.unwrap();
            assert!(woke >= due);
            // Loose: a busy CI machine can delay a wake by milliseconds.
            assert!(woke - due < Duration::from_millis(50), "{:?}", woke - due);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let q = pacer.lock();
        assert!(q.heap.is_empty() && !q.running, "the ticker ends when idle");
    }
}
