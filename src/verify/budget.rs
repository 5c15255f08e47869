//! The probe budget (`--probes`) and the coverage line: which planned probes
//! are kept when there are more than the budget (the partition's crossings
//! and boundaries first, then its rule samples, then the per-endpoint matrix,
//! then forward probes), and what the kept ones cover — cells of the input
//! partition, and overlapping rule pairs crossed.

use super::Coverage;
use super::cover::{Cover, RuleAt};
use super::forward::FwdPlanned;
use super::labels::Labels;
use super::matrix::{Planned, first_packet};
use super::topology::Topology;
use crate::ir::{Hook, Ruleset};
use crate::space::Cube;
use crate::space::cells::{ExtraCuts, Partition};
use std::collections::BTreeSet;

/// Reasons (crossings, samples) named per probe in the table.
const SHOWN: usize = 2;

/// Keeps at most `cap` probes, by priority and then plan order (a stable
/// sort, so plan order holds within a priority); forward probes come after
/// every input probe. Returns (kept, planned) when it cut.
pub(crate) fn cut(
    planned: &mut Vec<Planned>,
    fwd: &mut Vec<FwdPlanned>,
    cap: usize,
    left_out: usize,
) -> Option<(usize, usize)> {
    let total = planned.len() + fwd.len() + left_out;
    if total <= cap {
        return None;
    }
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| planned[i].priority);
    let keep: BTreeSet<usize> = order.into_iter().take(cap).collect();
    let mut i = 0;
    planned.retain(|_| {
        i += 1;
        keep.contains(&(i - 1))
    });
    fwd.truncate(cap - planned.len());
    Some((planned.len() + fwd.len(), total))
}

/// What the kept input probes cover.
pub(crate) fn coverage(
    rs: &Ruleset,
    against: Option<&Ruleset>,
    topo: &Topology,
    planned: &[Planned],
    cover: &Cover,
    labels: &Labels<'_>,
    cut: Option<(usize, usize)>,
) -> Coverage {
    let mut cubes = Vec::new();
    for r in std::iter::once(rs).chain(against) {
        for rule in super::inputs::input_rules(r) {
            if let Ok(Some(c)) = Cube::of_rule(r, rule, Hook::Input) {
                cubes.push(c);
            }
        }
    }
    let part = Partition::new(&cubes, Hook::Input, &ExtraCuts::default());
    let probed: BTreeSet<_> = planned
        .iter()
        .map(|p| {
            let ep = &topo.endpoints[p.endpoint];
            part.cell_of(&first_packet(topo, ep, p.kind, p.dst))
        })
        .collect();
    let sent: BTreeSet<_> = planned.iter().map(|p| (p.endpoint, p.kind)).collect();
    // The `--against` ruleset's own pairs add probes; the line counts the policy's.
    let pairs: Vec<_> = cover.pairs.iter().filter(|p| !p.a.against).collect();
    let mut cov = Coverage {
        cells: part.count(),
        cells_probed: probed.len(),
        pairs: pairs.len(),
        crossed: 0,
        not_crossed: Vec::new(),
        cut,
        output: Default::default(),
    };
    for pair in pairs {
        let why = match &pair.crossed {
            Ok(w) => {
                let w = &cover.wants[*w];
                if sent.contains(&(w.endpoint, w.kind)) {
                    cov.crossed += 1;
                    continue;
                }
                "its probe was cut by the budget (--probes)".to_string()
            }
            Err(why) => why.clone(),
        };
        let names = format!("{} × {}", labels.rule(&pair.a), labels.rule(&pair.b));
        cov.not_crossed.push((names, why));
    }
    cov
}

/// A probe's rules column: what decides it, and what it crosses or samples.
pub(crate) fn rules_text(p: &Planned, labels: &Labels<'_>) -> String {
    let mut out = match &p.decided {
        Some(c) => format!("decided by {}", labels.cause(c)),
        None => String::new(),
    };
    push_groups(&mut out, &p.rules, labels);
    out
}

/// Appends the rule groups a probe was chosen for: the policy's own pairs
/// first, then its samples, then the rest; at most [`SHOWN`] of them.
pub(crate) fn push_groups(out: &mut String, rules: &[Vec<RuleAt>], labels: &Labels<'_>) {
    let mut groups: Vec<&Vec<RuleAt>> = rules.iter().collect();
    groups.sort_by_key(|g| (!g.iter().all(|r| labels.is_policy_line(r)), g.len() == 1));
    for group in groups.iter().take(SHOWN) {
        let named: Vec<String> = group.iter().map(|r| labels.rule(r)).collect();
        let verb = if named.len() > 1 {
            "crosses"
        } else {
            "samples"
        };
        out.push_str(&format!("; {verb} {}", named.join(" × ")));
    }
    if groups.len() > SHOWN {
        out.push_str(&format!(" (+{} more)", groups.len() - SHOWN));
    }
}
