//! The forward half of `verify`'s test network (pure): which side of the host
//! each forward interface name's link goes on, which link a forward rule's
//! packets enter and leave by, the forwarding sysctls of the test, and the
//! extra addresses inside the rules' `from`/`to` nets.
//!
//! Forwarded packets go between two namespaces through the host: the client
//! (whose links also carry the input probes) and the far side (uplinks).
//! A name used as `in` goes on the client side; a name used only as `out` on
//! the far side; a rule naming both puts them on opposite sides (so
//! `in "virbr0" out "eth0"` is client -> far and `out "virbr*"` with
//! `virbr0` already a client link is probed far -> client).

use super::inputs::hook_rules;
use super::sources;
use super::topology::{
    Endpoint, Link, Topology, Unprobed, concrete, contains, is_v4, match_intervals,
};
use crate::eval::if_matches;
use crate::ir::{AddrMatch, Hook, IfName, Interval, Match, Rule, Ruleset, Sysctl};
use std::net::IpAddr;

/// Where a forward probe's packet starts or ends: an endpoint of one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct At {
    /// In `Topology::far_endpoints` (else `Topology::endpoints`).
    pub far: bool,
    pub ep: usize,
}

/// A link of one side: (far, index into that side's links).
pub(crate) type LinkAt = (bool, usize);

impl Topology {
    pub(crate) fn endpoint(&self, at: At) -> &Endpoint {
        if at.far {
            &self.far_endpoints[at.ep]
        } else {
            &self.endpoints[at.ep]
        }
    }

    pub(crate) fn link_at(&self, at: At) -> &Link {
        self.side_links(at.far)
            .get(self.endpoint(at).link)
            .unwrap_or(&self.links[0])
    }

    pub(crate) fn side_links(&self, far: bool) -> &[Link] {
        if far { &self.far_links } else { &self.links }
    }

    pub(crate) fn side_endpoints(&self, far: bool) -> &[Endpoint] {
        if far {
            &self.far_endpoints
        } else {
            &self.endpoints
        }
    }

    /// The link's own (base) endpoint of a family.
    pub(crate) fn base_at(&self, link: LinkAt, v4: bool) -> Option<At> {
        self.side_endpoints(link.0)
            .iter()
            .position(|e| e.base && e.link == link.1 && e.addr.is_ipv4() == v4)
            .map(|ep| At { far: link.0, ep })
    }
}

/// Rules of the forward base chains.
pub(crate) fn forward_rules(rs: &Ruleset) -> impl Iterator<Item = &Rule> {
    hook_rules(rs, Hook::Forward)
}

pub(crate) fn has_forward(rs: &Ruleset) -> bool {
    rs.table
        .chains
        .iter()
        .any(|c| c.base.is_some_and(|b| b.hook == Hook::Forward))
}

/// A rule's input and output interface matches (compile makes at most one of each).
fn ifaces(rule: &Rule) -> (Option<&IfName>, Option<&IfName>) {
    let mut out = (None, None);
    for m in &rule.matches {
        match m {
            Match::IifName(n) => out.0 = Some(n),
            Match::OifName(n) => out.1 = Some(n),
            _ => {}
        }
    }
    out
}

fn addr_match(rule: &Rule, source: bool) -> Option<&AddrMatch> {
    rule.conditions().find_map(|m| match m {
        Match::Saddr(a) if source => Some(a),
        Match::Daddr(a) if !source => Some(a),
        _ => None,
    })
}

/// Every interface name the forward rules match on (default link names avoid them).
pub(crate) fn if_names(rs: &Ruleset) -> Vec<&IfName> {
    forward_rules(rs)
        .flat_map(|r| {
            let (i, o) = ifaces(r);
            [i, o]
        })
        .flatten()
        .collect()
}

/// Link names for the forward rules: (extra client-side names, far-side names).
/// `client` are the names already on the client side (input `on` rules).
pub(crate) fn sides(rs: &Ruleset, client: &[String]) -> (Vec<String>, Vec<String>) {
    // (name, far) in order of first placement.
    let mut placed: Vec<(String, bool)> = client.iter().map(|n| (n.clone(), false)).collect();
    let side = |placed: &[(String, bool)], n: &str| {
        placed.iter().find(|(p, _)| p == n).map(|(_, far)| *far)
    };
    let names: Vec<(Option<String>, Option<String>)> = forward_rules(rs)
        .map(|r| {
            let (i, o) = ifaces(r);
            (i.map(concrete), o.map(concrete))
        })
        .filter(|(i, o)| i.as_deref() != Some("lo") && o.as_deref() != Some("lo"))
        .collect();
    // Rules naming both: opposite sides, propagated; an unplaced pair starts in -> client.
    loop {
        let mut changed = false;
        for (i, o) in &names {
            let (Some(i), Some(o)) = (i, o) else { continue };
            match (side(&placed, i), side(&placed, o)) {
                (Some(s), None) => placed.push((o.clone(), !s)),
                (None, Some(s)) => placed.push((i.clone(), !s)),
                _ => continue,
            }
            changed = true;
        }
        if changed {
            continue;
        }
        let fresh = names.iter().find_map(|(i, o)| match (i, o) {
            (Some(i), Some(o)) if side(&placed, i).is_none() && side(&placed, o).is_none() => {
                Some((i.clone(), o.clone()))
            }
            _ => None,
        });
        let Some((i, o)) = fresh else { break };
        placed.push((i.clone(), false));
        if o != i {
            placed.push((o, true));
        }
    }
    for (i, o) in &names {
        if let Some(i) = i.as_ref().filter(|i| side(&placed, i).is_none()) {
            placed.push((i.clone(), false));
        }
        if let Some(o) = o.as_ref().filter(|o| side(&placed, o).is_none()) {
            placed.push((o.clone(), true));
        }
    }
    let pick = |far: bool| -> Vec<String> {
        placed
            .iter()
            .skip(client.len())
            .filter(|(_, f)| *f == far)
            .map(|(n, _)| n.clone())
            .collect()
    };
    (pick(false), pick(true))
}

/// The links a rule's packets enter and leave the host by, or `None` when
/// both are on one side (or a name has no link): not probed directly.
pub(crate) fn rule_links(topo: &Topology, rule: &Rule) -> Option<(LinkAt, LinkAt)> {
    let find = |n: &IfName| -> Option<LinkAt> {
        [false, true].into_iter().find_map(|far| {
            topo.side_links(far)
                .iter()
                .position(|l| if_matches(n, Some(&l.host_if)))
                .map(|i| (far, i))
        })
    };
    let (i, o) = ifaces(rule);
    let i = match i {
        Some(n) => Some(find(n)?),
        None => None,
    };
    let o = match o {
        Some(n) => Some(find(n)?),
        None => None,
    };
    let (src, dst) = match (i, o) {
        (Some(i), Some(o)) => (i, o),
        (Some(i), None) => (i, (!i.0, 0)),
        (None, Some(o)) => ((!o.0, 0), o),
        (None, None) => ((false, 0), (true, 0)),
    };
    (src.0 != dst.0).then_some((src, dst))
}

/// The forwarding sysctls verify sets in the host namespace: the policy's own
/// value for a family it sets, otherwise on, so the forward chain is reachable.
pub(crate) fn forwarding(rs: &Ruleset) -> Vec<(Sysctl, bool)> {
    [Sysctl::Ipv4Forward, Sysctl::Ipv6Forward]
        .into_iter()
        .map(|key| (key, policy_forwarding(rs, key).unwrap_or(true)))
        .collect()
}

/// What the policy sets a forwarding sysctl to, if anything.
pub(crate) fn policy_forwarding(rs: &Ruleset, key: Sysctl) -> Option<bool> {
    rs.sysctls.iter().find(|s| s.key == key).map(|s| s.value)
}

/// Extra addresses inside every forward rule's `from` (on the link it enters
/// by) and `to` nets (on the link it leaves by), unless one is there already;
/// a "not probed" row for a net holding no address a forward probe can carry.
pub(crate) fn add_endpoints(rs: &Ruleset, topo: &mut Topology) {
    let rules: Vec<&Rule> = forward_rules(rs).collect();
    for rule in rules {
        let Some((src, dst)) = rule_links(topo, rule) else {
            continue;
        };
        for (link, source) in [(src, true), (dst, false)] {
            if let Some(m) = addr_match(rule, source) {
                add_inside(rs, topo, link, m, (source, rule.comment.as_deref()));
            }
        }
    }
}

/// `which`: (the rule's `from` rather than its `to`, the rule's comment).
fn add_inside(
    rs: &Ruleset,
    topo: &mut Topology,
    link: LinkAt,
    m: &AddrMatch,
    which: (bool, Option<&str>),
) {
    let v4 = is_v4(m);
    for iv in match_intervals(rs, m) {
        let there = topo
            .side_endpoints(link.0)
            .iter()
            .any(|e| e.link == link.1 && !e.lo && contains(&iv, e.addr));
        if there {
            continue;
        }
        let taken = topo.taken();
        let avoid = |a| taken.contains(a);
        let Some(addr) = sources::pick(&iv, v4, avoid, |c| c.forward_route(v4).is_ok()) else {
            topo.unprobed.push(unprobed(&iv, v4, which));
            continue;
        };
        for addr in with_edges(addr, &iv, v4, avoid) {
            let ep = Endpoint {
                link: link.1,
                addr,
                base: false,
                permitted: true,
                input: false,
                lo: false,
                only_wanted: false,
            };
            if link.0 {
                topo.far_endpoints.push(ep);
            } else {
                topo.endpoints.push(ep);
            }
        }
    }
}

/// `addr` and the net's edges: its last address and the addresses just outside it, so
/// a prefix one bit wider or narrower shows (those a forward probe can use, not in `avoid`).
fn with_edges(
    addr: IpAddr,
    iv: &Interval,
    v4: bool,
    avoid: impl Fn(IpAddr) -> bool,
) -> Vec<IpAddr> {
    let edges = [Some(iv.hi), iv.lo.checked_sub(1), iv.hi.checked_add(1)];
    let mut picked = vec![addr];
    for v in edges.into_iter().flatten() {
        let Some(a) = sources::addr(v, v4) else {
            continue;
        };
        if sources::classify(a).forward_route(v4).is_ok() && !avoid(a) && !picked.contains(&a) {
            picked.push(a);
        }
    }
    picked
}

/// The "not probed" row of a forward rule's net no forward probe can use.
fn unprobed(iv: &Interval, v4: bool, (source, label): (bool, Option<&str>)) -> Unprobed {
    let dir = if source { "from" } else { "to" };
    let mut name = format!("forward {dir} {}", sources::show(iv, v4));
    if let Some(label) = label {
        name.push_str(&format!(" ({label})"));
    }
    let reason = match sources::blocking_class(iv, v4).forward_route(v4) {
        Err(why) => why.to_string(),
        Ok(()) => "every address in it is one of verify's own test addresses".to_string(),
    };
    Unprobed { name, reason }
}

/// A rule's endpoints of one family on `link`: (inside the rule's address
/// match, outside it). Without a match of that family every one is "inside".
pub(crate) fn split(
    rs: &Ruleset,
    topo: &Topology,
    rule: &Rule,
    link: LinkAt,
    source: bool,
    v4: bool,
) -> (Vec<At>, Vec<At>) {
    let m = addr_match(rule, source).filter(|m| is_v4(m) == v4);
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for (ep, e) in topo.side_endpoints(link.0).iter().enumerate() {
        if e.lo || e.link != link.1 || e.addr.is_ipv4() != v4 || (m.is_none() && !e.base) {
            continue;
        }
        let at = At { far: link.0, ep };
        match m {
            Some(m) if !within(rs, m, e.addr) => outside.push(at),
            _ => inside.push(at),
        }
    }
    (inside, outside)
}

/// Whether `a` is inside `m` (every element of a set, not a sample).
fn within(rs: &Ruleset, m: &AddrMatch, a: IpAddr) -> bool {
    match m {
        AddrMatch::Set4(name) | AddrMatch::Set6(name) => rs
            .table
            .sets
            .iter()
            .find(|s| &s.name == name)
            .is_some_and(|s| s.elements.iter().any(|iv| contains(&iv, a))),
        literal => literal.interval().is_some_and(|iv| contains(&iv, a)),
    }
}

#[cfg(test)]
#[path = "fwd_tests.rs"]
mod tests;
