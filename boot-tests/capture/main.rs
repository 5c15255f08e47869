//! By hand, not part of `cargo test` (its target has `test = false`): boots a Debian 12
//! root with the real `docker.io` and `firewalld`, lets each write its ruleset in turn
//! (`capture.sh`), and stores what they wrote as fixtures under
//! `tests/fixtures/{docker,firewalld}/` (`nft list ruleset`, `nft -j list ruleset`,
//! `iptables-save`) with the versions in `versions.txt`. See `tests/fixtures/README.md`.
//!
//! Run: `cargo test --test capture -- --include-ignored --nocapture` (root; the first run
//! builds its own root, about 4 minutes and 1 GB, cached like the boot tests' root).

#[path = "../harness/mod.rs"]
#[allow(dead_code, unused_imports)] // the capture uses one boot, not the reboot helpers
mod harness;
#[path = "../../tests/support/mod.rs"]
mod support;

// The library modules `support::build` names as `crate::` (it is shared with unit tests).
#[allow(unused_imports)]
use hostwall::{ir, model, source};

use std::path::Path;
use std::time::Duration;

/// The capture root's own packages (not the shared boot-test list: not built in CI).
const PACKAGES: &[&str] = &["docker.io", "firewalld", "iptables"];

const CAPTURE: &str = include_str!("capture.sh");

/// `BEGIN NAME` ... `END NAME` blocks of the probe log: (name, contents).
fn blocks(log: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for l in log.lines() {
        match (l.strip_prefix("BEGIN "), l.strip_prefix("END "), &mut cur) {
            (Some(n), _, None) => cur = Some((n.to_string(), String::new())),
            (_, Some(n), Some((name, _))) if n == name => out.extend(cur.take()),
            (_, _, Some((_, text))) => {
                text.push_str(l);
                text.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[test]
#[ignore = "needs root"]
fn capture_docker_and_firewalld_rulesets() {
    crate::support::root::require();
    let root = harness::Root::ensure(PACKAGES).unwrap_or_else(|e| panic!("{e}"));
    let mut spec = harness::BootSpec::new("capture", CAPTURE);
    spec.with_hostwall = false;
    spec.timeout = Duration::from_secs(600);
    let out = harness::boot(&root, &spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.probe_rc, Some(0), "{}", out.explain());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let got = blocks(&out.probe_log);
    for want in [
        "docker/ruleset.nft",
        "docker/ruleset.json",
        "firewalld/ruleset.nft",
        "firewalld/ruleset.json",
        "versions.txt",
    ] {
        let (_, text) = (got.iter())
            .find(|(n, _)| n == want)
            .unwrap_or_else(|| panic!("the capture wrote no {want}: {}", out.explain()));
        assert!(
            !text.trim().is_empty(),
            "{want} is empty: {}",
            out.explain()
        );
    }
    for (name, text) in got.into_iter().filter(|(_, t)| !t.trim().is_empty()) {
        let path = fixtures.join(&name);
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
    }
}
