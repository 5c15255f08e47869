//! `--persist` with `--confirm`: the drop-in must only change once the change is kept
//! (a reverted change must not come back at boot). The rendered drop-in waits in the
//! state dir (`persist-KEY.json`, one per namespace's pending change) under the change
//! id until `confirm` installs it.

use super::Out;
use hostwall::ir::Ruleset;
use hostwall::safe::pending::Pending;
use hostwall::safe::{Slot, atomic_write, persist, remove_durably, trust};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const PREFIX: &str = "persist";
/// A drop-in is a few lines; the saved form is far below this.
const LIMIT: u64 = 1 << 20;

#[derive(Serialize, Deserialize)]
struct Deferred {
    id: String,
    path: PathBuf,
    /// `None`: the policy sets no forwarding, so the drop-in is removed.
    text: Option<String>,
}

pub fn save(out: &Out, dir: &Path, r: &Pending, rs: &Ruleset, policy: &str, path: &Path) {
    let d = Deferred {
        id: r.id.clone(),
        path: path.to_path_buf(),
        text: persist::render(&rs.sysctls, policy),
    };
    let saved = serde_json::to_vec(&d)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            let slot = r.slot().map_err(|e| e.to_string())?;
            atomic_write(&slot.file(dir, PREFIX), &b, 0o600).map_err(|e| e.to_string())
        });
    if let Err(e) = saved {
        super::json::error(
            out,
            &format!(
                "cannot keep --persist for the confirm ({e}); run `hostwall apply --persist` after confirming"
            ),
        );
    }
}

/// Installs the drop-in of change `r` (after a confirm kept it).
pub fn install(out: &Out, dir: &Path, r: &Pending) -> u8 {
    // The saved drop-in names a path root writes to: only a trusted file is used.
    let Ok(slot) = r.slot() else {
        return 0;
    };
    let bytes = match trust::read_file(&slot.file(dir, PREFIX), LIMIT) {
        Ok(b) => b,
        Err(e) => {
            discard(dir, &slot);
            super::json::error(out, &format!("the change is kept, but not persisted: {e}"));
            return super::EXIT_SYSTEM;
        }
    };
    let Some(d) = bytes.and_then(|b| serde_json::from_slice::<Deferred>(&b).ok()) else {
        return 0;
    };
    discard(dir, &slot);
    if d.id != r.id {
        return 0;
    }
    let done = match &d.text {
        Some(text) => atomic_write(&d.path, text.as_bytes(), 0o644).map(|_| "wrote"),
        None => remove_durably(&d.path).map(|_| "removed"),
    };
    match done {
        Ok(what) => {
            out.stderr(&format!("hostwall: persist: {what} {}\n", d.path.display()));
            0
        }
        Err(e) => {
            super::json::error(out, &format!("the change is kept, but not persisted: {e}"));
            super::EXIT_SYSTEM
        }
    }
}

pub fn discard(dir: &Path, slot: &Slot) {
    // Best effort: a leftover is ignored by its stale id anyway.
    let _ = remove_durably(&slot.file(dir, PREFIX));
}
