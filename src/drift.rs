//! `hostwall diff` as a library call: is the live ruleset (and the forwarding sysctls)
//! still what the policy compiles to?
//!
//! Fast path: after its own apply hostwall records the generation id and a digest of
//! the policy's input files (`record`). When the digest matches the files being checked,
//! the namespace is the one applied to (`nsid`) and the kernel's generation id is
//! unchanged, nothing can have changed in nf_tables, so only the sysctls are read (two
//! small files): no compile, no dump. The warnings about other tables that apply
//! computed at that generation are replayed from the record.

use crate::diff::{self, Change, Severity};
use crate::ir::{Ruleset, Sysctl, SysctlSetting};
use crate::live::{self, LiveError};
use crate::nsid::NetnsId;
use crate::record;
use crate::source::Span;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct DriftOptions {
    /// Compare in `/run/netns/NAME` instead of the current namespace.
    pub netns: Option<String>,
    /// Where `apply` keeps its records (default `/run/hostwall`).
    pub state_dir: PathBuf,
    /// Always dump and compare, even when the fast path could answer.
    pub full: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftReport {
    /// Drift first, then warnings; empty when in sync with nothing to warn about.
    pub changes: Vec<Change>,
    /// Answered from the recorded generation id, without dumping the ruleset.
    pub fast_path: bool,
    /// Generation id the answer refers to.
    pub genid: u32,
}

impl DriftReport {
    pub fn in_sync(&self) -> bool {
        !self.changes.iter().any(|c| c.severity == Severity::Drift)
    }

    /// How many policy lines another table defeats: traffic the policy allows that the
    /// kernel will still refuse. Our table can be in sync while the host is not.
    pub fn defeated(&self) -> usize {
        let defeated = |c: &&Change| c.kind == crate::diff::Kind::PolicyDefeated;
        self.changes.iter().filter(defeated).count()
    }

    /// Whether the kernel does what the policy says: our table in sync and no line of
    /// the policy defeated by another table.
    pub fn holds(&self) -> bool {
        self.in_sync() && self.defeated() == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("network namespace {name:?}: {message}")]
    Netns { name: String, message: String },
}

/// The record of the last apply in the target namespace, if any: its `includes` tell
/// the caller which files to digest for `fast`. An error says why a record that is
/// there cannot be trusted (the caller then compares in full).
pub fn last_applied(
    opts: &DriftOptions,
) -> Result<Option<record::ApplyRecord>, crate::safe::Error> {
    record::load(&record::path(&opts.state_dir, opts.netns.as_deref()))
}

/// The fast path: when `digest` (of the policy's input files, `record::inputs_digest`)
/// matches the last apply, the target is the very namespace applied to (boot id and
/// namespace cookie) and the kernel's generation id has not moved since, nothing in
/// nf_tables can differ; only the sysctls are read. The generation id, the identity and
/// the sysctls are read on one thread that entered the namespace once, so all three
/// describe the same namespace. `None`: the full comparison is needed.
pub fn fast(
    opts: &DriftOptions,
    rec: &record::ApplyRecord,
    digest: &str,
) -> Result<Option<DriftReport>, DriftError> {
    let ns = opts.netns.as_deref();
    if opts.full || rec.digest != digest {
        return Ok(None);
    }
    let Some(applied_to) = &rec.netns else {
        return Ok(None);
    };
    let (genid, (here, sysctls)) =
        live::genid_with(ns, || (NetnsId::of_thread().ok(), sysctls_here()))?;
    if here.as_ref() != Some(applied_to) || genid != rec.genid {
        return Ok(None);
    }
    // Warnings about other tables were computed at some generation: still true only
    // if that is this one (nothing in any table changed since).
    let Some(warnings) = rec.warnings.as_ref().filter(|w| w.genid == genid) else {
        return Ok(None);
    };
    let mut changes = diff::sysctls(&expected_sysctls(rec), &sysctls);
    changes.extend(warnings.changes.iter().cloned());
    Ok(Some(DriftReport {
        changes,
        fast_path: true,
        genid,
    }))
}

/// What the fast paths read of the target namespace, on one thread that entered it
/// once: the generation id, the namespace's identity and both forwarding sysctls.
pub type Here = (u32, Option<NetnsId>, Vec<(Sysctl, Option<bool>)>);

/// [`Here`] of the namespace `netns` (`None`: this one).
pub fn here(netns: Option<&str>) -> Result<Here, DriftError> {
    let (genid, (id, sysctls)) =
        live::genid_with(netns, || (NetnsId::of_thread().ok(), sysctls_here()))?;
    Ok((genid, id, sysctls))
}

fn expected_sysctls(rec: &record::ApplyRecord) -> Vec<SysctlSetting> {
    rec.sysctls
        .iter()
        .filter_map(|(name, value)| {
            [Sysctl::Ipv4Forward, Sysctl::Ipv6Forward]
                .into_iter()
                .find(|k| k.name() == name)
                .map(|key| SysctlSetting {
                    key,
                    value: *value,
                    origin: None,
                })
        })
        .collect()
}

/// Where a policy line is, for conflict warnings (`file:line:col`).
pub type Locate<'a> = &'a dyn Fn(&Span) -> String;

/// Policy lines named by byte offset, for callers without the source map.
pub fn no_map(s: &Span) -> String {
    format!("policy bytes {}..{}", s.start, s.end)
}

/// The full comparison with policy lines as byte offsets (see `full_with`).
pub fn full(expected: &Ruleset, opts: &DriftOptions) -> Result<DriftReport, DriftError> {
    full_with(expected, opts, &no_map)
}

/// The full comparison: dump every table, decode ours, compare with `expected`; then the
/// other tables' base chains and the conflicts between them and the policy, as warnings.
pub fn full_with(
    expected: &Ruleset,
    opts: &DriftOptions,
    locate: Locate,
) -> Result<DriftReport, DriftError> {
    let ns = opts.netns.as_deref();
    let table = &expected.table.name;
    let snap = live::read(table, ns)?;
    let genid = snap.genid;
    let live = snap.into_live(read_sysctls(ns)?);
    let mut changes = diff::diff(expected, &live);
    changes.extend(diff::conflicts(
        &expected.table,
        &live.others,
        live.ours_at,
        locate,
    ));
    Ok(DriftReport {
        changes,
        fast_path: false,
        genid,
    })
}

/// The warnings about other tables (their base chains, conflicts with the policy) at
/// the current generation: what `apply` prints after a change and records. They are
/// about other tables against the policy, so only other tables are read (never our
/// table's rules, sets or elements: `live::read_others`).
pub fn warnings(
    expected: &Ruleset,
    netns: Option<&str>,
    locate: Locate,
) -> Result<record::Warnings, DriftError> {
    let snap = live::read_others(&expected.table.name, netns)?;
    Ok(warnings_of(expected, snap, locate))
}

/// The warnings about other tables in a read of the ruleset (with or without our
/// table's contents: none of them depends on those).
pub fn warnings_of(
    expected: &Ruleset,
    snap: live::RulesetRead,
    locate: Locate,
) -> record::Warnings {
    let genid = snap.genid;
    let live = snap.into_live(Vec::new());
    let mut changes: Vec<Change> = diff::diff(expected, &live)
        .into_iter()
        .filter(|c| c.severity == Severity::Warning)
        .collect();
    changes.extend(diff::conflicts(
        &expected.table,
        &live.others,
        live.ours_at,
        locate,
    ));
    record::Warnings { genid, changes }
}

/// What an apply records for the fast path (`includes`: files read beyond the policy
/// and site file, in reading order; `netns`: the identity of the namespace applied to,
/// `None` when it is not known for certain).
pub fn record_for(
    rs: &Ruleset,
    genid: u32,
    digest: String,
    includes: Vec<String>,
    netns: Option<NetnsId>,
    warnings: Option<record::Warnings>,
) -> record::ApplyRecord {
    record::ApplyRecord {
        netns,
        genid,
        digest,
        includes,
        table: rs.table.name.clone(),
        sysctls: rs
            .sysctls
            .iter()
            .map(|s| (s.key.name().to_string(), s.value))
            .collect(),
        warnings,
        policy: None,
        stamps: None,
        checksum: None,
    }
}

/// Both forwarding sysctls as the calling thread's namespace sees them (`None`:
/// unreadable): /proc/sys/net shows the namespace of the thread that opens the file.
fn sysctls_here() -> Vec<(Sysctl, Option<bool>)> {
    [Sysctl::Ipv4Forward, Sysctl::Ipv6Forward]
        .into_iter()
        .map(|k| {
            (
                k,
                crate::sysctl::read(Path::new(crate::sysctl::PROC_SYS), k).ok(),
            )
        })
        .collect()
}

/// Both forwarding sysctls as the target namespace sees them (read on a thread in it:
/// /proc/sys/net shows the namespace of the thread that opens the file).
fn read_sysctls(ns: Option<&str>) -> Result<Vec<(Sysctl, Option<bool>)>, DriftError> {
    crate::netns::run_named(ns, sysctls_here).map_err(|e| DriftError::Netns {
        name: ns.unwrap_or_default().to_string(),
        message: e.to_string(),
    })
}
