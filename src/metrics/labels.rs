//! Counted rules → labelled sums: each counted rule read from the kernel is matched to
//! the compiled rule it is (same chain, same matches, statements, verdict and comment;
//! the one at the same place first), whose policy lines and services label it. The
//! default-action rules (`count rejected`) are summed per chain. Sums, not samples, so
//! two kernel rules from one policy line (its IPv4 and IPv6 halves) are one series.

use crate::ir::{self, Match, Stmt, Verdict};
use crate::live::counters::Counted;
use crate::source::Span;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What labels a counted rule: the compiled ruleset and how to name its policy lines.
pub struct Labeller<'a> {
    pub expected: &'a ir::Ruleset,
    /// `file:line` of a policy line.
    pub line: &'a dyn Fn(&Span) -> String,
    /// The service a policy line names, if it names one.
    pub service: &'a dyn Fn(&Span) -> Option<String>,
}

/// The labels of one rule series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RuleLabels {
    pub chain: String,
    /// The services of its policy lines, comma separated (empty: none named).
    pub service: String,
    /// `allow`, `drop`, `reject` (`none` for a rule without a verdict).
    pub verdict: String,
    /// Its policy lines (`file:line`, comma separated); empty for a counted rule the
    /// policy does not make.
    pub line: String,
}

/// Packets and bytes.
pub type Count = (u64, u64);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    pub rules: BTreeMap<RuleLabels, Count>,
    /// The default-action rules' counts per chain (`count rejected`).
    pub rejected: BTreeMap<String, Count>,
}

type Key<'r> = (&'r [Match], &'r [Stmt], Option<Verdict>, Option<&'r str>);

fn key(r: &ir::Rule) -> Key<'_> {
    (&r.matches, &r.stmts, r.verdict, r.comment.as_deref())
}

/// Labels and sums `counted`; without a labeller every rule is labelled only by what
/// the kernel holds (chain, comment, verdict).
pub fn sums(counted: &[Counted], with: Option<&Labeller>) -> Sums {
    let index = with.map(|l| Index::of(l.expected)).unwrap_or_default();
    let mut used: HashSet<(&str, usize)> = HashSet::new();
    let mut out = Sums::default();
    for c in counted {
        let found = with.and_then(|l| {
            let i = index.find(c, &used)?;
            used.insert((c.chain.as_str(), i));
            Some((l, &index.rules[c.chain.as_str()][i]))
        });
        let count = (c.packets, c.bytes);
        match found {
            Some((_, r)) if r.origin.is_empty() => add(&mut out.rejected, c.chain.clone(), count),
            Some((l, r)) => add(&mut out.rules, policy_labels(&c.chain, r, l), count),
            None => add(&mut out.rules, kernel_labels(c), count),
        }
    }
    out
}

pub fn add<K: Ord>(map: &mut BTreeMap<K, Count>, k: K, (p, b): Count) {
    let e = map.entry(k).or_default();
    e.0 = e.0.saturating_add(p);
    e.1 = e.1.saturating_add(b);
}

/// The compiled rules per chain, and per chain where each rule form stands.
#[derive(Default)]
struct Index<'r> {
    rules: HashMap<&'r str, &'r [ir::Rule]>,
    at: HashMap<(&'r str, Key<'r>), Vec<usize>>,
}

impl<'r> Index<'r> {
    fn of(rs: &'r ir::Ruleset) -> Index<'r> {
        let mut ix = Index::default();
        for ch in &rs.table.chains {
            ix.rules.insert(&ch.name, &ch.rules);
            for (i, r) in ch.rules.iter().enumerate() {
                ix.at.entry((&ch.name, key(r))).or_default().push(i);
            }
        }
        ix
    }

    /// The compiled rule `c` is: at its own place if that one is the same, else the
    /// first of the same form not taken yet.
    fn find(&self, c: &Counted, used: &HashSet<(&str, usize)>) -> Option<usize> {
        let places = self.at.get(&(c.chain.as_str(), key(&c.rule)))?;
        let free = |i: &&usize| !used.contains(&(c.chain.as_str(), **i));
        places
            .iter()
            .filter(free)
            .find(|i| **i == c.index)
            .or_else(|| places.iter().find(free))
            .copied()
    }
}

pub fn policy_labels(chain: &str, r: &ir::Rule, l: &Labeller) -> RuleLabels {
    let mut services: Vec<String> = Vec::new();
    for s in r.origin.iter().filter_map(|s| (l.service)(s)) {
        if !services.contains(&s) {
            services.push(s);
        }
    }
    let lines: Vec<String> = r.origin.iter().map(|s| (l.line)(s)).collect();
    RuleLabels {
        chain: chain.to_string(),
        service: services.join(","),
        verdict: verdict_word(r.verdict).into(),
        line: lines.join(","),
    }
}

fn kernel_labels(c: &Counted) -> RuleLabels {
    RuleLabels {
        chain: c.chain.clone(),
        service: c.rule.comment.clone().unwrap_or_default(),
        verdict: verdict_word(c.rule.verdict).into(),
        line: String::new(),
    }
}

/// The policy's word for a verdict.
pub fn verdict_word(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Accept) => "allow",
        Some(Verdict::Drop) => "drop",
        Some(Verdict::Reject(_)) => "reject",
        None => "none",
    }
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
