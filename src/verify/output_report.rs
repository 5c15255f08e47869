//! The output block's coverage in the reports: the text line after the input
//! coverage line, and the `coverage.output` object of the JSON document.

use super::output::OutputCoverage;
use serde::Serialize;
use std::fmt::Write;

/// `output coverage: R of N output rules decide a probe; P overlapping output rule
/// pairs, X crossed` (nothing when no output rule can be probed).
pub(super) fn coverage_line(out: &mut String, c: &OutputCoverage) {
    if c.rules == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "output coverage: {} of {} output rules decide a probe; {} overlapping output rule \
         pairs, {} crossed",
        c.rules_probed, c.rules, c.pairs, c.crossed
    );
}

/// `coverage.output` in `verify --format json`.
#[derive(Serialize)]
pub struct OutputCoverageOut {
    pub rules: usize,
    pub rules_probed: usize,
    pub pairs: usize,
    pub crossed: usize,
}

/// The JSON object, absent when no output rule can be probed.
pub(super) fn document(c: &OutputCoverage) -> Option<OutputCoverageOut> {
    (c.rules > 0).then_some(OutputCoverageOut {
        rules: c.rules,
        rules_probed: c.rules_probed,
        pairs: c.pairs,
        crossed: c.crossed,
    })
}
