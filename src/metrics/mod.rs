//! Measurement: per-worker recorders with HDR histograms, the ledger of arrivals, the one-second series, and the results file.

pub mod histogram;
pub mod ledger;
pub mod recorder;
pub mod results;
pub mod series;

pub use crate::client::{IoKind, Outcome, Phase};
pub use histogram::{StoredHistogram, Summary};
pub use recorder::{Finished, Recorder, TokenTotals};
pub use results::{BreakerEvent, ResultsFile, RunResult, ShardInfo, ThresholdResult};
pub use series::{SecondBucket, SeriesCollector, SeriesPoint};
