//! Whether an in-place change is already undone: our table holds, at every place the
//! change touched, what was there before it (its added sets and chains gone, its
//! removed ones back with their elements and rules, its element changes undone, each
//! rule it replaced or deleted back at its old position, the chain as long as before).
//! A revert that finds this (its inverse committed, then the process died or the reply
//! was lost before the sysctls) finishes the sysctls instead of refusing.

use super::delta::LiveTable;
use super::inverse::{Inverse, RuleUndo, intervals};
use crate::digest::unhex;
use crate::ir::SetKey;
use crate::nft::read;
use std::collections::HashMap;

/// Whether `cur` is the table before the change `inv` undoes, where the change
/// touched it. `false` whenever anything cannot be decoded.
pub fn undone(inv: &Inverse, cur: &LiveTable) -> bool {
    check(inv, cur).is_some()
}

fn check(inv: &Inverse, cur: &LiveTable) -> Option<()> {
    if !cur.foreign.is_empty() {
        return None;
    }
    let set = |n: &str| cur.sets.iter().find(|s| s.name == n);
    let chain = |n: &str| cur.chains.iter().find(|c| c.name == n);
    let keys: HashMap<String, SetKey> =
        (cur.sets.iter()).map(|s| (s.name.clone(), s.key)).collect();
    let text = |hex: &str| rule_text(hex, &keys);
    if inv.added_sets.iter().any(|n| set(n).is_some())
        || inv.added_chains.iter().any(|n| chain(n).is_some())
    {
        return None;
    }
    for f in &inv.removed_sets {
        let s = set(&f.name)?;
        (s.elements.iter().eq(intervals(&f.elements).ok()?)).then_some(())?;
    }
    for f in &inv.removed_chains {
        let c = chain(&f.name)?;
        (c.rules.len() == f.rules.len()).then_some(())?;
        for ((_, t), m) in c.rules.iter().zip(&f.rules) {
            (Some(t) == text(m).as_ref()).then_some(())?;
        }
    }
    for u in &inv.sets {
        let s = set(&u.form.name)?;
        let holds = |iv| s.elements.contains(iv);
        let (added, removed) = (intervals(&u.added).ok()?, intervals(&u.removed).ok()?);
        (added.iter().all(|iv| !holds(iv)) && removed.iter().all(holds)).then_some(())?;
    }
    for c in &inv.chains {
        let live = chain(&c.name)?;
        let (mut inserted, mut deleted) = (0usize, 0usize);
        for u in &c.rules {
            let (index, old) = match u {
                RuleUndo::Inserted { .. } => {
                    inserted += 1;
                    continue;
                }
                RuleUndo::Replaced { index, old, .. } => (index, old),
                RuleUndo::Deleted { index, old, .. } => {
                    deleted += 1;
                    (index, old)
                }
            };
            let (_, t) = live.rules.get(index.checked_sub(1)?)?;
            (Some(t) == text(old).as_ref()).then_some(())?;
        }
        let before = c.new_len.checked_sub(inserted)?.checked_add(deleted)?;
        (live.rules.len() == before).then_some(())?;
    }
    Some(())
}

/// The text a dumped rule message (hex) reads back as, as our table's read gives it.
fn rule_text(hex: &str, keys: &HashMap<String, SetKey>) -> Option<String> {
    let raw = read::parse_rule(&unhex(hex)?).ok()?;
    Some(super::delta::rule_text(&crate::live::decode_rule(
        &raw, keys,
    )))
}
