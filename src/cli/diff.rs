//! `hostwall diff`: policy vs live state, for people (text) and monitoring (JSON).

use super::args::{DiffArgs, DiffFormat};
use super::load::Loaded;
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM, load_compiled};
use hostwall::drift::{self, DriftOptions, DriftReport};

pub fn run(out: &Out, c: &DiffArgs) -> u8 {
    let opts = DriftOptions {
        netns: c.netns.clone(),
        state_dir: c.state_dir.clone(),
        full: c.full,
    };
    super::coexist::warn(out, &c.system.root);
    let rec = last_applied(out, &opts);
    let report = match fast_path(&opts, c, rec.as_ref()).transpose() {
        Some(r) => r,
        None => {
            let (loaded, rs) = match load_compiled(out, &c.input) {
                Ok(x) => x,
                // Like diff(1), 1 means "differs": a policy that does not compile is an
                // error (2), never drift that monitoring would page for.
                Err(_) => return EXIT_SYSTEM,
            };
            if let Some(rec) = &rec {
                provenance_note(out, rec, &loaded, c.input.site.is_some());
            }
            let table = format!("{} {}", rs.table.family.name(), rs.table.name);
            let locate = |s: &hostwall::source::Span| loaded.map.location(*s);
            drift::full_with(&rs, &opts, &locate).map(|r| (r, table))
        }
    };
    let (report, table) = match report {
        Ok(r) => r,
        Err(e) => {
            out.error(&format!("cannot read the live ruleset: {e}"));
            return EXIT_SYSTEM;
        }
    };
    let written = match c.format {
        DiffFormat::Text => out.stdout(&text_report(&report, &table, c.verbose)),
        DiffFormat::Json => out.stdout(&json_report(&report, &table)),
    };
    if written != 0 {
        written
    } else if report.in_sync() {
        0
    } else {
        EXIT_POLICY
    }
}

/// The record of the last apply here; a record that is there but cannot be trusted is
/// a warning (the comparison is then in full, with no word on where the table came from).
fn last_applied(out: &Out, opts: &DriftOptions) -> Option<hostwall::record::ApplyRecord> {
    match drift::last_applied(opts) {
        Ok(rec) => rec,
        Err(e) => {
            out.stderr(&format!(
                "hostwall: warning: not using the apply record: {e}\n  (comparing in full instead)\n"
            ));
            None
        }
    }
}

/// Says so when the live table was applied from other inputs than the policy compared:
/// its differences are then between two policies, not edits by hand.
fn provenance_note(
    out: &Out,
    rec: &hostwall::record::ApplyRecord,
    loaded: &Loaded,
    has_site: bool,
) {
    let (digest, _) = super::load::inputs_digest(loaded, has_site);
    let policy = super::load::canonical(&loaded.name);
    if let Some(note) = hostwall::provenance::applied_from_other(rec, &policy, &digest) {
        out.stderr(&format!(
            "hostwall: note: {note}: the differences below are between the two, not changes made by hand\n"
        ));
    }
}

/// Answers from the last apply's record when the policy's files are byte-for-byte those
/// it applied and the generation id has not moved: no parsing, no compiling, no dump.
fn fast_path(
    opts: &DriftOptions,
    c: &DiffArgs,
    rec: Option<&hostwall::record::ApplyRecord>,
) -> Result<Option<(DriftReport, String)>, drift::DriftError> {
    // Standard input can be read only once: the full comparison needs it.
    let stdin = c.input.policy.as_deref() == Some(std::path::Path::new("-"));
    let Some(rec) = rec.filter(|_| !opts.full && !stdin) else {
        return Ok(None);
    };
    let Some(digest) = super::load::inputs_digest_unparsed(&c.input, &rec.includes) else {
        return Ok(None);
    };
    let table = format!("inet {}", rec.table);
    Ok(drift::fast(opts, rec, &digest)?.map(|r| (r, table)))
}

fn text_report(r: &DriftReport, table: &str, verbose: bool) -> String {
    let mut s = match verbose {
        true => hostwall::diff::render_text_verbose(&r.changes),
        false => hostwall::diff::render_text(&r.changes),
    };
    let drift = r
        .changes
        .iter()
        .filter(|c| c.severity == hostwall::diff::Severity::Drift)
        .count();
    let how = if r.fast_path {
        "fast path: generation id unchanged since hostwall applied this policy; --full dumps"
    } else {
        "full comparison"
    };
    let warnings = r.changes.len() - drift;
    let warned = match warnings {
        0 => String::new(),
        1 => "; 1 warning above".to_string(),
        n => format!("; {n} warnings above"),
    };
    if r.in_sync() {
        s.push_str(&format!(
            "in sync: table {table} (generation {}, {how}){warned}\n",
            r.genid
        ));
    } else {
        s.push_str(&format!(
            "drift: {drift} difference{} in table {table} (generation {}, {how}){warned}\n",
            if drift == 1 { "" } else { "s" },
            r.genid
        ));
    }
    s
}

/// The stable monitoring schema (docs/diff.md): one object per change.
fn json_report(r: &DriftReport, table: &str) -> String {
    hostwall::diff::render_json(table, &r.changes, r.fast_path, r.genid)
}
