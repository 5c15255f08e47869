//! Writers of an `ir::Ruleset`: nft text, libnftables JSON, and the netlink batch (whole,
//! or as an in-place change: `delta`).

mod batch;
pub mod delta;
mod elements;
pub mod json;
pub mod netlink;
mod parallel;
pub mod text;
