//! The one module with unsafe FFI: libnftnl expressions and rule serialisation
//! (`expr`, `rule`), read-side parsing of dumps (`read`) and debug text (`decode`), the raw netlink socket
//! and namespace syscalls (`sock`). `wire` encodes everything else in safe Rust.
//!
//! Callers above this module (`emit::netlink`, `apply`) contain no `unsafe`.

pub mod decode;
pub mod expr;
pub mod read;
pub mod rule;
pub mod sock;
pub mod wire;
