//! hostwall: compile a host firewall policy to nftables, apply it over netlink,
//! read it back and verify it with real packets. The library never prints.

pub mod apply;
pub mod bench_support;
pub mod compile;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod ir;
pub mod model;
pub mod nft;
pub mod record;
pub mod source;
pub mod sysctl;
