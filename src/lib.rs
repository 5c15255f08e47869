//! hostwall: compile a host firewall policy to nftables, apply it over netlink,
//! read it back and verify it with real packets. The library never prints.

// Checker functions return `Result<_, Diagnostic>`; diagnostics are the cold path and
// boxing each one would only add noise.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod bench_support;
pub mod check;
pub mod cli;
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
pub mod init;
pub mod ir;
pub mod live;
pub mod model;
pub mod netns;
pub mod nft;
pub mod nsid;
pub mod provenance;
pub mod record;
pub mod safe;
pub mod site;
pub mod source;
pub mod space;
pub mod syntax;
pub mod sysctl;
pub mod syslog;
pub mod text;
pub mod unchanged;
pub mod verify;
pub mod work;

/// The built-in default policy: the host-security guide's virtualization host.
pub const DEFAULT_POLICY: &str = include_str!("../policies/kvm-host.policy");
