//! The output probes (pure): packets the host itself sends to a peer address,
//! each expected to see what `eval` says the output and postrouting hooks do
//! to it, and prerouting and input to its answer.
//!
//! Per output rule (the policy's, and with `--against` the file's): every
//! kind the rule takes (echo, TCP and UDP at its port edges, just outside
//! them, one inside) to the first, a member and the last address of its `to`
//! nets and to the addresses just outside them, over a test link its `out`
//! name matches (and over the default link, showing the name matters); per
//! pair of overlapping rules one probe in their intersection; and the ports
//! no rule names to the default link's peer, which the block's default
//! decides.

use super::cover::{MAX_PAIR_RULES, RuleAt};
use super::fwd_design::LinkAt;
use super::labels::Labels;
use super::matrix::{self, Ports};
use super::output_pick::{self as pick, OutBox};
use super::topology::{Topology, Unprobed};
use super::{Outcome, ProbeKind};
use crate::eval::{self, Cause, EvalError, Packet};
use crate::ir::{CtState, Hook, Ruleset, Verdict};
use crate::space::Cube;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One output probe: the host sends `kind` over `link` (a client link, or a far
/// one for an `out` name only the uplink side carries) to the peer address `dst`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OutPlanned {
    pub name: String,
    pub kind: ProbeKind,
    pub link: LinkAt,
    pub dst: IpAddr,
    pub expected: Outcome,
    /// What decides its first packet on the output hook.
    pub decided: Cause,
    /// The output rules it was chosen for: one (a sample) or two (a crossing).
    pub rules: Vec<Vec<RuleAt>>,
}

/// A pair of overlapping output rules of the policy and its crossing probe
/// (index into the probes), or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OutPair {
    pub a: RuleAt,
    pub b: RuleAt,
    pub crossed: Result<usize, String>,
}

/// Every output probe, the policy's output rule pairs, and the `to` nets no
/// probe could go to.
#[derive(Default)]
pub(crate) struct OutPlan {
    pub probes: Vec<OutPlanned>,
    pub pairs: Vec<OutPair>,
    /// The policy's output rules verify can send into (for the coverage count).
    pub rules: Vec<RuleAt>,
    /// Probes planned before the budget kept `probes`.
    pub planned: usize,
}

/// A probe: the host sends `kind` over link `.0` to `.1`.
type Key = (LinkAt, IpAddr, ProbeKind);

/// Why a probe is wanted: the rule groups it is chosen for, and its rank under
/// the budget (0 crossings, 1 rule samples, 2 the default's unlisted ports).
struct Want {
    groups: Vec<Vec<RuleAt>>,
    priority: u8,
}

type Wanted = BTreeMap<Key, Want>;

/// Adds (or ranks up) the probe `key`, chosen for `group` when given.
fn want(wanted: &mut Wanted, key: Key, group: Option<&Vec<RuleAt>>, priority: u8) {
    let w = wanted.entry(key).or_insert(Want {
        groups: Vec::new(),
        priority,
    });
    w.priority = w.priority.min(priority);
    if let Some(g) = group.filter(|g| !w.groups.contains(g)) {
        w.groups.push(g.clone());
    }
}

/// Plans the output probes of `rs` (and the rules of `against`), at most
/// `cap` of them evaluated and kept (crossings first, then rule samples, then
/// the default's); peer addresses and links they need are added to `topo`,
/// `to` nets none can use to its "not probed" rows. Empty when `rs` has no
/// output chain.
pub(crate) fn plan(
    rs: &Ruleset,
    against: Option<&Ruleset>,
    topo: &mut Topology,
    cap: usize,
) -> Result<OutPlan, EvalError> {
    if !has_output(rs) {
        return Ok(OutPlan::default());
    }
    let mine = pick::boxes(rs, false);
    let mut wanted = Wanted::new();
    defaults(topo, &mut wanted);
    let theirs = against.map(|a| pick::boxes(a, true)).unwrap_or_default();
    for b in mine.iter().chain(&theirs) {
        samples(topo, b, &mut wanted);
    }
    let pairs = pairs(&mine, topo, &mut wanted);
    let planned = wanted.len();
    let (probes, index) = evaluate(rs, topo, wanted, cap)?;
    let pairs = (pairs.into_iter())
        .map(|(a, b, crossed)| {
            let crossed = crossed.and_then(|k| {
                let i = *index
                    .get(&k)
                    .ok_or("its probe was cut by the budget (--probes)")?;
                let by_a = matches!(&probes[i].decided,
                    Cause::Rule { chain, index } if *chain == a.chain && *index == a.index);
                by_a.then_some(i).ok_or_else(|| {
                    "an earlier rule decides the packet verify sends into both".to_string()
                })
            });
            OutPair { a, b, crossed }
        })
        .collect();
    let rules = mine.into_iter().map(|b| b.at).collect();
    Ok(OutPlan {
        probes,
        pairs,
        rules,
        planned,
    })
}

/// Every overlapping pair of `mine` and its crossing probe's key (wanted), or why none.
fn pairs(
    mine: &[OutBox],
    topo: &mut Topology,
    wanted: &mut Wanted,
) -> Vec<(RuleAt, RuleAt, Result<Key, String>)> {
    let mut out = Vec::new();
    for (n, a) in mine.iter().enumerate() {
        for b in &mine[n + 1..] {
            let both = a.cube.intersect(&b.cube);
            if both.is_empty() {
                continue;
            }
            let crossed = if n >= MAX_PAIR_RULES {
                Err(format!("past the first {MAX_PAIR_RULES} rules"))
            } else {
                crossing(topo, &both, vec![a.at.clone(), b.at.clone()], wanted)
            };
            out.push((a.at.clone(), b.at.clone(), crossed));
        }
    }
    out
}

/// The `cap` most wanted probes (by rank, then key), with expectations, in key
/// order; and each one's index by key.
fn evaluate(
    rs: &Ruleset,
    topo: &Topology,
    wanted: Wanted,
    cap: usize,
) -> Result<(Vec<OutPlanned>, BTreeMap<Key, usize>), EvalError> {
    let mut kept: Vec<(Key, Want)> = wanted.into_iter().collect();
    kept.sort_by_key(|(_, w)| w.priority); // stable: in key order within a rank
    kept.truncate(cap);
    kept.sort_by_key(|(k, _)| *k);
    let mut probes = Vec::with_capacity(kept.len());
    let mut index = BTreeMap::new();
    for ((link, dst, kind), Want { groups: rules, .. }) in kept {
        let (expected, decided) = expect(rs, topo, link, dst, kind)?;
        index.insert((link, dst, kind), probes.len());
        probes.push(OutPlanned {
            name: name(topo, link, dst, kind),
            kind,
            link,
            dst,
            expected,
            decided,
            rules,
        });
    }
    Ok((probes, index))
}

/// Whether `rs` has a base chain on the output hook.
pub(crate) fn has_output(rs: &Ruleset) -> bool {
    (rs.table.chains.iter()).any(|c| c.base.is_some_and(|b| b.hook == Hook::Output))
}

/// The block's default: echo and the ports no rule names, to the default
/// link's peer, in both families.
fn defaults(topo: &Topology, wanted: &mut Wanted) {
    let mut unlisted = Ports::default();
    unlisted.add_unlisted();
    for v4 in [true, false] {
        let dst = topo.links[0].client_addr(v4);
        let default = (false, 0);
        let kinds = std::iter::once(ProbeKind::Ping)
            .chain(unlisted.tcp.iter().map(|p| ProbeKind::Tcp(*p)))
            .chain(unlisted.udp.iter().map(|p| ProbeKind::Udp(*p)));
        for kind in kinds {
            want(wanted, (default, dst, kind), None, 2);
        }
    }
}

/// A rule's samples: its kinds inside its `to` nets on its link, the kinds
/// just outside its ports there, its first kind just outside its nets, and
/// its kinds to the default link's peer when it names another interface.
fn samples(topo: &mut Topology, b: &OutBox, wanted: &mut Wanted) {
    let Some(link) = pick::link_for(topo, &b.cube.oif) else {
        let name = format!(
            "output over {}",
            b.cube.oif.pos.first().map_or("", |n| &n.name)
        );
        push_unprobed(topo, name, "no test link can carry the rule's interface");
        return;
    };
    let group = vec![b.at.clone()];
    let mut add = |link: LinkAt, dst: IpAddr, kind: ProbeKind| {
        want(wanted, (link, dst, kind), Some(&group), 1);
    };
    for f in 0..2 {
        if !b.cube.has_family(f) {
            continue;
        }
        let (inside, outside) = pick::kinds(&b.cube, f);
        let dests = pick::dests(topo, link, &b.cube.daddr[f], f);
        if dests.inside.is_empty() && !inside.is_empty() {
            let v4 = f == 0;
            let first = b.cube.daddr[f].intervals().first().copied();
            let net = first.map_or_else(String::new, |iv| super::sources::show(&iv, v4));
            push_unprobed(
                topo,
                format!("output to {net}"),
                "no address in it can be a peer of the host (not unicast, or verify's own \
                 test addresses)",
            );
        }
        for &dst in &dests.inside {
            for &k in inside.iter().chain(&outside) {
                add(link, dst, k);
            }
        }
        for &dst in &dests.outside {
            inside.first().into_iter().for_each(|k| add(link, dst, *k));
        }
        if link != (false, 0) {
            let base = topo.links[0].client_addr(f == 0);
            inside.iter().for_each(|k| add((false, 0), base, *k));
        }
    }
}

/// A "not probed" row, once per name.
fn push_unprobed(topo: &mut Topology, name: String, reason: &str) {
    if !topo.unprobed.iter().any(|u| u.name == name) {
        topo.unprobed.push(Unprobed {
            name,
            reason: reason.to_string(),
        });
    }
}

/// One probe in the intersection of two rules, or why none can be sent.
fn crossing(
    topo: &mut Topology,
    both: &Cube,
    rules: Vec<RuleAt>,
    wanted: &mut Wanted,
) -> Result<Key, String> {
    let link =
        pick::link_for(topo, &both.oif).ok_or("no test link can carry both rules' interfaces")?;
    for f in (0..2).filter(|f| both.has_family(*f)) {
        let Some(kind) = pick::kind_in(both, f) else {
            continue;
        };
        let Some(&dst) = pick::dests(topo, link, &both.daddr[f], f).inside.first() else {
            continue;
        };
        want(wanted, (link, dst, kind), Some(&rules), 0);
        return Ok((link, dst, kind));
    }
    Err(
        "verify sends only TCP, UDP and echo requests to unicast peer addresses, and none \
         fits both rules"
            .to_string(),
    )
}

/// What the host's socket sees for a probe under `rs`, and what decides its
/// first packet on the output hook.
pub(crate) fn expect(
    rs: &Ruleset,
    topo: &Topology,
    link: LinkAt,
    dst: IpAddr,
    kind: ProbeKind,
) -> Result<(Outcome, Cause), EvalError> {
    let l = pick::link(topo, link);
    let src = l.host_addr(dst.is_ipv4());
    let l4 = matrix::probe_l4(kind, dst.is_ipv4());
    let pkt = Packet {
        src,
        dst,
        iif: None,
        oif: Some(l.host_if.clone()),
        l4,
        ct: CtState::NEW,
    };
    let first = eval::evaluate(rs, Hook::Output, &pkt)?;
    let mut verdict = first.verdict;
    if verdict == Verdict::Accept {
        verdict = eval::evaluate(rs, Hook::Postrouting, &pkt)?.verdict;
    }
    if verdict == Verdict::Accept {
        // The peer's answer comes back as `ct state established`.
        let reply = Packet {
            src: dst,
            dst: src,
            iif: Some(l.host_if.clone()),
            oif: None,
            l4: matrix::reply_l4(l4),
            ct: CtState::ESTABLISHED,
        };
        for hook in [Hook::Prerouting, Hook::Input] {
            if eval::evaluate(rs, hook, &reply)?.verdict != Verdict::Accept {
                return Ok((Outcome::Timeout, first.cause));
            }
        }
    }
    Ok((matrix::outcome(kind, verdict), first.cause))
}

/// What each output probe would see under `rs` (another ruleset than the plan's).
pub(crate) fn outcomes(
    rs: &Ruleset,
    topo: &Topology,
    probes: &[OutPlanned],
) -> Result<Vec<Outcome>, EvalError> {
    (probes.iter())
        .map(|p| Ok(expect(rs, topo, p.link, p.dst, p.kind)?.0))
        .collect()
}

/// `output tcp 80 -> 192.0.2.1 out hwv0`.
fn name(topo: &Topology, link: LinkAt, dst: IpAddr, kind: ProbeKind) -> String {
    let what = match kind {
        ProbeKind::Ping if dst.is_ipv4() => "icmp echo".to_string(),
        ProbeKind::Ping => "icmpv6 echo".to_string(),
        ProbeKind::Tcp(p) => format!("tcp {p}"),
        ProbeKind::Udp(p) => format!("udp {p}"),
        ProbeKind::Established => "tcp".to_string(), // not planned for output
    };
    format!(
        "output {what} -> {dst} out {}",
        pick::link(topo, link).host_if
    )
}

/// An output probe's rules column: what decides it, and what it samples or crosses.
pub(crate) fn rules_text(p: &OutPlanned, labels: &Labels<'_>) -> String {
    let mut out = format!("decided by {}", labels.cause(&p.decided));
    super::budget::push_groups(&mut out, &p.rules, labels);
    out
}

/// Counts `kept` of `planned` output probes, sent after `before` others, in
/// the budget's (sent, planned) when it cut.
pub(crate) fn budget(cut: &mut Option<(usize, usize)>, before: usize, kept: usize, planned: usize) {
    match cut {
        Some((sent, total)) => {
            *sent += kept;
            *total += planned;
        }
        None if kept < planned => *cut = Some((before + kept, before + planned)),
        None => {}
    }
}

/// What the output probes cover: the policy's output rules deciding a probe
/// that was sent, its overlapping output rule pairs crossed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputCoverage {
    /// Output rules (policy lines and the block's default) verify can send into.
    pub rules: usize,
    /// Of those, rules deciding at least one probe sent.
    pub rules_probed: usize,
    /// Pairs of those rules whose match sets overlap.
    pub pairs: usize,
    /// Of those, pairs a probe in their intersection (decided by the earlier) exercises.
    pub crossed: usize,
}

/// The output coverage of the probes kept, and a (rules, why) line per rule
/// no probe is decided by and per pair not crossed.
pub(crate) fn coverage(
    out: &OutPlan,
    labels: &Labels<'_>,
) -> (OutputCoverage, Vec<(String, String)>) {
    let sent = &out.probes;
    let mut cov = OutputCoverage {
        rules: out.rules.len(),
        pairs: out.pairs.len(),
        ..OutputCoverage::default()
    };
    let mut missing = Vec::new();
    for at in &out.rules {
        let decides = sent.iter().any(|p| {
            matches!(&p.decided, Cause::Rule { chain, index } if *chain == at.chain && *index == at.index)
        });
        if decides {
            cov.rules_probed += 1;
        } else {
            let why = "no probe sent is decided by it (earlier rules decide every packet \
                       verify sends into it, or the budget cut its probes)";
            missing.push((format!("output {}", labels.rule(at)), why.to_string()));
        }
    }
    for pair in &out.pairs {
        let why = match &pair.crossed {
            Ok(_) => {
                cov.crossed += 1;
                continue;
            }
            Err(why) => why.clone(),
        };
        let names = format!("output {} × {}", labels.rule(&pair.a), labels.rule(&pair.b));
        missing.push((names, why));
    }
    (cov, missing)
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
