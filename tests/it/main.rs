//! The one integration test binary: each module is a group of tests; `support` is the
//! test support shared with the kernel and booted-system binaries.

// The library modules `support::build` names as `crate::` (it is shared with unit tests).
use hostwall::{ir, model, source};

#[path = "../support/mod.rs"]
mod support;

mod addr_forms;
mod apply;
mod cli;
mod compile;
mod errors;
mod etc_defaults;
mod files;
mod fmt;
mod fuzz;
mod harness;
mod init;
mod lean;
mod libvirt_guests;
mod live;
mod loadable;
mod mutants;
mod mutate;
mod netlink;
mod safe;
mod scale;
mod tidy;
