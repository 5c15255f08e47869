//! The nf_tables interface, and the only module that uses the netlink crates. Write side: every batch message, rules included, is
//! encoded in safe Rust (`wire`, `expr`, `rule`) from the kernel vocabulary (`vocab`);
//! libnftnl's own rule encoder is the test-only `oracle` (feature `oracle`, on for tests,
//! absent from release builds) the safe encoder must match byte for byte. Read side:
//! libnftnl parses dumps (`read`). `sock`: the raw netlink socket syscalls.
//!
//! `client`: the one netlink client every request, dump and batch goes through, over
//! `sock`'s socket; `monitor` reads change notifications on the same client.
//!
//! Callers above this module (`emit::netlink`, `apply`, `live`) contain no `unsafe`.

pub mod change;
pub mod client;
mod elems;
pub mod expr;
pub mod expr_attr;
pub mod monitor;
pub mod msg;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod read;
pub mod replay;
pub mod rule;
pub mod set_msg;
pub mod sock;
pub mod vocab;
pub mod wire;
