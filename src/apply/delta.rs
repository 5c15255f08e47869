//! Incremental apply's decision: the difference between our table as the kernel holds
//! it (rule handles, exact set elements: `delta_read`) and the new ruleset, as the
//! fewest in-place changes (`emit::delta::Delta`), or why only a full replace will do.
//!
//! Pure. Rules are aligned per chain by content (their nft text, comment included) with
//! the diff's longest common subsequence, so an inserted rule is one insertion at its
//! place; in each gap between kept rules, old rules are replaced by new ones one for one,
//! the rest deleted or inserted before the next kept rule. Set elements compare as the
//! exact intervals the kernel stores, so every removal names an element that exists.

use crate::emit::delta::{Delta, ElementChange, RuleOp};
use crate::emit::text;
use crate::ir::packed::Packed;
use crate::ir::{BaseChain, Interval, Rule, Ruleset, Set, SetKey};
use crate::nft::change::Place;

/// Our table as the kernel holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveTable {
    pub sets: Vec<LiveSet>,
    pub chains: Vec<LiveChain>,
    /// What the table holds that the policy never makes (named objects, flowtables,
    /// maps, chains of other types, a dormant flag): only a full replace removes it.
    pub foreign: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSet {
    pub name: String,
    pub key: SetKey,
    pub interval: bool,
    pub comment: Option<String>,
    /// `Some`: a dynamic set (`flags dynamic,timeout`, size `DYNAMIC_SET_SIZE`) with
    /// this timeout; its elements are sources the kernel learned, never read, never
    /// changed in place (`elements` stays empty).
    pub timeout_ms: Option<u64>,
    /// The kernel's elements, each as stored (never merged), sorted; packed, so a
    /// million IPv4 prefixes take 8 MB beside the new ruleset's own.
    pub elements: Packed,
}

impl LiveSet {
    /// The live form of the compiled `set`, with `elements` making its elements
    /// (a dynamic set's are the kernel's learned sources: none of ours).
    pub fn of(set: &Set, elements: impl FnOnce(&Set) -> Packed) -> LiveSet {
        LiveSet {
            name: set.name.clone(),
            key: set.key,
            interval: set.interval,
            comment: set.comment.clone(),
            timeout_ms: set.timeout_ms,
            elements: match set.timeout_ms {
                Some(_) => Packed::default(),
                None => elements(set),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveChain {
    pub name: String,
    pub base: Option<BaseChain>,
    /// In chain order, each with the handle the kernel gave it, as its nft text
    /// (comment included: what rules are aligned by).
    pub rules: Vec<(u64, String)>,
}

/// The path an apply takes.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    Delta(Delta<'a>),
    /// Only a full replace can do it, for this reason.
    Full(String),
}

/// The change from `live` to `new`.
pub fn plan<'a>(live: &LiveTable, new: &'a Ruleset) -> Decision<'a> {
    match try_plan(live, new) {
        Ok(d) => Decision::Delta(d),
        Err(why) => Decision::Full(why),
    }
}

fn try_plan<'a>(live: &LiveTable, new: &'a Ruleset) -> Result<Delta<'a>, String> {
    if let Some(f) = live.foreign.first() {
        return Err(format!(
            "the live table holds {f}, which the policy does not make"
        ));
    }
    let t = &new.table;
    let live_sets: Vec<&str> = live.sets.iter().map(|s| s.name.as_str()).collect();
    let new_sets: Vec<&str> = t.sets.iter().map(|s| s.name.as_str()).collect();
    same_order("set", &live_sets, &new_sets)?;
    let live_chains: Vec<&str> = live.chains.iter().map(|c| c.name.as_str()).collect();
    let new_chains: Vec<&str> = t.chains.iter().map(|c| c.name.as_str()).collect();
    same_order("chain", &live_chains, &new_chains)?;
    let mut d = Delta {
        table: &t.name,
        ..Delta::default()
    };
    for s in &t.sets {
        match live.sets.iter().find(|l| l.name == s.name) {
            None => d.new_sets.push(s),
            Some(l) => {
                if let Some(e) = set_change(l, s)? {
                    d.elements.push(e);
                }
            }
        }
    }
    for c in &t.chains {
        match live.chains.iter().find(|l| l.name == c.name) {
            None => d.new_chains.push(c),
            Some(l) => {
                if l.base != c.base {
                    return Err(format!(
                        "chain {} changes its {}",
                        c.name,
                        head_change(l.base, c.base)
                    ));
                }
                d.rules.push((&c.name, rules(&l.rules, &c.rules)));
            }
        }
    }
    d.removed_chains = (live.chains.iter())
        .filter(|l| !new_chains.contains(&l.name.as_str()))
        .map(|l| l.name.clone())
        .collect();
    d.removed_sets = (live.sets.iter())
        .filter(|l| !new_sets.contains(&l.name.as_str()))
        .map(|l| l.name.clone())
        .collect();
    not_larger_than_the_table(&d, new)?;
    Ok(d)
}

/// The kernel lists sets and chains in the order they were made: a new one can only
/// go after every one that stays, or the table would differ from a full apply's.
fn same_order(kind: &str, live: &[&str], new: &[&str]) -> Result<(), String> {
    let kept_live: Vec<&&str> = live.iter().filter(|n| new.contains(n)).collect();
    let kept_new: Vec<&&str> = new.iter().filter(|n| live.contains(n)).collect();
    if kept_live != kept_new {
        return Err(format!("the {kind}s change their order"));
    }
    let last_kept = new.iter().rposition(|n| live.contains(n));
    let first_new = new.iter().position(|n| !live.contains(n));
    match (last_kept, first_new) {
        (Some(k), Some(f)) if f < k => Err(format!(
            "new {kind} {} comes before {kind} {}, which stays",
            new[f], new[k]
        )),
        _ => Ok(()),
    }
}

fn head_change(live: Option<BaseChain>, new: Option<BaseChain>) -> String {
    let text = |b: Option<BaseChain>| match b {
        None => "regular chain".to_string(),
        Some(b) => format!(
            "hook {} priority {} policy {}",
            b.hook.name(),
            b.priority,
            b.policy.name()
        ),
    };
    format!("registration ({} -> {})", text(live), text(new))
}

/// A set that stays: its elements' change, or why it cannot stay.
fn set_change<'a>(live: &LiveSet, new: &'a Set) -> Result<Option<ElementChange<'a>>, String> {
    if live.key != new.key || live.interval != new.interval {
        return Err(format!("set {} changes its type or flags", new.name));
    }
    if live.comment != new.comment {
        return Err(format!("set {} changes its comment", new.name));
    }
    match (live.timeout_ms, new.timeout_ms) {
        (None, None) => {}
        (Some(a), Some(b)) if a == b => return Ok(None),
        (Some(a), Some(b)) => {
            return Err(format!(
                "per-source limit set {} changes its timeout ({a} ms -> {b} ms: the rate or \
                 burst changed), so it is made anew and forgets the sources it learned",
                new.name
            ));
        }
        _ => return Err(format!("set {} changes its type or flags", new.name)),
    }
    let want = stored(new);
    let (removed, added) = live.elements.difference(&want);
    Ok(
        (!removed.is_empty() || !added.is_empty()).then_some(ElementChange {
            set: new,
            removed,
            added,
        }),
    )
}

/// The elements the kernel stores for `set` once it is committed: its intervals, or
/// for a set without `flags interval` single values (ranges expanded).
pub fn stored_elements(set: &Set) -> Packed {
    stored(set).into_owned()
}

/// [`stored_elements`] without copying an interval set's own elements (a million
/// addresses: 8 MB an in-place plan would otherwise hold beside the live table's).
fn stored(set: &Set) -> std::borrow::Cow<'_, Packed> {
    match set.interval {
        true => std::borrow::Cow::Borrowed(&set.elements),
        false => std::borrow::Cow::Owned(singles(&set.elements)),
    }
}

/// A set without `flags interval` holds single values: ranges expanded.
fn singles(ivs: &Packed) -> Packed {
    let mut out: Vec<Interval> = (ivs.iter())
        .flat_map(|iv| (iv.lo..=iv.hi).map(|v| Interval { lo: v, hi: v }))
        .collect();
    out.sort();
    out.dedup();
    Packed::from(out)
}

/// One chain's rule operations: kept rules stay by handle; in each gap old rules are
/// replaced one for one, then the surplus deleted or inserted before the next kept rule.
fn rules<'a>(live: &[(u64, String)], new: &'a [Rule]) -> Vec<RuleOp<'a>> {
    let old_text: Vec<String> = live.iter().map(|(_, t)| t.clone()).collect();
    let new_text: Vec<String> = new.iter().map(rule_text).collect();
    let (keep_new, keep_old) = crate::diff::lcs_marks(&new_text, &old_text);
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    loop {
        let gap_new: Vec<usize> = (i..new.len()).take_while(|k| !keep_new[*k]).collect();
        let gap_old: Vec<usize> = (j..live.len()).take_while(|k| !keep_old[*k]).collect();
        i += gap_new.len();
        j += gap_old.len();
        let anchor = live.get(j).map(|(h, _)| *h);
        let pairs = gap_new.len().min(gap_old.len());
        for k in 0..pairs {
            ops.push(put(Place::Replace(live[gap_old[k]].0), gap_new[k], new));
        }
        for &o in &gap_old[pairs..] {
            ops.push(RuleOp::Delete {
                handle: live[o].0,
                text: old_text[o].clone(),
            });
        }
        for &n in &gap_new[pairs..] {
            let place = anchor.map_or(Place::Append, Place::Before);
            ops.push(put(place, n, new));
        }
        if i >= new.len() && j >= live.len() {
            return ops;
        }
        // Both sit on a kept pair now.
        i += 1;
        j += 1;
    }
}

fn put(place: Place, index: usize, new: &[Rule]) -> RuleOp<'_> {
    RuleOp::Put {
        place,
        index: index + 1,
        rule: &new[index],
    }
}

/// A rule's nft text, comment included: what live and new rules are aligned by.
pub fn rule_text(r: &Rule) -> String {
    let mut s = String::new();
    text::rule(&mut s, r);
    s
}

/// A change as large as the table costs more in place than a full replace.
fn not_larger_than_the_table(d: &Delta, new: &Ruleset) -> Result<(), String> {
    let elements: usize = (d.elements.iter())
        .map(|e| e.removed.len() + e.added.len())
        .sum();
    let rules: usize = d.rules.iter().map(|(_, ops)| ops.len()).sum();
    let size: usize = new
        .table
        .sets
        .iter()
        .map(|s| s.elements.len())
        .sum::<usize>()
        + new
            .table
            .chains
            .iter()
            .map(|c| c.rules.len())
            .sum::<usize>();
    if elements + rules > size.max(16) {
        return Err(format!(
            "the change ({elements} elements, {rules} rules) is larger than the new table ({size} elements and rules)"
        ));
    }
    Ok(())
}

/// The path an apply took, for people and for the JSON result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "path", rename_all = "lowercase")]
pub enum ApplyPath {
    /// The whole table replaced (add, delete, add, contents); `reason`: why the
    /// incremental path was not taken.
    Full { reason: String },
    /// Only the changes sent (none at all when `summary` is empty).
    Incremental { summary: Summary },
}

impl ApplyPath {
    /// The name `apply --format json` gives the path.
    pub fn name(&self) -> &'static str {
        match self {
            ApplyPath::Full { .. } => "full",
            ApplyPath::Incremental { .. } => "incremental",
        }
    }
}

impl Default for ApplyPath {
    fn default() -> ApplyPath {
        ApplyPath::Full {
            reason: String::new(),
        }
    }
}

/// What an incremental apply changes, counted, and one line per change in the
/// policy's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub elements_added: usize,
    pub elements_removed: usize,
    pub rules_added: usize,
    pub rules_removed: usize,
    pub rules_replaced: usize,
    pub sets_added: usize,
    pub sets_removed: usize,
    pub chains_added: usize,
    pub chains_removed: usize,
    #[serde(skip)]
    pub lines: Vec<ChangeLine>,
}

impl Summary {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// One change: `set blocklist: 3 added, 1 removed`, `chain input: rule 5 added: ...`;
/// the policy lines behind it; each element under it (`+ 10.0.0.1`, `- 10.0.0.2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeLine {
    pub text: String,
    pub origin: Vec<crate::source::Span>,
    pub elements: Vec<String>,
}

fn line(text: String, origin: &[crate::source::Span]) -> ChangeLine {
    ChangeLine {
        text,
        origin: origin.to_vec(),
        elements: Vec::new(),
    }
}

/// The delta counted and described.
pub fn summarize(d: &Delta) -> Summary {
    let mut s = Summary::default();
    for set in &d.new_sets {
        s.sets_added += 1;
        s.elements_added += set.elements.len();
        let n = set.elements.len();
        s.lines.push(line(
            format!("set {}: added with {n} elements", set.name),
            &set.origin,
        ));
    }
    for c in &d.new_chains {
        s.chains_added += 1;
        s.rules_added += c.rules.len();
        s.lines.push(line(
            format!("chain {}: added with {} rules", c.name, c.rules.len()),
            &[],
        ));
    }
    for e in &d.elements {
        s.elements_added += e.added.len();
        s.elements_removed += e.removed.len();
        let text = format!(
            "set {}: {} added, {} removed",
            e.set.name,
            e.added.len(),
            e.removed.len()
        );
        let mut l = line(text, &e.set.origin);
        let show = |sign: char, iv: &Interval| {
            let mut t = format!("{sign} ");
            text::element(&mut t, e.set.key, *iv);
            t
        };
        l.elements.extend(e.added.iter().map(|iv| show('+', iv)));
        l.elements.extend(e.removed.iter().map(|iv| show('-', iv)));
        s.lines.push(l);
    }
    for (chain, ops) in &d.rules {
        for op in ops {
            let l = rule_line(chain, op, &mut s);
            s.lines.push(l);
        }
    }
    for c in &d.removed_chains {
        s.chains_removed += 1;
        s.lines
            .push(line(format!("chain {c}: removed with its rules"), &[]));
    }
    for name in &d.removed_sets {
        s.sets_removed += 1;
        s.lines.push(line(format!("set {name}: removed"), &[]));
    }
    s
}

fn rule_line(chain: &str, op: &RuleOp, s: &mut Summary) -> ChangeLine {
    match op {
        RuleOp::Delete { handle, text } => {
            s.rules_removed += 1;
            line(
                format!("chain {chain}: rule (handle {handle}) removed: {text}"),
                &[],
            )
        }
        RuleOp::Put { place, index, rule } => {
            let what = match place {
                Place::Replace(h) => {
                    s.rules_replaced += 1;
                    format!("rule {index} replaces handle {h}")
                }
                _ => {
                    s.rules_added += 1;
                    format!("rule {index} added")
                }
            };
            line(
                format!("chain {chain}: {what}: {}", rule_text(rule)),
                &rule.origin,
            )
        }
    }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
