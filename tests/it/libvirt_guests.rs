//! Every shipped policy keeps libvirt's NAT guests working: the
//! guests' DHCP, DHCPv6 and DNS to dnsmasq on a `virbr*` bridge are accepted,
//! the same packets on any other interface are not, and no policy turns
//! `net.ipv4.ip_forward` off under libvirt's NAT. Packets go through `eval`.

use crate::support::corpus;
use hostwall::eval::{L4, Packet, evaluate};
use hostwall::ir::{Hook, Ruleset, Verdict};
use hostwall::model::Policy;
use std::net::IpAddr;

/// Every `policies/*.policy` with its `NAME.site.toml` when there is one.
fn shipped() -> Vec<corpus::Case> {
    let out = corpus::shipped();
    assert!(out.len() >= 4, "shipped policies: {out:?}");
    out
}

/// The checked policy; panics with the rendered diagnostics unless it checks clean.
fn load(case: &corpus::Case) -> Policy {
    corpus::check_case(case, false).unwrap_or_else(|e| panic!("{}:\n{e}", case.name))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn verdict(rs: &Ruleset, src: &str, dst: &str, iif: &str, l4: L4) -> Verdict {
    let pkt = Packet::new_inbound(ip(src), ip(dst), iif, l4);
    match evaluate(rs, Hook::Input, &pkt) {
        Ok(d) => d.verdict,
        Err(e) => panic!("{pkt:?}: {e}"),
    }
}

/// What a guest on a libvirt NAT network sends its host's dnsmasq.
fn guest_packets() -> Vec<(&'static str, &'static str, &'static str, L4)> {
    vec![
        (
            "DHCP discover",
            "0.0.0.0",
            "255.255.255.255",
            L4::Udp { dport: 67 },
        ),
        (
            "DHCP renew",
            "192.168.122.50",
            "192.168.122.1",
            L4::Udp { dport: 67 },
        ),
        (
            "DHCPv6 solicit",
            "fe80::5054:ff:fe12:3456",
            "ff02::1:2",
            L4::Udp { dport: 547 },
        ),
        (
            "DNS over UDP",
            "192.168.122.50",
            "192.168.122.1",
            L4::Udp { dport: 53 },
        ),
        (
            "DNS over TCP",
            "192.168.122.50",
            "192.168.122.1",
            L4::Tcp { dport: 53 },
        ),
        (
            "DNS over UDP6",
            "fd00:122::50",
            "fd00:122::1",
            L4::Udp { dport: 53 },
        ),
    ]
}

#[test]
fn shipped_policies_serve_libvirt_guests_dhcp_and_dns_issue10() {
    let mut broken = Vec::new();
    for case in shipped() {
        let rs = hostwall::compile::compile(&load(&case));
        for bridge in ["virbr0", "virbr1", "virbr12"] {
            for (what, src, dst, l4) in guest_packets() {
                let v = verdict(&rs, src, dst, bridge, l4);
                if v != Verdict::Accept {
                    broken.push(format!("{}: {what} on {bridge}: {v:?}", case.name));
                }
            }
        }
    }
    assert!(broken.is_empty(), "guests cut off:\n{}", broken.join("\n"));
}

#[test]
fn guest_service_rules_are_inert_off_the_libvirt_bridges_issue10() {
    let mut open = Vec::new();
    for case in shipped() {
        let rs = hostwall::compile::compile(&load(&case));
        for iif in ["eth0", "br0", "xvirbr0", "vnet0", "virb0"] {
            for (what, _, _, l4) in guest_packets() {
                let (src, dst) = match l4 {
                    L4::Udp { dport: 547 } => ("fe80::1", "ff02::1:2"),
                    _ if what.ends_with('6') => ("2001:db8::9", "2001:db8::1"),
                    _ => ("203.0.113.9", "198.51.100.1"),
                };
                let v = verdict(&rs, src, dst, iif, l4);
                if v == Verdict::Accept {
                    open.push(format!("{}: {what} on {iif} accepted", case.name));
                }
            }
        }
    }
    assert!(open.is_empty(), "open beyond virbr*:\n{}", open.join("\n"));
}

#[test]
fn no_shipped_policy_turns_ipv4_forwarding_off_issue10() {
    for case in shipped() {
        let p = load(&case);
        if let Some((on, span)) = p.forwarding.ipv4 {
            assert!(
                on,
                "{}: forwarding off at {span:?} cuts off libvirt's NAT",
                case.name
            );
        }
    }
}
