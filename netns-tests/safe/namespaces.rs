//! Safe apply across namespaces: a pending change is only ever
//! reverted in the namespace it was made in, a change whose namespace was deleted is
//! dropped instead of blocking every later apply, and `--persist --confirm` followed
//! by an immediate `confirm` installs the drop-in. Every namespace and state dir here
//! is the test's own.

use super::lifecycle::Journal;
use super::{
    CLOSED, FORWARDING_ON, Lab, OPEN, apply_inside, apply_persisting, dropin, eventually,
    pending_files,
};
use crate::apply::{Env, exit, hostwall, stderr, stdout};

/// `ip netns exec NS hostwall CMD --state-dir STATE ARGS...`, logging to sockets
/// next to STATE (never the host's own log).
fn hostwall_in(
    ns: &str,
    cmd: &str,
    state: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let dir = state.parent().unwrap_or(state);
    let log = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (journal, syslog) = (log("journal.sock"), log("syslog.sock"));
    let state = state.to_string_lossy().into_owned();
    let mut all = vec![
        cmd,
        "--state-dir",
        &state,
        "--journal-socket",
        &journal,
        "--syslog-socket",
        &syslog,
    ];
    all.extend_from_slice(args);
    crate::support::cli::hostwall_inside(ns, &all, None)
}

#[test]
#[ignore = "needs root"]
fn review_a_change_made_via_ip_netns_exec_is_never_reverted_in_another_namespace_issue5() {
    crate::support::root::require();
    let lab = Lab::new();
    let state = lab.env.state();
    let journal = Journal::bind(&lab.env);
    // Another namespace with its own hostwall table, sharing the state dir.
    let other = Env::new("hw-sf-o");
    let open = lab.env.file("other.policy", OPEN);
    let open = open.to_string_lossy().into_owned();
    exit(&hostwall_in(other.ns.name(), "apply", &state, &[&open]), 0);
    let other_before = other.ruleset();
    assert!(
        other_before.contains("table inet hostwall"),
        "{other_before}"
    );

    // A pending change made from inside the lab's host namespace (no --netns name).
    exit(&apply_inside(&lab, CLOSED, &["--confirm", "30"]), 0);
    assert!(
        !lab.port_answers(),
        "the closed policy is live while pending"
    );

    // `revert` from the other namespace finds nothing pending there (one pending
    // change per namespace, found by identity) and touches nothing.
    let out = hostwall_in(other.ns.name(), "revert", &state, &[]);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("no change is pending; nothing to revert"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        other.ruleset(),
        other_before,
        "the other namespace was changed"
    );
    assert!(!pending_files(&state).is_empty(), "the record was dropped");
    let status = stdout(&hostwall_in(other.ns.name(), "status", &state, &[]));
    assert!(
        status.starts_with("no change pending\nalso pending in another network namespace"),
        "{status}"
    );
    assert_eq!(other.ruleset(), other_before);

    // From its own namespace the revert works, and reaches the system log.
    let out = hostwall_in(lab.env.ns.name(), "revert", &state, &[]);
    exit(&out, 0);
    assert!(lab.port_answers(), "the open policy is back");
    assert_eq!(other.ruleset(), other_before);
    let done = journal.wait_for("reverted");
    assert_eq!(done["HOSTWALL_REASON"], "requested");
    // Nothing is left to revert, and `revert` says how it ended.
    let out = hostwall_in(lab.env.ns.name(), "revert", &state, &[]);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("reverted because `hostwall revert` was run"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs root"]
fn review_a_deleted_namespace_drops_its_pending_change_issue5() {
    crate::support::root::require();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let state = dir.path().join("state");
    let st = state.to_string_lossy().into_owned();
    let keep = Env::new("hw-sf-k");
    let policy = keep.file("closed.policy", CLOSED);
    let policy = policy.to_string_lossy().into_owned();
    let log = keep.log_args();
    let apply = |ns: &str, extra: &[&str]| {
        let mut args = vec!["apply", "--netns", ns, "--state-dir", &st];
        args.extend(log.iter().map(String::as_str));
        args.extend_from_slice(extra);
        args.push(&policy);
        hostwall(&args, &[])
    };

    // The change of a deleted namespace blocks nothing: another namespace, even a
    // new one of the same name, has its own slot. `revert --netns` names what is gone.
    let gone = Env::new("hw-sf-g");
    let name = gone.ns.name().to_string();
    exit(&apply(&name, &["--confirm", "30"]), 0);
    gone.ns
        .remove()
        .unwrap_or_else(|e| panic!("remove netns: {e}"));
    let mut revert = vec!["revert", "--netns", &name, "--state-dir", &st];
    revert.extend(log.iter().map(String::as_str));
    let out = hostwall(&revert, &[]);
    exit(&out, 2);
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    let again = hostwall::netns::Netns::create(&name).unwrap_or_else(|e| panic!("{e}"));
    exit(&apply(&name, &["--confirm", "30"]), 0);
    assert_eq!(pending_files(&state).len(), 2);
    exit(&hostwall(&revert, &[]), 0);
    drop(again);

    // Via the watcher at the deadline: the next apply is not blocked.
    let gone = Env::new("hw-sf-g");
    exit(&apply(gone.ns.name(), &["--confirm", "1"]), 0);
    gone.ns
        .remove()
        .unwrap_or_else(|e| panic!("remove netns: {e}"));
    assert!(
        // The first deleted namespace's change waits for its own 30 s deadline.
        eventually(10, || pending_files(&state).len() == 1),
        "the record of a deleted namespace is kept"
    );
    exit(&apply(keep.ns.name(), &[]), 0);
    assert!(keep.ruleset().contains("table inet hostwall"));
}

#[test]
#[ignore = "needs root"]
fn review_persist_confirm_then_immediate_confirm_installs_the_dropin_issue5() {
    crate::support::root::require();
    let lab = Lab::new();
    let dropin = dropin(&lab);
    apply_persisting(&lab, FORWARDING_ON, &["--confirm", "30"]);
    let out = lab.env.state_cmd("confirm");
    exit(&out, 0);
    let text = std::fs::read_to_string(&dropin).unwrap_or_default();
    assert!(
        text.contains("net.ipv4.ip_forward = 1\n"),
        "{}: {text}",
        stderr(&out)
    );
    assert!(pending_files(&lab.env.state()).is_empty());
}
