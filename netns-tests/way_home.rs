//! A thread that cannot move back to its own namespace after a step in the target one
//! (here: it lost CAP_SYS_ADMIN there, through the debug build's
//! `HOSTWALL_TEST_LOSE_WAY_HOME` hook) ends the process at once (`netns::enter`): no
//! later step may run in the namespace the thread was left in. The table stays as it
//! was, and the next apply runs as usual.

use crate::apply::{Env, exit, stderr};
use std::os::unix::process::ExitStatusExt;

const BEFORE: &str = "policy p {\n    allow tcp 22\n}\n";
const AFTER: &str = "policy p {\n    allow tcp 22\n    allow tcp 2323\n}\n";

#[test]
#[ignore = "needs root"]
fn a_thread_that_cannot_return_from_the_namespace_aborts_the_apply_issue14() {
    crate::support::root::require();
    let env = Env::new("hw-wh");
    let before = env.file("before.policy", BEFORE);
    let after = env.file("after.policy", AFTER);
    let (before, after) = (before.to_string_lossy(), after.to_string_lossy());
    exit(&env.apply(&[&before]), 0);
    let table = env.ruleset();
    assert!(table.contains("table inet hostwall"), "{table}");

    let out = env.apply_env(&[&after], &[("HOSTWALL_TEST_LOSE_WAY_HOME", "1")]);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(!stderr(&out).contains("came back"), "{}", stderr(&out));
    assert_eq!(env.ruleset(), table, "the aborted apply changed the table");

    let out = env.apply(&[&after]);
    exit(&out, 0);
    assert!(env.ruleset().contains("2323"), "{}", env.ruleset());
}
