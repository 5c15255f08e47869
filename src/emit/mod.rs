//! Writers of an `ir::Ruleset`: nft text, libnftables JSON, and the netlink batch.

pub mod json;
pub mod netlink;
pub mod text;
