//! Expanding a scenario into the ordered list of runs (targets × client variants).

use super::model::{Scenario, Target};
use crate::client::ClientSettings;

/// One run to execute.
#[derive(Clone, Debug)]
pub struct PlannedRun {
    /// The target.
    pub target: Target,
    /// Variant name (`default` without a matrix).
    pub variant: String,
    /// Client settings of this variant.
    pub settings: ClientSettings,
}

/// The runs of a scenario, in execution order.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// Runs, target-major.
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    /// Expands `scenario` (named `name`) into runs.
    pub fn new(name: String, scenario: &Scenario) -> Plan {
        let runs = scenario
            .targets
            .iter()
            .map(|t| PlannedRun {
                target: t.clone(),
                variant: "default".into(),
                settings: scenario.client.clone(),
            })
            .collect();
        Plan { name, runs }
    }
}
