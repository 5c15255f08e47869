//! A table in the policy's terms, for `apply --dry-run --format json`'s `view`: each
//! base chain's default and each policy rule as its verdict and the services and ports
//! named in its comment, with what else it matches (sources, interfaces). Implicit rules
//! (loopback, conntrack, ICMPv6 discovery) carry no comment and are left out.

use hostwall::emit::text::{match_text, verdict_text};
use hostwall::ir::{Match, Table};

/// One line per chain default and per policy rule, in table order; empty without a table.
pub fn lines(table: Option<&Table>) -> Vec<String> {
    let Some(t) = table else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for chain in &t.chains {
        if let Some(base) = &chain.base {
            out.push(format!("{}: default {}", chain.name, base.policy.name()));
        }
        for r in &chain.rules {
            let Some(comment) = &r.comment else { continue };
            let verdict = r
                .verdict
                .map(verdict_text)
                .unwrap_or_else(|| "continue".into());
            let mut line = format!("{}: {verdict} {comment}", chain.name);
            let rest: Vec<String> = r
                .matches
                .iter()
                .filter(|m| !is_port(m))
                .map(match_text)
                .collect();
            if !rest.is_empty() {
                line.push_str(&format!(" ({})", rest.join(" ")));
            }
            out.push(line);
        }
    }
    out
}

/// Port, type and protocol matches: the comment names them already.
fn is_port(m: &Match) -> bool {
    matches!(
        m,
        Match::Dport(..)
            | Match::L4Proto(_)
            | Match::NfProto(_)
            | Match::IcmpType(_)
            | Match::Icmpv6Type(_)
    )
}
