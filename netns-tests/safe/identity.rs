//! Namespace identity: a namespace deleted and created again under
//! the same name is another namespace, even when the kernel hands it the old nsfs inode
//! number. A pending change of the old one is dropped, never restored into the new one,
//! whether the watcher, `revert` or `status` meets it.

use super::{CLOSED, eventually, pending_files};
use crate::apply::{Env, exit, nft_in, stderr};
use crate::common::recreate_same_name;

/// A foreign ruleset with a table of our name: what a careless revert would delete.
const FOREIGN: &str = "table inet hostwall {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport 5555 accept\n }\n}\ntable ip other {\n chain c {\n  type filter hook output priority 0; policy accept;\n }\n}\n";

fn ruleset(ns: &str) -> String {
    nft_in(ns, &["-s", "list", "ruleset"], "").unwrap_or_else(|e| panic!("nft: {e}"))
}

#[test]
#[ignore = "needs root"]
fn watcher_never_reverts_into_a_recreated_namespace_of_the_same_name_issue8() {
    crate::support::root::require();
    let Env { ns, dir } = Env::new("hw-id");
    let state = dir.path().join("state");
    let name = ns.name().to_string();
    let policy = dir.path().join("closed.policy");
    std::fs::write(&policy, CLOSED).unwrap_or_else(|e| panic!("{e}"));
    let out = crate::apply::hostwall(
        &[
            "apply",
            "--netns",
            &name,
            "--confirm",
            "4",
            "--insecure-perms",
            "--state-dir",
            &state.to_string_lossy(),
            &policy.to_string_lossy(),
        ],
        &[],
    );
    exit(&out, 0);
    assert_eq!(pending_files(&state).len(), 1);
    let (fresh, _) = recreate_same_name(ns);
    nft_in(&name, &["-f", "-"], FOREIGN).unwrap_or_else(|e| panic!("nft -f: {e}"));
    let before = ruleset(&name);
    assert!(before.contains("tcp dport 5555"), "{before}");
    assert!(
        eventually(20, || pending_files(&state).is_empty()),
        "the watcher kept the record of a namespace that is gone"
    );
    assert_eq!(ruleset(&name), before, "the new namespace was changed");
    drop(fresh);
}

#[test]
#[ignore = "needs root"]
fn revert_and_status_inside_a_recreated_namespace_touch_nothing_issue8() {
    crate::support::root::require();
    let Env { ns, dir } = Env::new("hw-id");
    let state = dir.path().join("state");
    let st = state.to_string_lossy().into_owned();
    let name = ns.name().to_string();
    let policy = dir.path().join("closed.policy");
    std::fs::write(&policy, CLOSED).unwrap_or_else(|e| panic!("{e}"));
    let inside = |args: &[&str]| crate::support::cli::hostwall_inside(&name, args, None);
    // Made from inside the namespace: the record has no name to go by, only identity.
    // The detached watcher inherits (and so keeps alive) the old namespace.
    let p = policy.to_string_lossy().into_owned();
    let out = inside(&[
        "apply",
        "--confirm",
        "5",
        "--insecure-perms",
        "--state-dir",
        &st,
        &p,
    ]);
    exit(&out, 0);
    let (fresh, _) = recreate_same_name(ns);
    nft_in(&name, &["-f", "-"], FOREIGN).unwrap_or_else(|e| panic!("nft -f: {e}"));
    let before = ruleset(&name);
    for cmd in ["status", "revert", "confirm"] {
        let out = inside(&[cmd, "--state-dir", &st]);
        let err = stderr(&out);
        assert_eq!(
            ruleset(&name),
            before,
            "`{cmd}` changed the new namespace: {err}"
        );
        assert!(
            !err.contains("reverted") && !err.contains("confirmed"),
            "{cmd}: {err}"
        );
    }
    // The watcher reverts the old namespace at the deadline, never the new one.
    assert!(
        eventually(20, || pending_files(&state).is_empty()),
        "the change was never reverted"
    );
    assert_eq!(ruleset(&name), before, "the new namespace was changed");
    drop(fresh);
}
