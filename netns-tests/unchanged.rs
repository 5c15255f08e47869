//! Issue #11 item 5: an apply whose policy is already live sends nothing, exits 0 and
//! says `unchanged (generation N)`; the kernel's generation id does not move. Proven
//! from the record (same inputs) or by a read-back (record gone, or other bytes that
//! compile to the same ruleset); `--replace` resends; a differing sysctl is set; under
//! `--confirm` nothing is left pending. Each test owns its namespace and state dir.

use crate::apply::{Env, exit, hostwall, stderr};

const KVM: &str = include_str!("../policies/kvm-host.policy");
const SMALL: &str = "policy small {\n    default drop\n    forwarding on\n    allow ssh tcp 22\n    allow tcp 8080-8090\n}\n";

fn genid(env: &Env) -> u32 {
    hostwall::live::genid(Some(env.ns.name())).unwrap_or_else(|e| panic!("genid: {e}"))
}

/// Applies, and asserts the answer is `unchanged` at the current generation, which
/// the apply did not move.
fn assert_unchanged(env: &Env, args: &[&str]) {
    let before = genid(env);
    let out = env.apply(args);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "unchanged (generation {before}) in netns {}",
            env.ns.name()
        )),
        "{err}"
    );
    assert!(!err.contains("applied table"), "{err}");
    assert_eq!(
        genid(env),
        before,
        "an unchanged apply moved the generation id"
    );
}

#[test]
#[ignore = "needs root"]
fn reapply_of_the_live_policy_sends_nothing_by_record_and_by_readback_issue11() {
    crate::support::root::require();
    for (name, text) in [("kvm.policy", KVM), ("small.policy", SMALL)] {
        let env = Env::new("hw-un");
        let p = env.file(name, text);
        let p = p.to_string_lossy();
        exit(&env.apply(&[&p]), 0);
        let table = env.ruleset();
        // From the record.
        assert_unchanged(&env, &[&p]);
        // Without it: the read-back proves it, and records it for the next one.
        let rec = hostwall::record::path(&env.state(), Some(env.ns.name()));
        std::fs::remove_file(&rec).unwrap_or_else(|e| panic!("{e}"));
        assert_unchanged(&env, &[&p]);
        assert!(
            rec.exists(),
            "{name}: the unchanged apply records the generation"
        );
        let state = env.state();
        let diff = hostwall(
            &[
                "diff",
                "--netns",
                env.ns.name(),
                "--state-dir",
                &state.to_string_lossy(),
                &p,
            ],
            &[],
        );
        assert!(
            stdout_of(&diff).contains("fast path"),
            "{}",
            stdout_of(&diff)
        );
        // Other bytes, same ruleset: a comment added.
        let edited = env.file(name, &format!("# reviewed\n{text}"));
        assert_unchanged(&env, &[&edited.to_string_lossy()]);
        assert_eq!(env.ruleset(), table, "{name}");
        // --replace sends anyway: exactly one new generation.
        let before = genid(&env);
        let out = env.apply(&["--replace", &p]);
        exit(&out, 0);
        assert!(
            stderr(&out).contains("applied table inet"),
            "{}",
            stderr(&out)
        );
        assert_eq!(genid(&env), before.wrapping_add(1), "{name}");
    }
}

fn stdout_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
#[ignore = "needs root"]
fn a_changed_table_or_sysctl_is_applied_and_said_issue11() {
    crate::support::root::require();
    let env = Env::new("hw-un");
    let p = env.file("small.policy", SMALL);
    let p = p.to_string_lossy();
    exit(&env.apply(&[&p]), 0);
    let table = env.ruleset();
    // A rule added by hand: the generation moved, the read-back finds it, it is sent.
    env.nft(
        &[
            "add", "rule", "inet", "hostwall", "input", "tcp", "dport", "9", "accept",
        ],
        "",
    );
    let before = genid(&env);
    let out = env.apply(&[&p]);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("applied table inet"),
        "{}",
        stderr(&out)
    );
    assert_eq!(genid(&env), before.wrapping_add(1));
    assert_eq!(env.ruleset(), table);
    // Forwarding switched off by hand: the table matches, the sysctl is set and said.
    let off = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            env.ns.name(),
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
        ])
        .status()
        .unwrap_or_else(|e| panic!("sysctl: {e}"));
    assert!(off.success());
    let out = env.apply(&[&p]);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("already matches the policy, but net.ipv4.ip_forward is 0, the policy says 1"),
        "{err}"
    );
    assert!(
        err.contains("sysctl net.ipv4.ip_forward = 1 (was 0)"),
        "{err}"
    );
    assert!(!err.contains("unchanged"), "{err}");
    assert_unchanged(&env, &[&p]);
}

#[test]
#[ignore = "needs root"]
fn unchanged_under_confirm_leaves_nothing_pending_issue11() {
    crate::support::root::require();
    let env = Env::new("hw-un");
    let p = env.file("small.policy", SMALL);
    let p = p.to_string_lossy();
    exit(&env.apply(&[&p]), 0);
    let before = genid(&env);
    let out = env.apply(&["--confirm", "30", &p]);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("nothing sent; nothing to confirm"),
        "{}",
        stderr(&out)
    );
    assert_eq!(genid(&env), before);
    let status = env.state_cmd("status");
    exit(&status, 0);
    assert!(
        stdout_of(&status).starts_with("no change pending"),
        "{}",
        stdout_of(&status)
    );
    assert!(crate::safe::pending_files(&env.state()).is_empty());
    // Another policy's table is replaced, and said to come from the other policy.
    let other = env.file("other.policy", KVM);
    let out = env.apply(&[&other.to_string_lossy()]);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("was last applied by hostwall from "), "{err}");
    assert!(err.contains("small.policy (generation "), "{err}");
    assert!(
        err.contains("not from ") && err.contains("other.policy; replacing it"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root"]
fn a_100k_prefix_policy_reapplies_unchanged_from_the_record_issue11() {
    crate::support::root::require();
    let env = Env::new("hw-un");
    let big = env.file("big.policy", &hostwall::bench_support::policy(100_000, 10));
    let big = big.to_string_lossy();
    exit(&env.apply(&[&big]), 0);
    assert_unchanged(&env, &[&big]);
}

#[test]
#[ignore = "needs root"]
fn a_policy_on_stdin_is_read_once_and_judged_by_readback_issue11() {
    crate::support::root::require();
    use std::io::Write;
    let env = Env::new("hw-un");
    let state = env.state();
    let run = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_hostwall"))
            .args([
                "apply",
                "--insecure-perms",
                "--netns",
                env.ns.name(),
                "--state-dir",
            ])
            .arg(&state)
            .arg("-")
            .env_remove("SSH_CONNECTION")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(mut i) = c.stdin.take() {
            i.write_all(SMALL.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        c.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
    };
    exit(&run(), 0);
    let before = genid(&env);
    let out = run();
    exit(&out, 0);
    assert!(
        stderr(&out).contains(&format!("unchanged (generation {before})")),
        "{}",
        stderr(&out)
    );
    assert_eq!(genid(&env), before);
    // The diff fast path must not eat standard input either.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_hostwall"))
        .args(["diff", "--netns", env.ns.name(), "--state-dir"])
        .arg(&state)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut i) = c.stdin.take() {
        i.write_all(SMALL.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let o = c.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    exit(&o, 0);
}

/// `hostwall CMD --netns NS --state-dir STATE POLICY` under `strace -e openat`: its
/// output and the files it opened.
fn opened_by(env: &Env, cmd: &str, policy: &str) -> (std::process::Output, String) {
    let trace = env.dir.path().join("openat.trace");
    let state = env.state();
    let log = env.log_args();
    let log = if cmd == "apply" { log } else { Vec::new() };
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=openat", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_hostwall"))
        .args([cmd, "--netns", env.ns.name(), "--state-dir"])
        .arg(&state)
        .args(&log)
        .arg(policy)
        .output()
        .expect("strace (package strace)");
    let opened = std::fs::read_to_string(&trace).unwrap_or_else(|e| panic!("{e}"));
    (out, opened)
}

fn opened_by_apply(env: &Env, policy: &str) -> (std::process::Output, String) {
    opened_by(env, "apply", policy)
}

#[test]
#[ignore = "needs root"]
fn settled_inputs_are_stamped_and_a_noop_apply_neither_reads_nor_hashes_them_issue14() {
    crate::support::root::require();
    let env = Env::new("hw-stamp");
    env.file("nets.policy", "define admins = 10.0.0.0/24, 10.9.0.0/16\n");
    let text = "include \"nets.policy\"\npolicy small {\n    allow ssh tcp 22 from admins\n}\n";
    let p = env.file("main.policy", text);
    let ps = p.to_string_lossy().into_owned();
    let rec_path = hostwall::record::path(&env.state(), Some(env.ns.name()));
    let stamps = || {
        let rec = hostwall::record::load(&rec_path).unwrap_or_else(|e| panic!("{e}"));
        rec.and_then(|r| r.stamps)
    };
    // Written just now: the first apply stamps them only if it read them more than a
    // second after they were written (a slow machine); otherwise the no-op apply a
    // second later reads and hashes them, and stamps them then (the one-second rule
    // itself: `record::tests`).
    exit(&env.apply(&[&ps]), 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = env.apply(&[&ps]);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("unchanged (generation"),
        "{}",
        stderr(&out)
    );
    let s = stamps().expect("stamped: the policy and its include");
    assert_eq!(s.files.len(), 2, "{s:?}");
    let (out, opened) = opened_by_apply(&env, &ps);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("unchanged (generation"),
        "{}",
        stderr(&out)
    );
    assert!(
        !opened.contains("main.policy") && !opened.contains("nets.policy"),
        "a stamped input is not opened: {opened}"
    );
    // `diff`'s fast path (and `metrics`') knows the digest the same way.
    let (out, opened) = opened_by(&env, "diff", &ps);
    exit(&out, 0);
    assert!(stdout_of(&out).contains("in sync"), "{}", stdout_of(&out));
    assert!(
        !opened.contains("main.policy") && !opened.contains("nets.policy"),
        "diff opened a stamped input: {opened}"
    );
    // The include changed to text of the same size, its modification time set back:
    // the change time still moved, so it is read, and the change is applied.
    let inc = env.dir.path().join("nets.policy");
    let mtime = std::fs::metadata(&inc)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&inc, "define admins = 10.0.0.0/24, 10.8.0.0/16\n").expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(&inc)
        .expect("open");
    f.set_modified(mtime).expect("set mtime back");
    drop(f);
    let (out, opened) = opened_by(&env, "diff", &ps);
    assert!(
        opened.contains("nets.policy"),
        "the changed include is read: {opened}"
    );
    assert!(!stdout_of(&out).contains("in sync"), "{}", stdout_of(&out));
    let out = env.apply(&[&ps]);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(!err.contains("unchanged"), "{err}");
    assert!(env.ruleset().contains("10.8.0.0/16"), "{}", env.ruleset());
}
