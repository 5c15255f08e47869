//! Memory of large address lists (#14 item 3): peak RSS of `hostwall check` and `compile`
//! per address, from the kernel's own accounting of each child (`wait4`), measured at two
//! sizes so the fixed cost of the process cancels out. Bytes, not time: no timed test.

use std::path::Path;
use std::process::{Command, Stdio};

/// Peak RSS in KiB of `hostwall ARGS` (stdout discarded); panics when it fails.
fn peak_kib(args: &[&Path]) -> i64 {
    // Reaped by `wait4` below, which also reports the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_hostwall"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run hostwall");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; both pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} failed"
    );
    usage.ru_maxrss
}

/// Bytes of peak RSS per address of `cmd` between a 50,000- and a 250,000-address policy.
fn bytes_per_address(cmd: &str) -> i64 {
    let mut peaks = Vec::new();
    for n in [50_000, 250_000] {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in hostwall::bench_support::lean_files(n) {
            std::fs::write(dir.path().join(name), text).expect("write policy");
        }
        let policy = dir.path().join("host.policy");
        peaks.push(peak_kib(&[Path::new(cmd), &policy]));
    }
    (peaks[1] - peaks[0]) * 1024 / 200_000
}

#[test]
fn check_and_compile_keep_large_address_lists_compact() {
    // Before packing: ~125 bytes an address for check, ~140 for compile (1M: 134/145 MB).
    let check = bytes_per_address("check");
    let compile = bytes_per_address("compile");
    eprintln!("peak RSS per address: check {check} B, compile {compile} B");
    assert!(check <= 80, "check holds {check} bytes per address");
    assert!(compile <= 110, "compile holds {compile} bytes per address");
}
