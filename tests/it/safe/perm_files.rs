//! The permission guard on real files: modes, every ancestor directory, symlink target,
//! owner.

use super::*;
use hostwall::safe::perms::{self, PermError};

fn insecure(err: PermError) -> String {
    match err {
        PermError::Insecure { .. } => err.to_string(),
        other => panic!("expected Insecure, got {other}"),
    }
}

#[test]
fn perms_accept_root_0644_and_refuse_writable_file_or_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("host.policy");
    std::fs::write(&file, "allow ssh\n").expect("write");
    let set = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    set(&file, 0o644).expect("chmod");
    perms::check_file(&file).expect("0644 root file in a 0700 dir is fine");

    set(&file, 0o666).expect("chmod");
    let msg = insecure(perms::check_file(&file).expect_err("world-writable"));
    let f = file.display();
    assert!(
        msg.starts_with(&format!(
            "refusing to use {f}: {f} is writable by group and others (mode 0666)"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("fix: chown root:root {f} && chmod 0644 {f}")),
        "{msg}"
    );
    assert!(msg.contains("--insecure-perms"), "{msg}");
    set(&file, 0o620).expect("chmod");
    assert!(
        insecure(perms::check_file(&file).expect_err("group"))
            .contains("writable by group (mode 0620)")
    );

    set(&file, 0o644).expect("chmod");
    set(dir.path(), 0o777).expect("chmod dir");
    let msg = insecure(perms::check_file(&file).expect_err("dir world-writable"));
    let d = dir.path().display();
    assert!(
        msg.contains(&format!(
            "its directory {d} is writable by group and others (mode 0777)"
        )),
        "{msg}"
    );
    assert!(msg.contains(&format!("chmod 0755 {d}")), "{msg}");
    set(dir.path(), 0o755).expect("chmod dir");

    // A symlink is judged by its target: that is what gets read.
    let other = tempfile::tempdir().expect("tempdir");
    let target = other.path().join("real.policy");
    std::fs::write(&target, "x\n").expect("write");
    set(&target, 0o666).expect("chmod");
    let link = dir.path().join("link.policy");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    assert!(
        insecure(perms::check_file(&link).expect_err("target writable")).contains("real.policy")
    );

    assert!(matches!(
        perms::check_file(&dir.path().join("missing")),
        Err(PermError::Io { .. })
    ));
}

#[test]
#[ignore = "needs root"]
fn perms_refuse_a_file_not_owned_by_root() {
    crate::support::root::require();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("site.toml");
    std::fs::write(&file, "").expect("write");
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).expect("chown nobody");
    let msg = insecure(perms::check_file(&file).expect_err("owned by nobody"));
    assert!(msg.contains("is owned by uid 65534, not root"), "{msg}");
    assert!(
        msg.contains(&format!("chown root:root {}", file.display())),
        "{msg}"
    );
    std::os::unix::fs::chown(dir.path(), Some(65534), None).expect("chown dir");
    std::os::unix::fs::chown(&file, Some(0), Some(0)).expect("chown back");
    let msg = insecure(perms::check_file(&file).expect_err("dir owned by nobody"));
    assert!(msg.contains("its directory"), "{msg}");
}

#[test]
fn perms_walk_every_ancestor_and_accept_a_sticky_one() {
    let top = tempfile::tempdir().expect("tempdir");
    let mid = top.path().join("etc");
    let leaf = mid.join("hostwall");
    std::fs::create_dir_all(&leaf).expect("mkdir");
    let file = leaf.join("host.policy");
    std::fs::write(&file, "allow ssh\n").expect("write");
    let set = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    set(&file, 0o644).expect("chmod");
    set(&leaf, 0o755).expect("chmod");
    set(&mid, 0o755).expect("chmod");
    perms::check_file(&file).expect("safe all the way up (the tempdir sits in sticky /tmp)");

    // Two levels up, not the file's own directory: whoever writes it can swap `etc`.
    set(&mid, 0o777).expect("chmod");
    let msg = insecure(perms::check_file(&file).expect_err("grandparent writable"));
    let m = mid.display();
    assert!(
        msg.contains(&format!(
            "its directory {m} is writable by group and others (mode 0777)"
        )),
        "{msg}"
    );
    assert!(msg.contains(&format!("chmod 0755 {m}")), "{msg}");

    // Sticky and root-owned, like /tmp: others cannot replace our entry in it.
    set(&mid, 0o1777).expect("chmod");
    perms::check_file(&file).expect("a sticky ancestor is fine");
}
