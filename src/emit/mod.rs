//! Writers of an `ir::Ruleset`: nft text and libnftables JSON (netlink lives beside them).

pub mod json;
pub mod text;
