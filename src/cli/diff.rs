//! `hostwall diff`: policy vs live state, for people (text) and monitoring (JSON).

use super::args::{DiffArgs, DiffFormat};
use super::json::{self, PolicyPart};
use super::load::Loaded;
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM, load_compiled};
use hostwall::drift::{self, DriftOptions, DriftReport};
use hostwall::json::ErrorKind;
use serde::Serialize;
use std::collections::BTreeMap;

mod nagios;

/// The version of `diff`'s JSON document (schema 1 of docs/diff.md, in the envelope).
pub const SCHEMA: u32 = 1;

pub fn run(out: &Out, c: &DiffArgs) -> u8 {
    // Every read in the namespace runs on this one thread (see `apply_once`).
    let _stay = (c.netns.as_deref()).and_then(|n| hostwall::netns::stay_in(n).ok());
    let opts = DriftOptions {
        netns: c.netns.clone(),
        state_dir: c.state_dir.clone(),
        full: c.full,
    };
    let json = c.format == DiffFormat::Json && !c.check;
    super::coexist::warn(out, &c.system.root);
    let (rec, untrusted) = last_applied(&opts);
    let mut part = json::named(&c.input);
    let report = match fast_path(&opts, c, rec.as_ref()).transpose() {
        Some(r) => r,
        None => {
            let loaded = if json {
                json::load_compiled(&c.input)
            } else {
                load_compiled(out, &c.input).map_err(|code| (code, PolicyPart::default()))
            };
            let (loaded, rs) = match loaded {
                Ok(x) => x,
                // Like diff(1), 1 means "differs": a policy that does not compile is an
                // error (2), never drift that monitoring would page for.
                Err(_) if c.check => return check_unknown(out, "the policy does not compile"),
                Err((_, part)) if json => return print_json(out, EXIT_SYSTEM, part, None),
                Err(_) => return EXIT_SYSTEM,
            };
            part = json::loaded(&c.input, &loaded);
            if let Some(rec) = &rec {
                provenance_note(out, rec, &loaded, c.input.site.is_some());
            }
            let table = format!("{} {}", rs.table.family.name(), rs.table.name);
            let locate = |s: &hostwall::source::Span| loaded.map.location(*s);
            let lines = c.check.then(|| {
                hostwall::metrics::source::set_lines(&rs, &super::metrics::line_of(&loaded))
            });
            drift::full_with(&rs, &opts, &locate).map(|r| (r, table, lines))
        }
    };
    let (report, table, lines) = match report {
        Ok(r) => {
            // Said once the live state could be read: a diff that cannot read it says
            // only that.
            if let Some(warning) = untrusted {
                out.stderr(&warning);
            }
            r
        }
        Err(e) => {
            let msg = format!("cannot read the live ruleset: {e}");
            if c.check {
                out.error(&msg);
                return check_unknown(out, &msg);
            }
            if json {
                let part = part.with_error(ErrorKind::System, msg);
                return print_json(out, EXIT_SYSTEM, part, None);
            }
            out.error(&msg);
            return EXIT_SYSTEM;
        }
    };
    if c.check {
        return nagios::finish(out, c, rec.as_ref(), &report, &table, lines);
    }
    // Our table in sync is not enough: a line another table defeats is drift of the host.
    let code = if report.holds() { 0 } else { EXIT_POLICY };
    if json {
        return print_json(out, code, part, Some((&report, &table)));
    }
    match out.stdout(&text_report(&report, &table, c.verbose)) {
        0 => code,
        failed => failed,
    }
}

/// The record of the last apply here; a record that is there but cannot be trusted is
/// a warning to give (the comparison is then in full, with no word on where the table
/// came from).
fn last_applied(opts: &DriftOptions) -> (Option<hostwall::record::ApplyRecord>, Option<String>) {
    match drift::last_applied(opts) {
        Ok(rec) => (rec, None),
        Err(e) => (
            None,
            Some(format!(
                "hostwall: warning: not using the apply record: {e}\n  (comparing in full instead)\n"
            )),
        ),
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
    let changed = super::load::inputs_differ(loaded, has_site, rec);
    let policy = super::load::canonical(&loaded.name);
    if let Some(note) = hostwall::provenance::applied_from_other(rec, &policy, changed) {
        out.stderr(&format!(
            "hostwall: note: {note}: the differences below are between the two, not changes made by hand\n"
        ));
    }
}

/// The report, the table compared (`inet NAME`) and, when the policy was compiled for
/// `--check`, the policy lines of its per-source limit sets.
type Answer = (DriftReport, String, Option<BTreeMap<String, String>>);

/// Answers from the last apply's record when the policy's files are byte-for-byte those
/// it applied and the generation id has not moved: no parsing, no compiling, no dump.
fn fast_path(
    opts: &DriftOptions,
    c: &DiffArgs,
    rec: Option<&hostwall::record::ApplyRecord>,
) -> Result<Option<Answer>, drift::DriftError> {
    // Standard input can be read only once: the full comparison needs it.
    let stdin = c.input.policy.as_deref() == Some(std::path::Path::new("-"));
    let Some(rec) = rec.filter(|_| !opts.full && !stdin) else {
        return Ok(None);
    };
    let Some(digest) = super::load::digest_for(&c.input, rec) else {
        return Ok(None);
    };
    let table = format!("inet {}", rec.table);
    Ok(drift::fast(opts, rec, &digest)?.map(|r| (r, table, None)))
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
    let defeated = r.defeated();
    if r.in_sync() && defeated > 0 {
        s.push_str(&format!(
            "defeated: table {table} matches the policy (generation {}, {how}), but another \
             table refuses what {defeated} polic{} allow{}{warned}\n",
            r.genid,
            if defeated == 1 { "y line" } else { "y lines" },
            if defeated == 1 { "s" } else { "" },
        ));
    } else if r.in_sync() {
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

/// `diff --format json`: the envelope, the policy, then schema 1 of docs/diff.md (its
/// `schema` field is the envelope's).
#[derive(Serialize)]
struct Document {
    #[serde(flatten)]
    policy: PolicyPart,
    #[serde(flatten)]
    diff: serde_json::Map<String, serde_json::Value>,
}

fn print_json(out: &Out, code: u8, policy: PolicyPart, r: Option<(&DriftReport, &str)>) -> u8 {
    let mut diff = r
        .map(|(r, table)| hostwall::diff::render_json(table, &r.changes, r.fast_path, r.genid))
        .and_then(|doc| serde_json::from_str::<serde_json::Map<_, _>>(&doc).ok())
        .unwrap_or_default();
    diff.remove("schema");
    json::print(out, "diff", SCHEMA, code, Document { policy, diff })
}

/// `--check`'s UNKNOWN line (exit 3): no answer could be given.
pub fn check_unknown(out: &Out, reason: &str) -> u8 {
    let (state, line) = hostwall::metrics::nagios::unknown(reason);
    finish_check(out, state, &line)
}

/// Prints a plugin line; its state is the exit code (UNKNOWN when it cannot be printed).
fn finish_check(out: &Out, state: hostwall::metrics::nagios::State, line: &str) -> u8 {
    match out.stdout(line) {
        0 => state.code(),
        _ => hostwall::metrics::nagios::State::Unknown.code(),
    }
}
