//! The safe-apply sequence in one place, so the CLI only supplies the kernel work:
//! lock -> revert stale changes / refuse when one is pending -> (record the previous
//! state) -> apply -> (start the watcher) -> unlock.
//!
//! The order matters: the pending record is written *before* the new ruleset goes in,
//! so a crash anywhere after that point leaves a record the next invocation reverts;
//! a watcher that cannot be started means the change is reverted at once, because an
//! unconfirmed change without a safety net is exactly what this module exists to prevent.

use super::lock::StateLock;
use super::pending::{self, Pending, Recovery, Status};
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
}

impl ConfirmOptions {
    /// The usual options: the watcher is this binary, started the `Auto` way.
    pub fn new(policy: impl Into<String>, timeout: Duration) -> ConfirmOptions {
        ConfirmOptions {
            policy: policy.into(),
            timeout,
            method: SpawnMethod::Auto,
            command: WatcherCommand::hostwall,
        }
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
}

/// What a guarded apply did.
#[derive(Debug)]
pub struct Applied<T> {
    /// The caller's apply result.
    pub value: T,
    /// A stale pending change that was reverted first (report it to the admin).
    pub recovered: Option<(Pending, pending::StaleReason)>,
    /// Set with `--confirm`: the change now waits for `hostwall confirm`.
    pub pending: Option<(Pending, Spawned)>,
}

/// Runs `apply` under the lock with all the safe-apply rules. With `confirm`,
/// `capture` first returns the previous-state blob that `revert` can restore.
pub fn guarded_apply<T, E: std::error::Error + 'static>(
    state_dir: &Path,
    wait: Duration,
    revert: &dyn Revert,
    confirm: Option<&ConfirmOptions>,
    capture: impl FnOnce() -> Result<Vec<u8>, E>,
    apply: impl FnOnce() -> Result<T, E>,
) -> Result<Applied<T>, FlowError<E>> {
    let lock = StateLock::acquire(state_dir, wait)?;
    let recovered = match pending::recover(&lock, revert)? {
        Recovery::Nothing => None,
        Recovery::Reverted { record, reason } => Some((record, reason)),
        Recovery::Pending(r) => {
            return Err(Error::AlreadyPending {
                remaining: r.remaining(super::unix_now()),
                id: r.id,
                policy: r.policy,
            }
            .into());
        }
    };
    let Some(opts) = confirm else {
        let value = apply().map_err(FlowError::Step)?;
        return Ok(Applied {
            value,
            recovered,
            pending: None,
        });
    };
    let blob = capture().map_err(FlowError::Step)?;
    let record = pending::begin(&lock, &opts.policy, opts.timeout, &blob)?;
    let value = match apply() {
        Ok(v) => v,
        Err(e) => {
            // apply rolled itself back: the record describes nothing any more.
            pending::abandon(&lock, &record.id)?;
            return Err(FlowError::Step(e));
        }
    };
    let spawned = (opts.command)(state_dir, &record.id)
        .and_then(|cmd| watcher::spawn(&lock, &record, &cmd, opts.method));
    match spawned {
        Ok(spawned) => {
            let record = pending::read(state_dir)?.unwrap_or(record);
            Ok(Applied {
                value,
                recovered,
                pending: Some((record, spawned)),
            })
        }
        Err(spawn) => {
            pending::revert_record(&lock, &record, revert)?;
            Err(FlowError::NoWatcher { spawn })
        }
    }
}

/// `hostwall status` (and any read-only command): reverts a stale pending change when
/// the lock is free, then reports. With the lock busy (an apply or the watcher's own
/// revert is running) it only reports.
pub fn status_recovering(
    state_dir: &Path,
    revert: &dyn Revert,
) -> Result<(Option<(Pending, pending::StaleReason)>, Status), Error> {
    if !state_dir.exists() {
        return Ok((None, Status::Nothing));
    }
    let recovered = match StateLock::acquire(state_dir, Duration::ZERO) {
        Ok(lock) => match pending::recover(&lock, revert)? {
            Recovery::Reverted { record, reason } => Some((record, reason)),
            Recovery::Nothing | Recovery::Pending(_) => None,
        },
        Err(Error::Busy { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok((recovered, pending::status(state_dir)?))
}

/// `hostwall revert` (or answering "no" at the confirm prompt): restores the previous
/// state of the pending change now, under the lock. `None` when nothing is pending.
pub fn revert_pending(
    state_dir: &Path,
    wait: Duration,
    revert: &dyn Revert,
) -> Result<Option<Pending>, Error> {
    let lock = StateLock::acquire(state_dir, wait)?;
    pending::revert_now(&lock, revert)
}
