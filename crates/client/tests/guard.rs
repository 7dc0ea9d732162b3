//! The attempt guard: asked before every attempt that could reach the upstream (retries included, after the breaker), told what each one used; against scripted upstreams that count what they received.

mod support;

use relaybench_client::units::Dur;
use relaybench_client::{
    AttemptGuard, AttemptUse, Client, ClientSettings, Origin, Outcome, Refused, RetryReason,
};
use std::sync::{
    atomic::{AtomicU64, Ordering::SeqCst},
    Arc, Mutex,
};
use support::scripted::{Reply, Scripted};
use support::{chat, fast_backoff, quiet};

/// A `max_requests` cap shared by every request, as the load layer's spend guard keeps one;
/// each logical request holds its own `Counting` value.
#[derive(Default)]
struct Cap {
    /// Attempts the guard admitted.
    admitted: AtomicU64,
    /// What settled attempts reported.
    settled: Mutex<Vec<AttemptUse>>,
}

struct Counting {
    cap: Arc<Cap>,
    max: u64,
}

impl AttemptGuard for Counting {
    fn admit(&mut self) -> Result<(), String> {
        if self.cap.admitted.fetch_add(1, SeqCst) >= self.max {
            self.cap.admitted.fetch_sub(1, SeqCst);
            return Err(format!("max_requests = {} reached", self.max));
        }
        Ok(())
    }

    fn settle(&mut self, used: &AttemptUse) {
        self.cap.settled.lock().unwrap().push(*used);
    }
}

fn client_for(server: &Scripted, settings: ClientSettings) -> Client {
    Client::new(Origin::parse(&server.url()).unwrap(), settings).unwrap()
}

fn retrying() -> ClientSettings {
    let mut s = quiet();
    s.retry.max_retries = 3;
    fast_backoff(&mut s);
    s
}

const COMPLETION: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_counts_every_attempt_the_upstream_received_retries_included() {
    // An upstream in outage: every attempt is a 503, and every request retries it 3 times.
    let server =
        Scripted::start(|_, _| Some(Reply::status(503, &[], b"{\"error\":\"down\"}"))).await;
    let client = client_for(&server, retrying());
    let cap = Arc::new(Cap::default());
    let max = 50;
    // Four concurrent request loops share the cap, each stopping at its first refusal. (Joined
    // in one task: the guard is a `&mut dyn AttemptGuard`, so the request future is not `Send`;
    // the load layer runs requests on a `LocalSet`.)
    let one_loop = || async {
        let spec = chat();
        let mut ended = Vec::new();
        loop {
            let mut guard = Counting {
                cap: cap.clone(),
                max,
            };
            match client.execute_guarded(&spec, &mut guard).await {
                Ok(ex) => ended.push(ex),
                Err(Refused { why }) => return (ended, why),
            }
        }
    };
    let loops = tokio::join!(one_loop(), one_loop(), one_loop(), one_loop());
    let mut exchanges = Vec::new();
    for (ended, why) in [loops.0, loops.1, loops.2, loops.3] {
        assert_eq!(why, "max_requests = 50 reached");
        exchanges.extend(ended);
    }
    // The server's own count is the guard's, and never above the cap.
    assert_eq!(server.request_count() as u64, cap.admitted.load(SeqCst));
    assert_eq!(server.request_count(), max as usize);
    let settled = cap.settled.lock().unwrap().clone();
    assert_eq!(
        settled.len(),
        max as usize,
        "every admitted attempt settled"
    );
    assert!(settled
        .iter()
        .all(|u| u.sent && u.outcome == Outcome::Status(503) && u.tokens.is_none()));
    // Attempts per request add up to what was sent; a request whose retry was refused keeps
    // its last attempt's outcome and says which guard refused.
    assert_eq!(
        exchanges
            .iter()
            .map(|ex| ex.attempts as usize)
            .sum::<usize>(),
        server.request_count()
    );
    assert!(exchanges
        .iter()
        .all(|ex| ex.outcome == Outcome::Status(503)));
    let cut: Vec<_> = exchanges.iter().filter(|ex| ex.attempts < 4).collect();
    assert!(!cut.is_empty(), "50 is not a multiple of 4 attempts");
    for ex in cut {
        assert_eq!(ex.retries.len() as u32, ex.attempts - 1);
        let detail = ex.detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("retry refused by the attempt guard: max_requests = 50 reached"),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn the_guard_is_told_what_each_attempt_used() {
    // A 503, then a completion with usage; then nothing listens (a refused connection).
    let server = Scripted::replies(vec![
        Reply::status(503, &["retry-after: 0"], b"busy"),
        Reply::json(COMPLETION),
    ])
    .await;
    let client = client_for(&server, retrying());
    let cap = Arc::new(Cap::default());
    let mut guard = Counting {
        cap: cap.clone(),
        max: 10,
    };
    let ex = client.execute_guarded(&chat(), &mut guard).await.unwrap();
    assert_eq!(ex.outcome, Outcome::Ok, "{:?}", ex.detail);
    assert_eq!(ex.retries, vec![RetryReason::Status(503)]);
    let settled = cap.settled.lock().unwrap().clone();
    assert_eq!(settled.len(), 2);
    assert_eq!(
        (settled[0].sent, settled[0].outcome, settled[0].tokens),
        (true, Outcome::Status(503), None)
    );
    assert_eq!((settled[1].sent, settled[1].outcome), (true, Outcome::Ok));
    let tokens = settled[1].tokens.expect("usage");
    assert_eq!(
        (tokens.input, tokens.output, tokens.from_usage),
        (7, 2, true)
    );
    assert_eq!(server.request_count(), 2);

    // Nothing listening: the attempt made no connection, so nothing can be billed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut s = quiet();
    s.timeouts.connect = Dur::secs(2);
    let refused = Client::new(
        Origin::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        s,
    )
    .unwrap();
    let cap = Arc::new(Cap::default());
    let mut guard = Counting {
        cap: cap.clone(),
        max: 10,
    };
    let ex = refused.execute_guarded(&chat(), &mut guard).await.unwrap();
    assert_eq!(ex.outcome, Outcome::ConnectError);
    let settled = cap.settled.lock().unwrap().clone();
    assert_eq!(settled.len(), 1);
    assert!(!settled[0].sent, "no connection, nothing sent");
}

#[tokio::test]
async fn the_breaker_is_asked_before_the_guard() {
    // One 503 opens the circuit (threshold 1); then every request is circuit_open, costs no
    // spend, and reaches nothing.
    let server = Scripted::start(|_, _| Some(Reply::status(503, &[], b"down"))).await;
    let mut s = quiet();
    s.breaker.enabled = true;
    s.breaker.failure_threshold = 1;
    s.breaker.recovery_timeout = Dur::secs(60);
    let client = client_for(&server, s);
    let cap = Arc::new(Cap::default());
    for expected in [
        Outcome::Status(503),
        Outcome::CircuitOpen,
        Outcome::CircuitOpen,
    ] {
        let mut guard = Counting {
            cap: cap.clone(),
            max: 10,
        };
        let ex = client.execute_guarded(&chat(), &mut guard).await.unwrap();
        assert_eq!(ex.outcome, expected);
    }
    assert_eq!(
        cap.admitted.load(SeqCst),
        1,
        "only the sent attempt was admitted"
    );
    assert_eq!(server.request_count(), 1);
    // A first attempt the guard refuses is no outcome: nothing was sent.
    let mut spent = Counting {
        cap: Arc::new(Cap::default()),
        max: 0,
    };
    let healthy = Scripted::start(|_, _| Some(Reply::json(COMPLETION))).await;
    let refused = client_for(&healthy, quiet())
        .execute_guarded(&chat(), &mut spent)
        .await
        .unwrap_err();
    assert_eq!(refused.why, "max_requests = 0 reached");
    assert_eq!(healthy.request_count(), 0);
}
