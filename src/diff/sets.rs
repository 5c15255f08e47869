//! Set comparison: type and flags, then elements as interval arithmetic.

use super::{Change, Kind, change};
use crate::emit::text;
use crate::ir::{self, AddrMatch, Chain, Interval, Match, PortMatch, Set, SetKey, TypeMatch};
use std::collections::HashMap;

/// Compares the sets; element changes name the services of the rules that use the set.
pub(super) fn sets(expected: &[Set], actual: &[Set], chains: &[Chain], out: &mut Vec<Change>) {
    let services = services(chains);
    let from = out.len();
    compare(expected, actual, out);
    for c in &mut out[from..] {
        let name = c.object.strip_prefix("set ").unwrap_or_default();
        if matches!(c.kind, Kind::ElementMissing | Kind::ElementExtra) {
            c.service = services.get(name).cloned();
        }
    }
}

/// Set name -> the comments (policy services) of the rules that look it up.
fn services(chains: &[Chain]) -> HashMap<&str, String> {
    let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in chains.iter().flat_map(|c| &c.rules) {
        let Some(comment) = r.comment.as_deref() else {
            continue;
        };
        for m in &r.matches {
            let set = match m {
                Match::Saddr(AddrMatch::Set4(s) | AddrMatch::Set6(s))
                | Match::Daddr(AddrMatch::Set4(s) | AddrMatch::Set6(s))
                | Match::Dport(_, PortMatch::Set(s))
                | Match::IcmpType(TypeMatch::Set(s))
                | Match::Icmpv6Type(TypeMatch::Set(s)) => s.as_str(),
                _ => continue,
            };
            let names = out.entry(set).or_default();
            if !names.contains(&comment) {
                names.push(comment);
            }
        }
    }
    out.into_iter().map(|(k, v)| (k, v.join(", "))).collect()
}

fn compare(expected: &[Set], actual: &[Set], out: &mut Vec<Change>) {
    for e in expected {
        let obj = format!("set {}", e.name);
        let Some(a) = actual.iter().find(|a| a.name == e.name) else {
            out.push(change(Kind::SetMissing, &obj, Some(set_head(e)), None));
            continue;
        };
        if a.key != e.key || a.interval != e.interval || a.timeout_ms != e.timeout_ms {
            out.push(change(
                Kind::SetType,
                &obj,
                Some(set_head(e)),
                Some(set_head(a)),
            ));
            continue;
        }
        elements(e, a, out);
    }
    for a in actual {
        if !expected.iter().any(|e| e.name == a.name) {
            out.push(change(
                Kind::SetExtra,
                &format!("set {}", a.name),
                None,
                Some(set_head(a)),
            ));
        }
    }
}

fn set_head(s: &Set) -> String {
    let dynamic = match s.timeout_ms {
        Some(ms) => format!(", flags dynamic,timeout, timeout {}s", ms / 1000),
        None => String::new(),
    };
    format!(
        "type {}{}{dynamic}, {} elements",
        s.key.name(),
        if s.interval { ", flags interval" } else { "" },
        s.elements.len()
    )
}

/// Element differences as interval arithmetic, so a kernel that split or merged
/// ranges differently still compares equal.
fn elements(e: &Set, a: &Set, out: &mut Vec<Change>) {
    let mut want = e.elements.to_vec();
    let mut have = a.elements.to_vec();
    ir::normalize_intervals(&mut want);
    ir::normalize_intervals(&mut have);
    let obj = format!("set {}", e.name);
    for iv in subtract(&want, &have) {
        out.push(change(
            Kind::ElementMissing,
            &obj,
            Some(element_text(e.key, iv)),
            None,
        ));
    }
    for iv in subtract(&have, &want) {
        out.push(change(
            Kind::ElementExtra,
            &obj,
            None,
            Some(element_text(a.key, iv)),
        ));
    }
}

fn element_text(key: SetKey, iv: Interval) -> String {
    let mut s = String::new();
    text::element(&mut s, key, iv);
    s
}

/// `a \ b` for sorted, merged interval lists, in one linear pass.
pub fn subtract(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut j = 0;
    for iv in a {
        let mut lo = iv.lo;
        let hi = iv.hi;
        while j < b.len() && b[j].hi < lo {
            j += 1;
        }
        let mut k = j;
        let mut done = false;
        while k < b.len() && b[k].lo <= hi {
            if b[k].lo > lo {
                out.push(Interval {
                    lo,
                    hi: b[k].lo - 1,
                });
            }
            if b[k].hi >= hi {
                done = true;
                break;
            }
            lo = b[k].hi + 1;
            k += 1;
        }
        if !done {
            out.push(Interval { lo, hi });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dynamic set whose timeout differs is a changed set type, not equal (issue #13 item 2,
    /// per-source limits: the refill time is policy).
    #[test]
    fn a_dynamic_sets_timeout_is_compared() {
        let set = |ms| Set {
            name: "s".into(),
            key: SetKey::Ipv4Addr,
            interval: false,
            elements: Default::default(),
            comment: None,
            timeout_ms: ms,
            origin: Vec::new(),
        };
        let mut out = Vec::new();
        compare(&[set(Some(30_000))], &[set(Some(30_000))], &mut out);
        assert!(out.is_empty());
        compare(&[set(Some(30_000))], &[set(Some(60_000))], &mut out);
        compare(&[set(Some(30_000))], &[set(None)], &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|c| c.kind == Kind::SetType), "{out:?}");
        assert!(format!("{out:?}").contains("timeout 60s"), "{out:?}");
    }
}
