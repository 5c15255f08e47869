//! Warnings about rule order: a rule an earlier rule fully covers (it never matches), and
//! overlapping ports with different verdicts (the earlier rule wins the overlap).
//!
//! Pairwise, but bounded: each rule's ports are merged once, comparisons bail out on the
//! cheapest dimension first, address lists are compared only when small (or by the same
//! network name), and at most [`MAX_PAIRS`] pairs are examined so a policy with thousands of
//! rules stays fast; past that budget later pairs are not checked.

use super::codes;
use crate::diag::Diagnostic;
use crate::model::{Addrs, IfName, Proto, Rule, Traffic};
use ipnet::IpNet;

/// Upper bound on rule pairs compared (1,000 rules = 500k pairs fit).
pub const MAX_PAIRS: usize = 2_000_000;
/// Address lists whose product exceeds this are only compared by network name.
const MAX_ADDR_WORK: usize = 4096;

/// Per-rule ports merged into sorted, non-overlapping ranges per protocol.
struct Prepared<'a> {
    rule: &'a Rule,
    ports: Vec<(Proto, u16, u16)>,
}

pub(crate) fn check(rules: &[Rule]) -> Vec<Diagnostic> {
    let prepared: Vec<Prepared> = rules.iter().map(prepare).collect();
    let mut out = Vec::new();
    let mut pairs = 0usize;
    'outer: for (j, b) in prepared.iter().enumerate() {
        for a in &prepared[..j] {
            pairs += 1;
            if pairs > MAX_PAIRS {
                break 'outer;
            }
            // Two model rules from one line (`allow icmp` per family) never shadow each other.
            if a.rule.span == b.rule.span {
                continue;
            }
            if covers(a, b) {
                out.push(shadowed(a.rule, b.rule));
                continue 'outer;
            }
            if a.rule.verdict != b.rule.verdict {
                if let Some(o) = port_overlap(a, b).filter(|_| scopes_may_meet(a.rule, b.rule)) {
                    out.push(overlap(a.rule, b.rule, o));
                }
            }
        }
    }
    out
}

fn prepare(rule: &Rule) -> Prepared<'_> {
    let mut ports: Vec<(Proto, u16, u16)> = match &rule.traffic {
        Traffic::Ports(p) => p
            .iter()
            .map(|s| (s.proto, s.range.lo, s.range.hi))
            .collect(),
        _ => Vec::new(),
    };
    ports.sort();
    let mut merged: Vec<(Proto, u16, u16)> = Vec::with_capacity(ports.len());
    for (p, lo, hi) in ports {
        match merged.last_mut() {
            Some(last) if last.0 == p && u32::from(lo) <= u32::from(last.2) + 1 => {
                last.2 = last.2.max(hi)
            }
            _ => merged.push((p, lo, hi)),
        }
    }
    Prepared {
        rule,
        ports: merged,
    }
}

/// Whether every packet `b` matches is matched by `a` too.
fn covers(a: &Prepared, b: &Prepared) -> bool {
    let traffic = match (&a.rule.traffic, &b.rule.traffic) {
        (Traffic::Any, _) => true,
        (Traffic::Ports(_), Traffic::Ports(_)) => b.ports.iter().all(|&(p, lo, hi)| {
            a.ports
                .iter()
                .any(|&(q, alo, ahi)| p == q && alo <= lo && hi <= ahi)
        }),
        (
            Traffic::Icmp {
                family: fa,
                types: ta,
            },
            Traffic::Icmp {
                family: fb,
                types: tb,
            },
        ) => {
            fa == fb
                && match (ta, tb) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(ta), Some(tb)) => tb.iter().all(|t| ta.contains(t)),
                }
        }
        _ => false,
    };
    traffic
        && (!a.rule.established_only || b.rule.established_only)
        && ifaces_cover(&a.rule.iif, &b.rule.iif)
        && ifaces_cover(&a.rule.oif, &b.rule.oif)
        && addrs_cover(a.rule.sources.as_ref(), b.rule.sources.as_ref())
        && addrs_cover(a.rule.destinations.as_ref(), b.rule.destinations.as_ref())
}

fn ifaces_cover(a: &[IfName], b: &[IfName]) -> bool {
    if a.is_empty() {
        return true;
    }
    !b.is_empty() && b.iter().all(|x| a.iter().any(|y| iface_covers(y, x)))
}

fn iface_covers(a: &IfName, b: &IfName) -> bool {
    if a.wildcard {
        b.name.starts_with(&a.name)
    } else {
        !b.wildcard && a.name == b.name
    }
}

fn addrs_cover(a: Option<&Addrs>, b: Option<&Addrs>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => {
            if a.name.is_some() && a.name == b.name {
                return true;
            }
            if a.nets.len().saturating_mul(b.nets.len()) > MAX_ADDR_WORK {
                return false;
            }
            b.nets
                .iter()
                .all(|n| a.nets.iter().any(|m| net_contains(m, n)))
        }
    }
}

fn net_contains(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b)
}

/// The first overlapping port range of two port rules, if any.
fn port_overlap(a: &Prepared, b: &Prepared) -> Option<(Proto, u16, u16)> {
    for &(p, lo, hi) in &b.ports {
        for &(q, alo, ahi) in &a.ports {
            if p == q && lo <= ahi && alo <= hi {
                return Some((p, lo.max(alo), hi.min(ahi)));
            }
        }
    }
    None
}

/// Whether some packet could match both rules' addresses and interfaces (conservative: only
/// says no when that is certain and cheap to know).
fn scopes_may_meet(a: &Rule, b: &Rule) -> bool {
    let addrs = |x: Option<&Addrs>, y: Option<&Addrs>| match (x, y) {
        (Some(x), Some(y)) if x.nets.len().saturating_mul(y.nets.len()) <= MAX_ADDR_WORK => x
            .nets
            .iter()
            .any(|m| y.nets.iter().any(|n| m.contains(n) || n.contains(m))),
        _ => true,
    };
    let ifs = |x: &[IfName], y: &[IfName]| {
        x.is_empty()
            || y.is_empty()
            || x.iter()
                .any(|m| y.iter().any(|n| iface_covers(m, n) || iface_covers(n, m)))
    };
    addrs(a.sources.as_ref(), b.sources.as_ref())
        && addrs(a.destinations.as_ref(), b.destinations.as_ref())
        && ifs(&a.iif, &b.iif)
        && ifs(&a.oif, &b.oif)
}

fn shadowed(a: &Rule, b: &Rule) -> Diagnostic {
    let help = if a.verdict == b.verdict {
        "the later rule adds nothing; delete it"
    } else {
        "if the later rule is meant as an exception, move it above the earlier one"
    };
    Diagnostic::warning(
        codes::SHADOWED,
        b.span,
        "rule is shadowed by an earlier rule",
    )
    .with_label("never matches")
    .with_secondary(a.span, "this earlier rule matches all of its traffic first")
    .with_help(help)
}

/// Whether a rule matches only part of the traffic on its ports.
fn narrower(r: &Rule) -> bool {
    r.sources.is_some()
        || r.destinations.is_some()
        || !r.iif.is_empty()
        || !r.oif.is_empty()
        || r.established_only
}

fn overlap(a: &Rule, b: &Rule, (p, lo, hi): (Proto, u16, u16)) -> Diagnostic {
    let ports = if lo == hi {
        format!("{} {lo}", p.name())
    } else {
        format!("{} {lo}-{hi}", p.name())
    };
    Diagnostic::warning(
        codes::OVERLAP,
        b.span,
        format!("ports overlap with an earlier rule that has a different verdict ({ports})"),
    )
    .with_label(if narrower(a) {
        // The earlier rule only decides for its own sources/interfaces/state.
        "where the earlier rule also matches, these ports never reach this rule"
    } else {
        "the overlapping ports never reach this rule"
    })
    .with_secondary(a.span, "the earlier rule decides these ports")
    .with_help(if narrower(a) {
        "an exception for some sources or interfaces belongs first, as here; if that is the intent, nothing needs changing"
    } else {
        "make the ranges disjoint, or order the rules so the exception comes first"
    })
}
