//! One boot: an overlay above a cached root, systemd as PID 1 in new pid,
//! mount, net, uts and ipc namespaces (`sh/boot.sh`, `sh/init.sh`), a oneshot
//! unit that runs the probe script and powers off, then the probe's output and
//! the boot's journal. Teardown (kill PID 1, remove the boot's cgroups and its
//! overlay layer) runs on every path, panics included.

use super::{HarnessError, Root};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to run inside a boot.
pub struct BootSpec {
    /// A short name for logs, cgroups and directories.
    pub name: String,
    /// The probe: a shell script run by a `Type=simple` unit after
    /// `multi-user.target` (so `systemctl is-system-running --wait` returns
    /// while it runs); its stdout and stderr are the boot's `probe_log`, its exit code `probe_rc`.
    pub probe: String,
    /// Files put into the share directory, which the boot sees as
    /// `/hostwall-test` (`/hostwall-test/NAME`; results go to `out/`).
    pub files: Vec<(String, Vec<u8>)>,
    /// Copy the freshly built `hostwall` binary to `/hostwall-test/hostwall`.
    pub with_hostwall: bool,
    /// The whole boot, probe included, is killed after this long.
    pub timeout: Duration,
}

impl BootSpec {
    pub fn new(name: &str, probe: &str) -> BootSpec {
        BootSpec {
            name: name.to_string(),
            probe: probe.to_string(),
            files: Vec::new(),
            with_hostwall: true,
            timeout: Duration::from_secs(300),
        }
    }

    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> BootSpec {
        self.files.push((name.to_string(), contents.into()));
        self
    }
}

/// What a finished boot left behind.
#[derive(Debug)]
pub struct BootOutput {
    /// The probe's exit code (`None`: the probe never finished).
    pub probe_rc: Option<i32>,
    pub probe_log: String,
    /// `journalctl -o short-monotonic` of the boot.
    pub journal: String,
    /// What systemd wrote to its console.
    pub console: String,
    /// What `sh/boot.sh` and `sh/init.sh` printed (mount errors and the like).
    pub boot_log: String,
    /// From the start of the boot to PID 1's exit.
    pub elapsed: Duration,
}

impl BootOutput {
    /// The probe log, then the journal's tail: for assertion messages.
    pub fn explain(&self) -> String {
        format!(
            "probe exit {:?} after {:.1?}\n--- boot.sh\n{}\n--- probe log\n{}\n--- journal (tail)\n{}\n--- console (tail)\n{}",
            self.probe_rc,
            self.elapsed,
            self.boot_log,
            self.probe_log,
            super::tail(&self.journal, 60),
            super::tail(&self.console, 20)
        )
    }
}

const PROBE_UNIT: &str = "[Unit]
Description=hostwall boot-test probe
After=multi-user.target

[Service]
Type=simple
ExecStart=/bin/sh -c '/bin/sh /hostwall-test/probe.sh >/hostwall-test/out/probe.log 2>&1; \
echo $? >/hostwall-test/out/probe.rc; \
journalctl -b -o short-monotonic --no-pager >/hostwall-test/out/journal.txt 2>&1; \
systemctl --no-block poweroff'
";

/// Boots `root` once on a fresh overlay layer, runs the probe, powers off;
/// the boot and its layer are gone when this returns.
pub fn boot(root: &Root, spec: &BootSpec) -> Result<BootOutput, HarnessError> {
    Machine::new(root, &spec.name)?.boot(spec)
}

/// One machine: an overlay layer above the root that persists across its
/// boots, as a disk does across reboots (state written in one boot is there
/// in the next). Its directory is removed when it is dropped.
pub struct Machine {
    root: PathBuf,
    work: Option<tempfile::TempDir>,
}

impl Machine {
    pub fn new(root: &Root, name: &str) -> Result<Machine, HarnessError> {
        let base = super::root::cache_dir().join("boots");
        fs::create_dir_all(&base).map_err(|e| HarnessError::io(&base, e))?;
        super::cgroup::reap_orphans(&base);
        let work = tempfile::Builder::new()
            .prefix(&format!("{name}-{}-", std::process::id()))
            .tempdir_in(&base)
            .map_err(|e| HarnessError::io(&base, e))?;
        Ok(Machine {
            root: root.path.clone(),
            work: Some(work),
        })
    }

    /// The machine's writable layer: what its boots wrote, seen from the host
    /// (write files here between boots to change what the next one finds).
    pub fn upper(&self) -> PathBuf {
        self.dir().join("upper")
    }

    /// What the last boot wrote to `/hostwall-test/out` (files a probe leaves for the
    /// test; emptied when the next boot starts).
    pub fn out_dir(&self) -> PathBuf {
        self.dir().join("share/out")
    }

    fn dir(&self) -> &Path {
        self.work
            .as_ref()
            .map_or(Path::new("/nonexistent"), |w| w.path())
    }

    /// Boots, runs `spec`'s probe, powers off. The journal starts empty each
    /// boot (the boot id is the host's, so `journalctl -b` could not tell boots apart).
    pub fn boot(&mut self, spec: &BootSpec) -> Result<BootOutput, HarnessError> {
        let w = self.dir().to_path_buf();
        prepare(&w, spec)?;
        let cgroup = format!("hostwall-boot-{}-{}", spec.name, std::process::id());
        let mut running = Running {
            child: Some(spawn(&self.root, &w, &cgroup)?),
            cgroup,
        };
        let started = Instant::now();
        let finished = running.wait(spec.timeout)?;
        let elapsed = started.elapsed();
        let leaked = running.teardown();
        if !leaked.is_empty() {
            return Err(HarnessError::Leak { cgroups: leaked });
        }
        let output = collect(&w, elapsed);
        if !finished {
            return Err(HarnessError::Timeout {
                after: spec.timeout,
                output: Box::new(output),
            });
        }
        Ok(output)
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if std::env::var_os("HOSTWALL_BOOT_KEEP").is_some()
            && let Some(work) = self.work.take()
        {
            eprintln!("HOSTWALL_BOOT_KEEP: kept {}", work.keep().display());
        }
    }
}

/// What the boot left in `share/out` (and the journal on disk if it never dumped it).
fn collect(w: &Path, elapsed: Duration) -> BootOutput {
    let out = w.join("share/out");
    let read = |name: &str| fs::read_to_string(out.join(name)).unwrap_or_default();
    let mut journal = read("journal.txt");
    if journal.is_empty() {
        journal = journal_from_disk(&w.join("upper/var/log/journal"));
    }
    BootOutput {
        probe_rc: read("probe.rc").trim().parse().ok(),
        probe_log: read("probe.log"),
        journal,
        console: read("console.log"),
        boot_log: read("boot-sh.log"),
        elapsed,
    }
}

/// The overlay's directories, the share directory, the probe and its unit.
fn prepare(w: &Path, spec: &BootSpec) -> Result<(), HarnessError> {
    let write = |path: PathBuf, data: &[u8]| -> Result<(), HarnessError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| HarnessError::io(dir, e))?;
        }
        fs::write(&path, data).map_err(|e| HarnessError::io(&path, e))
    };
    // A previous boot's results and journal go; the rest of its layer stays.
    for dir in ["share", "upper/var/log/journal"] {
        remove_tree(&w.join(dir))?;
    }
    for dir in ["upper/var/log/journal", "ovl", "merged", "share/out"] {
        let d = w.join(dir);
        fs::create_dir_all(&d).map_err(|e| HarnessError::io(&d, e))?;
    }
    let units = w.join("upper/etc/systemd/system");
    write(units.join("hostwall-probe.service"), PROBE_UNIT.as_bytes())?;
    let wants = units.join("multi-user.target.wants");
    fs::create_dir_all(&wants).map_err(|e| HarnessError::io(&wants, e))?;
    let link = wants.join("hostwall-probe.service");
    remove_tree(&link)?;
    std::os::unix::fs::symlink("/etc/systemd/system/hostwall-probe.service", &link)
        .map_err(|e| HarnessError::io(&link, e))?;
    write(w.join("share/probe.sh"), spec.probe.as_bytes())?;
    for (name, data) in &spec.files {
        write(w.join("share").join(name), data)?;
    }
    if spec.with_hostwall {
        let bin = Path::new(env!("CARGO_BIN_EXE_hostwall"));
        let dest = w.join("share/hostwall");
        fs::copy(bin, &dest).map_err(|e| HarnessError::io(bin, e))?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))
            .map_err(|e| HarnessError::io(&dest, e))?;
    }
    Ok(())
}

/// Removes a file, symlink or directory tree; absent is fine.
fn remove_tree(path: &Path) -> Result<(), HarnessError> {
    let r = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|e| HarnessError::io(path, e))
}

fn spawn(root: &Path, w: &Path, cgroup: &str) -> Result<Child, HarnessError> {
    let script = super::script_path("boot.sh");
    let log = w.join("share/out/boot-sh.log");
    let out = fs::File::create(&log).map_err(|e| HarnessError::io(&log, e))?;
    let err = out.try_clone().map_err(|e| HarnessError::io(&log, e))?;
    let mut cmd = Command::new("sh");
    cmd.arg(&script)
        .arg(root)
        .arg(w)
        .arg(cgroup)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the
    // boot if the thread that started it dies (a test panicking or killed).
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| HarnessError::io(&script, e))
}

/// A boot in progress: dropping it tears it down.
struct Running {
    child: Option<Child>,
    cgroup: String,
}

impl Running {
    /// True when PID 1 exited by itself before the deadline.
    fn wait(&mut self, timeout: Duration) -> Result<bool, HarnessError> {
        let deadline = Instant::now() + timeout;
        let Some(child) = self.child.as_mut() else {
            return Ok(true);
        };
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(true),
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(HarnessError::io(Path::new("boot.sh"), e)),
            }
        }
        Ok(false)
    }

    /// Kills PID 1 (through `unshare --kill-child`), waits for every process
    /// of the boot's cgroup to go, and removes the cgroups.
    /// Returns the cgroups that could not be removed.
    fn teardown(&mut self) -> Vec<PathBuf> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        super::cgroup::remove(&self.cgroup, Duration::from_secs(20))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

/// The journal read from the overlay's upper layer (the boot never dumped it).
fn journal_from_disk(dir: &Path) -> String {
    if !dir.exists() {
        return String::new();
    }
    Command::new("journalctl")
        .arg("-D")
        .arg(dir)
        .args(["-o", "short-monotonic", "--no-pager"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("journalctl -D {}: {e}", dir.display()))
}
