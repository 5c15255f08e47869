//! Tests of the failure classes, the summary, the JSON document and the JUnit XML.

use super::*;
use crate::verify::{NotProbed, ProbeResult, render_junit};

fn row(name: &str, expected: Outcome, seen: Outcome) -> ProbeResult {
    ProbeResult {
        name: name.into(),
        pass: expected == seen,
        expected,
        seen,
        rules: "decided by p:1 <accept> & \"x\"".into(),
        packet: Some(packet(
            "input",
            ProbeKind::Tcp(22),
            "198.18.0.2".parse().expect("addr"),
            "198.18.0.1".parse().expect("addr"),
        )),
    }
}

fn report(probes: Vec<ProbeResult>) -> VerifyReport {
    VerifyReport {
        probes,
        not_probed: vec![NotProbed {
            name: "from 224.0.0.5".into(),
            reason: "multicast".into(),
        }],
        notes: vec![],
        coverage: Default::default(),
    }
}

#[test]
fn open_against_closed_is_security_and_closed_against_closed_is_not() {
    use Outcome::*;
    for (e, s, want) in [
        (Open, Timeout, Some(Failure::Security)),
        (Open, Refused, Some(Failure::Security)),
        (Prohibited, Open, Some(Failure::Security)),
        (Timeout, Open, Some(Failure::Security)),
        (Prohibited, Timeout, Some(Failure::RefusedDifferently)),
        (Refused, Prohibited, Some(Failure::RefusedDifferently)),
        (Timeout, Refused, Some(Failure::RefusedDifferently)),
        (
            Value("1".into()),
            Value("0".into()),
            Some(Failure::Security),
        ),
        (Open, Error("EPERM".into()), Some(Failure::Error)),
        (Refused, Refused, None),
        (Value("1".into()), Value("1".into()), None),
    ] {
        assert_eq!(classify(&e, &s), want, "{e} vs {s}");
    }
}

#[test]
fn only_security_failures_and_errors_fail_the_run_unless_strict() {
    use Outcome::*;
    let drop_not_reject = report(vec![
        row("a", Open, Open),
        row("b", Prohibited, Timeout),
        row("c", Refused, Timeout),
    ]);
    let s = drop_not_reject.summary();
    assert_eq!(
        (s.passed, s.failed, s.security, s.refused_differently),
        (1, 2, 0, 2)
    );
    assert!(!drop_not_reject.fails(false));
    assert!(drop_not_reject.fails(true));
    let open = report(vec![
        row("a", Prohibited, Open),
        row("b", Prohibited, Timeout),
    ]);
    assert!(open.fails(false));
    let error = report(vec![row("a", Open, Error("x".into()))]);
    assert!(error.fails(false));
}

#[test]
fn the_document_names_each_probes_packet_and_class() {
    use Outcome::*;
    let r = report(vec![row("ok", Open, Open), row("bad", Prohibited, Open)]);
    let v = serde_json::to_value(crate::verify::document(&r, false)).expect("json");
    let bad = &v["probes"][1];
    assert_eq!(bad["failure"], "security");
    assert_eq!(bad["family"], "ipv4");
    assert_eq!(bad["protocol"], "tcp");
    assert_eq!(bad["port"], 22);
    assert_eq!(bad["source"], "198.18.0.2");
    assert_eq!(bad["observed"], "open");
    assert!(v["probes"][0].get("failure").is_none());
    assert_eq!(v["summary"]["security"], 1);
    let only = serde_json::to_value(crate::verify::document(&r, true)).expect("json");
    assert_eq!(only["probes"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        only["summary"]["passed"], 1,
        "the summary counts every probe"
    );
}

#[test]
fn junit_counts_and_escapes() {
    use Outcome::*;
    let r = report(vec![
        row("tcp 22 <ssh>", Open, Open),
        row("x & y", Prohibited, Timeout),
        row("z", Open, Timeout),
    ]);
    let xml = render_junit(&r, false);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.attribute("tests"), Some("4"));
    assert_eq!(root.attribute("failures"), Some("2"));
    assert_eq!(root.attribute("skipped"), Some("1"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 4);
    assert_eq!(cases[0].attribute("name"), Some("tcp 22 <ssh>"));
    let types: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| n.attribute("type").unwrap_or(""))
        .collect();
    assert_eq!(types, ["refused differently", "security"]);
    let only = render_junit(&r, true);
    let doc = roxmltree::Document::parse(&only).expect("well-formed XML");
    let n = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(n, 3, "two failures and the skipped net");
}

#[test]
fn junit_holds_no_character_xml_cannot() {
    use Outcome::*;
    let mut r = report(vec![row(
        "a\u{1}b\u{7f}c",
        Open,
        Error("bad \u{1b}[0m".into()),
    )]);
    r.not_probed[0].reason = "x\u{0}y".into();
    let xml = render_junit(&r, false);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let err = doc
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("a probe error is <error>");
    assert_eq!(err.attribute("type"), Some("error"));
    assert_eq!(doc.root_element().attribute("errors"), Some("1"));
}
