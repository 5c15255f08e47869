//! Unit tests for diff's JSON output types: the schema pinned byte for byte by a golden.

use super::*;
use crate::diff::Change;

fn change(kind: Kind, severity: Severity, object: &str) -> Change {
    Change {
        severity,
        ..crate::diff::change(kind, object, None, None)
    }
}

fn head(family: &str, devices: &[&str]) -> ChainHead {
    ChainHead {
        family: family.into(),
        chain_type: "filter".into(),
        hook: "ingress".into(),
        devices: devices.iter().map(|d| d.to_string()).collect(),
        priority: -10,
        policy: "accept".into(),
    }
}

/// Every field of the schema at least once, each optional one both present and absent.
fn sample() -> Vec<Change> {
    vec![
        Change {
            expected: Some("5634-6166".into()),
            ..change(Kind::ElementMissing, Severity::Drift, "set allow_tcp")
        },
        Change {
            expected: Some("tcp dport 22 accept".into()),
            actual: Some("tcp dport 3306 accept".into()),
            position: Some(10),
            service: Some("ssh".into()),
            ..change(Kind::RuleChanged, Severity::Drift, "chain input")
        },
        Change {
            actual: Some("type filter hook ingress priority -10; policy accept; 2 rules".into()),
            chain: Some(head("inet", &[])),
            rules: vec!["udp dport 53 drop".into(), "meta mark 0x1 accept".into()],
            ..change(Kind::ChainExtra, Severity::Drift, "chain sneaky")
        },
        Change {
            actual: Some("can drop the host's traffic (rule 1 of chain rx: drop)".into()),
            chain: Some(head("netdev", &["lo", "eth0"])),
            can_drop: Some(CanDrop::Yes),
            ..change(
                Kind::ForeignBaseChain,
                Severity::Warning,
                "table netdev edge chain rx",
            )
        },
        Change {
            can_drop: Some(CanDrop::Unknown),
            packet: Some("tcp 10.0.0.1:40000 -> 10.0.0.2:22 in eth0".into()),
            policy_line: Some("host.policy:4".into()),
            ..change(Kind::PolicyDefeated, Severity::Warning, "table ip filter")
        },
        Change {
            can_drop: Some(CanDrop::No),
            suggestion: Some("allow tcp 8080 on \"virbr0\"".into()),
            ..change(Kind::PolicyRefuses, Severity::Warning, "table ip libvirt")
        },
    ]
}

/// The schema-1 document, byte for byte (docs/diff.md): key names and order, which
/// keys are left out when empty, and the names of severities and `can_drop`.
#[test]
fn diff_json_document_is_pinned_byte_for_byte() {
    let got = render_json("inet hostwall", &sample(), false, 4);
    assert_eq!(got, include_str!("json_golden.json"));
}

#[test]
fn in_sync_means_no_drift_warnings_allowed() {
    let warn = sample()
        .into_iter()
        .filter(|c| c.severity == Severity::Warning);
    let doc: serde_json::Value =
        serde_json::from_str(&render_json("inet fw", &warn.collect::<Vec<_>>(), true, 7))
            .expect("json");
    assert_eq!(doc["in_sync"], true);
    assert_eq!(doc["fast_path"], true);
    assert_eq!(doc["genid"], 7);
    assert_eq!(doc["table"], "inet fw");
    let empty = render_json("inet fw", &[], false, 1);
    assert!(empty.contains("\"changes\": [],") && empty.contains("\"in_sync\": true"));
    let drift = render_json("inet fw", &sample()[..1], false, 1);
    assert!(drift.contains("\"in_sync\": false"), "{drift}");
}

/// Every kind's schema name (docs/diff.md's table), in the order the kinds are declared.
#[test]
fn every_kind_has_its_schema_name() {
    let kinds = Kind::ALL;
    let names: Vec<&str> = kinds.iter().map(|k| kind_name(*k)).collect();
    assert_eq!(
        names.join(" "),
        "table-missing chain-missing chain-extra chain-hook chain-policy rule-missing \
         rule-added rule-changed rule-moved set-missing set-extra set-type element-missing \
         element-extra sysctl object-extra flowtable-extra unsupported foreign-base-chain \
         foreign-changing policy-defeated policy-refuses"
    );
}
