//! The one root requirement for tests that create network namespaces, set sysctls or
//! chown files: they are `#[ignore = "needs root"]` (CI runs them with `--include-ignored`)
//! and call [`require`] first, so a run without root fails saying why instead of passing.

/// True when this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Panics unless the process runs as root: a root-only test that cannot run must not pass.
pub fn require() {
    assert!(
        is_root(),
        "needs root: this test creates network namespaces or changes kernel state; \
         run `cargo test -- --include-ignored` as root (as .ci/run does)"
    );
}
