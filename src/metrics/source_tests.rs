//! Tests of the per-source limit sets' gauges and Nagios states.

use super::*;
use crate::drift::DriftReport;
use crate::metrics::nagios::line_with_sets;

fn set(name: &str, entries: u64, size: u32) -> SourceSet {
    SourceSet {
        fill: Fill {
            set: name.into(),
            family: "ipv4",
            size,
            entries,
        },
        line: "/etc/hostwall/host.policy:7".into(),
    }
}

fn in_sync() -> DriftReport {
    DriftReport {
        changes: Vec::new(),
        fast_path: true,
        genid: 9,
    }
}

#[test]
fn states_change_exactly_at_80_and_95_percent_of_the_size() {
    let at = |n, size| state(&set("s", n, size).fill);
    // 65535 * 0.80 = 52428 exactly; 65535 * 0.95 = 62258.25.
    assert_eq!(at(52427, 65535), State::Ok);
    assert_eq!(at(52428, 65535), State::Warning);
    assert_eq!(at(62258, 65535), State::Warning);
    assert_eq!(at(62259, 65535), State::Critical);
    assert_eq!(at(65535, 65535), State::Critical);
    assert_eq!(at(8, 10), State::Warning);
    assert_eq!(at(7, 10), State::Ok);
    assert_eq!(at(0, 0), State::Ok, "a set without a size never fills");
    assert_eq!(at(u64::MAX, u32::MAX), State::Critical, "no overflow");
}

#[test]
fn the_check_names_each_filling_set_with_its_rule_and_keeps_drift_first() {
    let t = "inet hostwall";
    let ok = [set("allow_limit4", 3, 65535), set("allow_limit6", 0, 65535)];
    let (s, l) = line_with_sets(&in_sync(), t, &ok);
    assert_eq!(s, State::Ok);
    assert_eq!(
        l,
        "HOSTWALL OK - in sync: table inet hostwall (generation 9) | drift=0;;1;0 warnings=0;;;0 generation=9 allow_limit4=3;52427;62258;0;65535 allow_limit6=0;52427;62258;0;65535\n"
    );
    let (s, l) = line_with_sets(&in_sync(), t, &[set("allow_limit4", 60000, 65535)]);
    assert_eq!((s, s.code()), (State::Warning, 1));
    assert!(
        l.starts_with("HOSTWALL WARNING - table inet hostwall in sync, but: source set allow_limit4 (limit per source at /etc/hostwall/host.policy:7) 91% full (60000 of 65535) |"),
        "{l}"
    );
    let (s, l) = line_with_sets(&in_sync(), t, &[set("a", 95, 100), set("b", 80, 100)]);
    assert_eq!(s, State::Critical);
    assert!(
        l.contains("source set a (") && l.contains("source set b ("),
        "{l}"
    );
    // Drift and a full set: both said, drift first.
    let mut drift = in_sync();
    drift.changes = vec![
        serde_json::from_value(
            serde_json::json!({"kind": "rule-added", "severity": "drift", "object": "chain input"}),
        )
        .expect("a change"),
    ];
    let (s, l) = line_with_sets(&drift, t, &[set("a", 85, 100)]);
    assert_eq!(s, State::Critical);
    assert!(
        l.starts_with(
            "HOSTWALL CRITICAL - 1 difference in table inet hostwall: rule-added 1; source set a ("
        ),
        "{l}"
    );
}

#[test]
fn odd_set_names_cannot_break_the_performance_data() {
    let (_, _, perf) = nagios(&[set("we'ird=|name", 1, 10), set("", 0, 10)]);
    assert_eq!(perf, " 'we_ird__name'=1;7;9;0;10 ''=0;7;9;0;10");
}

#[test]
fn gauges_carry_set_family_and_line_and_are_left_out_without_sets() {
    let text = crate::metrics::expo::render(&[], &families(&[set("allow_limit4", 5, 65535)]));
    assert!(text.contains("hostwall_source_limit_entries{set=\"allow_limit4\",family=\"ipv4\",line=\"/etc/hostwall/host.policy:7\"} 5\n"), "{text}");
    assert!(text.contains("hostwall_source_limit_size{set=\"allow_limit4\",family=\"ipv4\",line=\"/etc/hostwall/host.policy:7\"} 65535\n"), "{text}");
    assert_eq!(crate::metrics::expo::render(&[], &families(&[])), "");
}

#[test]
fn set_lines_name_every_line_a_dynamic_set_serves() {
    use crate::check::{NoIncludes, check};
    use crate::source::SourceMap;
    let text = "policy p {\n    allow ssh limit 5/minute per source\n    allow tcp 8080\n}\n";
    let mut map = SourceMap::new();
    let file = map.add("p.policy", text.to_string());
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let policy = policy.unwrap_or_else(|| panic!("{diags:?}"));
    let rs = crate::compile::compile(&policy);
    let line = |s: &Span| format!("p.policy:{}", map.line_col(*s).0);
    let lines = set_lines(&rs, &line);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.values().all(|l| l == "p.policy:2"), "{lines:?}");
}
