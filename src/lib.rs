//! hostwall: compile a host firewall policy to nftables, apply it over netlink,
//! read it back and verify it with real packets. The library never prints.

pub mod bench_support;
pub mod check;
pub mod compile;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod ir;
pub mod model;
pub mod record;
pub mod site;
pub mod source;
pub mod syntax;
