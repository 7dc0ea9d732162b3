//! Async sleeps that end within a few tens of microseconds of their deadline, for runtimes whose timer ticks in milliseconds.
//!
//! tokio's timer wheel rounds every deadline up to the next 1 ms tick, so a 50 ms sleep
//! lasts 50–51 ms and an open-model arrival starts up to a millisecond late. A load
//! generator that measures latency from the intended start, and a mock that promises an
//! exact injected latency, both need better. `sleep_until` sleeps on tokio's timer until
//! about 2 ms before the deadline (cheap, no extra thread involved), then hands the last
//! stretch to one shared timer thread that parks with a nanosecond timeout (a futex wait
//! on Linux) and wakes the task at the deadline. One thread serves every sleeper; wakes
//! that fall together are batched.
//!
//! Written here rather than taken from a crate: the well-kept timer crates either tick in
//! milliseconds too (tokio, async-io's reactor granularity) or spin a core (spin_sleep),
//! which a mock holding thousands of delayed connections cannot afford.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    task::{Context, Poll, Waker},
    thread::Thread,
    time::{Duration, Instant},
};

/// How long before the deadline the coarse tokio sleep ends and the precise thread takes over.
const HANDOVER: Duration = Duration::from_millis(2);

/// Sleeps until `deadline`, ending within tens of microseconds after it (never before).
pub async fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    if deadline - now > HANDOVER {
        tokio::time::sleep_until((deadline - HANDOVER).into()).await;
    }
    Precise {
        deadline,
        entry: None,
    }
    .await
}

/// Sleeps for `duration` (see [`sleep_until`]).
pub async fn sleep(duration: Duration) {
    if !duration.is_zero() {
        sleep_until(Instant::now() + duration).await;
    }
}

/// One registered wake-up.
struct Entry {
    /// Set by the timer thread when the deadline has passed.
    fired: AtomicBool,
    /// The task to wake.
    waker: Mutex<Option<Waker>>,
}

/// The final, precise part of a sleep.
struct Precise {
    deadline: Instant,
    entry: Option<Arc<Entry>>,
}

impl Future for Precise {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.entry {
            Some(entry) => {
                if entry.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                *entry.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                // The thread may have fired between the check and storing the waker.
                if entry.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
            }
            None => {
                let entry = Arc::new(Entry {
                    fired: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                timer().register(self.deadline, entry.clone());
                self.entry = Some(entry);
            }
        }
        Poll::Pending
    }
}

/// The shared timer thread and its queue of deadlines.
struct Timer {
    queue: Mutex<BinaryHeap<Reverse<Queued>>>,
    thread: Thread,
}

/// A deadline in the queue.
struct Queued {
    deadline: Instant,
    entry: Arc<Entry>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.deadline.cmp(&other.deadline)
    }
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let handle = std::thread::Builder::new()
            .name("precise-sleep".into())
            .spawn(run)
            .expect("the precise-sleep timer thread can be spawned");
        Timer {
            queue: Mutex::new(BinaryHeap::new()),
            thread: handle.thread().clone(),
        }
    })
}

impl Timer {
    fn register(&self, deadline: Instant, entry: Arc<Entry>) {
        let earliest = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let earliest = q
                .peek()
                .is_none_or(|Reverse(first)| deadline < first.deadline);
            q.push(Reverse(Queued { deadline, entry }));
            earliest
        };
        if earliest {
            self.thread.unpark();
        }
    }
}

/// The timer thread: park until the earliest deadline, wake everything due.
fn run() {
    let timer = timer();
    loop {
        let mut due = Vec::new();
        let wait = {
            let mut q = timer.queue.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            while q.peek().is_some_and(|Reverse(first)| first.deadline <= now) {
                if let Some(Reverse(item)) = q.pop() {
                    due.push(item.entry);
                }
            }
            q.peek().map(|Reverse(first)| first.deadline - now)
        };
        for entry in due {
            entry.fired.store(true, Ordering::Release);
            if let Some(w) = entry.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
                w.wake();
            }
        }
        match wait {
            Some(d) => std::thread::park_timeout(d),
            None => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn never_early_and_close_to_the_deadline() {
        let mut overshoots = Vec::new();
        for i in 0..50u64 {
            let deadline = Instant::now() + Duration::from_micros(3_000 + i * 137);
            sleep_until(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline, "woke before the deadline");
            overshoots.push(now - deadline);
        }
        overshoots.sort();
        // Generous bound for a loaded CI machine; tokio alone overshoots by ~0.5 ms on average.
        assert!(
            overshoots[25] < Duration::from_micros(400),
            "median overshoot {:?}",
            overshoots[25]
        );
    }

    #[tokio::test]
    async fn many_concurrent_sleepers_all_wake() {
        let start = Instant::now();
        let tasks: Vec<_> = (0..1000u64)
            .map(|i| {
                tokio::spawn(sleep_until(
                    start + Duration::from_micros(1000 + (i % 50) * 100),
                ))
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(start.elapsed() >= Duration::from_micros(5900));
    }
}
