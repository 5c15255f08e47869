//! The build scripts without their packager: each fails before building anything,
//! with exit code 2 and the apt package that provides the missing program, and
//! prints no package path.

use crate::build::repo;
use std::path::Path;
use std::process::Command;

/// Runs `script` with a PATH holding only the programs it needs before its tool
/// check (links into a temp dir), so its packager is missing whatever the host has.
fn run_without_packager(script: &str) -> (Option<i32>, String, String) {
    let bin = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for program in ["sh", "dirname", "mkdir", "flock", "cargo", "gzip"] {
        let found = which(program).unwrap_or_else(|| panic!("{program} is not on PATH"));
        std::os::unix::fs::symlink(&found, bin.path().join(program))
            .unwrap_or_else(|e| panic!("{}: {e}", found.display()));
    }
    let out = Command::new(bin.path().join("sh"))
        .arg(repo().join("packaging").join(script))
        .env("PATH", bin.path())
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| Path::new(p).is_file())
}

#[test]
fn build_deb_without_dpkg_deb_names_the_package_to_install() {
    let (code, stdout, stderr) = run_without_packager("build-deb.sh");
    assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("dpkg-deb is missing (apt-get install dpkg)"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "printed {stdout}");
}

#[test]
fn build_rpm_without_rpmbuild_names_the_package_to_install() {
    let (code, stdout, stderr) = run_without_packager("build-rpm.sh");
    assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("rpmbuild is missing (apt-get install rpm)"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "printed {stdout}");
}
