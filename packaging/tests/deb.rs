//! The .deb: Debian's paths for every file, Depends naming the package of every
//! shared library the binary links, a stripped binary, and a section 8 page per
//! subcommand. Installing and booting it is `boot-tests/package.rs`.

use crate::build::{self, tool};
use crate::layout;
use std::collections::BTreeSet;
use std::path::Path;

/// The .deb's regular files (absolute paths) with their `tar tv` mode strings.
fn contents(deb: &Path) -> Vec<(String, String)> {
    tool("dpkg-deb", &["-c", &deb.to_string_lossy()], "dpkg")
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            let mode = l.split_whitespace().next()?.to_owned();
            let path = l.split_whitespace().nth(5)?.trim_start_matches('.');
            Some((path.to_owned(), mode))
        })
        .collect()
}

#[test]
fn deb_holds_every_file_at_debians_paths() {
    let deb = build::deb();
    let files = contents(&deb);
    let have: BTreeSet<String> = files.iter().map(|(p, _)| p.clone()).collect();
    let want = layout::expected(&layout::DEBIAN);
    assert_eq!(have, want, "{}", layout::difference(&have, &want));
    for (path, mode) in &files {
        let expect = if path == "/usr/sbin/hostwall" {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, expect, "{path}");
    }
    assert!(layout::man_pages().len() >= 9, "{:?}", layout::man_pages());
}

/// The binary inside the .deb, written to `dir`.
fn extract_binary(deb: &Path, dir: &Path) -> std::path::PathBuf {
    tool(
        "dpkg-deb",
        &["-x", &deb.to_string_lossy(), &dir.to_string_lossy()],
        "dpkg",
    );
    dir.join("usr/sbin/hostwall")
}

#[test]
fn deb_depends_names_the_package_of_every_linked_library() {
    let deb = build::deb();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bin = extract_binary(&deb, tmp.path());
    let depends = tool(
        "dpkg-deb",
        &["-f", &deb.to_string_lossy(), "Depends"],
        "dpkg",
    );
    let needed: Vec<String> = tool("readelf", &["-d", &bin.to_string_lossy()], "binutils")
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_owned))
        .collect();
    assert!(
        needed.iter().any(|n| n.starts_with("libc.so")),
        "{needed:?}"
    );
    let names: Vec<&str> = depends
        .split(',')
        .filter_map(|d| d.split_whitespace().next())
        .collect();
    for lib in &needed {
        let owner = owner_of(&bin, lib);
        // A library whose package a listed package depends on (libgcc-s1 through
        // libc6) counts: dpkg-shlibdeps may leave such a package out.
        let implied = names.iter().any(|n| {
            tool("dpkg-query", &["-W", "-f=${Depends}", n], "dpkg")
                .split(',')
                .any(|d| d.split_whitespace().next() == Some(owner.as_str()))
        });
        assert!(
            names.contains(&owner.as_str()) || implied,
            "Depends `{}` lacks {owner} (ships {lib})",
            depends.trim()
        );
    }
}

/// The package of this system that ships `lib` as `bin` resolves it (`ldd`).
fn owner_of(bin: &Path, lib: &str) -> String {
    let ldd = tool("ldd", &[&bin.to_string_lossy()], "libc-bin");
    let path = ldd
        .lines()
        .find(|l| l.contains(lib))
        .and_then(|l| {
            // `lib => /path (addr)`, or `/path (addr)` for the dynamic loader
            let resolved = l.split("=> ").nth(1).unwrap_or(l);
            resolved
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/'))
        })
        .unwrap_or_else(|| panic!("ldd does not resolve {lib}:\n{ldd}"))
        .to_owned();
    let real = std::fs::canonicalize(&path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.clone());
    let query = std::process::Command::new("dpkg")
        .args(["-S", &path])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| tool("dpkg", &["-S", &real], "dpkg"));
    query
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn deb_binary_carries_no_debug_info_or_symbol_table() {
    let deb = build::deb();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bin = extract_binary(&deb, tmp.path());
    let sections = tool("readelf", &["-S", "-W", &bin.to_string_lossy()], "binutils");
    for unwanted in [".debug_info", ".debug_line", ".symtab"] {
        assert!(!sections.contains(unwanted), "the binary has {unwanted}");
    }
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    eprintln!("packaged binary: {size} bytes");
    assert!(size > 500_000 && size < 8_000_000, "binary is {size} bytes");
}

/// Every unit a shipped unit names in `Also=` (enabled with it) is shipped as well:
/// `systemctl enable hostwall` must not enable half of the pair.
#[test]
fn deb_ships_every_unit_a_shipped_unit_names_in_also() {
    let deb = build::deb();
    let have: BTreeSet<String> = contents(&deb).into_iter().map(|(p, _)| p).collect();
    let units = layout::units();
    assert!(units.contains(&"hostwall.service".to_owned()), "{units:?}");
    let mut named = 0;
    for unit in &units {
        let path = build::repo().join("packaging").join(unit);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for also in text.lines().filter_map(|l| l.trim().strip_prefix("Also=")) {
            for other in also.split_whitespace() {
                named += 1;
                let want = format!("{}/{other}", layout::DEBIAN.units);
                assert!(
                    have.contains(&want),
                    "{unit} has Also={other}, the .deb lacks {want}"
                );
            }
        }
    }
    assert!(
        named > 0,
        "no shipped unit has an Also= (the check would be empty)"
    );
}
