//! The whole host, not just our table: libvirt's, docker's
//! and firewalld's rulesets (`tests/data/host/`) loaded with the real `nft -f` into
//! throwaway namespaces, decoded into the host IR (goldens), and judged together with a
//! policy by `diff`, `check --live`, `apply` and `explain` through the real CLI.

use hostwall::netns::Netns;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn data(name: &str) -> PathBuf {
    manifest().join("tests/data/host").join(name)
}

struct Lab {
    ns: Netns,
    state: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            ns: Netns::create_unique("hw-mt").expect("namespace"),
            state: crate::common::state_dir(),
        }
    }

    fn nft_file(&self, file: &Path) {
        let script = std::fs::read_to_string(file).expect("read ruleset");
        if let Err(e) = crate::apply::nft_in(self.ns.name(), &["-f", "-"], &script) {
            panic!("nft -f {}: {e}", file.display());
        }
    }

    /// `hostwall ARGS...` with --netns/--state-dir added where the command takes them.
    fn run(&self, args: &[&str], state: bool) -> (i32, String, String) {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--netns", self.ns.name()]);
        let dir = self.state.path().to_str().expect("utf8").to_string();
        if state {
            a.extend(["--state-dir", &dir]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_hostwall"))
            .args(&a)
            .output()
            .expect("run hostwall");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn apply(&self, policy: &str) -> String {
        let (code, o, e) = self.run(&["apply", policy, "--insecure-perms", "--force"], true);
        assert_eq!(code, 0, "apply {policy}: {o}{e}");
        e
    }

    fn diff_json(&self, policy: &str, full: bool) -> Value {
        let mut a = vec!["diff", policy, "--format", "json"];
        if full {
            a.push("--full");
        }
        let (_, o, e) = self.run(&a, true);
        serde_json::from_str(&o).unwrap_or_else(|x| panic!("{x}: {o}{e}"))
    }
}

fn changes_of(doc: &Value, kind: &str) -> Vec<Value> {
    doc["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["kind"] == kind)
        .cloned()
        .collect()
}

/// A policy file in a temp dir: (dir guard, path).
fn policy_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("host.policy");
    std::fs::write(&p, text).expect("write policy");
    let s = p.to_str().expect("utf8").to_string();
    (dir, s)
}

#[test]
#[ignore = "needs root"]
fn libvirt_docker_firewalld_decode_to_their_goldens_issue10() {
    crate::support::root::require();
    for name in ["libvirt", "docker", "firewalld"] {
        let lab = Lab::new();
        lab.nft_file(&data(&format!("{name}.nft")));
        let snap = hostwall::live::read("hostwall", Some(lab.ns.name())).expect("read");
        assert!(snap.table.is_none());
        let text: String = snap.others.iter().map(hostwall::ir::host::render).collect();
        let golden = data(&format!("{name}.decoded"));
        if std::env::var_os("HOSTWALL_BLESS").is_some() {
            std::fs::write(&golden, &text).expect("bless");
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        assert_eq!(
            text,
            want,
            "{name}: decoded form differs from {}",
            golden.display()
        );
    }
}

#[test]
#[ignore = "needs root"]
fn port_8000_refused_by_libvirt_fwi_is_reported_by_diff_and_explain_issue10() {
    crate::support::root::require();
    let base = std::fs::read_to_string(manifest().join("policies/libvirt-nat.policy"))
        .expect("libvirt-nat");
    let text = base.replace(
        "allow out \"virbr*\" to guests established  # and only replies back in",
        "allow out \"virbr*\" to guests established  # and only replies back in\n        allow tcp 8000 out \"virbr*\" to guests",
    );
    assert_ne!(text, base, "the forward rule was added");
    let line = text
        .lines()
        .position(|l| l.contains("allow tcp 8000"))
        .expect("line")
        + 1;
    let (_d, policy) = policy_file(&text);
    let lab = Lab::new();
    lab.nft_file(&data("libvirt.nft"));
    let applied = lab.apply(&policy);
    assert!(
        applied.contains("LIBVIRT_FWI"),
        "apply warns after the change: {applied}"
    );
    for full in [true, false] {
        let doc = lab.diff_json(&policy, full);
        assert_eq!(doc["fast_path"], !full, "{doc:#}");
        let c = changes_of(&doc, "policy-defeated");
        let hit = c
            .iter()
            .find(|c| c["actual"].as_str().unwrap_or("").contains("LIBVIRT_FWI"))
            .unwrap_or_else(|| panic!("full={full}: {doc:#}"));
        assert_eq!(hit["object"], "table ip filter chain FORWARD");
        assert_eq!(hit["can_drop"], "yes");
        let at = format!("{policy}:{line}:");
        assert!(
            hit["policy_line"].as_str().unwrap_or("").starts_with(&at),
            "{hit:#}"
        );
        assert!(
            hit["actual"].as_str().unwrap_or("").contains("rejects it"),
            "{hit:#}"
        );
        assert!(
            hit["packet"].as_str().unwrap_or("").contains(":8000"),
            "{hit:#}"
        );
    }
    let pkt = "tcp 203.0.113.9 -> 192.168.122.50:8000 in eth0 out virbr0 new";
    let (code, o, e) = lab.run(&["explain", pkt, &policy, "--live"], false);
    assert_eq!(code, 0, "{o}{e}");
    assert!(
        o.contains("verdict: rejected: table ip filter chain FORWARD refuses it"),
        "{o}"
    );
    assert!(o.contains("rule 2 of chain LIBVIRT_FWI"), "{o}");
    assert!(
        o.contains(&format!("{policy}:{line}:")),
        "ours with its line: {o}"
    );
    // Without --live: the policy alone accepts it.
    let (_, o, _) = lab.run(
        &["explain", pkt, &policy, "--format", "json", "--live"],
        false,
    );
    let doc: Value = serde_json::from_str(&o).expect("json");
    assert_eq!(doc["verdict"], "rejected");
    let alone = Command::new(env!("CARGO_BIN_EXE_hostwall"))
        .args(["explain", pkt, &policy])
        .output()
        .expect("run");
    let alone = String::from_utf8_lossy(&alone.stdout);
    assert!(alone.contains("verdict: accepted"), "{alone}");
}

#[test]
#[ignore = "needs root"]
fn kvm_host_beside_libvirt_reports_dhcp_and_dns_on_virbr0_with_a_line_issue10() {
    crate::support::root::require();
    let lab = Lab::new();
    lab.nft_file(&data("libvirt.nft"));
    // kvm-host without its virbr* rules (as it was before it allowed libvirt guests'
    // DNS and DHCP): the conflict the warning exists for.
    let shipped = std::fs::read_to_string(manifest().join("policies/kvm-host.policy"))
        .expect("read kvm-host");
    let old: String = shipped
        .lines()
        .filter(|l| !l.contains("on \"virbr*\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, shipped, "kvm-host lost its guest rules?");
    let (_d, policy) = policy_file(&old);
    let policy = policy.as_str();
    let (code, _, e) = lab.run(&["check", policy, "--live"], false);
    assert_eq!(code, 0, "{e}");
    assert!(e.contains("LIBVIRT_INP"), "{e}");
    lab.apply(policy);
    for full in [true, false] {
        let doc = lab.diff_json(policy, full);
        assert_eq!(doc["in_sync"], true, "conflicts are warnings: {doc:#}");
        let c = changes_of(&doc, "policy-refuses");
        for rule in [1, 2, 3] {
            let object = format!("table ip filter chain LIBVIRT_INP rule {rule}");
            let hit = c
                .iter()
                .find(|c| c["object"] == object.as_str())
                .unwrap_or_else(|| panic!("no {object}: {doc:#}"));
            let s = hit["suggestion"].as_str().unwrap_or("");
            assert!(
                s.starts_with("allow tcp 53, 67 udp 53, 67 on \"virbr0\""),
                "{s}"
            );
            assert!(s.contains("dns") && s.contains("dhcp"), "{s}");
            assert!(
                hit["expected"]
                    .as_str()
                    .unwrap_or("")
                    .contains("hostwall chain input"),
                "{hit:#}"
            );
        }
    }
    let (_, o, _) = lab.run(&["diff", policy, "--full"], true);
    assert!(
        o.contains("suggested:   allow tcp 53, 67 udp 53, 67 on \"virbr0\""),
        "{o}"
    );
    let (_, o, _) = lab.run(
        &[
            "explain",
            "udp 192.168.122.50:68 -> 255.255.255.255:67 on virbr0 new",
            policy,
            "--live",
        ],
        false,
    );
    assert!(o.contains("accept: rule 3 of chain LIBVIRT_INP"), "{o}");
    assert!(
        o.contains("verdict: rejected: table inet hostwall chain input"),
        "{o}"
    );
    // The shipped kvm-host lets the guests' DNS and DHCP through: no such conflict.
    let shipped = manifest().join("policies/kvm-host.policy");
    let shipped = shipped.to_str().expect("utf8");
    lab.apply(shipped);
    let doc = lab.diff_json(shipped, true);
    let refuses = changes_of(&doc, "policy-refuses");
    assert!(
        !refuses
            .iter()
            .any(|c| c["object"].as_str().unwrap_or("").contains("LIBVIRT_INP")),
        "{doc:#}"
    );
}

#[test]
#[ignore = "needs root"]
fn docker_user_and_forward_policy_drop_defeat_forward_allows_issue10() {
    crate::support::root::require();
    let (_d, policy) = policy_file(
        "policy fwd {\n    default reject\n    allow ssh tcp 22\n    forward {\n        allow tcp 25 in \"eth0\"\n        allow in \"virbr*\" from 192.168.122.0/24\n    }\n}\n",
    );
    let lab = Lab::new();
    lab.nft_file(&data("docker.nft"));
    lab.apply(&policy);
    let doc = lab.diff_json(&policy, true);
    let c = changes_of(&doc, "policy-defeated");
    let smtp = c
        .iter()
        .find(|c| c["policy_line"].as_str().unwrap_or("").ends_with(":5:9"))
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(
        smtp["actual"]
            .as_str()
            .unwrap_or("")
            .contains("chain DOCKER-USER"),
        "{smtp:#}"
    );
    assert!(
        smtp["actual"].as_str().unwrap_or("").contains("drops it"),
        "{smtp:#}"
    );
    let guests = c
        .iter()
        .find(|c| c["policy_line"].as_str().unwrap_or("").ends_with(":6:9"))
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(guests["object"], "table ip filter chain FORWARD");
    assert!(
        guests["actual"]
            .as_str()
            .unwrap_or("")
            .contains("the policy of chain FORWARD drops it"),
        "{guests:#}"
    );
}

#[test]
#[ignore = "needs root"]
fn firewalld_zone_reject_defeats_an_allow_and_unknowns_stay_may_issue10() {
    crate::support::root::require();
    let (_d, policy) = policy_file("policy web {\n    default reject\n    allow tcp 8443\n}\n");
    let lab = Lab::new();
    lab.nft_file(&data("firewalld.nft"));
    let (code, _, e) = lab.run(&["check", &policy, "--live"], false);
    assert_eq!(code, 0, "{e}");
    assert!(e.contains("filter_INPUT"), "{e}");
    let pkt = "tcp 203.0.113.9 -> 192.0.2.1:8443 on eth0 new";
    let (_, o, _) = lab.run(&["explain", pkt, &policy, "--live"], false);
    assert!(
        o.contains("verdict: rejected: table inet firewalld chain filter_INPUT refuses it"),
        "{o}"
    );
    assert!(o.contains("reject with icmpx admin-prohibited"), "{o}");
    // IPv6 meets firewalld's reverse-path `fib` check, which hostwall cannot evaluate.
    let pkt6 = "tcp 2001:db8::9 -> [2001:db8::1]:22 on eth0 new";
    let (_, o, _) = lab.run(
        &["explain", pkt6, &policy, "--live", "--format", "json"],
        false,
    );
    let doc: Value = serde_json::from_str(&o).expect("json");
    assert_ne!(doc["verdict"], "accepted", "{doc:#}");
    // ssh on eth0 is in zone public: firewalld accepts it, our policy rejects it.
    lab.apply(&policy);
    let doc = lab.diff_json(&policy, true);
    let c = changes_of(&doc, "policy-refuses");
    assert!(
        c.iter()
            .any(|c| c["object"] == "table inet firewalld chain filter_IN_public_allow rule 1"),
        "{doc:#}"
    );
}

#[test]
#[ignore = "needs root"]
fn explain_live_judges_chains_of_ours_the_ir_cannot_hold_and_a_dormant_table_issue10() {
    crate::support::root::require();
    let lab = Lab::new();
    lab.apply("policies/kvm-host.policy");
    let policy = manifest().join("policies/kvm-host.policy");
    let policy = policy.to_str().expect("utf8");
    let pkt = "tcp 127.0.0.1 -> 127.0.0.1:22 on lo new";
    let explain = || {
        let (code, o, e) = lab.run(&["explain", pkt, policy, "--live"], false);
        assert_eq!(code, 0, "{o}{e}");
        o
    };
    assert!(explain().contains("verdict: accepted"));
    let script = "table inet hostwall {\n  chain early {\n    type filter hook ingress device \"lo\" priority -300; policy accept;\n    tcp dport 22 drop\n  }\n}\n";
    let (_d, file) = policy_file(script);
    lab.nft_file(Path::new(&file));
    let o = explain();
    assert!(
        o.contains("verdict: dropped: table inet hostwall chain early refuses it"),
        "{o}"
    );
    lab.nft_file(Path::new(
        &policy_file("table inet hostwall { flags dormant; }\n").1,
    ));
    let o = explain();
    assert!(
        o.contains("verdict: accepted: no base chain sees it"),
        "dormant: {o}"
    );
}
