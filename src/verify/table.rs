//! The verify result table: one row per probe (with the rule deciding it and
//! the rules it exercises), one `not probed: <reason>` row per net no probe
//! could use, the notes, the coverage lines, then
//! `N passed, M failed, K not probed`. A failing row names its class; with
//! security failures among others, those are listed again on their own before the
//! summary, which a line of the classes' counts precedes.

use super::VerifyReport;
use super::report::{Failure, classify};
use std::fmt::Write;

/// How the table is cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Only the failing probes' rows (the summary still counts every probe).
    pub failures_only: bool,
}

/// Renders the report as an aligned plain-text table ending in the summary line.
pub fn render_table(report: &VerifyReport) -> String {
    render_table_with(report, &TableOptions::default())
}

/// The result column: `PASS`, or `FAIL` and the class.
fn result(p: &super::ProbeResult) -> String {
    match classify(&p.expected, &p.seen) {
        None => "PASS".to_string(),
        Some(c) => format!("FAIL ({})", c.name()),
    }
}

/// [`render_table`] cut as `opts` says.
pub fn render_table_with(report: &VerifyReport, opts: &TableOptions) -> String {
    let rows: Vec<[String; 5]> = report
        .probes
        .iter()
        .filter(|p| !(opts.failures_only && p.pass))
        .map(|p| {
            [
                p.name.clone(),
                p.expected.to_string(),
                p.seen.to_string(),
                result(p),
                p.rules.clone(),
            ]
        })
        .chain(report.not_probed.iter().map(|n| {
            [
                n.name.clone(),
                "-".to_string(),
                "-".to_string(),
                format!("not probed: {}", n.reason),
                String::new(),
            ]
        }))
        .collect();
    let header = ["probe", "expected", "seen", "result", "rules"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    coverage_lines(&mut out, &report.coverage);
    failure_lines(&mut out, report);
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} not probed",
        report.passed(),
        report.failed(),
        report.not_probed.len()
    );
    out
}

/// When probes failed: the security failures on their own (when other classes would
/// bury them), then `failed: S security, R refused differently, E errors`.
fn failure_lines(out: &mut String, report: &VerifyReport) {
    let s = report.summary();
    if s.failed == 0 {
        return;
    }
    if s.security > 0 && s.security < s.failed {
        let _ = writeln!(
            out,
            "security failures (open where the policy says closed, or closed where it says open):"
        );
        for p in &report.probes {
            if classify(&p.expected, &p.seen) == Some(Failure::Security) {
                let _ = writeln!(
                    out,
                    "  {}: expected {}, seen {}",
                    p.name, p.expected, p.seen
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "failed: {} security, {} refused differently, {} error{}",
        s.security,
        s.refused_differently,
        s.errors,
        if s.errors == 1 { "" } else { "s" }
    );
}

/// `coverage: C of N input cells probed; P overlapping rule pairs, X crossed`,
/// a line per pair not crossed, and the budget's cut.
fn coverage_lines(out: &mut String, c: &super::Coverage) {
    let _ = writeln!(
        out,
        "coverage: {} of {} input cells probed; {} overlapping rule pairs, {} crossed",
        c.cells_probed, c.cells, c.pairs, c.crossed
    );
    super::output_report::coverage_line(out, &c.output);
    for (pair, why) in &c.not_crossed {
        let _ = writeln!(out, "not crossed: {pair}: {why}");
    }
    if let Some((sent, planned)) = c.cut {
        let _ = writeln!(
            out,
            "budget: {sent} of {planned} planned probes sent (--probes; crossings and boundaries first)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{NotProbed, Outcome, ProbeResult};

    #[test]
    fn aligned_rows_and_summary_last() {
        let report = VerifyReport {
            probes: vec![
                ProbeResult {
                    name: "tcp 22 from 198.18.0.2".into(),
                    expected: Outcome::Open,
                    seen: Outcome::Open,
                    pass: true,
                    rules: "decided by p:3 accept".into(),
                    packet: None,
                },
                ProbeResult {
                    name: "udp 22 from 198.18.0.2".into(),
                    expected: Outcome::Prohibited,
                    seen: Outcome::Timeout,
                    pass: false,
                    rules: "decided by input chain policy; crosses p:2 × p:3".into(),
                    packet: None,
                },
            ],
            not_probed: vec![NotProbed {
                name: "from 224.0.0.5 (ospf)".into(),
                reason: "the kernel drops it".into(),
            }],
            notes: vec!["no forward chain: none probed".into()],
            coverage: crate::verify::Coverage {
                cells: 40,
                cells_probed: 7,
                pairs: 2,
                crossed: 1,
                not_crossed: vec![("p:2 × p:4".into(), "needs protocol sctp".into())],
                cut: Some((2, 9)),
                output: Default::default(),
            },
        };
        let want = "\
probe                   expected    seen     result                           rules
tcp 22 from 198.18.0.2  open        open     PASS                             decided by p:3 accept
udp 22 from 198.18.0.2  prohibited  timeout  FAIL (refused differently)       decided by input chain policy; crosses p:2 × p:3
from 224.0.0.5 (ospf)   -           -        not probed: the kernel drops it
note: no forward chain: none probed
coverage: 7 of 40 input cells probed; 2 overlapping rule pairs, 1 crossed
not crossed: p:2 × p:4: needs protocol sctp
budget: 2 of 9 planned probes sent (--probes; crossings and boundaries first)
failed: 0 security, 1 refused differently, 0 errors
1 passed, 1 failed, 1 not probed
";
        assert_eq!(render_table(&report), want);
    }
}
