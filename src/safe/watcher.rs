//! The revert watcher: a process that outlives the admin's shell and SSH session,
//! sleeps until the deadline of a pending change and reverts it unless confirmed.
//!
//! It is the `hostwall` binary re-executed with a hidden subcommand that calls
//! [`run_watcher`]. Where systemd is PID 1 it runs as a transient service
//! (`systemd-run --unit hostwall-revert-<id>`), which also escapes the login session's
//! cgroup (logind may kill every process of a closed session); elsewhere it is a
//! detached child: its own session (`setsid`), no controlling terminal, stdio on
//! /dev/null, SIGHUP ignored, cwd `/`.

use super::lock::StateLock;
use super::pending::{self, Pending, ProcId, Reverted};
use super::{Error, Revert};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The hidden subcommand the CLI must route to [`run_watcher`]:
/// `hostwall watch-revert --state-dir DIR --id ID`.
pub const SUBCOMMAND: &str = "watch-revert";

/// How often a sleeping watcher looks whether the change was confirmed, so it exits
/// soon after a confirm instead of lingering until the deadline.
const POLL: Duration = Duration::from_millis(500);

/// A failed revert is retried after 1 s, 2 s, 4 s, ... and then every 30 s.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The watcher waits this long per lock attempt; an apply holding the lock finishes
/// in seconds, so it simply tries again.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// How to start the watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnMethod {
    /// A transient systemd unit when systemd is PID 1 and we are in its network
    /// namespace, else a detached process.
    Auto,
    Detached,
    SystemdRun,
}

/// How the watcher was actually started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spawned {
    Detached(ProcId),
    SystemdUnit { unit: String, process: ProcId },
}

impl Spawned {
    pub fn process(&self) -> ProcId {
        match self {
            Spawned::Detached(p) | Spawned::SystemdUnit { process: p, .. } => *p,
        }
    }
}

/// The program and arguments that run the watcher for one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl WatcherCommand {
    /// This very binary with `watch-revert --state-dir DIR --id ID`.
    pub fn hostwall(state_dir: &Path, id: &str) -> Result<WatcherCommand, Error> {
        let program = std::env::current_exe()
            .map_err(|e| Error::Spawn(format!("cannot find the hostwall binary: {e}")))?;
        Ok(WatcherCommand {
            program,
            args: vec![
                SUBCOMMAND.into(),
                "--state-dir".into(),
                state_dir.as_os_str().to_owned(),
                "--id".into(),
                id.into(),
            ],
        })
    }
}

/// Whether systemd manages this boot (the `sd_booted()` test).
pub fn systemd_is_init() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Whether this thread shares PID 1's network namespace. A transient unit runs in
/// PID 1's namespaces, so from any other namespace (`--netns`, `unshare -rn`) it would
/// revert the wrong ruleset: there the watcher must be a detached child, which
/// inherits the namespace. Unreadable (no access to PID 1) counts as "not shared".
pub fn in_init_netns() -> bool {
    crate::nsid::shares_init_netns().unwrap_or(false)
}

/// Starts the watcher for `record` and stores its identity in the record. Called
/// under the lock, after the new ruleset is applied.
pub fn spawn(
    lock: &StateLock,
    record: &Pending,
    cmd: &WatcherCommand,
    method: SpawnMethod,
) -> Result<Spawned, Error> {
    let spawned = match method {
        SpawnMethod::Detached => spawn_detached(cmd)?,
        SpawnMethod::SystemdRun => spawn_systemd(cmd, &record.id)?,
        // A broken systemd-run (no D-Bus, masked manager) must not leave the change
        // without a watcher: fall back to the detached process.
        SpawnMethod::Auto if systemd_is_init() && in_init_netns() => {
            match spawn_systemd(cmd, &record.id) {
                Ok(s) => s,
                Err(_) => spawn_detached(cmd)?,
            }
        }
        SpawnMethod::Auto => spawn_detached(cmd)?,
    };
    pending::set_watcher(lock, &record.id, spawned.process())?;
    Ok(spawned)
}

fn spawn_detached(cmd: &WatcherCommand) -> Result<Spawned, Error> {
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (setsid, signal) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // An ignored disposition survives exec: the hangup of a dying SSH
            // session cannot reach the watcher even before it runs any code.
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            // Descriptors without O_CLOEXEC (a netlink socket opened by a C library)
            // must not live on in a watcher for minutes: mark every one above stdio
            // close-on-exec. Marking, not closing, keeps std's exec-error pipe
            // working. Kernels before 5.11 lack it; the watcher then just inherits.
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| Error::Spawn(format!("{}: {e}", cmd.program.display())))?;
    // The Child handle is dropped without waiting: the watcher must outlive us.
    let pid = child.id();
    let process = ProcId::of(pid)
        .ok_or_else(|| Error::Spawn(format!("watcher (pid {pid}) exited at once")))?;
    Ok(Spawned::Detached(process))
}

fn spawn_systemd(cmd: &WatcherCommand, id: &str) -> Result<Spawned, Error> {
    let unit = format!("hostwall-revert-{id}");
    let status = Command::new("systemd-run")
        .arg(format!("--unit={unit}"))
        .arg(format!(
            "--description=hostwall: revert change {id} unless confirmed"
        ))
        .args(["--service-type=exec", "--collect", "--quiet", "--"])
        .arg(&cmd.program)
        .args(&cmd.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Spawn(format!("systemd-run: {e}")))?;
    if !status.status.success() {
        return Err(Error::Spawn(format!(
            "systemd-run: {}",
            String::from_utf8_lossy(&status.stderr).trim()
        )));
    }
    match main_pid(&unit).and_then(ProcId::of) {
        Some(process) => Ok(Spawned::SystemdUnit { unit, process }),
        None => {
            // Without its pid the record cannot tell a live watcher from a dead one;
            // stop the unit so the fallback does not run two watchers.
            let _ = Command::new("systemctl")
                .args(["stop", &format!("{unit}.service")])
                .output();
            Err(Error::Spawn(format!("{unit}.service has no main process")))
        }
    }
}

fn main_pid(unit: &str) -> Option<u32> {
    let out = Command::new("systemctl")
        .args([
            "show",
            "--property=MainPID",
            "--value",
            &format!("{unit}.service"),
        ])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    (pid != 0).then_some(pid)
}

/// What the watcher did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchOutcome {
    /// The deadline passed unconfirmed; the previous state is back.
    Reverted(Pending),
    /// The change was confirmed (or already reverted by someone else): nothing to do.
    NotPending,
    /// Nothing was left to revert (the change's namespace is gone): record dropped.
    Dropped(Pending),
}

/// The watcher's body: sleeps until the deadline of change `id` (leaving early if the
/// record goes away), then takes the lock, re-reads the record, and reverts unless it
/// was confirmed meanwhile. A failed revert is retried with backoff until it succeeds
/// or the record is gone (confirmed too late, reverted by `hostwall revert`); each
/// failure is kept in the record for `status`. Ignores SIGHUP for itself.
pub fn run_watcher(state_dir: &Path, id: &str, revert: &dyn Revert) -> Result<WatchOutcome, Error> {
    // SAFETY: changing a signal disposition to SIG_IGN has no memory effects.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    loop {
        let Some(record) = pending::read_id(state_dir, id)? else {
            return Ok(WatchOutcome::NotPending);
        };
        let left = record.left();
        // A revert that another process began and did not finish is finished now.
        if left.is_zero() || record.reverting.is_some() {
            break;
        }
        std::thread::sleep(left.min(POLL));
    }
    let mut backoff = RETRY_FIRST;
    loop {
        let lock = acquire_patiently(state_dir)?;
        let Some(record) = pending::read_id(state_dir, id)? else {
            return Ok(WatchOutcome::NotPending);
        };
        match pending::revert_record(
            &lock,
            &record,
            revert,
            pending::RevertReason::DeadlinePassed,
        ) {
            Ok(Reverted::Restored) => return Ok(WatchOutcome::Reverted(record)),
            Ok(Reverted::Dropped(_)) => return Ok(WatchOutcome::Dropped(record)),
            // Giving up would leave an unconfirmed (possibly locking-out) ruleset in
            // place for good: keep the error for `status` and try again, with the
            // lock released so `status`, `revert` and `confirm` can still run.
            Err(e) => {
                pending::set_last_error(&lock, id, &e.to_string())?;
                drop(lock);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Waits for the lock as long as it takes: the watcher has nowhere else to go.
fn acquire_patiently(state_dir: &Path) -> Result<StateLock, Error> {
    loop {
        match StateLock::acquire(state_dir, LOCK_WAIT) {
            Err(Error::Busy { .. }) => continue,
            other => return other,
        }
    }
}
