//! Where and what the output probes send (pure): the output rules as boxes,
//! the test link a rule's `out` name selects (a client or uplink one; a client
//! link is made when none matches), the
//! peer addresses inside and just outside a rule's `to` nets (added to the
//! topology as peer addresses), and the probe kinds a box takes.

use super::cover::RuleAt;
use super::fwd_design::LinkAt;
use super::sources::{self, AddrClass};
use super::topology::{Endpoint, Link, Topology, concrete};
use super::{ProbeKind, matrix::RETURN_PORT};
use crate::ir::{CtState, Hook, Interval, Ruleset};
use crate::space::{Cube, IfSet, Ivs};
use std::net::IpAddr;

/// Port intervals of one rule probed (first, last and evenly spread between).
const MAX_PORT_INTERVALS: usize = 8;
/// Ports probed for a box that takes every port: likely named by no rule.
const ANY_PORTS: [u16; 2] = [23, 8081];
/// Links verify makes at most (interface indexes fit a byte).
const MAX_LINKS: usize = 250;

/// A rule of an output base chain with a verdict that a new connection from
/// the host over a test link can reach, and its box.
pub(crate) struct OutBox {
    pub at: RuleAt,
    pub cube: Cube,
}

/// The output rules of `rs` verify can send a packet into, in chain order.
pub(crate) fn boxes(rs: &Ruleset, against: bool) -> Vec<OutBox> {
    let mut out = Vec::new();
    let chains = rs.table.chains.iter();
    for c in chains.filter(|c| c.base.is_some_and(|b| b.hook == Hook::Output)) {
        for (index, rule) in c.rules.iter().enumerate() {
            if rule.verdict.is_none() {
                continue;
            }
            let Ok(Some(cube)) = Cube::of_rule(rs, rule, Hook::Output) else {
                continue;
            };
            let sendable = (0..2).any(|f| cube.has_family(f) && !kinds(&cube, f).0.is_empty());
            if cube.ct & CtState::NEW == 0 || !admits_a_link(&cube.oif) || !sendable {
                // established/related, loopback only, or nothing verify sends (ND)
                continue;
            }
            let chain = c.name.clone();
            out.push(OutBox {
                at: RuleAt {
                    against,
                    chain,
                    index,
                },
                cube,
            });
        }
    }
    out
}

/// Whether some interface other than `lo` satisfies `oif`.
fn admits_a_link(oif: &IfSet) -> bool {
    crate::space::candidates(oif.pos.iter().chain(&oif.neg))
        .any(|n| n != super::topology::LOOPBACK_IF && oif.admits(&n))
}

/// The link of one side (`LinkAt`).
pub(crate) fn link(topo: &Topology, at: LinkAt) -> &Link {
    &topo.side_links(at.0)[at.1]
}

/// The link whose host side `oif` admits: the default client link when it
/// does, else an existing client link, else a far (uplink) one, else a new
/// client link named to match.
pub(crate) fn link_for(topo: &mut Topology, oif: &IfSet) -> Option<LinkAt> {
    if let Some(i) = topo.links.iter().position(|l| oif.admits(&l.host_if)) {
        return Some((false, i));
    }
    if let Some(i) = topo.far_links.iter().position(|l| oif.admits(&l.host_if)) {
        return Some((true, i));
    }
    let name = oif
        .pos
        .iter()
        .map(concrete)
        .find(|n| n != super::topology::LOOPBACK_IF && oif.admits(n))?;
    if topo.links.len() >= MAX_LINKS {
        return None;
    }
    let index = topo.links.len();
    topo.links.push(Link {
        host_if: name,
        client_if: format!("hwc{index}"),
        index: index as u8,
        far: false,
        block: topo.lab.client,
    });
    Some((false, index))
}

/// Peer addresses of family `f` inside the box's destinations (the first, a
/// member, the last) and just outside them, usable on `link`; without a `to`
/// net the link's own peer address. Fresh addresses are added to `topo`.
pub(crate) fn dests(topo: &mut Topology, link: LinkAt, daddr: &Ivs, f: usize) -> Dests {
    let v4 = f == 0;
    let base = self::link(topo, link).client_addr(v4);
    let full = if v4 { u32::MAX as u128 } else { u128::MAX };
    let ivs = daddr.intervals();
    if ivs.first().is_some_and(|iv| iv.lo == 0 && iv.hi == full) {
        return Dests {
            inside: vec![base],
            outside: Vec::new(),
        };
    }
    let (Some(first), Some(last)) = (ivs.first(), ivs.last()) else {
        return Dests::default();
    };
    let middle = ivs[ivs.len() / 2];
    let mut inside = Vec::new();
    let wanted = [first.lo, middle.lo + (middle.hi - middle.lo) / 2, last.hi];
    for (v, iv) in wanted.into_iter().zip([first, &middle, last]) {
        let found = attach(topo, link, v, v4).or_else(|| fallback(topo, link, iv, v4));
        if let Some(a) = found.filter(|a| !inside.contains(a)) {
            inside.push(a);
        }
    }
    let mut outside = Vec::new();
    let around = [first.lo.checked_sub(1), last.hi.checked_add(1)];
    for v in around.into_iter().flatten().filter(|v| *v <= full) {
        if !daddr.contains(v)
            && let Some(a) = attach(topo, link, v, v4)
        {
            outside.push(a);
        }
    }
    Dests { inside, outside }
}

/// Destination addresses of one box in one family.
#[derive(Default)]
pub(crate) struct Dests {
    pub inside: Vec<IpAddr>,
    pub outside: Vec<IpAddr>,
}

/// Another address inside `iv` when its preferred one cannot be used.
fn fallback(topo: &mut Topology, link: LinkAt, iv: &Interval, v4: bool) -> Option<IpAddr> {
    let taken = topo.taken();
    let a = sources::pick(iv, v4, |a| taken.contains(a), |c| c == AddrClass::Unicast)?;
    attach(topo, link, crate::space::addr_value(a), v4)
}

/// The address of value `v` as a peer address on `link`: the link's own, one
/// already on it, or a new one; `None` when it cannot be a peer of the host
/// (not unicast, inside a test link's subnet, or already on another link).
pub(crate) fn attach(topo: &mut Topology, link: LinkAt, v: u128, v4: bool) -> Option<IpAddr> {
    let a = sources::addr(v, v4)?;
    if a == self::link(topo, link).client_addr(v4) {
        return Some(a);
    }
    if sources::classify(a) != AddrClass::Unicast || in_lab(topo, a) {
        return None;
    }
    let (far, index) = link;
    for side in [false, true] {
        match topo.side_endpoints(side).iter().find(|e| e.addr == a) {
            Some(e) if side == far && e.link == index && !e.lo => return Some(a),
            Some(_) => return None,
            None => {}
        }
    }
    let endpoints = if far {
        &mut topo.far_endpoints
    } else {
        &mut topo.endpoints
    };
    endpoints.push(Endpoint {
        link: index,
        addr: a,
        base: false,
        permitted: false,
        input: false,
        lo: false,
        only_wanted: true,
    });
    Some(a)
}

/// Whether `a` is inside the lab's blocks (where only a link's own two
/// addresses are peers) or one of the host's own extra addresses.
fn in_lab(topo: &Topology, a: IpAddr) -> bool {
    topo.lab.reserved(a) || topo.host_addrs.contains(&a)
}

/// The kinds a box of family `f` takes: echo when it holds an echo request,
/// TCP and UDP at its port edges, just outside them and inside, and the other
/// protocol at its first port; a kind is in `inside` when the box holds it,
/// else in `outside`.
pub(crate) fn kinds(cube: &Cube, f: usize) -> (Vec<ProbeKind>, Vec<ProbeKind>) {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    let (icmp, echo) = if f == 0 { (1, 8) } else { (58, 128) };
    if cube.proto.contains(icmp) && cube.port.contains(echo) {
        inside.push(ProbeKind::Ping);
    }
    let ports = ports(&cube.port);
    for (proto, make) in [
        (6, ProbeKind::Tcp as fn(u16) -> ProbeKind),
        (17, ProbeKind::Udp),
    ] {
        if !cube.proto.contains(proto) {
            continue;
        }
        for &p in &ports {
            let k = make(p);
            if cube.port.contains(p.into()) {
                inside.push(k);
            } else {
                outside.push(k);
            }
        }
    }
    // The other protocol at the rule's first port: "UDP on a TCP-only rule".
    let first = ports
        .iter()
        .copied()
        .find(|p| cube.port.contains((*p).into()));
    match (cube.proto.contains(6), cube.proto.contains(17), first) {
        (true, false, Some(p)) => outside.push(ProbeKind::Udp(p)),
        (false, true, Some(p)) => outside.push(ProbeKind::Tcp(p)),
        _ => {}
    }
    (inside, outside)
}

/// Ports of a port set: each sampled interval's edges, the ports just
/// outside and one inside; a set of every port gets `ANY_PORTS`.
fn ports(set: &Ivs) -> Vec<u16> {
    let ivs = set.intervals();
    if ivs.first().is_some_and(|iv| iv.lo == 0 && iv.hi >= 65535) {
        return ANY_PORTS.to_vec();
    }
    let last = ivs.len().saturating_sub(1);
    let mut picked: Vec<usize> = (0..MAX_PORT_INTERVALS.min(ivs.len()))
        .map(|i| i * last / (MAX_PORT_INTERVALS - 1).max(1))
        .collect();
    picked.dedup();
    let mut out = Vec::new();
    for iv in picked.into_iter().filter_map(|i| ivs.get(i)) {
        let (lo, hi) = (iv.lo.min(65535) as u16, iv.hi.min(65535) as u16);
        out.extend([lo, hi, lo / 2 + hi / 2 + (lo % 2 + hi % 2) / 2]);
        out.extend(lo.checked_sub(1));
        out.extend(hi.checked_add(1));
    }
    out.sort_unstable();
    out.dedup();
    // Port 0 cannot be connected to; the return port is the established probe's listener.
    out.retain(|p| *p != 0 && *p != RETURN_PORT);
    out
}

/// A probe kind into `cube` (family `f`) for a crossing: TCP, else UDP, at its
/// first connectable port, else echo.
pub(crate) fn kind_in(cube: &Cube, f: usize) -> Option<ProbeKind> {
    let port = ANY_PORTS
        .into_iter()
        .map(u128::from)
        .find(|p| cube.port.contains(*p))
        .or_else(|| {
            (cube.port.intervals().iter())
                .map(|iv| iv.lo.max(1))
                .find(|p| cube.port.contains(*p) && *p <= 65535 && *p != RETURN_PORT.into())
        })
        .map(|p| p as u16);
    let (icmp, echo) = if f == 0 { (1, 8) } else { (58, 128) };
    match port {
        Some(p) if cube.proto.contains(6) => Some(ProbeKind::Tcp(p)),
        Some(p) if cube.proto.contains(17) => Some(ProbeKind::Udp(p)),
        _ if cube.proto.contains(icmp) && cube.port.contains(echo) => Some(ProbeKind::Ping),
        _ => None,
    }
}
