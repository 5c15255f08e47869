//! The verify result table: one row per probe (with the rule deciding it and
//! the rules it exercises), one `not probed: <reason>` row per net no probe
//! could use, the notes, the coverage lines, then
//! `N passed, M failed, K not probed`.

use super::VerifyReport;
use std::fmt::Write;

/// Renders the report as an aligned plain-text table ending in the summary line.
pub fn render_table(report: &VerifyReport) -> String {
    let rows: Vec<[String; 5]> = report
        .probes
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.expected.to_string(),
                p.seen.to_string(),
                if p.pass { "PASS" } else { "FAIL" }.to_string(),
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
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} not probed",
        report.passed(),
        report.failed(),
        report.not_probed.len()
    );
    out
}

/// `coverage: C of N input cells probed; P overlapping rule pairs, X crossed`,
/// a line per pair not crossed, and the budget's cut.
fn coverage_lines(out: &mut String, c: &super::Coverage) {
    let _ = writeln!(
        out,
        "coverage: {} of {} input cells probed; {} overlapping rule pairs, {} crossed",
        c.cells_probed, c.cells, c.pairs, c.crossed
    );
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
                },
                ProbeResult {
                    name: "udp 22 from 198.18.0.2".into(),
                    expected: Outcome::Prohibited,
                    seen: Outcome::Timeout,
                    pass: false,
                    rules: "decided by input chain policy; crosses p:2 × p:3".into(),
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
            },
        };
        let want = "\
probe                   expected    seen     result                           rules
tcp 22 from 198.18.0.2  open        open     PASS                             decided by p:3 accept
udp 22 from 198.18.0.2  prohibited  timeout  FAIL                             decided by input chain policy; crosses p:2 × p:3
from 224.0.0.5 (ospf)   -           -        not probed: the kernel drops it
note: no forward chain: none probed
coverage: 7 of 40 input cells probed; 2 overlapping rule pairs, 1 crossed
not crossed: p:2 × p:4: needs protocol sctp
budget: 2 of 9 planned probes sent (--probes; crossings and boundaries first)
1 passed, 1 failed, 1 not probed
";
        assert_eq!(render_table(&report), want);
    }
}
