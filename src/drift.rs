//! `hostwall diff` as a library call: is the live ruleset (and the forwarding sysctls)
//! still what the policy compiles to?
//!
//! Fast path: after its own apply hostwall records the generation id and a digest of
//! the policy's input files (`record`). When the digest matches the files being checked,
//! the namespace is the one applied to (`nsid`) and the kernel's generation id is
//! unchanged, nothing can have changed in nf_tables, so only the sysctls are read (two
//! small files): no compile, no dump.

use crate::diff::{self, Change, Severity};
use crate::ir::{Ruleset, Sysctl, SysctlSetting};
use crate::live::{self, LiveError};
use crate::nsid::NetnsId;
use crate::record;
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
pub fn last_applied(opts: &DriftOptions) -> Result<Option<record::Applied>, crate::safe::Error> {
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
    rec: &record::Applied,
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
    Ok(Some(DriftReport {
        changes: diff::sysctls(&expected_sysctls(rec), &sysctls),
        fast_path: true,
        genid,
    }))
}

fn expected_sysctls(rec: &record::Applied) -> Vec<SysctlSetting> {
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

/// The full comparison: dump our table, decode it, compare with `expected`.
pub fn full(expected: &Ruleset, opts: &DriftOptions) -> Result<DriftReport, DriftError> {
    let ns = opts.netns.as_deref();
    let table = &expected.table.name;
    let snap = live::read(table, ns)?;
    let genid = snap.genid;
    let live = snap.into_live(read_sysctls(ns)?);
    let changes = diff::diff(expected, &live);
    Ok(DriftReport {
        changes,
        fast_path: false,
        genid,
    })
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
) -> record::Applied {
    record::Applied {
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

/// Both forwarding sysctls as the target namespace sees them.
fn read_sysctls(ns: Option<&str>) -> Result<Vec<(Sysctl, Option<bool>)>, DriftError> {
    let read = sysctls_here;
    match ns {
        None => Ok(read()),
        // /proc/sys/net shows the namespace of the thread that opens the file.
        Some(name) => {
            crate::netns::run_in(&Path::new("/run/netns").join(name), read).map_err(|e| {
                DriftError::Netns {
                    name: name.to_string(),
                    message: e.to_string(),
                }
            })
        }
    }
}
