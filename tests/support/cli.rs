//! Running the `hostwall` binary under test: its environment never carries the test
//! runner's `SSH_CONNECTION` (the lockout guard would judge the runner's own session) or
//! `NO_COLOR`, and stdin is empty.

use std::process::{Command, Output, Stdio};

/// `hostwall ARGS` with `env` added; panics when it cannot be run.
pub fn hostwall_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostwall"));
    c.args(args)
        .env_remove("SSH_CONNECTION")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output()
        .unwrap_or_else(|e| panic!("run hostwall {args:?}: {e}"))
}

/// `hostwall ARGS`; panics when it cannot be run.
pub fn hostwall(args: &[&str]) -> Output {
    hostwall_env(args, &[])
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ip netns exec NS hostwall ARGS` (the binary run from inside the namespace, as an
/// admin would), with `SSH_CONNECTION` set to `ssh` or removed.
pub fn hostwall_inside(ns: &str, args: &[&str], ssh: Option<&str>) -> Output {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_hostwall")])
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    match ssh {
        Some(conn) => c.env("SSH_CONNECTION", conn),
        None => c.env_remove("SSH_CONNECTION"),
    };
    c.output()
        .unwrap_or_else(|e| panic!("ip netns exec {ns} hostwall {args:?}: {e}"))
}
