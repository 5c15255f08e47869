//! The rules of the base chains on a hook, and the input chains' source restrictions:
//! what `verify` chooses client addresses and probes for.

use crate::ir::{AddrMatch, Hook, Match, Rule, Ruleset};

/// Rules of the input base chains (the only hook clients' packets reach).
pub(crate) fn input_rules(rs: &Ruleset) -> impl Iterator<Item = &Rule> {
    hook_rules(rs, Hook::Input)
}

/// Rules of the base chains on `hook`, in chain order.
pub(crate) fn hook_rules(rs: &Ruleset, hook: Hook) -> impl Iterator<Item = &Rule> {
    rs.table
        .chains
        .iter()
        .filter(move |c| c.base.is_some_and(|b| b.hook == hook))
        .flat_map(|c| c.rules.iter())
}

/// A source restriction of an input rule, for choosing client addresses.
pub(crate) struct SourceMatch<'a> {
    pub addr: &'a AddrMatch,
    pub iif: Option<&'a crate::ir::IfName>,
    /// The rule's comment (its services), to name "not probed" rows.
    pub label: Option<&'a str>,
}

/// Every source restriction of the input chains.
pub(crate) fn source_matches(rs: &Ruleset) -> Vec<SourceMatch<'_>> {
    let mut out = Vec::new();
    for rule in input_rules(rs) {
        let iif = rule.matches.iter().find_map(|m| match m {
            Match::IifName(n) => Some(n),
            _ => None,
        });
        for m in rule.conditions() {
            if let Match::Saddr(addr) = m {
                out.push(SourceMatch {
                    addr,
                    iif,
                    label: rule.comment.as_deref(),
                });
            }
        }
    }
    out
}
