//! The cgroups a boot's systemd builds below the one `sh/boot.sh` made for
//! it: waited empty and removed, deepest first, after the boot; and what boots
//! of dead test processes left behind (killed before their teardown ran).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The hierarchies `sh/boot.sh` puts a boot into (cgroup v2, or v1's named
/// systemd hierarchy and the hybrid unified one).
fn hierarchies() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.to_path_buf()];
    }
    vec![base.join("systemd"), base.join("unified")]
}

/// Removes `name` from every hierarchy once no process is left in it.
/// Returns what could not be removed within `patience` (a leak to report).
pub fn remove(name: &str, patience: Duration) -> Vec<PathBuf> {
    let deadline = Instant::now() + patience;
    let mut left = Vec::new();
    for h in hierarchies() {
        let top = h.join(name);
        if !top.exists() {
            continue;
        }
        loop {
            let mut dirs = Vec::new();
            collect(&top, &mut dirs);
            // Deepest first: a cgroup can go only when its children have.
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in &dirs {
                let _ = fs::remove_dir(d);
            }
            if !top.exists() {
                break;
            }
            if Instant::now() >= deadline {
                left.push(top);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    left
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&e.path(), out);
        }
    }
}

/// Removes the cgroups (`hostwall-boot-NAME-PID`) and work directories
/// (`NAME-PID-XXXXXX` under `boots`) of test processes that no longer run.
/// A recycled pid keeps its leftovers until that process is gone too.
pub fn reap_orphans(boots: &Path) {
    let dead = |pid: &str| {
        pid.parse::<u32>()
            .is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists())
    };
    for h in hierarchies() {
        for e in fs::read_dir(&h).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("hostwall-boot-") && name.rsplit('-').next().is_some_and(dead) {
                remove(&name, Duration::from_secs(1));
            }
        }
    }
    for e in fs::read_dir(boots).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.rsplit('-');
        let _random = parts.next();
        if parts.next().is_some_and(dead) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
