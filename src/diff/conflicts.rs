//! Conflicts between the policy and the host's other tables, both ways, in the policy's
//! terms, computed from the decoded rules (never from a chain's default policy alone):
//!
//! - a policy line allows traffic that another table drops or rejects: the example
//!   packet, the table, chain and rule that refuse it, and the policy line defeated;
//! - another table accepts traffic for a purpose (libvirt's guest DHCP and DNS) that our
//!   table refuses: the bridge, the services, our deciding rule, and a policy line that
//!   would allow it.
//!
//! Each rule is put to the other side through example packets (`probes`); `eval::host`
//! answers for the whole host, so an unknown on the way makes a "may" warning.

use super::probes::{self, Hints};
use super::{CanDrop, Change, Kind, Severity, change};
use crate::eval::host::{self, Answer, End, EndKind, HostDecision, Path, Step};
use crate::ir::host::{
    Action, ChainType, Cond, HostChain, HostHook, HostRuleset, HostTable, TableFamily,
};
use crate::ir::{Match, PortMatch, Table};
use crate::source::Span;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

/// Every conflict between our table `ours` and the `others`; `ours_at` is its place in
/// the kernel's table order (`None`: after them all); `locate` turns a policy span into
/// `file:line`.
pub fn conflicts(
    ours: &Table,
    others: &[HostTable],
    ours_at: Option<usize>,
    locate: &dyn Fn(&Span) -> String,
) -> Vec<Change> {
    // No other table: nothing can defeat our lines or be refused by them, and our
    // table (its sets can hold millions of addresses) is not copied into host form.
    if others.is_empty() {
        return Vec::new();
    }
    // Our table in host form once (its sets' elements copied once), shared by the host
    // with the others and the host with ours alone.
    let ours = Arc::new(HostTable::of_ours(ours));
    let others: Vec<Arc<HostTable>> = others.iter().cloned().map(Arc::new).collect();
    let all = HostRuleset::with_ours(ours.clone(), others.iter().cloned(), ours_at);
    let alone = HostRuleset {
        tables: vec![ours.clone()],
    };
    let hints = probes::hints(&all.tables);
    let mut out = defeated(&ours, &alone, &all, &hints, locate);
    out.extend(refused(&others, &alone, &hints, locate));
    out
}

fn path_of(hook: Option<HostHook>) -> Option<Path> {
    match hook? {
        HostHook::Input => Some(Path::Input),
        HostHook::Forward => Some(Path::Forward),
        HostHook::Output => Some(Path::Output),
        _ => None,
    }
}

/// Policy lines whose traffic another table refuses (surely or maybe).
fn defeated(
    ours: &HostTable,
    alone: &HostRuleset,
    all: &HostRuleset,
    hints: &Hints,
    locate: &dyn Fn(&Span) -> String,
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for c in &ours.chains {
        let Some(path) = path_of(c.base.as_ref().and_then(|b| b.hook)) else {
            continue;
        };
        for (i, r) in c.rules.iter().enumerate() {
            if r.action != Action::Accept || r.origin.is_empty() {
                continue;
            }
            for pkt in each_interface(&r.conds, &ours.sets, path, hints) {
                let mine = host::evaluate(alone, path, &pkt);
                if !decided_by(&mine, &c.name, i, &EndKind::Accept) {
                    continue; // an earlier rule of ours decides this packet
                }
                let d = host::evaluate(all, path, &pkt);
                let Some((step, end, sure)) = refusal(&d) else {
                    continue;
                };
                let key = (
                    i,
                    c.name.clone(),
                    step.table.clone(),
                    step.chain.clone(),
                    end.at.clone().map(|a| (a.chain, a.index)),
                );
                if !seen.insert(key) {
                    continue; // this refusal is reported; another packet may meet another
                }
                let line = r.origin.first().map(locate).unwrap_or_default();
                out.push(Change {
                    severity: Severity::Warning,
                    can_drop: Some(if sure { CanDrop::Yes } else { CanDrop::Unknown }),
                    packet: Some(crate::eval::text::format(&pkt)),
                    policy_line: Some(line.clone()),
                    ..change(
                        Kind::PolicyDefeated,
                        &format!("table {} chain {}", step.table, step.chain),
                        Some(format!("{line} allows {}", crate::eval::text::format(&pkt))),
                        Some(end_text(step, end, sure)),
                    )
                });
            }
        }
    }
    out
}

/// A rule's example packets on every interface another table names that its interface
/// patterns match (`virbr*`: virbr0 and virbr1 each), not only the first: the tables may
/// treat them differently, and which comes first depends on the order rules were added.
fn each_interface(
    conds: &[Cond],
    sets: &[crate::ir::Set],
    path: Path,
    hints: &Hints,
) -> Vec<crate::eval::Packet> {
    let mut out = probes::packets(conds, sets, path, hints);
    for name in &hints.names {
        let one = Hints {
            names: vec![name.clone()],
            nets: hints.nets.clone(),
            ports: hints.ports.clone(),
        };
        for p in probes::packets(conds, sets, path, &one) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The first other table's chain that refuses the packet (surely), or may (unknown).
fn refusal(d: &HostDecision) -> Option<(&Step, &End, bool)> {
    if let Answer::Refused { step } = d.answer {
        let s = &d.steps[step];
        return (!s.ours).then(|| (s, &s.ends[0], true));
    }
    if d.answer != Answer::Unknown {
        return None;
    }
    d.steps.iter().filter(|s| !s.ours).find_map(|s| {
        s.ends
            .iter()
            .find(|e| e.kind.refuses() || matches!(e.kind, EndKind::Unknown(_)))
            .map(|e| (s, e, false))
    })
}

/// Whether our chain `chain` ends the packet at rule `index` with `kind`.
fn decided_by(d: &HostDecision, chain: &str, index: usize, kind: &EndKind) -> bool {
    d.steps.iter().any(|s| {
        s.ours
            && s.ends.len() == 1
            && s.ends[0].kind == *kind
            && s.ends[0]
                .at
                .as_ref()
                .is_some_and(|a| a.chain == chain && a.index == index)
    })
}

/// "rule 2 of chain LIBVIRT_FWI (oifname "virbr0" reject) rejects it".
pub fn end_text(step: &Step, e: &End, sure: bool) -> String {
    let verb = match (&e.kind, sure) {
        (EndKind::Drop, true) => "drops it".to_string(),
        (EndKind::Reject(_), true) => "rejects it".to_string(),
        (EndKind::Drop, false) => "may drop it".to_string(),
        (EndKind::Reject(_), false) => "may reject it".to_string(),
        (EndKind::Unknown(w), _) => format!("may refuse it ({w})"),
        (EndKind::Accept, _) => "accepts it".to_string(),
    };
    let what = match &e.at {
        Some(a) => format!("rule {} of chain {} ({})", a.index + 1, a.chain, a.text),
        None => format!("the policy of chain {}", step.chain),
    };
    let mut s = format!("{what} {verb}");
    if !e.assumed.is_empty() {
        s.push_str(&format!(" [{}]", e.assumed.join("; ")));
    }
    s
}

/// Another table's accept rules, with the conditions of the jumps that reach them.
struct Accepting<'a> {
    path: Path,
    chain: &'a str,
    index: usize,
    conds: Vec<Cond>,
}

fn accepting<'a>(t: &'a HostTable, base: &'a HostChain, path: Path) -> Vec<Accepting<'a>> {
    let mut out = Vec::new();
    let mut todo: Vec<(&HostChain, Vec<Cond>)> = vec![(base, Vec::new())];
    let mut seen = HashSet::new();
    while let Some((c, prefix)) = todo.pop() {
        if !seen.insert(c.name.as_str()) {
            continue;
        }
        for (i, r) in c.rules.iter().enumerate() {
            let mut conds = prefix.clone();
            conds.extend(r.conds.iter().cloned());
            match &r.action {
                Action::Accept => out.push(Accepting {
                    path,
                    chain: &c.name,
                    index: i,
                    conds,
                }),
                Action::Jump(n) | Action::Goto(n) => {
                    if let Some(sub) = t.chains.iter().find(|x| &x.name == n) {
                        todo.push((sub, conds));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// What a suggested policy line allows, grouped per interface and path.
#[derive(Default)]
struct Want {
    ports: BTreeMap<&'static str, BTreeSet<u16>>,
    services: BTreeSet<String>,
    objects: Vec<String>,
}

/// The first example packet of another table's accept rule `a` that the table itself
/// accepts there and our table refuses, as a warning.
fn refused_one(
    t: &HostTable,
    solo: &HostRuleset,
    alone: &HostRuleset,
    a: &Accepting,
    hints: &Hints,
    locate: &dyn Fn(&Span) -> String,
) -> Option<Change> {
    let rule_text = (t.chains.iter().find(|c| c.name == a.chain))
        .and_then(|c| c.rules.get(a.index))
        .map_or(String::new(), |r| r.text.clone());
    for pkt in probes::packets(&a.conds, &t.sets, a.path, hints) {
        let theirs = host::evaluate(solo, a.path, &pkt);
        if !decided_by_foreign(&theirs, a.chain, a.index) {
            continue;
        }
        let mine = host::evaluate(alone, a.path, &pkt);
        let Answer::Refused { step } = mine.answer else {
            continue;
        };
        let s = &mine.steps[step];
        let ours_end = &s.ends[0];
        let line = (ours_end.at.as_ref())
            .and_then(|at| at.origin.first())
            .map(locate);
        let object = format!("table {} chain {} rule {}", t.title(), a.chain, a.index + 1);
        let packet = crate::eval::text::format(&pkt);
        let ours = format!(
            "table {} chain {}: {}",
            s.table,
            s.chain,
            end_text(s, ours_end, true)
        );
        return Some(Change {
            severity: Severity::Warning,
            packet: Some(packet.clone()),
            policy_line: line,
            ..change(
                Kind::PolicyRefuses,
                &object,
                Some(ours),
                Some(format!("accepts {packet} ({rule_text})")),
            )
        });
    }
    None
}

/// Traffic another table accepts and ours refuses.
fn refused(
    others: &[Arc<HostTable>],
    alone: &HostRuleset,
    hints: &Hints,
    locate: &dyn Fn(&Span) -> String,
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut wants: BTreeMap<(Path, String), Want> = BTreeMap::new();
    for t in others.iter().filter(|t| !t.dormant && ip_family(t)) {
        let solo = HostRuleset {
            tables: vec![t.clone()],
        };
        for base in &t.chains {
            let Some(b) = &base.base else { continue };
            let Some(path) = path_of(b.hook) else {
                continue;
            };
            if b.chain_type != ChainType::Filter {
                continue;
            }
            for a in accepting(t, base, path) {
                if !has_purpose(&a.conds) {
                    continue;
                }
                let Some(change) = refused_one(t, &solo, alone, &a, hints, locate) else {
                    continue;
                };
                if let Some(key) = suggestion_key(&a.conds, path) {
                    let w = wants.entry(key).or_default();
                    add_ports(w, &a.conds);
                    w.objects.push(change.object.clone());
                }
                out.push(change);
            }
        }
    }
    attach_suggestions(&mut out, &wants);
    out
}

/// A purpose hostwall can state: no unknown condition, and at least one that names
/// traffic (an interface, address, port or ICMP type). A bare `accept`, or one on
/// conntrack state alone, is a chain passing packets on, not a service.
fn has_purpose(conds: &[Cond]) -> bool {
    let known = !conds.iter().any(|c| matches!(c, Cond::Unknown(_)));
    let names = conds.iter().any(|c| {
        matches!(
            c,
            Cond::Is(
                Match::IifName(_)
                    | Match::OifName(_)
                    | Match::Saddr(_)
                    | Match::Daddr(_)
                    | Match::Dport(..)
                    | Match::IcmpType(_)
                    | Match::Icmpv6Type(_)
            )
        )
    });
    known && names
}

fn ip_family(t: &HostTable) -> bool {
    matches!(
        t.family,
        Some(TableFamily::Ip | TableFamily::Ip6 | TableFamily::Inet)
    )
}

fn decided_by_foreign(d: &HostDecision, chain: &str, index: usize) -> bool {
    d.answer == Answer::Accept
        && d.steps.iter().any(|s| {
            s.ends.iter().any(|e| {
                e.at.as_ref()
                    .is_some_and(|a| a.chain == chain && a.index == index)
            })
        })
}

/// Suggestions are grouped by path and interface (`on "virbr0"`, `in "virbr0"`).
fn suggestion_key(conds: &[Cond], path: Path) -> Option<(Path, String)> {
    let iface = conds.iter().find_map(|c| match (c, path) {
        (Cond::Is(Match::IifName(n)), Path::Input | Path::Forward) => Some(n),
        _ => None,
    })?;
    let name = if iface.wildcard {
        format!("{}*", iface.name)
    } else {
        iface.name.clone()
    };
    Some((path, name))
}

fn add_ports(w: &mut Want, conds: &[Cond]) {
    for c in conds {
        if let Cond::Is(Match::Dport(p, PortMatch::Port(n))) = c {
            let proto = match p {
                crate::ir::L4Proto::Udp => "udp",
                crate::ir::L4Proto::Sctp => "sctp",
                _ => "tcp",
            };
            w.ports.entry(proto).or_default().insert(*n);
            if let Some(s) = service_name(proto, *n) {
                w.services.insert(s.to_string());
            }
        }
    }
}

/// The catalog's name for a port, if one service has it.
fn service_name(proto: &str, port: u16) -> Option<&'static str> {
    crate::check::catalog::CATALOG.iter().find_map(|b| {
        b.ports
            .iter()
            .any(|(p, lo, hi)| p.name() == proto && (*lo..=*hi).contains(&port))
            .then_some(b.name)
    })
}

/// The suggested line for each group, on every change of the group.
fn attach_suggestions(out: &mut [Change], wants: &BTreeMap<(Path, String), Want>) {
    for ((path, iface), w) in wants {
        let ports: Vec<String> = w
            .ports
            .iter()
            .map(|(p, set)| {
                format!(
                    "{p} {}",
                    set.iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        let what = if ports.is_empty() {
            String::new()
        } else {
            format!("{} ", ports.join(" "))
        };
        let services = w.services.iter().cloned().collect::<Vec<_>>().join(", ");
        let note = if services.is_empty() {
            String::new()
        } else {
            format!("  # {services} on {iface}")
        };
        let line = match path {
            Path::Input => format!("allow {what}on \"{iface}\"{note}"),
            Path::Forward => format!("forward {{ allow {what}in \"{iface}\" }}{note}"),
            // The policy language has no output rules: no line to suggest.
            Path::Output => continue,
        };
        for c in out.iter_mut().filter(|c| w.objects.contains(&c.object)) {
            c.suggestion = Some(line.clone());
            if !services.is_empty() {
                c.service = Some(services.clone());
            }
        }
    }
}

#[cfg(test)]
#[path = "conflict_tests.rs"]
mod tests;
