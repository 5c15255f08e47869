//! `verify` of the forward chain end to end: probes through the host between
//! the client and the far namespace, against applied and hand-loaded rulesets.

use crate::common::*;

use hostwall::compile::compile;
use hostwall::ir::{ChainPolicy, Hook, Ruleset};
use hostwall::model::{DefaultAction, IfName, Policy, Traffic, Verdict};

use hostwall::verify::VerifyReport;

/// The shipped libvirt-nat policy, checked and compiled.
fn libvirt_nat() -> Ruleset {
    let shipped = crate::support::corpus::shipped();
    let case = shipped
        .iter()
        .find(|c| c.name.ends_with("/libvirt-nat.policy"));
    crate::support::corpus::compile(case.expect("policies/libvirt-nat.policy"))
}

fn seen(report: &VerifyReport, name: &str) -> String {
    probe(report, name).seen.to_string()
}

#[test]
#[ignore = "needs root"]
fn libvirt_nat_passes_with_forward_probes() {
    crate::support::root::require();
    let (report, table) = verify_passes(&libvirt_nat());
    let forward = report
        .probes
        .iter()
        .filter(|p| p.name.starts_with("forward "))
        .count();
    assert!(forward >= 50, "{forward} forward probes\n{table}");
    for (name, want) in [
        // Guests out through the host, answers back.
        (
            "forward tcp 23 192.168.122.1 -> 198.19.0.2 in virbr0 out uplink0",
            "open",
        ),
        (
            "forward icmp echo 192.168.122.1 -> 198.19.0.2 in virbr0 out uplink0",
            "open",
        ),
        (
            "forward udp 8081 192.168.122.1 -> 198.19.0.2 in virbr0 out uplink0",
            "open",
        ),
        // `established` only: a new connection in towards a guest is refused.
        (
            "forward tcp 23 198.19.0.2 -> 192.168.122.1 in uplink0 out virbr0",
            "refused",
        ),
        // Not from the guests' net; not over virbr0; not IPv4.
        (
            "forward tcp 23 198.18.1.2 -> 198.19.0.2 in virbr0 out uplink0",
            "refused",
        ),
        (
            "forward tcp 23 198.18.0.2 -> 198.19.0.2 in hwv0 out uplink0",
            "refused",
        ),
        (
            "forward tcp 23 fd00:6877:0:1::2 -> fd00:6877:1::2 in virbr0 out uplink0",
            "refused",
        ),
    ] {
        assert_eq!(seen(&report, name), want, "{name}\n{table}");
    }
    // The policy leaves IPv6 forwarding alone: the test turned it on and says so.
    assert!(
        table.contains("note: net.ipv6.conf.all.forwarding is not set by the policy"),
        "{table}"
    );
    assert!(table.ends_with(&format!(
        "{} passed, 0 failed, 0 not probed\n",
        report.probes.len()
    )));
}

#[test]
#[ignore = "needs root"]
fn against_a_forward_chain_accepting_everything_names_the_forward_probes() {
    crate::support::root::require();
    let rs = libvirt_nat();
    let mut open = rs.clone();
    for c in &mut open.table.chains {
        if let Some(b) = c.base.as_mut().filter(|b| b.hook == Hook::Forward) {
            b.policy = ChainPolicy::Accept;
            c.rules.clear();
        }
    }
    let (_dir, opts) = against_file(&hostwall::emit::text::render(&open, "open"));
    let (report, table) = verify_quick(&rs, &opts);
    let failed = failed_probes(&report);
    // Exactly the forward probes the policy blocks fail, each seen open.
    let blocked: Vec<&str> = report
        .probes
        .iter()
        .filter(|p| p.name.starts_with("forward ") && p.expected.to_string() != "open")
        .map(|p| p.name.as_str())
        .collect();
    assert!(blocked.len() >= 40, "{table}");
    assert_eq!(failed, blocked, "{table}");
    assert!(
        report
            .probes
            .iter()
            .filter(|p| !p.pass)
            .all(|p| p.seen.to_string() == "open"),
        "{table}"
    );
    assert!(failed.contains(&"forward tcp 23 198.19.0.2 -> 192.168.122.1 in uplink0 out virbr0"));
    assert!(!report.all_passed());
}

#[test]
#[ignore = "needs root"]
fn forward_default_drop_with_interfaces_passes() {
    crate::support::root::require();
    let iface = |name: &str| IfName {
        name: name.to_string(),
        wildcard: false,
    };
    let mut out = rule(Verdict::Accept, "out", Traffic::Any);
    out.service = None;
    out.iif.push(iface("virbr0"));
    out.oif.push(iface("eth0"));
    let mut back = rule(Verdict::Accept, "back", Traffic::Any);
    back.service = None;
    back.oif.push(iface("virbr0"));
    back.established_only = true;
    let mut p: Policy = policy("fwd-drop", vec![]);
    p.forward = Some(vec![out, back]);
    p.forward_default = DefaultAction::Drop;
    let (report, table) = verify_passes(&compile(&p));
    for (name, want) in [
        (
            "forward tcp 23 198.18.1.2 -> 198.19.1.2 in virbr0 out eth0",
            "open",
        ),
        (
            "forward icmpv6 echo fd00:6877:0:1::2 -> fd00:6877:1:1::2 in virbr0 out eth0",
            "open",
        ),
        (
            "forward tcp 23 198.19.1.2 -> 198.18.1.2 in eth0 out virbr0",
            "timeout",
        ),
        (
            "forward tcp 23 198.18.1.2 -> 198.19.0.2 in virbr0 out uplink0",
            "timeout",
        ),
        (
            "forward tcp 23 198.18.0.2 -> 198.19.1.2 in hwv0 out eth0",
            "timeout",
        ),
    ] {
        assert_eq!(seen(&report, name), want, "{name}\n{table}");
    }
}

#[test]
#[ignore = "needs root"]
fn no_forward_block_is_a_note_not_a_probe() {
    crate::support::root::require();
    let (report, table) = verify_passes(&compile(&kvm_host()));
    assert!(!report.probes.iter().any(|p| p.name.starts_with("forward ")));
    assert!(table.contains("note: no forward chain"), "{table}");
}
