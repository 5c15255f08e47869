//! The binary's contract: exit codes (0 ok, 1 policy errors, 2 usage/system), where
//! output goes, colour only when asked, the built-in default policy.

use crate::support::cli::{hostwall, text};
use std::process::{Command, Output};

#[test]
fn compile_without_argument_prints_the_builtin_kvm_host_ruleset() {
    let o = hostwall(&["compile"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("table inet hostwall {"), "{out}");
    assert!(
        out.contains("elements = { 22, 80, 443, 5634-6166, 49152-49216 }"),
        "{out}"
    );
    assert!(out.contains("net.ipv4.ip_forward = 1"), "{out}");
    assert!(!out.contains("flush ruleset"));
}

#[test]
fn policy_errors_exit_1_with_location_and_caret_and_no_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.policy");
    std::fs::write(&p, "policy p {\n    allow sshh\n    allow tcp 70000\n}\n").expect("write");
    let o = hostwall(&["compile", p.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "no ruleset on errors");
    let err = text(&o.stderr);
    assert!(err.contains("bad.policy:2:11"), "{err}");
    assert!(err.contains("bad.policy:3:15"), "{err}");
    assert!(err.contains("^^^^"), "{err}");
    assert!(err.contains("did you mean `ssh`"), "{err}");
    assert!(
        !err.contains("\x1b["),
        "no colour when not a terminal: {err}"
    );
}

#[test]
fn colour_only_when_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.policy");
    std::fs::write(&p, "policy p {\n    allow sshh\n}\n").expect("write");
    let o = hostwall(&["--color", "always", "check", p.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("\x1b["));
}

#[test]
fn missing_file_and_bad_usage_exit_2() {
    let o = hostwall(&["compile", "/nonexistent/host.policy"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        "hostwall: error: cannot read policy /nonexistent/host.policy: \
         No such file or directory (os error 2)\n",
        "the cause is said once"
    );
    let o = hostwall(&["compile", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let o = hostwall(&["check", "--site", "/nonexistent/site.toml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn check_reports_ok_and_json_is_valid() {
    let o = hostwall(&["check"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains("ok"));
    let o = hostwall(&["compile", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(v["nftables"].as_array().is_some_and(|a| a.len() > 5));
}

#[test]
fn fmt_check_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("p.policy");
    std::fs::write(&p, "policy p {\n  allow   ssh\n}\n").expect("write");
    let ps = p.to_str().expect("utf8");
    assert_eq!(hostwall(&["fmt", "--check", ps]).status.code(), Some(1));
    assert_eq!(hostwall(&["fmt", "--write", ps]).status.code(), Some(0));
    assert_eq!(hostwall(&["fmt", "--check", ps]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&p).expect("read"),
        "policy p {\n    allow ssh\n}\n"
    );
}

/// Without CAP_NET_ADMIN, apply and diff fail with one clear line and exit 2. The command
/// runs as `nobody` inside a throwaway namespace (so even a broken privilege drop could
/// only touch that namespace), which takes root to set up.
#[test]
#[ignore = "needs root"]
fn without_cap_net_admin_apply_and_diff_exit_2_with_one_clear_line() {
    crate::support::root::require();
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("hostwall");
    std::fs::copy(env!("CARGO_BIN_EXE_hostwall"), &bin).expect("copy binary");
    let state = dir.path().join("state");
    use std::os::unix::fs::PermissionsExt;
    // Sticky like /tmp: the unprivileged run may create its state dir there, and the
    // state dir's trust rule accepts it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let root_state = dir.path().join("root-state");
    std::fs::create_dir(&root_state).expect("mkdir");
    std::fs::set_permissions(&root_state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let policy = dir.path().join("p.policy");
    std::fs::write(&policy, "policy p {\n    allow ssh\n}\n").expect("write");
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let policy = policy.to_str().expect("utf8");
    // The binary as `nobody`, in a network namespace of its own.
    let as_nobody = |args: &[&str]| {
        let setpriv = [
            "-n",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ];
        let o = Command::new("unshare")
            .args(setpriv)
            .arg(&bin)
            .args(args)
            .output();
        o.expect("run")
    };
    for args in [
        vec![
            "apply",
            "--insecure-perms",
            "--state-dir",
            state.to_str().expect("utf8"),
            policy,
        ],
        vec!["diff", policy],
        // An apply record's directory owned by root, as on a host where root applied:
        // the record cannot be used, but the one line is still the missing capability.
        vec![
            "diff",
            "--state-dir",
            root_state.to_str().expect("utf8"),
            policy,
        ],
    ] {
        let o = as_nobody(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("CAP_NET_ADMIN"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    }
    // Root's state directory used by another user: refused, and never with advice to
    // hand it over (root would then refuse it).
    let o = as_nobody(&["status", "--state-dir", root_state.to_str().expect("utf8")]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("owned by uid 0"), "{err}");
    assert!(err.contains("run hostwall as root"), "{err}");
    assert!(!err.contains("chown"), "{err}");
}

/// A symlinked and a world-writable state directory (each with why it is refused), the
/// real directory behind the link, and a policy to apply.
struct Untrusted {
    dir: tempfile::TempDir,
    real: std::path::PathBuf,
    states: Vec<(std::path::PathBuf, &'static str)>,
    policy: std::path::PathBuf,
}

impl Untrusted {
    fn new() -> Untrusted {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let policy = dir.path().join("p.policy");
        std::fs::write(&policy, "policy p {\n    allow ssh\n}\n").expect("write");
        let states = vec![(link, "it is a symbolic link"), (open, "its mode is 0777")];
        Untrusted {
            dir,
            real,
            states,
            policy,
        }
    }

    /// Runs each command `run` makes for every untrusted state dir and asserts the
    /// refusal (exit 2, the reason, the fix), and that nothing was written through the link.
    fn assert_refused(&self, run: impl Fn(&str) -> (Vec<String>, Output)) {
        for (state, why) in &self.states {
            let s = state.to_str().expect("utf8");
            let (args, o) = run(s);
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(&format!("refusing to use {s}: {why}")),
                "{args:?}: {err}"
            );
            assert!(err.contains("fix: "), "{args:?}: {err}");
        }
        assert!(std::fs::read_dir(&self.real).expect("ls").next().is_none());
        assert!(self.dir.path().is_dir());
    }
}

/// Issue #8 item 10: every command that uses the state directory refuses one that is a
/// symbolic link or that others may write, exit 2, with the reason and the fix, before
/// it does anything else.
#[test]
fn untrusted_state_dir_is_refused_by_every_state_command_issue8() {
    let u = Untrusted::new();
    for cmd in ["status", "confirm", "revert"] {
        u.assert_refused(|s| {
            let args = vec![cmd.to_string(), "--state-dir".into(), s.to_string()];
            let o = hostwall(&[cmd, "--state-dir", s]);
            (args, o)
        });
    }
}

/// The same refusal from `apply`, run in a private, throwaway network namespace
/// (`unshare -n`): should the refusal ever regress, the apply still cannot touch this
/// host's ruleset.
#[test]
#[ignore = "needs root"]
fn untrusted_state_dir_is_refused_by_apply_issue8() {
    crate::support::root::require();
    let u = Untrusted::new();
    let policy = u.policy.to_str().expect("utf8");
    u.assert_refused(|s| {
        let args = ["apply", "--insecure-perms", "--state-dir", s, policy];
        let o = Command::new("unshare")
            .arg("-n")
            .arg(env!("CARGO_BIN_EXE_hostwall"))
            .args(args)
            .env_remove("SSH_CONNECTION")
            .output()
            .expect("unshare");
        (args.map(str::to_string).to_vec(), o)
    });
}

#[test]
fn explain_names_the_deciding_rule_with_its_line_and_carets_bad_packets_issue10() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("web.policy");
    std::fs::write(
        &p,
        "policy web {\n    default drop\n    allow https tcp 443 from 10.0.0.0/8\n    reject tcp 25\n}\n",
    )
    .expect("write");
    let policy = p.to_str().expect("utf8");
    let run = |pkt: &str| hostwall(&["explain", pkt, policy]);
    let o = run("tcp 10.1.2.3:40000 -> 192.0.2.1:443 on eth0 new");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains(&format!("[{policy}:3:5]")), "{out}");
    assert!(out.contains("verdict: accepted"), "{out}");
    let out = text(&run("tcp [2001:db8::1]:5 -> [2001:db8::2]:443 on eth0").stdout);
    assert!(out.contains("verdict: dropped"), "not from 10/8: {out}");
    let o = hostwall(&[
        "explain",
        "tcp 192.0.2.9 -> 192.0.2.1:25 on eth0",
        policy,
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(doc["verdict"], "rejected");
    assert_eq!(
        doc["chains"][0]["ends"][0]["policy_line"],
        format!("{policy}:4:5")
    );
    // Bad packets: exit 1, a caret under the word, nothing on stdout.
    for (pkt, word) in [
        ("tcp 10.0.0.1 -> 10.0.0.2:80 on eth0 sidewayz", "sidewayz"),
        ("tcp 10.0.0.1 -> 10.0.0.2:99999 on eth0", "10.0.0.2:99999"),
        ("udp 10.0.0.1 => 10.0.0.2:53 on eth0", "=>"),
    ] {
        let o = run(pkt);
        assert_eq!(o.status.code(), Some(1), "{pkt}");
        assert!(o.stdout.is_empty());
        let err = text(&o.stderr);
        let col = pkt.find(word).expect("word") + 1;
        assert!(err.contains(&format!("<packet>:1:{col}")), "{pkt}: {err}");
        assert!(err.contains(&"^".repeat(word.len())), "{pkt}: {err}");
    }
    // --netns without --live is a usage error.
    let o = hostwall(&[
        "explain",
        "tcp 10.0.0.1 -> 10.0.0.2:80 on eth0",
        policy,
        "--netns",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
}
