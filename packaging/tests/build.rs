//! Building the packages for tests: runs `packaging/build-deb.sh` or
//! `packaging/build-rpm.sh` (each rebuilds what changed and repacks, so a test
//! never checks a stale package) and returns the package's path. Shared by the
//! `package` tests and the booted install test (`boot-tests/package.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the .deb; panics with the script's output when it fails (never skips).
pub fn deb() -> PathBuf {
    run_script("build-deb.sh")
}

/// Builds the .rpm; panics with the script's output when it fails (never skips).
pub fn rpm() -> PathBuf {
    run_script("build-rpm.sh")
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
    let path = stdout.lines().last().map(PathBuf::from).unwrap_or_default();
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
