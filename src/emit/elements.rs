//! A set's elements as nft sends them in a batch: interval sets as start and
//! interval-end elements, other sets expanded to single values, each checked against
//! the set's key first.

use crate::ir::{Interval, Packed, Set};
use crate::nft::wire::Elem;

/// Largest non-interval range expanded into single elements.
const MAX_EXPANDED: u128 = 65_536;

/// Elements as nft sends them. Interval sets: each range is a start element and
/// an interval-end element at `hi + 1` (none when `hi` is the key's maximum),
/// and a set not starting at 0 opens with an interval-end element at 0.
pub fn set_elements(set: &Set) -> Result<Vec<Elem>, String> {
    check_elements(set, &set.elements)?;
    let mut out = Vec::with_capacity(set.elements.len() * 2 + 1);
    each_element(set, &set.elements, |e| {
        out.push(e);
        Ok::<(), String>(())
    })?;
    Ok(out)
}

/// Whether `elements` fit `set`'s key and flags.
pub(super) fn check_elements(set: &Set, elements: &Packed) -> Result<(), String> {
    let max = set.key.max();
    if let Some(bad) = elements.iter().find(|e| e.hi > max || e.lo > e.hi) {
        return Err(format!(
            "element {}-{} does not fit key {}",
            bad.lo,
            bad.hi,
            set.key.name()
        ));
    }
    if !set.interval && elements.iter().any(|e| e.hi - e.lo >= MAX_EXPANDED) {
        return Err("range too large for a set without `flags interval`".into());
    }
    Ok(())
}

/// Calls `f` with each element of `elements` (of `set`, accepted by `check_elements`),
/// in order. Plain loops rather than an iterator chain: this runs two million times for
/// 1M prefixes, straight into the batch.
pub(super) fn each_element<E>(
    set: &Set,
    elements: &Packed,
    mut f: impl FnMut(Elem) -> Result<(), E>,
) -> Result<(), E> {
    let len = set.key.len();
    let max = set.key.max();
    if !set.interval {
        for e in elements.iter() {
            for v in e.lo..=e.hi {
                f(Elem::new(v, len, false))?;
            }
        }
        return Ok(());
    }
    if elements.first().is_some_and(|e| e.lo != 0) {
        f(Elem::new(0, len, true))?;
    }
    for Interval { lo, hi } in elements.iter() {
        f(Elem::new(lo, len, false))?;
        if hi < max {
            f(Elem::new(hi + 1, len, true))?;
        }
    }
    Ok(())
}
