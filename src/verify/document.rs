//! The verify report as `verify --format json` writes it (schema 1 in
//! docs/schema/verify.schema.json): its own output types, so renaming a field of the
//! report cannot change the schema.

use super::report::{Failure, ProbePacket, Summary, classify};
use super::{Coverage, Outcome, VerifyReport};
use serde::Serialize;

/// The report's part of the document (the CLI adds the envelope and the policy).
#[derive(Serialize)]
pub struct Document<'a> {
    pub summary: Summary,
    /// Every probe, or with `--failures-only` the failing ones, in the table's order.
    pub probes: Vec<ProbeOut<'a>>,
    pub not_probed: Vec<NotProbedOut<'a>>,
    pub notes: &'a [String],
    pub coverage: CoverageOut<'a>,
}

#[derive(Serialize)]
pub struct ProbeOut<'a> {
    pub name: &'a str,
    #[serde(flatten)]
    pub packet: Option<&'a ProbePacket>,
    pub expected: String,
    pub observed: String,
    pub pass: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The policy's rule deciding the probe and the rules it exercises.
    pub reason: &'a str,
}

#[derive(Serialize)]
pub struct NotProbedOut<'a> {
    pub name: &'a str,
    pub reason: &'a str,
}

#[derive(Serialize)]
pub struct CoverageOut<'a> {
    pub cells: u128,
    pub cells_probed: usize,
    pub pairs: usize,
    pub crossed: usize,
    pub not_crossed: Vec<NotProbedOut<'a>>,
    /// Probes sent and planned when `--probes` cut the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// What the probes the host sends cover of the output block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<super::output_report::OutputCoverageOut>,
}

#[derive(Serialize)]
pub struct Budget {
    pub sent: usize,
    pub planned: usize,
}

/// The document for `report`; `failures_only` leaves passing probes out (the summary
/// still counts them).
pub fn document(report: &VerifyReport, failures_only: bool) -> Document<'_> {
    Document {
        summary: report.summary(),
        probes: (report.probes.iter())
            .filter(|p| !(failures_only && p.pass))
            .map(|p| ProbeOut {
                name: &p.name,
                packet: p.packet.as_ref(),
                expected: outcome(&p.expected),
                observed: outcome(&p.seen),
                pass: p.pass,
                failure: classify(&p.expected, &p.seen),
                reason: &p.rules,
            })
            .collect(),
        not_probed: (report.not_probed.iter())
            .map(|n| NotProbedOut {
                name: &n.name,
                reason: &n.reason,
            })
            .collect(),
        notes: &report.notes,
        coverage: coverage(&report.coverage),
    }
}

fn outcome(o: &Outcome) -> String {
    o.to_string()
}

fn coverage(c: &Coverage) -> CoverageOut<'_> {
    CoverageOut {
        cells: c.cells,
        cells_probed: c.cells_probed,
        pairs: c.pairs,
        crossed: c.crossed,
        not_crossed: (c.not_crossed.iter())
            .map(|(pair, why)| NotProbedOut {
                name: pair,
                reason: why,
            })
            .collect(),
        budget: c.cut.map(|(sent, planned)| Budget { sent, planned }),
        output: super::output_report::document(&c.output),
    }
}
