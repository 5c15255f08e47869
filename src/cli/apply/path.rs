//! What an apply did, for people: its summary, with the path it took (in place, with
//! what it changed, or a full replace, with why) and what it planned from.

use hostwall::apply::{ApplyPath, ApplyReport, PlanBasis};
use hostwall::ir::Ruleset;

/// Which path the apply took: `  incremental: ...` with the counts, or
/// `  full replace: <why>`.
pub(super) fn line(p: &ApplyPath) -> String {
    match p {
        ApplyPath::Full { reason } if reason.is_empty() => String::new(),
        ApplyPath::Full { reason } => format!("  full replace: {reason}\n"),
        ApplyPath::Incremental { summary: c } if c.is_empty() => {
            "  incremental: nothing to change, nothing sent\n".to_string()
        }
        ApplyPath::Incremental { summary: c } => {
            let mut parts = Vec::new();
            let mut count = |n: usize, what: &str| {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            };
            count(c.elements_added, "elements added");
            count(c.elements_removed, "elements removed");
            count(c.rules_added, "rules added");
            count(c.rules_removed, "rules removed");
            count(c.rules_replaced, "rules replaced");
            count(c.sets_added, "sets added");
            count(c.sets_removed, "sets removed");
            count(c.chains_added, "chains added");
            count(c.chains_removed, "chains removed");
            format!("  incremental: {}\n", parts.join(", "))
        }
    }
}

/// What the in-place plan was made from (`  planned from ...`), and why no table
/// record was kept for the next apply, when that failed.
pub(super) fn basis(b: &PlanBasis, dumps: u32, record_error: Option<&str>) -> String {
    let mut s = match b {
        PlanBasis::None => String::new(),
        PlanBasis::Record if dumps == 0 => {
            "  planned from the table record: our table was not read\n".into()
        }
        PlanBasis::Record => {
            "  planned from the table record; our table was read for the sysctl step's rollback\n"
                .into()
        }
        PlanBasis::Copy => "  planned from the copy taken for the revert\n".into(),
        PlanBasis::Read { why } => format!("  planned from a read of our table ({why})\n"),
    };
    if let Some(e) = record_error {
        s.push_str(&format!(
            "  no table record kept ({e}): the next apply reads our table\n"
        ));
    }
    s
}

/// The apply's report for people: the batch, the path taken, what it was planned
/// from, resends and the sysctls written.
pub(super) fn summary(rs: &Ruleset, netns: Option<&str>, r: &ApplyReport) -> String {
    let mut s = format!(
        "hostwall: applied table {} {}{}: {} messages, {} in one batch, {:.1} ms in the kernel ({:.1} ms total), generation {} -> {}\n",
        rs.table.family.name(),
        rs.table.name,
        super::netns_text(netns),
        r.messages,
        bytes(r.batch_bytes),
        r.send_time.as_secs_f64() * 1e3,
        (r.build_time + r.send_ack_time).as_secs_f64() * 1e3,
        r.genid_before,
        r.genid,
    );
    s.push_str(&line(&r.path));
    s.push_str(&basis(&r.basis, r.table_dumps, r.record_error.as_deref()));
    s.push_str(&handles(r));
    if r.resends > 0 {
        s.push_str(&format!(
            "  resent {} time{}: other tables changed meanwhile (ours did not)\n",
            r.resends,
            if r.resends == 1 { "" } else { "s" }
        ));
    }
    for c in &r.sysctls {
        if c.old != c.new {
            s.push_str(&format!("  sysctl {c}\n"));
        }
    }
    s
}

/// After an in-place change, how the next table record learned the new rules' handles
/// when the kernel's echoes did not give them all (more rules put than are asked for,
/// or a receive queue too small to hold the echoes): a dump of our rules.
fn handles(r: &ApplyReport) -> String {
    let in_place = matches!(r.path, ApplyPath::Incremental { .. });
    match in_place && r.rule_dumps > 0 && r.record_error.is_none() {
        true => "  the new rules' handles read back by a dump of our rules (not all echoed)\n"
            .to_string(),
        false => String::new(),
    }
}

fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}
