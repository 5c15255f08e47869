//! Busy hosts: another program committing to its own table as fast as `nft` runs (the
//! way libvirt, docker and fail2ban update theirs) never makes `apply`, `diff --full`
//! or the revert watcher fail, while a change to our own table between capture and
//! commit is still refused with nothing applied.

use crate::apply::{Env, exit, stderr};
use hostwall::apply::{ApplyError, ApplyOptions};
use hostwall::drift::{self, DriftOptions};
use hostwall::ir::Ruleset;
use hostwall::netns::Netns;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A shell loop in the namespace adding and flushing a rule in `table ip other`; the
/// loop runs until dropped. `pause` between changes: `None` is as fast as nft runs.
struct Churn {
    child: Child,
    ns: String,
}

impl Churn {
    fn start(ns: &Netns, table: &str, pause: Option<&str>) -> Churn {
        let setup = format!("nft add table {table}; nft add chain {table} c");
        let sleep = pause.map(|p| format!("sleep {p};")).unwrap_or_default();
        let script = format!(
            "{setup} || exit 1; while :; do nft add rule {table} c counter; nft flush chain {table} c; {sleep} done"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start churn: {e}"));
        let churn = Churn {
            child,
            ns: ns.name().to_string(),
        };
        // Wait until it is really committing.
        let g0 = churn.genid();
        let end = Instant::now() + Duration::from_secs(5);
        while churn.genid().wrapping_sub(g0) < 4 {
            assert!(Instant::now() < end, "the churn loop does not commit");
            std::thread::sleep(Duration::from_millis(20));
        }
        churn
    }

    fn genid(&self) -> u32 {
        hostwall::live::genid(Some(&self.ns)).unwrap_or_else(|e| panic!("genid: {e}"))
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kvm_host() -> Ruleset {
    hostwall::compile::compile(&crate::common::kvm_host())
}

/// A block list of `n` /32s (v4 and v6 halves) in front of kvm-host.
fn blocklist(n: u32) -> Ruleset {
    use crate::common::{from, ports, rule};
    use hostwall::model::{Proto, Verdict};
    let mut p = crate::common::kvm_host();
    let nets: Vec<String> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                format!(
                    "10.{}.{}.{}/32",
                    (i >> 16) & 0xff,
                    (i >> 8) & 0xff,
                    i & 0xff
                )
            } else {
                format!("2001:db8::{:x}/128", i)
            }
        })
        .collect();
    let nets: Vec<&str> = nets.iter().map(String::as_str).collect();
    let drop = from(
        rule(Verdict::Drop, "blocklist", ports(Proto::Tcp, &[(1, 65535)])),
        "blocklist",
        &nets,
    );
    p.input.insert(0, drop);
    hostwall::compile::compile(&p)
}

fn opts(ns: &Netns) -> ApplyOptions {
    ApplyOptions {
        netns: Some(ns.name().to_string()),
        ..Default::default()
    }
}

fn diff_full(rs: &Ruleset, ns: &Netns) -> drift::DriftReport {
    let o = DriftOptions {
        netns: Some(ns.name().to_string()),
        state_dir: PathBuf::from("/nonexistent-hostwall-state"),
        full: true,
    };
    drift::full(rs, &o).unwrap_or_else(|e| panic!("diff --full under churn: {e}"))
}

#[test]
#[ignore = "needs root"]
fn applies_and_full_diffs_succeed_while_another_table_churns() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-churn").unwrap_or_else(|e| panic!("{e}"));
    let small = kvm_host();
    // Under the 1 MiB a batch is resent within (822 KiB): a larger one is sent with
    // the notifications dropped, and a refusal of it is not resent (docs/apply.md).
    let big = blocklist(16_000);
    let churn = Churn::start(&ns, "ip other", None);
    let g0 = churn.genid();
    let mut resends = 0;
    for i in 0..60 {
        let rs = if i % 2 == 0 { &big } else { &small };
        let r = hostwall::apply::apply(rs, &opts(&ns))
            .unwrap_or_else(|e| panic!("apply {i} under churn: {e}"));
        resends += r.resends;
    }
    let d = diff_full(&small, &ns);
    assert!(d.in_sync(), "{:?}", d.changes);
    for _ in 0..5 {
        let d = diff_full(&big, &ns);
        assert!(!d.in_sync(), "kvm-host is live, not the block list");
        let d = diff_full(&small, &ns);
        assert!(d.in_sync(), "{:?}", d.changes);
    }
    // The churn really committed in between (well beyond our own 60 commits).
    let others = churn.genid().wrapping_sub(g0) - 60;
    assert!(
        others > 60,
        "only {others} foreign commits: no churn to speak of"
    );
    eprintln!("60 applies, {others} foreign commits, {resends} resends");
    drop(churn);
    ns.remove().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
#[ignore = "needs root"]
fn a_change_to_our_table_is_still_refused_under_churn_elsewhere() {
    crate::support::root::require();
    let ns = Netns::create_unique("hw-churn").unwrap_or_else(|e| panic!("{e}"));
    let rs = kvm_host();
    hostwall::apply::apply(&rs, &opts(&ns)).unwrap_or_else(|e| panic!("{e}"));
    let churn = Churn::start(&ns, "ip other", None);
    let captured = ns
        .run(|| hostwall::apply::restore::capture(&rs, &ApplyOptions::default()))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("capture: {e}"));
    let add = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "nft",
            "add",
            "rule",
            "inet",
            "hostwall",
        ])
        .args(["input", "tcp", "dport", "9", "accept"])
        .status()
        .unwrap_or_else(|e| panic!("nft: {e}"));
    assert!(add.success());
    std::thread::sleep(Duration::from_millis(50)); // let the churn commit on top
    let o = ApplyOptions {
        guard: Some(captured.guard.clone()),
        ..opts(&ns)
    };
    let empty = hostwall::compile::compile(&crate::common::policy("empty", vec![]));
    match hostwall::apply::apply(&empty, &o) {
        Err(ApplyError::Concurrent { .. }) => {}
        other => panic!("expected Concurrent, got {other:?}"),
    }
    drop(churn);
    // Nothing was applied: the live table is kvm-host plus the hand-made rule.
    // (An nft the churn loop had started may still commit: a foreign-changing warning
    // is then right too; drift is what must be exactly the hand-made rule.)
    let d = diff_full(&rs, &ns);
    let drift: Vec<_> = d
        .changes
        .iter()
        .filter(|c| c.severity == hostwall::diff::Severity::Drift)
        .collect();
    assert_eq!(drift.len(), 1, "{:?}", d.changes);
    assert_eq!(drift[0].kind, hostwall::diff::Kind::RuleAdded);
    ns.remove().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
#[ignore = "needs root"]
fn the_watcher_reverts_on_time_under_churn() {
    crate::support::root::require();
    let env = Env::new("hw-churnw");
    let open = env.file(
        "open.policy",
        "policy open {\n    allow ssh\n    allow tcp 8080\n}\n",
    );
    let closed = env.file("closed.policy", "policy closed {\n    allow ssh\n}\n");
    exit(&env.apply(&[&open.to_string_lossy()]), 0);
    let before = env.nft(&["list", "table", "inet", "hostwall"], "");
    let churn = Churn::start(&env.ns, "ip other", None);
    let out = env.apply(&["--confirm", "2", &closed.to_string_lossy()]);
    exit(&out, 0);
    let t0 = Instant::now();
    let pending = || !crate::safe::pending_files(&env.state()).is_empty();
    assert!(pending(), "no pending record after apply --confirm");
    while pending() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t0.elapsed();
    drop(churn);
    assert!(!pending(), "not reverted after {took:?}: {}", stderr(&out));
    assert!(took < Duration::from_secs(5), "reverted late: {took:?}");
    assert_eq!(env.nft(&["list", "table", "inet", "hostwall"], ""), before);
}
