//! The one module with unsafe FFI. Write side: every batch message, rules included, is
//! encoded in safe Rust (`wire`, `expr`, `rule`) from the kernel vocabulary (`vocab`);
//! libnftnl's own rule encoder is the test-only `oracle` (feature `oracle`, on for tests,
//! absent from release builds) the safe encoder must match byte for byte. Read side:
//! libnftnl parses dumps (`read`). `sock`: the raw netlink socket and namespace syscalls.
//!
//! Callers above this module (`emit::netlink`, `apply`) contain no `unsafe`.

pub mod expr;
pub mod monitor;
pub mod msg;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod read;
pub mod rule;
pub mod sock;
pub mod vocab;
pub mod wire;
