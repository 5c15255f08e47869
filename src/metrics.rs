//! `hostwall metrics`: what it gathers ([`Snapshot`]: drift, the apply record, the
//! pending change, the counted rules) and how it is written for Prometheus
//! (node_exporter's textfile collector): the families, their names and units, every
//! kind always present so that alerts see a zero, never a missing series. `expo`
//! writes the format, `labels` names the counted rules, `nagios` is `diff --check`,
//! `source` tells how full the per-source limit sets are.

pub mod cache;
pub mod expo;
pub mod labels;
pub mod nagios;
pub mod source;

use crate::diff::{Kind, Severity};
use crate::drift::DriftReport;
use expo::{Family, Type};
use labels::Sums;

/// Everything one run gathered; each part that could not be read is `None` and named
/// in `errors`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub drift: Option<DriftReport>,
    /// The last apply recorded in the namespace.
    pub applied: Option<Applied>,
    /// `Some(seconds left)` while an `apply --confirm` change waits for its confirm;
    /// `None` when nothing is pending or it could not be read (then in `errors`).
    pub pending: Option<u64>,
    pub counters: Option<Sums>,
    pub errors: Vec<ScrapeError>,
    /// The per-source limit sets of our table and how full they are.
    pub source_sets: Option<Vec<source::SourceSet>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The generation id right after the apply.
    pub genid: u32,
    /// When it was recorded (Unix seconds), if known.
    pub at: Option<u64>,
}

/// One part of the scrape that failed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeError {
    pub part: Part,
    pub message: String,
}

/// The parts a scrape reads, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The apply record in the state directory.
    Record,
    /// The policy (read, checked, compiled).
    Policy,
    /// The live ruleset compared with the policy.
    Ruleset,
    /// The counted rules of our table.
    Counters,
    /// The pending-change record.
    Pending,
    /// How full the per-source limit sets are.
    SourceLimits,
}

impl Part {
    pub const ALL: [Part; 6] = [
        Part::Record,
        Part::Policy,
        Part::Ruleset,
        Part::Counters,
        Part::Pending,
        Part::SourceLimits,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Record => "record",
            Part::Policy => "policy",
            Part::Ruleset => "ruleset",
            Part::Counters => "counters",
            Part::Pending => "pending",
            Part::SourceLimits => "source-limits",
        }
    }
}

/// Whether a kind is a warning about other tables rather than drift of ours (every
/// kind named, so a new kind must be placed here).
pub fn is_warning(k: Kind) -> bool {
    match k {
        Kind::ForeignBaseChain
        | Kind::ForeignChanging
        | Kind::PolicyDefeated
        | Kind::PolicyRefuses => true,
        Kind::TableMissing
        | Kind::ChainMissing
        | Kind::ChainExtra
        | Kind::ChainHook
        | Kind::ChainPolicy
        | Kind::RuleMissing
        | Kind::RuleAdded
        | Kind::RuleChanged
        | Kind::RuleMoved
        | Kind::SetMissing
        | Kind::SetExtra
        | Kind::SetType
        | Kind::ElementMissing
        | Kind::ElementExtra
        | Kind::Sysctl
        | Kind::ObjectExtra
        | Kind::FlowtableExtra
        | Kind::Unsupported => false,
    }
}

/// The kind's name in `diff --format json` (`rule-missing`).
pub fn kind_name(k: Kind) -> String {
    match serde_json::to_value(k) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{k:?}"),
    }
}

/// The textfile: an error comment per failed part, then every family.
pub fn render(s: &Snapshot) -> String {
    let comments: Vec<String> = s
        .errors
        .iter()
        .map(|e| format!("hostwall: cannot read the {}: {}", e.part.name(), e.message))
        .collect();
    let mut families = vec![Family::single(
        "hostwall_up",
        Type::Gauge,
        "1 when every part of this scrape was read, 0 when one failed (see hostwall_scrape_error)",
        u64::from(s.errors.is_empty()),
    )];
    let mut failed = Family::new(
        "hostwall_scrape_error",
        Type::Gauge,
        "1 when this part could not be read: record, policy, ruleset, counters, pending, source-limits",
    );
    for p in Part::ALL {
        let bad = s.errors.iter().any(|e| e.part == p);
        failed
            .samples
            .push((vec![("part", p.name().into())], u64::from(bad)));
    }
    families.push(failed);
    families.extend(drift_families(s.drift.as_ref()));
    families.extend(record_families(s));
    if let Some(sums) = &s.counters {
        families.extend(counter_families(sums));
    }
    if let Some(sets) = &s.source_sets {
        families.extend(source::families(sets));
    }
    expo::render(&comments, &families)
}

fn drift_families(d: Option<&DriftReport>) -> Vec<Family> {
    let Some(d) = d else {
        return Vec::new();
    };
    let mut drift = Family::new(
        "hostwall_drift_changes",
        Type::Gauge,
        "Differences between the live table (and forwarding sysctls) and the policy, by kind",
    );
    let mut warn = Family::new(
        "hostwall_warnings",
        Type::Gauge,
        "Warnings about the host's other tables (they may drop what the policy allows), by kind",
    );
    // Every kind is always present (0 when none), so a series never disappears.
    for k in Kind::ALL {
        let n = d.changes.iter().filter(|c| c.kind == k).count() as u64;
        let warning = d
            .changes
            .iter()
            .find(|c| c.kind == k)
            .map_or(is_warning(k), |c| c.severity == Severity::Warning);
        let f = if warning { &mut warn } else { &mut drift };
        f.samples.push((vec![("kind", kind_name(k))], n));
    }
    vec![
        Family::single(
            "hostwall_in_sync",
            Type::Gauge,
            "1 when the live table and forwarding sysctls are what the policy compiles to",
            u64::from(d.in_sync()),
        ),
        drift,
        warn,
        Family::single(
            "hostwall_fast_path",
            Type::Gauge,
            "1 when sync was answered from the apply record (generation id unchanged), 0 after a full comparison",
            u64::from(d.fast_path),
        ),
        Family::single(
            "hostwall_generation",
            Type::Gauge,
            "The nf_tables generation id the comparison refers to",
            u64::from(d.genid),
        ),
    ]
}

fn record_families(s: &Snapshot) -> Vec<Family> {
    let mut out = Vec::new();
    if let Some(a) = &s.applied {
        out.push(Family::single(
            "hostwall_last_apply_generation",
            Type::Gauge,
            "The nf_tables generation id right after hostwall's last apply here",
            u64::from(a.genid),
        ));
        if let Some(at) = a.at {
            out.push(Family::single(
                "hostwall_last_apply_timestamp_seconds",
                Type::Gauge,
                "When hostwall last applied here (Unix time)",
                at,
            ));
        }
    }
    if !s.errors.iter().any(|e| e.part == Part::Pending) {
        out.push(Family::single(
            "hostwall_pending_change",
            Type::Gauge,
            "1 while an apply --confirm change waits for hostwall confirm",
            u64::from(s.pending.is_some()),
        ));
        out.push(Family::single(
            "hostwall_pending_remaining_seconds",
            Type::Gauge,
            "Seconds left before the pending change is reverted (0 when none is pending)",
            s.pending.unwrap_or(0),
        ));
    }
    out
}

fn counter_families(sums: &Sums) -> Vec<Family> {
    let mut packets = Family::new(
        "hostwall_rule_packets_total",
        Type::Counter,
        "Packets matched by a policy rule with `counter`, by chain, service, verdict and policy line",
    );
    let mut bytes = Family::new(
        "hostwall_rule_bytes_total",
        Type::Counter,
        "Bytes matched by a policy rule with `counter`, by chain, service, verdict and policy line",
    );
    for (l, (p, b)) in &sums.rules {
        let labels = vec![
            ("chain", l.chain.clone()),
            ("service", l.service.clone()),
            ("verdict", l.verdict.clone()),
            ("line", l.line.clone()),
        ];
        packets.samples.push((labels.clone(), *p));
        bytes.samples.push((labels, *b));
    }
    let mut rp = Family::new(
        "hostwall_rejected_packets_total",
        Type::Counter,
        "Packets the default action refused (`count rejected`), by chain",
    );
    let mut rb = Family::new(
        "hostwall_rejected_bytes_total",
        Type::Counter,
        "Bytes the default action refused (`count rejected`), by chain",
    );
    for (chain, (p, b)) in &sums.rejected {
        rp.samples.push((vec![("chain", chain.clone())], *p));
        rb.samples.push((vec![("chain", chain.clone())], *b));
    }
    vec![packets, bytes, rp, rb]
}
