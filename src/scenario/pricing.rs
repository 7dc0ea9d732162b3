//! Prices per model ($ per million input and output tokens): a built-in table of public list prices that `[pricing]` overrides.
//!
//! The built-in prices are list prices at the time of writing and only a convenience for
//! estimates; put your contract prices in the scenario's `[pricing]` table.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The price of one model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// US dollars per million prompt tokens.
    pub input: f64,
    /// US dollars per million output tokens.
    pub output: f64,
}

impl Price {
    /// Cost in US dollars of `input` and `output` tokens.
    pub fn cost(&self, input: u64, output: u64) -> f64 {
        (input as f64 * self.input + output as f64 * self.output) / 1_000_000.0
    }
}

/// Built-in list prices (USD per 1M tokens), overridden by `[pricing]`.
const BUILT_IN: [(&str, f64, f64); 9] = [
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("o3-mini", 1.10, 4.40),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("mock-1", 0.0, 0.0),
];

/// The price of `model`: the scenario's table first, then the built-in one.
pub fn price_of(model: &str, overrides: &BTreeMap<String, Price>) -> Option<Price> {
    overrides.get(model).copied().or_else(|| {
        BUILT_IN
            .iter()
            .find(|(name, _, _)| *name == model)
            .map(|(_, input, output)| Price {
                input: *input,
                output: *output,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_costs_add_up() {
        let mut table = BTreeMap::new();
        table.insert(
            "gpt-4o-mini".to_string(),
            Price {
                input: 1.0,
                output: 2.0,
            },
        );
        let p = price_of("gpt-4o-mini", &table).unwrap();
        assert!((p.cost(1_000_000, 500_000) - 2.0).abs() < 1e-12);
        assert_eq!(price_of("gpt-4o", &table).unwrap().input, 2.5);
        assert!(price_of("unknown-model", &table).is_none());
    }
}
