//! The state directory's trust rule: a symbolic link, a directory
//! others can write or that someone else owns, a record or blob that is a link or was
//! replaced, are all refused before anything in them is used; temporaries never write
//! through a planted link.

use super::*;
use std::os::unix::fs::symlink;

fn untrusted(e: Error) -> String {
    match e {
        Error::Untrusted { .. } => e.to_string(),
        other => panic!("expected an untrusted-state refusal, got: {other}"),
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chown_nobody(p: &Path) {
    std::os::unix::fs::chown(p, Some(65534), Some(65534)).expect("chown nobody");
}

use crate::support::root::is_root;

#[test]
fn symlinked_state_dir_is_refused_by_every_command_issue8() {
    let top = tempfile::tempdir().expect("tempdir");
    let real = top.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    chmod(&real, 0o700);
    let link = top.path().join("state");
    symlink(&real, &link).expect("symlink");
    let e = untrusted(StateLock::acquire(&link, WAIT).expect_err("a link"));
    assert!(e.contains("symbolic link"), "{e}");
    assert!(
        e.contains(&format!("refusing to use {}", link.display())),
        "{e}"
    );
    untrusted(pending::read(&link, &SLOT).expect_err("read refused"));
    untrusted(pending::status(&link, &SLOT).expect_err("status refused"));
    let revert = |_: &[u8]| -> Result<(), BoxError> { panic!("nothing may be restored") };
    untrusted(status_recovering(&link, &SLOT, &revert).expect_err("status refused"));
    // A link to a place that does not exist is refused too, not "nothing pending".
    let dangling = top.path().join("dangling");
    symlink(top.path().join("nowhere"), &dangling).expect("symlink");
    untrusted(status_recovering(&dangling, &SLOT, &revert).expect_err("dangling link"));
    assert!(
        std::fs::read_dir(&real).expect("ls").next().is_none(),
        "wrote through the link"
    );
}

#[test]
fn state_dir_writable_by_others_or_with_open_mode_is_refused_issue8() {
    let top = tempfile::tempdir().expect("tempdir");
    let state = top.path().join("state");
    for mode in [0o777, 0o755, 0o1777, 0o770, 0o701] {
        std::fs::create_dir_all(&state).expect("mkdir");
        chmod(&state, mode);
        let e = untrusted(StateLock::acquire(&state, WAIT).expect_err("open mode"));
        assert!(e.contains(&format!("its mode is {mode:04o}")), "{e}");
        assert!(e.contains("chmod 0700"), "{e}");
    }
    // A 0700 state dir below a directory others may write (not sticky) is refused too:
    // they could rename it away and put their own in its place.
    let open = top.path().join("open");
    let inner = open.join("state");
    std::fs::create_dir_all(&inner).expect("mkdir");
    chmod(&inner, 0o700);
    chmod(&open, 0o777);
    let e = untrusted(StateLock::acquire(&inner, WAIT).expect_err("open parent"));
    assert!(e.contains("writable by group or others (mode 0777)"), "{e}");
    assert!(e.contains(&open.display().to_string()), "{e}");
    // The same below a sticky directory owned by root (like /tmp) is accepted.
    chmod(&open, 0o1777);
    if is_root() {
        StateLock::acquire(&inner, WAIT).expect("sticky root-owned parent");
    }
}

/// For a user, a directory root owns is someone else's: `hostwall status --state-dir /`
/// refuses it (as root, run as `nobody`).
#[test]
fn a_root_owned_state_dir_is_someone_elses_for_a_user_issue8() {
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_hostwall"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_hostwall"))
    };
    let o = cmd
        .args(["status", "--state-dir", "/"])
        .output()
        .expect("run hostwall");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("owned by uid 0"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn state_dir_or_ancestor_owned_by_someone_else_is_refused_issue8() {
    crate::support::root::require();
    let top = tempfile::tempdir().expect("tempdir");
    let state = top.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    chmod(&state, 0o700);
    chown_nobody(&state);
    let e = untrusted(StateLock::acquire(&state, WAIT).expect_err("foreign owner"));
    assert!(e.contains("owned by uid 65534, not by uid 0"), "{e}");
    // Our own 0700 dir inside one owned by nobody: nobody could swap ours out.
    let theirs = top.path().join("theirs");
    let ours = theirs.join("state");
    std::fs::create_dir_all(&ours).expect("mkdir");
    chmod(&ours, 0o700);
    chmod(&theirs, 0o755);
    chown_nobody(&theirs);
    let e = untrusted(StateLock::acquire(&ours, WAIT).expect_err("foreign parent"));
    assert!(e.contains("is owned by uid 65534, not root"), "{e}");
}

#[test]
fn record_that_is_a_link_or_foreign_is_refused_issue8() {
    let s = Scene::new();
    let state = s.state();
    drop(StateLock::acquire(&state, WAIT).expect("lock"));
    let decoy = s.dir.path().join("decoy.json");
    std::fs::write(&decoy, "{}").expect("decoy");
    let record = SLOT.record_path(&state);
    symlink(&decoy, &record).expect("symlink");
    let e = untrusted(pending::read(&state, &SLOT).expect_err("linked record"));
    assert!(e.contains("symbolic link"), "{e}");
    std::fs::remove_file(&record).expect("rm");
    // A record others may write is refused as well.
    std::fs::write(&record, "{}").expect("record");
    chmod(&record, 0o666);
    let e = untrusted(pending::read(&state, &SLOT).expect_err("writable record"));
    assert!(e.contains("writable by group or others (mode 0666)"), "{e}");
    if is_root() {
        chmod(&record, 0o600);
        chown_nobody(&record);
        let e = untrusted(pending::read(&state, &SLOT).expect_err("foreign record"));
        assert!(e.contains("owned by uid 65534"), "{e}");
    }
}

#[test]
fn atomic_write_never_writes_through_a_link_issue8() {
    let top = tempfile::tempdir().expect("tempdir");
    let outside = top.path().join("outside");
    std::fs::write(&outside, "precious").expect("outside");
    let dir = top.path().join("state");
    std::fs::create_dir(&dir).expect("mkdir");
    let target = dir.join("pending.json");
    symlink(&outside, &target).expect("symlink");
    // Plant links under every temp name this process could pick first.
    for n in 0..4 {
        let tmp = dir.join(format!(".pending.json.tmp.{}.{n}", std::process::id()));
        symlink(&outside, &tmp).expect("symlink");
    }
    hostwall::safe::atomic_write(&target, b"new", 0o600).expect("write");
    assert_eq!(std::fs::read_to_string(&outside).expect("read"), "precious");
    let meta = std::fs::symlink_metadata(&target).expect("stat");
    assert!(meta.file_type().is_file(), "the link was followed");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "new");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
}

/// What a blob check must do: refuse, keep the record, and never call the revert.
fn assert_blob_refused(s: &Scene, why: &str) {
    let lock = StateLock::acquire(&s.state(), WAIT).expect("lock");
    let revert = |_: &[u8]| -> Result<(), BoxError> { panic!("replayed a bad blob ({why})") };
    let e = pending::revert_now(
        &lock,
        &SLOT,
        &revert,
        None,
        hostwall::safe::RevertReason::Requested,
    )
    .expect_err(why);
    assert!(e.to_string().contains(why), "{e}");
    assert!(
        pending::read(&s.state(), &SLOT).expect("read").is_some(),
        "record dropped"
    );
}

#[test]
fn forged_or_truncated_blob_is_refused_before_replay_issue8() {
    let s = Scene::new();
    let (lock, r) = s.begin(Duration::from_secs(60), b"previous ruleset");
    drop(lock);
    assert_eq!(
        r.previous_sha256,
        hostwall::digest::sha256_hex(b"previous ruleset")
    );
    let blob = SLOT.previous_path(&s.state());
    // Same length, other bytes: only the digest can tell.
    std::fs::write(&blob, b"attacker ruleset").expect("forge");
    assert_blob_refused(&s, "its SHA-256 is not the one recorded");
    std::fs::write(&blob, b"previous").expect("truncate");
    assert_blob_refused(&s, "holds 8 bytes, the record says 16");
    std::fs::remove_file(&blob).expect("rm");
    symlink(s.dir.path().join("reverted"), &blob).expect("symlink");
    assert_blob_refused(&s, "symbolic link");
    std::fs::remove_file(&blob).expect("rm");
    std::fs::write(&blob, b"previous ruleset").expect("restore");
    let lock = StateLock::acquire(&s.state(), WAIT).expect("lock");
    let done = pending::revert_now(
        &lock,
        &SLOT,
        &marker_revert(&s.marker),
        None,
        hostwall::safe::RevertReason::Requested,
    )
    .expect("revert");
    assert!(done.is_some());
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
}
