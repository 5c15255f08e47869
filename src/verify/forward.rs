//! The forward probe matrix (pure): packets sent through the host between
//! the client and the far namespace, each expected to see what `eval` says
//! the prerouting, forward and postrouting hooks do to it and to its answer.
//!
//! Per forward rule: every port probe of the rule (range edges, just outside,
//! a sample inside, the other protocol, the unlisted ports, ICMP echo) from an
//! address inside its `from` to one inside its `to`, over the links its
//! `in`/`out` names; then the same from the link's address outside `from`,
//! to the one outside `to`, and over the default links (showing the
//! interface restriction); and the rule's probes the other way round, from
//! the destination to the source. Plus the unlisted ports between the two
//! default links in both directions. A probe from the far side is a new connection
//! towards the client: `established` rules must not let it through, while the
//! answers to the client's own connections (the reply path of every "open"
//! expectation) must pass.

use super::fwd_design::{self, At, LinkAt};
use super::matrix::{self, Ports};
use super::topology::Topology;
use super::{Outcome, ProbeKind};
use crate::eval::{self, EvalError, Packet};
use crate::ir::{CtState, Hook, Rule, Ruleset, Sysctl, Verdict};
use std::collections::BTreeSet;

/// Addresses inside a rule's net, per side, that get the rule's probes.
const MAX_INSIDE: usize = 2;

/// One forward probe: a packet from `src` to `dst` through the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FwdPlanned {
    pub name: String,
    /// `Ping`, `Tcp` or `Udp`.
    pub kind: ProbeKind,
    pub src: At,
    pub dst: At,
    pub expected: Outcome,
}

/// Every forward probe for `topo` (none without a far side), expectations from `eval`.
pub(crate) fn plan(rs: &Ruleset, topo: &Topology) -> Result<Vec<FwdPlanned>, EvalError> {
    if topo.far_links.is_empty() {
        return Ok(Vec::new());
    }
    let mut unlisted = Ports::default();
    unlisted.add_unlisted();
    let unlisted = kinds(&unlisted);
    let mut pairs: Vec<(At, At, Vec<ProbeKind>)> = Vec::new();
    for v4 in [true, false] {
        if let (Some(c), Some(f)) = (topo.base_at((false, 0), v4), topo.base_at((true, 0), v4)) {
            pairs.push((c, f, unlisted.clone()));
            pairs.push((f, c, unlisted.clone()));
        }
    }
    for rule in fwd_design::forward_rules(rs) {
        let Some(links) = fwd_design::rule_links(topo, rule) else {
            continue;
        };
        let mut ports = Ports::default();
        ports.add_rule(rs, rule);
        ports.add_unlisted();
        let ks = kinds(&ports);
        for v4 in [true, false] {
            rule_pairs(rs, topo, rule, links, v4, &ks, &mut pairs);
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (src, dst, ks) in pairs {
        for kind in ks {
            if seen.insert((src, dst, kind)) {
                out.push(FwdPlanned {
                    name: name(rs, topo, src, dst, kind),
                    kind,
                    src,
                    dst,
                    expected: expect(rs, topo, src, dst, kind)?,
                });
            }
        }
    }
    Ok(out)
}

/// What each planned probe would see under `rs` (another ruleset than the plan's).
pub(crate) fn outcomes(
    rs: &Ruleset,
    topo: &Topology,
    planned: &[FwdPlanned],
) -> Result<Vec<Outcome>, EvalError> {
    planned
        .iter()
        .map(|p| expect(rs, topo, p.src, p.dst, p.kind))
        .collect()
}

fn kinds(ports: &Ports) -> Vec<ProbeKind> {
    let mut ks = vec![ProbeKind::Ping];
    ks.extend(ports.tcp.iter().map(|p| ProbeKind::Tcp(*p)));
    ks.extend(ports.udp.iter().map(|p| ProbeKind::Udp(*p)));
    ks
}

/// The (source, destination) pairs probing one rule in one family.
fn rule_pairs(
    rs: &Ruleset,
    topo: &Topology,
    rule: &Rule,
    (sl, dl): (LinkAt, LinkAt),
    v4: bool,
    ks: &[ProbeKind],
    pairs: &mut Vec<(At, At, Vec<ProbeKind>)>,
) {
    let (s_in, mut s_out) = fwd_design::split(rs, topo, rule, sl, true, v4);
    let (d_in, mut d_out) = fwd_design::split(rs, topo, rule, dl, false, v4);
    // A named interface's link is never the default one: the default link of
    // the same side shows the packet is not let through elsewhere.
    if sl.1 != 0 {
        s_out.extend(topo.base_at((sl.0, 0), v4));
    }
    if dl.1 != 0 {
        d_out.extend(topo.base_at((dl.0, 0), v4));
    }
    let (Some(&s0), Some(&d0)) = (s_in.first(), d_in.first()) else {
        return;
    };
    for &s in s_in.iter().take(MAX_INSIDE) {
        for &d in d_in.iter().take(MAX_INSIDE) {
            pairs.push((s, d, ks.to_vec()));
            // The other way is a new connection towards the sender: only a rule
            // for that direction (not the answers to `s`) may let it through.
            pairs.push((d, s, ks.to_vec()));
        }
    }
    pairs.extend(s_out.into_iter().map(|s| (s, d0, ks.to_vec())));
    pairs.extend(d_out.into_iter().map(|d| (s0, d, ks.to_vec())));
}

fn forwarding_key(v4: bool) -> Sysctl {
    if v4 {
        Sysctl::Ipv4Forward
    } else {
        Sysctl::Ipv6Forward
    }
}

/// What the sender of a forward probe sees.
fn expect(
    rs: &Ruleset,
    topo: &Topology,
    src: At,
    dst: At,
    kind: ProbeKind,
) -> Result<Outcome, EvalError> {
    let (s, d) = (topo.endpoint(src).addr, topo.endpoint(dst).addr);
    let (sl, dl) = (&topo.link_at(src).host_if, &topo.link_at(dst).host_if);
    // With forwarding off the kernel discards the packet before any forward
    // hook (silently, for both families): nothing comes back.
    if fwd_design::policy_forwarding(rs, forwarding_key(s.is_ipv4())) == Some(false) {
        return Ok(Outcome::Timeout);
    }
    let l4 = matrix::probe_l4(kind, s.is_ipv4());
    let pkt = Packet {
        src: s,
        dst: d,
        iif: Some(sl.clone()),
        oif: Some(dl.clone()),
        l4,
        ct: CtState::NEW,
    };
    let verdict = through(rs, &pkt)?;
    if verdict == Verdict::Accept {
        // The answer is forwarded back as `ct state established`; a ruleset
        // that stops it leaves the sender with nothing.
        let reply = Packet {
            src: d,
            dst: s,
            iif: Some(dl.clone()),
            oif: Some(sl.clone()),
            l4: matrix::reply_l4(l4),
            ct: CtState::ESTABLISHED,
        };
        if through(rs, &reply)? != Verdict::Accept {
            return Ok(Outcome::Timeout);
        }
    }
    Ok(matrix::outcome(kind, verdict))
}

/// The verdict of the hooks a forwarded packet crosses, in order: the first
/// that does not accept decides. No output interface is known at prerouting,
/// and the input interface is not seen at postrouting.
fn through(rs: &Ruleset, pkt: &Packet) -> Result<Verdict, EvalError> {
    for hook in [Hook::Prerouting, Hook::Forward, Hook::Postrouting] {
        let mut p = pkt.clone();
        match hook {
            Hook::Prerouting => p.oif = None,
            Hook::Postrouting => p.iif = None,
            _ => {}
        }
        let v = eval::evaluate(rs, hook, &p)?.verdict;
        if v != Verdict::Accept {
            return Ok(v);
        }
    }
    Ok(Verdict::Accept)
}

fn name(rs: &Ruleset, topo: &Topology, src: At, dst: At, kind: ProbeKind) -> String {
    let (s, d) = (topo.endpoint(src).addr, topo.endpoint(dst).addr);
    let what = match kind {
        ProbeKind::Ping if s.is_ipv4() => "icmp echo".to_string(),
        ProbeKind::Ping => "icmpv6 echo".to_string(),
        ProbeKind::Tcp(p) => format!("tcp {p}"),
        ProbeKind::Udp(p) => format!("udp {p}"),
        ProbeKind::Established => "tcp".to_string(), // not planned forward
    };
    let mut n = format!(
        "forward {what} {s} -> {d} in {} out {}",
        topo.link_at(src).host_if,
        topo.link_at(dst).host_if
    );
    if fwd_design::policy_forwarding(rs, forwarding_key(s.is_ipv4())) == Some(false) {
        n.push_str(" (forwarding off)");
    }
    n
}

/// The destination port of a probe (0 for echo).
pub(crate) fn port(kind: ProbeKind) -> u16 {
    match kind {
        ProbeKind::Tcp(p) | ProbeKind::Udp(p) => p,
        ProbeKind::Ping | ProbeKind::Established => 0,
    }
}
