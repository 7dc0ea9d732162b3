//! Measurement: per-worker recorders with HDR histograms, recorded response headers, the per-request SLO, a relay's overhead against its baseline, the ledger of arrivals, the one-second series, and the results file.

pub mod audit;
pub mod headers;
pub mod histogram;
pub mod ledger;
pub mod lengths;
pub mod live;
pub mod overhead;
pub mod recorder;
pub mod results;
pub mod series;
pub mod slo;

pub use crate::client::{IoKind, Outcome, Phase};
pub use histogram::{StoredHistogram, Summary};
pub use recorder::{Finished, Recorder, TokenTotals};
pub use results::{
    BreakerEvent, ResultsFile, RunResult, Saturation, SaturationReason, ShardInfo, ThresholdResult,
};
pub use series::{SecondBucket, SeriesCollector, SeriesPoint};
pub use slo::Slo;
