//! Whether our table is still exactly what an in-place change left, judged against the
//! change's [`Inverse`], and the inverse resolved against it: the handles the kernel
//! gave the inserted rules, the sets and chains to make again. Pure.

use super::delta::LiveTable;
use super::inverse::{ChainUndo, Inverse, RuleUndo, SetUndo, base_of, intervals};
use crate::digest::unhex;
use crate::emit::delta::{ElementChange, Undo, UndoChain, UndoRule};
use crate::ir::Set;
use crate::nft::change::Place;
use std::collections::HashMap;

/// The inverse with every handle and object it needs, owned.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Sets whose elements change back (their elements empty) and the change.
    pub element_sets: Vec<(Set, Vec<crate::ir::Interval>, Vec<crate::ir::Interval>)>,
    /// Sets made again, with their elements.
    pub sets: Vec<Set>,
    pub chains: Vec<UndoChain>,
    pub rules: Vec<(String, Vec<UndoRule>)>,
    pub drop_chains: Vec<String>,
    pub drop_sets: Vec<String>,
}

impl Resolved {
    /// Whether it changes nothing (a change of sysctls only): no batch is sent.
    pub fn is_empty(&self) -> bool {
        (self.element_sets.iter()).all(|(_, removed, added)| removed.is_empty() && added.is_empty())
            && self.sets.is_empty()
            && self.chains.is_empty()
            && self.rules.iter().all(|(_, ops)| ops.is_empty())
            && self.drop_chains.is_empty()
            && self.drop_sets.is_empty()
    }

    /// The batch's view of it.
    pub fn undo<'a>(&'a self, table: &'a str) -> Undo<'a> {
        Undo {
            table,
            sets: self.sets.iter().collect(),
            chains: self.chains.iter().collect(),
            elements: (self.element_sets.iter())
                .map(|(set, removed, added)| ElementChange {
                    set,
                    removed: removed.clone(),
                    added: added.clone(),
                })
                .collect(),
            rules: (self.rules.iter())
                .map(|(c, ops)| (c.as_str(), ops.clone()))
                .collect(),
            drop_chains: self.drop_chains.iter().map(String::as_str).collect(),
            drop_sets: self.drop_sets.iter().map(String::as_str).collect(),
        }
    }
}

/// The inverse of `inv` against `cur`, our table now; `Err` says how `cur` differs from
/// what the change left (someone else changed it, or the change never committed).
pub fn resolve(inv: &Inverse, cur: &LiveTable) -> Result<Resolved, String> {
    let has_set = |n: &str| cur.sets.iter().any(|s| s.name == n);
    let has_chain = |n: &str| cur.chains.iter().any(|c| c.name == n);
    let mut r = Resolved::default();
    for n in &inv.added_sets {
        if !has_set(n) {
            return Err(format!("set {n}, which the change added, is gone"));
        }
        r.drop_sets.push(n.clone());
    }
    for n in &inv.added_chains {
        if !has_chain(n) {
            return Err(format!("chain {n}, which the change added, is gone"));
        }
        r.drop_chains.push(n.clone());
    }
    for s in &inv.removed_sets {
        if has_set(&s.name) {
            return Err(format!("set {}, which the change removed, exists", s.name));
        }
        r.sets.push(s.to_set()?);
    }
    for c in &inv.removed_chains {
        if has_chain(&c.name) {
            return Err(format!(
                "chain {}, which the change removed, exists",
                c.name
            ));
        }
        let rules = (c.rules.iter())
            .map(|m| unhex(m).ok_or("a rule message is not hex"))
            .collect::<Result<_, _>>()?;
        r.chains.push(UndoChain {
            name: c.name.clone(),
            base: base_of(c.base)?,
            rules,
        });
    }
    for s in &inv.sets {
        r.element_sets.push(elements(s, cur)?);
    }
    for c in &inv.chains {
        r.rules.push((c.name.clone(), rules(c, cur)?));
    }
    Ok(r)
}

/// A set that stays: every element the change added is there, none it removed is.
fn elements(
    s: &SetUndo,
    cur: &LiveTable,
) -> Result<(Set, Vec<crate::ir::Interval>, Vec<crate::ir::Interval>), String> {
    let set = s.form.to_set()?;
    let live = (cur.sets.iter())
        .find(|l| l.name == set.name)
        .ok_or_else(|| format!("set {} is gone", set.name))?;
    if live.key != set.key || live.interval != set.interval || live.timeout_ms != set.timeout_ms {
        return Err(format!("set {} changed its type or flags", set.name));
    }
    let (added, removed) = (intervals(&s.added)?, intervals(&s.removed)?);
    let holds = |iv: &crate::ir::Interval| live.elements.contains(iv);
    if let Some(iv) = added.iter().find(|iv| !holds(iv)) {
        return Err(format!(
            "set {} lacks an element the change added ({:x}-{:x})",
            set.name, iv.lo, iv.hi
        ));
    }
    if let Some(iv) = removed.iter().find(|iv| holds(iv)) {
        return Err(format!(
            "set {} holds an element the change removed ({:x}-{:x})",
            set.name, iv.lo, iv.hi
        ));
    }
    // Undoing: the added ones go, the removed ones come back.
    Ok((set, added, removed))
}

/// A chain that stays: its rules where the change put them, and the operations that
/// put the old ones back.
fn rules(c: &ChainUndo, cur: &LiveTable) -> Result<Vec<UndoRule>, String> {
    let chain = (cur.chains.iter())
        .find(|l| l.name == c.name)
        .ok_or_else(|| format!("chain {} is gone", c.name))?;
    if chain.rules.len() != c.new_len {
        return Err(format!(
            "chain {} holds {} rules, the change left {}",
            c.name,
            chain.rules.len(),
            c.new_len
        ));
    }
    let by_handle: HashMap<u64, &str> = (chain.rules.iter())
        .map(|(h, t)| (*h, t.as_str()))
        .collect();
    let has = |h: u64| by_handle.contains_key(&h);
    let msg = |m: &str| unhex(m).ok_or_else(|| "a rule message is not hex".to_string());
    let mut ops = Vec::with_capacity(c.rules.len());
    for u in &c.rules {
        ops.push(match u {
            RuleUndo::Inserted { index, text } => {
                match index.checked_sub(1).and_then(|i| chain.rules.get(i)) {
                    Some((h, t)) if t == text => UndoRule::Delete(*h),
                    _ => {
                        return Err(format!(
                            "rule {index} of chain {} is not the one the change inserted",
                            c.name
                        ));
                    }
                }
            }
            RuleUndo::Replaced {
                handle,
                new,
                index,
                old,
            } => {
                if by_handle.get(handle) != Some(&new.as_str()) {
                    return Err(format!(
                        "rule {handle} of chain {} is not the one the change put there",
                        c.name
                    ));
                }
                UndoRule::Replay {
                    place: Place::Replace(*handle),
                    index: *index,
                    msg: msg(old)?,
                }
            }
            RuleUndo::Deleted {
                handle,
                index,
                anchor,
                old,
            } => {
                if has(*handle) || anchor.is_some_and(|a| !has(a)) {
                    return Err(format!(
                        "chain {} is not as the change left it around rule {handle}",
                        c.name
                    ));
                }
                UndoRule::Replay {
                    place: anchor.map_or(Place::Append, Place::Before),
                    index: *index,
                    msg: msg(old)?,
                }
            }
        });
    }
    Ok(ops)
}
