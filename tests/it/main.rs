//! The one integration test binary: each module is a group of tests; `support` is the
//! test support shared with the kernel and booted-system binaries.

// The library modules `support::build` names as `crate::` (it is shared with unit tests).
use hostwall::{ir, model, source};

#[path = "../support/mod.rs"]
mod support;

mod addr_forms;
mod apply;
mod apply_json;
mod cli;
mod compile;
mod errors;
mod etc_defaults;
mod exit_codes;
mod files;
mod fmt;
mod fuzz;
mod harness;
mod import;
mod init;
mod json_schema;
mod lean;
mod libvirt_guests;
mod limit;
mod live;
mod loadable;
mod metrics_cli;
mod mutants;
mod mutate;
mod netlink;
mod output;
mod safe;
mod scale;
mod services;
mod tidy;
