//! Building the packages for tests: runs `packaging/build-deb.sh` or
//! `packaging/build-rpm.sh` (each rebuilds what changed and repacks, so a test
//! never checks a stale package) and returns the package's path. Shared by the
//! `package` tests and the booted install test (`boot-tests/package.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the .deb once per test process (a rebuild replaces the file, which a
/// parallel test may be reading); panics with the script's output when it fails.
pub fn deb() -> PathBuf {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| run_script("build-deb.sh")).clone()
}

/// Builds the .rpm once per test process; panics with the script's output when it fails.
pub fn rpm() -> PathBuf {
    static RPM: OnceLock<PathBuf> = OnceLock::new();
    RPM.get_or_init(|| run_script("build-rpm.sh")).clone()
}

fn run_script(name: &str) -> PathBuf {
    let script = repo().join("packaging").join(name);
    let out = Command::new("sh")
        .arg(&script)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let path = stdout
        .lines()
        .last()
        .map(|p| repo().join(p))
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "{name} printed no package path:\n{stdout}\n{stderr}"
    );
    path
}

/// Runs a tool the tests use as an oracle; panics naming the package to install
/// when it is missing or fails.
pub fn tool(program: &str, args: &[&str], install: &str) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (apt-get install {install})"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
