//! Scenario files: the model users write, strict parsing with located errors, the plan of runs it expands to, and its JSON Schema / Markdown reference.

pub mod dataset;
pub mod error;
pub mod model;
pub mod parse;
pub mod plan;
pub mod pricing;
pub mod schema;
pub mod search;

pub use error::ScenarioError;
pub use model::{
    ApiKind, LoadModel, OnOverload, ReportGoal, ReportSettings, RequestKind, RequestTemplate,
    Scenario, Slo, Target, Workload,
};
pub use parse::{load, load_with, parse};
pub use plan::{Plan, PlannedRun};
pub use pricing::{price_of, Price};
