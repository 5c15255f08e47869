//! docker's and firewalld's rulesets as the real programs wrote them (captured by
//! `boot-tests/capture/`, see `tests/fixtures/README.md`), loaded with `nft -f` into
//! throwaway namespaces: their decoded forms against goldens, and the conflicts `diff`,
//! `explain` and `verify --with-live-tables` name with a policy beside them.

use crate::support::cli::{hostwall, text};
use crate::support::nft::{At, iptables_restore, nft};
use hostwall::netns::Netns;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A namespace holding the captured ruleset of `program`: docker's and firewalld's with
/// `nft -f`; libvirt's with iptables-nft-restore (its `xt` matches and targets).
fn loaded(program: &str) -> Netns {
    let ns = Netns::create_unique("hw-cap").expect("namespace");
    if program == "libvirt" {
        for (v6, file) in [(false, "iptables-save.txt"), (true, "ip6tables-save.txt")] {
            let rules =
                std::fs::read_to_string(fixture(&format!("libvirt/{file}"))).expect("fixture");
            iptables_restore(At::Netns(ns.name()), v6, &rules).expect("iptables-nft-restore");
        }
        return ns;
    }
    let file = fixture(&format!("{program}/ruleset.nft"));
    let script = std::fs::read_to_string(&file).expect("fixture");
    if let Err(e) = nft(At::Netns(ns.name()), &["-f", "-"], &script) {
        panic!("nft -f {}: {e}", file.display());
    }
    ns
}

/// A policy in a temp dir, applied in `ns` with a private state dir.
struct Applied {
    dir: tempfile::TempDir,
    policy: String,
}

fn apply(ns: &Netns, text: &str) -> Applied {
    let dir = crate::common::state_dir();
    let policy = dir.path().join("cap.policy");
    std::fs::write(&policy, text).expect("write policy");
    let policy = policy.to_str().expect("utf8").to_string();
    let state = dir.path().to_str().expect("utf8").to_string();
    let out = hostwall(&[
        "apply",
        &policy,
        "--netns",
        ns.name(),
        "--state-dir",
        &state,
        "--insecure-perms",
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    Applied { dir, policy }
}

fn text_of(out: &std::process::Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

impl Applied {
    fn diff_json(&self, ns: &Netns) -> Value {
        let state = self.dir.path().to_str().expect("utf8");
        let out = hostwall(&[
            "diff",
            &self.policy,
            "--netns",
            ns.name(),
            "--state-dir",
            state,
            "--full",
            "--format",
            "json",
        ]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text_of(&out)))
    }

    fn explain(&self, ns: &Netns, packet: &str) -> String {
        let out = hostwall(&[
            "explain",
            packet,
            &self.policy,
            "--live",
            "--netns",
            ns.name(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
        text(&out.stdout)
    }

    fn verify_live(&self, ns: &Netns) -> (i32, String) {
        let _serial = crate::common::serial();
        let out = hostwall(&[
            "verify",
            &self.policy,
            "--with-live-tables",
            "--netns",
            ns.name(),
        ]);
        assert_eq!(crate::common::our_namespaces(), Vec::<String>::new());
        (out.status.code().unwrap_or(-1), text_of(&out))
    }
}

fn defeated(doc: &Value) -> Vec<&Value> {
    (doc["changes"].as_array().into_iter().flatten())
        .filter(|c| c["kind"] == "policy-defeated")
        .collect()
}

#[test]
#[ignore = "needs root"]
fn captured_docker_firewalld_and_libvirt_decode_to_their_goldens_issue10() {
    crate::support::root::require();
    for program in ["docker", "firewalld", "libvirt"] {
        let ns = loaded(program);
        let snap = hostwall::live::read("hostwall", Some(ns.name())).expect("read");
        let got: String = snap.others.iter().map(hostwall::ir::host::render).collect();
        let golden = fixture(&format!("{program}/decoded.txt"));
        if std::env::var_os("HOSTWALL_BLESS").is_some() {
            std::fs::write(&golden, &got).expect("bless");
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        assert_eq!(
            got,
            want,
            "{program}: decoded form differs from {}",
            golden.display()
        );
        ns.remove().expect("remove");
    }
}

/// docker isolates its networks from each other (DOCKER-ISOLATION-STAGE-2 drops):
/// a forward line of ours between two of them is defeated.
#[test]
#[ignore = "needs root"]
fn dockers_isolation_defeats_a_forward_between_its_networks_issue10() {
    crate::support::root::require();
    let ns = loaded("docker");
    let policy = concat!(
        "policy cap {\n    default reject\n    forwarding on\n    forward {\n",
        "        default reject\n        allow tcp 80 in \"docker0\" out \"br-7afa28daf97d\"\n",
        "    }\n}\n"
    );
    let a = apply(&ns, policy);
    let doc = a.diff_json(&ns);
    let hits = defeated(&doc);
    let hit = (hits.iter())
        .find(|c| {
            c["actual"]
                .as_str()
                .unwrap_or("")
                .contains("DOCKER-ISOLATION-STAGE-2")
        })
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(
        hit["policy_line"]
            .as_str()
            .unwrap_or("")
            .contains("cap.policy:6:"),
        "{hit:#}"
    );
    let pkt = "tcp 172.17.0.2 -> 172.30.0.2:80 in docker0 out br-7afa28daf97d new";
    let o = a.explain(&ns, pkt);
    assert!(
        o.contains("verdict: dropped: table ip filter chain FORWARD refuses it"),
        "{o}"
    );
    assert!(o.contains("chain DOCKER-ISOLATION-STAGE-2"), "{o}");
    assert!(o.contains("cap.policy:6:"), "ours with its line: {o}");
    let (code, out) = a.verify_live(&ns);
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.contains(" FAIL ")).collect();
    assert!(!fails.is_empty(), "{out}");
    for f in fails {
        assert!(f.starts_with("forward tcp 80 "), "{f}");
        assert!(f.contains("chain DOCKER-ISOLATION-STAGE-2 rule 1"), "{f}");
    }
    ns.remove().expect("remove");
}

/// firewalld's zone (public, the default) rejects what it does not allow; its rich rule
/// rejects tcp 8080 from 203.0.113.0/24 first: an `allow tcp 8080` of ours is defeated.
#[test]
#[ignore = "needs root"]
fn firewallds_zone_reject_defeats_an_allow_of_ours_issue10() {
    crate::support::root::require();
    let ns = loaded("firewalld");
    let policy = "policy cap {\n    default reject\n    allow http tcp 80\n    allow tcp 8080\n}\n";
    let a = apply(&ns, policy);
    let doc = a.diff_json(&ns);
    let hits = defeated(&doc);
    // One rule holds both lines (tcp dport { 80, 8080 }): the sure refusal of 8080 is
    // reported though a packet to 80 met firewalld's IPv6 rpfilter (a "may") first.
    let sure = |c: &&&Value| c["can_drop"] == "yes";
    let port = |c: &&&Value, p: &str| c["packet"].as_str().unwrap_or("").contains(p);
    assert!(
        hits.iter().any(|c| sure(&c)
            && port(&c, ":8080 ")
            && c["object"] == "table inet firewalld chain filter_INPUT"
            && c["actual"]
                .as_str()
                .unwrap_or("")
                .contains("admin-prohibited")),
        "{doc:#}"
    );
    assert!(
        !hits.iter().any(|c| sure(&c) && port(&c, ":80 ")),
        "firewalld allows http: {doc:#}"
    );
    let rich = a.explain(&ns, "tcp 203.0.113.7 -> 10.0.0.1:8080 on fw0 new");
    assert!(
        rich.contains("verdict: rejected: table inet firewalld"),
        "{rich}"
    );
    assert!(
        rich.contains("chain filter_IN_public_deny"),
        "the rich rule: {rich}"
    );
    let zone = a.explain(&ns, "tcp 198.51.100.7 -> 10.0.0.1:8080 on fw0 new");
    assert!(
        zone.contains("reject with icmpx admin-prohibited"),
        "the zone's reject: {zone}"
    );
    let (code, out) = a.verify_live(&ns);
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.contains(" FAIL ")).collect();
    assert!(!fails.is_empty(), "{out}");
    for f in &fails {
        assert!(f.starts_with("tcp 8080 from "), "{f}");
        assert!(
            f.contains("defeated") && f.contains("table inet firewalld"),
            "{f}"
        );
    }
    ns.remove().expect("remove");
}

/// The real libvirt's rules (iptables-nft: `xt` conntrack and REJECT) with libvirt-nat
/// plus `allow tcp 8000 out "virbr*" to guests`: LIBVIRT_FWI rejects it, surely.
#[test]
#[ignore = "needs root"]
fn the_real_libvirts_fwi_defeats_port_8000_issue10() {
    crate::support::root::require();
    let ns = loaded("libvirt");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::fs::read_to_string(root.join("policies/libvirt-nat.policy")).expect("policy");
    let policy = base.replace(
        "allow out \"virbr*\" to guests established  # and only replies back in",
        "allow out \"virbr*\" to guests established  # and only replies back in\n        allow tcp 8000 out \"virbr*\" to guests",
    );
    assert_ne!(policy, base);
    let a = apply(&ns, &policy);
    let o = a.explain(
        &ns,
        "tcp 203.0.113.9 -> 192.168.122.50:8000 in eth0 out virbr0 new",
    );
    assert!(
        o.contains("verdict: rejected: table ip filter chain FORWARD refuses it"),
        "{o}"
    );
    assert!(
        o.contains("of chain LIBVIRT_FWI: oifname \"virbr0\" reject"),
        "{o}"
    );
    let doc = a.diff_json(&ns);
    assert!(
        defeated(&doc).iter().any(|c| c["can_drop"] == "yes"
            && c["packet"].as_str().unwrap_or("").contains(":8000 ")
            && c["actual"].as_str().unwrap_or("").contains("LIBVIRT_FWI")),
        "{doc:#}"
    );
    let (code, out) = a.verify_live(&ns);
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.contains(" FAIL ")).collect();
    assert!(!fails.is_empty(), "{out}");
    for f in fails {
        assert!(
            f.starts_with("forward tcp 8000 ") && f.contains("LIBVIRT_FWI rule"),
            "{f}"
        );
    }
    ns.remove().expect("remove");
}
