//! Printing the other firewall services that can wipe or override hostwall's table.

use super::output::Out;
use std::path::Path;

/// One warning line per rival service found under `root`.
pub fn warn(out: &Out, root: &Path) {
    for rival in hostwall::coexist::find(root) {
        out.stderr(&format!("hostwall: warning: {rival}\n"));
    }
}
