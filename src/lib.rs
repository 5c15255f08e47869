//! hostwall: compile a host firewall policy to nftables, apply it over netlink,
//! read it back and verify it with real packets. The library returns values and errors:
//! it never prints and never ends the process; the `hostwall` binary (`src/main.rs` and
//! its `cli` module) does both.

// Checker functions return `Result<_, Diagnostic>`; diagnostics are the cold path and
// boxing each one would only add noise.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod bench_support;
pub mod boot;
pub mod check;
pub mod coexist;
pub mod compile;
pub mod config;
pub mod diag;
pub mod diff;
pub mod digest;
pub mod drift;
pub mod emit;
pub mod eval;
pub mod explain;
pub mod import;
pub mod init;
pub mod ir;
pub mod json;
pub mod keywords;
pub mod live;
pub mod lkg;
pub mod metrics;
pub mod model;
pub mod netns;
pub mod nets;
pub mod nft;
pub mod nsid;
pub mod pages;
pub mod provenance;
pub mod record;
pub mod safe;
pub mod source;
pub mod space;
pub mod syntax;
pub mod sysctl;
pub mod syslog;
#[cfg(test)]
mod test_util;
pub mod text;
pub mod threads;
pub mod unchanged;
pub mod verify;
pub mod work;

/// The built-in default policy: the host-security guide's virtualization host.
pub const DEFAULT_POLICY: &str = include_str!("../policies/kvm-host.policy");
