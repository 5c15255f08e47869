//! The safe-apply sequence in one place, so the CLI only supplies the kernel work:
//! lock -> revert stale changes / refuse when one is pending -> (record the previous
//! state) -> apply -> (start the watcher) -> unlock.
//!
//! The order matters: the pending record is written *before* the new ruleset goes in,
//! so a crash anywhere after that point leaves a record the next invocation reverts;
//! a watcher that cannot be started means the change is reverted at once, because an
//! unconfirmed change without a safety net is exactly what this module exists to prevent.

use super::lock::StateLock;
use super::outcome::{self, Outcome, RevertReason};
use super::pending::{self, Pending, Recovery, Status};
use super::slot::Slot;
use super::watcher::{self, SpawnMethod, Spawned, WatcherCommand};
use super::{Error, Revert};
use std::path::Path;
use std::time::Duration;

/// `apply --confirm SECONDS`: what the watcher needs.
#[derive(Clone, Debug)]
pub struct ConfirmOptions {
    /// Shown by `status` and in the refusal of a second apply.
    pub policy: String,
    pub timeout: Duration,
    pub method: SpawnMethod,
    /// Builds the watcher's command line from (state dir, change id); normally
    /// [`WatcherCommand::hostwall`] (`hostwall watch-revert --state-dir DIR --id ID`).
    pub command: fn(&Path, &str) -> Result<WatcherCommand, Error>,
    /// Appended to the watcher's arguments (the CLI passes its log sockets on).
    pub watcher_args: Vec<std::ffi::OsString>,
}

impl ConfirmOptions {
    /// The usual options: the watcher is this binary, started the `Auto` way.
    pub fn new(policy: impl Into<String>, timeout: Duration) -> ConfirmOptions {
        ConfirmOptions {
            policy: policy.into(),
            timeout,
            method: SpawnMethod::Auto,
            command: WatcherCommand::hostwall,
            watcher_args: Vec::new(),
        }
    }
}

/// The caller's capture/apply error, as the sequence needs to judge it.
pub trait StepError: std::error::Error + 'static {
    /// True only when the error proves the kernel committed nothing (the batch was
    /// refused, or never sent). Then the previous state is not restored: doing so
    /// could undo a change someone else made meanwhile (the refusal may be exactly
    /// that: a concurrent generation). Anything uncertain says false, and the
    /// captured previous state is restored at once.
    fn nothing_committed(&self) -> bool {
        false
    }
}

/// A failure of the sequence: either the state machinery or the caller's own step.
#[derive(Debug, thiserror::Error)]
pub enum FlowError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Safe(#[from] Error),
    /// The caller's capture or apply failed; nothing is pending.
    #[error(transparent)]
    Step(E),
    /// The watcher could not be started, so the change was reverted at once.
    #[error("{spawn}; the change was reverted because nothing could revert it later")]
    NoWatcher { spawn: Error },
    /// The apply step failed (possibly after committing the new ruleset) and the
    /// immediate revert failed too: the record stays, with its deadline moved to now,
    /// and the watcher (when it could be started) keeps retrying.
    #[error("{step}; reverting to the previous state failed too ({revert}); {}", watcher_text(.watcher))]
    StepNotReverted {
        step: E,
        revert: Error,
        watcher: Result<Spawned, Error>,
    },
}

fn watcher_text(w: &Result<Spawned, Error>) -> String {
    match w {
        Ok(s) => format!(
            "the revert watcher (pid {}) keeps retrying; see `hostwall status`",
            s.process().pid
        ),
        Err(e) => format!("{e}; the next hostwall command retries the revert"),
    }
}

/// A stale pending change that a command found and dealt with before its own work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovered {
    /// Reverted (report it to the admin).
    Reverted(Pending, pending::StaleReason),
    /// Nothing was left to revert; the record was dropped (the note says why).
    Dropped(Pending, String),
}

impl Recovered {
    fn from_recovery(r: Recovery) -> Option<Recovered> {
        match r {
            Recovery::Nothing | Recovery::Pending(_) => None,
            Recovery::Reverted { record, reason } => Some(Recovered::Reverted(record, reason)),
            Recovery::Dropped { record, note } => Some(Recovered::Dropped(record, note)),
        }
    }
}

/// What a guarded apply did.
#[derive(Debug)]
pub struct AppliedChange<T> {
    /// The caller's apply result.
    pub value: T,
    /// A stale pending change that was reverted (or dropped) first.
    pub recovered: Option<Recovered>,
    /// Set with `--confirm`: the change now waits for `hostwall confirm`.
    pub pending: Option<(Pending, Spawned)>,
}

/// Where a namespace's pending change lives: the state dir, and the namespace's slot
/// in it (one pending change per namespace).
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub state_dir: &'a Path,
    pub slot: &'a Slot,
}

/// Runs `apply` under the lock with all the safe-apply rules. With `confirm`,
/// `capture` first returns the previous-state blob that `revert` can restore, and
/// `pending_hook` runs under the lock once the change is applied and before its watcher
/// starts, so what it stores in the state dir (the deferred `--persist` drop-in) is
/// there before a quick `confirm` looks; callers with nothing to store pass `|_, _| {}`.
pub fn guarded_apply<T, E: StepError, B: pending::PreviousState>(
    place: Place<'_>,
    wait: Duration,
    revert: &dyn Revert,
    confirm: Option<&ConfirmOptions>,
    capture: impl FnOnce() -> Result<B, E>,
    apply: impl FnOnce() -> Result<T, E>,
    pending_hook: impl FnOnce(&Pending, &T),
) -> Result<AppliedChange<T>, FlowError<E>> {
    let Place { state_dir, slot } = place;
    let lock = StateLock::acquire(state_dir, wait)?;
    let recovery = pending::recover(&lock, slot, revert)?;
    if let Recovery::Pending(r) = recovery {
        return Err(Error::already_pending(&r, slot).into());
    }
    let recovered = Recovered::from_recovery(recovery);
    let Some(opts) = confirm else {
        let value = apply().map_err(FlowError::Step)?;
        return Ok(AppliedChange {
            value,
            recovered,
            pending: None,
        });
    };
    let blob = capture().map_err(FlowError::Step)?;
    // From the record to the watcher, a hang-up or interrupt would leave a change
    // without its watcher: such signals wait until the watcher runs (or the change
    // is reverted), then take effect with the change safely pending.
    let _deferred = super::signals::Deferred::new();
    let record = pending::begin(&lock, slot, &opts.policy, opts.timeout, &blob)?;
    // On disk now: a large table's copy is not held beside the batch being built.
    drop(blob);
    let value = match apply() {
        Ok(v) => v,
        Err(e) => return Err(step_failed(&lock, &record, revert, opts, e)),
    };
    pending_hook(&record, &value);
    let spawned = start_watcher(&lock, &record, opts);
    match spawned {
        Ok(spawned) => {
            let record = pending::read_id(state_dir, &record.id)?.unwrap_or(record);
            Ok(AppliedChange {
                value,
                recovered,
                pending: Some((record, spawned)),
            })
        }
        Err(spawn) => {
            pending::revert_record(&lock, &record, revert, RevertReason::WatcherNotStarted)?;
            Err(FlowError::NoWatcher { spawn })
        }
    }
}

fn start_watcher(
    lock: &StateLock,
    record: &Pending,
    opts: &ConfirmOptions,
) -> Result<Spawned, Error> {
    (opts.command)(lock.state_dir(), &record.id).and_then(|mut cmd| {
        cmd.args.extend(opts.watcher_args.iter().cloned());
        watcher::spawn(lock, record, &cmd, opts.method)
    })
}

/// The apply step failed. Unless the error proves nothing was committed, it may have
/// failed *after* the kernel committed the new ruleset (a sysctl step whose rollback
/// failed, a generation read after the commit), so the captured previous state is
/// restored at once; that is safe even when nothing
/// was committed. Only a successful revert lets the record go; otherwise it stays, due
/// now, and a watcher retries.
fn step_failed<E: StepError>(
    lock: &StateLock,
    record: &Pending,
    revert: &dyn Revert,
    opts: &ConfirmOptions,
    step: E,
) -> FlowError<E> {
    if step.nothing_committed() {
        return match pending::abandon(lock, &record.id) {
            Ok(_) => FlowError::Step(step),
            Err(e) => FlowError::Safe(e),
        };
    }
    let revert = match pending::revert_record(lock, record, revert, RevertReason::ApplyFailed) {
        Ok(_) => return FlowError::Step(step),
        Err(e) => e,
    };
    if let Err(e) = pending::set_last_error(lock, &record.id, &revert.to_string())
        .and_then(|_| pending::expire_now(lock, &record.id))
    {
        return FlowError::Safe(e);
    }
    let watcher = start_watcher(lock, record, opts);
    FlowError::StepNotReverted {
        step,
        revert,
        watcher,
    }
}

/// `hostwall status` (and any read-only command): reverts a stale pending change when
/// the lock is free, then reports. With the lock busy (an apply or the watcher's own
/// revert is running) it only reports.
pub fn status_recovering(
    state_dir: &Path,
    slot: &Slot,
    revert: &dyn Revert,
) -> Result<(Option<Recovered>, Status), Error> {
    if !super::trust::dir_exists(state_dir)? {
        return Ok((None, Status::Nothing));
    }
    super::trust::check_dir(state_dir)?;
    let recovered = match StateLock::acquire(state_dir, Duration::ZERO) {
        Ok(lock) => Recovered::from_recovery(pending::recover(&lock, slot, revert)?),
        Err(Error::Busy { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok((recovered, pending::status(state_dir, slot)?))
}

/// `hostwall revert` (or answering "no" at the confirm prompt): restores the previous
/// state of the pending change of `slot` now, under the lock. `None` when nothing is
/// pending there.
pub fn revert_pending(
    state_dir: &Path,
    slot: &Slot,
    wait: Duration,
    revert: &dyn Revert,
) -> Result<Option<(Pending, pending::Reverted)>, Error> {
    let lock = StateLock::acquire(state_dir, wait)?;
    pending::revert_now(&lock, slot, revert, None, RevertReason::Requested)
}

/// "n" at the confirm prompt: reverts change `id` now, if it is still the pending one.
pub fn refuse_pending(
    state_dir: &Path,
    wait: Duration,
    revert: &dyn Revert,
    id: &str,
) -> Result<Option<(Pending, pending::Reverted)>, Error> {
    let slot = Slot::of_id(id)?;
    let lock = StateLock::acquire(state_dir, wait)?;
    pending::revert_now(&lock, &slot, revert, Some(id), RevertReason::AnsweredNo)
}

/// The confirm prompt reached the deadline of change `id` unanswered: reverts it if
/// it is still pending and due (as its watcher would), then returns how it ended.
/// `None`: it is still pending (not due yet by the second-rounded deadline).
pub fn settle_pending(
    state_dir: &Path,
    wait: Duration,
    revert: &dyn Revert,
    id: &str,
) -> Result<Option<Outcome>, Error> {
    let slot = Slot::of_id(id)?;
    let lock = StateLock::acquire(state_dir, wait)?;
    if let Some(record) = pending::read(state_dir, &slot)?.filter(|r| r.id == id) {
        if !record.due() && record.reverting.is_none() {
            return Ok(None);
        }
        pending::revert_record(&lock, &record, revert, RevertReason::DeadlinePassed)?;
    }
    outcome::of(state_dir, id)
}
