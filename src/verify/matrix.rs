//! The probe matrix: which packets `verify` sends, from where, and what each
//! should see — derived from the IR with `eval`, never written by hand. Pure.
//!
//! Ports come from the input chain's rules: both edges of every allowed range,
//! the ports just outside, a sample inside, a few ports no rule names, and UDP
//! on TCP-only services (and the reverse). Endpoints are client addresses:
//! the base address on a default link, a permitted and a non-permitted address
//! for source-restricted rules, and a link whose host side is named to match
//! each `iifname` rule.

use super::cover::{RuleAt, Want};
use super::inputs::input_rules;
use super::sources;
use super::topology::{Endpoint, LOOPBACK_IF, Topology};
use super::{Outcome, ProbeKind};
use crate::eval::{self, L4, Packet};
use crate::ir::{CtState, Hook, Interval, L4Proto, Match, PortMatch, Rule, Ruleset};
use crate::ir::{RejectWith, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Ports probed on every endpoint whatever the policy says (likely closed).
const UNLISTED_PORTS: [u16; 3] = [23, 8081, 65535];
/// Port intervals probed per rule (see `sample`).
const MAX_INTERVALS: usize = 16;
/// Client port the host connects to for the established-return probes.
pub(crate) const RETURN_PORT: u16 = 40001;
/// The host's ephemeral port assumed when evaluating return traffic.
const EPHEMERAL: u16 = 40000;

/// One probe: a packet kind sent from an endpoint to the host, and its expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    pub name: String,
    pub kind: ProbeKind,
    /// Index into `Topology::endpoints` (the sender; the receiver for `Established`).
    pub endpoint: usize,
    /// One of the host's extra addresses (`to` rules); else the host's on the link.
    pub dst: Option<IpAddr>,
    pub expected: Outcome,
    /// The input rules the partition chose it for, one group per reason
    /// (two rules for a crossing); empty for matrix-only probes.
    pub rules: Vec<Vec<RuleAt>>,
    /// Kept first under a budget: 0 crossings and boundaries, 1 rule samples, 2 the rest.
    pub priority: u8,
    /// What decides its first packet in the policy.
    pub decided: Option<eval::Cause>,
}

/// Port candidates, per protocol, for a set of rules.
#[derive(Default)]
pub(crate) struct Ports {
    pub tcp: BTreeSet<u16>,
    pub udp: BTreeSet<u16>,
}

impl Ports {
    pub(crate) fn add_rule(&mut self, rs: &Ruleset, rule: &Rule) {
        for m in &rule.matches {
            let Match::Dport(proto, pm) = m else { continue };
            for iv in sample(intervals(rs, pm)) {
                let (lo, hi) = (iv.lo as u16, iv.hi as u16);
                let (same, other) = match proto {
                    L4Proto::Tcp => (&mut self.tcp, &mut self.udp),
                    L4Proto::Udp => (&mut self.udp, &mut self.tcp),
                    _ => continue, // SCTP is not probed (see docs/verify.md)
                };
                same.extend([lo, hi, lo / 2 + hi / 2 + (lo % 2 + hi % 2) / 2]);
                same.extend(lo.checked_sub(1).filter(|p| *p > 0));
                same.extend(hi.checked_add(1));
                // The other protocol on the same service: "UDP on a TCP-only service".
                other.insert(lo);
            }
        }
    }

    pub(crate) fn add_unlisted(&mut self) {
        self.tcp.extend(UNLISTED_PORTS);
        self.udp.extend(UNLISTED_PORTS);
    }
}

/// At most `MAX_INTERVALS` of a rule's port intervals, evenly spread and always
/// including the first and last: a policy with 10,000 ports gets a bounded
/// probe matrix (and a bounded number of sockets) instead of 60,000 probes.
fn sample(all: Vec<Interval>) -> Vec<Interval> {
    if all.len() <= MAX_INTERVALS {
        return all;
    }
    let last = all.len() - 1;
    let mut picked: Vec<usize> = (0..MAX_INTERVALS)
        .map(|i| i * last / (MAX_INTERVALS - 1))
        .collect();
    picked.dedup();
    picked.into_iter().map(|i| all[i]).collect()
}

fn intervals(rs: &Ruleset, pm: &PortMatch) -> Vec<Interval> {
    match pm {
        PortMatch::Port(p) => vec![Interval::single(*p as u128)],
        PortMatch::Range(lo, hi) => vec![Interval {
            lo: *lo as u128,
            hi: *hi as u128,
        }],
        PortMatch::Set(name) => rs
            .table
            .sets
            .iter()
            .filter(|s| &s.name == name)
            .flat_map(|s| s.elements.iter())
            .collect(),
    }
}

/// Builds the probes for `topo` — the partition's `wants`, then the
/// per-endpoint port matrix while there are fewer than `cap` — with
/// expectations from `eval`, in (endpoint, kind) order; and how many
/// matrix probes the cap left out (counted, not planned).
pub(crate) fn plan(
    rs: &Ruleset,
    topo: &Topology,
    wants: &[Want],
    cap: usize,
) -> Result<(Vec<Planned>, usize), eval::EvalError> {
    let mut left_out = 0;
    let mut out: Vec<Planned> = Vec::new();
    let mut seen = BTreeMap::new();
    for w in wants {
        let at = match seen.get(&(w.endpoint, w.kind, w.dst)) {
            Some(at) => *at,
            None => {
                seen.insert((w.endpoint, w.kind, w.dst), out.len());
                out.push(planned(rs, topo, (w.endpoint, w.dst), w.kind)?);
                out.len() - 1
            }
        };
        let p = &mut out[at];
        p.priority = p.priority.min(w.priority);
        if !p.rules.contains(&w.rules) {
            p.rules.push(w.rules.clone());
        }
    }
    for (i, ep) in topo.endpoints.iter().enumerate() {
        if !ep.input || ep.only_wanted {
            continue; // an address only forward probes (or only `wants`) use
        }
        let ports = endpoint_ports(rs, topo, ep);
        let mut kinds = vec![ProbeKind::Ping];
        kinds.extend(ports.tcp.iter().map(|p| ProbeKind::Tcp(*p)));
        kinds.extend(ports.udp.iter().map(|p| ProbeKind::Udp(*p)));
        if ep.base && ep.link == 0 {
            kinds.push(ProbeKind::Established);
        }
        for kind in kinds {
            if let std::collections::btree_map::Entry::Vacant(v) = seen.entry((i, kind, None)) {
                if out.len() >= cap {
                    left_out += 1;
                    continue;
                }
                v.insert(out.len());
                out.push(planned(rs, topo, (i, None), kind)?);
            }
        }
    }
    out.sort_by_key(|p| (p.endpoint, p.kind, p.dst));
    Ok((out, left_out))
}

/// What each planned probe would see under `rs` (another ruleset than the plan's).
pub(crate) fn outcomes(
    rs: &Ruleset,
    topo: &Topology,
    planned: &[Planned],
) -> Result<Vec<Outcome>, eval::EvalError> {
    planned
        .iter()
        .map(|p| expect(rs, topo, (&topo.endpoints[p.endpoint], p.dst), p.kind))
        .collect()
}

fn planned(
    rs: &Ruleset,
    topo: &Topology,
    (endpoint, dst): (usize, Option<IpAddr>),
    kind: ProbeKind,
) -> Result<Planned, eval::EvalError> {
    let ep = &topo.endpoints[endpoint];
    let first = first_packet(topo, ep, kind, dst);
    Ok(Planned {
        name: probe_name(rs, topo, (ep, dst), kind),
        kind,
        endpoint,
        dst,
        expected: expect(rs, topo, (ep, dst), kind)?,
        rules: Vec::new(),
        priority: 2,
        decided: Some(eval::evaluate(rs, Hook::Input, &first)?.cause),
    })
}

/// The packet of a probe the input hook sees first: the request, or for the
/// established probe the answer coming back.
pub(crate) fn first_packet(
    topo: &Topology,
    ep: &Endpoint,
    kind: ProbeKind,
    dst: Option<IpAddr>,
) -> Packet {
    let v4 = ep.addr.is_ipv4();
    if ep.lo {
        return Packet::new_inbound(
            ep.addr,
            sources::loopback_dst(v4),
            LOOPBACK_IF,
            probe_l4(kind, v4),
        );
    }
    let link = &topo.links[ep.link];
    let host = link.host_addr(v4);
    if kind == ProbeKind::Established {
        let mut back =
            Packet::new_inbound(ep.addr, host, &link.host_if, L4::Tcp { dport: EPHEMERAL });
        back.ct = CtState::ESTABLISHED;
        return back;
    }
    let dst = topo.input_dst(ep, dst);
    Packet::new_inbound(ep.addr, dst, &link.host_if, probe_l4(kind, v4))
}

/// The input rules relevant to an endpoint give its ports: the default link's
/// base address gets every rule; another link's base address the rules naming
/// its interface; an extra source address only the source-restricted ones.
fn endpoint_ports(rs: &Ruleset, topo: &Topology, ep: &Endpoint) -> Ports {
    let mut ports = Ports::default();
    ports.add_unlisted();
    for rule in input_rules(rs) {
        let iif = rule.matches.iter().find_map(|m| match m {
            Match::IifName(n) => Some(n),
            _ => None,
        });
        let has_saddr = rule.matches.iter().any(|m| matches!(m, Match::Saddr(_)));
        if ep.lo {
            // A loopback source arrives on `lo`: every source-restricted rule's
            // ports, whatever interface it names (eval decides).
            if has_saddr {
                ports.add_rule(rs, rule);
            }
            continue;
        }
        // Rules without an interface are reached over the default link only;
        // the default link also probes interface rules, to show they stay closed there.
        let default_base = ep.link == 0 && ep.base;
        let iif_ok = match iif {
            Some(n) => default_base || eval::if_matches(n, Some(&topo.links[ep.link].host_if)),
            None => ep.link == 0,
        };
        let relevant = iif_ok && (ep.base || has_saddr);
        if relevant {
            ports.add_rule(rs, rule);
        }
    }
    ports
}

fn expect(
    rs: &Ruleset,
    topo: &Topology,
    (ep, dst): (&Endpoint, Option<IpAddr>),
    kind: ProbeKind,
) -> Result<Outcome, eval::EvalError> {
    if ep.lo {
        return expect_lo(rs, ep.addr, kind);
    }
    let link = &topo.links[ep.link];
    let host = link.host_addr(ep.addr.is_ipv4());
    let l4 = match kind {
        ProbeKind::Ping | ProbeKind::Tcp(_) | ProbeKind::Udp(_) => {
            probe_l4(kind, ep.addr.is_ipv4())
        }
        ProbeKind::Established => {
            // The host's SYN leaves through output; the client's answer comes back
            // through input as `ct state established`.
            let mut syn = Packet::new_inbound(host, ep.addr, "", L4::Tcp { dport: RETURN_PORT });
            syn.iif = None;
            syn.oif = Some(link.host_if.clone());
            let out = eval::evaluate(rs, Hook::Output, &syn)?;
            if out.verdict != Verdict::Accept {
                return Ok(outcome(kind, out.verdict));
            }
            let mut back =
                Packet::new_inbound(ep.addr, host, &link.host_if, L4::Tcp { dport: EPHEMERAL });
            back.ct = CtState::ESTABLISHED;
            return Ok(outcome(
                kind,
                eval::evaluate(rs, Hook::Input, &back)?.verdict,
            ));
        }
    };
    let host = topo.input_dst(ep, dst);
    let pkt = Packet::new_inbound(ep.addr, host, &link.host_if, l4);
    let verdict = eval::evaluate(rs, Hook::Input, &pkt)?.verdict;
    if verdict == Verdict::Accept {
        // The answer leaves through the output hook: a ruleset that stops it
        // there makes the probe see nothing, whatever input said.
        let reply = Packet {
            src: host,
            dst: ep.addr,
            iif: None,
            oif: Some(link.host_if.clone()),
            l4: reply_l4(l4),
            ct: CtState::ESTABLISHED,
        };
        if eval::evaluate(rs, Hook::Output, &reply)?.verdict != Verdict::Accept {
            return Ok(Outcome::Timeout);
        }
    }
    Ok(outcome(kind, verdict))
}

/// A probe the host sends itself from a loopback address over `lo`: the
/// request passes output then input, and so does its answer (established).
fn expect_lo(rs: &Ruleset, src: IpAddr, kind: ProbeKind) -> Result<Outcome, eval::EvalError> {
    let dst = sources::loopback_dst(src.is_ipv4());
    let l4 = probe_l4(kind, src.is_ipv4());
    let both = |src, dst, l4, ct| -> Result<Verdict, eval::EvalError> {
        let mut pkt = Packet::new_inbound(src, dst, "", l4);
        pkt.ct = ct;
        pkt.iif = None;
        pkt.oif = Some(LOOPBACK_IF.to_string());
        let out = eval::evaluate(rs, Hook::Output, &pkt)?.verdict;
        if out != Verdict::Accept {
            return Ok(out);
        }
        pkt.iif = pkt.oif.take();
        Ok(eval::evaluate(rs, Hook::Input, &pkt)?.verdict)
    };
    let verdict = both(src, dst, l4, CtState::NEW)?;
    if verdict == Verdict::Accept
        && both(dst, src, reply_l4(l4), CtState::ESTABLISHED)? != Verdict::Accept
    {
        return Ok(Outcome::Timeout);
    }
    Ok(outcome(kind, verdict))
}

/// The first packet of a probe (the established probe's SYN is a plain TCP one).
pub(crate) fn probe_l4(kind: ProbeKind, v4: bool) -> L4 {
    match kind {
        ProbeKind::Ping if v4 => L4::Icmp { kind: 8 },
        ProbeKind::Ping => L4::Icmpv6 { kind: 128 },
        ProbeKind::Tcp(p) => L4::Tcp { dport: p },
        ProbeKind::Udp(p) => L4::Udp { dport: p },
        ProbeKind::Established => L4::Tcp { dport: RETURN_PORT },
    }
}

/// The answer to a probe packet: echo reply, or back to the sender's ephemeral port.
pub(crate) fn reply_l4(l4: L4) -> L4 {
    match l4 {
        L4::Icmp { .. } => L4::Icmp { kind: 0 },
        L4::Icmpv6 { .. } => L4::Icmpv6 { kind: 129 },
        L4::Udp { .. } => L4::Udp { dport: EPHEMERAL },
        _ => L4::Tcp { dport: EPHEMERAL },
    }
}

/// What a client socket sees for a verdict on its first packet.
pub(crate) fn outcome(kind: ProbeKind, v: Verdict) -> Outcome {
    match v {
        Verdict::Accept => Outcome::Open,
        Verdict::Drop => Outcome::Timeout,
        // The kernel sends a reset only for TCP; on anything else the packet is dropped.
        Verdict::Reject(RejectWith::TcpReset) => match kind {
            ProbeKind::Tcp(_) | ProbeKind::Established => Outcome::Refused,
            _ => Outcome::Timeout,
        },
        Verdict::Reject(RejectWith::IcmpxPortUnreachable) => Outcome::Refused,
        Verdict::Reject(RejectWith::IcmpxAdminProhibited) => Outcome::Prohibited,
    }
}

/// What the policy's source rules make of an address: the first input rule
/// whose source set holds it decides "permitted" (accept) or "blocked"
/// (drop, reject); outside every source set it is "unlisted".
pub(crate) fn source_label(rs: &Ruleset, addr: IpAddr) -> &'static str {
    let f = usize::from(!addr.is_ipv4());
    let v = crate::space::addr_value(addr);
    for rule in input_rules(rs) {
        if !rule.matches.iter().any(|m| matches!(m, Match::Saddr(_))) {
            continue;
        }
        let Ok(Some(c)) = crate::space::Cube::of_rule(rs, rule, Hook::Input) else {
            continue;
        };
        if c.fam & (1 << f) != 0 && c.saddr[f].contains(v) {
            return match rule.verdict {
                Some(Verdict::Accept) => "permitted source",
                Some(_) => "blocked source",
                None => continue,
            };
        }
    }
    "unlisted source"
}

fn probe_name(
    rs: &Ruleset,
    topo: &Topology,
    (ep, dst): (&Endpoint, Option<IpAddr>),
    kind: ProbeKind,
) -> String {
    let what = match kind {
        ProbeKind::Ping if ep.addr.is_ipv4() => "icmp echo".to_string(),
        ProbeKind::Ping => "icmpv6 echo".to_string(),
        ProbeKind::Tcp(p) => format!("tcp {p}"),
        ProbeKind::Udp(p) => format!("udp {p}"),
        ProbeKind::Established => {
            return format!("established return (host -> {} tcp {RETURN_PORT})", ep.addr);
        }
    };
    let mut name = format!("{what} from {}", ep.addr);
    if let Some(d) = dst {
        name = format!("{what} to {d} from {}", ep.addr);
    }
    if !ep.base {
        name.push_str(&format!(" ({})", source_label(rs, ep.addr)));
    }
    if ep.lo {
        name.push_str(&format!(" in {LOOPBACK_IF}"));
    } else if ep.link != 0 {
        name.push_str(&format!(" in {}", topo.links[ep.link].host_if));
    }
    name
}

#[cfg(test)]
#[path = "matrix_tests.rs"]
mod tests;
