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
    // Values held narrow fit any key of 32 bits or more: only their order is checked.
    if let (Packed::Narrow(v), true) = (elements, set.interval && max >= u128::from(u32::MAX)) {
        return match v.iter().find(|&&e| (e >> 32) > (e & 0xffff_ffff)) {
            Some(&e) => Err(format!(
                "element {}-{} does not fit key {}",
                e >> 32,
                e & 0xffff_ffff,
                set.key.name()
            )),
            None => Ok(()),
        };
    }
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

/// [`each_element`] for an IPv4 interval set held narrow (the bulk of a large list's
/// batch), calling `f` with each element's 4-byte key and whether it ends an interval;
/// `None` for any other set.
pub(super) fn each_v4_element<E>(
    set: &Set,
    elements: &Packed,
    mut f: impl FnMut(u32, bool) -> Result<(), E>,
) -> Option<Result<(), E>> {
    let Packed::Narrow(v) = elements else {
        return None;
    };
    if !set.interval || set.key.len() != 4 {
        return None;
    }
    let mut all = || {
        if v.first().is_some_and(|&e| e >> 32 != 0) {
            f(0, true)?;
        }
        for &e in v {
            let (lo, hi) = ((e >> 32) as u32, e as u32);
            f(lo, false)?;
            if let Some(next) = hi.checked_add(1) {
                f(next, true)?;
            }
        }
        Ok(())
    };
    Some(all())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::SetKey;

    proptest::proptest! {
        /// The IPv4 fast path yields exactly the elements the general one does, an
        /// interval at 0 or ending at the last address included.
        #[test]
        fn the_v4_path_yields_the_general_elements(
            v in proptest::collection::vec((0u32..64, 0u32..4), 0..12),
            edges in proptest::bool::ANY,
        ) {
            let mut ivs: Vec<Interval> = v.iter()
                .map(|&(lo, n)| Interval { lo: u128::from(lo) * 8, hi: u128::from(lo) * 8 + u128::from(n) })
                .collect();
            if edges {
                ivs.push(Interval { lo: 0, hi: 2 });
                ivs.push(Interval { lo: u128::from(u32::MAX) - 3, hi: u128::from(u32::MAX) });
            }
            let mut elements = Packed::from(ivs);
            elements.normalize();
            let set = Set {
                name: "s".into(),
                key: SetKey::Ipv4Addr,
                interval: true,
                elements,
                comment: None,
                timeout_ms: None,
                origin: vec![],
            };
            proptest::prop_assert!(check_elements(&set, &set.elements).is_ok());
            let mut fast = Vec::new();
            let done = each_v4_element(&set, &set.elements, |k, end| {
                fast.push(Elem::new(k.into(), 4, end));
                Ok::<(), ()>(())
            });
            proptest::prop_assert_eq!(done, Some(Ok(())));
            let mut general = Vec::new();
            let all = each_element(&set, &set.elements, |e| {
                general.push(e);
                Ok::<(), ()>(())
            });
            proptest::prop_assert_eq!(all, Ok(()));
            proptest::prop_assert_eq!(fast, general);
        }
    }
}
