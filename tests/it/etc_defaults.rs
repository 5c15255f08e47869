//! Issue #11 item 1: the /etc conventions through the binary, with the configuration
//! directory pointed at a scratch one (`--config-dir`): host.policy and site.toml are
//! the defaults when present (includes relative to the policy); read-only commands fall
//! back to the built-in policy with a one-line note; apply and diff refuse. Also the
//! other-firewall warnings of apply and diff, from a fake system root.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn hostwall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hostwall"))
        .args(args)
        .arg("--config-dir")
        .arg(dir)
        .env_remove("SSH_CONNECTION")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run hostwall")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

const NOTE_TAIL: &str =
    "host.policy: using the built-in kvm-host policy (`hostwall init` writes one)\n";

#[test]
fn without_host_policy_read_only_commands_use_the_builtin_with_one_note_issue11() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let note = format!("hostwall: note: no {}/{NOTE_TAIL}", d.display());
    let o = hostwall(d, &["compile"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), note);
    assert!(text(&o.stdout).contains("elements = { 22, 80, 443, 5634-6166, 49152-49216 }"));
    let o = hostwall(d, &["check"]);
    assert_eq!(
        text(&o.stderr),
        format!("{note}<built-in kvm-host.policy>: ok\n")
    );
    let o = hostwall(d, &["fmt", "--check"]);
    assert_eq!((o.status.code(), text(&o.stderr)), (Some(0), note.clone()));
    let o = hostwall(
        d,
        &["explain", "tcp 203.0.113.7 -> 192.0.2.1:5700 on eth0 new"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with(&note), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("accept"), "{}", text(&o.stdout));
}

#[test]
fn host_policy_and_site_toml_are_the_defaults_with_includes_beside_the_policy_issue11() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "host.policy",
        "include \"admin.policy\"\npolicy etc {\n    default drop\n    allow admin-ssh\n    allow tcp 8443 on uplink\n}\n",
    );
    write(d, "admin.policy", "service admin-ssh tcp 2222\n");
    write(
        d,
        "site.toml",
        "table = \"etcwall\"\n[interfaces]\nuplink = \"eno1\"\n",
    );
    let o = hostwall(d, &["compile"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "", "no note when host.policy is there");
    let out = text(&o.stdout);
    assert!(out.contains("table inet etcwall {"), "{out}");
    assert!(out.contains("2222"), "{out}");
    assert!(out.contains("\"eno1\""), "{out}");
    let o = hostwall(d, &["check"]);
    assert_eq!(
        text(&o.stderr),
        format!("{}/host.policy: ok\n", d.display())
    );
    // A named policy or site file wins over the directory's.
    let named = tempfile::tempdir().expect("tempdir");
    write(named.path(), "p.policy", "policy p {\n    allow tcp 7\n}\n");
    write(
        named.path(),
        "s.toml",
        "table = \"named\"\n[interfaces]\nuplink = \"eth9\"\n",
    );
    let p = named.path().join("p.policy");
    let o = hostwall(d, &["compile", p.to_str().expect("utf8")]);
    let out = text(&o.stdout);
    assert!(
        out.contains("table inet etcwall {") && !out.contains("2222"),
        "{out}"
    );
    let s = named.path().join("s.toml");
    let o = hostwall(d, &["compile", "--site", s.to_str().expect("utf8")]);
    assert!(text(&o.stdout).contains("table inet named {"));
}

#[test]
fn a_broken_or_unreadable_host_policy_is_reported_never_replaced_by_the_builtin_issue11() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "host.policy", "policy etc {\n    allow sshh\n}\n");
    let at = format!("{}/host.policy:2:11", d.display());
    for cmd in ["check", "compile", "verify"] {
        let o = hostwall(d, &[cmd]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {err}");
        assert!(err.contains(&at), "{cmd}: {err}");
        assert!(!err.contains("built-in"), "{cmd}: {err}");
    }
    std::fs::remove_file(d.join("host.policy")).expect("rm");
    std::os::unix::fs::symlink("/nonexistent/host.policy", d.join("host.policy")).expect("ln");
    let o = hostwall(d, &["compile"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains(&format!("cannot read policy {}/host.policy", d.display())));
}

#[test]
fn apply_and_diff_without_a_policy_refuse_with_exit_2_and_touch_nothing_issue11() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("etc");
    std::fs::create_dir(&d).expect("mkdir");
    // A site file alone is no policy.
    write(&d, "site.toml", "table = \"x\"\n");
    let state = dir.path().join("state");
    let s = state.to_str().expect("utf8");
    let want = format!(
        "hostwall: error: no policy: write {}/host.policy (`hostwall init`) or name one\n",
        d.display()
    );
    for args in [
        vec!["apply", "--state-dir", s],
        vec!["apply", "--dry-run", "--confirm", "30", "--state-dir", s],
        vec!["diff", "--state-dir", s],
        vec!["diff", "--full", "--format", "json", "--state-dir", s],
    ] {
        let o = hostwall(&d, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&o.stderr), want, "{args:?}");
        if args.contains(&"json") {
            // docs/json.md: a JSON document on every path, the refusal its error.
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
            assert_eq!(
                doc["error"]["message"],
                want["hostwall: error: ".len()..].trim_end()
            );
            assert_eq!(doc["ok"], false);
        } else {
            assert!(o.stdout.is_empty(), "{args:?}");
        }
    }
    assert!(!state.exists(), "a refused command creates no state");
}

/// A fake root with Debian's stock nftables.conf enabled and a running firewalld.
fn rival_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    std::fs::create_dir_all(r.join("etc/systemd/system/sysinit.target.wants")).expect("mkdir");
    std::os::unix::fs::symlink(
        "/lib/systemd/system/nftables.service",
        r.join("etc/systemd/system/sysinit.target.wants/nftables.service"),
    )
    .expect("ln");
    std::fs::write(
        r.join("etc/nftables.conf"),
        "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n",
    )
    .expect("write");
    std::fs::create_dir_all(r.join("proc/4242")).expect("mkdir");
    std::fs::write(r.join("proc/4242/comm"), "firewalld\n").expect("write");
    std::fs::create_dir_all(r.join("usr/sbin")).expect("mkdir");
    std::fs::write(r.join("usr/sbin/firewalld"), "#!/usr/bin/python3\n").expect("write");
    // firewalld runs only with a system bus to connect to.
    std::fs::create_dir_all(r.join("run/dbus")).expect("mkdir");
    std::fs::write(r.join("run/dbus/system_bus_socket"), "").expect("write");
    root
}

#[test]
fn apply_and_diff_warn_of_a_flushing_nftables_service_and_firewalld_issue11() {
    let root = rival_root();
    let r = root.path().to_str().expect("utf8");
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "p.policy", "policy p {\n    allow ssh\n}\n");
    let p = dir.path().join("p.policy");
    let p = p.to_str().expect("utf8");
    let state = dir.path().join("state");
    let s = state.to_str().expect("utf8");
    // A namespace that does not exist: the warnings come first, then the error.
    let ns = "hw-no-such-ns-for-rivals";
    for args in [
        vec![
            "apply",
            "--insecure-perms",
            "--netns",
            ns,
            "--state-dir",
            s,
            "--system-root",
            r,
            p,
        ],
        vec![
            "diff",
            "--netns",
            ns,
            "--state-dir",
            s,
            "--system-root",
            r,
            p,
        ],
    ] {
        let o = hostwall(dir.path(), &args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let conf = format!("{r}/etc/nftables.conf:3 says `flush ruleset`");
        assert!(
            err.contains(&format!(
                "hostwall: warning: nftables.service is enabled and {conf}"
            )),
            "{err}"
        );
        assert!(
            err.contains("hostwall: warning: firewalld is running (pid 4242)"),
            "{err}"
        );
    }
    // The same root without them: no warning.
    let clean = tempfile::tempdir().expect("tempdir");
    let c = clean.path().to_str().expect("utf8");
    let o = hostwall(
        dir.path(),
        &[
            "diff",
            "--netns",
            ns,
            "--state-dir",
            s,
            "--system-root",
            c,
            p,
        ],
    );
    assert!(!text(&o.stderr).contains("warning"), "{}", text(&o.stderr));
}
