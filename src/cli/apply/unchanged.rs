//! `apply` when the live state already is the policy: nothing sent, exit 0,
//! `unchanged (generation N)`. Tried from the record before compiling, then from the
//! table record of our last commit, then by a read-back after (the only way for a policy on standard input); never with
//! `--replace`, `--dry-run`, a test sysctl tree, or a change pending in the target
//! namespace (the normal flow reports that one).

use super::ApplyArgs;
use crate::cli::load::{self, Loaded};
use crate::cli::output::Out;
use hostwall::drift::{self, DriftOptions};
use hostwall::ir::Ruleset;
use hostwall::record::{ApplyRecord, InputStamps};
use hostwall::safe::perms;
use hostwall::unchanged::{self as verdict, Verdict};
use std::path::PathBuf;

/// The state an "unchanged" answer is judged from.
pub struct Skip {
    opts: DriftOptions,
    rec: Option<ApplyRecord>,
}

impl Skip {
    /// `None` when this apply must send whatever the live state is.
    pub fn new(a: &ApplyArgs) -> Option<Skip> {
        if a.replace || a.dry_run || a.sysctl_root.is_some() {
            return None;
        }
        let slot = super::slot::resolve(a.netns.as_deref()).ok()?;
        if !matches!(
            hostwall::safe::pending::read(&a.state.state_dir, &slot),
            Ok(None)
        ) {
            return None;
        }
        let opts = DriftOptions {
            netns: a.netns.clone(),
            state_dir: a.state.state_dir.clone(),
            full: false,
        };
        let rec = drift::last_applied(&opts).ok().flatten();
        Some(Skip { opts, rec })
    }

    /// The record's proof, before anything is parsed: `Some(exit code)` when unchanged.
    pub fn by_record(&self, out: &Out, a: &ApplyArgs) -> Option<u8> {
        // `--persist` writes from the compiled policy; standard input can be read only
        // once, and the policy itself needs it.
        let stdin = a.input.policy.as_deref() == Some(std::path::Path::new("-"));
        let rec = self.rec.as_ref().filter(|_| !a.persist && !stdin)?;
        // Files unchanged since they were stamped have the recorded digest: no read,
        // no hash. Otherwise their texts are read and hashed now.
        let stamped = load::stamps_hold(&a.input, rec);
        if !stamped {
            // Changed since applied, most likely: the table record the plan needs is
            // decoded while the files are read and hashed.
            decode_record_ahead(a);
        }
        let digest = match stamped {
            true => rec.digest.clone(),
            // A checksum other than the record's proves a change without hashing.
            false => match load::inputs_now(&a.input, &rec.includes, rec.checksum.as_deref())? {
                load::Now::Digest(digest) => digest,
                load::Now::Changed => return None,
            },
        };
        if !a.insecure_perms && !files_trusted(a, &rec.includes) {
            // The full path reports the permission problem.
            return None;
        }
        match verdict::by_record(&self.opts, rec, &digest).ok()? {
            Verdict::Unchanged { genid, warnings } => {
                show_warnings(out, &warnings);
                if !stamped {
                    // Read and hashed this time (changed too recently to be stamped
                    // when applied): the next apply need not.
                    add_stamps(out, a, rec);
                }
                Some(unchanged(out, a, genid, &format!("inet {}", rec.table)))
            }
            _ => None,
        }
    }

    /// The read-back's answer for the compiled policy: `Some(exit code)` when unchanged
    /// (after recording it for the fast paths); `None` sends.
    pub fn by_readback(
        &self,
        out: &Out,
        a: &ApplyArgs,
        loaded: &Loaded,
        rs: &Ruleset,
    ) -> Option<u8> {
        let locate = |s: &hostwall::source::Span| loaded.map.location(*s);
        let recorded = verdict::by_table_record(rs, &self.opts, self.rec.as_ref(), &locate);
        // A ruleset that cannot be read is sent: the send reports what is wrong.
        let found = match recorded {
            Ok(Some(v)) => v,
            _ => verdict::by_table_read(rs, &self.opts, &locate).or_else(|| {
                // The whole ruleset read holds it all: not beside pages kept for the
                // batch (`pages::retire`), which go first.
                hostwall::pages::release_retired();
                verdict::by_readback(rs, &self.opts, &locate).ok()
            })?,
        };
        match found {
            Verdict::Unchanged { genid, warnings } => {
                show_warnings(out, &warnings);
                let target = hostwall::nsid::NetnsId::of(a.netns.as_deref()).ok();
                let rec = super::record_of(a, loaded, rs, genid, target);
                super::store(out, a, &verdict::record_with(rec, warnings));
                let code = unchanged(out, a, genid, &super::report::table_name(rs));
                if a.persist {
                    return Some(super::persist_now(out, rs, &loaded.name, &a.persist_path));
                }
                Some(code)
            }
            Verdict::SysctlsOnly(changes) => {
                let what: Vec<String> = changes
                    .iter()
                    .map(|c| {
                        format!(
                            "{} is {}, the policy says {}",
                            c.object,
                            c.actual.as_deref().unwrap_or("?"),
                            c.expected.as_deref().unwrap_or("?")
                        )
                    })
                    .collect();
                out.stderr(&format!(
                    "hostwall: table inet {} already matches the policy, but {}: applying\n",
                    rs.table.name,
                    what.join("; ")
                ));
                None
            }
            Verdict::Differs => {
                self.provenance(out, a, loaded);
                None
            }
        }
    }

    /// Says so when the table about to be replaced came from another policy.
    fn provenance(&self, out: &Out, a: &ApplyArgs, loaded: &Loaded) {
        let Some(rec) = &self.rec else { return };
        let changed = load::inputs_differ(loaded, a.input.site.is_some(), rec);
        let policy = load::canonical(&loaded.name);
        if let Some(note) = hostwall::provenance::applied_from_other(rec, &policy, changed) {
            out.stderr(&format!("hostwall: note: {note}; replacing it\n"));
        }
    }
}

/// Writes `rec` again with stamps of the files just read and hashed, when they can be
/// stamped and the record on disk still is `rec` (an apply that committed meanwhile
/// wrote a newer one, which is kept).
fn add_stamps(out: &Out, a: &ApplyArgs, rec: &ApplyRecord) {
    let Some(paths) = load::input_paths(&a.input, &rec.includes) else {
        return;
    };
    let Some(stamps) = InputStamps::take(&paths, crate::cli::files::read_at) else {
        return;
    };
    let path = hostwall::record::path(&a.state.state_dir, a.netns.as_deref());
    if hostwall::record::load(&path).ok().flatten().as_ref() == Some(rec) {
        let stamps = Some(stamps);
        super::store(
            out,
            a,
            &ApplyRecord {
                stamps,
                ..rec.clone()
            },
        );
    }
}

/// The permission guard over the files the record says the policy is made of.
fn files_trusted(a: &ApplyArgs, includes: &[String]) -> bool {
    let named = [a.input.policy.clone(), a.input.site.clone()];
    let files = named
        .into_iter()
        .flatten()
        .filter(|p| p.as_os_str() != "-")
        .chain(includes.iter().map(PathBuf::from));
    files.into_iter().all(|f| perms::check_file(&f).is_ok())
}

fn show_warnings(out: &Out, warnings: &[hostwall::diff::Change]) {
    let shown = super::shown_warnings(warnings);
    if !shown.is_empty() {
        out.stderr(&hostwall::diff::render_text(&shown));
    }
    super::json::warning_changes(&shown);
}

/// The answer: nothing sent, no pending change; `--persist` still writes its drop-in.
fn unchanged(out: &Out, a: &ApplyArgs, genid: u32, table: &str) -> u8 {
    let ns = super::netns_text(a.netns.as_deref());
    let confirm = if a.confirm.is_some() {
        "; nothing to confirm"
    } else {
        ""
    };
    super::report::unchanged(genid, table);
    out.stderr(&format!(
        "hostwall: unchanged (generation {genid}){ns}: the live table and sysctls already are the policy; nothing sent{confirm}\n"
    ));
    0
}

/// Starts decoding the table record of the target namespace on a thread of its own
/// (`trusted::ahead`): the unchanged check after compile and the plan read it.
pub fn decode_record_ahead(a: &ApplyArgs) {
    let record = hostwall::apply::trusted::path(&a.state.state_dir, a.netns.as_deref());
    hostwall::apply::trusted::ahead::start(&record);
}
