//! `verify` with policies whose nets equal, contain or sit inside verify's own lab
//! ranges (198.18.0.0/15, fd00:6877::/32): the lab moves out of them, every probe
//! can be sent, the policy's own ruleset passes and a planted defect still fails.

use crate::common::*;
use crate::support::corpus::compile_text;
use hostwall::verify::{VerifyOptions, VerifyReport};

/// IPv4 nets over the lab's ranges: equal to a link subnet, containing both blocks,
/// inside them (/31, /32, a range ending on .255, a network and a broadcast address).
const V4: &str = "policy lab4 {
    default reject
    allow icmp from 198.18.0.0/24
    allow ssh from 198.18.0.128-198.18.0.255
    allow tcp 80 from 198.16.0.0/12
    allow tcp 81 from 198.19.0.0/16
    allow tcp 82 from 198.18.1.4/31
    allow tcp 83 from 198.18.2.255, 198.18.3.0
    drop from 198.19.0.2
}
";

/// IPv6 the same way: /48, a containing /8, a /64, a /127 and a /128.
const V6: &str = "policy lab6 {
    default reject
    allow icmp from fd00:6877::/48
    allow ssh from fd00:6877::80-fd00:6877::ffff
    allow tcp 80 from fd00::/8
    allow tcp 81 from fd00:6877:1::/64
    allow tcp 82 from fd00:6877::4/127
    allow tcp 83 from fd00:6877::2
    drop from fd00:6877:1::2
}
";

fn against(text: &str, drop_line: &str) -> (tempfile::TempDir, VerifyOptions) {
    assert!(text.contains(drop_line), "{drop_line}");
    let mutant = text.replace(drop_line, "");
    let rendered = hostwall::emit::text::render(&compile_text(&mutant), "mutant");
    against_file(&rendered)
}

/// Every failed probe's name.
fn failed(report: &VerifyReport) -> Vec<String> {
    failed_probes(report)
        .into_iter()
        .map(String::from)
        .collect()
}

fn passes_and_catches(text: &str, drop_line: &str, port: &str) {
    let rs = compile_text(text);
    let (report, table) = verify_passes(&rs);
    assert!(report.not_probed.is_empty(), "{table}");
    let (_dir, opts) = against(text, drop_line);
    let (report, table) = verify_quick(&rs, &opts);
    let failed = failed(&report);
    assert!(!failed.is_empty(), "the defect was not found:\n{table}");
    assert!(
        failed
            .iter()
            .all(|n| n.starts_with(&format!("tcp {port} from "))),
        "{failed:?}\n{table}"
    );
}

/// The firewalld import's trigger: echo from 198.18.0.255 (the lab's own broadcast
/// address before the fix) and SSH from a range ending there.
#[test]
#[ignore = "needs root"]
fn v4_nets_over_the_lab_ranges_verify_and_a_dropped_rule_fails() {
    crate::support::root::require();
    passes_and_catches(V4, "    allow ssh from 198.18.0.128-198.18.0.255\n", "22");
    passes_and_catches(V4, "    allow tcp 82 from 198.18.1.4/31\n", "82");
}

#[test]
#[ignore = "needs root"]
fn v6_nets_over_the_lab_ranges_verify_and_a_dropped_rule_fails() {
    crate::support::root::require();
    passes_and_catches(V6, "    allow tcp 83 from fd00:6877::2\n", "83");
}

/// Nets covering every candidate range: the lab sits inside them on purpose, says so,
/// and the ruleset still passes while a dropped rule fails.
#[test]
#[ignore = "needs root"]
fn nets_covering_every_range_keep_verify_working() {
    crate::support::root::require();
    let text = "policy all {
    default reject
    allow tcp 90 from 0.0.0.0/0
    allow tcp 91 from ::/0
    allow tcp 92 from 198.18.0.0/15, fd00:6877::/32
    drop from 10.0.0.0/8
}
";
    let rs = compile_text(text);
    let (report, table) = verify_passes(&rs);
    assert!(
        report.notes.iter().any(|n| n.contains("on purpose")),
        "{table}"
    );
    let (_dir, opts) = against(text, "    allow tcp 91 from ::/0\n");
    let (report, table) = verify_quick(&rs, &opts);
    let failed = failed(&report);
    assert!(!failed.is_empty(), "{table}");
    assert!(
        failed.iter().all(|n| n.starts_with("tcp 91 from ")),
        "{failed:?}\n{table}"
    );
}
