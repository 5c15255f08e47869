//! The hook that keeps the last known good ([`hostwall::lkg`]): after an apply to the
//! host's own network namespace, or, under `--confirm`, once `confirm` keeps the
//! change. A failure to keep it is a warning: the apply itself succeeded.

use super::ApplyArgs;
use crate::cli::load::Loaded;
use crate::cli::output::Out;
use hostwall::ir::Ruleset;
use hostwall::lkg::{self, EntryRef, Stored};
use hostwall::safe::Slot;
use hostwall::safe::pending::Pending;
use std::path::{Path, PathBuf};

/// Where this apply's last known good goes: `--lkg-dir` when given, else the default
/// directory for an apply to PID 1's network namespace, else nowhere (an apply to a
/// guest or test namespace is not what the host boots with).
fn target(out: &Out, a: &ApplyArgs) -> Option<PathBuf> {
    if let Some(d) = &a.lkg_dir {
        return Some(d.clone());
    }
    if a.netns.is_some() {
        return None;
    }
    match hostwall::nsid::shares_init_netns() {
        Ok(true) => Some(lkg::DEFAULT_DIR.into()),
        Ok(false) => None,
        Err(e) => {
            out.stderr(&format!(
                "hostwall: note: not kept as the last known good: {e}, so this may not be the host's network namespace (--lkg-dir {} says it is)\n",
                lkg::DEFAULT_DIR
            ));
            None
        }
    }
}

/// After an apply without `--confirm`.
pub fn store(out: &Out, a: &ApplyArgs, loaded: &Loaded, rs: &Ruleset, generation: u32) {
    let Some(dir) = target(out, a) else {
        return;
    };
    // Any text shed for the apply is read back (an error when its file changed since it
    // was checked); the entry borrows the texts.
    let map = match loaded.restored_map() {
        Ok(map) => map,
        Err(why) => return warn(out, &why),
    };
    let entry = EntryRef::from_map(&map, a.input.site.is_some(), rs, generation);
    match lkg::store(&dir, &entry) {
        Ok(done) => stored_note(out, &lkg::path(&dir), done),
        Err(e) => warn(out, &e),
    }
}

/// Under `--confirm`: the entry waits in the state dir for `confirm`.
pub fn stage(
    out: &Out,
    a: &ApplyArgs,
    record: &Pending,
    loaded: &Loaded,
    rs: &Ruleset,
    generation: u32,
) {
    let Some(dir) = target(out, a) else {
        return;
    };
    // Any text shed for the apply is read back (an error when its file changed since it
    // was checked); the entry borrows the texts.
    let map = match loaded.restored_map() {
        Ok(map) => map,
        Err(why) => return warn(out, &why),
    };
    let entry = EntryRef::from_map(&map, a.input.site.is_some(), rs, generation);
    let staged = record
        .slot()
        .map_err(lkg::LkgError::from)
        .and_then(|slot| lkg::stage(&a.state.state_dir, &slot, &record.id, &dir, &entry));
    if let Err(e) = staged {
        warn(out, &e);
    }
}

/// After `confirm` kept change `id`.
pub fn promote(out: &Out, state_dir: &Path, slot: &Slot, id: &str) {
    match lkg::promote(state_dir, slot, id) {
        Ok(Some((path, done))) => stored_note(out, &path, done),
        Ok(None) => {}
        Err(e) => warn(out, &e),
    }
}

fn stored_note(out: &Out, path: &Path, done: Stored) {
    if done == Stored::Written {
        out.stderr(&format!(
            "hostwall: stored as the last known good in {}\n",
            path.display()
        ));
    }
}

fn warn(out: &Out, e: &dyn std::fmt::Display) {
    out.stderr(&format!(
        "hostwall: warning: the change is applied, but not kept as the last known good: {e}\n"
    ));
}
