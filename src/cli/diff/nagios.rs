//! `diff --check`'s answer once drift is known: how full the per-source limit sets
//! are, read in the namespace, each set that fills named with its policy lines, and
//! the plugin line and exit code.

use super::super::args::DiffArgs;
use super::super::load_compiled;
use super::super::output::Out;
use super::{check_unknown, finish_check};
use hostwall::drift::DriftReport;
use hostwall::metrics::nagios::{self, State};
use hostwall::metrics::{cache, source};
use hostwall::record::ApplyRecord;
use std::collections::BTreeMap;

/// The plugin line for `report` on `table` (`inet NAME`) and the sets' fill; `lines`
/// are the sets' policy lines when the policy was compiled for the comparison.
pub(super) fn finish(
    out: &Out,
    c: &DiffArgs,
    rec: Option<&ApplyRecord>,
    report: &DriftReport,
    table: &str,
    lines: Option<BTreeMap<String, String>>,
) -> u8 {
    let name = table.rsplit(' ').next().unwrap_or(table);
    let fills = match hostwall::live::learned::fill(name, c.netns.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("cannot read the per-source limit sets: {e}");
            out.error(&msg);
            return check_unknown(out, &msg);
        }
    };
    let filling = fills.iter().any(|f| source::state(f) != State::Ok);
    let lines = match (lines, filling) {
        (Some(l), _) => l,
        (None, true) => cached_or_compiled(out, c, rec, report),
        (None, false) => BTreeMap::new(),
    };
    let (state, line) = nagios::line_with_sets(report, table, &source::label(fills, &lines));
    finish_check(out, state, &line)
}

/// On the fast path (the live table is the recorded policy's), the sets' lines from
/// `metrics`' label cache; else, or without one, from the compiled policy. Only asked
/// when a set fills up, so a healthy check never compiles.
fn cached_or_compiled(
    out: &Out,
    c: &DiffArgs,
    rec: Option<&ApplyRecord>,
    report: &DriftReport,
) -> BTreeMap<String, String> {
    if let Some(rec) = rec.filter(|_| report.fast_path) {
        let path = cache::path(&c.state_dir, c.netns.as_deref());
        if let Some(sets) = cache::load(&path, &rec.digest).and_then(|c| c.sets) {
            return sets;
        }
    }
    match load_compiled(out, &c.input) {
        Ok((loaded, rs)) => source::set_lines(&rs, &crate::cli::metrics::line_of(&loaded)),
        Err(_) => BTreeMap::new(),
    }
}
