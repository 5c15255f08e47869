//! What the packages must hold, derived from the tree: one man page per file in
//! `packaging/man/`, every `docs/*.md`, every file of `policies/`, the units in
//! `packaging/` named after the package, and the binary and completions.

use crate::build::repo;
use std::collections::BTreeSet;

/// The distribution's directories for the files whose place differs.
pub struct Paths {
    pub units: &'static str,
    pub zsh: &'static str,
    /// Files the packager adds on its own (Debian's `copyright`).
    pub extra: &'static [&'static str],
}

pub const DEBIAN: Paths = Paths {
    units: "/lib/systemd/system",
    zsh: "/usr/share/zsh/vendor-completions",
    extra: &["/usr/share/doc/hostwall/copyright"],
};

pub const RPM: Paths = Paths {
    units: "/usr/lib/systemd/system",
    zsh: "/usr/share/zsh/site-functions",
    extra: &[],
};

/// Every file a package must hold (absolute paths; directories not listed).
pub fn expected(p: &Paths) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = [
        "/usr/sbin/hostwall".to_owned(),
        "/usr/share/bash-completion/completions/hostwall".to_owned(),
        format!("{}/_hostwall", p.zsh),
        "/usr/share/fish/vendor_completions.d/hostwall.fish".to_owned(),
        "/usr/share/doc/hostwall/README.md".to_owned(),
    ]
    .into_iter()
    .collect();
    files.extend(p.extra.iter().map(|s| (*s).to_owned()));
    for page in names("packaging/man", |n| n.ends_with(".8")) {
        files.insert(format!("/usr/share/man/man8/{page}.gz"));
    }
    for doc in names("docs", |n| n.ends_with(".md")) {
        files.insert(format!("/usr/share/doc/hostwall/{doc}"));
    }
    for policy in names("policies", |_| true) {
        files.insert(format!("/usr/share/hostwall/{policy}"));
    }
    for unit in names("packaging", is_unit) {
        files.insert(format!("{}/{unit}", p.units));
    }
    files
}

/// The man pages the packages must carry: `hostwall` and every subcommand.
pub fn man_pages() -> Vec<String> {
    names("packaging/man", |n| n.ends_with(".8"))
}

/// `hostwall.<unit type>` or `hostwall-<name>.<unit type>`: the unit files packaged
/// from `packaging/`.
fn is_unit(name: &str) -> bool {
    let stem_ok = |stem: &str| stem == "hostwall" || stem.starts_with("hostwall-");
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        stem_ok(stem) && ["service", "socket", "timer", "path", "target", "mount"].contains(&ext)
    })
}

/// The unit files a package ships (names), for checks across units.
pub fn units() -> Vec<String> {
    names("packaging", is_unit)
}

/// The regular files' names in a directory of the repository, sorted.
fn names(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let path = repo().join(dir);
    let mut out: Vec<String> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect();
    out.sort();
    out
}

/// The differences between what a package holds and what it must, for messages.
pub fn difference(have: &BTreeSet<String>, want: &BTreeSet<String>) -> String {
    let missing: Vec<_> = want.difference(have).collect();
    let extra: Vec<_> = have.difference(want).collect();
    format!("missing {missing:#?}\nunexpected {extra:#?}")
}
