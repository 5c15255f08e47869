//! Model builders: checked-policy rules and policies made in code, for tests that start
//! after `check`. Names the library as `crate::` (see `build/mod.rs`).

use crate::model::{
    Addrs, DefaultAction, Forwarding, IfName, IpFamily, NetRange, Policy, PortRange, PortSpec,
    Proto, Rule, Settings, Traffic, Verdict,
};
use crate::source::Span;

/// `proto` on each of `ranges` (inclusive port pairs).
pub fn ports(proto: Proto, ranges: &[(u16, u16)]) -> Traffic {
    Traffic::Ports(
        ranges
            .iter()
            .map(|&(lo, hi)| PortSpec {
                proto,
                range: PortRange { lo, hi },
                span: Span::default(),
            })
            .collect(),
    )
}

/// A rule of the service `service` on `traffic`.
pub fn rule(verdict: Verdict, service: &str, traffic: Traffic) -> Rule {
    Rule {
        service: Some(service.to_string()),
        ..unnamed(verdict, traffic)
    }
}

/// A rule on `traffic` with no service name, addresses, interfaces, state or counter.
pub fn unnamed(verdict: Verdict, traffic: Traffic) -> Rule {
    Rule {
        verdict,
        service: None,
        traffic,
        sources: None,
        destinations: None,
        iif: vec![],
        oif: vec![],
        established_only: false,
        counter: false,
        log: None,
        limit: None,
        limit_per_source: false,
        span: Span::default(),
    }
}

/// `allow` of any traffic.
pub fn any() -> Rule {
    unnamed(Verdict::Accept, Traffic::Any)
}

/// `allow proto lo-hi` without a service name.
pub fn allow(proto: Proto, lo: u16, hi: u16) -> Rule {
    unnamed(Verdict::Accept, ports(proto, &[(lo, hi)]))
}

/// A named network of `nets` (a CIDR, a single address or a `first-last` range each);
/// panics on a bad literal.
pub fn addrs(name: &str, nets: &[&str]) -> Addrs {
    let addr = |n: &str| {
        n.parse::<std::net::IpAddr>()
            .unwrap_or_else(|e| panic!("{n}: {e}"))
    };
    let parse = |n: &&str| match n.split_once('-') {
        Some((lo, hi)) => match (addr(lo), addr(hi)) {
            (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => NetRange::V4(a.into(), b.into()),
            (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => NetRange::V6(a.into(), b.into()),
            _ => panic!("{n}: mixed families"),
        },
        None => NetRange::of_net(
            n.parse()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .unwrap_or_else(|e| panic!("{n}: {e}")),
        ),
    };
    Addrs {
        name: Some(name.to_string()),
        nets: nets.iter().map(parse).collect(),
        span: Span::default(),
    }
}

/// The rule restricted to sources in the network `name` of `nets`.
pub fn from(mut r: Rule, name: &str, nets: &[&str]) -> Rule {
    r.sources = Some(addrs(name, nets));
    r
}

/// An interface name as written in a policy (`virbr*` is a prefix).
pub fn ifname(name: &str) -> IfName {
    IfName {
        name: name.trim_end_matches('*').into(),
        wildcard: name.ends_with('*'),
    }
}

/// The rule restricted to packets arriving on `name` (a prefix when `wildcard`).
pub fn on(mut r: Rule, name: &str, wildcard: bool) -> Rule {
    r.iif.push(IfName {
        name: name.to_string(),
        wildcard,
    });
    r
}

/// A policy `name` with `input` rules, default reject, no forward block or forwarding.
pub fn policy(name: &str, input: Vec<Rule>) -> Policy {
    Policy {
        name: name.to_string(),
        span: Span::default(),
        default: DefaultAction::Reject,
        forwarding: Forwarding::default(),
        input,
        forward: None,
        forward_default: DefaultAction::Reject,
        output: None,
        output_default: None,
        log_rejected: None,
        count_rejected: false,
        settings: Settings::default(),
    }
}

/// The guide's virtualization host: icmp, ssh, vdsm-reg, spice, migration, forwarding on.
pub fn kvm_host() -> Policy {
    let icmp = |family| Traffic::Icmp {
        family,
        types: None,
    };
    let allow = |service, traffic| rule(Verdict::Accept, service, traffic);
    let mut p = policy(
        "kvm-host",
        vec![
            allow("icmp", icmp(IpFamily::V4)),
            allow("icmpv6", icmp(IpFamily::V6)),
            allow("ssh", ports(Proto::Tcp, &[(22, 22)])),
            allow("vdsm-reg", ports(Proto::Tcp, &[(80, 80), (443, 443)])),
            allow("spice", ports(Proto::Tcp, &[(5634, 6166)])),
            allow("kvm-migration", ports(Proto::Tcp, &[(49152, 49216)])),
        ],
    );
    p.forwarding.ipv4 = Some((true, Span::default()));
    p
}
