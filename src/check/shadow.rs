//! Warnings about rule order: a rule an earlier rule fully covers (it never matches), and
//! overlapping ports with different verdicts (the earlier rule wins the overlap).
//!
//! Each rule is compared only with the earlier rules whose traffic can meet its own (found
//! through [`index`]: port ranges in a segment tree per protocol, ICMP per family, and the
//! rules matching anything), in order, until one covers it. The comparisons are budgeted:
//! [`COMPARISONS_PER_RULE`] per rule on average (at least [`MIN_COMPARISONS`] in all), a
//! comparison of address lists costing more by their size. Past the budget the check stops
//! and says so (`W0005`) at the first rule it did not check. A rule gets at most one
//! overlap warning, naming the first earlier rule it overlaps; a shadowed rule (it never
//! matches) is not compared with later rules, the rule covering it already is.

mod index;

use super::codes;
use crate::diag::Diagnostic;
use crate::model::{Addrs, IfName, Proto, Rule, Traffic};
use index::{Index, Key};

/// Budget of rule comparisons per rule of the chain, on average.
pub const COMPARISONS_PER_RULE: usize = 64;
/// Budget of rule comparisons of a chain however few its rules.
pub const MIN_COMPARISONS: usize = 4_000_000;
/// Address lists whose product exceeds this are only compared by network name.
const MAX_ADDR_WORK: usize = 4096;

/// Per-rule ports merged into sorted, non-overlapping ranges per protocol.
struct Prepared<'a> {
    rule: &'a Rule,
    ports: Vec<(Proto, u16, u16)>,
}

impl Prepared<'_> {
    fn key(&self) -> Key<'_> {
        match &self.rule.traffic {
            Traffic::Any => Key::Any,
            Traffic::Ports(_) => Key::Ports(&self.ports),
            Traffic::Icmp { family, .. } => Key::Icmp(*family),
        }
    }
}

pub(crate) fn check(rules: &[Rule]) -> Vec<Diagnostic> {
    let prepared: Vec<Prepared> = rules.iter().map(prepare).collect();
    let mut budget = MIN_COMPARISONS.max(COMPARISONS_PER_RULE.saturating_mul(rules.len()));
    let mut index = Index::default();
    let mut out = Vec::new();
    for (j, b) in prepared.iter().enumerate() {
        let Some(found) = index.candidates(&b.key(), budget) else {
            out.push(stopped(b.rule));
            break;
        };
        let (mut overlapped, mut covered) = (false, false);
        for a in found.iter().map(|&i| &prepared[i as usize]) {
            let cost = 1 + addr_work(a.rule, b.rule) / 64;
            if cost > budget {
                out.push(stopped(b.rule));
                return out;
            }
            budget -= cost;
            crate::work::add(cost as u64);
            // Two model rules from one line (`allow icmp` per family) never shadow each other.
            if a.rule.span == b.rule.span {
                continue;
            }
            if covers(a, b) {
                out.push(shadowed(a.rule, b.rule));
                covered = true;
                break;
            }
            if !overlapped && a.rule.verdict != b.rule.verdict {
                if let Some(o) = port_overlap(a, b).filter(|_| scopes_may_meet(a.rule, b.rule)) {
                    out.push(overlap(a.rule, b.rule, o));
                    overlapped = true;
                }
            }
        }
        // A shadowed rule never matches: later rules are compared with the rule covering
        // it (which covers whatever it covers) instead.
        if !covered {
            index.insert(j as u32, &b.key());
        }
    }
    out
}

/// Elementary address comparisons a rule pair may take (lists past [`MAX_ADDR_WORK`] are
/// compared by name only).
fn addr_work(a: &Rule, b: &Rule) -> usize {
    let one = |x: Option<&Addrs>, y: Option<&Addrs>| match (x, y) {
        (Some(x), Some(y)) => x.nets.len().saturating_mul(y.nets.len()).min(MAX_ADDR_WORK),
        _ => 0,
    };
    one(a.sources.as_ref(), b.sources.as_ref())
        + one(a.destinations.as_ref(), b.destinations.as_ref())
}

fn stopped(r: &Rule) -> Diagnostic {
    Diagnostic::warning(
        codes::ORDER_CHECK_STOPPED,
        r.span,
        "rule order is not checked from this rule on",
    )
    .with_label("the shadow and overlap check stopped here")
    .with_help(format!(
        "the check compares each rule with the earlier rules whose traffic meets its own, \
         within a budget ({COMPARISONS_PER_RULE} comparisons per rule, at least \
         {MIN_COMPARISONS}); this policy needs more: many rules match the same ports or \
         anything, or compare long address lists"
    ))
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
    // A rate-limited rule covers nothing: what exceeds its limit reaches later rules.
    traffic
        && a.rule.limit.is_none()
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
            b.nets.iter().all(|n| a.nets.iter().any(|m| m.contains(n)))
        }
    }
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
        (Some(x), Some(y)) if x.nets.len().saturating_mul(y.nets.len()) <= MAX_ADDR_WORK => {
            x.nets.iter().any(|m| y.nets.iter().any(|n| m.meets(n)))
        }
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

#[cfg(test)]
mod tests {
    use crate::check::{NoIncludes, check};
    use crate::diag::Diagnostic;
    use crate::source::SourceMap;

    fn diags(body: &str) -> Vec<Diagnostic> {
        let mut map = SourceMap::new();
        let f = map.add("p", format!("policy t {{\n{body}}}\n"));
        check(&mut map, f, None, &NoIncludes).1
    }

    fn codes(d: &[Diagnostic], code: &str) -> usize {
        d.iter().filter(|d| d.code == code).count()
    }

    /// Steps a whole check of `body` takes, counted (not timed).
    fn work(body: &str) -> (u64, Vec<Diagnostic>) {
        crate::work::take();
        let d = diags(body);
        (crate::work::take(), d)
    }

    /// n rules where each one after the first 500 repeats an earlier port: every repeat
    /// is found (no silent pair budget), with work growing linearly (issue #8 item 9).
    #[test]
    fn shadow_warnings_for_every_rule_with_linear_work() {
        let body = |n: usize| -> String {
            (0..n)
                .map(|i| format!("allow udp {}\n", 1000 + (i * 7) % 500))
                .collect()
        };
        let (small, d) = work(&body(5_000));
        assert_eq!(codes(&d, "W0002"), 4_500);
        let (large, d) = work(&body(10_000));
        assert_eq!(codes(&d, "W0002"), 9_500);
        assert_eq!(codes(&d, "W0005"), 0);
        assert!(
            large * 10 <= small * 23,
            "work {small} -> {large} for twice the rules"
        );
    }

    /// Rules on distinct ports never meet: doubling them doubles the work, whatever the
    /// number of earlier rules.
    #[test]
    fn disjoint_rules_are_not_compared() {
        let body = |n: usize| -> String {
            (0..n)
                .map(|i| format!("{} tcp {}\n", ["allow", "drop"][i % 2], 1 + i))
                .collect()
        };
        let (small, d) = work(&body(8_000));
        assert!(d.is_empty(), "{d:?}");
        let (large, _) = work(&body(16_000));
        assert!(
            large * 10 <= small * 23,
            "work {small} -> {large} for twice the rules"
        );
    }

    /// Rules that all meet (match anything, different sources) exhaust the budget: the
    /// check stops, says where, and the work stays within the budget.
    #[test]
    fn exhausted_budget_is_reported_once_where_it_stopped() {
        let n = 3_000;
        let body: String = (0..n)
            .map(|i| format!("allow from 10.{}.{}.0/24\n", i / 250, i % 250))
            .collect();
        let (steps, d) = work(&body);
        let stopped: Vec<&Diagnostic> = d.iter().filter(|d| d.code == "W0005").collect();
        assert_eq!(stopped.len(), 1, "{d:?}");
        assert!(
            stopped[0]
                .help
                .as_deref()
                .is_some_and(|h| h.contains("budget"))
        );
        assert!(steps < 3 * super::MIN_COMPARISONS as u64, "{steps}");
    }

    /// One overlap warning per rule, naming the first earlier rule it overlaps.
    #[test]
    fn one_overlap_warning_per_rule() {
        let d = diags("allow tcp 10-20\nallow tcp 15-30\ndrop tcp 18-40\n");
        assert_eq!(codes(&d, "W0003"), 1, "{d:?}");
        assert_eq!(d[0].secondary[0].span.start, 11, "the first rule: {d:?}");
    }

    /// A rate-limited `allow` never shadows a later rule: connections over its limit
    /// reach it (issue #13 item 2).
    #[test]
    fn a_limited_rule_shadows_nothing() {
        let d = diags("allow ssh limit 3/minute\n    allow ssh from 10.0.0.0/8\n    allow ssh");
        assert_eq!(codes(&d, super::codes::SHADOWED), 0, "{d:?}");
        let d = diags("allow ssh\n    allow ssh limit 3/minute");
        assert_eq!(
            codes(&d, super::codes::SHADOWED),
            1,
            "a limited rule can be shadowed"
        );
    }
}
