//! Rule comparison by content: a longest common subsequence keeps what is in place, the
//! rest is moved, changed within its gap, missing or added.

use super::{Change, Kind, change};
use crate::emit::text;
use crate::ir::Rule;

pub(super) fn rule_text(r: &Rule) -> String {
    let mut s = String::new();
    text::rule(&mut s, r);
    s
}

/// Rules matched by content, not position: a longest common subsequence keeps what is
/// in place; between two kept rules, a rule whose text is elsewhere in the chain moved,
/// the rest pair up in order as changed, and what is left over is missing or added. One
/// inserted rule is one change, whatever follows it.
pub(super) fn rules(chain: &str, expected: &[Rule], actual: &[Rule], out: &mut Vec<Change>) {
    let e: Vec<String> = expected.iter().map(rule_text).collect();
    let a: Vec<String> = actual.iter().map(rule_text).collect();
    let (in_e, in_a) = lcs_marks(&e, &a);
    let obj = format!("chain {chain}");
    let mut unmatched_a: Vec<usize> = (0..a.len()).filter(|j| !in_a[*j]).collect();
    // Moved first: the same text on both sides, out of order.
    let mut gaps_e: Vec<usize> = Vec::new();
    for i in (0..e.len()).filter(|i| !in_e[*i]) {
        match unmatched_a.iter().position(|j| a[*j] == e[i]) {
            Some(pos) => {
                let j = unmatched_a.remove(pos);
                out.push(Change {
                    position: Some(j + 1),
                    service: expected[i].comment.clone(),
                    ..change(
                        Kind::RuleMoved,
                        &obj,
                        Some(format!("{} (position {})", e[i], i + 1)),
                        Some(format!("{} (position {})", a[j], j + 1)),
                    )
                });
            }
            None => gaps_e.push(i),
        }
    }
    // The gap each unmatched rule sits in: how many kept rules come before it.
    let before = |marks: &[bool]| -> Vec<usize> {
        (marks.iter())
            .scan(0, |n, m| {
                let here = *n;
                *n += usize::from(*m);
                Some(here)
            })
            .collect()
    };
    let (before_e, before_a) = (before(&in_e), before(&in_a));
    let mut added = Vec::new();
    let mut k = 0;
    for i in gaps_e {
        let g = before_e[i];
        while k < unmatched_a.len() && before_a[unmatched_a[k]] < g {
            added.push(unmatched_a[k]);
            k += 1;
        }
        let service = expected[i].comment.clone();
        if k < unmatched_a.len() && before_a[unmatched_a[k]] == g {
            let j = unmatched_a[k];
            k += 1;
            out.push(Change {
                position: Some(i + 1),
                service,
                ..change(
                    Kind::RuleChanged,
                    &obj,
                    Some(e[i].clone()),
                    Some(a[j].clone()),
                )
            });
            continue;
        }
        out.push(Change {
            position: Some(i + 1),
            service,
            ..change(Kind::RuleMissing, &obj, Some(e[i].clone()), None)
        });
    }
    added.extend(&unmatched_a[k..]);
    for j in added {
        out.push(Change {
            position: Some(j + 1),
            ..change(Kind::RuleAdded, &obj, None, Some(a[j].clone()))
        });
    }
}

/// Which entries of each side belong to a longest common subsequence.
/// Quadratic in rule counts; chains compiled by hostwall stay small (sets carry the bulk).
/// Past a size bound it matches the common prefix and suffix only, still exact for
/// the usual hand edits (one rule appended, inserted or deleted).
pub(crate) fn lcs_marks(e: &[String], a: &[String]) -> (Vec<bool>, Vec<bool>) {
    let (n, m) = (e.len(), a.len());
    let mut in_e = vec![false; n];
    let mut in_a = vec![false; m];
    let mut pre = 0;
    while pre < n && pre < m && e[pre] == a[pre] {
        in_e[pre] = true;
        in_a[pre] = true;
        pre += 1;
    }
    let mut suf = 0;
    while suf < n - pre && suf < m - pre && e[n - 1 - suf] == a[m - 1 - suf] {
        in_e[n - 1 - suf] = true;
        in_a[m - 1 - suf] = true;
        suf += 1;
    }
    let (e2, a2) = (&e[pre..n - suf], &a[pre..m - suf]);
    if e2.is_empty() || a2.is_empty() || e2.len() * a2.len() > 4_000_000 {
        return (in_e, in_a);
    }
    let (n2, m2) = (e2.len(), a2.len());
    let mut t = vec![0u32; (n2 + 1) * (m2 + 1)];
    for i in (0..n2).rev() {
        for j in (0..m2).rev() {
            t[i * (m2 + 1) + j] = if e2[i] == a2[j] {
                t[(i + 1) * (m2 + 1) + j + 1] + 1
            } else {
                t[(i + 1) * (m2 + 1) + j].max(t[i * (m2 + 1) + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n2 && j < m2 {
        if e2[i] == a2[j] {
            in_e[pre + i] = true;
            in_a[pre + j] = true;
            i += 1;
            j += 1;
        } else if t[(i + 1) * (m2 + 1) + j] >= t[i * (m2 + 1) + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    (in_e, in_a)
}
