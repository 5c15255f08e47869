//! How pending changes ended (kept, reverted and why, dropped), kept after the pending
//! record is gone so that a late `confirm` and `status` can say what happened, plus the
//! events a change's end reports to the apply owner (who sends them to the system log).
//!
//! One file per state dir, `outcomes.json`, holding the last [`KEEP`] outcomes, newest
//! last, one per change id. It is written under the state lock, *before* the pending
//! record is removed, so at every instant either the record or an outcome describes
//! the change. Losing it (tmpfs, reboot) only loses history: nothing is pending after a
//! reboot anyway.

use super::{Error, atomic_write};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FILE: &str = "outcomes.json";

/// How many outcomes are kept (the oldest go first). Bounds the file to a few KiB.
pub const KEEP: usize = 16;

/// Longest stored note or error text, in bytes; longer ones are cut at a char boundary.
const TEXT_MAX: usize = 1024;
/// The most `outcomes.json` can hold: [`KEEP`] outcomes of bounded texts, with room.
const MAX_BYTES: u64 = 256 * 1024;

/// Why a pending change was reverted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevertReason {
    /// The deadline passed and the change was never confirmed.
    DeadlinePassed,
    /// The watcher died (SIGKILL, OOM, pid reused): nothing would revert it on time.
    WatcherGone,
    /// The applying process died before it started a watcher.
    NoWatcher,
    /// `hostwall confirm` came after the deadline.
    ConfirmTooLate,
    /// `hostwall revert`.
    Requested,
    /// "n" at the confirm prompt.
    AnsweredNo,
    /// The apply step failed after the kernel may have committed the change.
    ApplyFailed,
    /// The revert watcher could not be started.
    WatcherNotStarted,
}

impl RevertReason {
    /// The reason as a short phrase ("its confirm deadline passed").
    pub fn text(self) -> &'static str {
        match self {
            RevertReason::DeadlinePassed => "its confirm deadline passed without a confirm",
            RevertReason::WatcherGone => "its revert watcher was gone",
            RevertReason::NoWatcher => "the apply that made it died before starting a watcher",
            RevertReason::ConfirmTooLate => "the confirm came after the deadline",
            RevertReason::Requested => "`hostwall revert` was run",
            RevertReason::AnsweredNo => "the confirm prompt was answered no",
            RevertReason::ApplyFailed => "the apply failed part-way",
            RevertReason::WatcherNotStarted => "its revert watcher could not be started",
        }
    }

    /// The reason as a stable token for the system log (`deadline-passed`).
    pub fn token(self) -> &'static str {
        match self {
            RevertReason::DeadlinePassed => "deadline-passed",
            RevertReason::WatcherGone => "watcher-gone",
            RevertReason::NoWatcher => "no-watcher",
            RevertReason::ConfirmTooLate => "confirm-too-late",
            RevertReason::Requested => "requested",
            RevertReason::AnsweredNo => "answered-no",
            RevertReason::ApplyFailed => "apply-failed",
            RevertReason::WatcherNotStarted => "watcher-not-started",
        }
    }

    /// Whether hostwall reverted on its own (not asked to by the admin).
    pub fn automatic(self) -> bool {
        !matches!(self, RevertReason::Requested | RevertReason::AnsweredNo)
    }
}

/// How a change ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "end")]
pub enum End {
    /// Confirmed: the change stays.
    Confirmed,
    /// The previous state was restored.
    Reverted { reason: RevertReason },
    /// Nothing was left to revert (its namespace is gone); the note says why.
    Dropped { reason: RevertReason, note: String },
}

/// One ended change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub policy: String,
    /// The network namespace of the change, as the apply owner describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// Unix seconds when it ended.
    pub at: u64,
    #[serde(flatten)]
    pub end: End,
}

impl Outcome {
    /// Whether the change is no longer in force (reverted or dropped).
    pub fn undone(&self) -> bool {
        !matches!(self.end, End::Confirmed)
    }
}

/// What the end of a change (or a failed attempt to end it) reports to the apply
/// owner through [`super::Revert::report`]; the CLI sends it to the system log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The change ended (see [`Outcome::end`]).
    Ended(Outcome),
    /// A revert attempt failed; the record stays and the attempt is retried.
    RevertFailed {
        id: String,
        policy: String,
        netns: Option<String>,
        reason: RevertReason,
        error: String,
    },
}

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    outcomes: Vec<Outcome>,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Every kept outcome, oldest first. A missing file is an empty history; a damaged one
/// is an error (the caller decides whether that matters).
pub fn all(state_dir: &Path) -> Result<Vec<Outcome>, Error> {
    let p = path(state_dir);
    // Through the trust rule: never a link, never a file another user could write.
    let Some(bytes) = super::trust::read_file(&p, MAX_BYTES)? else {
        return Ok(Vec::new());
    };
    serde_json::from_slice::<Stored>(&bytes)
        .map(|s| s.outcomes)
        .map_err(|e| Error::Corrupt {
            path: p,
            reason: e.to_string(),
        })
}

/// The newest outcome, if any.
pub fn last(state_dir: &Path) -> Result<Option<Outcome>, Error> {
    Ok(all(state_dir)?.pop())
}

/// The newest outcome of a change made in `slot`'s namespace (change ids end with the
/// slot's key).
pub fn last_in(state_dir: &Path, slot: &super::slot::Slot) -> Result<Option<Outcome>, Error> {
    Ok(all(state_dir)?
        .into_iter()
        .rev()
        .find(|o| super::slot::Slot::of_id(&o.id).is_ok_and(|s| s.key() == slot.key())))
}

/// The outcome of change `id`, if it is still kept.
pub fn of(state_dir: &Path, id: &str) -> Result<Option<Outcome>, Error> {
    Ok(all(state_dir)?.into_iter().rev().find(|o| o.id == id))
}

/// Adds `outcome` as the newest, replacing an earlier one of the same id (a revert
/// finished after an interrupted one) and dropping the oldest beyond [`KEEP`]. Call
/// under the state lock. A damaged file is replaced: history is advisory.
pub fn store(state_dir: &Path, mut outcome: Outcome) -> Result<(), Error> {
    if let End::Dropped { note, .. } = &mut outcome.end {
        cut(note);
    }
    let mut outcomes = all(state_dir).unwrap_or_default();
    outcomes.retain(|o| o.id != outcome.id);
    outcomes.push(outcome);
    let excess = outcomes.len().saturating_sub(KEEP);
    outcomes.drain(..excess);
    let bytes = serde_json::to_vec_pretty(&Stored { outcomes }).map_err(|e| Error::Corrupt {
        path: path(state_dir),
        reason: e.to_string(),
    })?;
    atomic_write(&path(state_dir), &bytes, 0o600)
}

/// Cuts `text` to at most [`TEXT_MAX`] bytes at a char boundary.
pub fn cut(text: &mut String) {
    if text.len() > TEXT_MAX {
        let mut end = TEXT_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reverted(id: &str, at: u64) -> Outcome {
        Outcome {
            id: id.into(),
            policy: "p".into(),
            netns: Some("lab".into()),
            at,
            end: End::Reverted {
                reason: RevertReason::DeadlinePassed,
            },
        }
    }

    #[test]
    fn keeps_the_newest_bounded_and_one_per_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..(KEEP as u64 + 5) {
            store(dir.path(), reverted(&format!("c{i}"), i)).expect("store");
        }
        let all = all(dir.path()).expect("all");
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].id, "c5");
        let confirmed = Outcome {
            end: End::Confirmed,
            ..reverted("c7", 99)
        };
        store(dir.path(), confirmed.clone()).expect("store");
        assert_eq!(last(dir.path()).expect("last"), Some(confirmed.clone()));
        assert_eq!(of(dir.path(), "c7").expect("of"), Some(confirmed));
        assert_eq!(super::all(dir.path()).expect("all").len(), KEEP);
        assert_eq!(of(dir.path(), "c0").expect("of"), None);
    }

    #[test]
    fn a_damaged_history_is_reported_and_then_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), b"{not json").expect("write");
        let err = last(dir.path()).expect_err("damaged");
        assert!(err.to_string().contains("outcomes.json"), "{err}");
        store(dir.path(), reverted("a", 1)).expect("store over it");
        assert_eq!(
            last(dir.path()).expect("last").map(|o| o.id),
            Some("a".into())
        );
    }

    #[test]
    fn long_notes_are_cut_at_a_char_boundary() {
        let mut s = "é".repeat(TEXT_MAX);
        cut(&mut s);
        assert!(s.len() <= TEXT_MAX + 3 && s.ends_with("..."), "{}", s.len());
    }
}
