//! The inverse revert's edges: a refused table step still puts the sysctls back and
//! says the table was not reverted (a hand edit, a `flush ruleset`, a deleted table),
//! and a sysctl-only change's empty inverse sends nothing.

use super::inverse::{base, edit, listing, ready};
use super::pending_files;
use crate::apply::{exit, stderr};
use std::path::{Path, PathBuf};

/// A sysctl tree of our own (`--sysctl-root`) with both forwarding keys at 0.
fn sysctl_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for p in ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"] {
        let f = dir.path().join(p);
        if let Some(d) = f.parent() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&f, "0\n").unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

fn value(root: &Path) -> String {
    std::fs::read_to_string(root.join("net/ipv4/ip_forward")).unwrap_or_else(|e| panic!("{e}"))
}

/// `nft list ruleset` without the learned entries' countdowns.
fn ruleset(lab: &super::Lab) -> String {
    let text = lab.env.nft(&["list", "ruleset"], "");
    (text.lines())
        .map(|l| l.split(" expires ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn forwarding(policy: &str) -> String {
    edit(
        policy,
        "    allow ssh\n",
        "    forwarding ipv4 on\n    allow ssh\n",
    )
}

#[test]
#[ignore = "needs root"]
fn a_refused_table_step_still_puts_the_sysctls_back_issue14() {
    crate::support::root::require();
    let a = base();
    let after = forwarding(&edit(&edit(&a, "tcp 8090", "tcp 8097"), "10.9.0.5, ", ""));
    let hands: [&[&str]; 4] = [
        &[
            "add",
            "element",
            "inet",
            "hostwall",
            "drop_src_v4",
            "{ 10.7.7.8 }",
        ],
        &["flush", "ruleset"],
        &["delete", "table", "inet", "hostwall"],
        &[
            "add", "rule", "inet", "hostwall", "input", "udp", "dport", "7001", "drop",
        ],
    ];
    for hand in hands {
        let tree = sysctl_tree();
        let root = tree.path().to_string_lossy().into_owned();
        let (lab, _) = ready(&a);
        let out = lab.apply_text(
            "after.policy",
            &after,
            &["--sysctl-root", &root, "--confirm", "30"],
        );
        exit(&out, 0);
        assert_eq!(value(tree.path()), "1\n", "{hand:?}: the change set it");
        lab.env.nft(hand, "");
        let by_hand = ruleset(&lab);
        let out = lab.env.state_cmd("revert");
        let err = stderr(&out);
        assert!(
            err.contains("NOT reverted") && err.contains("sysctls were put back"),
            "{hand:?}: {err}"
        );
        assert_eq!(
            value(tree.path()),
            "0\n",
            "{hand:?}: ip_forward put back: {err}"
        );
        assert_eq!(
            ruleset(&lab),
            by_hand,
            "{hand:?}: the table is left as the hand left it"
        );
        assert!(pending_files(&lab.env.state()).is_empty(), "{hand:?}: done");
    }
}

/// The state dir's one stored previous state, as a path.
fn prev_file(state: &Path) -> PathBuf {
    let mut prev: Vec<PathBuf> = std::fs::read_dir(state)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "prev"))
        .collect();
    assert_eq!(prev.len(), 1, "{prev:?}");
    prev.remove(0)
}

#[test]
#[ignore = "needs root"]
fn a_sysctl_only_change_reverts_without_a_batch_issue14() {
    crate::support::root::require();
    let a = base();
    let tree = sysctl_tree();
    let root = tree.path().to_string_lossy().into_owned();
    let (lab, before) = ready(&a);
    let out = lab.apply_text(
        "after.policy",
        &forwarding(&a),
        &["--sysctl-root", &root, "--confirm", "30"],
    );
    exit(&out, 0);
    let blob = std::fs::read_to_string(prev_file(&lab.env.state())).unwrap_or_default();
    assert!(blob.contains("\"inverse\""), "an inverse: {blob}");
    assert_eq!(value(tree.path()), "1\n");
    // No table record of the change's commit (as after a crash before it is written),
    // and another table commits: our table is read, and the inverse is empty.
    for f in std::fs::read_dir(lab.env.state())
        .into_iter()
        .flatten()
        .flatten()
    {
        if f.path().extension().is_some_and(|x| x == "table") {
            std::fs::remove_file(f.path()).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    lab.env
        .nft(&["-f", "-"], "table ip other_t {\n chain c {\n }\n}\n");
    let out = lab.env.state_cmd("revert");
    exit(&out, 0);
    assert!(stderr(&out).contains("reverted change"), "{}", stderr(&out));
    assert_eq!(value(tree.path()), "0\n");
    assert_eq!(listing(&lab), before, "the table as it was");
    assert!(pending_files(&lab.env.state()).is_empty());
}

#[test]
#[ignore = "needs root"]
fn a_table_copy_is_stored_as_version_3_and_only_an_inverse_as_version_4_issue14() {
    crate::support::root::require();
    let a = base();
    let b = edit(&a, "tcp 8090", "tcp 8096");
    let (lab, before) = ready(&a);
    exit(&lab.apply_text("after.policy", &b, &["--confirm", "30"]), 0);
    let blob = std::fs::read_to_string(prev_file(&lab.env.state())).unwrap_or_default();
    assert!(
        blob.contains("\"version\":4,") && blob.contains("\"inverse\""),
        "{blob}"
    );
    exit(&lab.env.state_cmd("revert"), 0);
    assert_eq!(listing(&lab), before);
    // A full replace keeps a copy of the whole table: older binaries revert it.
    exit(
        &lab.apply_text("after.policy", &b, &["--replace", "--confirm", "30"]),
        0,
    );
    let blob = std::fs::read_to_string(prev_file(&lab.env.state())).unwrap_or_default();
    assert!(
        blob.contains("\"version\":3,") && !blob.contains("\"inverse\""),
        "{blob}"
    );
    exit(&lab.env.state_cmd("revert"), 0);
    assert_eq!(listing(&lab), before);
}

/// The pending change's files (record, previous state, watcher note), by name.
fn pending_state(state: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = pending_files(state);
    files.push(prev_file(state));
    (files.into_iter())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, bytes)
        })
        .collect()
}

#[test]
#[ignore = "needs root"]
fn a_revert_whose_inverse_committed_before_a_crash_finishes_the_sysctls_issue14() {
    crate::support::root::require();
    let a = base();
    let changes = [
        edit(&a, "tcp 8090", "tcp 8098"),
        edit(&edit(&a, "10.9.0.11, ", ""), "    allow tcp 8082\n", ""),
        edit(
            &a,
            "    reject tcp 8090\n",
            "    allow tcp 9002\n    reject tcp 8090\n",
        ),
    ];
    for after in changes {
        let tree = sysctl_tree();
        let root = tree.path().to_string_lossy().into_owned();
        let (lab, before) = ready(&a);
        let out = lab.apply_text(
            "after.policy",
            &forwarding(&after),
            &["--sysctl-root", &root, "--confirm", "30"],
        );
        exit(&out, 0);
        let state = lab.env.state();
        let saved = pending_state(&state);
        exit(&lab.env.state_cmd("revert"), 0);
        assert_eq!(listing(&lab), before);
        // As if the revert died right after its batch committed: the pending change
        // and the changed sysctl are still there, the table already reverted.
        for (p, bytes) in &saved {
            std::fs::write(p, bytes).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(tree.path().join("net/ipv4/ip_forward"), "1\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let out = lab.env.state_cmd("revert");
        let err = stderr(&out);
        exit(&out, 0);
        assert!(
            err.contains("reverted change") && !err.contains("NOT"),
            "{err}"
        );
        assert_eq!(value(tree.path()), "0\n", "the sysctl finished: {err}");
        assert_eq!(listing(&lab), before, "nothing undone twice");
        assert!(pending_files(&state).is_empty());
    }
}

/// 20,000 addresses to drop (`10.20.X.Y`, Y odd: none merge), and the change: a few
/// of them swapped.
fn big(swap: bool) -> String {
    let mut addrs: Vec<String> = (0..160)
        .flat_map(|x| (0..125).map(move |y| format!("10.20.{x}.{}", 2 * y + 1)))
        .collect();
    if swap {
        for (i, a) in addrs.iter_mut().enumerate().filter(|(i, _)| i % 4000 == 7) {
            *a = format!("10.21.{}.1", i / 4000);
        }
    }
    format!(
        "policy busy {{\n    allow ssh\n    allow tcp 8080\n    drop from {}\n}}\n",
        addrs.join(", ")
    )
}

#[test]
#[ignore = "needs root"]
fn a_revert_succeeds_while_another_table_commits_every_few_ms_issue14() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    crate::support::root::require();
    let lab = super::Lab::new();
    exit(&lab.apply_text("before.policy", &big(false), &[]), 0);
    let before = listing(&lab);
    let out = lab.apply_text("after.policy", &big(true), &["--confirm", "60"]);
    exit(&out, 0);
    assert!(prev_file_text(&lab).contains("\"inverse\""), "an inverse");
    assert_ne!(listing(&lab), before, "the change is in");
    lab.env
        .nft(&["-f", "-"], "table ip busy {\n chain c {\n }\n}\n");
    // Another table committing thousands of times a second: one `nft -i` reading a
    // command per line, each its own commit (rule commands: unlike set elements, they
    // do not make nft fetch our 20,000 addresses first).
    let stop = Arc::new(AtomicBool::new(false));
    let ns = lab.env.ns.name().to_string();
    let mut churn = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-i"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nft -i");
    let mut input = churn.stdin.take().expect("stdin");
    let feeder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            while !stop.load(Ordering::Relaxed) {
                let line = "add rule ip busy c counter\nflush chain ip busy c\n";
                if input.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        })
    };
    let genid = || hostwall::live::genid(Some(&ns)).unwrap_or_else(|e| panic!("genid: {e}"));
    let g0 = genid();
    while genid().wrapping_sub(g0) < 10 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (g1, t) = (genid(), std::time::Instant::now());
    let out = lab.env.state_cmd("revert");
    let (during, took) = (genid().wrapping_sub(g1), t.elapsed());
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    let _ = churn.wait();
    eprintln!("revert under churn: {took:?}, {during} other commits meanwhile");
    let err = stderr(&out);
    exit(&out, 0);
    assert!(err.contains("reverted change"), "{err}");
    assert!(
        during >= 10,
        "the other table committed during the revert: {during}"
    );
    assert_eq!(listing(&lab), before, "reverted exactly");
    assert!(pending_files(&lab.env.state()).is_empty());
}

fn prev_file_text(lab: &super::Lab) -> String {
    std::fs::read_to_string(prev_file(&lab.env.state())).unwrap_or_default()
}
