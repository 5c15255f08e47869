//! `apply --dry-run`: what the apply would change and the batch it would send, with
//! nothing sent.

use crate::cli::load::Loaded;
use crate::cli::output::Out;
use hostwall::apply::ApplyOptions;
use hostwall::ir::Ruleset;

/// What the apply would change, in the policy's terms (the diff of the live state
/// against the new policy), then the batch it would send. Touches nothing.
pub fn run(out: &Out, loaded: &Loaded, rs: &Ruleset, opts: &ApplyOptions) -> u8 {
    let report = match hostwall::apply::apply(rs, opts) {
        Ok(r) => r,
        Err(e) => return super::apply_error(out, loaded, &e),
    };
    let drift_opts = hostwall::drift::DriftOptions {
        netns: opts.netns.clone(),
        state_dir: std::path::PathBuf::new(),
        full: true,
    };
    let mut text = String::new();
    let found = hostwall::drift::full(rs, &drift_opts);
    super::report::dry_run(&report, found.as_ref().ok());
    super::report::view(rs, opts.netns.as_deref());
    match found {
        Ok(d) if d.in_sync() => {
            text.push_str("no change: the live ruleset already matches the policy\n")
        }
        Ok(d) => {
            text.push_str("changes (\"live has\" becomes \"policy says\"):\n");
            text.push_str(&hostwall::diff::render_text(&d.changes));
        }
        Err(e) => text.push_str(&format!("(cannot compare with the live ruleset: {e})\n")),
    }
    text.push_str("\nthe batch it would send:\n");
    for line in &report.plan {
        text.push_str(line);
        text.push('\n');
    }
    out.stderr(&format!(
        "hostwall: dry run: table {} {}{}: would send {} messages ({} bytes) at generation {}; nothing changed\n",
        rs.table.family.name(),
        rs.table.name,
        super::netns_text(opts.netns.as_deref()),
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
