//! Unit tests for the probe matrix and topology design (pure: no namespaces).

use super::*;
use crate::model::{DefaultAction, IfName as MIfName, IpFamily, Proto, Rule as MRule, Traffic};
use crate::verify::{design, sources, topology};

use crate::verify::test_plan::{expect, expect_all};

#[path = "../../tests/support/build/model.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::allow;

fn from(r: MRule, nets: &[&str]) -> MRule {
    build::from(r, "mgmt", nets)
}

fn policy(default: DefaultAction, input: Vec<MRule>) -> Ruleset {
    let mut p = build::policy("t", input);
    p.default = default;
    crate::compile::compile(&p)
}

/// (probe name, expected) pairs of the plan.
fn planned(rs: &Ruleset) -> Vec<(String, Outcome)> {
    let topo = design::topology(rs, None);
    plan(rs, &topo, &[], usize::MAX)
        .map(|p| p.0)
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.expected))
        .collect()
}

#[test]
fn range_edges_outside_and_sample_with_udp_on_tcp_service() {
    let rs = policy(DefaultAction::Reject, vec![allow(Proto::Tcp, 5634, 6166)]);
    let p = planned(&rs);
    for (port, want) in [
        (5633, Outcome::Refused),
        (5634, Outcome::Open),
        (5900, Outcome::Open),
        (6166, Outcome::Open),
        (6167, Outcome::Refused),
        (23, Outcome::Refused),
    ] {
        assert_eq!(expect(&p, &format!("tcp {port} from 198.18.0.2")), want);
        assert_eq!(expect(&p, &format!("tcp {port} from fd00:6877::2")), want);
    }
    expect_all(
        &p,
        &[
            ("udp 5634 from 198.18.0.2", Outcome::Prohibited),
            ("icmp echo from 198.18.0.2", Outcome::Prohibited),
            (
                "established return (host -> 198.18.0.2 tcp 40001)",
                Outcome::Open,
            ),
        ],
    );
}

#[test]
fn default_drop_expects_timeouts() {
    let rs = policy(DefaultAction::Drop, vec![allow(Proto::Udp, 53, 53)]);
    let p = planned(&rs);
    expect_all(
        &p,
        &[
            ("udp 53 from 198.18.0.2", Outcome::Open),
            ("udp 54 from 198.18.0.2", Outcome::Timeout),
            ("tcp 53 from 198.18.0.2", Outcome::Timeout),
        ],
    );
}

#[test]
fn source_restricted_rule_gets_permitted_and_outside_addresses() {
    let ssh = from(allow(Proto::Tcp, 22, 22), &["10.1.0.0/16", "fd00:1::/64"]);
    let rs = policy(DefaultAction::Reject, vec![ssh]);
    let topo = design::topology(&rs, None);
    let extra: Vec<(String, bool)> = topo
        .endpoints
        .iter()
        .filter(|e| !e.base)
        .map(|e| (e.addr.to_string(), e.permitted))
        .collect();
    let want = [
        ("10.1.0.1", true),
        ("fd00:1::1", true),
        ("203.0.113.7", false),
        ("2001:db8:ffff::7", false),
    ];
    assert_eq!(extra, want.map(|(a, p)| (a.to_string(), p)));
    let p = planned(&rs);
    expect_all(
        &p,
        &[
            ("tcp 22 from 10.1.0.1 (permitted source)", Outcome::Open),
            ("tcp 22 from fd00:1::1 (permitted source)", Outcome::Open),
            (
                "tcp 22 from 203.0.113.7 (unlisted source)",
                Outcome::Refused,
            ),
            ("tcp 22 from 198.18.0.2", Outcome::Refused),
        ],
    );
}

#[test]
fn outsider_avoids_the_permitted_nets() {
    let ssh = from(allow(Proto::Tcp, 22, 22), &["203.0.113.0/24"]);
    let rs = policy(DefaultAction::Reject, vec![ssh]);
    let topo = design::topology(&rs, None);
    let outside: Vec<String> = topo
        .endpoints
        .iter()
        .filter(|e| !e.permitted)
        .map(|e| e.addr.to_string())
        .collect();
    assert_eq!(outside, ["198.51.100.7"]);
}

#[test]
fn source_net_holding_the_client_needs_no_extra_address() {
    let ssh = from(allow(Proto::Tcp, 22, 22), &["0.0.0.0/0"]);
    let rs = policy(DefaultAction::Reject, vec![ssh]);
    let topo = design::topology(&rs, None);
    // No extra client address; the loopback part of 0.0.0.0/0 is probed over lo.
    assert!(
        topo.endpoints
            .iter()
            .all(|e| e.base || !e.permitted || e.lo)
    );
    let lo: Vec<String> = topo
        .endpoints
        .iter()
        .filter(|e| e.lo)
        .map(|e| e.addr.to_string())
        .collect();
    assert_eq!(lo, ["127.0.0.1"]);
    assert_eq!(
        expect(&planned(&rs), "tcp 22 from 198.18.0.2"),
        Outcome::Open
    );
}

#[test]
fn interface_rules_get_a_link_named_to_match() {
    let mut dns = allow(Proto::Udp, 53, 53);
    dns.iif.push(MIfName {
        name: "hw".into(), // matches the first two default names
        wildcard: true,
    });
    let mut eth = allow(Proto::Tcp, 22, 22);
    eth.iif.push(MIfName {
        name: "eth0".into(),
        wildcard: false,
    });
    let rs = policy(DefaultAction::Reject, vec![dns, eth]);
    let topo = design::topology(&rs, None);
    let names: Vec<&str> = topo.links.iter().map(|l| l.host_if.as_str()).collect();
    assert_eq!(names, ["zz9verify", "hw0", "eth0"]);
    let p = planned(&rs);
    expect_all(
        &p,
        &[
            ("udp 53 from 198.18.1.2 in hw0", Outcome::Open),
            ("udp 53 from 198.18.0.2", Outcome::Prohibited),
            ("tcp 22 from 198.18.2.2 in eth0", Outcome::Open),
            ("tcp 22 from 198.18.0.2", Outcome::Refused),
        ],
    );
    // Interface links probe only their own rules (plus the unlisted ports).
    assert!(!p.iter().any(|(n, _)| n == "tcp 22 from 198.18.1.2 in hw0"));
}

#[test]
fn icmp_allowed_and_probe_names_are_unique() {
    let icmp = MRule {
        traffic: Traffic::Icmp {
            family: IpFamily::V4,
            types: None,
        },
        ..allow(Proto::Tcp, 1, 1)
    };
    let rs = policy(DefaultAction::Reject, vec![icmp]);
    let p = planned(&rs);
    expect_all(
        &p,
        &[
            ("icmp echo from 198.18.0.2", Outcome::Open),
            ("icmpv6 echo from fd00:6877::2", Outcome::Prohibited),
        ],
    );
    let mut names: Vec<&String> = p.iter().map(|(n, _)| n).collect();
    let before = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), before);
}

#[test]
fn many_ports_are_sampled_with_both_ends() {
    let rules: Vec<MRule> = (0..1000u16)
        .map(|i| allow(Proto::Tcp, 10000 + 2 * i, 10000 + 2 * i))
        .collect();
    let rs = policy(DefaultAction::Reject, rules);
    let p = planned(&rs);
    assert!(p.len() < 300, "{} probes", p.len());
    expect_all(
        &p,
        &[
            ("tcp 10000 from 198.18.0.2", Outcome::Open),
            ("tcp 11998 from 198.18.0.2", Outcome::Open),
            ("tcp 11999 from 198.18.0.2", Outcome::Refused),
        ],
    );
}

#[test]
fn same_source_net_on_two_links_gets_two_addresses() {
    let tls = from(allow(Proto::Tcp, 16514, 16514), &["192.168.50.0/24"]);
    let mut mig = from(allow(Proto::Tcp, 49152, 49216), &["192.168.50.0/24"]);
    mig.iif.push(MIfName {
        name: "br-mig".into(),
        wildcard: false,
    });
    let rs = policy(DefaultAction::Reject, vec![tls, mig]);
    let p = planned(&rs);
    assert_eq!(
        expect(&p, "tcp 16514 from 192.168.50.1 (permitted source)"),
        Outcome::Open
    );
    assert_eq!(
        expect(
            &p,
            "tcp 49152 from 192.168.50.2 (permitted source) in br-mig"
        ),
        Outcome::Open
    );
    assert_eq!(
        expect(&p, "tcp 49152 from 198.18.1.2 in br-mig"),
        Outcome::Refused
    );
}

#[test]
fn answers_stopped_on_output_are_expected_as_timeouts() {
    let mut rs = policy(DefaultAction::Reject, vec![allow(Proto::Tcp, 22, 22)]);
    rs.table.chains.push(crate::ir::Chain {
        name: "output".into(),
        base: Some(crate::ir::BaseChain {
            hook: Hook::Output,
            priority: 0,
            policy: crate::ir::ChainPolicy::Drop,
        }),
        rules: vec![],
    });
    let p = planned(&rs);
    assert_eq!(expect(&p, "tcp 22 from 198.18.0.2"), Outcome::Timeout);
    // A reject is sent by the kernel itself and is not modelled through output.
    assert_eq!(expect(&p, "tcp 23 from 198.18.0.2"), Outcome::Refused);
}

/// Every address class a source can be, each with whether verify can probe it:
/// (net, probed from a client link, probed over the host's lo).
const SOURCE_CLASSES: [(&str, bool, bool); 18] = [
    ("10.1.2.3", true, false),
    ("0.1.2.3", true, false),
    ("240.0.0.5", true, false),
    ("169.254.3.3", true, false),
    ("127.0.0.1", false, true),
    ("127.8.0.0/16", false, true),
    ("0.0.0.0", false, false),
    ("224.0.0.5", false, false),
    ("239.0.0.0/8", false, false),
    ("255.255.255.255", false, false),
    ("2001:db8:5::1", true, false),
    ("::1.2.3.4", true, false),
    ("fe80::5", true, false),
    ("::1", false, true),
    ("::", false, false),
    ("ff02::1", false, false),
    ("::ffff:10.0.0.1", false, false),
    ("::ffff:0:0/96", false, false),
];

trait LoAddr {
    fn lo_addr(&self, net: &str) -> std::net::IpAddr;
}

impl LoAddr for crate::ir::Interval {
    fn lo_addr(&self, net: &str) -> std::net::IpAddr {
        sources::addr(self.lo, !net.contains(':')).expect("address")
    }
}

fn net_interval(net: &str) -> crate::ir::Interval {
    let parsed = net
        .parse::<ipnet::IpNet>()
        .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .expect("net");
    match parsed {
        ipnet::IpNet::V4(n) => crate::ir::Interval::from_v4(n),
        ipnet::IpNet::V6(n) => crate::ir::Interval::from_v6(n),
    }
}

/// Every source class is probed (from an address inside it,
/// on its rule's port) or shown as "not probed" with a reason; none vanishes,
/// and no endpoint is an address its route cannot send from.
fn assert_every_class_probed_or_explained(rs: &Ruleset, port_of: impl Fn(usize) -> u16) {
    let topo = design::topology(rs, None);
    let plan = plan(rs, &topo, &[], usize::MAX).map(|p| p.0).unwrap();
    for (i, (net, client, lo)) in SOURCE_CLASSES.iter().enumerate() {
        let iv = net_interval(net);
        let probed = |want_lo: bool| {
            plan.iter().any(|p| {
                let e = &topo.endpoints[p.endpoint];
                e.lo == want_lo
                    && !e.base
                    && topology::contains(&iv, e.addr)
                    && p.kind == ProbeKind::Tcp(port_of(i))
            })
        };
        assert_eq!(probed(false), *client, "{net} from a client link");
        assert_eq!(probed(true), *lo, "{net} over lo");
        let shown = sources::show(&iv, !net.contains(':'));
        let rows: Vec<_> = topo
            .unprobed
            .iter()
            .filter(|u| u.name.starts_with(&format!("from {shown} ")))
            .collect();
        if *client || *lo {
            assert!(rows.is_empty(), "{net}: {rows:?}");
        } else {
            assert_eq!(rows.len(), 1, "{net}: {:?}", topo.unprobed);
            assert!(rows[0].reason.len() > 20, "{net}: {:?}", rows[0]);
        }
    }
    for e in topo.endpoints.iter().filter(|e| !e.base) {
        let route = sources::classify(e.addr).input_route(e.addr.is_ipv4());
        let want = if e.lo {
            sources::Route::Loopback
        } else {
            sources::Route::Client
        };
        assert_eq!(route, Ok(want), "{}", e.addr);
    }
}

#[test]
fn every_source_class_is_probed_or_explained_one_rule_each() {
    let rules = (0..SOURCE_CLASSES.len())
        .map(|i| {
            let port = 1000 + i as u16;
            from(allow(Proto::Tcp, port, port), &[SOURCE_CLASSES[i].0])
        })
        .collect();
    let rs = policy(DefaultAction::Reject, rules);
    assert_every_class_probed_or_explained(&rs, |i| 1000 + i as u16);
}

#[test]
fn every_source_class_is_probed_or_explained_in_one_set() {
    // One rule naming every class: compile puts them in two sets (v4, v6),
    // which are sampled (first, last, and the first element of each class).
    let nets: Vec<&str> = SOURCE_CLASSES.iter().map(|c| c.0).collect();
    let rs = policy(
        DefaultAction::Reject,
        vec![from(allow(Proto::Tcp, 22, 22), &nets)],
    );
    assert!(rs.table.sets.iter().any(|s| s.elements.len() > 4), "sets");
    let topo = design::topology(&rs, None);
    let plan = plan(&rs, &topo, &[], usize::MAX).map(|p| p.0).unwrap();
    let class_of = |net: &str| sources::classify(net_interval(net).lo_addr(net));
    for (net, client, lo) in SOURCE_CLASSES {
        let class = class_of(net);
        let probed = plan.iter().any(|p| {
            let e = &topo.endpoints[p.endpoint];
            !e.base && p.kind == ProbeKind::Tcp(22) && sources::classify(e.addr) == class
        });
        let explained = topo.unprobed.iter().any(|u| {
            let first = u.name.split(' ').nth(1).expect("from NET");
            class_of(first) == class && u.reason.len() > 20
        });
        assert_eq!(
            (probed, explained),
            (client || lo, !(client || lo)),
            "{net} ({class:?})"
        );
    }
}

#[test]
fn loopback_probes_expect_what_lo_rules_do() {
    // Compiled rulesets accept lo first: a loopback source is always let in.
    let rs = policy(
        DefaultAction::Reject,
        vec![from(allow(Proto::Tcp, 80, 80), &["127.0.0.1"])],
    );
    let plan = planned(&rs);
    expect_all(
        &plan,
        &[
            (
                "tcp 80 from 127.0.0.1 (permitted source) in lo",
                Outcome::Open,
            ),
            (
                "tcp 23 from 127.0.0.1 (permitted source) in lo",
                Outcome::Open,
            ),
        ],
    );
    // Without the lo rule (a hand-written ruleset), the source rule decides.
    let mut bare = rs.clone();
    for chain in &mut bare.table.chains {
        chain.rules.retain(|r| {
            !r.matches
                .iter()
                .any(|m| matches!(m, crate::ir::Match::IifName(n) if n.name == "lo"))
        });
    }
    let plan = planned(&bare);
    expect_all(
        &plan,
        &[
            (
                "tcp 80 from 127.0.0.1 (permitted source) in lo",
                Outcome::Open,
            ),
            (
                "tcp 23 from 127.0.0.1 (permitted source) in lo",
                Outcome::Refused,
            ),
        ],
    );
}
