//! The .rpm: the same files as the .deb at Red Hat's paths (checked with
//! `rpm -qpl`; needs the `rpm` program: `apt-get install rpm`), modes, and
//! Requires naming every shared library the binary links.

use crate::build::{self, tool};
use crate::layout;
use std::collections::BTreeSet;

fn query(rpm: &str, args: &[&str]) -> String {
    let mut all = vec!["-qp"];
    all.extend_from_slice(args);
    all.push(rpm);
    tool("rpm", &all, "rpm")
}

#[test]
fn rpm_file_list_is_the_deb_layout_at_red_hat_paths() {
    let rpm = build::rpm();
    let rpm = rpm.to_string_lossy();
    let have: BTreeSet<String> = query(&rpm, &["-l"]).lines().map(str::to_owned).collect();
    let want = layout::expected(&layout::RPM);
    assert_eq!(have, want, "{}", layout::difference(&have, &want));
    let modes = query(&rpm, &["--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]"]);
    for line in modes.lines() {
        let (mode, path) = line.split_once(' ').unwrap_or((line, ""));
        let expect = if path == "/usr/sbin/hostwall" {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, expect, "{path}");
    }
}

#[test]
fn rpm_requires_every_linked_library() {
    let rpm = build::rpm();
    let requires = query(&rpm.to_string_lossy(), &["--requires"]);
    let bin = build::repo().join("target/release/hostwall");
    let needed: Vec<String> = tool("readelf", &["-d", &bin.to_string_lossy()], "binutils")
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_owned))
        .collect();
    assert!(!needed.is_empty(), "readelf found no NEEDED entries");
    for lib in &needed {
        assert!(
            requires.lines().any(|r| r.starts_with(lib.as_str())),
            "Requires lacks {lib}:\n{requires}"
        );
    }
}
