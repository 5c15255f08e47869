//! The text form of a diff, for people.

use super::{Change, Kind, Severity};

/// One line per change, for people: `rule missing in chain input (position 5): tcp dport ...`;
/// set elements summarised per set (`3 missing, 1 added`).
pub fn render_text(changes: &[Change]) -> String {
    render(changes, false)
}

/// [`render_text`] with every element of a set listed under its summary.
pub fn render_text_verbose(changes: &[Change]) -> String {
    render(changes, true)
}

fn is_element(c: &Change) -> bool {
    matches!(c.kind, Kind::ElementMissing | Kind::ElementExtra)
}

/// `drift: set elements differ: set blocklist (service ssh): 3 missing, 1 added`, then
/// (verbose) each element as the policy or the live table has it.
fn element_summary(s: &mut String, all: &[Change], first: &Change, verbose: bool) {
    let of_set: Vec<&Change> = (all.iter())
        .filter(|c| is_element(c) && c.object == first.object && c.severity == first.severity)
        .collect();
    let missing = of_set
        .iter()
        .filter(|c| c.kind == Kind::ElementMissing)
        .count();
    let added = of_set.len() - missing;
    let sev = match first.severity {
        Severity::Drift => "drift",
        Severity::Warning => "warning",
    };
    s.push_str(&format!("{sev}: set elements differ: {}", first.object));
    if let Some(svc) = &first.service {
        s.push_str(&format!(" (service {svc})"));
    }
    s.push_str(&format!(": {missing} missing, {added} added\n"));
    if !verbose {
        return;
    }
    for c in of_set {
        if let Some(e) = &c.expected {
            s.push_str(&format!("    policy says: {e}\n"));
        }
        if let Some(a) = &c.actual {
            s.push_str(&format!("    live has:    {a}\n"));
        }
    }
}

fn render(changes: &[Change], verbose: bool) -> String {
    let mut s = String::new();
    let mut summarised = std::collections::HashSet::new();
    for c in changes {
        if is_element(c) {
            if summarised.insert((c.object.as_str(), c.severity == Severity::Drift)) {
                element_summary(&mut s, changes, c, verbose);
            }
            continue;
        }
        let label = match c.kind {
            Kind::TableMissing => "table is absent",
            Kind::ChainMissing => "chain missing",
            Kind::ChainExtra => "chain not in the policy",
            Kind::ChainHook => "chain hook differs",
            Kind::ChainPolicy => "chain policy differs",
            Kind::RuleMissing => "rule missing",
            Kind::RuleAdded => "rule added by hand",
            Kind::RuleChanged => "rule changed",
            Kind::RuleMoved => "rule moved",
            Kind::SetMissing => "set missing",
            Kind::SetExtra => "set not in the policy",
            Kind::SetType => "set type differs",
            Kind::ElementMissing => "element missing",
            Kind::ElementExtra => "element added",
            Kind::Sysctl => "sysctl differs",
            Kind::ObjectExtra => "named object not in the policy",
            Kind::FlowtableExtra => "flowtable not in the policy",
            Kind::Unsupported => "object hostwall never makes",
            Kind::ForeignBaseChain => "another table's base chain sees the host's traffic",
            Kind::ForeignChanging => "another table changed while it was read",
            Kind::PolicyDefeated => "another table refuses what the policy allows",
            Kind::PolicyRefuses => "the policy refuses what another table accepts",
        };
        let sev = match c.severity {
            Severity::Drift => "drift",
            Severity::Warning => "warning",
        };
        s.push_str(&format!("{sev}: {label}: {}", c.object));
        if let Some(p) = c.position {
            s.push_str(&format!(", position {p}"));
        }
        if let Some(svc) = &c.service {
            s.push_str(&format!(" (service {svc})"));
        }
        s.push('\n');
        // A conflict's sides are the policy and the other table, not expected/live.
        let (ours, theirs) = match c.kind {
            Kind::PolicyDefeated | Kind::PolicyRefuses => ("policy:      ", "other table: "),
            _ => ("policy says: ", "live has:    "),
        };
        if let Some(e) = &c.expected {
            s.push_str(&format!("    {ours}{e}\n"));
        }
        if let Some(a) = &c.actual {
            s.push_str(&format!("    {theirs}{a}\n"));
        }
        if let Some(l) = &c.suggestion {
            s.push_str(&format!("    suggested:   {l}\n"));
        }
        for (i, r) in c.rules.iter().enumerate() {
            s.push_str(&format!("      rule {}: {r}\n", i + 1));
        }
    }
    s
}
