//! `hostwall diff` against real kernel state: every kind of drift made with the
//! real `nft` and `sysctl` inside a throwaway namespace, the exact change and exit code
//! asserted; the apply -> decode -> diff round trip is empty for every shipped policy and
//! every compile golden, whether the table was written over netlink or by `nft -f`.

use crate::support::{corpus, nft};
use hostwall::diff::{Change, Kind};
use hostwall::drift::{self, DriftOptions};
use hostwall::ir::Ruleset;
use hostwall::netns::Netns;
use std::path::PathBuf;
use std::process::{Command, Output};

fn kvm_host() -> Ruleset {
    let shipped = corpus::shipped();
    let kvm = shipped
        .iter()
        .find(|c| c.name.ends_with("/kvm-host.policy"));
    corpus::compile(kvm.expect("policies/kvm-host.policy"))
}

fn apply(rs: &Ruleset, ns: &Netns) {
    let opts = hostwall::apply::ApplyOptions {
        netns: Some(ns.name().to_string()),
        ..Default::default()
    };
    if let Err(e) = hostwall::apply::apply(rs, &opts) {
        panic!("apply: {e}");
    }
}

fn sh(ns: &Netns, script: &str) -> Output {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), "sh", "-c", script])
        .output()
        .expect("ip netns exec");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn diff(rs: &Ruleset, ns: &Netns) -> Vec<Change> {
    let opts = DriftOptions {
        netns: Some(ns.name().to_string()),
        state_dir: PathBuf::from("/nonexistent-hostwall-state"),
        full: true,
    };
    drift::full(rs, &opts).expect("diff").changes
}

/// (kind, object, expected, actual, position) of each change.
type Summary = (Kind, String, Option<String>, Option<String>, Option<usize>);

fn summary(c: &[Change]) -> Vec<Summary> {
    c.iter()
        .map(|c| {
            (
                c.kind,
                c.object.clone(),
                c.expected.clone(),
                c.actual.clone(),
                c.position,
            )
        })
        .collect()
}

/// Each drift scenario starts from a freshly applied kvm-host in its own namespace.
fn scenario(script: &str) -> Vec<Change> {
    let ns = Netns::create_unique("hw-diff").expect("namespace");
    let rs = kvm_host();
    apply(&rs, &ns);
    assert_eq!(diff(&rs, &ns), vec![], "in sync right after apply");
    sh(&ns, script);
    diff(&rs, &ns)
}

#[test]
#[ignore = "needs root"]
fn each_kind_of_drift_is_reported_exactly() {
    crate::support::root::require();
    let s = |k, o: &str, e: Option<&str>, a: Option<&str>, p| {
        (
            k,
            o.to_string(),
            e.map(String::from),
            a.map(String::from),
            p,
        )
    };
    let cases: Vec<(&str, Vec<_>)> = vec![
        (
            "nft add rule inet hostwall input tcp dport 3306 accept",
            vec![s(
                Kind::RuleAdded,
                "chain input",
                None,
                Some("tcp dport 3306 accept"),
                Some(12),
            )],
        ),
        (
            "nft insert rule inet hostwall input tcp dport 3306 accept",
            vec![s(
                Kind::RuleAdded,
                "chain input",
                None,
                Some("tcp dport 3306 accept"),
                Some(1),
            )],
        ),
        (
            "h=$(nft -a list chain inet hostwall input | grep 'comment \"ssh' | sed 's/.*handle //'); nft delete rule inet hostwall input handle $h",
            vec![s(
                Kind::RuleMissing,
                "chain input",
                Some("tcp dport @allow_tcp accept comment \"ssh, vdsm-reg, spice, kvm-migration\""),
                None,
                Some(7),
            )],
        ),
        (
            "h=$(nft -a list chain inet hostwall input | grep 'comment \"ssh' | sed 's/.*handle //'); nft replace rule inet hostwall input handle $h tcp dport 22 accept",
            vec![s(
                Kind::RuleChanged,
                "chain input",
                Some("tcp dport @allow_tcp accept comment \"ssh, vdsm-reg, spice, kvm-migration\""),
                Some("tcp dport 22 accept"),
                Some(7),
            )],
        ),
        (
            "nft delete element inet hostwall allow_tcp '{ 5634-6166 }'",
            vec![s(
                Kind::ElementMissing,
                "set allow_tcp",
                Some("5634-6166"),
                None,
                None,
            )],
        ),
        (
            "nft add element inet hostwall allow_tcp '{ 3306 }'",
            vec![s(
                Kind::ElementExtra,
                "set allow_tcp",
                None,
                Some("3306"),
                None,
            )],
        ),
        (
            "nft chain inet hostwall input '{ policy accept; }'",
            vec![s(
                Kind::ChainPolicy,
                "chain input",
                Some("drop"),
                Some("accept"),
                None,
            )],
        ),
        (
            "nft flush chain inet hostwall input && nft delete chain inet hostwall input",
            vec![s(
                Kind::ChainMissing,
                "chain input",
                Some("11 rules"),
                None,
                None,
            )],
        ),
        (
            "nft delete table inet hostwall",
            vec![s(
                Kind::TableMissing,
                "table inet hostwall",
                Some("table inet hostwall with 1 chain"),
                None,
                None,
            )],
        ),
        (
            "nft add table inet hostwall '{ flags dormant; }'",
            vec![s(
                Kind::Unsupported,
                "table inet hostwall",
                None,
                Some(
                    "table is dormant (flags dormant): none of its chains is attached to a hook, so it filters nothing",
                ),
                None,
            )],
        ),
        (
            "sysctl -qw net.ipv4.ip_forward=0",
            vec![s(
                Kind::Sysctl,
                "net.ipv4.ip_forward",
                Some("1"),
                Some("0"),
                None,
            )],
        ),
    ];
    for (script, want) in cases {
        assert_eq!(summary(&scenario(script)), want, "after: {script}");
    }
}

#[test]
#[ignore = "needs root"]
fn foreign_drop_chain_on_input_is_a_warning_not_drift() {
    crate::support::root::require();
    let c = scenario(
        "nft add table ip other && nft add chain ip other in '{ type filter hook input priority 10; policy drop; }'",
    );
    assert!(
        c.iter()
            .all(|c| c.severity == hostwall::diff::Severity::Warning),
        "{c:?}"
    );
    assert_eq!(c[0].kind, Kind::ForeignBaseChain);
    assert_eq!(c[0].object, "table ip other chain in");
    // Every IPv4 allow of the policy is defeated by its drop policy (issue #10): named
    // as conflicts on that chain, from the chain's (empty) rules and its policy.
    let defeated: Vec<_> = c
        .iter()
        .filter(|c| c.kind == Kind::PolicyDefeated)
        .collect();
    assert!(!defeated.is_empty(), "{c:?}");
    for d in defeated {
        assert_eq!(d.object, "table ip other chain in");
        assert_eq!(d.actual.as_deref(), Some("the policy of chain in drops it"));
        assert!(
            d.packet.as_deref().is_some_and(|p| !p.contains("::")),
            "IPv4 only: {d:?}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn round_trip_is_empty_for_every_policy_and_golden_both_ways() {
    crate::support::root::require();
    let files = corpus::clean();
    assert!(files.len() >= 30);
    let ns = Netns::create_unique("hw-rt").expect("namespace");
    let nft = |args: &[&str], stdin: &str| nft::nft_ok(nft::At::Netns(ns.name()), args, stdin);
    for f in &files {
        let rs = corpus::compile(f);
        // Written over netlink by hostwall ...
        apply(&rs, &ns);
        assert_eq!(diff(&rs, &ns), vec![], "{} applied over netlink", f.name);
        // ... and by nft -f from the compile output (sysctls set as apply would).
        nft(&["flush", "ruleset"], "");
        nft(&["-f", "-"], &hostwall::emit::text::render(&rs, "rt"));
        assert_eq!(diff(&rs, &ns), vec![], "{} loaded by nft -f", f.name);
        nft(&["flush", "ruleset"], "");
    }
}

#[test]
#[ignore = "needs root"]
fn hundred_thousand_elements_with_one_changed() {
    crate::support::root::require();
    let rs = corpus::compile_text(&hostwall::bench_support::policy(100_000, 10));
    let ns = Netns::create_unique("hw-big").expect("namespace");
    apply(&rs, &ns);
    assert_eq!(diff(&rs, &ns), vec![]);
    // The generator spaces /30s 8 addresses apart starting at 10.0.0.0.
    let set = rs
        .table
        .sets
        .iter()
        .find(|s| s.key == hostwall::ir::SetKey::Ipv4Addr)
        .expect("address set")
        .name
        .clone();
    sh(
        &ns,
        &format!(
            "nft delete element inet hostwall {set} '{{ 10.0.0.40/30 }}' && nft add element inet hostwall {set} '{{ 10.0.0.44/30 }}'"
        ),
    );
    let c = diff(&rs, &ns);
    assert_eq!(
        summary(&c),
        vec![
            (
                Kind::ElementMissing,
                format!("set {set}"),
                Some("10.0.0.40/30".into()),
                None,
                None
            ),
            (
                Kind::ElementExtra,
                format!("set {set}"),
                None,
                Some("10.0.0.44/30".into()),
                None
            ),
        ]
    );
}

fn hostwall(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hostwall"))
        .args(args)
        .output()
        .expect("run hostwall");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
#[ignore = "needs root"]
fn fast_path_answers_from_the_record_until_anything_changes() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-fast").expect("namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let policy = dir.path().join("host.policy");
    let nets = dir.path().join("nets.policy");
    std::fs::write(&nets, "define mgmt = 10.0.0.0/24\n").expect("write");
    std::fs::write(
        &policy,
        "include \"nets.policy\"\npolicy p {\n    forwarding on\n    allow ssh from mgmt\n}\n",
    )
    .expect("write");
    let name = ns.name().to_string();
    let (p, s, n) = (
        policy.to_str().expect("utf8"),
        state.to_str().expect("utf8"),
        name.as_str(),
    );
    let diff = |extra: &[&str]| {
        let mut a = vec!["diff", p, "--netns", n, "--state-dir", s];
        a.extend_from_slice(extra);
        hostwall(&a)
    };
    let apply = || {
        let (code, out) = hostwall(&[
            "apply",
            p,
            "--netns",
            n,
            "--state-dir",
            s,
            "--insecure-perms",
        ]);
        assert_eq!(code, 0, "{out}");
    };
    apply();
    let (code, out) = diff(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("fast path"), "{out}");
    // The fast path still reads the sysctls.
    sh(&ns, "sysctl -qw net.ipv4.ip_forward=0");
    let (code, out) = diff(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("net.ipv4.ip_forward") && out.contains("fast path"),
        "{out}"
    );
    sh(&ns, "sysctl -qw net.ipv4.ip_forward=1");
    let (code, out) = diff(&["--full"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("full comparison"), "--full dumps: {out}");
    // An included file that changed is another policy: the full comparison runs.
    std::fs::write(&nets, "define mgmt = 10.0.1.0/24\n").expect("write");
    let (code, out) = diff(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("full comparison") && out.contains("10.0.1.0/24"),
        "{out}"
    );
    std::fs::write(&nets, "define mgmt = 10.0.0.0/24\n").expect("write");
    let (code, out) = diff(&[]);
    assert!(code == 0 && out.contains("fast path"), "{out}");
    // Any nf_tables change moves the generation: the full comparison runs and finds it.
    sh(
        &ns,
        "nft add rule inet hostwall input tcp dport 3306 accept",
    );
    let (code, out) = diff(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("full comparison") && out.contains("tcp dport 3306"),
        "{out}"
    );
    // Apply again, then replace the namespace by a new one of the same name whose
    // generation id catches up: the record describes another namespace.
    apply();
    let genid = hostwall::live::genid(Some(n)).expect("genid");
    // Issue #8: the new namespace may even get the old one's nsfs inode number.
    let (fresh, _) = crate::common::recreate_same_name(ns);
    // Each nft command is one transaction: one generation.
    let mut filler = 0;
    while hostwall::live::genid(Some(n)).expect("genid") < genid {
        sh(&fresh, &format!("nft add table inet filler{filler}"));
        filler += 1;
    }
    assert_eq!(hostwall::live::genid(Some(n)).expect("genid"), genid);
    sh(&fresh, "sysctl -qw net.ipv4.ip_forward=1");
    let (code, out) = diff(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("full comparison") && out.contains("table is absent"),
        "{out}"
    );
}

/// Issue #8 item 10: an apply record in a state dir others could write is not
/// trusted: `diff` says so and compares in full (a forged record could otherwise make
/// it answer "in sync").
#[test]
#[ignore = "needs root"]
fn record_in_an_untrusted_state_dir_is_not_used_issue8() {
    crate::support::root::require();
    use std::os::unix::fs::PermissionsExt;
    let ns = Netns::create_unique("hw-trust").expect("namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let policy = dir.path().join("host.policy");
    std::fs::write(&policy, "policy p {\n    allow ssh\n}\n").expect("write");
    let (p, s, n) = (
        policy.to_str().expect("utf8"),
        state.to_str().expect("utf8"),
        ns.name(),
    );
    let apply = [
        "apply",
        p,
        "--netns",
        n,
        "--state-dir",
        s,
        "--insecure-perms",
    ];
    let (code, out) = hostwall(&apply);
    assert_eq!(code, 0, "{out}");
    let diff = ["diff", p, "--netns", n, "--state-dir", s];
    let (code, out) = hostwall(&diff);
    assert!(code == 0 && out.contains("fast path"), "{out}");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (code, out) = hostwall(&diff);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: not using the apply record: refusing to use")
            && out.contains("its mode is 0777")
            && out.contains("full comparison"),
        "{out}"
    );
    // A record file that is a symbolic link is refused as well.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let rec = std::fs::read_dir(&state)
        .expect("ls")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("applied-") && name.ends_with(".json")
        })
        .expect("apply record");
    let elsewhere = dir.path().join("elsewhere.json");
    std::fs::rename(&rec, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &rec).expect("symlink");
    let (code, out) = hostwall(&diff);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("symbolic link") && out.contains("full comparison"),
        "{out}"
    );
}
