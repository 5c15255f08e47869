//! Booted-system tests: a cached Debian 12 root booted with systemd as PID 1
//! in its own pid, mount, net, uts and ipc namespaces (root only: each test is
//! `#[ignore = "needs root"]` and fails without root; the first run builds the
//! root, see docs/boot-tests.md). Never touches the host's ruleset, sysctls or
//! services. `support` is the test support shared with tests/it and netns-tests.

// The library modules `support::build` names as `crate::` (it is shared with unit tests).
use hostwall::{ir, model, source};

#[path = "../tests/support/mod.rs"]
mod support;

mod harness;
mod import;
mod libvirt;
mod package;
#[allow(dead_code)] // the .rpm and oracle helpers serve the package tests
#[path = "../packaging/tests/build.rs"]
mod package_build;
mod service;
mod smoke;

/// The packages of the root these tests share (one cached root, one cold build).
pub const PACKAGES: &[&str] = &[
    "libvirt-daemon-system",
    "libvirt-clients",
    "dnsmasq-base",
    "iptables",
    "isc-dhcp-client",
    "dnsutils",
    "socat",
    "firewalld",
];

/// The shared root, built on first use; panics (never skips) when it cannot be built.
pub fn root() -> harness::Root {
    match harness::Root::ensure(PACKAGES) {
        Ok(r) => {
            if let Some(t) = r.built_in {
                eprintln!("built {} in {:.0?}", r.path.display(), t);
            }
            r
        }
        Err(e) => panic!("{e}"),
    }
}
