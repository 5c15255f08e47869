//! What `hostwall diff` reports beyond the IR, made with the real `nft` inside
//! throwaway namespaces and read through the real CLI: named objects, extra chains and
//! flowtables-or-maps in our table are drift with their details; every other table's
//! base chain on any hook of any family is a warning with its hook name and a
//! can-drop judgement; and a corpus of hand-written rulesets (`tests/data/foreign/`)
//! never reads as "in sync".

use hostwall::netns::Netns;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A namespace with kvm-host applied by the CLI, and a temp state dir for it.
struct Host {
    ns: Netns,
    state: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let ns = Netns::create_unique("hw-blind").expect("namespace");
        let state = crate::common::state_dir();
        let host = Host { ns, state };
        let (code, out) = host.hostwall(&["apply", "--insecure-perms"]);
        assert_eq!(code, 0, "apply: {out}");
        host
    }

    /// `hostwall CMD kvm-host.policy --netns N --state-dir S EXTRA...`: (exit code, stdout+stderr).
    fn hostwall(&self, args: &[&str]) -> (i32, String) {
        let policy = manifest().join("policies/kvm-host.policy");
        let state = self.state.path().to_str().expect("utf8");
        let mut a = vec![args[0], policy.to_str().expect("utf8")];
        a.extend(["--netns", self.ns.name(), "--state-dir", state]);
        a.extend_from_slice(&args[1..]);
        let out = Command::new(env!("CARGO_BIN_EXE_hostwall"))
            .args(&a)
            .output()
            .expect("run hostwall");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    /// The full comparison as text: (exit code, output).
    fn diff_text(&self) -> (i32, String) {
        self.hostwall(&["diff", "--full"])
    }

    /// The full comparison as JSON: (exit code, document). Panics on invalid JSON.
    fn diff_json(&self) -> (i32, Value) {
        let (code, out) = self.hostwall(&["diff", "--full", "--format", "json"]);
        let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        (code, doc)
    }

    /// `nft -f -` in the namespace; `Err(stderr)` when nft refuses the script.
    fn nft(&self, script: &str) -> Result<(), String> {
        crate::apply::nft_in(self.ns.name(), &["-f", "-"], script).map(drop)
    }

    fn must_nft(&self, script: &str) {
        if let Err(e) = self.nft(script) {
            panic!("nft -f failed: {e}\n{script}");
        }
    }
}

fn changes(doc: &Value) -> Vec<Value> {
    doc["changes"].as_array().cloned().unwrap_or_default()
}

#[test]
#[ignore = "needs root"]
fn every_named_object_kind_in_our_table_is_drift_issue8() {
    crate::support::root::require();
    let host = Host::new();
    assert_eq!(host.diff_text().0, 0, "in sync after apply");
    // (nft command, object as reported, a word of its contents)
    let kinds = [
        ("add counter inet hostwall c9", "counter c9", "pkts"),
        (
            "add quota inet hostwall q9 { over 2000 mbytes }",
            "quota q9",
            "bytes",
        ),
        (
            "add limit inet hostwall l9 { rate 7/minute }",
            "limit l9",
            "rate 7",
        ),
        (
            "add ct helper inet hostwall h9 { type \"ftp\" protocol tcp; }",
            "ct helper h9",
            "ftp",
        ),
        (
            "add ct timeout inet hostwall t9 { protocol udp; l3proto ip; policy = { unreplied: 15 }; }",
            "ct timeout t9",
            "protocol 17",
        ),
        (
            "add ct expectation inet hostwall e9 { protocol tcp; dport 2121; timeout 5s; size 2; l3proto ip6; }",
            "ct expectation e9",
            "dport 2121",
        ),
        (
            "add synproxy inet hostwall s9 { mss 1400; wscale 5; }",
            "synproxy s9",
            "mss 1400",
        ),
    ];
    for (add, object, detail) in kinds {
        host.must_nft(add);
        let (code, doc) = host.diff_json();
        assert_eq!(code, 1, "{add}: {doc:#}");
        assert_eq!(doc["in_sync"], false, "{add}");
        let c = changes(&doc);
        assert_eq!(c.len(), 1, "{add}: {doc:#}");
        assert_eq!(c[0]["kind"], "object-extra", "{add}");
        assert_eq!(c[0]["severity"], "drift");
        assert_eq!(c[0]["object"], object);
        let actual = c[0]["actual"].as_str().unwrap_or_default();
        assert!(actual.contains(detail), "{add}: {actual}");
        let (_, text) = host.diff_text();
        assert!(
            text.contains(&format!("named object not in the policy: {object}")),
            "{text}"
        );
        let name = object.rsplit(' ').next().unwrap_or_default();
        let kind = object.rsplit_once(' ').map_or("", |(k, _)| k);
        host.must_nft(&format!("delete {kind} inet hostwall {name}"));
        assert_eq!(
            host.diff_text().0,
            0,
            "in sync again after deleting {object}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn extra_base_chains_in_our_table_show_hook_priority_policy_and_rules_issue8() {
    crate::support::root::require();
    let host = Host::new();
    host.must_nft(
        "add chain inet hostwall sneaky { type filter hook input priority -10; policy drop; }
         add rule inet hostwall sneaky tcp dport 8443 accept
         add rule inet hostwall sneaky udp dport 53 drop
         add chain inet hostwall early { type filter hook ingress device \"lo\" priority -300; policy accept; }
         add rule inet hostwall early tcp dport 22 drop",
    );
    let (code, text) = host.diff_text();
    assert_eq!(code, 1, "{text}");
    for want in [
        "chain not in the policy: chain sneaky",
        "live has:    type filter hook input priority -10; policy drop; 2 rules",
        "rule 1: tcp dport 8443 accept",
        "rule 2: udp dport 53 drop",
        "chain not in the policy: chain early",
        "type filter hook ingress device \"lo\" priority -300; policy accept; 1 rule",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("hook number"), "{text}");
    let (code, doc) = host.diff_json();
    assert_eq!(code, 1);
    let c = changes(&doc);
    let sneaky = c
        .iter()
        .find(|c| c["object"] == "chain sneaky")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(sneaky["kind"], "chain-extra");
    assert_eq!(sneaky["chain"]["hook"], "input");
    assert_eq!(sneaky["chain"]["priority"], -10);
    assert_eq!(sneaky["chain"]["policy"], "drop");
    assert_eq!(sneaky["chain"]["type"], "filter");
    assert_eq!(
        sneaky["rules"],
        serde_json::json!(["tcp dport 8443 accept", "udp dport 53 drop"])
    );
    let early = c
        .iter()
        .find(|c| c["object"] == "chain early")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(early["chain"]["hook"], "ingress");
    assert_eq!(early["chain"]["devices"], serde_json::json!(["lo"]));
    assert_eq!(early["rules"], serde_json::json!(["tcp dport 22 drop"]));
}

#[test]
#[ignore = "needs root"]
fn foreign_drops_on_ingress_output_and_postrouting_warn_with_hook_names_issue8() {
    crate::support::root::require();
    let host = Host::new();
    host.must_nft(
        "table netdev edge {
           chain rx { type filter hook ingress device \"lo\" priority 0; policy accept; tcp dport 22 drop; }
         }
         table ip egress {
           chain out { type filter hook output priority 0; policy accept; tcp dport 443 reject; }
         }
         table ip6 late {
           chain post { type filter hook postrouting priority 0; policy accept; udp dport 53 drop; }
         }",
    );
    // Warnings only: the policy does not own those tables, so still exit 0 ...
    let (code, text) = host.diff_text();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("in sync") && text.contains("3 warnings above"),
        "{text}"
    );
    // ... but every chain is named with its hook and judged from its rules.
    for (object, hook) in [
        ("table netdev edge chain rx", "hook ingress device \"lo\""),
        ("table ip egress chain out", "hook output"),
        ("table ip6 late chain post", "hook postrouting"),
    ] {
        let line = text
            .lines()
            .skip_while(|l| !l.ends_with(object))
            .nth(1)
            .unwrap_or_else(|| panic!("no warning for {object}:\n{text}"));
        assert!(line.contains(hook), "{line}");
        assert!(
            line.contains("can drop the host's traffic (rule 1 of chain"),
            "{line}"
        );
    }
    let (_, doc) = host.diff_json();
    let c = changes(&doc);
    assert_eq!(c.len(), 3, "{doc:#}");
    for w in &c {
        assert_eq!(w["kind"], "foreign-base-chain");
        assert_eq!(w["severity"], "warning");
        assert_eq!(w["can_drop"], "yes");
    }
    assert_eq!(doc["in_sync"], true);
}

#[test]
#[ignore = "needs root"]
fn synproxy_chain_is_not_described_as_accepting_issue8() {
    crate::support::root::require();
    let host = Host::new();
    host.must_nft(
        "table ip proxy {
           chain syn {
             type filter hook input priority -5; policy accept;
             tcp dport 22 ct state invalid,untracked synproxy mss 1460 wscale 7
           }
         }",
    );
    let (_, text) = host.diff_text();
    assert!(text.contains("may drop the host's traffic"), "{text}");
    assert!(text.contains("synproxy"), "{text}");
    assert!(
        !text.contains("cannot drop") && !text.contains("accepts"),
        "{text}"
    );
    let (_, doc) = host.diff_json();
    assert_eq!(changes(&doc)[0]["can_drop"], "unknown", "{doc:#}");
}

/// One corpus file's header: (drift objects, (warning object, judgement)).
type Expect = (Vec<String>, Vec<(String, Option<String>)>);

fn expectations(text: &str) -> Expect {
    let mut drift = Vec::new();
    let mut warn = Vec::new();
    for line in text.lines() {
        if let Some(o) = line.strip_prefix("# expect: ") {
            drift.push(o.trim().to_string());
        } else if let Some(w) = line.strip_prefix("# warn: ") {
            let (o, j) = match w.split_once(" = ") {
                Some((o, j)) => (o, Some(j.trim().to_string())),
                None => (w, None),
            };
            warn.push((o.trim().to_string(), j));
        }
    }
    (drift, warn)
}

#[test]
#[ignore = "needs root"]
fn corpus_of_hand_written_rulesets_never_reads_as_in_sync_issue8() {
    crate::support::root::require();
    let files = crate::support::corpus::files("tests/data/foreign", "nft");
    assert!(files.len() >= 12, "{} corpus files", files.len());
    for f in &files {
        let script = std::fs::read_to_string(f).expect("read corpus file");
        let (drift, warn) = expectations(&script);
        assert!(!drift.is_empty(), "{}: no '# expect:' header", f.display());
        let host = Host::new();
        host.must_nft(&script);
        let (code, doc) = host.diff_json();
        assert_eq!(code, 1, "{}: {doc:#}", f.display());
        assert_eq!(doc["in_sync"], false, "{}", f.display());
        let c = changes(&doc);
        for o in &drift {
            assert!(
                c.iter()
                    .any(|c| c["object"] == o.as_str() && c["severity"] == "drift"),
                "{}: no drift for {o}: {doc:#}",
                f.display()
            );
        }
        for (o, judgement) in &warn {
            let w = c
                .iter()
                .find(|c| c["object"] == o.as_str() && c["kind"] == "foreign-base-chain")
                .unwrap_or_else(|| panic!("{}: no warning for {o}: {doc:#}", f.display()));
            if let Some(j) = judgement {
                assert_eq!(w["can_drop"], j.as_str(), "{}: {o}", f.display());
            }
        }
        let (code, text) = host.diff_text();
        assert_eq!(code, 1, "{}: {text}", f.display());
        assert!(text.contains("drift: "), "{}: {text}", f.display());
        assert!(!text.contains("in sync"), "{}: {text}", f.display());
    }
}

#[test]
#[ignore = "needs root"]
fn a_policy_line_another_table_defeats_is_never_in_sync_issue10() {
    crate::support::root::require();
    let host = Host::new();
    // SPICE (tcp 5634-6166) is allowed by the policy; another table drops one port of it.
    host.must_nft(
        "table ip lab {
           chain in { type filter hook input priority 10; policy accept; tcp dport 5900 drop; }
         }",
    );
    let (code, text) = host.diff_text();
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("in sync"), "{text}");
    assert!(
        text.contains("defeated: table inet hostwall matches the policy"),
        "{text}"
    );
    let (code, doc) = host.diff_json();
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["ok"], false, "{doc:#}");
    assert!(
        changes(&doc)
            .iter()
            .any(|c| c["kind"] == "policy-defeated" && c["object"] == "table ip lab chain in"),
        "{doc:#}"
    );
    // Removing the other table's drop makes the host hold the policy again.
    host.must_nft("delete table ip lab");
    let (code, text) = host.diff_text();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("in sync"), "{text}");
}
