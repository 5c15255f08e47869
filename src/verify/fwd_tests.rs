//! Unit tests for the forward design and matrix (pure: no namespaces).

use super::*;
use crate::model::{Addrs, DefaultAction, Proto, Rule as MRule};
use crate::verify::{Outcome, design, forward, topology};

use crate::verify::test_plan::expect;

#[path = "../../tests/support/build/model.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{any, ifname};

fn tcp(lo: u16, hi: u16) -> MRule {
    build::allow(Proto::Tcp, lo, hi)
}

fn nets(list: &[&str]) -> Option<Addrs> {
    Some(build::addrs("guests", list))
}

fn policy(input: Vec<MRule>, forward: Option<Vec<MRule>>, default: DefaultAction) -> Ruleset {
    let mut p = build::policy("t", input);
    p.forward = forward;
    p.forward_default = default;
    crate::compile::compile(&p)
}

/// Like policies/libvirt-nat.policy: dns on virbr*, guests out, only replies back.
fn libvirt_nat() -> Ruleset {
    let mut dns = tcp(53, 53);
    dns.iif.push(ifname("virbr*"));
    let mut out = any();
    out.iif.push(ifname("virbr*"));
    out.sources = nets(&["192.168.122.0/24"]);
    let mut back = any();
    back.oif.push(ifname("virbr*"));
    back.destinations = nets(&["192.168.122.0/24"]);
    back.established_only = true;
    policy(vec![dns], Some(vec![out, back]), DefaultAction::Reject)
}

fn planned(rs: &Ruleset) -> Vec<(String, Outcome)> {
    let topo = design::topology(rs, None);
    forward::plan(rs, &topo)
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.expected))
        .collect()
}

fn names(links: &[Link]) -> Vec<&str> {
    links.iter().map(|l| l.host_if.as_str()).collect()
}

#[test]
fn no_forward_block_means_no_far_side_and_no_probes() {
    let rs = policy(vec![tcp(22, 22)], None, DefaultAction::Reject);
    let topo = design::topology(&rs, None);
    assert!(topo.far_links.is_empty() && topo.forwarding.is_empty());
    assert!(planned(&rs).is_empty());
}

#[test]
fn libvirt_nat_guests_out_and_only_replies_back() {
    let rs = libvirt_nat();
    let topo = design::topology(&rs, None);
    assert_eq!(names(&topo.links), ["hwv0", "virbr0"]);
    assert_eq!(names(&topo.far_links), ["uplink0"]);
    let p = planned(&rs);
    let out = "192.168.122.1 -> 198.19.0.2 in virbr0 out uplink0";
    assert_eq!(expect(&p, &format!("forward tcp 23 {out}")), Outcome::Open);
    assert_eq!(
        expect(&p, &format!("forward icmp echo {out}")),
        Outcome::Open
    );
    // A new connection from the far side to a guest: not an answer, refused.
    let back = "198.19.0.2 -> 192.168.122.1 in uplink0 out virbr0";
    assert_eq!(
        expect(&p, &format!("forward tcp 23 {back}")),
        Outcome::Refused
    );
    // Not from the guests' net, and not over virbr0: the default reject.
    for other in [
        "198.18.1.2 -> 198.19.0.2 in virbr0 out uplink0",
        "198.18.0.2 -> 198.19.0.2 in hwv0 out uplink0",
        "fd00:6877:0:1::2 -> fd00:6877:1::2 in virbr0 out uplink0",
    ] {
        assert_eq!(
            expect(&p, &format!("forward tcp 8081 {other}")),
            Outcome::Refused
        );
        assert_eq!(
            expect(&p, &format!("forward udp 8081 {other}")),
            Outcome::Prohibited
        );
    }
}

#[test]
fn in_and_out_names_go_on_opposite_sides() {
    let mut out = any();
    out.iif.push(ifname("virbr0"));
    out.oif.push(ifname("eth0"));
    let mut back = any();
    back.oif.push(ifname("virbr0"));
    back.established_only = true;
    let rs = policy(vec![], Some(vec![out, back]), DefaultAction::Drop);
    let topo = design::topology(&rs, None);
    assert_eq!(names(&topo.links), ["hwv0", "virbr0"]);
    assert_eq!(names(&topo.far_links), ["uplink0", "eth0"]);
    let p = planned(&rs);
    let fwd = "198.18.1.2 -> 198.19.1.2 in virbr0 out eth0";
    assert_eq!(expect(&p, &format!("forward tcp 23 {fwd}")), Outcome::Open);
    let rev = "198.19.1.2 -> 198.18.1.2 in eth0 out virbr0";
    assert_eq!(
        expect(&p, &format!("forward tcp 23 {rev}")),
        Outcome::Timeout
    );
    let wrong_out = "198.18.1.2 -> 198.19.0.2 in virbr0 out uplink0";
    assert_eq!(
        expect(&p, &format!("forward tcp 23 {wrong_out}")),
        Outcome::Timeout
    );
}

#[test]
fn a_reversed_pair_keeps_its_names_apart() {
    let mut a = any();
    a.iif.push(ifname("eth0"));
    a.oif.push(ifname("virbr0"));
    let mut b = any();
    b.iif.push(ifname("virbr0"));
    b.oif.push(ifname("eth0"));
    let rs = policy(vec![], Some(vec![a, b]), DefaultAction::Drop);
    let topo = design::topology(&rs, None);
    assert_eq!(names(&topo.links), ["hwv0", "eth0"]);
    assert_eq!(names(&topo.far_links), ["uplink0", "virbr0"]);
}

#[test]
fn port_edges_and_destination_nets() {
    let mut https = tcp(443, 443);
    https.sources = nets(&["192.168.122.0/24"]);
    https.destinations = nets(&["203.0.113.0/24"]);
    let rs = policy(vec![], Some(vec![https]), DefaultAction::Reject);
    let p = planned(&rs);
    let path = "192.168.122.1 -> 203.0.113.1 in hwv0 out uplink0";
    for (port, want) in [
        (442, Outcome::Refused),
        (443, Outcome::Open),
        (444, Outcome::Refused),
    ] {
        assert_eq!(expect(&p, &format!("forward tcp {port} {path}")), want);
    }
    assert_eq!(
        expect(&p, &format!("forward udp 443 {path}")),
        Outcome::Prohibited
    );
    // Outside the source net, outside the destination net.
    let outside_src = "198.18.0.2 -> 203.0.113.1 in hwv0 out uplink0";
    let outside_dst = "192.168.122.1 -> 198.19.0.2 in hwv0 out uplink0";
    for path in [outside_src, outside_dst] {
        assert_eq!(
            expect(&p, &format!("forward tcp 443 {path}")),
            Outcome::Refused
        );
    }
}

#[test]
fn forwarding_off_expects_no_answer_and_is_kept_in_the_test() {
    let mut p = build::policy("t", vec![]);
    p.forward = Some(vec![any()]);
    p.forwarding.ipv4 = Some((false, crate::source::Span::default()));
    let rs = crate::compile::compile(&p);
    let topo = design::topology(&rs, None);
    assert_eq!(
        topo.forwarding,
        [(Sysctl::Ipv4Forward, false), (Sysctl::Ipv6Forward, true)]
    );
    let plan = planned(&rs);
    assert_eq!(
        expect(
            &plan,
            "forward tcp 23 198.18.0.2 -> 198.19.0.2 in hwv0 out uplink0 (forwarding off)"
        ),
        Outcome::Timeout
    );
    assert_eq!(
        expect(
            &plan,
            "forward tcp 23 fd00:6877::2 -> fd00:6877:1::2 in hwv0 out uplink0"
        ),
        Outcome::Open
    );
}

#[test]
fn a_blocked_reply_path_is_expected_as_a_timeout() {
    let mut out = any();
    out.iif.push(ifname("virbr*"));
    let mut rs = policy(vec![], Some(vec![out]), DefaultAction::Reject);
    // Without the implicit `ct state established,related accept` the answers
    // from the far side meet the default reject.
    for c in rs.table.chains.iter_mut().filter(|c| c.name == "forward") {
        c.rules
            .retain(|r| !matches!(r.matches.first(), Some(Match::CtState(_))));
    }
    let p = planned(&rs);
    assert_eq!(
        expect(
            &p,
            "forward tcp 23 198.18.1.2 -> 198.19.0.2 in virbr0 out uplink0"
        ),
        Outcome::Timeout
    );
}

#[test]
fn probe_names_are_unique() {
    let p = planned(&libvirt_nat());
    let mut names: Vec<&String> = p.iter().map(|(n, _)| n).collect();
    let before = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), before);
    assert!(before > 50 && before < 300, "{before} forward probes");
}

/// For the forward chain (issue #8 item 13): a `from`/`to` net of every class
/// either gets an address on the side it enters or leaves by, or a
/// "not probed" row with the reason; none vanishes.
#[test]
fn every_forward_address_class_is_probed_or_explained() {
    let classes = [
        ("10.9.0.0/16", true),
        ("0.1.2.0/24", true),
        ("2001:db8:9::/48", true),
        ("169.254.0.0/16", false),
        ("fe80::/64", false),
        ("127.0.0.0/8", false),
        ("::1/128", false),
        ("0.0.0.0/32", false),
        ("::/128", false),
        ("224.0.0.0/4", false),
        ("ff00::/8", false),
        ("255.255.255.255/32", false),
        ("::ffff:10.0.0.0/120", false),
    ];
    for (net, probed) in classes {
        for source in [true, false] {
            let mut r = any();
            r.iif.push(ifname("virbr0"));
            r.oif.push(ifname("eth0"));
            if source {
                r.sources = nets(&[net]);
            } else {
                r.destinations = nets(&[net]);
            }
            let rs = policy(vec![], Some(vec![r]), DefaultAction::Reject);
            let topo = design::topology(&rs, None);
            let iv = match net.parse::<ipnet::IpNet>().unwrap() {
                ipnet::IpNet::V4(n) => crate::ir::Interval::from_v4(n),
                ipnet::IpNet::V6(n) => crate::ir::Interval::from_v6(n),
            };
            let side = if source {
                &topo.endpoints
            } else {
                &topo.far_endpoints
            };
            let inside = side
                .iter()
                .any(|e| !e.base && topology::contains(&iv, e.addr));
            let dir = if source { "from" } else { "to" };
            let rows: Vec<_> = topo
                .unprobed
                .iter()
                .filter(|u| u.name.starts_with(&format!("forward {dir} ")))
                .collect();
            assert_eq!(inside, probed, "{dir} {net}: {:?}", topo.unprobed);
            assert_eq!(rows.len(), usize::from(!probed), "{dir} {net}: {rows:?}");
            if probed {
                // Its probes really use the address.
                let fwd = forward::plan(&rs, &topo).unwrap();
                let uses = fwd.iter().any(|p| {
                    let at = if source { p.src } else { p.dst };
                    topology::contains(&iv, topo.endpoint(at).addr)
                });
                assert!(uses, "{dir} {net}");
            }
        }
    }
}
