//! `apply --dry-run`: what the apply would change, in the policy's terms, and the path
//! it would take. In place: one line per change with its policy line (each element and
//! each netlink message under `-v`); a full replace: why, and the diff of the live table
//! against the policy. Sysctl changes always. Touches nothing.

use super::refused::apply_error;
use super::{ApplyOptions, Loaded, Out, netns_text};
use hostwall::apply::ApplyPath;
use hostwall::ir::Ruleset;
use hostwall::source::Span;

pub(super) fn dry_run(
    out: &Out,
    loaded: &Loaded,
    rs: &Ruleset,
    opts: &ApplyOptions,
    verbose: bool,
) -> u8 {
    let report = match hostwall::apply::apply(rs, opts) {
        Ok(r) => r,
        Err(e) => return apply_error(out, loaded, &e),
    };
    let locate = |s: &Span| loaded.map.location(*s);
    if super::json::active() {
        // The document's before/after in the policy's terms (what Ansible's diff shows).
        let drift_opts = hostwall::drift::DriftOptions {
            netns: opts.netns.clone(),
            state_dir: std::path::PathBuf::new(),
            full: true,
        };
        let found = hostwall::drift::full(rs, &drift_opts);
        super::report::dry_run(&report, found.as_ref().ok());
        super::report::view(rs, opts.netns.as_deref());
    }
    let mut text = match &report.path {
        ApplyPath::Incremental { summary } => in_place(summary, &locate, verbose),
        ApplyPath::Full { reason } => full(rs, opts, reason, &locate),
    };
    let sysctls: Vec<&String> = (report.plan.iter())
        .filter(|l| l.starts_with("sysctl "))
        .collect();
    for l in &sysctls {
        text.push_str(&format!("  {l}\n"));
    }
    if verbose {
        text.push_str("\nthe batch it would send:\n");
        for line in report.plan.iter().filter(|l| !l.starts_with("sysctl ")) {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.stderr(&format!(
        "hostwall: dry run: table {} {}{}: would send {} messages ({} bytes) at generation {}; nothing changed\n",
        rs.table.family.name(),
        rs.table.name,
        netns_text(opts.netns.as_deref()),
        report.messages,
        report.batch_bytes,
        report.genid_before,
    ));
    if super::json::active() {
        // Standard output holds the document.
        out.stderr(&text);
        return 0;
    }
    out.stdout(&text)
}

fn in_place(
    s: &hostwall::apply::delta::Summary,
    locate: &dyn Fn(&Span) -> String,
    verbose: bool,
) -> String {
    if s.is_empty() {
        return "in place: nothing to change; nothing would be sent\n".to_string();
    }
    let mut text = String::from("in place (only these changes are sent):\n");
    for l in &s.lines {
        text.push_str(&format!("  {}", l.text));
        if let Some(at) = l.origin.first() {
            text.push_str(&format!("  ({})", locate(at)));
        }
        text.push('\n');
        if verbose {
            for e in &l.elements {
                text.push_str(&format!("      {e}\n"));
            }
        }
    }
    text
}

fn full(
    rs: &Ruleset,
    opts: &ApplyOptions,
    reason: &str,
    locate: &dyn Fn(&Span) -> String,
) -> String {
    let mut text = format!("full replace: {reason}\n");
    let drift_opts = hostwall::drift::DriftOptions {
        netns: opts.netns.clone(),
        state_dir: std::path::PathBuf::new(),
        full: true,
    };
    match hostwall::drift::full_with(rs, &drift_opts, locate) {
        Ok(d) if d.in_sync() => {
            text.push_str("no change: the live ruleset already matches the policy\n")
        }
        Ok(d) => {
            text.push_str("changes (\"live has\" becomes \"policy says\"):\n");
            text.push_str(&hostwall::diff::render_text(&d.changes));
        }
        Err(e) => text.push_str(&format!("(cannot compare with the live ruleset: {e})\n")),
    }
    text
}
