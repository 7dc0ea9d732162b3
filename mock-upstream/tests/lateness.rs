//! The mock's own lateness (`lateness` in `/_mock/stats`, `MockHandle::lateness`): one record
//! per timed send, small on a lightly loaded mock, cleared by `/_mock/reset`; the stream
//! tokens among them are `tokens_streamed`.

mod util;
use mock_upstream::{Latency, MockConfig, StreamTiming, TokenCount};
use util::*;

#[tokio::test]
async fn a_lightly_loaded_mock_records_every_timed_send_and_is_on_time() {
    const STREAMS: u64 = 8;
    const TOKENS: u64 = 20;
    let cfg = MockConfig {
        output_tokens: TokenCount::Fixed(TOKENS as u32),
        latency: Latency::fixed_ms(3),
        stream: StreamTiming {
            ttft: Latency::fixed_ms(5),
            inter_token: Latency::fixed_ms(2),
        },
        ..seeded()
    };
    let mock = start(cfg).await;
    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            let addr = mock.addr();
            tokio::spawn(async move {
                let mut c = Conn::open(addr).await;
                let r = c.post("/v1/chat/completions", CHAT_STREAM).await;
                assert_eq!(r.status, 200);
                assert!(r.text().contains("[DONE]"), "{}", r.text());
            })
        })
        .collect();
    for s in streams {
        s.await.unwrap();
    }
    let mut c = Conn::open(mock.addr()).await;
    assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);

    let served = c.get("/_mock/stats").await.json();
    let lateness = &served["lateness"];
    // One first send per stream and one for the JSON reply; every token after a stream's first.
    assert_eq!(lateness["first"]["count"], STREAMS + 1, "{lateness}");
    assert_eq!(
        lateness["later"]["count"],
        STREAMS * (TOKENS - 1),
        "{lateness}"
    );
    assert_eq!(
        served["requests_by_route"]["/v1/chat/completions"],
        STREAMS + 1,
        "existing fields stay"
    );
    for kind in ["first", "later"] {
        let p99 = lateness[kind]["p99_ms"].as_f64().unwrap();
        // Loose on purpose: tens of microseconds is usual, a busy CI machine can add a few ms.
        assert!(p99 < 20.0, "{kind}: p99 lateness {p99} ms");
        assert!(lateness[kind]["p50_ms"].as_f64().unwrap() <= p99);
        assert!(lateness[kind]["max_ms"].as_f64().unwrap() >= p99);
    }
    let summary = mock.lateness();
    assert_eq!(
        (summary.first.count, summary.later.count),
        (STREAMS + 1, STREAMS * (TOKENS - 1))
    );
    assert_eq!(mock.stats().lateness.later.count, STREAMS * (TOKENS - 1));
    // Every streamed token is counted, the whole JSON reply is not; the metrics endpoint agrees.
    assert_eq!(served["tokens_streamed"], STREAMS * TOKENS, "{served}");
    let metrics = c.get("/_mock/metrics").await.text();
    let line = format!("mock_tokens_streamed_total {}\n", STREAMS * TOKENS);
    assert!(metrics.contains(&line), "{metrics}");

    assert_eq!(c.post("/_mock/reset", "").await.status, 200);
    let after = c.get("/_mock/stats").await.json();
    assert_eq!(after["lateness"]["first"]["count"], 0);
    assert_eq!(after["lateness"]["later"]["count"], 0);
    assert_eq!(after["tokens_streamed"], 0);
    assert_eq!(mock.lateness(), Default::default());
    mock.shutdown().await;
}
