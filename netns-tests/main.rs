//! End-to-end tests with real packets between throwaway namespaces. Every test needs
//! root: each is `#[ignore = "needs root"]` and fails without it (run them with
//! `cargo test -- --include-ignored` as root, as .ci/run does). Never touches the root
//! namespace's ruleset or sysctls. `support` is the test support shared with tests/it.

// The library modules `support::build` names as `crate::` (it is shared with unit tests).
use hostwall::{ir, model, source};

#[path = "../tests/support/mod.rs"]
mod support;

mod addrs;
mod ansible;
mod apply;
mod captured;
mod churn;
mod cleanup;
mod common;
mod diff;
mod diff_blind;
mod echo_room;
mod hosts;
mod import;
mod incremental;
mod incremental_draft;
mod incremental_learned;
mod incremental_record;
mod incremental_safety;
mod init;
mod json_docs;
mod metrics;
mod mutants;
#[path = "../tests/it/mutate.rs"]
mod mutate;
mod output;
mod policies;
mod rule_log;
mod safe;
mod source_limit;
mod unchanged;
mod verify;
mod verify_budget;
mod verify_classes;
mod verify_forward;
mod verify_lab;
mod verify_limits;
mod verify_live;
mod verify_output;
mod verify_reap;
mod verify_sources;
mod verify_to;
mod way_home;
