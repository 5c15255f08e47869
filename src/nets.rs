//! Address lists as the checked policy holds them: inclusive ranges, one packed list per
//! family (a CIDR or a single address is the range it covers), 8 bytes an IPv4 entry.
//! A list is shared, not copied, by every copy of its network (a `define` naming another,
//! each rule naming it): a million addresses are held once.

use std::sync::Arc;

mod order;
pub use order::{
    Normalized, Piece, is_normal_v4, normalize_v4, normalized_pieces, pieces_normal,
    sort_mostly_ordered,
};

/// One address entry: an inclusive range of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetRange {
    V4(u32, u32),
    V6(u128, u128),
}

impl NetRange {
    pub fn is_v4(self) -> bool {
        matches!(self, NetRange::V4(..))
    }

    /// (first, last) as numbers (IPv4 widened).
    pub fn bounds(self) -> (u128, u128) {
        match self {
            NetRange::V4(lo, hi) => (u128::from(lo), u128::from(hi)),
            NetRange::V6(lo, hi) => (lo, hi),
        }
    }

    /// Whether every address of `other` is in `self`.
    pub fn contains(self, other: NetRange) -> bool {
        self.is_v4() == other.is_v4() && {
            let ((a, b), (c, d)) = (self.bounds(), other.bounds());
            a <= c && d <= b
        }
    }

    /// Whether `self` and `other` share an address.
    pub fn meets(self, other: NetRange) -> bool {
        self.is_v4() == other.is_v4() && {
            let ((a, b), (c, d)) = (self.bounds(), other.bounds());
            a <= d && c <= b
        }
    }

    /// The range of a CIDR (host bits ignored).
    pub fn of_net(net: ipnet::IpNet) -> NetRange {
        match net {
            ipnet::IpNet::V4(n) => NetRange::V4(n.network().into(), n.broadcast().into()),
            ipnet::IpNet::V6(n) => NetRange::V6(n.network().into(), n.broadcast().into()),
        }
    }
}

/// The addresses of one restriction or network, in the order written per family. Clones
/// and lists made of other lists share their runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nets {
    pub v4: Runs<(u32, u32)>,
    pub v6: Runs<(u128, u128)>,
}

impl Nets {
    pub fn push(&mut self, r: NetRange) {
        match r {
            NetRange::V4(lo, hi) => self.v4.push((lo, hi)),
            NetRange::V6(lo, hi) => self.v6.push((lo, hi)),
        }
    }

    /// Appends IPv4 entries as the parser made them (`syntax::ast::V4Items`), sharing
    /// their vector as a run: nothing is copied.
    pub fn share_v4(&mut self, entries: &Arc<Vec<(u32, u32)>>) {
        self.v4.share(entries);
    }

    /// Appends `other`'s entries by sharing its runs (nothing is copied).
    pub fn extend(&mut self, other: &Nets) {
        self.v4.append(&other.v4);
        self.v6.append(&other.v6);
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_v4(&self) -> bool {
        !self.v4.is_empty()
    }

    pub fn has_v6(&self) -> bool {
        !self.v6.is_empty()
    }

    /// Every entry: IPv4 first, then IPv6.
    pub fn iter(&self) -> impl Iterator<Item = NetRange> + '_ {
        let v4 = self.v4.iter().map(|&(lo, hi)| NetRange::V4(lo, hi));
        v4.chain(self.v6.iter().map(|&(lo, hi)| NetRange::V6(lo, hi)))
    }

    /// Gives back spare capacity of runs no other list shares.
    pub fn shrink_to_fit(&mut self) {
        self.v4.shrink_to_fit();
        self.v6.shrink_to_fit();
    }
}

/// One family's entries as runs shared between lists: a `define` made of other networks,
/// and every rule naming it, hold their runs, not copies (a million addresses are held
/// once). Compared, hashed and ordered by the entries alone, whatever the runs.
#[derive(Clone, Debug)]
pub struct Runs<T> {
    runs: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Runs<T> {
    fn default() -> Self {
        Runs {
            runs: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Copy> Runs<T> {
    /// Adds to the last run when no other list shares it, else starts a run.
    pub fn push(&mut self, x: T) {
        match self.runs.last_mut().and_then(Arc::get_mut) {
            Some(run) => run.push(x),
            None => self.runs.push(Arc::new(vec![x])),
        }
        self.len += 1;
    }

    /// Appends the entries of `run`, shared as a run of their own.
    pub fn share(&mut self, run: &Arc<Vec<T>>) {
        if !run.is_empty() {
            self.len += run.len();
            self.runs.push(Arc::clone(run));
        }
    }

    /// Appends `other`'s runs, shared.
    pub fn append(&mut self, other: &Runs<T>) {
        self.runs.extend(other.runs.iter().cloned());
        self.len += other.len;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.runs.iter().flat_map(|r| r.iter())
    }

    /// The runs the entries are held in, in order.
    pub fn parts(&self) -> impl Iterator<Item = &[T]> + '_ {
        self.runs.iter().map(|r| r.as_slice())
    }

    /// The entries, when they are held in one run (or none): no copy needed.
    pub fn as_one(&self) -> Option<&[T]> {
        match self.runs.as_slice() {
            [] => Some(&[]),
            [one] => Some(one),
            _ => None,
        }
    }

    /// The entries in one new vector.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for r in &self.runs {
            out.extend_from_slice(r);
        }
        out
    }

    fn shrink_to_fit(&mut self) {
        for r in &mut self.runs {
            if let Some(r) = Arc::get_mut(r) {
                r.shrink_to_fit();
            }
        }
    }
}

impl<T: Copy + PartialEq> PartialEq for Runs<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Copy + Eq> Eq for Runs<T> {}

impl<T: Copy + std::hash::Hash> std::hash::Hash for Runs<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.len.hash(state);
        for x in self.iter() {
            x.hash(state);
        }
    }
}

impl<T: Copy + Ord> PartialOrd for Runs<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Copy + Ord> Ord for Runs<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl FromIterator<NetRange> for Nets {
    fn from_iter<I: IntoIterator<Item = NetRange>>(iter: I) -> Nets {
        let mut out = Nets::default();
        for r in iter {
            out.push(r);
        }
        out
    }
}

/// How a packed IPv4 entry was written, so its text can be rebuilt exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V4Form {
    /// `192.0.2.1`
    Addr,
    /// `10.0.0.0/8` (the length follows from the range)
    Prefix,
    /// `10.0.0.5-10.0.0.9`
    Range,
}

/// A canonical IPv4 entry (`a.b.c.d`, `a.b.c.d/N` without host bits, or `a-b` with
/// `a <= b`; decimal octets without leading zeros) as (first, last, form); `None` for
/// anything else, which the checker then validates from its text.
pub fn packed_v4(text: &str) -> Option<(u32, u32, V4Form)> {
    if let Some((a, b)) = text.split_once('-') {
        let (lo, hi) = (plain_v4_addr(a.as_bytes())?, plain_v4_addr(b.as_bytes())?);
        return (lo <= hi).then_some((lo, hi, V4Form::Range));
    }
    let b = text.as_bytes();
    let (addr, end) = v4_octets(b)?;
    match b.get(end) {
        None => Some((addr, addr, V4Form::Addr)),
        Some(b'/') => match canonical_number(b, end + 1, 2)? {
            (p, e) if e == b.len() && p <= 32 => {
                let host = u32::MAX.checked_shr(p).unwrap_or(0);
                (addr & host == 0).then_some((addr, addr | host, V4Form::Prefix))
            }
            _ => None,
        },
        Some(_) => None,
    }
}

/// The text [`packed_v4`] read: the same bytes, rebuilt.
pub fn v4_text(lo: u32, hi: u32, form: V4Form) -> String {
    let a = std::net::Ipv4Addr::from(lo);
    match form {
        V4Form::Addr => a.to_string(),
        V4Form::Prefix => format!("{a}/{}", 32 - (hi - lo).count_ones()),
        V4Form::Range => format!("{a}-{}", std::net::Ipv4Addr::from(hi)),
    }
}

fn plain_v4_addr(b: &[u8]) -> Option<u32> {
    let (addr, end) = v4_octets(b)?;
    (end == b.len()).then_some(addr)
}

/// Four canonical decimal octets joined by dots at the start of `b`: value and end.
fn v4_octets(b: &[u8]) -> Option<(u32, usize)> {
    let mut v = 0u32;
    let mut i = 0;
    for k in 0..4 {
        if k > 0 {
            (b.get(i) == Some(&b'.')).then_some(())?;
            i += 1;
        }
        let (o, next) = canonical_number(b, i, 3)?;
        v = (v << 8) | u32::from(u8::try_from(o).ok()?);
        i = next;
    }
    Some((v, i))
}

/// The decimal at `b[start..]`: 1..=`max_digits` digits without a leading zero (unless it is
/// `0`). Returns the value and where the digits end.
pub(crate) fn canonical_number(b: &[u8], start: usize, max_digits: usize) -> Option<(u32, usize)> {
    let digits = b[start.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 || digits > max_digits || (digits > 1 && b[start] == b'0') {
        return None;
    }
    let v = b[start..start + digits]
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    Some((v, start + digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_and_meeting_respect_family_and_bounds() {
        let a = NetRange::V4(10, 20);
        assert!(a.contains(NetRange::V4(10, 20)));
        assert!(a.contains(NetRange::V4(12, 12)));
        assert!(!a.contains(NetRange::V4(9, 12)));
        assert!(!a.contains(NetRange::V6(12, 12)));
        assert!(a.meets(NetRange::V4(20, 30)));
        assert!(!a.meets(NetRange::V4(21, 30)));
        assert!(!a.meets(NetRange::V6(10, 20)));
        let n: Nets = [NetRange::V6(1, 2), a].into_iter().collect();
        assert_eq!(n.iter().collect::<Vec<_>>(), [a, NetRange::V6(1, 2)]);
        assert_eq!(n.len(), 2);
    }

    #[test]
    fn packed_v4_normalizes_as_the_ir_does() {
        let mut cases = vec![
            vec![(10, 20), (21, 21), (5, 12), (30, 30), (30, 30)],
            vec![(u32::MAX, u32::MAX), (0, 0), (1, u32::MAX - 1)],
            vec![(7, 9), (0, 3), (5, 5), (4, 4), (100, 200), (150, 160)],
            vec![],
        ];
        for v in &mut cases {
            let mut ir: Vec<crate::ir::Interval> = (v.iter())
                .map(|&(lo, hi)| crate::ir::Interval {
                    lo: lo.into(),
                    hi: hi.into(),
                })
                .collect();
            crate::ir::normalize_intervals(&mut ir);
            normalize_v4(v);
            let back: Vec<(u128, u128)> = v.iter().map(|&(a, b)| (a.into(), b.into())).collect();
            let want: Vec<(u128, u128)> = ir.iter().map(|i| (i.lo, i.hi)).collect();
            assert_eq!(back, want);
        }
        assert_eq!(cases[0], [(5, 21), (30, 30)]);
        assert_eq!(cases[1], [(0, u32::MAX)]);
    }

    proptest::proptest! {
        /// Sorted or not, apart or touching: the packed form normalizes as the IR does.
        #[test]
        fn packed_v4_normalizes_as_the_ir_does_on_any_list(
            v in proptest::collection::vec((0u32..60, 0u32..4), 0..14),
            sorted in proptest::bool::ANY,
        ) {
            let mut v: Vec<(u32, u32)> = v.iter().map(|&(lo, n)| (lo, lo + n)).collect();
            if sorted {
                v.sort_unstable();
            }
            let mut ir: Vec<crate::ir::Interval> = (v.iter())
                .map(|&(lo, hi)| crate::ir::Interval { lo: lo.into(), hi: hi.into() })
                .collect();
            crate::ir::normalize_intervals(&mut ir);
            normalize_v4(&mut v);
            let back: Vec<(u128, u128)> = v.iter().map(|&(a, b)| (a.into(), b.into())).collect();
            let want: Vec<(u128, u128)> = ir.iter().map(|i| (i.lo, i.hi)).collect();
            proptest::prop_assert_eq!(back, want);
        }
    }

    #[test]
    fn lists_made_of_lists_share_their_runs_and_compare_by_entries() {
        let mut big = Nets::default();
        for i in 0..1000 {
            big.push(NetRange::V4(i * 8, i * 8 + 3));
        }
        let mut rule = Nets::default();
        rule.extend(&big);
        assert_eq!(rule.v4.runs.len(), 1);
        assert!(
            Arc::ptr_eq(&rule.v4.runs[0], &big.v4.runs[0]),
            "shared, not copied"
        );
        rule.push(NetRange::V4(1, 1));
        rule.extend(&big);
        rule.push(NetRange::V6(5, 9));
        assert_eq!(big.len(), 1000, "the shared run is unchanged");
        assert_eq!(rule.len(), 2002);
        assert_eq!(rule.v4.to_vec()[1000], (1, 1));
        assert_eq!(rule.v4.to_vec()[1001], (0, 3));
        // Equal entries in other runs: equal, same hash, same order.
        let flat: Nets = rule.iter().collect();
        assert_eq!(flat.v4.runs.len(), 1);
        assert_eq!(flat, rule);
        assert_eq!(flat.cmp(&rule), std::cmp::Ordering::Equal);
        let hash = |n: &Nets| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(n)
        };
        assert_eq!(hash(&flat), hash(&rule));
        assert_ne!(flat, big);
        assert!(big < rule, "a prefix sorts first");
    }

    #[test]
    fn packed_v4_round_trips_its_text_and_leaves_the_rest_to_the_checker() {
        for t in [
            "10.0.0.0/8",
            "192.0.2.1",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "10.0.0.5-10.0.0.9",
            "1.2.3.4-1.2.3.4",
            "10.0.0.8/30",
        ] {
            let (lo, hi, form) = packed_v4(t).unwrap_or_else(|| panic!("{t}"));
            assert_eq!(v4_text(lo, hi, form), t);
        }
        for t in [
            "10.0.0.1/8",
            "010.0.0.0",
            "10.0.0.0/033",
            "10.0.0.9-10.0.0.5",
            "1.2.3.4/24-1.2.3.9",
            "256.0.0.0",
            "1.2.3",
            "1.2.3.4.5",
            "fd00::1",
            "1.2.3.4-fd00::1",
            "1.2.3.4/",
            "",
        ] {
            assert_eq!(packed_v4(t), None, "{t}");
        }
    }
}
