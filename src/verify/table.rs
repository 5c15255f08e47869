//! The verify result table: one row per probe, one `not probed: <reason>` row
//! per net no probe could use, the notes, then `N passed, M failed, K not probed`.

use super::VerifyReport;
use std::fmt::Write;

/// Renders the report as an aligned plain-text table ending in the summary line.
pub fn render_table(report: &VerifyReport) -> String {
    let rows: Vec<[String; 4]> = report
        .probes
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.expected.to_string(),
                p.seen.to_string(),
                if p.pass { "PASS" } else { "FAIL" }.to_string(),
            ]
        })
        .chain(report.not_probed.iter().map(|n| {
            [
                n.name.clone(),
                "-".to_string(),
                "-".to_string(),
                format!("not probed: {}", n.reason),
            ]
        }))
        .collect();
    let header = ["probe", "expected", "seen", "result"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} not probed",
        report.passed(),
        report.failed(),
        report.not_probed.len()
    );
    out
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
                },
                ProbeResult {
                    name: "udp 22 from 198.18.0.2".into(),
                    expected: Outcome::Prohibited,
                    seen: Outcome::Timeout,
                    pass: false,
                },
            ],
            not_probed: vec![NotProbed {
                name: "from 224.0.0.5 (ospf)".into(),
                reason: "the kernel drops it".into(),
            }],
            notes: vec!["no forward chain: none probed".into()],
        };
        let want = "\
probe                   expected    seen     result
tcp 22 from 198.18.0.2  open        open     PASS
udp 22 from 198.18.0.2  prohibited  timeout  FAIL
from 224.0.0.5 (ospf)   -           -        not probed: the kernel drops it
note: no forward chain: none probed
1 passed, 1 failed, 1 not probed
";
        assert_eq!(render_table(&report), want);
    }
}
