//! One exchange recorded by a real `Recorder`, and the one value a histogram of it holds:
//! shared by the stream-metric tests (`stream_metrics`, `stream_protocols`).

use relaybench::client::Exchange;
use relaybench::metrics::{Finished, Recorder};
use std::time::Instant;

/// A recorder that has recorded `exchange`, intended at `intended` (after warm-up, nothing
/// counted or requested).
pub fn recorded(intended: Instant, exchange: &Exchange) -> Recorder {
    let mut recorder = Recorder::new(intended);
    recorder.record(Finished {
        intended,
        exchange,
        warmup: false,
        counted: None,
        requested: None,
    });
    recorder
}

/// The one value recorded in histogram `name`, in its unit (µs, or milli-tokens/s).
pub fn only(recorder: &Recorder, name: &str) -> u64 {
    let (_, h) = recorder
        .histograms()
        .find(|(n, _)| *n == name)
        .expect("histogram exists");
    assert_eq!(h.len(), 1, "{name}: one value");
    h.max()
}
