//! Whether an apply would change nothing: the live table and forwarding sysctls already
//! are what the policy compiles to. Proven from the apply record where it can be (same
//! inputs, same namespace, generation id unchanged: no compile, no dump), else from the
//! table record of our last commit (`apply::trusted`: the compiled policy planned
//! against it, no dump), else from a read of our table alone that the apply then plans
//! from (`apply::seen`), otherwise by a full read-back and compare.

use crate::apply::delta::{self, Decision};
use crate::apply::{seen, trusted};
use crate::diff::{Change, Kind, Severity};
use crate::drift::{self, DriftError, DriftOptions, Locate};
use crate::ir::Ruleset;
use crate::record::{self, ApplyRecord};

/// What a comparison found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to send: the live state is the policy at generation `genid`; the
    /// warnings about other tables at that generation.
    Unchanged { genid: u32, warnings: Vec<Change> },
    /// Our table is the policy but these sysctls differ: they still have to be set.
    SysctlsOnly(Vec<Change>),
    /// The table differs (or could not be proven equal).
    Differs,
}

/// From the record alone: `Unchanged` only when `drift::fast` can prove it (`digest` is
/// the inputs' digest, `record::inputs_digest`); anything else is `Differs`, and the
/// caller compares in full.
pub fn by_record(
    opts: &DriftOptions,
    rec: &ApplyRecord,
    digest: &str,
) -> Result<Verdict, DriftError> {
    Ok(match drift::fast(opts, rec, digest)? {
        Some(r) => judge(r.genid, r.changes),
        None => Verdict::Differs,
    })
}

/// From the table record and the compiled policy, without reading our table: when
/// the record stands for our table now (this namespace, this generation), the in-place
/// plan against it is empty or not (the warnings about other tables are the apply
/// record's at this generation, else read). `None`: the record cannot be trusted (or
/// the warnings' read met another generation), and the caller reads instead.
pub fn by_table_record(
    rs: &Ruleset,
    opts: &DriftOptions,
    rec: Option<&ApplyRecord>,
    locate: Locate,
) -> Result<Option<Verdict>, DriftError> {
    let path = trusted::path(&opts.state_dir, opts.netns.as_deref());
    let (genid, here, sysctls) = drift::here(opts.netns.as_deref())?;
    // A record that cannot stand for the table now is refused before its sets are
    // decoded; one that can is kept, so the apply that follows plans from this decoding.
    let same = trusted::inspect_at(&path, (&rs.table.name, here.as_ref(), genid), |record| {
        plans_nothing(&record.live, rs)
    });
    let Ok(Some(same)) = same else {
        return Ok(None);
    };
    if !same {
        return Ok(Some(Verdict::Differs));
    }
    let recorded = rec
        .and_then(|r| r.warnings.as_ref())
        .filter(|w| w.genid == genid);
    settled(rs, opts, (genid, &sysctls), recorded, locate)
}

/// Whether the in-place plan of `rs` against `live` is empty.
fn plans_nothing(live: &delta::LiveTable, rs: &Ruleset) -> bool {
    matches!(delta::plan(live, rs), Decision::Delta(d) if d.is_empty())
}

/// The verdict once our table is known to be the policy at `genid`: the sysctls read
/// then, and the warnings about other tables at that generation (`recorded`, else read
/// now: other tables only). `None` when the warnings' read met another generation.
fn settled(
    rs: &Ruleset,
    opts: &DriftOptions,
    (genid, sysctls): (u32, &[(crate::ir::Sysctl, Option<bool>)]),
    recorded: Option<&record::Warnings>,
    locate: Locate,
) -> Result<Option<Verdict>, DriftError> {
    let changes = crate::diff::sysctls(&rs.sysctls, sysctls);
    if !changes.is_empty() {
        return Ok(Some(Verdict::SysctlsOnly(changes)));
    }
    let warnings = match recorded {
        Some(w) => w.changes.clone(),
        None => match drift::warnings(rs, opts.netns.as_deref(), locate)? {
            w if w.genid == genid => w.changes,
            _ => return Ok(None),
        },
    };
    Ok(Some(Verdict::Unchanged { genid, warnings }))
}

/// By a read of our table alone, when no table record can stand for it: the in-place
/// plan against the read is empty or not, as against the record, and the read is kept
/// for the apply's plan ([`crate::apply::seen`]), which then reads nothing. The
/// warnings about other tables are read at the same generation. `None`: a commit may
/// have touched our table during the read, or one landed before the warnings' read (or
/// a read failed), and the caller reads back in full.
pub fn by_table_read(rs: &Ruleset, opts: &DriftOptions, locate: Locate) -> Option<Verdict> {
    let netns = opts.netns.as_deref();
    let table = &rs.table.name;
    let seen = seen::read(table, netns).ok()??;
    let genid = seen.genid;
    let same = (seen.live.as_ref()).is_some_and(|l| plans_nothing(l, rs));
    seen::keep(table, seen);
    if !same {
        return Some(Verdict::Differs);
    }
    let (now, _, sysctls) = drift::here(netns).ok()?;
    if now != genid {
        return None;
    }
    settled(rs, opts, (genid, &sysctls), None, locate).ok()?
}

/// By dumping the ruleset and comparing it with `rs`.
pub fn by_readback(
    rs: &Ruleset,
    opts: &DriftOptions,
    locate: Locate,
) -> Result<Verdict, DriftError> {
    let full = DriftOptions {
        full: true,
        ..opts.clone()
    };
    let r = drift::full_with(rs, &full, locate)?;
    Ok(judge(r.genid, r.changes))
}

fn judge(genid: u32, changes: Vec<Change>) -> Verdict {
    let (drift, warnings): (Vec<Change>, Vec<Change>) = changes
        .into_iter()
        .partition(|c| c.severity == Severity::Drift);
    if drift.is_empty() {
        Verdict::Unchanged { genid, warnings }
    } else if drift.iter().all(|c| c.kind == Kind::Sysctl) {
        Verdict::SysctlsOnly(drift)
    } else {
        Verdict::Differs
    }
}

/// The record an unchanged apply leaves for `diff`'s and the next apply's fast path:
/// `rec` (built by `drift::record_for` at the generation compared) with the warnings
/// found at that generation.
pub fn record_with(mut rec: ApplyRecord, warnings: Vec<Change>) -> ApplyRecord {
    rec.warnings = Some(record::Warnings {
        genid: rec.genid,
        changes: warnings,
    });
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: Kind, severity: Severity) -> Change {
        let doc = serde_json::json!({"kind": kind, "severity": severity, "object": "x"});
        serde_json::from_value(doc).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn warnings_alone_are_unchanged_sysctls_alone_are_not() {
        let w = change(Kind::ForeignBaseChain, Severity::Warning);
        assert_eq!(
            judge(9, vec![w.clone()]),
            Verdict::Unchanged {
                genid: 9,
                warnings: vec![w.clone()]
            }
        );
        let s = change(Kind::Sysctl, Severity::Drift);
        assert_eq!(
            judge(9, vec![s.clone(), w.clone()]),
            Verdict::SysctlsOnly(vec![s.clone()])
        );
        let r = change(Kind::RuleAdded, Severity::Drift);
        assert_eq!(judge(9, vec![s, r, w]), Verdict::Differs);
    }
}
