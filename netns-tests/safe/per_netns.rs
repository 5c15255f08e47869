//! One pending change per network namespace: two namespaces each
//! hold a `--confirm` change at once, sharing one state dir, and `status`, `confirm`
//! and `revert` act on the one `--netns` names (or the one hostwall runs in).

use super::{CLOSED, OPEN, pending_files};
use crate::apply::{Env, exit, hostwall, stderr, stdout};

#[test]
#[ignore = "needs root"]
fn two_namespaces_hold_pending_changes_at_once_issue8() {
    crate::support::root::require();
    let (a, b) = (Env::new("hw-pn-a"), Env::new("hw-pn-b"));
    let state = a.state();
    let st = state.to_string_lossy().into_owned();
    let open = a.file("open.policy", OPEN).to_string_lossy().into_owned();
    let closed = a
        .file("closed.policy", CLOSED)
        .to_string_lossy()
        .into_owned();
    let (na, nb) = (a.ns.name().to_string(), b.ns.name().to_string());
    let apply = |ns: &str, extra: &[&str], policy: &str| {
        let mut args = vec!["apply", "--netns", ns, "--state-dir", &st];
        args.extend_from_slice(extra);
        args.push(policy);
        hostwall(&args, &[])
    };
    let cmd = |c: &str, ns: Option<&str>| {
        let mut args = vec![c, "--state-dir", &st];
        if let Some(n) = ns {
            args.extend(["--netns", n]);
        }
        hostwall(&args, &[])
    };
    exit(&apply(&na, &[], &open), 0);
    exit(&apply(&nb, &[], &open), 0);
    let (a_before, b_before) = (a.ruleset(), b.ruleset());

    exit(&apply(&na, &["--confirm", "60"], &closed), 0);
    let out = apply(&nb, &["--confirm", "60"], &closed);
    exit(&out, 0);
    assert!(
        stderr(&out).contains(&format!("`hostwall confirm --netns {nb}`")),
        "{}",
        stderr(&out)
    );
    assert_eq!(pending_files(&state).len(), 2);
    let (a_new, b_new) = (a.ruleset(), b.ruleset());
    assert_ne!(a_new, a_before);

    // A second change in A is refused, naming A; B is unaffected.
    let out = apply(&na, &["--confirm", "60"], &open);
    exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("already pending in network namespace {na}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("`hostwall confirm --netns {na}`")),
        "{err}"
    );
    assert_eq!(a.ruleset(), a_new);

    let s = stdout(&cmd("status", Some(&na)));
    assert!(s.contains(&format!("pending: policy {closed}")), "{s}");
    assert!(
        s.contains(&format!("also pending in network namespace {nb}")),
        "{s}"
    );
    assert!(
        s.contains(&format!("`hostwall status --netns {nb}`")),
        "{s}"
    );

    // Nothing is pending in the namespace the tests run in: confirm there keeps nothing.
    let out = cmd("confirm", None);
    exit(&out, 0);
    assert!(
        stderr(&out).contains("no change is pending; nothing to confirm"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pending_files(&state).len(), 2);

    let out = cmd("confirm", Some(&na));
    exit(&out, 0);
    assert!(stderr(&out).contains("it stays"), "{}", stderr(&out));
    let out = cmd("revert", Some(&nb));
    exit(&out, 0);
    assert!(stderr(&out).contains("reverted change"), "{}", stderr(&out));
    assert_eq!(a.ruleset(), a_new, "A's confirmed change stays");
    assert_eq!(b.ruleset(), b_before, "B's change is reverted");
    assert_ne!(b_new, b_before);
    assert!(pending_files(&state).is_empty());
    let s = stdout(&cmd("status", Some(&nb)));
    let none = format!("no change pending in network namespace {nb}\nlast change: change ");
    assert!(s.starts_with(&none), "{s}");
    assert!(
        s.contains("reverted because `hostwall revert` was run"),
        "{s}"
    );
    let out = cmd("revert", Some("hw-pn-no-such-namespace"));
    exit(&out, 2);
    assert!(
        stderr(&out).contains("\"hw-pn-no-such-namespace\" not found"),
        "{}",
        stderr(&out)
    );
}
