//! Applying a ruleset to the kernel, as orchestration: one batch sent in one
//! `sendmsg` by the netlink client (`nft::client`), the generation id guarding
//! against concurrent changes, then the sysctl step with rollback of both ruleset
//! and sysctls if it fails. What the kernel's replies mean is `refusal`'s.

mod alone;
mod basis;
pub mod delta;
mod delta_read;
mod guard;
mod handles;
mod inverse;
mod inverse_check;
mod inverse_done;
mod inverse_io;
mod refusal;
pub mod restore;
mod rollback;
pub mod seen;
mod send;
use basis::Basis;
mod table_copy;
pub mod trusted;

pub use alone::alone;
pub use delta::ApplyPath;
pub use guard::Guard;
pub(crate) use refusal::owned;

use crate::emit::netlink::{self, Batch, BatchOptions, EmitError};
use crate::ir::Ruleset;
use crate::nft::client::Client;
use crate::source::Span;
use crate::sysctl::{self, SysctlChange, SysctlError};
use rollback::Rollback;
use send::{next_genid, send_guarded};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use table_copy::TableCopy;

#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Enter `/run/netns/NAME` before opening the socket and the sysctl step.
    pub netns: Option<String>,
    /// Build everything, send nothing.
    pub dry_run: bool,
    /// Where sysctls live; `None` means `/proc/sys`. Tests point it elsewhere.
    pub sysctl_root: Option<PathBuf>,
    /// The guard of a capture the caller made (`restore::capture`): the batch
    /// is checked against the state it read, so a change to our table since
    /// then is refused with [`ApplyError::Concurrent`]. `None`: a fresh guard.
    pub guard: Option<Guard>,
    /// Replace the whole table even when an in-place change would do.
    pub full_replace: bool,
    /// The table record (`trusted::path`): planned from when it is trusted, rewritten
    /// after each commit. `None`: always read our table, keep no record.
    pub table_record: Option<PathBuf>,
    /// The caller's revert is the inverse of the in-place change (`restore::Captured::
    /// in_place`): the change goes in place or not at all (a refused in-place batch is
    /// not retried as a full replace), and a failed sysctl step leaves the ruleset to
    /// that revert, which runs right after (no copy of the table is taken for it).
    pub in_place_only: bool,
    /// The caller puts the previous state back itself when this apply fails after its
    /// commit (`--confirm`'s pending change holds it on disk): a failed sysctl step
    /// leaves the ruleset to that revert, and the apply holds no copy of our table for
    /// a rollback of its own (the capture's copy goes once the plan is made).
    pub caller_reverts: bool,
}

/// What an in-place plan was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PlanBasis {
    /// No in-place plan was made (a full replace was asked for).
    #[default]
    None,
    /// The table record of our last commit: nothing was read.
    Record,
    /// The copy the capture took for the revert (read once, for both).
    Copy,
    /// Dumps of our table; why the record was not used.
    Read { why: String },
}

#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    /// Generation the previous state was read at, and the one our commit made
    /// (equal for a dry run).
    pub genid_before: u32,
    pub genid: u32,
    /// Resends after the kernel refused the batch because another table changed
    /// in between (ours had not).
    pub resends: u32,
    pub messages: usize,
    pub batch_bytes: usize,
    pub build_time: Duration,
    /// Time inside the one `sendmsg`: the kernel validating and committing.
    pub send_time: Duration,
    /// `send_time` plus reading the replies.
    pub send_ack_time: Duration,
    pub sysctls: Vec<SysctlChange>,
    /// Dry run: one line per message that would be sent.
    pub plan: Vec<String>,
    pub dry_run: bool,
    /// Full replace or incremental, and why.
    pub path: ApplyPath,
    /// Dumps of our table this apply made itself: 0 when the capture's copy (taken at
    /// the guard's base generation) served both the rollback and the in-place change.
    pub table_dumps: u32,
    /// What the in-place plan was made from.
    pub basis: PlanBasis,
    /// Dumping our rules' handles and writing the table record after the commit.
    pub record_time: Duration,
    /// Dumps of our rules the table record was written from: none after an in-place
    /// change (the kernel echoed the handles of the rules it put, `apply/handles.rs`).
    pub rule_dumps: u32,
    /// Whether the table record was written, its elements while the batch was in the
    /// kernel (a full replace of a large table, `trusted/write.rs`).
    pub record_drafted: bool,
    /// Why no table record was written after the commit (`None`: written, or none
    /// asked for, or nothing changed since the one in use).
    pub record_error: Option<String>,
}

/// What went wrong, by phase. Nothing is left changed unless stated.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("network namespace {name:?} not found ({path})")]
    NetnsMissing { name: String, path: String },
    #[error("cannot enter network namespace {name:?}: {source}")]
    Netns { name: String, source: io::Error },
    #[error("permission denied: changing the firewall needs CAP_NET_ADMIN (run as root)")]
    Permission,
    #[error("table {table} is owned by another process (flags owner)")]
    Owned { table: String },
    #[error("the kernel has no nf_tables support (module nf_tables not available)")]
    NoNfTables,
    #[error("netlink socket error while {op}: {source}")]
    Socket { op: String, source: io::Error },
    #[error("cannot build the batch: {0}")]
    Emit(#[from] EmitError),
    #[error("the kernel refused {what}: {message}")]
    Kernel {
        errno: i32,
        /// strerror text, plus the kernel's extended ack message if present.
        message: String,
        /// Which message: "rule 4 of chain input".
        what: String,
        origin: Vec<Span>,
    },
    #[error(
        "ruleset changed concurrently (generation {expected} is no longer current); nothing was applied, try again"
    )]
    Concurrent { expected: u32 },
    #[error("the kernel did not commit the batch and sent no error (replies lost?)")]
    NotCommitted,
    #[error("{error}; {}", rollback_summary(.rollback, .restore_errors))]
    Sysctl {
        error: SysctlError,
        /// Rolling the ruleset back to its previous state failed.
        rollback: Option<Box<ApplyError>>,
        restore_errors: Vec<SysctlError>,
    },
    #[error("cannot read the current table for rollback: {0}")]
    Snapshot(String),
    /// Putting the captured previous table back failed.
    #[error("cannot restore the previous table: {0}")]
    Replay(String),
    /// The table holds things a rollback could not put back: refused before
    /// any change, so no change is committed that cannot be undone.
    #[error(
        "table {table} holds {what} that hostwall cannot restore; remove them or apply without --confirm"
    )]
    Unrestorable { table: String, what: String },
    /// A sysctl step failed and this apply rolled no ruleset back: before any change
    /// (`committed` false), or after a change that the pending change's revert undoes
    /// (`ApplyOptions::caller_reverts`).
    #[error("{error}; {}", unrolled_summary(*.committed, .restore_errors))]
    SysctlUnrolled {
        error: SysctlError,
        committed: bool,
        restore_errors: Vec<SysctlError>,
    },
}

fn unrolled_summary(committed: bool, restore: &[SysctlError]) -> String {
    let mut s = if committed {
        "the new ruleset is still loaded: the revert of the pending change undoes it"
    } else {
        "nothing was changed"
    }
    .to_string();
    for e in restore {
        s.push_str(&format!("; also could not restore: {e}"));
    }
    s
}

fn rollback_summary(rollback: &Option<Box<ApplyError>>, restore: &[SysctlError]) -> String {
    let mut s = match rollback {
        None => "the ruleset was rolled back to its previous state".to_string(),
        Some(e) => format!("ROLLBACK FAILED, the new ruleset is still loaded: {e}"),
    };
    for e in restore {
        s.push_str(&format!("; also could not restore: {e}"));
    }
    s
}

impl ApplyError {
    /// Policy lines behind the failure, for `file:line:col` rendering.
    pub fn origin(&self) -> &[Span] {
        match self {
            ApplyError::Kernel { origin, .. } => origin,
            _ => &[],
        }
    }
}

/// Makes the kernel's table `rs.table.name` exactly `rs`, then the sysctls.
pub fn apply(rs: &Ruleset, opts: &ApplyOptions) -> Result<ApplyReport, ApplyError> {
    in_netns(opts.netns.as_deref(), || apply_here(rs, opts))
}

/// Runs `f` in the namespace called `netns` (or right here for `None`).
pub(crate) fn in_netns<T: Send, E: From<ApplyError> + Send>(
    netns: Option<&str>,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    crate::netns::run_named(netns, f).map_err(|e| E::from(refusal::netns(e)))?
}

/// The apply in this thread's namespace.
fn apply_here(rs: &Ruleset, opts: &ApplyOptions) -> Result<ApplyReport, ApplyError> {
    let root = opts
        .sysctl_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(sysctl::PROC_SYS));
    let mut nl = Client::open()?;
    let guard = match &opts.guard {
        Some(g) => g.clone(),
        None => {
            let g = Guard::open(&rs.table.name)?;
            g.set_base(nl.genid()?);
            g
        }
    };
    let genid_before = guard.base();
    let mut dumps = 0;
    let t0 = Instant::now();
    let here = crate::nsid::NetnsId::of_thread().ok();
    // Not read for a full replace, which plans nothing from it: a million addresses'
    // decoding would be held beside the batch being built.
    let record = (opts.table_record.as_deref())
        .filter(|_| !opts.full_replace)
        .map(|p| trusted::live_from(p, &rs.table.name, here.as_ref(), genid_before));
    // Planned from the record, the sysctl step's rollback waits for the path: an
    // in-place change is undone by its inverse, O(change), not by a copy. Otherwise the
    // copy is taken now, and the plan reads our table from it (one dump, not two).
    let plan_from_record = matches!(record, Some(Ok(_)));
    let capture_began = Instant::now();
    let (changes, interfaces, copy) = capture_previous(
        &mut nl,
        rs,
        &root,
        opts.dry_run,
        (
            &guard,
            opts.in_place_only || plan_from_record,
            opts.caller_reverts,
        ),
        &mut dumps,
    )?;
    let captured = capture_began.elapsed();
    let rollback_later = copy.is_none()
        && !opts.in_place_only
        && !opts.caller_reverts
        && !opts.dry_run
        && changes.iter().any(|c| c.old != c.new);
    let mut basis = Basis {
        seen: seen::take(&rs.table.name, here.as_ref(), genid_before),
        kept: copy.clone().or_else(|| guard.copy()),
        record,
        dumps: 0,
        used: PlanBasis::None,
        patch: None,
        want_inverse: rollback_later,
        inverse: None,
        slots: None,
    };
    let (batch, path) = choose(&mut nl, rs, opts, genid_before, &mut basis)?;
    basis.seen = None;
    if opts.caller_reverts {
        // Planned: the copy is the caller's revert's, on disk, and not held beside the
        // batch (a million addresses: 38 MB).
        basis.kept = None;
        guard.forget_copy();
    }
    if let (true, ApplyPath::Full { reason }) = (opts.in_place_only, &path) {
        return Err(ApplyError::Snapshot(format!(
            "the in-place change the revert was captured for no longer applies ({reason})"
        )));
    }
    dumps += basis.dumps;
    let mut report = ApplyReport {
        basis: basis.used.clone(),
        table_dumps: dumps,
        genid_before,
        genid: genid_before,
        messages: batch.as_ref().map_or(0, |b| b.messages.len()),
        batch_bytes: batch.as_ref().map_or(0, |b| b.len()),
        // The plan and the batch: not the sysctl reads nor the copy of the capture.
        build_time: t0.elapsed().saturating_sub(captured),
        sysctls: changes.clone(),
        dry_run: opts.dry_run,
        path,
        ..ApplyReport::default()
    };
    if opts.dry_run {
        report.plan = plan(batch.as_ref(), &changes);
        return Ok(report);
    }
    let sent_any = batch.is_some();
    let mut rollback = copy.map(Rollback::Copy);
    if rollback_later && sent_any {
        rollback = Some(match (basis.inverse.take(), &report.path) {
            (Some(inv), ApplyPath::Incremental { .. }) => Rollback::Inverse(inv),
            _ => Rollback::copy(&mut nl, &rs.table.name, &guard, &mut report.table_dumps)?,
        });
    }
    let (mut handles, mut draft) = (None, None);
    if let Some(mut batch) = batch {
        // A large record's elements are written while the batch is in the kernel.
        let drafts = (opts.table_record.as_deref())
            .filter(|_| matches!(report.path, ApplyPath::Full { .. }))
            .filter(|_| trusted::elements_len(rs) >= trusted::DRAFT_FROM);
        let sent = std::thread::scope(|s| {
            let draft_at = |p| {
                std::thread::Builder::new().spawn_scoped(s, move || trusted::Draft::start(p, rs))
            };
            let drafting = drafts.and_then(|p| draft_at(p).ok());
            let sent = send_guarded(&mut nl, &mut batch, &guard, &rs.table.name, &mut report);
            draft = drafting.and_then(|d| d.join().ok()?.ok());
            sent
        });
        let sent = match sent {
            Err(e @ ApplyError::Kernel { .. })
                if matches!(report.path, ApplyPath::Incremental { .. }) && !opts.in_place_only =>
            {
                // Nothing was committed: the same change as a full replace, which only a
                // copy of our table undoes.
                if let Some(Rollback::Inverse(_)) = rollback {
                    rollback = Some(Rollback::copy(
                        &mut nl,
                        &rs.table.name,
                        &guard,
                        &mut report.table_dumps,
                    )?);
                }
                basis.slots = None;
                let mut full = netlink::build(rs, &batch_options(&mut nl, Some(genid_before)))?;
                report.path = ApplyPath::Full {
                    reason: format!("the kernel refused the in-place change ({e})"),
                };
                report.messages = full.messages.len();
                report.batch_bytes = full.len();
                send_guarded(&mut nl, &mut full, &guard, &rs.table.name, &mut report)?
            }
            r => r?,
        };
        report.send_time = sent.send_time;
        report.send_ack_time = sent.total;
        report.genid = next_genid(sent.at);
        // The kernel's rule handles after an in-place change, without a dump.
        if let Some(slots) = basis.slots.take() {
            handles = slots.fill(rs, &batch, &sent.echoed);
        }
    }
    if let Err(f) = sysctl::apply(&root, &changes, &interfaces) {
        let rollback = match rollback {
            Some(r) => r
                .undo(&mut nl, &rs.table.name, here.as_ref())
                .err()
                .map(Box::new),
            None => {
                return Err(ApplyError::SysctlUnrolled {
                    error: f.error,
                    committed: sent_any,
                    restore_errors: f.restore_errors,
                });
            }
        };
        return Err(ApplyError::Sysctl {
            error: f.error,
            rollback,
            restore_errors: f.restore_errors,
        });
    }
    if let Some(p) = &opts.table_record
        && (sent_any || report.basis != PlanBasis::Record)
    {
        let (at, t) = ((report.genid, here), Instant::now());
        let patch = basis.patch.as_ref().map(|(o, c)| (o, c.as_slice()));
        let patch = patch.filter(|_| matches!(report.path, ApplyPath::Incremental { .. }));
        report.rule_dumps = u32::from(handles.is_none());
        report.record_drafted = draft.is_some();
        report.record_error = trusted::remember(&mut nl, rs, at, p, patch, handles, draft).err();
        report.record_drafted &= report.record_error.is_none();
        report.record_time = t.elapsed();
    }
    Ok(report)
}

/// The batch to send and the path it takes: the in-place change when the live table
/// allows one (`None`: nothing to change), else the full replace and why. The live
/// table comes from `basis` (the record, the capture's copy, or dumps), exact at `genid`.
fn choose(
    nl: &mut Client,
    rs: &Ruleset,
    opts: &ApplyOptions,
    genid: u32,
    basis: &mut Basis,
) -> Result<(Option<Batch>, ApplyPath), ApplyError> {
    let name = &rs.table.name;
    let why = if opts.full_replace {
        "a full replace was asked for".to_string()
    } else {
        match basis.live(nl, name) {
            Ok(None) => format!("table inet {name} does not exist yet"),
            Err(e) => format!("the live table could not be read ({e})"),
            Ok(Some(mut live)) => match delta::plan(&live, rs) {
                delta::Decision::Full(why) => why,
                delta::Decision::Delta(d) => {
                    let summary = delta::summarize(&d);
                    // Only from the record: the revert judges our table against it.
                    let from_record = basis.used == PlanBasis::Record;
                    if let (true, true, Some(record)) =
                        (basis.want_inverse, from_record, &opts.table_record)
                    {
                        basis.inverse =
                            inverse_io::of_planned(nl, name, (&live, &d, genid), record).ok();
                    }
                    if let (Some((_, changes)), false) = (&mut basis.patch, opts.dry_run) {
                        *changes = trusted::changes_of(&d);
                    }
                    let batch = match d.is_empty() {
                        true => None,
                        false => {
                            let o = batch_options(nl, Some(genid));
                            let mut b = crate::emit::delta::build(&d, &rs.table.sets, &o)?;
                            if b.echo_rules(handles::ECHO_MAX) && !opts.dry_run {
                                let chains = std::mem::take(&mut live.chains);
                                basis.slots = handles::Slots::plan(chains, &d, rs);
                            }
                            Some(b)
                        }
                    };
                    return Ok((batch, ApplyPath::Incremental { summary }));
                }
            },
        }
    };
    let o = batch_options(nl, Some(genid));
    let batch = netlink::build(rs, &o)?;
    Ok((Some(batch), ApplyPath::Full { reason: why }))
}

/// A batch's sequence numbers: its own range, after the client's current one.
fn batch_options(nl: &mut Client, genid: Option<u32>) -> BatchOptions {
    BatchOptions {
        first_seq: nl.reserve(BATCH_SEQ_SPAN),
        genid,
    }
}

/// Sequence numbers left to one batch (one per message).
const BATCH_SEQ_SPAN: u32 = 1 << 24;

/// What a failed sysctl step must restore, captured before changing anything:
/// the sysctls' values, their per-interface copies (writing a global forwarding
/// key rewrites every interface's), and the table when there is a step at all.
type Previous = (
    Vec<SysctlChange>,
    Vec<sysctl::Interfaces>,
    Option<Arc<TableCopy>>,
);

/// The table is the guard's copy when it kept one (exact at its base generation, which
/// the batch carries); otherwise dumped here, counted in `dumps`, unless `not_now` (the
/// caller's in-place revert, or the inverse of a change planned from the record, will
/// undo it) or `caller_reverts` (no copy at all). None is taken when the
/// sysctl step will write nothing (every value already is the policy's, as on every
/// re-apply of a policy with `forwarding on`): a step that writes nothing cannot fail,
/// and a dump of a large table would cost more than the whole in-place change.
fn capture_previous(
    nl: &mut Client,
    rs: &Ruleset,
    root: &Path,
    dry_run: bool,
    (guard, not_now, caller_reverts): (&Guard, bool, bool),
    dumps: &mut u32,
) -> Result<Previous, ApplyError> {
    let failed = |error| ApplyError::SysctlUnrolled {
        error,
        committed: false,
        restore_errors: vec![],
    };
    let changes = sysctl::capture(root, &rs.sysctls).map_err(failed);
    if dry_run || rs.sysctls.is_empty() {
        // A dry run plans with what it could read; nothing will be undone.
        return Ok((changes.unwrap_or_default(), Vec::new(), None));
    }
    let changes = changes?;
    if changes.iter().all(|c| c.old == c.new) {
        return Ok((changes, Vec::new(), None));
    }
    let copy = match guard.copy() {
        // The caller's revert undoes a change whose sysctl step fails.
        _ if caller_reverts => None,
        Some(c) => Some(c),
        // Not now: the caller's revert or the change's inverse undoes it.
        None if not_now => None,
        None => {
            *dumps += 1;
            Some(Arc::new(TableCopy::capture(nl, &rs.table.name, guard)?))
        }
    };
    let interfaces = sysctl::capture_all_interfaces(root, &changes).map_err(failed)?;
    Ok((changes, interfaces, copy))
}

fn plan(batch: Option<&Batch>, changes: &[SysctlChange]) -> Vec<String> {
    let mut out: Vec<String> = (batch.iter())
        .flat_map(|b| b.messages.iter())
        .map(|m| format!("seq {:>6}  {:>6} bytes  {}", m.seq, m.len, m.what))
        .collect();
    out.extend(
        changes
            .iter()
            .filter(|c| c.old != c.new)
            .map(|c| format!("sysctl {c}")),
    );
    out
}
