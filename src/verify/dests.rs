//! The host's extra addresses for the input rules' `to` nets (pure): per net its
//! first usable and its last address, and the addresses just outside it when it
//! is not the whole space, so probes show the rule applies to the named address and
//! not to another of the host's; a "not probed" row for a net holding none.
//!
//! They sit on the default link's host side (the client reaches them by a host
//! route over that link), never inside the lab's blocks nor on any address a
//! probe is sent from.

use super::inputs::input_rules;
use super::sources::{self, AddrClass};
use super::topology::{Topology, Unprobed, is_v4, match_intervals};
use crate::ir::{AddrMatch, Interval, Match, Ruleset};
use std::net::IpAddr;

/// Addresses a probe can be sent to and the host can own: unicast, not in 0/8,
/// 240/4 (which the kernel will not route to) or the IPv4-compatible ::/96.
fn routable(a: IpAddr) -> bool {
    if sources::classify(a) != AddrClass::Unicast {
        return false;
    }
    match a {
        IpAddr::V4(v) => !matches!(v.octets()[0], 0 | 240..=255),
        IpAddr::V6(v) => v.segments()[..6] != [0; 6],
    }
}

/// The `to` matches of the input rules, with the rule's comment.
fn to_matches(rs: &Ruleset) -> Vec<(&AddrMatch, Option<&str>)> {
    let mut out = Vec::new();
    for rule in input_rules(rs) {
        for m in rule.conditions() {
            if let Match::Daddr(a) = m {
                out.push((a, rule.comment.as_deref()));
            }
        }
    }
    out
}

/// Adds the host addresses for every input rule's `to` nets.
pub(crate) fn add_host_addrs(rs: &Ruleset, topo: &mut Topology) {
    for (m, label) in to_matches(rs) {
        let v4 = is_v4(m);
        for iv in match_intervals(rs, m) {
            let taken = topo.taken();
            let usable = |a: &IpAddr| routable(*a) && !taken.contains(*a);
            let at = |v: Option<u128>| v.and_then(|v| sources::addr(v, v4)).filter(usable);
            let mut picked: Vec<IpAddr> = [at(Some(iv.lo)), at(Some(iv.hi))]
                .into_iter()
                .flatten()
                .collect();
            if picked.is_empty() {
                let inside = sources::pick(&iv, v4, |a| !usable(&a), |c| c == AddrClass::Unicast);
                picked.extend(inside);
            }
            if picked.is_empty() {
                topo.unprobed.push(unprobed(&iv, v4, label));
                continue;
            }
            for a in [at(iv.lo.checked_sub(1)), at(iv.hi.checked_add(1))] {
                picked.extend(a);
            }
            picked.dedup(); // a single address is its own first and last
            topo.host_addrs.extend(picked);
        }
    }
}

fn unprobed(iv: &Interval, v4: bool, label: Option<&str>) -> Unprobed {
    let mut name = format!("to {}", sources::show(iv, v4));
    if let Some(l) = label {
        name.push_str(&format!(" ({l})"));
    }
    let class = sources::blocking_class(iv, v4);
    let reason = match class {
        AddrClass::Unicast => "no address in it can be one of the host's test addresses (verify's \
                               own, or a class the kernel does not route to)"
            .to_string(),
        AddrClass::Loopback => "a loopback destination is reached only over lo, from the host \
                                itself"
            .to_string(),
        AddrClass::LinkLocal => "a link-local destination is reached only on its own link: \
                                 verify puts no host address there"
            .to_string(),
        AddrClass::Multicast => "the host cannot own a multicast address".to_string(),
        AddrClass::Broadcast => "the host cannot own the broadcast address".to_string(),
        AddrClass::Unspecified => "the host cannot own the unspecified address".to_string(),
        AddrClass::V4Mapped => "the host cannot own an IPv4-mapped address".to_string(),
    };
    Unprobed { name, reason }
}

#[cfg(test)]
mod tests {
    use super::super::plan;

    fn compile(text: &str) -> crate::ir::Ruleset {
        let mut map = crate::source::SourceMap::new();
        let file = map.add("policy", text);
        let (p, d) = crate::check::check(&mut map, file, None, &crate::check::NoIncludes);
        crate::compile::compile(&p.unwrap_or_else(|| panic!("{d:?}")))
    }

    /// The named address gets the rule's verdict, the addresses next to it and the
    /// host's test address do not; every pair with the rule that a probe over a test
    /// link can cross is crossed; addresses the host cannot own are explained.
    #[test]
    fn to_rules_are_probed_crossed_or_explained() {
        let rs = compile(
            "policy p {\n    default reject\n    allow tcp 80 to 10.1.2.3\n    allow tcp 81 to \
             fe80::1\n    allow tcp 82 to 224.0.0.1\n    drop tcp 83 to 10.1.0.0/16\n    \
             allow tcp 83\n}\n",
        );
        let plan = plan(&rs, None, &Default::default()).expect("plan");
        let expected = |name: &str| {
            let at = plan.names().iter().position(|n| *n == name);
            let at = at.unwrap_or_else(|| panic!("no {name}: {:?}", plan.names()));
            plan.expected()[at].to_string()
        };
        for (name, want) in [
            ("tcp 80 to 10.1.2.3 from 198.18.0.2", "open"),
            ("tcp 80 to 10.1.2.2 from 198.18.0.2", "refused"),
            ("tcp 80 to 10.1.2.4 from 198.18.0.2", "refused"),
            ("tcp 80 from 198.18.0.2", "refused"),
            ("tcp 83 to 10.1.0.0 from 198.18.0.2", "timeout"),
            ("tcp 83 to 10.1.255.255 from 198.18.0.2", "timeout"),
            ("tcp 83 to 10.2.0.0 from 198.18.0.2", "open"),
            ("tcp 83 from 198.18.0.2", "open"),
        ] {
            assert_eq!(expected(name), want, "{name}");
        }
        let not_crossed = &plan.coverage().not_crossed;
        assert!(
            !not_crossed
                .iter()
                .any(|(_, why)| why.contains("destination other than")
                    && !why.contains("127.0.0.1")
                    && !why.contains("::1")),
            "{not_crossed:?}"
        );
        let rows: Vec<(&str, &str)> = (plan.topo.unprobed.iter())
            .map(|u| (u.name.as_str(), u.reason.as_str()))
            .collect();
        assert!(
            rows.iter()
                .any(|(n, r)| n.starts_with("to fe80::1") && r.contains("link-local")),
            "{rows:?}"
        );
        assert!(
            rows.iter()
                .any(|(n, r)| n.starts_with("to 224.0.0.1") && r.contains("multicast")),
            "{rows:?}"
        );
    }
}
