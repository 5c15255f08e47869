//! The one integration test binary: each module is a group of tests.

mod apply;
mod cli;
mod compile;
mod errors;
mod etc_defaults;
mod files;
mod fmt;
mod fuzz;
mod golden;
mod init;
mod libvirt_guests;
mod live;
mod loadable;
mod mutants;
mod mutate;
mod netlink;
mod safe;
mod scale;
