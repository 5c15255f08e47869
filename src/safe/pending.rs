//! The pending-change record: what `apply --confirm` leaves behind until the change is
//! confirmed or reverted, and the decisions made on it (confirm, recover, status).
//!
//! One pending change per network namespace ([`Slot`]), in two files in the state dir:
//! `pending-KEY.json` (small, readable: id, policy, deadline, watcher identity) and
//! `pending-KEY.prev` (the opaque previous-state blob from the apply owner). Both are
//! written atomically; the blob first, so a record never points at a missing blob. The
//! record holds the blob's length and SHA-256: a blob that was truncated or replaced is
//! refused before it is replayed. Everything is read through [`super::trust`], so an
//! untrusted state directory or file is never used. The record's presence *is* the
//! pending state: removing it is how a change becomes confirmed or finished.

use super::deadline::{BootDeadline, deadline_after};
use super::lock::StateLock;
use super::outcome::{self, End, Event, Outcome};
use super::slot::{self, Slot};
use super::{Error, Revert, atomic_write, atomic_write_with, remove_durably, trust, unix_now};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// Version 2 added the blob's SHA-256 and the namespace name; ids end with their slot.
pub(super) const FORMAT_VERSION: u32 = 2;
/// The record is a few hundred bytes; anything much larger is not one of ours.
const RECORD_LIMIT: u64 = 1 << 20;

/// A pending change, as stored in `pending-KEY.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub version: u32,
    /// Unique per change, ending with its slot's key; names the transient unit
    /// `hostwall-revert-<id>`.
    pub id: String,
    /// The `--netns` name of the namespace, for messages (`None`: made from inside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// The policy file (or name) that was applied, for `status` and messages.
    pub policy: String,
    /// Unix seconds when the change began.
    pub created: u64,
    /// Unix seconds after which the change is reverted unless confirmed: what is shown,
    /// and what decides when `boot_deadline` cannot (a record from another boot).
    pub deadline: u64,
    /// The same moment on the clock since boot, which decides in the boot it names: a
    /// wall clock stepped back (NTP, a clock kept in local time) must not delay the
    /// revert, nor one stepped forward hasten it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_deadline: Option<BootDeadline>,
    /// The detached watcher, once started; `None` between writing the record and
    /// spawning it (a record still without a watcher when the lock is free means the
    /// applying process died in between).
    pub watcher: Option<ProcId>,
    /// Length of `pending.prev`, so a truncated blob is caught before it is restored.
    pub previous_len: u64,
    /// SHA-256 (hex) of `pending.prev`: a blob that is not the one saved is refused
    /// before it is replayed as root.
    pub previous_sha256: String,
    /// Why the last revert attempt failed (the watcher keeps retrying; `status`
    /// shows it, since the watcher itself has no output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Set before a revert touches the kernel: from then on the change is being
    /// reverted (a `confirm` can no longer keep it) and whoever finds the record
    /// finishes the revert, for this reason, even if the reverting process died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverting: Option<RevertReason>,
}

/// A process identity that survives pid reuse: the pid plus its start time in clock
/// ticks since boot (field 22 of `/proc/PID/stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: u32,
    pub start_time: u64,
}

impl ProcId {
    /// The identity of a running process, `None` if it does not exist (or is a zombie).
    pub fn of(pid: u32) -> Option<ProcId> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `comm` may hold spaces and parentheses: the fields after it start after
        // the last ')'. There, index 0 is the state (field 3), 19 the start time (22).
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if matches!(fields.first(), Some(&"Z") | Some(&"X") | None) {
            return None;
        }
        let start_time = fields.get(19)?.parse().ok()?;
        Some(ProcId { pid, start_time })
    }

    /// Whether this very process still runs (same pid and the same start time).
    pub fn is_alive(&self) -> bool {
        ProcId::of(self.pid) == Some(*self)
    }
}

/// What `status` reports about the watcher of a pending change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherHealth {
    Alive,
    /// The recorded watcher no longer runs (killed, or its pid was reused).
    Gone,
    /// No watcher was ever recorded.
    NotStarted,
}

/// Read-only view for `hostwall status`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per command: not worth a box
pub enum Status {
    Nothing,
    Pending {
        record: Pending,
        remaining: u64,
        watcher: WatcherHealth,
    },
}

pub use super::outcome::RevertReason;
/// Why [`recover`] reverted a change without being asked to (one of the automatic
/// [`RevertReason`]s).
pub type StaleReason = RevertReason;

/// What [`recover`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    Nothing,
    /// A healthy pending change within its window: a new apply must be refused.
    Pending(Pending),
    Reverted {
        record: Pending,
        reason: StaleReason,
    },
    /// Stale, but nothing was left to revert (its namespace is gone): record dropped.
    Dropped {
        record: Pending,
        note: String,
    },
}

/// What [`revert_record`] did; either way the record is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reverted {
    Restored,
    /// Nothing was left to revert ([`super::NothingLeft`]); the note says why.
    Dropped(String),
}

/// What [`confirm`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmed {
    /// The change stays; the watcher will find no record and exit.
    Kept(Pending),
    /// Nothing is pending and no outcome is kept (nothing ended since boot).
    NothingPending,
    /// Nothing is pending; this is how the last change ended (it may have been
    /// reverted: then there is nothing left to keep).
    Ended(Outcome),
    /// The deadline had already passed (or a revert had begun): the change was
    /// reverted instead.
    TooLate(Outcome),
}

impl Pending {
    /// The slot this change is in (its id ends with the key).
    pub fn slot(&self) -> Result<Slot, Error> {
        Slot::of_id(&self.id)
    }
}

/// Reads the pending record of `slot`, `None` when nothing is pending there. Safe
/// without the lock: the record is only ever replaced by rename, so a reader sees a
/// whole version. Refuses an untrusted state directory or record file.
pub fn read(state_dir: &Path, slot: &Slot) -> Result<Option<Pending>, Error> {
    if !trust::dir_exists(state_dir)? {
        return Ok(None);
    }
    trust::check_dir(state_dir)?;
    let path = slot.record_path(state_dir);
    let Some(bytes) = trust::read_file(&path, RECORD_LIMIT)? else {
        return Ok(None);
    };
    let corrupt = |reason: String| Error::Corrupt {
        path: path.clone(),
        reason,
    };
    let record: Pending = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if record.version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "unknown format version {}",
            record.version
        )));
    }
    if !crate::digest::is_hex_digest(&record.previous_sha256) {
        return Err(corrupt(
            "its previous_sha256 is not a SHA-256 digest".into(),
        ));
    }
    if record.slot().ok().as_ref().map(Slot::key) != Some(slot.key()) {
        return Err(corrupt(format!(
            "it holds change {}, which belongs to another namespace",
            record.id
        )));
    }
    Ok(Some(record))
}

/// The record of change `id`, if it is still pending (its slot comes from the id).
pub fn read_id(state_dir: &Path, id: &str) -> Result<Option<Pending>, Error> {
    Ok(read(state_dir, &Slot::of_id(id)?)?.filter(|r| r.id == id))
}

/// Every pending change in the state dir, one per namespace (for `status`).
pub fn read_all(state_dir: &Path) -> Result<Vec<Pending>, Error> {
    if !trust::dir_exists(state_dir)? {
        return Ok(Vec::new());
    }
    trust::check_dir(state_dir)?;
    let mut all = Vec::new();
    for slot in slot::all(state_dir)? {
        all.extend(read(state_dir, &slot)?);
    }
    Ok(all)
}

/// The previous-state blob of `record`, checked against the recorded length (before
/// reading: memory stays bounded) and SHA-256 (before anyone replays it).
pub fn read_previous(state_dir: &Path, record: &Pending) -> Result<Vec<u8>, Error> {
    trust::check_dir(state_dir)?;
    let path = record.slot()?.previous_path(state_dir);
    let corrupt = |reason: String| Error::Corrupt {
        path: path.clone(),
        reason,
    };
    let file = trust::open_file(&path)?.ok_or_else(|| corrupt("it is missing".into()))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("inspect", &path, e))?
        .len();
    if size != record.previous_len {
        return Err(corrupt(format!(
            "holds {size} bytes, the record says {}",
            record.previous_len
        )));
    }
    let blob = trust::read_opened(&path, file, record.previous_len)?;
    if blob.len() as u64 != record.previous_len {
        return Err(corrupt(format!(
            "holds {} bytes, the record says {}",
            blob.len(),
            record.previous_len
        )));
    }
    if crate::digest::sha256_hex(&blob) != record.previous_sha256 {
        return Err(corrupt(
            "its SHA-256 is not the one recorded: it is not the state that was saved, so it is not restored".into(),
        ));
    }
    Ok(blob)
}

/// The saved previous state as [`begin`] writes it: bytes, or a value that writes itself
/// (so a large table's copy is never held as one blob in memory beside it).
pub trait PreviousState {
    fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()>;
}

impl PreviousState for Vec<u8> {
    fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(self)
    }
}

impl PreviousState for &[u8] {
    fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(self)
    }
}

impl<const N: usize> PreviousState for [u8; N] {
    fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(self)
    }
}

/// Records a new pending change *before* the new ruleset is applied, so that a crash
/// at any later point leaves a record the next invocation reverts. Refuses with
/// [`Error::AlreadyPending`] when one exists in `slot` (call [`recover`] first to clear
/// stale ones); other namespaces' changes are no concern of this one.
pub fn begin(
    lock: &StateLock,
    slot: &Slot,
    policy: &str,
    timeout: Duration,
    previous: &dyn PreviousState,
) -> Result<Pending, Error> {
    let dir = lock.state_dir();
    let now = unix_now();
    if let Some(old) = read(dir, slot)? {
        return Err(Error::already_pending(&old, slot));
    }
    let mut written = None;
    atomic_write_with(&slot.previous_path(dir), 0o600, &mut |f| {
        let mut out =
            crate::digest::Sha256Writer::new(std::io::BufWriter::with_capacity(1 << 16, f));
        previous.write_to(&mut out)?;
        written = Some(out.finish()?);
        Ok(())
    })?;
    let Some((previous_len, previous_sha256)) = written else {
        return Err(Error::io(
            "write",
            &slot.previous_path(dir),
            std::io::Error::other("the previous state was not written"),
        ));
    };
    let (deadline, boot_deadline) = deadline_after(timeout);
    let record = Pending {
        version: FORMAT_VERSION,
        id: slot.new_id(now),
        netns: slot.netns().map(str::to_string),
        policy: policy.to_string(),
        created: now,
        deadline,
        boot_deadline,
        watcher: None,
        previous_len,
        previous_sha256,
        last_error: None,
        reverting: None,
    };
    write_record(dir, &record)?;
    Ok(record)
}

/// Stores the watcher's identity once it runs.
pub fn set_watcher(lock: &StateLock, id: &str, watcher: ProcId) -> Result<Pending, Error> {
    let dir = lock.state_dir();
    let mut record = expect_record(dir, id)?;
    record.watcher = Some(watcher);
    write_record(dir, &record)?;
    Ok(record)
}

/// Drops the record of change `id` without reverting: used when the apply itself
/// failed (and rolled itself back). Returns false when no such record exists.
pub fn abandon(lock: &StateLock, id: &str) -> Result<bool, Error> {
    let dir = lock.state_dir();
    match read_id(dir, id)? {
        Some(r) => finish(dir, &r),
        None => Ok(false),
    }
}

fn expect_record(dir: &Path, id: &str) -> Result<Pending, Error> {
    let slot = Slot::of_id(id)?;
    match read(dir, &slot)? {
        Some(r) if r.id == id => Ok(r),
        other => Err(Error::Corrupt {
            path: slot.record_path(dir),
            reason: match other {
                Some(r) => format!("expected pending change {id}, found {}", r.id),
                None => format!("pending change {id} disappeared"),
            },
        }),
    }
}

fn write_record(dir: &Path, record: &Pending) -> Result<(), Error> {
    let path = record.slot()?.record_path(dir);
    let mut text = serde_json::to_string_pretty(record).map_err(|e| Error::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    atomic_write(&path, text.as_bytes(), 0o600)
}

/// Removes the record (then the blob): the change is no longer pending.
fn finish(dir: &Path, record: &Pending) -> Result<bool, Error> {
    let slot = record.slot()?;
    let removed = remove_durably(&slot.record_path(dir))?;
    remove_durably(&slot.previous_path(dir))?;
    Ok(removed)
}

/// Restores the previous state of `record` and removes the record. On failure the
/// record stays, so the next invocation (or watcher) tries again; when the revert says
/// nothing is left to revert ([`super::NothingLeft`]) the record is dropped.
///
/// The order keeps the record true to the kernel whichever process dies: the record
/// is marked `reverting` first, then the kernel is restored, then the outcome is
/// stored and reported, then the record goes. Termination signals wait meanwhile.
/// Every failed attempt is reported too. A record already marked keeps its reason.
pub fn revert_record(
    lock: &StateLock,
    record: &Pending,
    revert: &dyn Revert,
    reason: RevertReason,
) -> Result<Reverted, Error> {
    let outcome = revert_ending(lock, record, revert, reason)?;
    Ok(match outcome.end {
        End::Dropped { note, .. } => Reverted::Dropped(note),
        End::Reverted { .. } | End::Confirmed => Reverted::Restored,
    })
}

fn revert_ending(
    lock: &StateLock,
    record: &Pending,
    revert: &dyn Revert,
    reason: RevertReason,
) -> Result<Outcome, Error> {
    let _deferred = super::signals::Deferred::new();
    let dir = lock.state_dir();
    let reason = record.reverting.unwrap_or(reason);
    let failed = |netns: Option<String>, e: Error| {
        let mut error = e.to_string();
        outcome::cut(&mut error);
        revert.report(&Event::RevertFailed {
            id: record.id.clone(),
            policy: record.policy.clone(),
            netns,
            reason,
            error,
        });
        e
    };
    let blob = read_previous(dir, record).map_err(|e| failed(None, e))?;
    let netns = revert.namespace(&blob);
    // Marking is best effort: a state dir that cannot be written must not stop the
    // revert itself, which matters more.
    let _ = mark_reverting(dir, &record.id, reason);
    let end = match revert.revert(&blob) {
        Ok(()) => End::Reverted { reason },
        Err(e) if e.is::<super::NothingLeft>() => End::Dropped {
            reason,
            note: e.to_string(),
        },
        Err(source) => {
            let e = Error::RevertFailed {
                id: record.id.clone(),
                source,
            };
            return Err(failed(netns, e));
        }
    };
    let done = ended(dir, record, netns, end, revert);
    finish(dir, record)?;
    Ok(done)
}

/// Stores (best effort: the history is advisory, the report is the durable trace)
/// and reports how `record` ended; call before [`finish`].
fn ended(
    dir: &Path,
    record: &Pending,
    netns: Option<String>,
    end: End,
    revert: &dyn Revert,
) -> Outcome {
    let done = Outcome {
        id: record.id.clone(),
        policy: record.policy.clone(),
        netns,
        at: unix_now(),
        end,
    };
    let _ = outcome::store(dir, done.clone());
    revert.report(&Event::Ended(done.clone()));
    done
}

fn mark_reverting(dir: &Path, id: &str, reason: RevertReason) -> Result<(), Error> {
    let mut record = expect_record(dir, id)?;
    if record.reverting.is_none() {
        record.reverting = Some(reason);
        write_record(dir, &record)?;
    }
    Ok(())
}

/// Stores why the last revert of change `id` failed, for `status`.
pub fn set_last_error(lock: &StateLock, id: &str, error: &str) -> Result<Pending, Error> {
    let dir = lock.state_dir();
    let mut record = expect_record(dir, id)?;
    record.last_error = Some(error.to_string());
    write_record(dir, &record)?;
    Ok(record)
}

/// Moves the deadline of change `id` to now: a change whose apply failed half-way and
/// could not be reverted at once must be reverted as soon as possible, not kept by a
/// `confirm`.
pub fn expire_now(lock: &StateLock, id: &str) -> Result<Pending, Error> {
    let dir = lock.state_dir();
    let mut record = expect_record(dir, id)?;
    record.deadline = unix_now();
    record.boot_deadline = BootDeadline::after(Duration::ZERO);
    write_record(dir, &record)?;
    Ok(record)
}

/// Why a pending record would be reverted now, if it would.
fn stale_reason(record: &Pending) -> Option<StaleReason> {
    if let Some(reason) = record.reverting {
        return Some(reason);
    }
    match record.watcher {
        None => Some(StaleReason::NoWatcher),
        Some(w) if !w.is_alive() => Some(StaleReason::WatcherGone),
        Some(_) if record.due() => Some(StaleReason::DeadlinePassed),
        Some(_) => None,
    }
}

/// Run by every state-changing invocation right after taking the lock: reverts a
/// pending change that nobody will revert on time (watcher gone, or never started) or
/// whose deadline has passed; reports a healthy one so the caller can refuse.
///
/// A dead watcher triggers the revert even before the deadline: without it nothing
/// guarantees the revert any more, and an unconfirmed change on a remote host must
/// not outlive its safety net. `confirm` still keeps such a change when it comes first.
pub fn recover(lock: &StateLock, slot: &Slot, revert: &dyn Revert) -> Result<Recovery, Error> {
    let Some(record) = read(lock.state_dir(), slot)? else {
        return Ok(Recovery::Nothing);
    };
    match stale_reason(&record) {
        None => Ok(Recovery::Pending(record)),
        Some(reason) => match revert_record(lock, &record, revert, reason)? {
            Reverted::Restored => Ok(Recovery::Reverted { record, reason }),
            Reverted::Dropped(note) => Ok(Recovery::Dropped { record, note }),
        },
    }
}

/// Reverts the pending change of `slot` now, whatever its state (`hostwall revert`,
/// reason [`RevertReason::Requested`]); with `only`, just the change of that id.
pub fn revert_now(
    lock: &StateLock,
    slot: &Slot,
    revert: &dyn Revert,
    only: Option<&str>,
    reason: RevertReason,
) -> Result<Option<(Pending, Reverted)>, Error> {
    let Some(record) = read(lock.state_dir(), slot)? else {
        return Ok(None);
    };
    if only.is_some_and(|id| id != record.id) {
        return Ok(None);
    }
    let done = revert_record(lock, &record, revert, reason)?;
    Ok(Some((record, done)))
}

/// `hostwall confirm`: keeps the pending change if its deadline has not passed, under
/// the lock (so it cannot race the watcher's revert). A confirm that comes too late
/// reverts instead: the deadline is the contract the admin asked for. With nothing
/// pending it returns how the last change of this slot ended.
pub fn confirm(
    state_dir: &Path,
    slot: &Slot,
    wait: Duration,
    revert: &dyn Revert,
) -> Result<Confirmed, Error> {
    let lock = StateLock::acquire(state_dir, wait)?;
    let Some(record) = read(state_dir, slot)? else {
        return Ok(match outcome::last_in(state_dir, slot).ok().flatten() {
            Some(o) => Confirmed::Ended(o),
            None => Confirmed::NothingPending,
        });
    };
    if record.reverting.is_some() || record.due() {
        let done = revert_ending(&lock, &record, revert, RevertReason::ConfirmTooLate)?;
        return Ok(Confirmed::TooLate(done));
    }
    let _deferred = super::signals::Deferred::new();
    let netns = read_previous(state_dir, &record)
        .ok()
        .and_then(|b| revert.namespace(&b));
    ended(state_dir, &record, netns, End::Confirmed, revert);
    finish(state_dir, &record)?;
    Ok(Confirmed::Kept(record))
}

/// Read-only status (no lock): the pending change of `slot`, time left, watcher health.
pub fn status(state_dir: &Path, slot: &Slot) -> Result<Status, Error> {
    let Some(record) = read(state_dir, slot)? else {
        return Ok(Status::Nothing);
    };
    let watcher = match record.watcher {
        None => WatcherHealth::NotStarted,
        Some(w) if w.is_alive() => WatcherHealth::Alive,
        Some(_) => WatcherHealth::Gone,
    };
    Ok(Status::Pending {
        remaining: record.remaining(),
        record,
        watcher,
    })
}

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
