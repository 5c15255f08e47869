//! The integration test binary: one module per area.

mod apply;
mod netlink;
