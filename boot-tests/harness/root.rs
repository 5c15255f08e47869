//! The cached Debian 12 root: built once per package list by `sh/build-root.sh`
//! into a temporary directory and renamed into place, under a lock so that
//! parallel tests never build the same root twice.

use super::HarnessError;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where roots are cached unless `HOSTWALL_BOOT_CACHE` says otherwise.
pub const DEFAULT_CACHE: &str = "/var/cache/hostwall-tests";

/// The packages every booted root has: systemd as init, and the tools the
/// harness and probes rely on. A test adds its own with [`Root::ensure`].
pub const BASE_PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "libpam-systemd",
    "dbus",
    "nftables",
    "iproute2",
    "procps",
];

/// The file that marks a root as complete (written before the rename).
const COMPLETE: &str = ".hostwall-root-complete";

const BUILD_SCRIPT: &str = include_str!("../sh/build-root.sh");

/// A bootable root in the cache; never modified after it is built (boots run
/// on an overlay above it).
#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
    /// How long this call took to build it; `None` when it was cached.
    pub built_in: Option<Duration>,
}

impl Root {
    /// The root with [`BASE_PACKAGES`] plus `extra`, built when missing.
    pub fn ensure(extra: &[&str]) -> Result<Root, HarnessError> {
        let cache = cache_dir();
        let mut packages: Vec<&str> = BASE_PACKAGES.iter().chain(extra).copied().collect();
        packages.sort_unstable();
        packages.dedup();
        let key = fnv1a(format!("{BUILD_SCRIPT}\n{}", packages.join(" ")).as_bytes());
        let path = cache.join(format!("root-{key:016x}"));
        if path.join(COMPLETE).exists() {
            return Ok(Root {
                path,
                built_in: None,
            });
        }
        fs::create_dir_all(&cache).map_err(|e| HarnessError::io(&cache, e))?;
        let _lock = lock(&cache.join(format!("root-{key:016x}.lock")))?;
        if path.join(COMPLETE).exists() {
            return Ok(Root {
                path,
                built_in: None,
            });
        }
        let started = Instant::now();
        build(&cache, &path, &packages)?;
        Ok(Root {
            path,
            built_in: Some(started.elapsed()),
        })
    }
}

/// The cache directory (`HOSTWALL_BOOT_CACHE`, else [`DEFAULT_CACHE`]).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("HOSTWALL_BOOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE))
}

/// Builds into `<path>.tmp`, then renames; leftovers of an interrupted build
/// are removed first (the caller holds the lock, so nobody else is building).
fn build(cache: &Path, path: &Path, packages: &[&str]) -> Result<(), HarnessError> {
    let tmp = path.with_extension("tmp");
    remove_tree(&tmp)?;
    let script = super::script_path("build-root.sh");
    let log = cache.join(format!("{}.build.log", file_name(path)));
    let out = File::create(&log).map_err(|e| HarnessError::io(&log, e))?;
    let err = out.try_clone().map_err(|e| HarnessError::io(&log, e))?;
    let status = Command::new("sh")
        .arg(&script)
        .arg(&tmp)
        .args(packages)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| HarnessError::io(&script, e))?;
    if !status.success() {
        remove_tree(&tmp)?;
        return Err(HarnessError::Build {
            status: status.to_string(),
            log: log.clone(),
            tail: super::tail(&fs::read_to_string(&log).unwrap_or_default(), 30),
        });
    }
    let marker = tmp.join(COMPLETE);
    fs::write(&marker, packages.join("\n")).map_err(|e| HarnessError::io(&marker, e))?;
    fs::rename(&tmp, path).map_err(|e| HarnessError::io(path, e))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes a directory tree that holds no mounts (a root being built has none).
fn remove_tree(path: &Path) -> Result<(), HarnessError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HarnessError::io(path, e)),
    }
}

/// An exclusive `flock` held until the file is dropped.
fn lock(path: &Path) -> Result<File, HarnessError> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| HarnessError::io(path, e))?;
    // SAFETY: flock on a file descriptor we own; blocking is intended.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(HarnessError::io(path, std::io::Error::last_os_error()));
    }
    Ok(f)
}

/// FNV-1a, 64 bits: a cache key that stays the same across toolchains.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
