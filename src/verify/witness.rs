//! Turning a region of the input header space (a `space::Cube`) into one
//! probe verify can send: a client address on a test link (or a loopback
//! address over `lo`) and a packet kind, or the reason no probe can land in
//! the region. Pure; new client addresses are added to the topology.

use super::ProbeKind;
use super::sources::{self, AddrClass, Route};
use super::topology::{Endpoint, LOOPBACK_IF, Topology};
use crate::eval::{self, Cause, L4, Packet};
use crate::ir::{CtState, Hook, Interval, Ruleset};
use crate::space::{Cube, Ivs, addr_of, addr_value};
use std::net::IpAddr;

/// The ports the host's kernel picks for its own connections (the
/// established probe's answer arrives on one of them).
const EPHEMERAL: (u128, u128) = (32768, 60999);
/// Intervals of a region tried for a fresh address (large sets stay cheap).
const MAX_TRIED: usize = 64;
/// Candidate packets weighed per region.
const MAX_CANDIDATES: usize = 256;
/// Ports other rules name, tried per region.
const MAX_NAMED: usize = 16;
/// Test links tried per region (a region naming no interface admits all).
const MAX_ROUTES: usize = 3;

/// A packet the caller would rather probe with (one whose verdict shows something).
pub(crate) type Prefer<'a> = &'a dyn Fn(&Packet) -> bool;

/// Where in the region a probe should land.
#[derive(Clone, Copy, Default)]
pub(crate) struct Pins<'a> {
    /// This source address value (of the region's family).
    pub saddr: Option<(usize, u128)>,
    /// This port (or ICMP type).
    pub port: Option<u16>,
    /// This destination address value (one of the host's addresses for `to` rules).
    pub daddr: Option<(usize, u128)>,
    /// Only a packet the policy decides at rule `index` of the input chain
    /// `chain` or later (not shadowed by an earlier rule), when one exists.
    pub after: Option<usize>,
    /// Among the packets that qualify, the first this accepts (else the first).
    pub prefer: Option<Prefer<'a>>,
}

/// A probe found in a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Point {
    pub endpoint: usize,
    pub kind: ProbeKind,
    /// One of the host's extra addresses (`to` rules), else the link's own.
    pub dst: Option<IpAddr>,
}

/// The input chain the shadow check reads (`Pins::after` indexes its rules).
pub(crate) struct Ctx<'a> {
    pub rs: &'a Ruleset,
    pub chain: &'a str,
    /// Ports the rules name, tried first so a probe also meets other rules.
    pub named_ports: &'a [u16],
}

/// One probe inside `region` as `pins` ask, or why none can be sent there.
pub(crate) fn find(
    cx: &Ctx<'_>,
    topo: &mut Topology,
    region: &Cube,
    pins: Pins<'_>,
) -> Result<Point, String> {
    let found = Search {
        cx,
        topo,
        region,
        pins,
        why: String::from("the region is empty"),
        fallback: None,
        unshadowed: None,
        tried: 0,
    }
    .run();
    found.map(|c| place(topo, c))
}

/// A candidate probe: (link, source address, over `lo`, kind, destination when
/// not the host's address on the link).
type Cand = (usize, IpAddr, bool, ProbeKind, Option<IpAddr>);

/// One search through a region as `pins` ask: the best candidates so far, and why the
/// last one that did not fit did not.
struct Search<'a> {
    cx: &'a Ctx<'a>,
    topo: &'a Topology,
    region: &'a Cube,
    pins: Pins<'a>,
    why: String,
    fallback: Option<Cand>,
    unshadowed: Option<Cand>,
    tried: usize,
}

impl Search<'_> {
    /// The candidate exactly as `pins` ask, else the best one kept, else why none fits.
    fn run(mut self) -> Result<Cand, String> {
        for f in [0, 1] {
            if !self.region.has_family(f) || self.pins.saddr.is_some_and(|(pf, _)| pf != f) {
                continue;
            }
            if let Some(c) = self.family(f) {
                return Ok(c);
            }
        }
        self.unshadowed.or(self.fallback).ok_or(self.why)
    }

    /// The candidates of family `f`; `Some` when one is exactly what `pins` ask.
    fn family(&mut self, f: usize) -> Option<Cand> {
        let (cx, topo, region, pins) = (self.cx, self.topo, self.region, self.pins);
        let kinds = match kinds(region, f == 0, pins.port, cx.named_ports) {
            Ok(k) => k,
            Err(e) => {
                self.why = e;
                return None;
            }
        };
        for (link, lo) in routes(topo, region) {
            let addrs = match sources_in(topo, region, f, link, lo, pins.saddr) {
                Ok(a) => a,
                Err(e) => {
                    self.why = e;
                    continue;
                }
            };
            for &(kind, l4) in &kinds {
                if lo && kind == ProbeKind::Established {
                    self.why = "needs an established packet on lo: the return probe runs over \
                                a test link"
                        .to_string();
                    continue;
                }
                for &addr in &addrs {
                    for dst in dsts(topo, region, (f, link, lo), pins.daddr) {
                        let c = (link, addr, lo, kind, dst);
                        if self.weigh(c, l4) {
                            return Some(c);
                        }
                        if self.tried >= MAX_CANDIDATES {
                            return None;
                        }
                    }
                }
            }
        }
        None
    }

    /// Keeps a candidate in mind; true when it is the one to take now.
    fn weigh(&mut self, c: Cand, l4: L4) -> bool {
        let (cx, topo, region, pins) = (self.cx, self.topo, self.region, self.pins);
        let (link, addr, lo, kind, dst) = c;
        let (v4, f) = (addr.is_ipv4(), usize::from(!addr.is_ipv4()));
        let host = match dst {
            Some(d) => d,
            None if lo => sources::loopback_dst(v4),
            None => topo.links[link].host_addr(v4),
        };
        if !region.daddr[f].contains(addr_value(host)) {
            self.why = format!("needs a destination other than the host's test address {host}");
            return false;
        }
        let iif = if lo {
            LOOPBACK_IF
        } else {
            &topo.links[link].host_if
        };
        let mut pkt = Packet::new_inbound(addr, host, iif, l4);
        if kind == ProbeKind::Established {
            pkt.ct = CtState::ESTABLISHED;
        }
        self.tried += 1;
        if unshadowed(cx, &pkt, pins.after) {
            if pins.prefer.is_none_or(|p| p(&pkt)) {
                return true;
            }
            self.unshadowed.get_or_insert(c);
        }
        self.fallback.get_or_insert(c);
        false
    }
}

/// Whether the policy decides `pkt` at rule `after` or later (always, without `after`).
fn unshadowed(cx: &Ctx<'_>, pkt: &Packet, after: Option<usize>) -> bool {
    let Some(after) = after else { return true };
    match eval::evaluate(cx.rs, Hook::Input, pkt).map(|d| d.cause) {
        Ok(Cause::Rule { chain, index }) => chain != cx.chain || index >= after,
        Ok(_) => true,
        Err(_) => false,
    }
}

/// The endpoint for a chosen address, added to the topology when new.
fn place(topo: &mut Topology, (link, addr, lo, kind, dst): Cand) -> Point {
    let found = topo
        .endpoints
        .iter()
        .position(|e| e.addr == addr && e.lo == lo && (lo || e.link == link));
    if let Some(e) = found.map(|i| &mut topo.endpoints[i])
        && !e.input
    {
        // An address only forward probes used so far: now input probes use it too.
        e.input = true;
        e.only_wanted = true;
    }
    let endpoint = found.unwrap_or_else(|| {
        topo.endpoints.push(Endpoint {
            link,
            addr,
            base: false,
            permitted: true,
            input: true,
            lo,
            only_wanted: true,
        });
        topo.endpoints.len() - 1
    });
    Point {
        endpoint,
        kind,
        dst,
    }
}

/// The packet kinds verify can send into the region, with their first packet.
fn kinds(
    region: &Cube,
    v4: bool,
    pin: Option<u16>,
    named: &[u16],
) -> Result<Vec<(ProbeKind, L4)>, String> {
    let mut out = Vec::new();
    let new = region.ct & CtState::NEW != 0;
    if new {
        let ports = port_choices(&region.port, pin, named);
        for p in &ports {
            if region.proto.contains(6) {
                out.push((ProbeKind::Tcp(*p), L4::Tcp { dport: *p }));
            }
            if region.proto.contains(17) {
                out.push((ProbeKind::Udp(*p), L4::Udp { dport: *p }));
            }
        }
        let (proto, echo) = if v4 { (1, 8) } else { (58, 128) };
        if region.proto.contains(proto)
            && region.port.contains(echo)
            && pin.is_none_or(|p| p == echo as u16)
        {
            let l4 = if v4 {
                L4::Icmp { kind: 8 }
            } else {
                L4::Icmpv6 { kind: 128 }
            };
            out.push((ProbeKind::Ping, l4));
        }
    }
    let ephemeral = Ivs::new(vec![Interval {
        lo: EPHEMERAL.0,
        hi: EPHEMERAL.1,
    }]);
    if region.ct & CtState::ESTABLISHED != 0
        && region.proto.contains(6)
        && ephemeral.minus(&region.port).is_empty()
        && pin.is_none()
    {
        out.push((ProbeKind::Established, L4::Tcp { dport: 40000 }));
    }
    if !out.is_empty() {
        return Ok(out);
    }
    Err(no_kind(region, new))
}

/// Why no packet kind verify sends fits the region.
fn no_kind(region: &Cube, new: bool) -> String {
    if !new && region.ct & CtState::ESTABLISHED == 0 {
        let states = CtState(region.ct).names().join(",");
        format!(
            "needs conntrack state {states}: verify sends new connections and an established return"
        )
    } else if !new {
        "needs an established packet to named ports: the established return arrives on an \
         ephemeral port"
            .to_string()
    } else {
        let protos: Vec<String> = region
            .proto
            .intervals()
            .iter()
            .take(3)
            .map(show_proto)
            .collect();
        format!(
            "needs protocol {}: verify sends TCP, UDP and ICMP echo",
            protos.join(",")
        )
    }
}

fn show_proto(iv: &Interval) -> String {
    let name = |v: u128| {
        u8::try_from(v)
            .ok()
            .and_then(crate::ir::L4Proto::from_number)
            .map_or(v.to_string(), |p| p.name().to_string())
    };
    match (iv.lo, iv.hi) {
        (1, 1) | (58, 58) => format!("{} (types other than echo)", name(iv.lo)),
        (lo, hi) if lo == hi => name(lo),
        (lo, hi) => format!("{lo}-{hi}"),
    }
}

/// Ports to try: the pinned one, or ports other rules name, then the
/// region's first and last port (port 0 is never sent).
fn port_choices(port: &Ivs, pin: Option<u16>, named: &[u16]) -> Vec<u16> {
    if let Some(p) = pin {
        return if port.contains(p.into()) && p != 0 {
            vec![p]
        } else {
            vec![]
        };
    }
    let mut out: Vec<u16> = named
        .iter()
        .copied()
        .filter(|p| *p != 0 && port.contains((*p).into()))
        .take(MAX_NAMED)
        .collect();
    let usable = port.minus(&Ivs::single(0));
    for v in [usable.first(), usable.intervals().last().map(|iv| iv.hi)] {
        if let Some(v) = v.and_then(|v| u16::try_from(v).ok())
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    out
}

/// (link, over `lo`) pairs whose interface the region admits: the first
/// `MAX_ROUTES` test links in order (the default first), then the host's own `lo`.
fn routes(topo: &Topology, region: &Cube) -> Vec<(usize, bool)> {
    let mut out: Vec<(usize, bool)> = topo
        .links
        .iter()
        .enumerate()
        .filter(|(_, l)| region.iif.admits(&l.host_if))
        .take(MAX_ROUTES)
        .map(|(i, _)| (i, false))
        .collect();
    if region.iif.admits(LOOPBACK_IF) {
        out.push((0, true));
    }
    out
}

/// Destinations to try over (`link`, `lo`) for family `f`: the pinned one, else
/// the host's address on the link, then its extra addresses (`to` rules; over the
/// default link only) inside the region.
fn dsts(
    topo: &Topology,
    region: &Cube,
    (f, link, lo): (usize, usize, bool),
    pin: Option<(usize, u128)>,
) -> Vec<Option<IpAddr>> {
    let extra = topo
        .host_addrs
        .iter()
        .filter(|a| !lo && link == 0 && usize::from(!a.is_ipv4()) == f)
        .filter(|a| region.daddr[f].contains(addr_value(**a)));
    match pin {
        Some((_, v)) => extra
            .filter(|a| addr_value(**a) == v)
            .take(1)
            .map(|a| Some(*a))
            .collect(),
        None => std::iter::once(None)
            .chain(extra.take(2).map(|a| Some(*a)))
            .collect(),
    }
}

/// Source addresses in the region a probe over (`link`, `lo`) can use: the
/// pinned one, or addresses the link already has, then a fresh one.
fn sources_in(
    topo: &Topology,
    region: &Cube,
    f: usize,
    link: usize,
    lo: bool,
    pin: Option<(usize, u128)>,
) -> Result<Vec<IpAddr>, String> {
    let v4 = f == 0;
    if let Some((_, v)) = pin {
        return pinned(topo, region, (f, v), link, lo).map(|a| vec![a]);
    }
    let mut out: Vec<IpAddr> = topo
        .endpoints
        .iter()
        .filter(|e| e.input && e.lo == lo && (lo || e.link == link) && e.addr.is_ipv4() == v4)
        .map(|e| e.addr)
        .filter(|a| region.saddr[f].contains(addr_value(*a)))
        .collect();
    out.truncate(2);
    let taken = topo.taken();
    let want = |c: AddrClass| {
        let route = c.input_route(v4);
        if lo {
            route == Ok(Route::Loopback)
        } else {
            route == Ok(Route::Client)
        }
    };
    if lo && region.saddr[f].contains(addr_value(sources::loopback_dst(v4))) {
        out.push(sources::loopback_dst(v4));
    }
    let fresh = region.saddr[f]
        .intervals()
        .iter()
        .take(MAX_TRIED)
        .find_map(|iv| sources::pick(iv, v4, |a| taken.contains(a), want));
    out.extend(fresh);
    if out.is_empty() {
        let first = region.saddr[f].first().and_then(|v| addr_of(f, v));
        return Err(match first {
            Some(a) if lo && sources::classify(a) != AddrClass::Loopback => {
                format!("needs a packet on lo from {a}: only the host's own addresses arrive on lo")
            }
            Some(a) => unusable(a, lo),
            None => "no source address".to_string(),
        });
    }
    Ok(out)
}

/// The pinned source address, when a probe over (`link`, `lo`) can use it.
fn pinned(
    topo: &Topology,
    region: &Cube,
    (f, v): (usize, u128),
    link: usize,
    lo: bool,
) -> Result<IpAddr, String> {
    let v4 = f == 0;
    let a = addr_of(f, v).ok_or("no such address")?;
    if !region.saddr[f].contains(v) {
        return Err(format!("{a} is outside the region"));
    }
    let route = sources::classify(a).input_route(v4);
    if route != Ok(if lo { Route::Loopback } else { Route::Client }) {
        return Err(unusable(a, lo));
    }
    let own = topo.links.get(link).is_some_and(|l| l.client_addr(v4) == a);
    let elsewhere = topo
        .endpoints
        .iter()
        .any(|e| e.addr == a && (e.lo != lo || (!lo && e.link != link)));
    if (topo.lab.reserved(a) && !own) || elsewhere || topo.host_addrs.contains(&a) {
        return Err(format!("{a} is one of verify's own test addresses"));
    }
    Ok(a)
}

fn unusable(a: IpAddr, lo: bool) -> String {
    match sources::classify(a).input_route(a.is_ipv4()) {
        Err(why) => format!("from {a}: {why}"),
        Ok(_) if lo => {
            format!("needs a packet on lo from {a}: only the host's own addresses arrive on lo")
        }
        Ok(_) => format!("from {a}: no test link can carry it"),
    }
}
