//! `hostwall explain PACKET`: which base chains of which tables a packet meets, how each
//! can end it (ours with its policy line), and the kernel's combined answer. Pure: the
//! host ruleset arrives as a value (`--live` reads it in the CLI).

use crate::eval::Packet;
use crate::eval::host::{self, Answer, EndKind, HostDecision, Path};
use crate::ir::host::{HostRuleset, HostTable};
use crate::ir::{Chain, Table};
use crate::source::Span;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub packet: String,
    pub path: Path,
    /// `accepted`, `dropped`, `rejected`, or `unknown` (may be either).
    pub verdict: &'static str,
    /// One line saying who decided.
    pub because: String,
    pub chains: Vec<ChainLine>,
}

/// One base chain on the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainLine {
    pub table: String,
    pub chain: String,
    pub hook: &'static str,
    pub priority: i32,
    pub ours: bool,
    /// False for chains after the one that refused the packet: what they would do.
    pub reached: bool,
    /// Every way the chain can end the packet (one when it is decided).
    pub ends: Vec<EndLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndLine {
    /// `accept`, `drop`, `reject`, `unknown`.
    pub verdict: &'static str,
    /// The deciding rule (`rule 3 of chain LIBVIRT_INP: ...`) or the chain's policy.
    pub by: String,
    /// The policy line of our rule, `file:line:col`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_line: Option<String>,
    /// Conditions hostwall cannot evaluate, assumed on the way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assuming: Vec<String>,
}

/// Explains `pkt` on `path` against `host`; `locate` names policy lines.
pub fn explain(
    host: &HostRuleset,
    path: Path,
    pkt: &Packet,
    locate: &dyn Fn(&Span) -> String,
) -> Explanation {
    let d = host::evaluate(host, path, pkt);
    let stop = match d.answer {
        Answer::Refused { step } => step,
        _ => usize::MAX,
    };
    let chains = (d.steps.iter().enumerate())
        .map(|(i, s)| chain_line(s, i <= stop, locate))
        .collect();
    let (verdict, because) = answer(&d);
    Explanation {
        packet: crate::eval::text::format(pkt),
        path,
        verdict,
        because,
        chains,
    }
}

fn answer(d: &HostDecision) -> (&'static str, String) {
    match d.answer {
        Answer::Accept if d.steps.is_empty() => ("accepted", "no base chain sees it".into()),
        Answer::Accept => ("accepted", "every base chain on its path accepts it".into()),
        Answer::Refused { step } => {
            let s = &d.steps[step];
            let v = match s.ends.first().map(|e| &e.kind) {
                Some(EndKind::Reject(_)) => "rejected",
                _ => "dropped",
            };
            (v, format!("table {} chain {} refuses it", s.table, s.chain))
        }
        Answer::Unknown => (
            "unknown",
            "it depends on what hostwall cannot evaluate (marked <...>): it may be accepted or refused".into(),
        ),
    }
}

fn chain_line(s: &host::Step, reached: bool, locate: &dyn Fn(&Span) -> String) -> ChainLine {
    ChainLine {
        reached,
        table: s.table.clone(),
        chain: s.chain.clone(),
        hook: s.hook.name(),
        priority: s.priority,
        ours: s.ours,
        ends: s
            .ends
            .iter()
            .map(|e| EndLine {
                verdict: match e.kind {
                    EndKind::Accept => "accept",
                    EndKind::Drop => "drop",
                    EndKind::Reject(_) => "reject",
                    EndKind::Unknown(_) => "unknown",
                },
                by: match (&e.at, &e.kind) {
                    (Some(a), EndKind::Unknown(w)) => {
                        format!(
                            "rule {} of chain {}: {} ({w})",
                            a.index + 1,
                            a.chain,
                            a.text
                        )
                    }
                    (Some(a), _) => {
                        format!("rule {} of chain {}: {}", a.index + 1, a.chain, a.text)
                    }
                    (None, EndKind::Unknown(w)) => w.clone(),
                    (None, _) => format!("the policy of chain {}", s.chain),
                },
                policy_line: match e.at.as_ref().map(|a| a.origin.first()) {
                    Some(Some(span)) => Some(locate(span)),
                    // Our rules without a line: the `default` action, `ct state`, `lo`.
                    Some(None) if s.ours => {
                        Some("built in (the policy's default or a base rule)".into())
                    }
                    _ => None,
                },
                assuming: e.assumed.clone(),
            })
            .collect(),
    }
}

/// The explanation for people.
pub fn render_text(x: &Explanation) -> String {
    let mut s = format!("packet: {} ({} path)\n", x.packet, x.path.name());
    for c in &x.chains {
        let ours = if c.ours { " (ours)" } else { "" };
        let reached = if c.reached {
            ""
        } else {
            " (not reached; it would)"
        };
        s.push_str(&format!(
            "  table {} chain {}{ours}, hook {} priority {}{reached}:\n",
            c.table, c.chain, c.hook, c.priority
        ));
        for e in &c.ends {
            s.push_str(&format!("    {}: {}", e.verdict, e.by));
            if let Some(l) = &e.policy_line {
                s.push_str(&format!(" [{l}]"));
            }
            if !e.assuming.is_empty() {
                s.push_str(&format!(" (assuming {})", e.assuming.join("; ")));
            }
            s.push('\n');
        }
    }
    s.push_str(&format!("verdict: {}: {}\n", x.verdict, x.because));
    s
}

/// Our live table with the compiled table's policy lines: a live rule equal to the
/// compiled rule at the same place in the same chain gets its origin. `extra` is the
/// whole table in host form when it holds chains the IR cannot (or is dormant): those
/// chains, their sets and maps join, so nothing of our table is left out of a verdict.
pub fn with_origins(live: &Table, extra: Option<&HostTable>, compiled: &Table) -> HostTable {
    let mut t = live.clone();
    for c in &mut t.chains {
        let Some(src) = compiled.chains.iter().find(|x| x.name == c.name) else {
            continue;
        };
        copy_origins(c, src);
    }
    let mut h = HostTable::of_ours(&t);
    if let Some(x) = extra {
        h.dormant = x.dormant;
        let missing = |c: &&crate::ir::host::HostChain| !h.chains.iter().any(|o| o.name == c.name);
        let more: Vec<_> = x.chains.iter().filter(missing).cloned().collect();
        h.chains.extend(more);
        let sets: Vec<_> = (x.sets.iter())
            .filter(|s| !h.sets.iter().any(|o| o.name == s.name))
            .cloned()
            .collect();
        h.sets.extend(sets);
        h.maps.extend(x.maps.iter().cloned());
    }
    h
}

fn copy_origins(live: &mut Chain, compiled: &Chain) {
    for (i, r) in live.rules.iter_mut().enumerate() {
        let same = |o: &&crate::ir::Rule| {
            o.matches == r.matches && o.stmts == r.stmts && o.verdict == r.verdict
        };
        let found = compiled
            .rules
            .get(i)
            .filter(same)
            .or_else(|| compiled.rules.iter().find(same));
        if let Some(o) = found {
            r.origin = o.origin.clone();
        }
    }
}
