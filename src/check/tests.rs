//! One-line checker tests through a small `check(input, expect)` helper.

use super::*;
use crate::diag::{Color, render};

/// Checks `policy t { BODY }` and returns the rendered diagnostics and the policy.
fn run(body: &str) -> (Option<Policy>, String) {
    let mut map = SourceMap::new();
    let f = map.add("policy", format!("policy t {{\n{body}\n}}\n"));
    let (p, d) = check(&mut map, f, None, &NoIncludes);
    (p, render(&map, &d, Color::Never))
}

/// Asserts the rendered diagnostics contain `expect` (or are empty when `expect` is "").
fn check_body(body: &str, expect: &str) {
    let (_, out) = run(body);
    if expect.is_empty() {
        assert!(
            out.is_empty(),
            "expected no diagnostics for {body:?}, got:\n{out}"
        );
    } else {
        assert!(
            out.contains(expect),
            "expected {expect:?} for {body:?}, got:\n{out}"
        );
    }
}

#[test]
fn default_policy_checks_clean() {
    let mut map = SourceMap::new();
    let text = include_str!("../../policies/kvm-host.policy");
    let f = map.add("kvm-host.policy", text);
    let (p, d) = check(&mut map, f, None, &NoIncludes);
    assert!(d.is_empty(), "{}", render(&map, &d, Color::Never));
    let p = p.expect("policy");
    assert_eq!(p.name, "kvm-host");
    assert_eq!(p.input.len(), 6, "icmp v4 + v6 and four services");
    assert_eq!(p.forwarding.ipv4.map(|f| f.0), Some(true));
    assert_eq!(p.forwarding.ipv6, None);
    assert!(p.forward.is_none());
}

#[test]
fn one_line_cases() {
    check_body("allow ssh", "");
    check_body("allow sshh", "did you mean `ssh`?");
    check_body("allow tcp 0", "port 0 is out of range");
    check_body("allow tcp 70000", "port 70000 is out of range");
    check_body("allow tcp 6166-5634", "port range 6166-5634 is reversed");
    check_body(
        "allow ssh from 10.0.0.1/8",
        "help: the network is `10.0.0.0/8`",
    );
    check_body("allow icmpv6 from 10.0.0.0/8", "E0405");
    check_body("allow", "E0401");
    check_body("default drop\ndefault reject", "`default` is given twice");
    check_body("allow ssh tcp 2222", "catalog: ssh is tcp 22");
    check_body("allow tcp 22\nallow ssh", "W0002");
    check_body("allow tcp 1-100\ndrop tcp 50-200", "W0003");
    check_body("allow ssh established", "E0402");
    check_body("allow ssh on \"abcdefghijklmnopq\"", "E0205");
    check_body("allow ssh on \"vir*br\"", "`*` may only come last");
    check_body("log rejected limit 0/second", "E0206");
    check_body("log rejected group 70000", "E0207");
    check_body("service ssh tcp 2222", "E0304");
    check_body(
        "allow tcp 22 from mgnt\ndefine mgmt = 10.0.0.0/8",
        "did you mean `mgmt`?",
    );
    check_body("allow icmp echo-requets", "did you mean `echo-request`?");
    check_body(
        "forward {\n allow in \"virbr*\" from 10.0.0.0/8 to fd00::/64\n}",
        "E0405",
    );
}

#[test]
fn allow_icmp_is_both_families_unless_addresses_say_otherwise() {
    let (p, out) = run("allow icmp from 10.0.0.0/8");
    assert!(out.is_empty(), "{out}");
    assert_eq!(p.map(|p| p.input.len()), Some(1));
}

#[test]
fn shipped_policies_check_clean() {
    let site = "[networks]\nmgmt = [\"10.0.0.0/24\", \"fd00:10::/64\"]\nmigration = [\"192.168.50.0/24\"]\n\
                [interfaces]\nmigration = \"br-mig\"\n";
    let policies = [
        include_str!("../../policies/kvm-host.policy"),
        include_str!("../../policies/migration-net.policy"),
        include_str!("../../policies/libvirt-nat.policy"),
        include_str!("../../policies/minimal-host.policy"),
    ];
    for text in policies {
        let mut map = SourceMap::new();
        let f = map.add("policy", text);
        // Only migration-net names site networks; the others define their own.
        let s = text
            .contains("policy migration-net")
            .then(|| map.add("site.toml", site));
        let (p, d) = check(&mut map, f, s, &NoIncludes);
        assert!(d.is_empty(), "{}", render(&map, &d, Color::Never));
        assert!(p.is_some());
    }
}

#[test]
fn forward_block_builds_forward_rules() {
    let (p, out) = run(
        "forward {\n default drop\n allow in \"virbr*\" from 192.168.122.0/24\n allow out \"virbr*\" established\n}",
    );
    assert!(out.is_empty(), "{out}");
    let p = p.expect("policy");
    let fwd = p.forward.expect("forward chain");
    assert_eq!(fwd.len(), 2);
    assert!(fwd[0].iif[0].wildcard && fwd[0].iif[0].name == "virbr");
    assert!(fwd[1].established_only && fwd[1].oif.len() == 1);
    assert_eq!(p.forward_default, crate::model::DefaultAction::Drop);
}

#[test]
fn site_log_prefix_is_the_fallback() {
    let mut map = SourceMap::new();
    let f = map.add("policy", "policy p {\n log rejected limit 3/hour\n}\n");
    let s = map.add("site.toml", "log_prefix = \"fw: \"\n");
    let (p, d) = check(&mut map, f, Some(s), &NoIncludes);
    assert!(d.is_empty());
    let log = p.and_then(|p| p.log_rejected).expect("log");
    assert_eq!(log.prefix, "fw: ");
    assert_eq!(log.limit.map(|l| (l.count, l.burst)), Some((3, 0)));
}
