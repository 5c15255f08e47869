//! Safe-apply building blocks (issue #5) with real processes: the state-dir lock across
//! processes and crashes, the permission guard on real files, the detached revert
//! watcher (timeout, confirm, SIGKILL), and `systemd-analyze verify` of the unit.
//!
//! Child processes are this test binary re-executed (through `env`, which keeps the
//! pid) running only `safe::child_entry`, with its role in the environment.

use hostwall::safe::lock::StateLock;
use hostwall::safe::pending::{
    self, Confirmed, Recovery, StaleReason, Status, WatcherHealth, begin,
};
use hostwall::safe::perms::{self, PermError};
use hostwall::safe::watcher::{self, SpawnMethod, WatchOutcome, WatcherCommand};
use hostwall::safe::{
    BoxError, ConfirmOptions, Error, FlowError, guarded_apply, status_recovering,
};
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "HOSTWALL_SAFE_TEST_ROLE";

/// A fake revert: writes the previous-state blob into `marker`.
fn marker_revert(marker: &Path) -> impl Fn(&[u8]) -> Result<(), BoxError> + '_ {
    move |blob: &[u8]| std::fs::write(marker, blob).map_err(BoxError::from)
}

/// Not a test of its own: the body of the child processes below. Does nothing
/// unless started by one of them with its role set.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let var = |k: &str| PathBuf::from(std::env::var_os(k).unwrap_or_default());
    match role.as_str() {
        // Hold the lock until killed; announce it through a ready file.
        "hold-lock" => {
            let lock = StateLock::acquire(&var("STATE_DIR"), Duration::ZERO);
            std::fs::write(var("READY"), format!("{:?}", lock.as_ref().err())).ok();
            std::thread::sleep(Duration::from_secs(60));
            drop(lock);
        }
        "watch" => {
            let id = std::env::var("ID").unwrap_or_default();
            let marker = var("MARKER");
            let out = watcher::run_watcher(&var("STATE_DIR"), &id, &marker_revert(&marker));
            std::fs::write(var("OUTCOME"), format!("{out:?}")).ok();
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn child(role: &str, env: &[(&str, &Path)]) -> Command {
    let mut c = Command::new("env");
    c.arg(format!("{ROLE}={role}"));
    for (k, v) in env {
        let mut kv = OsString::from(format!("{k}="));
        kv.push(v.as_os_str());
        c.arg(kv);
    }
    c.arg(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "safe::child_entry",
            "--nocapture",
            "--test-threads=1",
        ]);
    c
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(child: &mut Child) {
    child.kill().ok();
    child.wait().ok();
}

/// Starts a child holding the lock of `dir`; returns it once it holds it.
fn lock_holder(dir: &Path) -> Child {
    let ready = dir.join("ready");
    let mut c = child("hold-lock", &[("STATE_DIR", dir), ("READY", &ready)])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn lock holder");
    wait_for(
        "the child to take the lock",
        Duration::from_secs(20),
        || ready.exists(),
    );
    let state = std::fs::read_to_string(&ready).unwrap_or_default();
    if state != "None" {
        kill(&mut c);
        panic!("child could not lock: {state}");
    }
    c
}

#[test]
fn lock_second_holder_in_process_is_refused_with_our_pid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = StateLock::acquire(dir.path(), Duration::ZERO).expect("first");
    let err = StateLock::acquire(dir.path(), Duration::from_millis(120)).expect_err("busy");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "another hostwall apply/confirm/revert is running (pid {})",
            std::process::id()
        )),
        "{msg}"
    );
    drop(first);
    let again = StateLock::acquire(dir.path(), Duration::ZERO).expect("free after drop");
    drop(again);
    // The pid is cleared on release, so a stale file never names a finished process.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lock"))
            .ok()
            .as_deref(),
        Some("")
    );
}

#[test]
fn lock_across_processes_names_holder_and_is_released_by_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut holder = lock_holder(dir.path());
    let err = StateLock::acquire(dir.path(), Duration::ZERO).expect_err("held by child");
    match &err {
        Error::Busy { pid, .. } => assert_eq!(*pid, Some(holder.id()), "{err}"),
        other => panic!("expected Busy, got {other}"),
    }
    // A crash (SIGKILL) must not leave the lock stuck.
    let killer = {
        let pid = holder.id();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        })
    };
    let waited = Instant::now();
    let lock = StateLock::acquire(dir.path(), Duration::from_secs(20)).expect("after SIGKILL");
    assert!(
        waited.elapsed() >= Duration::from_millis(250),
        "did not wait for the holder"
    );
    killer.join().ok();
    kill(&mut holder);
    drop(lock);
}

#[test]
fn lock_serialises_concurrent_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (dir, inside) = (dir.path().to_path_buf(), inside.clone());
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let lock = StateLock::acquire(&dir, Duration::from_secs(30)).expect("lock");
                    let n = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert_eq!(n, 0, "two holders at once");
                    std::thread::sleep(Duration::from_millis(5));
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    drop(lock);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

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
fn perms_refuse_a_file_not_owned_by_root() {
    // SAFETY: geteuid has no side effects.
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test needs root (to chown the file to nobody); CI runs as root");
    }
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

/// A state dir with a pending change (blob `previous`) and the paths a watcher uses.
struct Scene {
    dir: tempfile::TempDir,
    marker: PathBuf,
    outcome: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("reverted");
        let outcome = dir.path().join("outcome");
        Scene {
            dir,
            marker,
            outcome,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn watcher_command(&self, id: &str) -> WatcherCommand {
        scene_watcher(&self.state(), id).expect("watcher command")
    }

    /// What `apply --confirm SECS` does around the real apply: record, then watcher.
    fn apply_pending(&self, timeout: Duration) -> (pending::Pending, watcher::Spawned) {
        let lock = StateLock::acquire(&self.state(), Duration::ZERO).expect("lock");
        let record = begin(&lock, "host.policy", timeout, b"previous ruleset").expect("begin");
        let cmd = self.watcher_command(&record.id);
        let spawned = watcher::spawn(&lock, &record, &cmd, SpawnMethod::Detached).expect("spawn");
        (record, spawned)
    }

    fn reverted(&self) -> Option<String> {
        std::fs::read_to_string(&self.marker).ok()
    }
}

/// The watcher command of a [`Scene`], derived from its state dir alone so that it
/// fits `ConfirmOptions::command`: the fake revert writes into `<scene>/reverted`.
fn scene_watcher(state: &Path, id: &str) -> Result<WatcherCommand, Error> {
    let scene = state.parent().unwrap_or(state);
    let c = child(
        "watch",
        &[
            ("STATE_DIR", state),
            ("ID", Path::new(id)),
            ("MARKER", &scene.join("reverted")),
            ("OUTCOME", &scene.join("outcome")),
        ],
    );
    Ok(WatcherCommand {
        program: PathBuf::from(c.get_program()),
        args: c.get_args().map(|a| a.to_owned()).collect(),
    })
}

#[test]
fn unconfirmed_change_is_reverted_by_the_watcher_after_the_timeout() {
    let s = Scene::new();
    let started = Instant::now();
    let (record, spawned) = s.apply_pending(Duration::from_secs(1));
    match pending::status(&s.state()).expect("status") {
        Status::Pending {
            record: r,
            remaining,
            watcher,
        } => {
            assert_eq!(r.id, record.id);
            assert!((1..=2).contains(&remaining), "{remaining}");
            assert_eq!(watcher, WatcherHealth::Alive);
        }
        Status::Nothing => panic!("nothing pending right after apply"),
    }
    assert_eq!(s.reverted(), None, "reverted before the deadline");
    wait_for("the watcher to revert", Duration::from_secs(20), || {
        s.outcome.exists()
    });
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "reverted early"
    );
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
    let outcome = std::fs::read_to_string(&s.outcome).unwrap_or_default();
    assert!(outcome.starts_with("Ok(Reverted("), "{outcome}");
    assert_eq!(
        pending::status(&s.state()).expect("status"),
        Status::Nothing
    );
    assert!(!s.state().join("pending.prev").exists());
    wait_for("the watcher to exit", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
}

#[test]
fn confirmed_change_is_kept_and_the_watcher_exits() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(2));
    let confirmed = pending::confirm(
        &s.state(),
        Duration::from_secs(5),
        &marker_revert(&s.marker),
    )
    .expect("confirm");
    let record = pending::Pending {
        watcher: Some(spawned.process()),
        ..record
    };
    assert_eq!(confirmed, Confirmed::Kept(record));
    wait_for(
        "the watcher to notice the confirm",
        Duration::from_secs(10),
        || s.outcome.exists(),
    );
    assert_eq!(
        std::fs::read_to_string(&s.outcome).ok().as_deref(),
        Some(format!("{:?}", Ok::<_, Error>(WatchOutcome::NotPending)).as_str())
    );
    std::thread::sleep(Duration::from_millis(2500)); // past the deadline
    assert_eq!(s.reverted(), None, "a confirmed change was reverted");
    assert!(!spawned.process().is_alive());
    assert_eq!(
        pending::confirm(&s.state(), Duration::ZERO, &marker_revert(&s.marker)).expect("again"),
        Confirmed::NothingPending
    );
}

#[test]
fn sigkilled_watcher_is_detected_and_the_next_invocation_reverts() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(30));
    let pid = spawned.process().pid;
    // SAFETY: plain kill(2) of the watcher we started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    wait_for("the watcher to die", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    match pending::status(&s.state()).expect("status") {
        Status::Pending { watcher, .. } => assert_eq!(watcher, WatcherHealth::Gone),
        Status::Nothing => panic!("record vanished with its watcher"),
    }
    let lock = StateLock::acquire(&s.state(), Duration::ZERO).expect("lock");
    let rec = pending::recover(&lock, &marker_revert(&s.marker)).expect("recover");
    assert_eq!(
        rec,
        Recovery::Reverted {
            record: pending::Pending {
                watcher: Some(spawned.process()),
                ..record
            },
            reason: StaleReason::WatcherGone
        }
    );
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
    assert_eq!(
        pending::recover(&lock, &marker_revert(&s.marker)).expect("again"),
        Recovery::Nothing
    );
}

#[test]
fn second_apply_while_pending_is_refused() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(30));
    let lock = StateLock::acquire(&s.state(), Duration::ZERO).expect("lock");
    let rec = pending::recover(&lock, &marker_revert(&s.marker)).expect("recover");
    assert!(
        matches!(&rec, Recovery::Pending(r) if r.id == record.id),
        "{rec:?}"
    );
    let err = begin(&lock, "other.policy", Duration::from_secs(5), b"x").expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "a change is already pending (id {}, policy host.policy, ",
            record.id
        )),
        "{msg}"
    );
    assert!(msg.contains("run `hostwall confirm`"), "{msg}");
    drop(lock);
    pending::confirm(
        &s.state(),
        Duration::from_secs(5),
        &marker_revert(&s.marker),
    )
    .expect("confirm");
    wait_for("the watcher to exit", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    assert_eq!(s.reverted(), None);
}

#[test]
fn crash_before_the_watcher_started_is_reverted() {
    let s = Scene::new();
    let lock = StateLock::acquire(&s.state(), Duration::ZERO).expect("lock");
    let record = begin(&lock, "host.policy", Duration::from_secs(60), b"before").expect("begin");
    drop(lock); // the applying process dies here
    let lock = StateLock::acquire(&s.state(), Duration::ZERO).expect("lock");
    let rec = pending::recover(&lock, &marker_revert(&s.marker)).expect("recover");
    assert_eq!(
        rec,
        Recovery::Reverted {
            record,
            reason: StaleReason::NoWatcher
        }
    );
    assert_eq!(s.reverted().as_deref(), Some("before"));
}

#[test]
fn late_confirm_reverts_and_a_live_watcher_past_its_deadline_is_overtaken() {
    let s = Scene::new();
    // A "watcher" that is alive but never acts (stuck): `sleep`.
    let mut stuck = Command::new("sleep").arg("30").spawn().expect("sleep");
    let lock = StateLock::acquire(&s.state(), Duration::ZERO).expect("lock");
    let record = begin(&lock, "host.policy", Duration::ZERO, b"old").expect("begin");
    let proc_id = pending::ProcId::of(stuck.id()).expect("sleep runs");
    pending::set_watcher(&lock, &record.id, proc_id).expect("set watcher");
    drop(lock);
    std::thread::sleep(Duration::from_millis(1100));
    let got =
        pending::confirm(&s.state(), Duration::ZERO, &marker_revert(&s.marker)).expect("confirm");
    assert!(
        matches!(got, Confirmed::TooLate(ref r) if r.id == record.id),
        "{got:?}"
    );
    assert_eq!(s.reverted().as_deref(), Some("old"));

    std::fs::remove_file(&s.marker).expect("reset marker");
    let lock = StateLock::acquire(&s.state(), Duration::ZERO).expect("lock");
    let record = begin(&lock, "host.policy", Duration::ZERO, b"old2").expect("begin");
    pending::set_watcher(&lock, &record.id, proc_id).expect("set watcher");
    std::thread::sleep(Duration::from_millis(1100));
    let rec = pending::recover(&lock, &marker_revert(&s.marker)).expect("recover");
    assert!(
        matches!(
            rec,
            Recovery::Reverted {
                reason: StaleReason::DeadlinePassed,
                ..
            }
        ),
        "{rec:?}"
    );
    assert_eq!(s.reverted().as_deref(), Some("old2"));
    kill(&mut stuck);
}

#[test]
fn failed_revert_keeps_the_record_for_a_retry() {
    let s = Scene::new();
    let lock = StateLock::acquire(&s.state(), Duration::ZERO).expect("lock");
    let record = begin(&lock, "host.policy", Duration::from_secs(60), b"snap").expect("begin");
    let failing =
        |_: &[u8]| -> Result<(), BoxError> { Err("netlink: Operation not permitted".into()) };
    let err = pending::recover(&lock, &failing).expect_err("revert fails");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "reverting pending change {} failed: netlink: Operation not permitted",
            record.id
        )),
        "{msg}"
    );
    assert_eq!(pending::read(&s.state()).expect("read"), Some(record));
    let rec = pending::recover(&lock, &marker_revert(&s.marker)).expect("retry");
    assert!(matches!(rec, Recovery::Reverted { .. }));
    assert_eq!(s.reverted().as_deref(), Some("snap"));
}

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/hostwall.service"
    ))
    .expect("packaging/hostwall.service");
    assert!(
        unit.contains("ExecStart=/usr/sbin/hostwall apply "),
        "{unit}"
    );
    for (key, value) in [
        ("Type", "oneshot"),
        ("RemainAfterExit", "yes"),
        ("Before", "network-pre.target"),
        ("Wants", "network-pre.target"),
    ] {
        let found = unit
            .lines()
            .filter_map(|l| l.split_once('='))
            .any(|(k, v)| k == key && v.split_whitespace().any(|w| w == value));
        assert!(found, "unit lacks {key}={value}");
    }
    // verify needs the ExecStart binary to exist: point it at a copy of `true`.
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("hostwall");
    std::fs::copy("/bin/true", &bin).expect("copy /bin/true");
    let path = dir.path().join("hostwall.service");
    std::fs::write(
        &path,
        unit.replace("/usr/sbin/hostwall", &bin.display().to_string()),
    )
    .expect("write unit");
    let out = match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "systemd-analyze not runnable ({e}): install the `systemd` package (CI: .ci/run)"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("hostwall.service"),
        "warnings about the unit:\n{stderr}"
    );
}

/// The caller's step error in the flow tests.
#[derive(Debug, thiserror::Error)]
#[error("kernel said no")]
struct StepFailed;

#[test]
fn guarded_apply_with_confirm_reverts_the_kernel_state_unless_confirmed() {
    let s = Scene::new();
    // The "kernel": a file the apply step changes and the revert restores.
    let kernel = &s.marker;
    std::fs::write(kernel, "old ruleset").expect("kernel");
    let opts = ConfirmOptions {
        command: scene_watcher,
        method: SpawnMethod::Detached,
        ..ConfirmOptions::new("host.policy", Duration::from_secs(1))
    };
    let revert = marker_revert(kernel);
    let applied = guarded_apply(
        &s.state(),
        Duration::ZERO,
        &revert,
        Some(&opts),
        || std::fs::read(kernel).map_err(|_| StepFailed),
        || std::fs::write(kernel, "new ruleset").map_err(|_| StepFailed),
    )
    .expect("apply");
    let (record, spawned) = applied.pending.expect("pending");
    assert_eq!(record.watcher, Some(spawned.process()));
    assert!(applied.recovered.is_none());
    assert_eq!(s.reverted().as_deref(), Some("new ruleset"));

    // A second apply while this one is pending is refused and changes nothing.
    let err = guarded_apply(
        &s.state(),
        Duration::ZERO,
        &revert,
        None,
        || Ok::<_, StepFailed>(vec![]),
        || std::fs::write(kernel, "third").map_err(|_| StepFailed),
    )
    .expect_err("refused");
    assert!(
        err.to_string().starts_with("a change is already pending"),
        "{err}"
    );
    assert_eq!(s.reverted().as_deref(), Some("new ruleset"));

    wait_for("the watcher to revert", Duration::from_secs(20), || {
        s.outcome.exists()
    });
    assert_eq!(s.reverted().as_deref(), Some("old ruleset"));
    assert_eq!(
        pending::status(&s.state()).expect("status"),
        Status::Nothing
    );
}

#[test]
fn guarded_apply_failures_leave_nothing_pending() {
    let s = Scene::new();
    let revert = marker_revert(&s.marker);
    let opts = ConfirmOptions {
        command: scene_watcher,
        method: SpawnMethod::Detached,
        ..ConfirmOptions::new("host.policy", Duration::from_secs(30))
    };
    let err = guarded_apply(
        &s.state(),
        Duration::ZERO,
        &revert,
        Some(&opts),
        || Ok(b"snapshot".to_vec()),
        || Err::<(), _>(StepFailed),
    )
    .expect_err("apply fails");
    assert!(matches!(err, FlowError::Step(StepFailed)), "{err}");
    assert_eq!(
        pending::status(&s.state()).expect("status"),
        Status::Nothing
    );
    assert_eq!(s.reverted(), None, "a failed apply is not reverted again");

    // No watcher can be started: the change is reverted at once.
    let broken = ConfirmOptions {
        command: |_, _| {
            Ok(WatcherCommand {
                program: PathBuf::from("/nonexistent/hostwall"),
                args: vec![],
            })
        },
        ..opts
    };
    let err = guarded_apply(
        &s.state(),
        Duration::ZERO,
        &revert,
        Some(&broken),
        || Ok(b"snapshot".to_vec()),
        || Ok::<(), StepFailed>(()),
    )
    .expect_err("no watcher");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot start the revert watcher: /nonexistent/hostwall:"),
        "{msg}"
    );
    assert!(
        msg.ends_with("the change was reverted because nothing could revert it later"),
        "{msg}"
    );
    assert_eq!(s.reverted().as_deref(), Some("snapshot"));
    assert_eq!(
        pending::status(&s.state()).expect("status"),
        Status::Nothing
    );
}

#[test]
fn status_after_a_sigkilled_watcher_reverts() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(30));
    // SAFETY: plain kill(2) of the watcher we started.
    unsafe { libc::kill(spawned.process().pid as i32, libc::SIGKILL) };
    wait_for("the watcher to die", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    let (recovered, status) =
        status_recovering(&s.state(), &marker_revert(&s.marker)).expect("status");
    let (r, reason) = recovered.expect("stale change reverted");
    assert_eq!((r.id, reason), (record.id, StaleReason::WatcherGone));
    assert_eq!(status, Status::Nothing);
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
}
