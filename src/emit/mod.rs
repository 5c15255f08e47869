//! Writers of the IR: `netlink` builds the kernel batch.

pub mod netlink;
