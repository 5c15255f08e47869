//! An in-place change of our table -> one nf_tables netlink batch (pure: bytes out).
//!
//! `apply::delta` decides what changes; this writes it, in an order the kernel accepts
//! within one transaction: new sets (with their elements) and chains first, then set
//! elements removed and added, rule deletions, replacements and insertions by handle,
//! and last the chains and sets no longer used. Every message is recorded like a full
//! batch's, so a kernel error reply maps back to a policy line.

use super::netlink::{
    Batch, BatchOptions, BatchPart, Builder, EmitError, base_spec, invalid, lower_rule,
};
use crate::ir::{Chain, Interval, Rule, Set};
use crate::nft::change::Place;
use crate::nft::vocab::DataType;
use crate::nft::wire::{Elem, ElemStream, SetSpec};
use std::collections::HashMap;

/// Elements added to and removed from one set that stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementChange<'a> {
    /// The set as the policy makes it (name, key, flags, origin).
    pub set: &'a Set,
    /// Exactly the kernel's elements to remove (whole intervals as stored).
    pub removed: Vec<Interval>,
    pub added: Vec<Interval>,
}

/// What happens to one rule of a chain that stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleOp<'a> {
    /// The live rule with this handle goes; `text` is its nft text.
    Delete { handle: u64, text: String },
    /// The new rule `rule` (1-based `index` in the new chain) is put at `place`.
    Put {
        place: Place,
        index: usize,
        rule: &'a Rule,
    },
}

/// Every change of one incremental apply, in the policy's objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta<'a> {
    pub table: &'a str,
    /// Sets and chains the live table lacks: made with all their elements and rules.
    pub new_sets: Vec<&'a Set>,
    pub new_chains: Vec<&'a Chain>,
    pub elements: Vec<ElementChange<'a>>,
    /// Per chain that stays: its operations in the order they are sent.
    pub rules: Vec<(&'a str, Vec<RuleOp<'a>>)>,
    pub removed_chains: Vec<String>,
    pub removed_sets: Vec<String>,
}

impl Delta<'_> {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.new_sets.is_empty()
            && self.new_chains.is_empty()
            && self.elements.is_empty()
            && self.rules.iter().all(|(_, ops)| ops.is_empty())
            && self.removed_chains.is_empty()
            && self.removed_sets.is_empty()
    }
}

/// Builds the one batch that makes the change. `sets` are every set of the new table
/// (rules look them up by name; new ones also by the id their NEWSET carries).
pub fn build(d: &Delta, sets: &[Set], opts: &BatchOptions) -> Result<Batch, EmitError> {
    let mut b = Builder::new(opts.first_seq, 4096);
    let t = d.table;
    b.msg(BatchPart::BatchBegin, vec![], |w, s| {
        w.batch_begin(s, opts.genid)
    });
    let ids: HashMap<&str, u32> = (sets.iter().enumerate())
        .map(|(i, s)| (s.name.as_str(), i as u32 + 1))
        .collect();
    for set in &d.new_sets {
        b.set(t, set, ids.get(set.name.as_str()).copied().unwrap_or(0))?;
    }
    for chain in &d.new_chains {
        let base = chain.base.map(base_spec);
        b.msg(BatchPart::Chain(chain.name.clone()), vec![], |w, s| {
            w.chain(s, t, &chain.name, base)
        });
    }
    for e in &d.elements {
        elements(&mut b, t, e, true)?;
        elements(&mut b, t, e, false)?;
    }
    let mut exprs = Vec::new();
    for (chain, ops) in &d.rules {
        for op in ops {
            rule_op(&mut b, (t, chain), op, &ids, &mut exprs)?;
        }
    }
    for chain in &d.new_chains {
        for (i, rule) in chain.rules.iter().enumerate() {
            let op = RuleOp::Put {
                place: Place::Append,
                index: i + 1,
                rule,
            };
            rule_op(&mut b, (t, &chain.name), &op, &ids, &mut exprs)?;
        }
    }
    for c in &d.removed_chains {
        b.msg(BatchPart::DeleteChain(c.clone()), vec![], |w, s| {
            w.del_chain(s, t, c)
        });
    }
    for name in &d.removed_sets {
        b.msg(BatchPart::DeleteSet(name.clone()), vec![], |w, s| {
            w.del_set(s, t, name)
        });
    }
    b.msg(BatchPart::BatchEnd, vec![], |w, s| w.batch_end(s));
    Ok(b.finish())
}

fn rule_op(
    b: &mut Builder,
    (table, chain): (&str, &str),
    op: &RuleOp,
    ids: &HashMap<&str, u32>,
    exprs: &mut Vec<crate::nft::expr::Expr>,
) -> Result<(), EmitError> {
    match op {
        RuleOp::Delete { handle, .. } => {
            let what = BatchPart::DeleteRule {
                chain: chain.to_string(),
                handle: *handle,
            };
            b.msg(what, vec![], |w, s| w.del_rule(s, table, chain, *handle));
        }
        RuleOp::Put { place, index, rule } => {
            let what = BatchPart::Rule {
                chain: chain.to_string(),
                index: *index,
            };
            lower_rule(rule, ids, exprs).map_err(|e| e.at(&what))?;
            let seq = b.next_seq;
            b.w.rule_placed(seq, (table, chain), *place, exprs, rule.comment.as_deref())
                .map_err(|e| invalid(&what, e))?;
            b.record(what, rule.origin.clone());
        }
    }
    Ok(())
}

/// The removed (`remove`) or added elements of one set: each interval as its start
/// element and, below the key's maximum, its end element at `hi + 1` (never the
/// leading end at 0 a whole set opens with: that one stays as it is).
fn elements(
    b: &mut Builder,
    table: &str,
    e: &ElementChange,
    remove: bool,
) -> Result<(), EmitError> {
    let ivs = if remove { &e.removed } else { &e.added };
    if ivs.is_empty() {
        return Ok(());
    }
    let set = e.set;
    let what = BatchPart::Set(set.name.clone());
    let spec = SetSpec {
        name: &set.name,
        id: 0,
        interval: set.interval,
        timeout_ms: set.timeout_ms,
        key_type: DataType::from(set.key),
        key_len: set.key.len() as u32,
        comment: set.comment.as_deref(),
    };
    let (len, max) = (set.key.len(), set.key.max());
    let mut seq = b.next_seq;
    let mut stream = ElemStream::new(&mut b.w, table, &spec, || {
        seq = seq.wrapping_add(1);
        seq.wrapping_sub(1)
    });
    if remove {
        stream = stream.deleting();
    }
    for iv in ivs {
        if iv.hi > max || iv.lo > iv.hi || (!set.interval && iv.lo != iv.hi) {
            return Err(invalid(
                &what,
                format!("element {}-{} does not fit", iv.lo, iv.hi),
            ));
        }
        stream
            .push(&Elem::new(iv.lo, len, false))
            .map_err(|e| invalid(&what, e))?;
        if set.interval && iv.hi < max {
            stream
                .push(&Elem::new(iv.hi + 1, len, true))
                .map_err(|e| invalid(&what, e))?;
        }
    }
    let n = stream.finish().map_err(|e| invalid(&what, e))?;
    for chunk in 1..=n {
        let what = match remove {
            true => BatchPart::DeleteElements {
                set: set.name.clone(),
                chunk,
            },
            false => BatchPart::Elements {
                set: set.name.clone(),
                chunk,
            },
        };
        b.record(what, set.origin.clone());
    }
    Ok(())
}

/// A rule put back by a revert: the kernel's own message for it, as dumped before the
/// change, or the deletion of a rule the change added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UndoRule {
    Delete(u64),
    /// The dumped rule `msg`, put at `place`; `index` is its 1-based place in the chain
    /// before the change (what an error names).
    Replay {
        place: Place,
        index: usize,
        msg: Vec<u8>,
    },
}

/// A chain a revert makes again: its registration and its dumped rules, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndoChain {
    pub name: String,
    pub base: Option<crate::ir::BaseChain>,
    pub rules: Vec<Vec<u8>>,
}

/// The inverse of an in-place change, resolved against the table the change left:
/// every handle in it names a rule that exists now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Undo<'a> {
    pub table: &'a str,
    /// Sets the change removed, made again with their elements, in their old order.
    pub sets: Vec<&'a Set>,
    /// Chains the change removed, made again with their rules, in their old order.
    pub chains: Vec<&'a UndoChain>,
    /// Elements the change added (`removed` here) and removed (`added` here).
    pub elements: Vec<ElementChange<'a>>,
    /// Per chain that stays: its rule operations in the order they are sent.
    pub rules: Vec<(&'a str, Vec<UndoRule>)>,
    /// Chains and sets the change added.
    pub drop_chains: Vec<&'a str>,
    pub drop_sets: Vec<&'a str>,
}

/// Builds the one batch that undoes an in-place change: sets and chains made again
/// first (the rules put back may name them), then elements, the rules of chains that
/// stay (deletions, replacements by handle, re-insertions before the rule that followed
/// them), the re-made chains' rules, and last the chains and sets the change added.
pub fn build_undo(u: &Undo, opts: &BatchOptions) -> Result<Batch, EmitError> {
    let mut b = Builder::new(opts.first_seq, 4096);
    let t = u.table;
    b.msg(BatchPart::BatchBegin, vec![], |w, s| {
        w.batch_begin(s, opts.genid)
    });
    for (i, set) in u.sets.iter().enumerate() {
        b.set(t, set, i as u32 + 1)?;
    }
    for c in &u.chains {
        let base = c.base.map(base_spec);
        b.msg(BatchPart::Chain(c.name.clone()), vec![], |w, s| {
            w.chain(s, t, &c.name, base)
        });
    }
    for e in &u.elements {
        elements(&mut b, t, e, true)?;
        elements(&mut b, t, e, false)?;
    }
    for (chain, ops) in &u.rules {
        for op in ops {
            undo_rule(&mut b, (t, chain), op)?;
        }
    }
    for c in &u.chains {
        for (i, msg) in c.rules.iter().enumerate() {
            let op = UndoRule::Replay {
                place: Place::Append,
                index: i + 1,
                msg: msg.clone(),
            };
            undo_rule(&mut b, (t, &c.name), &op)?;
        }
    }
    for c in &u.drop_chains {
        let c = c.to_string();
        b.msg(BatchPart::DeleteChain(c.clone()), vec![], |w, s| {
            w.del_chain(s, t, &c)
        });
    }
    for name in &u.drop_sets {
        let name = name.to_string();
        b.msg(BatchPart::DeleteSet(name.clone()), vec![], |w, s| {
            w.del_set(s, t, &name)
        });
    }
    b.msg(BatchPart::BatchEnd, vec![], |w, s| w.batch_end(s));
    Ok(b.finish())
}

fn undo_rule(
    b: &mut Builder,
    (table, chain): (&str, &str),
    op: &UndoRule,
) -> Result<(), EmitError> {
    match op {
        UndoRule::Delete(handle) => {
            let what = BatchPart::DeleteRule {
                chain: chain.to_string(),
                handle: *handle,
            };
            b.msg(what, vec![], |w, s| w.del_rule(s, table, chain, *handle));
        }
        UndoRule::Replay { place, index, msg } => {
            let what = BatchPart::Rule {
                chain: chain.to_string(),
                index: *index,
            };
            let seq = b.next_seq;
            b.w.rule_replayed(seq, *place, msg)
                .map_err(|e| invalid(&what, e))?;
            b.record(what, vec![]);
        }
    }
    Ok(())
}
