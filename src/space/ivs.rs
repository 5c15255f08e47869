//! Sets of values of one header field (an address, a port, a protocol number)
//! as sorted, disjoint, non-adjacent inclusive intervals, with the set algebra
//! the header-space classes need.

use crate::ir::{Interval, normalize_intervals};

/// A set of field values: normalised intervals (sorted, merged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ivs(Vec<Interval>);

impl Ivs {
    /// Every value from 0 to `max`.
    pub fn full(max: u128) -> Ivs {
        Ivs(vec![Interval { lo: 0, hi: max }])
    }

    pub fn single(v: u128) -> Ivs {
        Ivs(vec![Interval::single(v)])
    }

    pub fn new(mut v: Vec<Interval>) -> Ivs {
        normalize_intervals(&mut v);
        Ivs(v)
    }

    pub fn intervals(&self) -> &[Interval] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Binary search: sets of 100,000 elements stay cheap to query.
    pub fn contains(&self, v: u128) -> bool {
        let i = self.0.partition_point(|iv| iv.hi < v);
        self.0.get(i).is_some_and(|iv| iv.lo <= v)
    }

    pub fn first(&self) -> Option<u128> {
        self.0.first().map(|iv| iv.lo)
    }

    pub fn intersect(&self, o: &Ivs) -> Ivs {
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < self.0.len() && j < o.0.len() {
            let (a, b) = (self.0[i], o.0[j]);
            let (lo, hi) = (a.lo.max(b.lo), a.hi.min(b.hi));
            if lo <= hi {
                out.push(Interval { lo, hi });
            }
            if a.hi < b.hi {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ivs(out)
    }

    /// The values of `self` that are not in `o`.
    pub fn minus(&self, o: &Ivs) -> Ivs {
        let mut out = Vec::new();
        let mut j = 0;
        for a in &self.0 {
            let mut lo = a.lo;
            let mut open = true;
            while j < o.0.len() && o.0[j].hi < lo {
                j += 1;
            }
            let mut k = j;
            while open && k < o.0.len() && o.0[k].lo <= a.hi {
                let b = o.0[k];
                if b.lo > lo {
                    out.push(Interval { lo, hi: b.lo - 1 });
                }
                match b.hi.checked_add(1) {
                    Some(next) if next <= a.hi => lo = lo.max(next),
                    _ => open = false,
                }
                k += 1;
            }
            if open {
                out.push(Interval { lo, hi: a.hi });
            }
        }
        Ivs(out)
    }

    /// Where the set starts or ends: every `lo` and `hi + 1` (the first value
    /// of a new class of this field).
    pub fn cuts(&self) -> impl Iterator<Item = u128> + '_ {
        self.0
            .iter()
            .flat_map(|iv| [Some(iv.lo), iv.hi.checked_add(1)])
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivs(v: &[(u128, u128)]) -> Ivs {
        Ivs::new(v.iter().map(|&(lo, hi)| Interval { lo, hi }).collect())
    }

    #[test]
    fn algebra_agrees_with_membership() {
        let a = ivs(&[(0, 10), (20, 30), (40, 40), (60, 255)]);
        let b = ivs(&[(5, 22), (30, 45), (255, 255)]);
        let (i, m) = (a.intersect(&b), a.minus(&b));
        for v in 0..=300u128 {
            assert_eq!(i.contains(v), a.contains(v) && b.contains(v), "{v}");
            assert_eq!(m.contains(v), a.contains(v) && !b.contains(v), "{v}");
        }
        assert_eq!(
            Ivs::full(u128::MAX).minus(&Ivs::full(u128::MAX)),
            Ivs::default()
        );
        let top = Ivs::full(u128::MAX).minus(&Ivs::single(u128::MAX));
        assert_eq!(top.intervals().last().map(|iv| iv.hi), Some(u128::MAX - 1));
        assert_eq!(
            a.cuts().collect::<Vec<_>>(),
            vec![0, 11, 20, 31, 40, 41, 60, 256]
        );
    }
}
