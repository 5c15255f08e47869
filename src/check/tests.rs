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
