//! Lookups shared by the probe-plan unit tests.

use super::Outcome;

/// The expected outcome of the probe named `name` in a plan's (name, expected) pairs;
/// fails, listing the plan, when no probe has that name.
#[track_caller]
pub fn expect(plan: &[(String, Outcome)], name: &str) -> Outcome {
    plan.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no probe {name:?} in {plan:#?}"))
        .1
        .clone()
}

/// Asserts each (probe name, expected outcome) pair against the plan.
#[track_caller]
pub fn expect_all(plan: &[(String, Outcome)], want: &[(&str, Outcome)]) {
    for (name, outcome) in want {
        assert_eq!(&expect(plan, name), outcome, "probe {name:?}");
    }
}
