//! Set comparison: type and flags, then elements as interval arithmetic.

use super::{Change, Kind, change};
use crate::emit::text;
use crate::ir::{self, Interval, Set, SetKey};

pub(super) fn sets(expected: &[Set], actual: &[Set], out: &mut Vec<Change>) {
    for e in expected {
        let obj = format!("set {}", e.name);
        let Some(a) = actual.iter().find(|a| a.name == e.name) else {
            out.push(change(Kind::SetMissing, &obj, Some(set_head(e)), None));
            continue;
        };
        if a.key != e.key || a.interval != e.interval {
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
    format!(
        "type {}{}, {} elements",
        s.key.name(),
        if s.interval { ", flags interval" } else { "" },
        s.elements.len()
    )
}

/// Element differences as interval arithmetic, so a kernel that split or merged
/// ranges differently still compares equal.
fn elements(e: &Set, a: &Set, out: &mut Vec<Change>) {
    let mut want = e.elements.clone();
    let mut have = a.elements.clone();
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
