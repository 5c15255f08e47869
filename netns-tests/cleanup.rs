//! Namespaces are removed when the process is interrupted: SIGTERM to a
//! process holding a namespace leaves nothing under /run/netns.

use hostwall::netns::{Netns, list};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "HOSTWALL_NETNS_SIGNAL_CHILD";

/// Runs only as the child of `sigterm_removes_namespaces`: creates a namespace,
/// says its name, and waits to be killed.
#[test]
#[ignore = "helper: runs only inside sigterm_removes_namespaces"]
fn signal_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // What the binary installs: remove the namespaces, then die of the signal.
    hostwall::netns::on_interrupt(|sig| {
        // SAFETY: restoring the default action and re-raising ends this child process.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::kill(libc::getpid(), sig);
        }
    });
    let ns = Netns::create_unique("hw-sig").expect("create");
    println!("NS {}", ns.name());
    std::thread::sleep(std::time::Duration::from_secs(30));
    panic!("was not killed");
}

#[test]
#[ignore = "needs root"]
fn sigterm_removes_namespaces() {
    crate::support::root::require();
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "cleanup::signal_child",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let name = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("NS ").map(str::to_string))
        .expect("child names its namespace");
    assert!(list().expect("list").contains(&name));
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert!(!list().expect("list").contains(&name), "{name} left behind");
}
