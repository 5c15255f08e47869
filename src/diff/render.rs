//! The text form of a diff, for people.

use super::{Change, Kind, Severity};

/// One line per change, for people: `rule missing in chain input (position 5): tcp dport ...`.
pub fn render_text(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
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
