//! Measurement: per-worker recorders with HDR histograms, the per-request SLO, the ledger of arrivals, the one-second series, and the results file.

pub mod audit;
pub mod histogram;
pub mod ledger;
pub mod lengths;
pub mod live;
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
