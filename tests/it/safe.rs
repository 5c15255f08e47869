//! Safe-apply building blocks with real processes: the state-dir lock across
//! processes and crashes, the permission guard on real files, the detached revert
//! watcher (timeout, confirm, SIGKILL), and `systemd-analyze verify` of the unit.
//!
//! Child processes are this test binary re-executed (through `env`, which keeps the
//! pid) running only `safe::child_entry`, with its role in the environment.

use hostwall::safe::lock::StateLock;
use hostwall::safe::pending::{
    self, Confirmed, Recovery, StaleReason, Status, WatcherHealth, begin,
};
use hostwall::safe::watcher::{self, SpawnMethod, WatchOutcome, WatcherCommand};
use hostwall::safe::{
    BoxError, ConfirmOptions, Error, FlowError, Place, Slot, guarded_apply, status_recovering,
};
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod ending;
mod flow;
mod lock;
mod lockout;
mod perm_files;
mod state_trust;
mod unit;
mod watch;

/// Lock wait for steps that expect a free lock. Not zero: while another test thread
/// spawns a child, the child holds copies of our descriptors (the lock's included)
/// between fork and exec, so a just-released flock can look busy for an instant.
const WAIT: Duration = Duration::from_secs(5);

const ROLE: &str = "HOSTWALL_SAFE_TEST_ROLE";

/// The namespace slot these tests keep their pending change in (no kernel here: the
/// key stands for a namespace identity).
static SLOT: std::sync::LazyLock<Slot> =
    std::sync::LazyLock::new(|| Slot::new("c1f", None).expect("slot"));

/// The state dir and [`SLOT`], as the flow takes them.
fn place(state: &Path) -> Place<'_> {
    Place {
        state_dir: state,
        slot: &SLOT,
    }
}

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
        "netns" => {
            std::fs::write(var("OUTCOME"), watcher::in_init_netns().to_string()).ok();
        }
        // Start a revert of a fresh pending change and die in it: SIGKILL right after
        // the "kernel" (the marker) changed, or a SIGHUP that must wait for the end.
        "die-mid-revert" | "hup-mid-revert" => ending::revert_and_signal(&role, &var),
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

/// A temp dir usable as a state dir itself: owner-only, as the trust rule demands.
fn private_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}

fn kill(child: &mut Child) {
    child.kill().ok();
    child.wait().ok();
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
        let (lock, record) = self.begin(timeout, b"previous ruleset");
        let cmd = self.watcher_command(&record.id);
        let spawned = watcher::spawn(&lock, &record, &cmd, SpawnMethod::Detached).expect("spawn");
        (record, spawned)
    }

    fn reverted(&self) -> Option<String> {
        std::fs::read_to_string(&self.marker).ok()
    }

    /// Takes the state lock and records a pending change of `host.policy` due in
    /// `timeout`, whose previous state is `previous` (what `apply --confirm` does first).
    fn begin(&self, timeout: Duration, previous: &[u8]) -> (StateLock, pending::Pending) {
        let lock = StateLock::acquire(&self.state(), WAIT).expect("lock");
        let record = begin(&lock, &SLOT, "host.policy", timeout, &previous).expect("begin");
        (lock, record)
    }

    /// Asserts that no change is pending in the scene's state dir.
    fn assert_nothing_pending(&self) {
        assert_eq!(
            pending::status(&self.state(), &SLOT).expect("status"),
            Status::Nothing
        );
    }
}

/// Confirm options whose watcher is the scene's, started detached, with `timeout`.
fn detached(timeout: Duration) -> ConfirmOptions {
    ConfirmOptions {
        command: scene_watcher,
        method: SpawnMethod::Detached,
        ..ConfirmOptions::new("host.policy", timeout)
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
