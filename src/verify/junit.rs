//! The verify report as JUnit XML (`verify --format junit`) for CI systems: one
//! testsuite per direction and family (and one for the sysctls, one for the nets not
//! probed), one testcase per probe; a failure's `type` is its class.

use super::report::{Failure, classify};
use super::{ProbeResult, VerifyReport};
use std::fmt::Write;

/// The suite a probe belongs to: `input ipv4`, `forward ipv6`, `sysctl`.
fn suite_of(p: &ProbeResult) -> String {
    match &p.packet {
        Some(k) => format!("{} {}", k.direction, k.family),
        None => "sysctl".to_string(),
    }
}

/// The suites in a fixed order, then any other in order of appearance.
const ORDER: [&str; 7] = [
    "input ipv4",
    "input ipv6",
    "forward ipv4",
    "forward ipv6",
    "output ipv4",
    "output ipv6",
    "sysctl",
];

/// The whole document; `failures_only` leaves passing testcases out.
pub fn render_junit(report: &VerifyReport, failures_only: bool) -> String {
    let s = report.summary();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"hostwall verify\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        s.probes + s.not_probed,
        s.security + s.refused_differently,
        s.errors,
        s.not_probed
    );
    let mut names: Vec<String> = ORDER.iter().map(|s| s.to_string()).collect();
    for p in &report.probes {
        let n = suite_of(p);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for name in &names {
        let probes: Vec<&ProbeResult> = (report.probes.iter())
            .filter(|p| &suite_of(p) == name)
            .collect();
        suite(&mut out, name, &probes, failures_only);
    }
    not_probed(&mut out, report);
    out.push_str("</testsuites>\n");
    out
}

fn suite(out: &mut String, name: &str, probes: &[&ProbeResult], failures_only: bool) {
    if probes.is_empty() {
        return;
    }
    let count = |c: Failure| {
        (probes.iter())
            .filter(|p| classify(&p.expected, &p.seen) == Some(c))
            .count()
    };
    let failures = count(Failure::Security) + count(Failure::RefusedDifferently);
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"0\">",
        esc(name),
        probes.len(),
        count(Failure::Error)
    );
    let class = format!("hostwall.verify.{}", name.replace(' ', "."));
    for p in probes.iter().filter(|p| !(failures_only && p.pass)) {
        testcase(out, &class, p);
    }
    out.push_str("  </testsuite>\n");
}

fn testcase(out: &mut String, class: &str, p: &ProbeResult) {
    let open = format!(
        "    <testcase classname=\"{}\" name=\"{}\"",
        esc(class),
        esc(&p.name)
    );
    let Some(failure) = classify(&p.expected, &p.seen) else {
        let _ = writeln!(out, "{open}/>");
        return;
    };
    let tag = if failure == Failure::Error {
        "error"
    } else {
        "failure"
    };
    let message = format!(
        "{}: the policy says {}, the ruleset did {}",
        failure.name(),
        p.expected,
        p.seen
    );
    let _ = writeln!(
        out,
        "{open}>\n      <{tag} type=\"{}\" message=\"{}\">{}</{tag}>\n    </testcase>",
        esc(failure.name()),
        esc(&message),
        esc(&p.rules)
    );
}

fn not_probed(out: &mut String, report: &VerifyReport) {
    if report.not_probed.is_empty() {
        return;
    }
    let n = report.not_probed.len();
    let _ = writeln!(
        out,
        "  <testsuite name=\"not probed\" tests=\"{n}\" failures=\"0\" errors=\"0\" skipped=\"{n}\">"
    );
    for u in &report.not_probed {
        let _ = writeln!(
            out,
            "    <testcase classname=\"hostwall.verify.not-probed\" name=\"{}\">\n      <skipped message=\"{}\"/>\n    </testcase>",
            esc(&u.name),
            esc(&u.reason)
        );
    }
    out.push_str("  </testsuite>\n");
}

/// Text as XML attribute or element content: the five special characters escaped, and
/// characters XML 1.0 cannot hold (controls other than tab and newline) replaced.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' => o.push(c),
            c if c.is_control() => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}
