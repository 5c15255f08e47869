//! The one module with unsafe FFI. Write side: every batch message, rules included, is
//! encoded in safe Rust (`wire`, `expr`); libnftnl's own rule encoder is kept in `rule`
//! as the test oracle the safe encoder must match byte for byte. Read side: libnftnl
//! parses dumps (`read`) and prints debug text (`decode`). `sock`: the raw netlink
//! socket and namespace syscalls.
//!
//! Callers above this module (`emit::netlink`, `apply`) contain no `unsafe`.

pub mod decode;
pub mod expr;
pub mod monitor;
pub mod msg;
pub mod read;
pub mod rule;
pub mod sock;
pub mod vocab;
pub mod wire;
