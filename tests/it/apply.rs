//! apply against a real kernel, each test in a network namespace it creates:
//! refused batches leave the ruleset byte-identical and name the policy line,
//! other tables survive, re-apply is idempotent, the generation id guards the
//! batch, a failing sysctl step rolls everything back, and `--netns` works.

use crate::support::build::ir::{base, every_encoder_form, rule, ruleset};
use crate::support::netns::in_new_netns as in_netns;
use crate::support::nft::{self, here_ok as nft_ok};
use crate::support::sysctl::{SysctlTree, forwarding};
use hostwall::apply::{ApplyError, ApplyOptions, apply};
use hostwall::emit::netlink::{BatchOptions, build};
use hostwall::ir::*;
use hostwall::nft::sock::NfSocket;
use hostwall::source::{FileId, Span};
use std::path::Path;
use std::process::Command;

fn opts() -> ApplyOptions {
    ApplyOptions::default()
}

fn ruleset_listing() -> String {
    nft_ok(&["-s", "list", "ruleset"], "")
}

const OTHER_TABLE: &str = "table ip other {\n chain c {\n  type filter hook input priority 10; policy accept;\n  tcp dport 99 accept\n }\n}\n";

/// A rule the kernel refuses: log prefixes are at most 127 bytes.
fn refused(span: Span) -> Ruleset {
    let mut bad = rule(
        vec![],
        vec![Stmt::Log {
            prefix: Some("x".repeat(200)),
            group: None,
            level: hostwall::ir::LogLevel::Warn,
        }],
        None,
    );
    bad.origin = vec![span];
    let ok = rule(
        vec![Match::Dport(L4Proto::Tcp, PortMatch::Port(22))],
        vec![],
        Some(Verdict::Accept),
    );
    ruleset(
        vec![],
        vec![base("input", Hook::Input, ChainPolicy::Drop, vec![ok, bad])],
    )
}

#[test]
#[ignore = "needs root"]
fn refused_batch_leaves_ruleset_identical_and_names_the_rule() {
    crate::support::root::require();
    let span = Span::new(FileId(0), 40..52);
    in_netns(|| {
        nft_ok(&["-f", "-"], OTHER_TABLE);
        apply(&every_encoder_form(), &opts()).unwrap_or_else(|e| panic!("{e}"));
        let before = ruleset_listing();
        let err = apply(&refused(span), &opts()).err();
        assert_eq!(
            ruleset_listing(),
            before,
            "a refused batch must change nothing"
        );
        match err {
            Some(ApplyError::Kernel {
                errno,
                what,
                origin,
                message,
            }) => {
                assert_eq!(errno, libc::ERANGE, "{message}");
                assert_eq!(what, "rule 2 of chain input");
                assert_eq!(origin, vec![span]);
            }
            other => panic!("expected a kernel error, got {other:?}"),
        }
    });
}

#[test]
#[ignore = "needs root"]
fn other_tables_survive_and_reapply_is_idempotent() {
    crate::support::root::require();
    in_netns(|| {
        nft_ok(&["-f", "-"], OTHER_TABLE);
        let other = nft_ok(&["list", "table", "ip", "other"], "");
        let rs = every_encoder_form();
        let r1 = apply(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        let first = ruleset_listing();
        let r2 = apply(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ruleset_listing(), first);
        assert!(r2.genid > r1.genid, "each apply commits one generation");
        assert_eq!(nft_ok(&["list", "table", "ip", "other"], ""), other);
        // A smaller policy replaces the table entirely (no leftovers).
        let small = ruleset(
            vec![],
            vec![base("input", Hook::Input, ChainPolicy::Accept, vec![])],
        );
        apply(&small, &opts()).unwrap_or_else(|e| panic!("{e}"));
        let t = nft_ok(&["list", "table", "inet", "hostwall"], "");
        assert!(!t.contains("set ") && !t.contains("chain forward"), "{t}");
    });
}

#[test]
#[ignore = "needs root"]
fn stale_generation_is_refused_with_erestart() {
    crate::support::root::require();
    in_netns(|| {
        let rs = every_encoder_form();
        let r = apply(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        let before = ruleset_listing();
        // A batch built against an older generation, as if someone committed
        // between our read and our send.
        let stale = BatchOptions {
            first_seq: 1000,
            genid: Some(r.genid.wrapping_sub(1)),
        };
        let batch = build(&rs, &stale).unwrap_or_else(|e| panic!("{e}"));
        let sock = NfSocket::open().unwrap_or_else(|e| panic!("{e}"));
        sock.send(&batch.bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = vec![0u8; 65536];
        let n = sock.recv(&mut buf, false).ok().flatten().unwrap_or(0);
        assert!(n >= 36, "expected an error reply");
        let errno = -i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        let seq = u32::from_ne_bytes([buf[28], buf[29], buf[30], buf[31]]);
        assert_eq!(errno, libc::ERESTART);
        assert_eq!(seq, 1000, "the refusal names the batch begin");
        assert_eq!(ruleset_listing(), before);
    });
}

#[test]
#[ignore = "needs root"]
fn a_change_to_our_table_after_the_capture_is_refused_and_changes_nothing() {
    crate::support::root::require();
    in_netns(|| {
        let rs = every_encoder_form();
        apply(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        let captured =
            hostwall::apply::restore::capture(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        // Someone else changes our table after the capture.
        nft_ok(&["add", "rule", "inet", "hostwall", "input", "counter"], "");
        let before = ruleset_listing();
        let o = ApplyOptions {
            guard: Some(captured.guard.clone()),
            ..opts()
        };
        let empty = ruleset(vec![], vec![]);
        match apply(&empty, &o) {
            Err(ApplyError::Concurrent { expected }) => {
                assert_eq!(expected, captured.guard.base())
            }
            other => panic!("expected Concurrent, got {other:?}"),
        }
        assert_eq!(ruleset_listing(), before, "nothing may change");
    });
}

#[test]
#[ignore = "needs root"]
fn a_change_to_another_table_after_the_capture_is_not_concurrent() {
    crate::support::root::require();
    in_netns(|| {
        let rs = every_encoder_form();
        let captured =
            hostwall::apply::restore::capture(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        // Another program commits in its own table after our capture, twice.
        nft_ok(&["-f", "-"], OTHER_TABLE);
        nft_ok(&["add", "chain", "ip", "other", "extra"], "");
        let o = ApplyOptions {
            guard: Some(captured.guard.clone()),
            ..opts()
        };
        let r = apply(&rs, &o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.resends, 1,
            "one refusal, then a resend at the current generation"
        );
        assert_eq!(r.genid_before, captured.guard.base());
        let live = hostwall::live::genid(None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.genid, live, "the reported generation is our commit's");
        let listing = ruleset_listing();
        assert!(listing.contains("table ip other"), "{listing}");
        assert!(listing.contains("table inet hostwall"), "{listing}");
    });
}

/// Apply options that write the sysctls into `tree`.
fn tree_opts(tree: &SysctlTree) -> ApplyOptions {
    ApplyOptions {
        sysctl_root: Some(tree.path().to_path_buf()),
        ..opts()
    }
}

/// Applies `every_encoder_form` with forwarding on and `o`'s failing sysctl tree;
/// asserts the sysctl step failed with nothing left to roll back, returns the message.
fn sysctl_step_fails(o: &ApplyOptions) -> String {
    let err = apply(&forwarding(every_encoder_form()), o).err();
    let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        matches!(err, Some(ApplyError::Sysctl { rollback: None, .. })),
        "{msg}"
    );
    msg
}

#[test]
#[ignore = "needs root"]
fn sysctl_failure_rolls_back_ruleset_and_sysctls() {
    crate::support::root::require();
    let tree = SysctlTree::new();
    let o = tree_opts(&tree);
    in_netns(|| {
        nft_ok(&["-f", "-"], OTHER_TABLE);
        // Previous table present (with counters that must survive).
        let old = ruleset(
            vec![],
            vec![base(
                "input",
                Hook::Input,
                ChainPolicy::Accept,
                vec![rule(vec![], vec![Stmt::Counter], None)],
            )],
        );
        apply(&old, &opts()).unwrap_or_else(|e| panic!("{e}"));
        let before = ruleset_listing();
        let msg = sysctl_step_fails(&o);
        assert!(
            msg.contains("cannot write net.ipv6.conf.all.forwarding"),
            "{msg}"
        );
        assert!(msg.contains("rolled back"), "{msg}");
        assert_eq!(ruleset_listing(), before);
        assert_eq!(
            tree.read("net/ipv4/ip_forward"),
            "0\n",
            "written sysctl restored"
        );

        // Previous table absent: rollback removes ours again.
        nft_ok(&["delete", "table", "inet", "hostwall"], "");
        let before = ruleset_listing();
        assert!(apply(&forwarding(every_encoder_form()), &o).is_err());
        assert_eq!(ruleset_listing(), before);
    });
}

/// #14: a sysctl step failing after an in-place change planned from the table record is
/// undone by the change's inverse, O(change): the table is exactly as before, down to
/// its rules' handles (a copy replayed whole would give every rule a new one), and the
/// sysctl written first is put back.
#[test]
#[ignore = "needs root"]
fn a_failed_sysctl_step_after_an_in_place_change_is_undone_by_its_inverse() {
    crate::support::root::require();
    let tree = SysctlTree::new();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = dir.path().join("state");
    use std::os::unix::fs::DirBuilderExt;
    let made = std::fs::DirBuilder::new().mode(0o700).create(&state);
    made.unwrap_or_else(|e| panic!("state dir: {e}"));
    let record = hostwall::apply::trusted::path(&state, None);
    let policy = |more: &str| {
        crate::support::corpus::compile_text(&format!(
            "policy p {{\n    default drop\n    allow ssh tcp 22 from 10.0.0.0/24, 10.1.0.0/24{more}\n    allow tcp 8080\n}}\n"
        ))
    };
    let with_record = |o: ApplyOptions| ApplyOptions {
        table_record: Some(record.clone()),
        ..o
    };
    in_netns(|| {
        let first = apply(&policy(""), &with_record(opts())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.record_error, None);
        let handles = || nft_ok(&["-a", "list", "table", "inet", "hostwall"], "");
        let before = handles();
        let err = apply(
            &forwarding(policy(", 10.2.0.0/24")),
            &with_record(tree_opts(&tree)),
        )
        .err();
        let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            matches!(err, Some(ApplyError::Sysctl { rollback: None, .. })),
            "{msg}"
        );
        assert!(msg.contains("rolled back"), "{msg}");
        assert_eq!(handles(), before, "not undone in place: {msg}");
        assert_eq!(
            tree.read("net/ipv4/ip_forward"),
            "0\n",
            "written sysctl restored"
        );
    });
}

/// Named objects and a verdict map jumping to a chain: the rollback replays
/// objects before the rules naming them and chains before the map elements.
const OBJECTS_AND_VMAP: &str = "table inet hostwall {
 counter c1 { }
 quota q1 { over 100 mbytes used 5 mbytes }
 limit l1 { rate 10/second }
 chain ssh {
  counter name c1 accept
 }
 chain input {
  type filter hook input priority 0; policy accept;
  tcp dport vmap { 22 : jump ssh, 23 : drop }
  quota name q1 limit name l1 accept
 }
}
";

#[test]
#[ignore = "needs root"]
fn rollback_restores_named_objects_and_verdict_maps() {
    crate::support::root::require();
    let tree = SysctlTree::new();
    let o = tree_opts(&tree);
    in_netns(|| {
        nft_ok(&["-f", "-"], OBJECTS_AND_VMAP);
        let before = ruleset_listing();
        sysctl_step_fails(&o);
        assert_eq!(ruleset_listing(), before);
    });
}

#[test]
#[ignore = "needs root"]
fn revert_restores_named_objects_and_verdict_maps() {
    crate::support::root::require();
    in_netns(|| {
        nft_ok(&["-f", "-"], OBJECTS_AND_VMAP);
        let before = ruleset_listing();
        let rs = every_encoder_form();
        let prev =
            hostwall::apply::restore::capture(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        apply(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(ruleset_listing(), before);
        prev.previous.restore().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ruleset_listing(), before);
    });
}

/// Needs a kernel with nf_flow_table (CONFIG_NF_FLOW_TABLE), which this project's CI
/// kernel lacks: compiled only with `--features kernel-flowtables` (docs/testing.md). The
/// refusal itself is unit-tested on a dumped message in `apply::table_copy`.
#[cfg(feature = "kernel-flowtables")]
#[test]
#[ignore = "needs root"]
fn flowtables_refuse_the_apply_before_any_change() {
    crate::support::root::require();
    let tree = SysctlTree::new();
    let o = tree_opts(&tree);
    in_netns(|| {
        let ft = "table inet hostwall {\n flowtable ft0 { hook ingress priority 0; devices = { lo }; }\n}\n";
        // A kernel built without nf_flow_table refuses any flowtable: the test cannot
        // run there, and says so by failing.
        if let Err(e) = nft::nft(nft::At::Here, &["-f", "-"], ft) {
            panic!("cannot create a flowtable to test with (kernel without nf_flow_table?): {e}");
        }
        let before = ruleset_listing();
        let msg = apply(&forwarding(every_encoder_form()), &o)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            msg,
            "table inet hostwall holds flowtables (ft0) that hostwall cannot restore; \
             remove them or apply without --confirm"
        );
        assert_eq!(ruleset_listing(), before, "nothing may change");
        assert_eq!(tree.read("net/ipv4/ip_forward"), "0\n");
    });
}

#[test]
#[ignore = "needs root"]
fn a_table_owned_by_another_process_is_named_as_such() {
    crate::support::root::require();
    in_netns(|| {
        let owner = nft::OwnedTable::hold(nft::At::Here);
        let before = ruleset_listing();
        let err = apply(&every_encoder_form(), &opts()).err();
        let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            msg,
            "table inet hostwall is owned by another process (flags owner)"
        );
        assert_eq!(ruleset_listing(), before);
        // Once the owner exits the kernel drops its table and apply works.
        drop(owner);
        apply(&every_encoder_form(), &opts()).unwrap_or_else(|e| panic!("{e}"));
    });
}

/// Runs `ip ARGS` in the calling thread's namespace.
fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status();
    assert!(st.is_ok_and(|s| s.success()), "ip {args:?} failed");
}

fn proc_sys(p: &str) -> String {
    std::fs::read_to_string(Path::new("/proc/sys").join(p))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root"]
fn failed_sysctl_step_restores_per_interface_forwarding() {
    crate::support::root::require();
    // net/ipv4 is this namespace's real /proc/sys/net/ipv4 (the kernel copies
    // ip_forward into every interface); the IPv6 key is an immutable file, so
    // the second write fails and the first is undone.
    let tree = SysctlTree::new();
    let v4 = tree.path().join("net/ipv4");
    std::fs::remove_dir_all(&v4).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("/proc/sys/net/ipv4", &v4).unwrap_or_else(|e| panic!("{e}"));
    let o = tree_opts(&tree);
    in_netns(|| {
        ip(&[
            "link", "add", "hwv0", "type", "veth", "peer", "name", "hwv1",
        ]);
        std::fs::write("/proc/sys/net/ipv4/conf/hwv0/forwarding", "1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(proc_sys("net/ipv4/ip_forward"), "0");
        let err = apply(&forwarding(every_encoder_form()), &o).err();
        let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            matches!(err, Some(ApplyError::Sysctl { ref restore_errors, .. }) if restore_errors.is_empty()),
            "{msg}"
        );
        assert_eq!(proc_sys("net/ipv4/ip_forward"), "0");
        assert_eq!(
            proc_sys("net/ipv4/conf/hwv0/forwarding"),
            "1",
            "the interface's own value is back"
        );
        assert_eq!(proc_sys("net/ipv4/conf/hwv1/forwarding"), "0");
        assert_eq!(proc_sys("net/ipv4/conf/default/forwarding"), "0");
    });
}

#[test]
#[ignore = "needs root"]
fn forwarding_sysctls_are_written_in_the_target_namespace() {
    crate::support::root::require();
    in_netns(|| {
        let rs = forwarding(ruleset(vec![], vec![]));
        let r = apply(&rs, &opts()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.sysctls.len(), 2);
        let v = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
        assert_eq!(v.trim(), "1");
    });
}

#[test]
#[ignore = "needs root"]
fn dry_run_sends_nothing() {
    crate::support::root::require();
    in_netns(|| {
        let before = ruleset_listing();
        let o = ApplyOptions {
            dry_run: true,
            ..opts()
        };
        let r = apply(&forwarding(every_encoder_form()), &o).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            r.plan.iter().any(|l| l.ends_with("rule 1 of chain input")),
            "{:?}",
            r.plan
        );
        assert!(
            r.plan
                .iter()
                .any(|l| l.starts_with("sysctl net.ipv4.ip_forward = 1"))
        );
        assert_eq!(ruleset_listing(), before);
        assert_eq!(r.genid, r.genid_before);
    });
}

/// A named namespace under /run/netns, removed on drop (also on panic).
struct NamedNetns(String);

impl NamedNetns {
    fn new() -> NamedNetns {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("hw-test-{}-{n}", std::process::id());
        let st = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(st.is_ok_and(|s| s.success()), "ip netns add {name} failed");
        NamedNetns(name)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
#[ignore = "needs root"]
fn netns_option_targets_that_namespace_only() {
    crate::support::root::require();
    let ns = NamedNetns::new();
    let o = ApplyOptions {
        netns: Some(ns.0.clone()),
        ..opts()
    };
    in_netns(|| {
        apply(&every_encoder_form(), &o).unwrap_or_else(|e| panic!("{e}"));
        // Our own (unshared) namespace is untouched...
        assert_eq!(ruleset_listing(), "");
    });
    // ...and the named one holds the table.
    let out = nft::nft_ok(
        nft::At::Netns(&ns.0),
        &["list", "table", "inet", "hostwall"],
        "",
    );
    assert!(out.contains("chain input"), "{out}");
}

#[test]
fn missing_netns_is_one_clear_error() {
    let o = ApplyOptions {
        netns: Some("hw-does-not-exist".into()),
        ..opts()
    };
    let err = apply(&every_encoder_form(), &o)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "network namespace \"hw-does-not-exist\" not found (/run/netns/hw-does-not-exist)"
    );
}

#[test]
#[ignore = "needs root"]
fn invalid_netns_names_are_not_found_before_anything_happens() {
    crate::support::root::require();
    for name in ["", ".", "..", "a/b", "../netns"] {
        let o = ApplyOptions {
            netns: Some(name.into()),
            ..opts()
        };
        // In a namespace of our own, so a regression can never reach the host's.
        let err = in_netns(|| apply(&every_encoder_form(), &o))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            format!("network namespace {name:?} not found (/run/netns/{name})")
        );
    }
}
