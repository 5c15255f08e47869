//! End-to-end tests with real packets between throwaway namespaces (run as
//! root; without root every test says why it is skipped and returns).
//! Never touches the root namespace's ruleset or sysctls.

mod apply;
mod churn;
mod cleanup;
mod common;
mod diff;
mod diff_blind;
mod hosts;
mod init;
mod mutants;
#[path = "../tests/it/mutate.rs"]
mod mutate;
mod policies;
mod safe;
mod unchanged;
mod verify;
mod verify_budget;
mod verify_forward;
mod verify_reap;
mod verify_sources;
