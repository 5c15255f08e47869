//! A set's intervals held compactly: 8 bytes an interval for keys of at most 4 bytes
//! (IPv4 addresses, ports, ICMP types) instead of the IR's 32. What keeps a set's
//! elements beside the IR uses it: the live table an in-place apply plans against (the
//! table record, a dump) and the elements the lean batch builder takes out of the IR.

use super::{Interval, SetKey};

/// Sorted intervals of one key.
#[derive(Clone, Debug)]
pub enum Packed {
    /// `lo << 32 | hi`, for keys of at most 4 bytes.
    Narrow(Vec<u64>),
    /// Wider keys (IPv6) as intervals: packing would save little.
    Wide(Vec<Interval>),
}

impl Default for Packed {
    fn default() -> Packed {
        Packed::Narrow(Vec::new())
    }
}

/// Equal when they hold the same intervals, however each is held.
impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        match (self, other) {
            (Packed::Narrow(a), Packed::Narrow(b)) => a == b,
            (Packed::Wide(a), Packed::Wide(b)) => a == b,
            _ => self.len() == other.len() && self.iter().eq(other.iter()),
        }
    }
}

impl Eq for Packed {}

impl Packed {
    /// `elements` of a set keyed by `key`, packed when the key allows.
    pub fn of(key: SetKey, elements: Vec<Interval>) -> Packed {
        match key.len() > 4 {
            true => Packed::Wide(elements),
            false => Packed::from_slice(key, &elements),
        }
    }

    /// [`Packed::of`] a copy of `elements`.
    pub fn from_slice(key: SetKey, elements: &[Interval]) -> Packed {
        match key.len() > 4 {
            true => Packed::Wide(elements.to_vec()),
            // Values of a key of at most 4 bytes fit 32 bits.
            false => Packed::Narrow(elements.iter().map(|iv| narrow(*iv)).collect()),
        }
    }

    /// The intervals of big-endian `lo`, `hi` pairs of `width` bytes each (the table
    /// record's layout); `None` when `bytes` is no whole number of pairs.
    pub fn from_be(width: usize, bytes: &[u8]) -> Option<Packed> {
        let pair = 2 * width;
        if width == 0 || width > 16 || bytes.len() % pair != 0 {
            return None;
        }
        let value = |b: &[u8]| b.iter().fold(0u128, |a, x| (a << 8) | u128::from(*x));
        Some(match width {
            // `lo` then `hi`, big-endian: the bytes are `lo << 32 | hi` as one u64.
            4 => Packed::Narrow(
                (bytes.chunks_exact(8))
                    .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
                    .collect(),
            ),
            w if w < 4 => Packed::Narrow(
                (bytes.chunks_exact(pair))
                    .map(|c| (value(&c[..w]) as u64) << 32 | value(&c[w..]) as u64)
                    .collect(),
            ),
            w => Packed::Wide(
                (bytes.chunks_exact(pair))
                    .map(|c| Interval {
                        lo: value(&c[..w]),
                        hi: value(&c[w..]),
                    })
                    .collect(),
            ),
        })
    }

    /// Appends every interval as big-endian `lo`, `hi` of `width` bytes each (the
    /// inverse of [`Packed::from_be`]).
    pub fn write_be(&self, width: usize, out: &mut Vec<u8>) {
        match self {
            Packed::Narrow(v) if width == 4 => {
                out.reserve(v.len() * 8);
                v.iter()
                    .for_each(|x| out.extend_from_slice(&x.to_be_bytes()));
            }
            _ => write_be(self.iter(), width, out),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Packed::Narrow(v) => v.len(),
            Packed::Wide(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th interval. Panics past the end, as indexing does.
    pub fn get(&self, i: usize) -> Interval {
        match self {
            Packed::Narrow(v) => wide(v[i]),
            Packed::Wide(v) => v[i],
        }
    }

    /// The intervals, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Interval> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Whether `iv` is one of the intervals (they are sorted: a binary search).
    pub fn contains(&self, iv: &Interval) -> bool {
        match self {
            Packed::Narrow(v) => {
                iv.lo.max(iv.hi) <= u32::MAX as u128 && v.binary_search(&narrow(*iv)).is_ok()
            }
            Packed::Wide(v) => v.binary_search(iv).is_ok(),
        }
    }

    /// The intervals of `self` not in `new`, and of `new` not in `self` (both sorted, of
    /// this key): one merge pass, over the packed values themselves.
    pub fn difference(&self, new: &[Interval]) -> (Vec<Interval>, Vec<Interval>) {
        match self {
            Packed::Narrow(v) => merge(v, new, |iv| {
                // A value a narrow key cannot hold is in no narrow set.
                (iv.lo.max(iv.hi) <= u32::MAX as u128).then(|| narrow(iv))
            }),
            Packed::Wide(v) => merge(v, new, Some),
        }
    }

    /// `self` without `removed` and with `added` (both sorted), as [`Packed::difference`]
    /// gave them: `None` unless each removed interval is held and no added one is, so a
    /// patch applies only to the very elements it was made from.
    pub fn patched(&self, removed: &Packed, added: &Packed) -> Option<Packed> {
        match (self, removed, added) {
            (Packed::Narrow(v), Packed::Narrow(r), Packed::Narrow(a)) => {
                patch(v, r, a).map(Packed::Narrow)
            }
            (Packed::Wide(v), Packed::Wide(r), Packed::Wide(a)) => patch(v, r, a).map(Packed::Wide),
            // Packed for another key width: only an empty patch applies.
            _ => (removed.is_empty() && added.is_empty()).then(|| self.clone()),
        }
    }

    /// The intervals again, in order.
    pub fn unpack(self) -> Vec<Interval> {
        match self {
            Packed::Wide(v) => v,
            Packed::Narrow(v) => v.into_iter().map(wide).collect(),
        }
    }

    /// A copy of the intervals, in order.
    pub fn to_vec(&self) -> Vec<Interval> {
        self.iter().collect()
    }
}

/// Values that stand for intervals, ordered as the intervals are.
trait Value: Copy + Ord {
    fn interval(self) -> Interval;
}

impl Value for u64 {
    fn interval(self) -> Interval {
        wide(self)
    }
}

impl Value for Interval {
    fn interval(self) -> Interval {
        self
    }
}

/// [`Packed::difference`] of `live` and `new`, `value` packing a new interval (`None`:
/// one `live` cannot hold, so added). The common prefix is skipped first.
fn merge<V: Value>(
    live: &[V],
    new: &[Interval],
    value: impl Fn(Interval) -> Option<V>,
) -> (Vec<Interval>, Vec<Interval>) {
    let same = (live.iter().zip(new))
        .take_while(|(a, b)| value(**b) == Some(**a))
        .count();
    let (live, new) = (&live[same..], &new[same..]);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < live.len() && j < new.len() {
        let Some(b) = value(new[j]) else {
            added.push(new[j]);
            j += 1;
            continue;
        };
        match live[i].cmp(&b) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                removed.push(live[i].interval());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added.push(new[j]);
                j += 1;
            }
        }
    }
    removed.extend(live[i..].iter().map(|v| v.interval()));
    added.extend_from_slice(&new[j..]);
    (removed, added)
}

/// [`Packed::patched`] over one representation: `live` less `removed`, plus `added`,
/// in one merge; `None` when a removed value is not in `live`, an added one is, or
/// either list is out of order.
fn patch<V: Value>(live: &[V], removed: &[V], added: &[V]) -> Option<Vec<V>> {
    let sorted = |v: &[V]| v.windows(2).all(|w| w[0] < w[1]);
    if !sorted(removed) || !sorted(added) || removed.len() > live.len() {
        return None;
    }
    let mut out = Vec::with_capacity(live.len() - removed.len() + added.len());
    let (mut r, mut a) = (0, 0);
    for &x in live {
        if removed.get(r) == Some(&x) {
            r += 1;
            continue;
        }
        while let Some(&y) = added.get(a).filter(|&&y| y < x) {
            out.push(y);
            a += 1;
        }
        if added.get(a) == Some(&x) {
            return None;
        }
        out.push(x);
    }
    out.extend_from_slice(&added[a..]);
    (r == removed.len()).then_some(out)
}

/// Appends each of `ivs` as big-endian `lo`, `hi` of `width` bytes each.
pub fn write_be(ivs: impl ExactSizeIterator<Item = Interval>, width: usize, out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + ivs.len() * 2 * width, 0);
    let room = out[at..].chunks_exact_mut(2 * width);
    for (iv, pair) in ivs.zip(room) {
        match width {
            4 => pair.copy_from_slice(&narrow(iv).to_be_bytes()),
            _ => {
                pair[..width].copy_from_slice(&iv.lo.to_be_bytes()[16 - width..]);
                pair[width..].copy_from_slice(&iv.hi.to_be_bytes()[16 - width..]);
            }
        }
    }
}

/// Narrow intervals order as their packed values do (`lo` in the high half).
fn narrow(iv: Interval) -> u64 {
    ((iv.lo as u64) << 32) | (iv.hi as u64 & 0xffff_ffff)
}

fn wide(v: u64) -> Interval {
    Interval {
        lo: u128::from(v >> 32),
        hi: u128::from(v & 0xffff_ffff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(lo: u128, hi: u128) -> Interval {
        Interval { lo, hi }
    }

    #[test]
    fn every_key_round_trips_through_its_packing_and_the_record_bytes() {
        let cases = [
            (
                SetKey::Ipv4Addr,
                vec![
                    iv(0, 0),
                    iv(0x0a00_0000, 0x0a00_00ff),
                    iv(u32::MAX as u128, u32::MAX as u128),
                ],
            ),
            (
                SetKey::InetService,
                vec![iv(22, 22), iv(5634, 6166), iv(65535, 65535)],
            ),
            (SetKey::IcmpType, vec![iv(0, 0), iv(8, 8), iv(255, 255)]),
            (
                SetKey::Ipv6Addr,
                vec![iv(1, 1), iv(u128::MAX - 5, u128::MAX)],
            ),
        ];
        for (key, ivs) in cases {
            let p = Packed::of(key, ivs.clone());
            assert_eq!(p.len(), ivs.len());
            assert_eq!(p.to_vec(), ivs, "{key:?}");
            assert!(ivs.iter().all(|x| p.contains(x)), "{key:?}");
            assert!(!p.contains(&iv(3, 4)), "{key:?}");
            let mut be = Vec::new();
            p.write_be(key.len(), &mut be);
            let mut slow = Vec::new();
            write_be(ivs.iter().copied(), key.len(), &mut slow);
            assert_eq!(be, slow, "{key:?}");
            assert_eq!(be.len(), ivs.len() * 2 * key.len());
            assert_eq!(Packed::from_be(key.len(), &be), Some(p.clone()), "{key:?}");
            assert_eq!(Packed::from_slice(key, &ivs), p);
            assert_eq!(p.clone().unpack(), ivs);
        }
        assert_eq!(Packed::from_be(4, &[0; 7]), None);
        let far = iv(1 << 40, 1 << 40);
        let narrow = Packed::of(SetKey::Ipv4Addr, vec![iv(1, 1)]);
        assert_eq!(narrow.difference(&[iv(1, 1), far]), (vec![], vec![far]));
        assert_eq!(Packed::Wide(Vec::new()), Packed::default());
        assert_eq!(
            Packed::Wide(vec![iv(1, 2)]),
            Packed::of(SetKey::Ipv4Addr, vec![iv(1, 2)])
        );
        assert_ne!(
            Packed::Wide(vec![iv(1, 2)]),
            Packed::of(SetKey::Ipv4Addr, vec![iv(1, 3)])
        );
    }

    proptest::proptest! {
        /// The difference is exactly the two set differences, for narrow and wide keys.
        #[test]
        fn difference_is_both_set_differences(
            a in proptest::collection::btree_set((0u128..40, 0u128..4), 0..60),
            b in proptest::collection::btree_set((0u128..40, 0u128..4), 0..60),
        ) {
            let ivs = |s: &std::collections::BTreeSet<(u128, u128)>| -> Vec<Interval> {
                s.iter().map(|&(lo, w)| iv(lo, lo + w)).collect::<std::collections::BTreeSet<_>>().into_iter().collect()
            };
            let (live, new) = (ivs(&a), ivs(&b));
            let want_removed: Vec<Interval> = live.iter().filter(|x| !new.contains(x)).copied().collect();
            let want_added: Vec<Interval> = new.iter().filter(|x| !live.contains(x)).copied().collect();
            for key in [SetKey::Ipv4Addr, SetKey::Ipv6Addr] {
                let got = Packed::of(key, live.clone()).difference(&new);
                proptest::prop_assert_eq!(&got, &(want_removed.clone(), want_added.clone()), "{:?}", key);
            }
        }

        /// A difference patched back onto the old elements gives the new ones; a patch
        /// made for other elements (one interval more or less) does not apply.
        #[test]
        fn the_difference_patches_the_old_into_the_new(
            a in proptest::collection::btree_set((0u128..40, 0u128..4), 0..60),
            b in proptest::collection::btree_set((0u128..40, 0u128..4), 0..60),
            extra in (0u128..40, 0u128..4),
        ) {
            let ivs = |s: &std::collections::BTreeSet<(u128, u128)>| -> Vec<Interval> {
                s.iter().map(|&(lo, w)| iv(lo, lo + w)).collect::<std::collections::BTreeSet<_>>().into_iter().collect()
            };
            let (live, new) = (ivs(&a), ivs(&b));
            for key in [SetKey::Ipv4Addr, SetKey::Ipv6Addr] {
                let old = Packed::of(key, live.clone());
                let (removed, added) = old.difference(&new);
                let (removed, added) = (Packed::of(key, removed), Packed::of(key, added));
                proptest::prop_assert_eq!(old.patched(&removed, &added), Some(Packed::of(key, new.clone())));
                let extra = iv(extra.0, extra.0 + extra.1);
                let mut other = live.clone();
                match other.binary_search(&extra) {
                    Ok(i) => { other.remove(i); }
                    Err(i) => other.insert(i, extra),
                }
                let other = Packed::of(key, other);
                // A patch still applies to other elements when the extra interval is one
                // it neither removes nor adds; the result then differs from `new` by it.
                if let Some(got) = other.patched(&removed, &added) {
                    proptest::prop_assert_ne!(got, Packed::of(key, new.clone()));
                }
            }
        }

        /// Packed IPv4 intervals order exactly as the intervals do (so sorted stays sorted
        /// and `contains` may search).
        #[test]
        fn narrow_values_order_as_intervals(a in proptest::array::uniform4(0u32..)) {
            let (x, y) = (iv(a[0].into(), a[1].into()), iv(a[2].into(), a[3].into()));
            proptest::prop_assert_eq!(x.cmp(&y), narrow(x).cmp(&narrow(y)));
        }
    }
}
