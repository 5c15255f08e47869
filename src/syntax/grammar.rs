//! The pest parser generated from `grammar/policy.pest`: `PolicyParser` and its `Rule` enum.

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/policy.pest"]
pub(crate) struct PolicyParser;
