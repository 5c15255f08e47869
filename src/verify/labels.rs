//! How the table names rules: `file:line` of the policy lines a rule came
//! from (when the caller passed the source map), else its chain position and
//! comment; and what decided a probe.

use super::cover::RuleAt;
use crate::eval::Cause;
use crate::ir::{Rule, Ruleset, Verdict};
use crate::source::SourceMap;

pub(crate) struct Labels<'a> {
    pub rs: &'a Ruleset,
    pub against: Option<&'a Ruleset>,
    pub map: Option<&'a SourceMap>,
}

impl Labels<'_> {
    fn rule_of(&self, at: &RuleAt) -> Option<&Rule> {
        let rs = if at.against { self.against? } else { self.rs };
        rs.table
            .chains
            .iter()
            .find(|c| c.name == at.chain)?
            .rules
            .get(at.index)
    }

    /// Whether the rule came from a policy line (not built in, not `--against`).
    pub fn is_policy_line(&self, at: &RuleAt) -> bool {
        !at.against && self.rule_of(at).is_some_and(|r| !r.origin.is_empty())
    }

    /// `d.policy:4`, or `input rule 3 (ct state ...)` for a rule with no policy line.
    pub fn rule(&self, at: &RuleAt) -> String {
        let rule = self.rule_of(at);
        // `file:3,4` (lines of one file together), `+` between files.
        let mut lines: Vec<(String, Vec<usize>)> = Vec::new();
        if let (Some(map), Some(r)) = (self.map, rule) {
            for span in &r.origin {
                let (line, _) = map.line_col(*span);
                let file = map.file(span.file).name.clone();
                match lines.iter_mut().find(|(f, _)| *f == file) {
                    Some((_, ls)) if !ls.contains(&line) => ls.push(line),
                    Some(_) => {}
                    None => lines.push((file, vec![line])),
                }
            }
        }
        let lines: Vec<String> = lines
            .into_iter()
            .map(|(f, ls)| {
                let ls: Vec<String> = ls.iter().map(usize::to_string).collect();
                format!("{f}:{}", ls.join(","))
            })
            .collect();
        if !lines.is_empty() && !at.against {
            // One policy line can make several rules (IPv4 and IPv6 sources).
            let shared = self
                .rs
                .table
                .chains
                .iter()
                .find(|c| c.name == at.chain)
                .is_some_and(|c| {
                    c.rules
                        .iter()
                        .filter(|o| rule.is_some_and(|r| o.origin == r.origin))
                        .count()
                        > 1
                });
            let mut l = lines.join("+");
            if shared {
                l.push_str(&format!(" (rule {})", at.index + 1));
            }
            return l;
        }
        let side = if at.against { "--against " } else { "" };
        let what = rule.map(describe).unwrap_or_default();
        format!("{side}{} rule {}{what}", at.chain, at.index + 1)
    }

    /// What decides a probe: a rule and its verdict, or the chain's policy.
    pub fn cause(&self, cause: &Cause) -> String {
        match cause {
            Cause::Rule { chain, index } => {
                let at = RuleAt {
                    against: false,
                    chain: chain.clone(),
                    index: *index,
                };
                let verdict = self
                    .rule_of(&at)
                    .and_then(|r| r.verdict)
                    .map_or("", verdict_name);
                format!("{} {verdict}", self.rule(&at))
            }
            Cause::Policy { chain } => format!("{chain} chain policy"),
            Cause::NoChain => "no chain (accept)".to_string(),
        }
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "accept",
        Verdict::Drop => "drop",
        Verdict::Reject(_) => "reject",
    }
}

/// A short description of a rule without a policy line: its comment, or
/// what kind of built-in rule it is.
fn describe(r: &Rule) -> String {
    use crate::ir::Match;
    if let Some(c) = &r.comment {
        return format!(" ({c})");
    }
    let what = r.matches.iter().find_map(|m| match m {
        Match::IifName(n) => Some(format!("iifname {}", n.name)),
        Match::CtState(s) => Some(format!("ct state {}", s.names().join(","))),
        Match::Icmpv6Type(_) => Some("icmpv6 type".to_string()),
        _ => None,
    });
    match what {
        Some(w) => format!(" ({w})"),
        // No comment, no origin and nothing but a protocol: the policy's default.
        None if r.matches.iter().all(|m| matches!(m, Match::L4Proto(_))) => {
            " (the policy's default)".to_string()
        }
        None => String::new(),
    }
}
