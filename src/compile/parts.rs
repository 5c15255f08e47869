//! Pieces of the lowering that need no compiler state: the implicit rules, the end of a chain
//! (logging, default action), merging a rule's traffic into its group, and names/comments.

use super::{Atom, AtomKind, GroupKey, GroupTraffic, MAX_COMMENT};
use crate::ir::{self, IfName, Interval, L4Proto, Match, RejectWith, Rule, Stmt};
use crate::model::{self, DefaultAction, IpFamily, Policy, Proto, Traffic};

pub(super) fn implicit(matches: Vec<Match>, verdict: ir::Verdict) -> Rule {
    Rule {
        matches,
        stmts: Vec::new(),
        verdict: Some(verdict),
        comment: None,
        origin: Vec::new(),
    }
}

/// The rule logging what the default action refuses (rate-limited when asked).
fn log_rule(log: &model::LogRejected) -> Rule {
    Rule {
        matches: Vec::new(),
        stmts: log_stmts(log),
        verdict: None,
        comment: None,
        origin: vec![log.span],
    }
}

/// `limit rate N/unit burst B packets`.
pub(super) fn limit_stmt(rate: model::Rate) -> Stmt {
    Stmt::Limit {
        rate: rate.count as u64,
        unit: match rate.unit {
            model::RateUnit::Second => ir::RateUnit::Second,
            model::RateUnit::Minute => ir::RateUnit::Minute,
            model::RateUnit::Hour => ir::RateUnit::Hour,
            model::RateUnit::Day => ir::RateUnit::Day,
        },
        // 0: none written; nft's own default burst is 5 packets.
        burst: if rate.burst == 0 { 5 } else { rate.burst },
    }
}

/// The statements of a log: its rate limit (when written), then the log itself.
pub(super) fn log_stmts(log: &model::LogSpec) -> Vec<Stmt> {
    let mut stmts: Vec<Stmt> = log.limit.map(limit_stmt).into_iter().collect();
    stmts.push(Stmt::Log {
        prefix: Some(log.prefix.clone()),
        group: log.group,
        level: log.level,
    });
    stmts
}

/// Logging and the default action at the end of a chain.
pub(super) fn chain_end(policy: &Policy, default: DefaultAction, out: &mut Vec<Rule>) {
    if let Some(log) = &policy.log_rejected {
        out.push(log_rule(log));
    }
    let counter = if policy.count_rejected {
        vec![Stmt::Counter]
    } else {
        Vec::new()
    };
    match default {
        DefaultAction::Reject => {
            out.push(Rule {
                matches: vec![Match::L4Proto(L4Proto::Tcp)],
                stmts: counter.clone(),
                verdict: Some(ir::Verdict::Reject(RejectWith::TcpReset)),
                comment: None,
                origin: Vec::new(),
            });
            out.push(Rule {
                matches: Vec::new(),
                stmts: counter,
                verdict: Some(ir::Verdict::Reject(RejectWith::IcmpxAdminProhibited)),
                comment: None,
                origin: Vec::new(),
            });
        }
        // The chain policy drops; an explicit rule only when the drops are counted.
        DefaultAction::Drop if policy.count_rejected => out.push(Rule {
            matches: Vec::new(),
            stmts: counter,
            verdict: Some(ir::Verdict::Drop),
            comment: None,
            origin: Vec::new(),
        }),
        DefaultAction::Drop => {}
    }
}

pub(super) fn add_traffic(g: &mut GroupTraffic, r: &model::Rule) {
    g.origin.push(r.span);
    // Comments name the service, or else describe just this atom's own traffic.
    let mut add = |kind: AtomKind, ports: &[Interval], types: Option<&Vec<u8>>, own: String| {
        let label = r.service.clone().unwrap_or(own);
        let atom = match g.atoms.iter_mut().position(|a| a.kind == kind) {
            Some(i) => &mut g.atoms[i],
            None => {
                g.atoms.push(Atom {
                    kind,
                    ports: Vec::new(),
                    types: Some(Vec::new()),
                    labels: Vec::new(),
                    origin: Vec::new(),
                });
                g.atoms.last_mut().expect("just pushed")
            }
        };
        // Normalised once per group in `run`: normalising on every add was quadratic.
        atom.ports.extend_from_slice(ports);
        atom.types = match (atom.types.take(), types) {
            (None, _) | (_, None) => None,
            (Some(mut a), Some(b)) => {
                a.extend(b);
                a.sort_unstable();
                a.dedup();
                Some(a)
            }
        };
        // Labels past the comment's length can never be shown: not kept (nor searched).
        // One more is kept once the text is full, so `comment` sees that it must cut.
        let shown: usize = atom.labels.iter().map(|l| l.len() + 2).sum();
        let text_len = shown.saturating_sub(2);
        if !label.is_empty() && text_len <= MAX_COMMENT && !atom.labels.contains(&label) {
            atom.labels.push(label.clone());
        }
        if atom.origin.last() != Some(&r.span) {
            atom.origin.push(r.span);
        }
    };
    match &r.traffic {
        // Named so that a comment never lists only the narrower traffic it subsumed.
        Traffic::Any => add(AtomKind::Any, &[], None, "all traffic".to_string()),
        Traffic::Ports(specs) => {
            for p in specs {
                let iv = Interval {
                    lo: p.range.lo as u128,
                    hi: p.range.hi as u128,
                };
                let own = describe(&Traffic::Ports(vec![*p]));
                add(AtomKind::Ports(p.proto), &[iv], Some(&Vec::new()), own);
            }
        }
        Traffic::Icmp { family, types } => add(
            AtomKind::Icmp(*family),
            &[],
            types.as_ref(),
            describe(&r.traffic),
        ),
    }
}

/// `[None]` for no interface restriction, else one match per interface named.
pub(super) fn iface_variants(names: &[model::IfName], input: bool) -> Vec<Option<Match>> {
    if names.is_empty() {
        return vec![None];
    }
    names
        .iter()
        .map(|n| {
            let i = IfName {
                name: n.name.clone(),
                wildcard: n.wildcard,
            };
            Some(if input {
                Match::IifName(i)
            } else {
                Match::OifName(i)
            })
        })
        .collect()
}

pub(super) fn l4(p: Proto) -> L4Proto {
    match p {
        Proto::Tcp => L4Proto::Tcp,
        Proto::Udp => L4Proto::Udp,
        Proto::Sctp => L4Proto::Sctp,
    }
}

/// A readable, stable stem for set names: `allow`, `allow_on_virbr`, `drop_from_mgmt`.
pub(super) fn group_stem(chain: &str, verdict: &str, key: &GroupKey) -> String {
    let mut s = if chain == "input" {
        verdict.to_string()
    } else {
        format!("{chain}_{verdict}")
    };
    if let Some((Some(n), _)) = &key.sources {
        s.push_str(&format!("_from_{}", sanitize(n)));
    }
    if let Some((Some(n), _)) = &key.destinations {
        s.push_str(&format!("_to_{}", sanitize(n)));
    }
    if let Some(i) = key.iif.first() {
        s.push_str(&format!("_in_{}", sanitize(&i.name)));
    }
    if let Some(i) = key.oif.first() {
        s.push_str(&format!("_out_{}", sanitize(&i.name)));
    }
    s
}

pub(super) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The rule comment: the services (or described traffic) a rule came from,
/// shortened to what nft accepts.
pub(super) fn comment(labels: &[String]) -> Option<String> {
    let mut text = String::new();
    for l in labels {
        if text.len() > MAX_COMMENT {
            break;
        }
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(l);
    }
    if text.is_empty() {
        return None;
    }
    if text.len() <= MAX_COMMENT {
        return Some(text);
    }
    let mut cut = MAX_COMMENT - 4;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(format!("{} ...", &text[..cut]))
}

pub(super) fn describe(t: &Traffic) -> String {
    match t {
        Traffic::Any => String::new(),
        Traffic::Ports(p) => p
            .iter()
            .map(|s| {
                if s.range.lo == s.range.hi {
                    format!("{} {}", s.proto.name(), s.range.lo)
                } else {
                    format!("{} {}-{}", s.proto.name(), s.range.lo, s.range.hi)
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        Traffic::Icmp {
            family: IpFamily::V4,
            ..
        } => "icmp".into(),
        Traffic::Icmp {
            family: IpFamily::V6,
            ..
        } => "icmpv6".into(),
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{NoIncludes, check};
    use crate::compile::compile;
    use crate::nft::vocab::MAX_COMMENT;
    use crate::source::SourceMap;

    /// The comment of the one rule that `n` services named `prefix0..` compile to.
    fn comment_of(prefix: &str, n: usize) -> String {
        let services: String = (0..n)
            .map(|i| {
                format!(
                    "    service {prefix}{i} tcp {}\n    allow {prefix}{i}\n",
                    20000 + i
                )
            })
            .collect();
        let mut map = SourceMap::new();
        let file = map.add("t.policy", format!("policy p {{\n{services}}}\n"));
        let (policy, diags) = check(&mut map, file, None, &NoIncludes);
        let policy = policy.unwrap_or_else(|| panic!("policy must check: {diags:?}"));
        let rs = compile(&policy);
        rs.table
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .find_map(|r| r.comment.clone().filter(|c| c.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no rule with a {prefix} comment"))
    }

    /// Every label fits, or the comment says it was cut: a comment that lists some of a
    /// rule's services without " ..." must list all of them, at every length around
    /// nft's limit (issue #9: the kept labels ended exactly at the limit).
    #[test]
    fn comment_lists_every_service_or_ends_in_an_ellipsis() {
        for prefix in ["app", "svc-", "s", "service-x"] {
            for n in 1..40 {
                let c = comment_of(prefix, n);
                assert!(c.len() <= MAX_COMMENT, "{prefix}×{n}: {} bytes", c.len());
                let listed = c.split(", ").count();
                assert!(
                    c.ends_with(" ...") || listed == n,
                    "{prefix}×{n}: {listed} listed without an ellipsis: {c}"
                );
            }
        }
    }
}
