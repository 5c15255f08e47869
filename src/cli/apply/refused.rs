//! An apply's own error: a kernel refusal shown at the policy line that produced the
//! refused message (its excerpt read back when the text was shed), anything else as one
//! line.

use super::{ApplyError, Loaded, Out, json};
use crate::cli::EXIT_SYSTEM;
use hostwall::diag::Diagnostic;

/// A kernel refusal points at the policy line that produced the message, like a
/// checker error; everything else is one line.
pub(crate) fn apply_error(out: &Out, loaded: &Loaded, e: &ApplyError) -> u8 {
    match e.origin().first() {
        Some(span) if (span.file.0 as usize) < loaded.map.files().count() => {
            let d = Diagnostic::error("", *span, e.to_string())
                .with_label("this policy line produced the refused message")
                .with_help("nothing was changed: the batch is all or nothing");
            // A shed text is read again for the excerpt; without it, the location alone.
            let map = loaded.restored_map();
            match &map {
                Ok(map) => out.stderr(&hostwall::diag::render(
                    map,
                    std::slice::from_ref(&d),
                    out.color(),
                )),
                Err(why) => out.stderr(&format!(
                    "hostwall: error: {}: {e}\n  (no excerpt: {why})\n",
                    loaded.map.location(*span)
                )),
            }
            json::refused_at(map.as_deref().unwrap_or(&loaded.map), &d);
        }
        _ => json::error(out, &e.to_string()),
    }
    EXIT_SYSTEM
}
