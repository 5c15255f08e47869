//! A per-thread count of the steps the size-sensitive loops take (line lookups, edit-distance
//! cells, rule comparisons, name probes), so tests can prove costs grow linearly by counting
//! instead of timing: doubling an input must not much more than double the count.

use std::cell::Cell;

thread_local! {
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// Records `n` steps of work on this thread.
pub fn add(n: u64) {
    STEPS.with(|s| s.set(s.get().saturating_add(n)));
}

/// The steps recorded on this thread since the last call, and resets the count.
pub fn take() -> u64 {
    STEPS.with(|s| s.replace(0))
}
