//! The one module with unsafe FFI. Write side: every batch message, rules included, is
//! encoded in safe Rust (`wire`, `expr`); libnftnl's own rule encoder is kept in `rule`
//! as the test oracle the safe encoder must match byte for byte. Read side: libnftnl
//! parses dumps (`read`) and prints debug text (`decode`). `sock`: the raw netlink
//! socket syscalls.
//!
//! `client`: the one netlink client every request, dump and batch goes through, over
//! `sock`'s socket; `monitor` reads change notifications on the same client.
//!
//! Callers above this module (`emit::netlink`, `apply`, `live`) contain no `unsafe`.

pub mod client;
pub mod decode;
pub mod expr;
pub mod monitor;
pub mod msg;
pub mod read;
pub mod rule;
pub mod sock;
pub mod wire;
