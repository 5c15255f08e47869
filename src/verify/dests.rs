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
        for m in &rule.matches {
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
        other => format!("the host cannot own a {other:?} address").to_lowercase(),
    };
    Unprobed { name, reason }
}
