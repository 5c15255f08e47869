//! A set's intervals held compactly: 8 bytes an interval when every value fits 32 bits
//! (IPv4 addresses, ports, ICMP types) instead of 32. The IR's sets, the live table an
//! in-place apply plans against (the table record, a dump) and the table record's
//! patches all hold their elements so; a million IPv4 prefixes take 8 MB.

use super::Interval;

/// Sorted intervals. Which form holds them is only a matter of size: every operation
/// gives the same answer for the same intervals, whatever form each operand has.
#[derive(Clone, Debug)]
pub enum Packed {
    /// `lo << 32 | hi`, when every value fits 32 bits.
    Narrow(Vec<u64>),
    /// Any intervals (IPv6 addresses): packing would save little.
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

/// Narrow when every value fits 32 bits.
impl From<Vec<Interval>> for Packed {
    fn from(elements: Vec<Interval>) -> Packed {
        match elements.iter().all(fits) {
            true => Packed::Narrow(elements.iter().map(|iv| narrow(*iv)).collect()),
            false => Packed::Wide(elements),
        }
    }
}

impl From<&[Interval]> for Packed {
    fn from(elements: &[Interval]) -> Packed {
        match elements.iter().all(fits) {
            true => Packed::Narrow(elements.iter().map(|iv| narrow(*iv)).collect()),
            false => Packed::Wide(elements.to_vec()),
        }
    }
}

impl FromIterator<Interval> for Packed {
    fn from_iter<I: IntoIterator<Item = Interval>>(iter: I) -> Packed {
        let mut out = Packed::default();
        out.extend(iter);
        out
    }
}

impl Extend<Interval> for Packed {
    fn extend<I: IntoIterator<Item = Interval>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        if let Packed::Narrow(v) = self {
            v.reserve(iter.size_hint().0);
        }
        iter.for_each(|iv| self.push(iv));
    }
}

impl Packed {
    /// IPv4 ranges (first, last), as they are.
    pub fn from_v4(ranges: &[(u32, u32)]) -> Packed {
        Packed::Narrow(
            (ranges.iter())
                .map(|&(lo, hi)| u64::from(lo) << 32 | u64::from(hi))
                .collect(),
        )
    }

    /// [`Packed::from_v4`] of `len` ranges held in `parts`, in order.
    pub fn from_v4_parts<'a>(parts: impl Iterator<Item = &'a [(u32, u32)]>, len: usize) -> Packed {
        let mut v = Vec::with_capacity(len);
        for p in parts {
            v.extend(
                p.iter()
                    .map(|&(lo, hi)| u64::from(lo) << 32 | u64::from(hi)),
            );
        }
        Packed::Narrow(v)
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
            4 => Packed::Narrow({
                let mut v = Vec::new();
                crate::pages::reserve_faulted(&mut v, bytes.len() / 8);
                v.extend(
                    (bytes.chunks_exact(8))
                        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default())),
                );
                v
            }),
            w if w < 4 => Packed::Narrow(
                (bytes.chunks_exact(pair))
                    .map(|c| (value(&c[..w]) as u64) << 32 | value(&c[w..]) as u64)
                    .collect(),
            ),
            w => Packed::from(
                (bytes.chunks_exact(pair))
                    .map(|c| Interval {
                        lo: value(&c[..w]),
                        hi: value(&c[w..]),
                    })
                    .collect::<Vec<_>>(),
            ),
        })
    }

    /// Appends every interval as big-endian `lo`, `hi` of `width` bytes each (the
    /// inverse of [`Packed::from_be`]).
    pub fn write_be(&self, width: usize, out: &mut Vec<u8>) {
        self.write_be_range(width, 0..self.len(), out);
    }

    /// [`Packed::write_be`] of the intervals in `range` alone. Panics past the end, as
    /// indexing does.
    pub fn write_be_range(&self, width: usize, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
        match self {
            Packed::Narrow(v) if width == 4 => {
                let v = &v[range];
                out.reserve(v.len() * 8);
                v.iter()
                    .for_each(|x| out.extend_from_slice(&x.to_be_bytes()));
            }
            Packed::Narrow(v) => write_be(v[range].iter().map(|&x| wide(x)), width, out),
            Packed::Wide(v) => write_be(v[range].iter().copied(), width, out),
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

    pub fn first(&self) -> Option<Interval> {
        (!self.is_empty()).then(|| self.get(0))
    }

    pub fn last(&self) -> Option<Interval> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    /// The intervals, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Interval> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends `iv` (held wide from then on if it does not fit 32 bits).
    pub fn push(&mut self, iv: Interval) {
        match self {
            Packed::Narrow(v) if fits(&iv) => v.push(narrow(iv)),
            Packed::Narrow(v) => {
                let mut w: Vec<Interval> = v.iter().map(|&x| wide(x)).collect();
                w.push(iv);
                *self = Packed::Wide(w);
            }
            Packed::Wide(v) => v.push(iv),
        }
    }

    /// Whether `iv` is one of the intervals (they are sorted: a binary search).
    pub fn contains(&self, iv: &Interval) -> bool {
        match self {
            Packed::Narrow(v) => fits(iv) && v.binary_search(&narrow(*iv)).is_ok(),
            Packed::Wide(v) => v.binary_search(iv).is_ok(),
        }
    }

    /// Whether some interval holds the value `v`, by a binary search: the intervals are
    /// normalized (sorted and apart, as the compiler and the live reader make every
    /// set's), so only the last one starting at or below `v` can.
    pub fn holds(&self, v: u128) -> bool {
        let before = match self {
            Packed::Narrow(w) => match u64::try_from(v).ok().filter(|v| v >> 32 == 0) {
                Some(v) => w.partition_point(|&e| e >> 32 <= v),
                None => return false,
            },
            Packed::Wide(w) => w.partition_point(|iv| iv.lo <= v),
        };
        before.checked_sub(1).is_some_and(|i| self.get(i).hi >= v)
    }

    /// Sorts and merges overlapping or adjacent intervals, as
    /// [`super::normalize_intervals`] does; a list already so is not sorted again.
    pub fn normalize(&mut self) {
        match self {
            Packed::Narrow(v) => {
                let apart = |w: &[u64]| {
                    let (a, b) = (wide(w[0]), wide(w[1]));
                    a.lo <= a.hi && a.hi < b.lo && b.lo - a.hi > 1
                };
                if !(v.windows(2).all(apart)
                    && v.last().is_none_or(|&e| e >> 32 <= e & 0xffff_ffff))
                {
                    crate::nets::sort_mostly_ordered(v);
                    let mut kept: usize = 0;
                    for i in 0..v.len() {
                        let e = wide(v[i]);
                        match kept.checked_sub(1).map(|k| &mut v[k]) {
                            Some(last) if e.lo <= wide(*last).hi + 1 => {
                                let l = wide(*last);
                                *last = narrow(Interval {
                                    lo: l.lo,
                                    hi: l.hi.max(e.hi),
                                });
                            }
                            _ => {
                                v[kept] = v[i];
                                kept += 1;
                            }
                        }
                    }
                    v.truncate(kept);
                }
                v.shrink_to_fit();
            }
            Packed::Wide(v) => super::normalize_intervals(v),
        }
    }

    /// The intervals of `self` not in `new`, and of `new` not in `self` (both sorted):
    /// one merge pass, over the packed values themselves when both are narrow.
    pub fn difference(&self, new: &Packed) -> (Vec<Interval>, Vec<Interval>) {
        match (self, new) {
            (Packed::Narrow(a), Packed::Narrow(b)) => merge(a, b),
            (Packed::Wide(a), Packed::Wide(b)) => merge(a, b),
            _ => merge(&self.to_vec(), &new.to_vec()),
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
            _ => patch(&self.to_vec(), &removed.to_vec(), &added.to_vec()).map(Packed::from),
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

/// [`Packed::difference`] of `live` and `new`, both held alike. The common prefix is
/// skipped first.
fn merge<V: Value>(live: &[V], new: &[V]) -> (Vec<Interval>, Vec<Interval>) {
    let same = common_len(live.iter().zip(new), live.chunks(64).zip(new.chunks(64)));
    let (live, new) = (&live[same..], &new[same..]);
    let tail = common_len(
        live.iter().rev().zip(new.iter().rev()),
        live.rchunks(64).zip(new.rchunks(64)),
    );
    let (live, new) = (&live[..live.len() - tail], &new[..new.len() - tail]);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < live.len() && j < new.len() {
        match live[i].cmp(&new[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                removed.push(live[i].interval());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added.push(new[j].interval());
                j += 1;
            }
        }
    }
    removed.extend(live[i..].iter().map(|v| v.interval()));
    added.extend(new[j..].iter().map(|v| v.interval()));
    (removed, added)
}

/// How many pairs from the start of `pairs` are equal, found a block of `blocks` at a
/// time (whole blocks compared as slices, one call each) and then one by one: a
/// re-apply's sets are equal but for a few elements, so nearly all of both are alike.
fn common_len<'a, V: PartialEq + 'a>(
    pairs: impl Iterator<Item = (&'a V, &'a V)>,
    blocks: impl Iterator<Item = (&'a [V], &'a [V])>,
) -> usize {
    let mut whole = 0;
    for (a, b) in blocks {
        if a.len() != b.len() || a != b {
            break;
        }
        whole += a.len();
    }
    whole + pairs.skip(whole).take_while(|(a, b)| a == b).count()
}

/// [`Packed::patched`] over one representation: `live` less `removed`, plus `added`,
/// in one merge; `None` when a removed value is not in `live`, an added one is, or
/// either list is out of order.
fn patch<V: Value>(live: &[V], removed: &[V], added: &[V]) -> Option<Vec<V>> {
    let sorted = |v: &[V]| v.windows(2).all(|w| w[0] < w[1]);
    if !sorted(removed) || !sorted(added) || removed.len() > live.len() {
        return None;
    }
    let mut out = Vec::new();
    crate::pages::reserve_faulted(&mut out, live.len() - removed.len() + added.len());
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

/// Whether both ends of `iv` fit 32 bits.
fn fits(iv: &Interval) -> bool {
    iv.lo.max(iv.hi) <= u128::from(u32::MAX)
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
    use crate::ir::SetKey;

    fn iv(lo: u128, hi: u128) -> Interval {
        Interval { lo, hi }
    }

    /// Both forms of the same intervals: the narrow one (when they fit) and a wide one.
    fn forms(ivs: &[Interval]) -> [Packed; 2] {
        [Packed::from(ivs), Packed::Wide(ivs.to_vec())]
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
            let p = Packed::from(ivs.clone());
            assert_eq!(matches!(p, Packed::Narrow(_)), key.len() <= 4, "{key:?}");
            assert_eq!(p.len(), ivs.len());
            assert_eq!(p.to_vec(), ivs, "{key:?}");
            assert_eq!(
                (p.first(), p.last()),
                (ivs.first().copied(), ivs.last().copied())
            );
            assert!(ivs.iter().all(|x| p.contains(x)), "{key:?}");
            assert!(!p.contains(&iv(3, 4)), "{key:?}");
            let mut be = Vec::new();
            p.write_be(key.len(), &mut be);
            let mut slow = Vec::new();
            write_be(ivs.iter().copied(), key.len(), &mut slow);
            assert_eq!(be, slow, "{key:?}");
            assert_eq!(be.len(), ivs.len() * 2 * key.len());
            assert_eq!(Packed::from_be(key.len(), &be), Some(p.clone()), "{key:?}");
            assert_eq!(Packed::from(ivs.as_slice()), p);
            assert_eq!(ivs.iter().copied().collect::<Packed>(), p);
            assert_eq!(p.clone().unpack(), ivs);
        }
        assert_eq!(Packed::from_be(4, &[0; 7]), None);
        assert_eq!(Packed::Wide(Vec::new()), Packed::default());
        assert_eq!(Packed::Wide(vec![iv(1, 2)]), Packed::from(vec![iv(1, 2)]));
        assert_ne!(Packed::Wide(vec![iv(1, 2)]), Packed::from(vec![iv(1, 3)]));
        assert_eq!(
            Packed::from_v4(&[(1, 2), (7, 9)]),
            Packed::from(vec![iv(1, 2), iv(7, 9)])
        );
    }

    #[test]
    fn a_value_past_32_bits_widens_what_holds_it() {
        let far = iv(1 << 40, 1 << 40);
        let mut p = Packed::from(vec![iv(1, 1)]);
        p.push(iv(5, 6));
        assert!(matches!(p, Packed::Narrow(_)));
        p.push(far);
        assert!(matches!(p, Packed::Wide(_)));
        assert_eq!(p.to_vec(), [iv(1, 1), iv(5, 6), far]);
        let narrow = Packed::from(vec![iv(1, 1)]);
        assert!(!narrow.contains(&iv(1 << 32 | 1, 1 << 32 | 1)));
        let new = Packed::from(vec![iv(1, 1), far]);
        assert_eq!(narrow.difference(&new), (vec![], vec![far]));
        assert_eq!(new.difference(&narrow), (vec![far], vec![]));
        let gained = Packed::from(vec![far]);
        assert_eq!(narrow.patched(&Packed::default(), &gained), Some(new));
    }

    proptest::proptest! {
        /// The difference is exactly the two set differences, whichever form each side has.
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
            for l in forms(&live) {
                for n in forms(&new) {
                    let got = l.difference(&n);
                    proptest::prop_assert_eq!(&got, &(want_removed.clone(), want_added.clone()));
                }
            }
        }

        /// Long lists alike but for a few edits anywhere (the common start and end are
        /// compared in blocks): the difference is still exactly the edits.
        #[test]
        fn difference_of_long_lists_with_a_few_edits(
            n in 0u128..400,
            edits in proptest::collection::btree_set(0u128..800, 0..6),
        ) {
            let live: std::collections::BTreeSet<u128> = (0..n).map(|i| 2 * i).collect();
            let mut new = live.clone();
            for e in &edits {
                if !new.remove(e) {
                    new.insert(*e);
                }
            }
            let ivs = |s: &std::collections::BTreeSet<u128>| -> Vec<Interval> {
                s.iter().map(|&v| iv(v, v)).collect()
            };
            let (live, new) = (ivs(&live), ivs(&new));
            let want_removed: Vec<Interval> = live.iter().filter(|x| !new.contains(x)).copied().collect();
            let want_added: Vec<Interval> = new.iter().filter(|x| !live.contains(x)).copied().collect();
            for l in forms(&live) {
                for n in forms(&new) {
                    proptest::prop_assert_eq!(l.difference(&n), (want_removed.clone(), want_added.clone()));
                }
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
            for old in forms(&live) {
                let (removed, added) = old.difference(&Packed::from(new.clone()));
                for (removed, added) in forms(&removed).into_iter().zip(forms(&added)) {
                    proptest::prop_assert_eq!(old.patched(&removed, &added), Some(Packed::from(new.clone())));
                    let extra = iv(extra.0, extra.0 + extra.1);
                    let mut other = live.clone();
                    match other.binary_search(&extra) {
                        Ok(i) => { other.remove(i); }
                        Err(i) => other.insert(i, extra),
                    }
                    // A patch still applies to other elements when the extra interval is
                    // one it neither removes nor adds; the result then differs from `new`.
                    for other in forms(&other) {
                        if let Some(got) = other.patched(&removed, &added) {
                            proptest::prop_assert_ne!(got, Packed::from(new.clone()));
                        }
                    }
                }
            }
        }

        /// A normalized set holds a value exactly when some interval does, in either form.
        #[test]
        fn holds_is_any_interval_holding(
            v in proptest::collection::vec((0u128..60, 0u128..4), 0..14),
            probe in 0u128..70,
            far in proptest::bool::ANY,
        ) {
            let shift = |x: u128| if far { x + (1 << 40) } else { x };
            let mut v: Vec<Interval> = v.iter().map(|&(lo, n)| iv(shift(lo), shift(lo + n))).collect();
            super::super::normalize_intervals(&mut v);
            let probe = shift(probe);
            let want = v.iter().any(|i| i.lo <= probe && probe <= i.hi);
            for p in forms(&v) {
                proptest::prop_assert_eq!(p.holds(probe), want);
                proptest::prop_assert!(!p.holds(u128::MAX) || v.last().is_some_and(|l| l.hi == u128::MAX));
            }
        }

        /// Sorted or not, touching or apart: either form normalizes as the IR's intervals do.
        #[test]
        fn normalize_is_the_irs(
            v in proptest::collection::vec((0u128..60, 0u128..4), 0..14),
            sorted in proptest::bool::ANY,
        ) {
            let mut v: Vec<Interval> = v.iter().map(|&(lo, n)| iv(lo, lo + n)).collect();
            if sorted {
                v.sort_unstable();
            }
            let mut want = v.clone();
            super::super::normalize_intervals(&mut want);
            for mut p in forms(&v) {
                p.normalize();
                proptest::prop_assert_eq!(p.to_vec(), want.clone());
            }
        }

        /// Packed intervals order exactly as the intervals do (so sorted stays sorted
        /// and `contains` may search).
        #[test]
        fn narrow_values_order_as_intervals(a in proptest::array::uniform4(0u32..)) {
            let (x, y) = (iv(a[0].into(), a[1].into()), iv(a[2].into(), a[3].into()));
            proptest::prop_assert_eq!(x.cmp(&y), narrow(x).cmp(&narrow(y)));
        }
    }
}
