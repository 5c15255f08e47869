//! Address lists as the checked policy holds them: inclusive ranges, one packed list per
//! family (a CIDR or a single address is the range it covers), 8 bytes an IPv4 entry.

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

/// The addresses of one restriction or network, in the order written per family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nets {
    pub v4: Vec<(u32, u32)>,
    pub v6: Vec<(u128, u128)>,
}

impl Nets {
    pub fn push(&mut self, r: NetRange) {
        match r {
            NetRange::V4(lo, hi) => self.v4.push((lo, hi)),
            NetRange::V6(lo, hi) => self.v6.push((lo, hi)),
        }
    }

    pub fn extend(&mut self, other: &Nets) {
        self.v4.extend_from_slice(&other.v4);
        self.v6.extend_from_slice(&other.v6);
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

    pub fn shrink_to_fit(&mut self) {
        self.v4.shrink_to_fit();
        self.v6.shrink_to_fit();
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
}
