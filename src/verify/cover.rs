//! Which probes the header-space partition asks for (pure): for every pair of
//! input rules whose boxes overlap, a probe in their intersection (decided by
//! the earlier rule, so the pair's order shows) and one in each difference;
//! for every rule, one it decides, and samples of its address sets (first,
//! last and middle element, a spread of others, the neighbours just outside);
//! with `--against`, both sides of every boundary one ruleset draws and the
//! other does not. Each probe names the rules it exercises.

use super::ProbeKind;
use super::topology::Topology;
use super::witness::{self, Ctx, Pins};
use crate::eval::Packet;
use crate::ir::{Hook, Interval, Rule, Ruleset, Verdict};
use crate::space::{Cube, Dim, Ivs};
use std::collections::{BTreeMap, BTreeSet};

/// Rules whose pairs are crossed; past it, pairs are reported as not crossed.
pub(crate) const MAX_PAIR_RULES: usize = 400;
/// Intervals of one address set sampled besides its first, middle and last.
const SPREAD: usize = 8;
/// Boundaries only one of the two rulesets draws that are probed, per field.
const MAX_DIFF_CUTS: usize = 256;
/// Fields a difference between two rules is looked for in, in this order.
const DIFF_DIMS: [Dim; 7] = [
    Dim::Saddr,
    Dim::Port,
    Dim::Proto,
    Dim::Iif,
    Dim::Family,
    Dim::Daddr,
    Dim::Ct,
];

/// A rule of a ruleset's input chain.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RuleAt {
    /// From the `--against` ruleset rather than the policy.
    pub against: bool,
    pub chain: String,
    pub index: usize,
}

/// A probe the partition asks for, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Want {
    pub endpoint: usize,
    pub kind: ProbeKind,
    /// One of the host's extra addresses (`to` rules), else the link's own.
    pub dst: Option<std::net::IpAddr>,
    /// The rules it exercises (two for a crossing).
    pub rules: Vec<RuleAt>,
    /// 0 crossings and boundary differences, 1 rule samples: kept first under a budget.
    pub priority: u8,
}

/// Whether an overlapping pair of rules got a probe in its intersection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pair {
    pub a: RuleAt,
    pub b: RuleAt,
    /// Index into the wants of the crossing probe, or why there is none.
    pub crossed: Result<usize, String>,
}

#[derive(Default)]
pub(crate) struct Cover {
    pub wants: Vec<Want>,
    pub pairs: Vec<Pair>,
}

/// A ruleset's input rules with a verdict, and their boxes.
struct Boxes<'a> {
    rs: &'a Ruleset,
    chain: String,
    rules: Vec<(usize, &'a Rule, Cube)>,
    against: bool,
}

impl<'a> Boxes<'a> {
    fn new(rs: &'a Ruleset, against: bool) -> Boxes<'a> {
        let chain = rs
            .table
            .chains
            .iter()
            .find(|c| c.base.is_some_and(|b| b.hook == Hook::Input));
        let mut rules = Vec::new();
        if let Some(c) = chain {
            for (i, r) in c.rules.iter().enumerate() {
                if r.verdict.is_none() {
                    continue;
                }
                if let Ok(Some(cube)) = Cube::of_rule(rs, r, Hook::Input)
                    && !cube.is_empty()
                {
                    rules.push((i, r, cube));
                }
            }
        }
        Boxes {
            rs,
            chain: chain.map_or_else(String::new, |c| c.name.clone()),
            rules,
            against,
        }
    }

    fn at(&self, index: usize) -> RuleAt {
        RuleAt {
            against: self.against,
            chain: self.chain.clone(),
            index,
        }
    }
}

/// Every probe the partition of `rs` (and `against`) asks for; new client
/// addresses are added to `topo`.
pub(crate) fn plan(rs: &Ruleset, against: Option<&Ruleset>, topo: &mut Topology) -> Cover {
    let mut cover = Cover::default();
    let mine = Boxes::new(rs, false);
    let theirs = against.map(|a| Boxes::new(a, true));
    let named = named_ports(&mine, theirs.as_ref());
    for b in std::iter::once(&mine).chain(theirs.as_ref()) {
        let cx = Ctx {
            rs: b.rs,
            chain: &b.chain,
            named_ports: &named,
        };
        pairs(&cx, b, topo, &mut cover);
        for (i, rule, cube) in &b.rules {
            samples(&cx, b.at(*i), rule, cube, topo, &mut cover);
        }
    }
    if let Some(t) = &theirs {
        boundary_diffs(&mine, t, &named, topo, &mut cover);
    }
    cover
}

/// Ports TCP, UDP and SCTP rules name (where each of their port sets starts).
fn named_ports(a: &Boxes<'_>, b: Option<&Boxes<'_>>) -> Vec<u16> {
    let mut out = BTreeSet::new();
    let port_protos = Ivs::new([6, 17, 132].map(Interval::single).to_vec());
    for (_, _, c) in a.rules.iter().chain(b.iter().flat_map(|b| &b.rules)) {
        if c.port != Ivs::full(crate::space::PORT_MAX) && c.proto.minus(&port_protos).is_empty() {
            out.extend(
                c.port
                    .intervals()
                    .iter()
                    .filter_map(|iv| u16::try_from(iv.lo).ok()),
            );
        }
    }
    out.into_iter().collect()
}

fn want(cover: &mut Cover, p: witness::Point, rules: Vec<RuleAt>, priority: u8) -> usize {
    cover.wants.push(Want {
        endpoint: p.endpoint,
        kind: p.kind,
        dst: p.dst,
        rules,
        priority,
    });
    cover.wants.len() - 1
}

/// Crossings: every overlapping pair gets a probe in the intersection that
/// the earlier rule decides, and one in each difference when it can.
fn pairs(cx: &Ctx<'_>, b: &Boxes<'_>, topo: &mut Topology, cover: &mut Cover) {
    for (n, (i, _, ci)) in b.rules.iter().enumerate() {
        for (j, later, cj) in &b.rules[n + 1..] {
            let both = ci.intersect(cj);
            if both.is_empty() {
                continue;
            }
            let rules = vec![b.at(*i), b.at(*j)];
            if n >= MAX_PAIR_RULES {
                cover.pairs.push(Pair {
                    a: b.at(*i),
                    b: b.at(*j),
                    crossed: Err(format!("past the first {MAX_PAIR_RULES} rules")),
                });
                continue;
            }
            // Where the later rule would say something else, if anywhere.
            let differs = |pkt: &Packet| verdict(cx.rs, pkt) != later.verdict;
            let pins = Pins {
                after: Some(*i),
                prefer: Some(&differs),
                ..Pins::default()
            };
            let crossed =
                witness::find(cx, topo, &both, pins).map(|p| want(cover, p, rules.clone(), 0));
            for (x, y, first) in [(ci, cj, *i), (cj, ci, *j)] {
                let pins = Pins {
                    after: Some(first),
                    ..Pins::default()
                };
                let found = DIFF_DIMS
                    .iter()
                    .filter_map(|d| x.minus_along(y, *d))
                    .find_map(|part| witness::find(cx, topo, &part, pins).ok());
                if let Some(p) = found {
                    want(cover, p, rules.clone(), 1);
                }
            }
            cover.pairs.push(Pair {
                a: b.at(*i),
                b: b.at(*j),
                crossed,
            });
        }
    }
}

/// A probe the rule decides, and samples of its address sets: per family,
/// the first, middle and last element, a spread of other intervals, and the
/// addresses just outside the first and last.
fn samples(
    cx: &Ctx<'_>,
    at: RuleAt,
    rule: &Rule,
    cube: &Cube,
    topo: &mut Topology,
    cover: &mut Cover,
) {
    let rules = vec![at.clone()];
    // Inside, a packet the verdict would change for without the rule; just
    // outside, one the rule's verdict would change: so a rule one off shows.
    let without = without_rule(cx.rs, &at);
    let needed = |pkt: &Packet| verdict(&without, pkt) != rule.verdict;
    let differs = |pkt: &Packet| verdict(cx.rs, pkt) != rule.verdict;
    let own = Pins {
        after: Some(at.index),
        prefer: Some(&needed),
        ..Pins::default()
    };
    if let Ok(p) = witness::find(cx, topo, cube, own) {
        want(cover, p, rules.clone(), 0);
    }
    for f in [0, 1] {
        let set = &cube.saddr[f];
        let full = Ivs::full(if f == 0 { u32::MAX.into() } else { u128::MAX });
        if !cube.has_family(f) || *set == full {
            continue;
        }
        let ivs = set.intervals();
        let mut inside: Vec<u128> = spread(ivs).iter().map(|iv| iv.lo).collect();
        if let (Some(first), Some(last)) = (ivs.first(), ivs.last()) {
            inside.extend([first.hi, last.hi, mid(ivs)]);
        }
        for v in dedup(inside) {
            let pins = Pins {
                saddr: Some((f, v)),
                ..own
            };
            if let Ok(p) = witness::find(cx, topo, cube, pins) {
                want(cover, p, rules.clone(), 1);
            }
        }
        let mut outside = cube.clone();
        outside.saddr[f] = full;
        just_outside(cx, (&outside, f, set), &rules, &differs, topo, cover);
    }
    dst_samples(cx, (cube, own, &differs), &rules, topo, cover);
}

/// For a rule with `to` nets, per family: probes to the first and last address
/// of its destination set (the host owns them), and with the destination moved
/// just across the set's edges, preferring a packet the rule's verdict would change.
fn dst_samples(
    cx: &Ctx<'_>,
    (cube, own, differs): (&Cube, Pins<'_>, witness::Prefer<'_>),
    rules: &[RuleAt],
    topo: &mut Topology,
    cover: &mut Cover,
) {
    for f in [0, 1] {
        let set = &cube.daddr[f];
        let full = Ivs::full(if f == 0 { u32::MAX.into() } else { u128::MAX });
        if !cube.has_family(f) || *set == full {
            continue;
        }
        let ivs = set.intervals();
        let (Some(first), Some(last)) = (ivs.first(), ivs.last()) else {
            continue;
        };
        let mut outside = cube.clone();
        outside.daddr[f] = full;
        let edges = [
            (cube, Some(first.lo), Some(own.prefer)),
            (cube, Some(last.hi), Some(own.prefer)),
            (&outside, first.lo.checked_sub(1), None),
            (&outside, last.hi.checked_add(1), None),
        ];
        for (region, v, prefer) in edges {
            let Some(v) = v.filter(|v| region == cube || !set.contains(*v)) else {
                continue;
            };
            let pins = Pins {
                daddr: Some((f, v)),
                prefer: prefer.unwrap_or(Some(differs)),
                after: prefer.and(own.after),
                ..Pins::default()
            };
            // The first address may not be the host's: then any of the set's it owns.
            let found = witness::find(cx, topo, region, pins).or_else(|_| {
                let any = Pins {
                    daddr: None,
                    ..pins
                };
                witness::find(cx, topo, region, any)
            });
            if let Ok(p) = found
                && p.dst.is_some()
            {
                want(cover, p, rules.to_vec(), 1);
            }
        }
    }
}

/// The same packets with the source moved just across the set's first and
/// last edge, preferring one the rule's verdict would change.
fn just_outside(
    cx: &Ctx<'_>,
    (outside, f, set): (&Cube, usize, &Ivs),
    rules: &[RuleAt],
    differs: witness::Prefer<'_>,
    topo: &mut Topology,
    cover: &mut Cover,
) {
    let ivs = set.intervals();
    let edges = [
        ivs.first().and_then(|iv| iv.lo.checked_sub(1)),
        ivs.last().and_then(|iv| iv.hi.checked_add(1)),
    ];
    for v in edges
        .into_iter()
        .flatten()
        .filter(|v| !set.contains(*v) && outside.saddr[f].contains(*v))
    {
        let pins = Pins {
            saddr: Some((f, v)),
            prefer: Some(differs),
            ..Pins::default()
        };
        if let Ok(p) = witness::find(cx, topo, outside, pins) {
            want(cover, p, rules.to_vec(), 1);
        }
    }
}

/// The policy's verdict for an input packet.
fn verdict(rs: &Ruleset, pkt: &Packet) -> Option<Verdict> {
    crate::eval::evaluate(rs, Hook::Input, pkt)
        .ok()
        .map(|d| d.verdict)
}

/// The ruleset without one rule (what a missing rule would do).
fn without_rule(rs: &Ruleset, at: &RuleAt) -> Ruleset {
    let mut out = rs.clone();
    if let Some(c) = out.table.chains.iter_mut().find(|c| c.name == at.chain)
        && at.index < c.rules.len()
    {
        c.rules.remove(at.index);
    }
    out
}

/// The first, last and up to `SPREAD` evenly spaced intervals.
fn spread(ivs: &[Interval]) -> Vec<Interval> {
    if ivs.len() <= SPREAD + 2 {
        return ivs.to_vec();
    }
    let last = ivs.len() - 1;
    (0..SPREAD + 2)
        .map(|k| ivs[k * last / (SPREAD + 1)])
        .collect()
}

/// A middle element: the middle of the middle interval.
fn mid(ivs: &[Interval]) -> u128 {
    let m = ivs[ivs.len() / 2];
    m.lo + (m.hi - m.lo) / 2
}

fn dedup(mut v: Vec<u128>) -> Vec<u128> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Boundaries one ruleset draws and the other does not (source addresses
/// and ports): a probe on each side of each, inside the rules drawing it,
/// preferring a packet the two rulesets decide differently.
fn boundary_diffs(
    mine: &Boxes<'_>,
    theirs: &Boxes<'_>,
    named: &[u16],
    topo: &mut Topology,
    cover: &mut Cover,
) {
    let differs = |pkt: &Packet| verdict(mine.rs, pkt) != verdict(theirs.rs, pkt);
    for (from, other) in [(mine, theirs), (theirs, mine)] {
        let cx = Ctx {
            rs: from.rs,
            chain: &from.chain,
            named_ports: named,
        };
        let sides = Sides {
            cx: &cx,
            from,
            other,
            differs: &differs,
        };
        for f in [0, 1] {
            let full = Ivs::full(if f == 0 { u32::MAX.into() } else { u128::MAX });
            sides.probe(
                &|c| c.saddr[f].cuts().collect(),
                &|region, v| {
                    if !region.saddr[f].contains(v) {
                        region.saddr[f] = full.clone();
                    }
                    Some((Some((f, v)), None))
                },
                topo,
                cover,
            );
        }
        sides.probe(
            &|c| c.port.cuts().collect(),
            &|region, v| {
                region.port = Ivs::full(crate::space::PORT_MAX);
                Some((None, Some(u16::try_from(v).ok()?)))
            },
            topo,
            cover,
        );
    }
}

/// Where a boundary's probe goes: the region to search (changed in place)
/// and the pinned (source, port).
type Pin<'p> = &'p dyn Fn(&mut Cube, u128) -> Option<(Option<(usize, u128)>, Option<u16>)>;

/// The boundaries `from` draws in one field that `other` does not.
struct Sides<'a> {
    cx: &'a Ctx<'a>,
    from: &'a Boxes<'a>,
    other: &'a Boxes<'a>,
    differs: witness::Prefer<'a>,
}

impl Sides<'_> {
    fn probe(
        &self,
        cuts: &dyn Fn(&Cube) -> Vec<u128>,
        pin: Pin<'_>,
        topo: &mut Topology,
        cover: &mut Cover,
    ) {
        // Each boundary of `from`, with the first rule drawing it.
        let mut drawn: BTreeMap<u128, usize> = BTreeMap::new();
        for (k, (_, _, c)) in self.from.rules.iter().enumerate() {
            for x in cuts(c) {
                drawn.entry(x).or_insert(k);
            }
        }
        let theirs: BTreeSet<u128> = self
            .other
            .rules
            .iter()
            .flat_map(|(_, _, c)| cuts(c))
            .collect();
        let only = drawn.iter().filter(|(c, _)| !theirs.contains(c));
        for (c, k) in only.take(MAX_DIFF_CUTS) {
            let (i, _, cube) = &self.from.rules[*k];
            for v in [Some(*c), c.checked_sub(1)].into_iter().flatten() {
                let mut region = cube.clone();
                let Some((saddr, port)) = pin(&mut region, v) else {
                    continue;
                };
                let pins = Pins {
                    saddr,
                    port,
                    prefer: Some(self.differs),
                    ..Pins::default()
                };
                if let Ok(p) = witness::find(self.cx, topo, &region, pins) {
                    want(cover, p, vec![self.from.at(*i)], 0);
                }
            }
        }
    }
}
