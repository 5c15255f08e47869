//! The inverse of an in-place change, as `apply --confirm` stores it: what the revert
//! deletes, puts back and makes again, taken from the plan and the table record before
//! the change (never from a read of the whole table), and how the revert checks that
//! our table is still exactly what the change left before it sends the inverse.
//!
//! Pure: the kernel's messages for the rules the change replaces or deletes, and for the
//! chains it removes, come in from `inverse_io`, which reads just those.

use super::delta::{LiveChain, LiveSet, LiveTable, rule_text};
use crate::digest::hex;
use crate::emit::delta::{Delta, RuleOp};
use crate::ir::kernel::{hook_of, policy_of, set_key_of};
use crate::ir::{BaseChain, Interval, Set};
use crate::nft::change::Place;
use crate::nft::vocab::{DataType, InetHook, VerdictCode};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// Everything a revert of one in-place change needs besides the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inverse {
    /// The generation the change was planned at (the table record's).
    pub base: u32,
    /// The table record, rewritten by the change's commit: when it is trusted at the
    /// revert's generation it stands for our table, else our table is read and
    /// compared with it.
    pub record: Option<PathBuf>,
    pub sets: Vec<SetUndo>,
    pub chains: Vec<ChainUndo>,
    /// Sets and chains the change adds: the revert deletes them.
    pub added_sets: Vec<String>,
    pub added_chains: Vec<String>,
    /// Sets and chains the change removes: the revert makes them again.
    pub removed_sets: Vec<SetForm>,
    pub removed_chains: Vec<ChainForm>,
}

/// A set as the table record knows it; `elements` as `lo-hi` in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetForm {
    pub name: String,
    /// nft datatype id of the key.
    pub key: u32,
    pub interval: bool,
    pub comment: Option<String>,
    pub timeout_ms: Option<u64>,
    pub elements: Vec<String>,
}

/// A set that stays: the elements the change adds (deleted by the revert) and removes
/// (added back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetUndo {
    pub form: SetForm,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// A chain that stays and the change's rule operations on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainUndo {
    pub name: String,
    /// How many rules it holds after the change.
    pub new_len: usize,
    pub rules: Vec<RuleUndo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleUndo {
    /// The change inserts the new chain's rule `index` (1-based) with this text; the
    /// revert deletes it, by the handle the kernel gave it.
    Inserted { index: usize, text: String },
    /// The change replaces the rule `handle` (which keeps its handle) by one with the
    /// text `new`; the revert puts the old one (`old`: its dumped message, hex) back.
    Replaced {
        handle: u64,
        new: String,
        index: usize,
        old: String,
    },
    /// The change deletes the rule `handle` (1-based `index` before the change); the
    /// revert inserts `old` again before `anchor`, the first rule after it that stays
    /// (`None`: at the end), in chain order.
    Deleted {
        handle: u64,
        index: usize,
        anchor: Option<u64>,
        old: String,
    },
}

/// A chain the change removes: its registration and its rules' dumped messages (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainForm {
    pub name: String,
    /// Hook number, priority, policy verdict code.
    pub base: Option<(u32, i32, u32)>,
    pub rules: Vec<String>,
}

/// What the inverse needs from the kernel before the change: the dumped message of
/// each rule it replaces or deletes, and of each rule of a chain it removes.
pub trait OldRules {
    fn rule(&mut self, chain: &str, handle: u64) -> Result<Vec<u8>, String>;
    fn chain_rules(&mut self, chain: &str) -> Result<Vec<Vec<u8>>, String>;
}

/// The inverse of `d`, planned from `pre` (our table at `base`); `Err` says why only a
/// copy of the whole table can undo it.
pub fn of_delta(
    pre: &LiveTable,
    d: &Delta,
    base: u32,
    old: &mut dyn OldRules,
) -> Result<Inverse, String> {
    let removed_sets: Vec<&LiveSet> = (pre.sets.iter())
        .filter(|s| d.removed_sets.contains(&s.name))
        .collect();
    let removed_chains: Vec<&LiveChain> = (pre.chains.iter())
        .filter(|c| d.removed_chains.contains(&c.name))
        .collect();
    remade_last("set", pre.sets.iter().map(|s| &s.name), &d.removed_sets)?;
    remade_last(
        "chain",
        pre.chains.iter().map(|c| &c.name),
        &d.removed_chains,
    )?;
    let mut inv = Inverse {
        base,
        record: None,
        sets: (d.elements.iter())
            .map(|e| SetUndo {
                form: form(e.set.name.clone(), e.set.key, e.set.interval, e.set, &[]),
                added: e.added.iter().map(iv_text).collect(),
                removed: e.removed.iter().map(iv_text).collect(),
            })
            .collect(),
        chains: Vec::new(),
        added_sets: d.new_sets.iter().map(|s| s.name.clone()).collect(),
        added_chains: d.new_chains.iter().map(|c| c.name.clone()).collect(),
        removed_sets: removed_sets.iter().map(|s| live_form(s)).collect(),
        removed_chains: Vec::new(),
    };
    for c in removed_chains {
        let rules = old.chain_rules(&c.name)?;
        if rules.len() != c.rules.len() {
            return Err(format!("chain {} holds other rules than recorded", c.name));
        }
        inv.removed_chains.push(ChainForm {
            name: c.name.clone(),
            base: c.base.map(base_raw),
            rules: rules.iter().map(|m| hex(m)).collect(),
        });
    }
    for (chain, ops) in &d.rules {
        if ops.is_empty() {
            continue;
        }
        let live = (pre.chains.iter())
            .find(|c| c.name == *chain)
            .ok_or_else(|| format!("chain {chain} is not in the table record"))?;
        inv.chains.push(chain_undo(live, ops, d, old)?);
    }
    Ok(inv)
}

/// A removed set or chain is made again at the end of its list: exact only when every
/// one that stays came before it.
fn remade_last<'a>(
    kind: &str,
    order: impl Iterator<Item = &'a String>,
    removed: &[String],
) -> Result<(), String> {
    let mut seen_removed = None;
    for name in order {
        match (removed.contains(name), &seen_removed) {
            (true, None) => seen_removed = Some(name.clone()),
            (false, Some(r)) => {
                return Err(format!(
                    "{kind} {r}, which the change removes, comes before {kind} {name}, which \
                     stays: made again it would come last"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn chain_undo(
    live: &LiveChain,
    ops: &[RuleOp],
    d: &Delta,
    old: &mut dyn OldRules,
) -> Result<ChainUndo, String> {
    let deleted: HashSet<u64> = (ops.iter())
        .filter_map(|op| match op {
            RuleOp::Delete { handle, .. } => Some(*handle),
            _ => None,
        })
        .collect();
    let at: HashMap<u64, usize> = (live.rules.iter().enumerate())
        .map(|(i, (h, _))| (*h, i))
        .collect();
    let position = |h: u64| at.get(&h).copied();
    // Per rule, the first rule after it that stays: one backward pass.
    let mut next_kept = vec![None; live.rules.len()];
    let mut kept = None;
    for (i, (h, _)) in live.rules.iter().enumerate().rev() {
        next_kept[i] = kept;
        if !deleted.contains(h) {
            kept = Some(*h);
        }
    }
    let mut rules = Vec::with_capacity(ops.len());
    for op in ops {
        let undo = match op {
            RuleOp::Put {
                place: Place::Replace(h),
                index,
                rule,
            } => RuleUndo::Replaced {
                handle: *h,
                new: rule_text(rule),
                index: position(*h).map_or(*index, |p| p + 1),
                old: hex(&old.rule(&live.name, *h)?),
            },
            RuleOp::Put { index, rule, .. } => RuleUndo::Inserted {
                index: *index,
                text: rule_text(rule),
            },
            RuleOp::Delete { handle, .. } => {
                let p = position(*handle)
                    .ok_or_else(|| format!("rule {handle} is not in chain {}", live.name))?;
                let anchor = next_kept.get(p).copied().flatten();
                RuleUndo::Deleted {
                    handle: *handle,
                    index: p + 1,
                    anchor,
                    old: hex(&old.rule(&live.name, *handle)?),
                }
            }
        };
        rules.push(undo);
    }
    let new_len = (d.rules.iter())
        .find(|(c, _)| *c == live.name)
        .map_or(Some(live.rules.len()), |(_, ops)| {
            let added = (ops.iter())
                .filter(|op| matches!(op, RuleOp::Put { place, .. } if !matches!(place, Place::Replace(_))))
                .count();
            (live.rules.len() + added).checked_sub(deleted.len())
        })
        .ok_or_else(|| format!("chain {} loses more rules than it holds", live.name))?;
    Ok(ChainUndo {
        name: live.name.clone(),
        new_len,
        rules,
    })
}

fn form(
    name: String,
    key: crate::ir::SetKey,
    interval: bool,
    s: &Set,
    els: &[Interval],
) -> SetForm {
    SetForm {
        name,
        key: DataType::from(key).raw(),
        interval,
        comment: s.comment.clone(),
        timeout_ms: s.timeout_ms,
        elements: els.iter().map(iv_text).collect(),
    }
}

fn live_form(s: &LiveSet) -> SetForm {
    SetForm {
        name: s.name.clone(),
        key: DataType::from(s.key).raw(),
        interval: s.interval,
        comment: s.comment.clone(),
        timeout_ms: s.timeout_ms,
        elements: s.elements.iter().map(|iv| iv_text(&iv)).collect(),
    }
}

fn base_raw(b: BaseChain) -> (u32, i32, u32) {
    let policy = VerdictCode::from(b.policy).raw();
    (InetHook::from(b.hook).raw(), b.priority, policy)
}

/// A chain's registration from its stored form.
pub fn base_of(raw: Option<(u32, i32, u32)>) -> Result<Option<BaseChain>, String> {
    match raw {
        None => Ok(None),
        Some((hook, priority, policy)) => Ok(Some(BaseChain {
            hook: hook_of(hook).ok_or("a chain of an unknown hook")?,
            priority,
            policy: policy_of(Some(policy)),
        })),
    }
}

impl SetForm {
    /// The set as the IR makes it, elements included.
    pub fn to_set(&self) -> Result<Set, String> {
        Ok(Set {
            name: self.name.clone(),
            key: set_key_of(self.key).ok_or("a set of an unknown key type")?,
            interval: self.interval,
            elements: intervals(&self.elements)?.into(),
            comment: self.comment.clone(),
            timeout_ms: self.timeout_ms,
            origin: Vec::new(),
        })
    }
}

fn iv_text(iv: &Interval) -> String {
    format!("{:x}-{:x}", iv.lo, iv.hi)
}

/// Intervals from their `lo-hi` hex text.
pub fn intervals(texts: &[String]) -> Result<Vec<Interval>, String> {
    (texts.iter())
        .map(|t| {
            let (lo, hi) = t.split_once('-').ok_or("an element without its end")?;
            let n = |s: &str| u128::from_str_radix(s, 16).map_err(|e| e.to_string());
            Ok(Interval {
                lo: n(lo)?,
                hi: n(hi)?,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "inverse_tests.rs"]
mod tests;
