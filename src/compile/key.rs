//! An address list as part of a grouping key: equal by content, hashed by a bounded
//! sample (its lengths and first entries), so keying a rule by a list of a million
//! addresses costs O(1) to hash; only lists that share the sample are compared in full.

use crate::model::Nets;

/// Entries per family that a hash covers.
const SAMPLE: usize = 4;

/// A borrowed address list compared by its entries and hashed by their sample.
#[derive(Clone, Copy, Debug)]
pub(super) struct NetsKey<'a>(pub &'a Nets);

impl PartialEq for NetsKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for NetsKey<'_> {}

impl std::hash::Hash for NetsKey<'_> {
    /// Equal lists have equal lengths and first entries, so they hash alike (`Hash`'s
    /// contract).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let n = self.0;
        n.v4.len().hash(state);
        n.v4.iter().take(SAMPLE).for_each(|x| x.hash(state));
        n.v6.len().hash(state);
        n.v6.iter().take(SAMPLE).for_each(|x| x.hash(state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::NetRange;
    use std::hash::{BuildHasher, BuildHasherDefault};

    type H = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

    fn nets(v4: &[(u32, u32)], v6: &[(u128, u128)]) -> Nets {
        let mut n = Nets::default();
        v4.iter().for_each(|&(a, b)| n.push(NetRange::V4(a, b)));
        v6.iter().for_each(|&(a, b)| n.push(NetRange::V6(a, b)));
        n
    }

    #[test]
    fn equal_lists_hash_alike_and_a_middle_change_is_not_equal() {
        let v4: Vec<(u32, u32)> = (0..50).map(|i| (i * 4, i * 4 + 1)).collect();
        let a = nets(&v4, &[(7, 7)]);
        let mut b = Nets::default();
        b.extend(&nets(&v4[..10], &[]));
        b.extend(&nets(&v4[10..], &[(7, 7)]));
        assert_eq!(NetsKey(&a), NetsKey(&b));
        assert_eq!(
            H::default().hash_one(NetsKey(&a)),
            H::default().hash_one(NetsKey(&b))
        );
        // Same sample, other middle: hashed alike, told apart by the comparison.
        let mut middle = v4.clone();
        middle[30].1 += 1;
        let c = nets(&middle, &[(7, 7)]);
        assert_eq!(
            H::default().hash_one(NetsKey(&a)),
            H::default().hash_one(NetsKey(&c))
        );
        assert_ne!(NetsKey(&a), NetsKey(&c));
        let d = nets(&v4, &[(8, 8)]);
        assert_ne!(NetsKey(&a), NetsKey(&d));
    }
}
