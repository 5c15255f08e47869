//! Writers of an `ir::Ruleset`: nft text, libnftables JSON, and the netlink batch (whole,
//! or as an in-place change: `delta`).

pub mod delta;
mod elements;
pub mod json;
pub mod netlink;
pub mod text;
