//! The kernel's rule handles after an in-place change, without a dump of every rule:
//! the live table's handles, less the rules deleted, with the handle the kernel echoed
//! for each rule the batch put (`NLM_F_ECHO`, asked by `Batch::echo_rules` for up to
//! [`ECHO_MAX`] rules and read back as `nft::client::Drained::echoed`; the client takes
//! the request back when its receive queue cannot hold the echoes) at the place it was
//! put. What the table record of the commit is written with, so that
//! recording a one-rule change costs one rule, not a dump of the chain (10,000 rules:
//! 24 ms, the kernel walking the chain again for each 32 KiB it sends).
//!
//! A full replace is recorded from a dump: an echo costs the kernel about as much as the
//! dump of the rule (10,000 rules: 20 ms more in the commit, which holds the commit lock
//! every other program's change waits for, against 24 ms of dump after it).
//!
//! Planned before the batch is sent ([`Slots::plan`]), from the live table the delta was
//! planned from, and checked there: every put rule lands at its index in the new chain
//! and every chain comes out as long as the policy's. Filled in from the echoes after
//! the commit ([`Slots::fill`]); a rule put without an echo leaves nothing to write
//! the record from, and the caller dumps the rules as before.

use super::delta::{self, LiveChain};
use crate::emit::delta::{Delta, RuleOp};
use crate::emit::netlink::{Batch, BatchPart};
use crate::ir::Ruleset;
use crate::nft::change::Place;
use std::collections::HashMap;

/// Rules an in-place change asks the kernel to echo, at most; past it the record is
/// written from a dump (an echo costs the commit about what a dump of the rule costs).
pub(super) const ECHO_MAX: usize = 1 << 12;

/// One rule of the new table: a live rule that stays, with its handle and text, or the
/// rule the batch puts at this 1-based index of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    Live(u64, String),
    Put(usize),
}

/// Every chain of the new table, in its order, as slots.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Slots(Vec<(String, Vec<Slot>)>);

impl Slots {
    /// The slots of `new` once `d`, planned from the live table's `live` chains (taken:
    /// their texts are the kept rules'), is committed; `None` when the operations do not
    /// line up with the policy's chains (never for a delta of `delta::plan`: a check,
    /// not a path).
    pub(super) fn plan(live: Vec<LiveChain>, d: &Delta, new: &Ruleset) -> Option<Slots> {
        let mut live_chain: HashMap<String, Vec<(u64, String)>> =
            live.into_iter().map(|c| (c.name, c.rules)).collect();
        let ops: HashMap<&str, &[RuleOp]> = (d.rules.iter())
            .map(|(c, ops)| (*c, ops.as_slice()))
            .collect();
        let mut chains = Vec::with_capacity(new.table.chains.len());
        for c in &new.table.chains {
            let name = c.name.as_str();
            let slots = if d.new_chains.iter().any(|n| n.name == c.name) {
                (1..=c.rules.len()).map(Slot::Put).collect()
            } else {
                let live = live_chain.remove(name)?;
                after(live, ops.get(name).copied().unwrap_or_default())?
            };
            if slots.len() != c.rules.len() {
                return None;
            }
            let misplaced =
                (slots.iter().enumerate()).any(|(i, s)| matches!(s, Slot::Put(at) if *at != i + 1));
            if misplaced {
                return None;
            }
            chains.push((c.name.clone(), slots));
        }
        Some(Slots(chains))
    }

    /// The chains of `new` (the policy the slots were planned for) as the commit left
    /// them, the put rules' handles read from `echoed` ((sequence number, handle), as
    /// `Drained::echoed`) through the messages of `batch`; `None` when a put rule was
    /// not echoed. Only the put rules' texts are made.
    pub(super) fn fill(
        self,
        new: &Ruleset,
        batch: &Batch,
        echoed: &[(u32, u64)],
    ) -> Option<Vec<LiveChain>> {
        let mut put: HashMap<(&str, usize), u64> = HashMap::with_capacity(echoed.len());
        for &(seq, handle) in echoed {
            if let Some(BatchPart::Rule { chain, index }) = batch.message(seq).map(|m| &m.what) {
                put.insert((chain.as_str(), *index), handle);
            }
        }
        let mut out = Vec::with_capacity(self.0.len());
        for ((name, slots), chain) in self.0.into_iter().zip(&new.table.chains) {
            let mut rules = Vec::with_capacity(slots.len());
            for slot in slots {
                rules.push(match slot {
                    Slot::Live(h, text) => (h, text),
                    Slot::Put(at) => (
                        *put.get(&(name.as_str(), at))?,
                        delta::rule_text(chain.rules.get(at - 1)?),
                    ),
                });
            }
            out.push(LiveChain {
                name,
                base: chain.base,
                rules,
            });
        }
        Some(out)
    }
}

/// A live chain's rules once `ops` (in the order they are sent) are done: each kept
/// rule stays; a deleted one goes; a replaced one's slot is the rule put in its place;
/// a rule put before a handle comes right before it (after those put there earlier),
/// and one appended, at the end.
fn after(live: Vec<(u64, String)>, ops: &[RuleOp]) -> Option<Vec<Slot>> {
    let at: HashMap<u64, usize> = (live.iter().enumerate())
        .map(|(i, (h, _))| (*h, i))
        .collect();
    let mut gone = vec![false; live.len()];
    let mut instead: Vec<Option<usize>> = vec![None; live.len()];
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); live.len()];
    let mut appended = Vec::new();
    for op in ops {
        match op {
            RuleOp::Delete { handle, .. } => gone[*at.get(handle)?] = true,
            RuleOp::Put { place, index, .. } => match place {
                Place::Append => appended.push(*index),
                Place::Before(h) => before[*at.get(h)?].push(*index),
                Place::Replace(h) => {
                    let i = *at.get(h)?;
                    if instead[i].replace(*index).is_some() || gone[i] {
                        return None;
                    }
                }
            },
        }
    }
    let mut out = Vec::with_capacity(live.len() + appended.len());
    for (i, (h, text)) in live.into_iter().enumerate() {
        out.extend(before[i].iter().map(|&k| Slot::Put(k)));
        match (gone[i], instead[i]) {
            (true, _) => {}
            (false, Some(k)) => out.push(Slot::Put(k)),
            (false, None) => out.push(Slot::Live(h, text)),
        }
    }
    out.extend(appended.into_iter().map(Slot::Put));
    Some(out)
}

#[cfg(test)]
#[path = "handles_tests.rs"]
mod tests;
