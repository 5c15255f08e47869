//! Where `verify`'s lab sits in the address space (pure): the blocks its links'
//! subnets are cut from, chosen disjoint from every net the rulesets name.
//!
//! Client links use one IPv4 /16 and one IPv6 /48, far links another pair: link `k`
//! gets the block's `k`-th /24 and /64. The blocks are the first candidates no net
//! of the policy (or the `--against` ruleset) touches: 198.18.0.0/16 and
//! 198.19.0.0/16, fd00:6877::/48 and fd00:6877:1::/48 unless the policy names
//! them, then other shared and private /16s, then every unicast /16; for IPv6
//! the other /48s of fd00:6877::/32, then those of 2001:db8::/32.
//! When the policy's nets cover every candidate (`0.0.0.0/0`, `::/0`), the lab
//! deliberately uses a block inside them that no net's boundary crosses, so
//! every lab address is matched alike, and says so in a note.

use crate::ir::{AddrMatch, Interval, Match, Ruleset, SetKey, normalize_intervals};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Host bits of a v4 block (/16) and a v6 block (/48).
const V4_HOST_BITS: u32 = 16;
const V6_HOST_BITS: u32 = 80;

/// The blocks of one side of the lab: `v4` a /16 network, `v6` a /48 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub v4: u32,
    pub v6: u128,
}

impl Block {
    /// The block's IPv4 address with link index `k` and host part `last`.
    pub fn v4_addr(self, k: u8, last: u8) -> Ipv4Addr {
        Ipv4Addr::from(self.v4 | (u32::from(k) << 8) | u32::from(last))
    }

    /// The block's IPv6 address in link `k`'s /64 with interface id `last`.
    pub fn v6_addr(self, k: u8, last: u16) -> Ipv6Addr {
        Ipv6Addr::from(self.v6 | (u128::from(k) << 64) | u128::from(last))
    }

    /// Whether `a` lies inside the block (any link's subnet, used or not).
    pub fn holds(self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => u32::from(a) >> V4_HOST_BITS == self.v4 >> V4_HOST_BITS,
            IpAddr::V6(a) => u128::from(a) >> V6_HOST_BITS == self.v6 >> V6_HOST_BITS,
        }
    }
}

/// The lab's blocks: client links', far links', and why they overlap the policy's
/// nets when they had to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LabNets {
    pub client: Block,
    pub far: Block,
    pub note: Option<String>,
}

impl LabNets {
    /// Whether `a` is inside either side's block: never an extra probe address.
    pub fn reserved(&self, a: IpAddr) -> bool {
        self.client.holds(a) || self.far.holds(a)
    }
}

/// Every net `rulesets` name, per family, sorted and merged, with the boundaries
/// they draw (each net's first address and the one after its last).
struct Named {
    merged: Vec<Interval>,
    cuts: Vec<u128>,
    /// Every net's first and last address, sorted (how many nets hold an address).
    los: Vec<u128>,
    his: Vec<u128>,
}

impl Named {
    fn new(mut ivs: Vec<Interval>) -> Named {
        let mut cuts: Vec<u128> = ivs
            .iter()
            .flat_map(|iv| [Some(iv.lo), iv.hi.checked_add(1)])
            .flatten()
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut los: Vec<u128> = ivs.iter().map(|iv| iv.lo).collect();
        let mut his: Vec<u128> = ivs.iter().map(|iv| iv.hi).collect();
        los.sort_unstable();
        his.sort_unstable();
        normalize_intervals(&mut ivs);
        Named {
            merged: ivs,
            cuts,
            los,
            his,
        }
    }

    /// How many of the nets hold `v`.
    fn depth(&self, v: u128) -> usize {
        self.los.partition_point(|lo| *lo <= v) - self.his.partition_point(|hi| *hi < v)
    }

    fn touches(&self, b: &Interval) -> bool {
        let i = self.merged.partition_point(|iv| iv.hi < b.lo);
        self.merged.get(i).is_some_and(|iv| iv.lo <= b.hi)
    }

    /// Whether a boundary falls strictly inside `b` (two of its addresses matched differently).
    fn cut_inside(&self, b: &Interval) -> bool {
        let i = self.cuts.partition_point(|c| *c <= b.lo);
        self.cuts.get(i).is_some_and(|c| *c <= b.hi)
    }
}

/// The lab's blocks for `rs` (and the `--against` ruleset's nets too).
pub(crate) fn choose(rs: &Ruleset, against: Option<&Ruleset>) -> LabNets {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for r in std::iter::once(rs).chain(against) {
        named_nets(r, &mut v4, &mut v6);
    }
    let (v4, v6) = (Named::new(v4), Named::new(v6));
    let (c4, f4, ok4) = pick_two(&v4, v4_candidates, V4_HOST_BITS);
    let (c6, f6, ok6) = pick_two(&v6, v6_candidates, V6_HOST_BITS);
    let client = Block {
        v4: c4 as u32,
        v6: c6,
    };
    let far = Block {
        v4: f4 as u32,
        v6: f6,
    };
    let note = overlap_note(client, far, [ok4, ok6]);
    LabNets { client, far, note }
}

/// How well a pair of blocks keeps out of the policy's nets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    /// No net touches them.
    Disjoint,
    /// Inside nets, but no boundary crosses them: every address is matched alike.
    Uniform,
    /// A boundary crosses them.
    Crossed,
}

/// A fresh walk over one family's candidate blocks, in order of preference.
type Candidates = fn() -> Box<dyn Iterator<Item = u128>>;

/// Two distinct blocks (client, far) as free of the policy's nets as any
/// candidate is, and how free that is.
fn pick_two(named: &Named, candidates: Candidates, host_bits: u32) -> (u128, u128, Fit) {
    let block = |base: u128| Interval {
        lo: base,
        hi: base | ((1u128 << host_bits) - 1),
    };
    let fits = |base: u128, fit: Fit| match fit {
        Fit::Disjoint => !named.touches(&block(base)),
        Fit::Uniform => !named.cut_inside(&block(base)),
        Fit::Crossed => true,
    };
    let mut found = candidates().filter(|b| fits(*b, Fit::Disjoint));
    if let Some(first) = found.next()
        && let Some(second) = found.find(|b| *b != first)
    {
        return (first, second, Fit::Disjoint);
    }
    // Inside the fewest nets: the lab's addresses then stand for as little as can be.
    for fit in [Fit::Uniform, Fit::Crossed] {
        let mut found: Vec<(usize, u128)> = candidates()
            .filter(|b| fits(*b, fit))
            .map(|b| (named.depth(b), b))
            .collect();
        found.sort_by_key(|(depth, _)| *depth); // stable: preference order within a depth
        if let Some(&(_, first)) = found.first()
            && let Some(&(_, second)) = found.iter().find(|(_, b)| *b != first)
        {
            return (first, second, fit);
        }
    }
    let mut all = candidates();
    let first = all.next().unwrap_or(0);
    (
        first,
        all.find(|b| *b != first).unwrap_or(first),
        Fit::Crossed,
    )
}

/// The v4 candidates (/16 networks): the benchmarking pair, shared and private
/// space, then every unicast /16 (not 0/8, loopback, link-local or 224/3).
fn v4_candidates() -> Box<dyn Iterator<Item = u128>> {
    let net = |a: u8, b: u8| u128::from(u32::from(Ipv4Addr::new(a, b, 0, 0)));
    let preferred = [(198, 18), (198, 19)]
        .into_iter()
        .chain((64..=127).map(|b| (100, b)))
        .chain((16..=31).map(|b| (172, b)))
        .chain([(192, 168)])
        .chain((0..=255).map(|b| (10, b)));
    let scan = (1..=223u8)
        .filter(|a| *a != 127)
        .flat_map(|a| (0..=255u8).map(move |b| (a, b)))
        .filter(|(a, b)| (*a, *b) != (169, 254));
    Box::new(preferred.chain(scan).map(move |(a, b)| net(a, b)))
}

/// The v6 candidates (/48 networks) in fd00:6877::/32, then 2001:db8::/32.
fn v6_candidates() -> Box<dyn Iterator<Item = u128>> {
    let net = |a: u16, b: u16, c: u16| u128::from(Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0));
    let ula = (0..=u16::MAX).map(move |c| net(0xfd00, 0x6877, c));
    let doc = (0..=u16::MAX).map(move |c| net(0x2001, 0xdb8, c));
    Box::new(ula.chain(doc))
}

/// Every address net a rule of `rs` matches on (sources and destinations, any
/// chain) and every element of its address sets.
fn named_nets(rs: &Ruleset, v4: &mut Vec<Interval>, v6: &mut Vec<Interval>) {
    for set in &rs.table.sets {
        match set.key {
            SetKey::Ipv4Addr => v4.extend(set.elements.iter()),
            SetKey::Ipv6Addr => v6.extend(set.elements.iter()),
            _ => {}
        }
    }
    let rules = rs.table.chains.iter().flat_map(|c| &c.rules);
    for m in rules.flat_map(|r| &r.matches) {
        match m {
            Match::Saddr(AddrMatch::V4(n)) | Match::Daddr(AddrMatch::V4(n)) => {
                v4.push(Interval::from_v4(*n));
            }
            Match::Saddr(AddrMatch::V6(n)) | Match::Daddr(AddrMatch::V6(n)) => {
                v6.push(Interval::from_v6(*n));
            }
            _ => {}
        }
    }
}

/// The note when a family's blocks could not keep out of the policy's nets.
fn overlap_note(client: Block, far: Block, fits: [Fit; 2]) -> Option<String> {
    let mut parts = Vec::new();
    for (v4, fit) in [true, false].into_iter().zip(fits) {
        let blocks = if v4 {
            format!("{}/16 and {}/16", client.v4_addr(0, 0), far.v4_addr(0, 0))
        } else {
            format!("{}/48 and {}/48", client.v6_addr(0, 0), far.v6_addr(0, 0))
        };
        match fit {
            Fit::Disjoint => {}
            Fit::Uniform => parts.push(format!(
                "{blocks} (no boundary of the policy's nets crosses them: every test address \
                 is matched alike)"
            )),
            Fit::Crossed => parts.push(format!(
                "{blocks} (crossed by the policy's nets like every candidate: each probe from \
                 a test link's own address is expected as the nets holding it say)"
            )),
        }
    }
    (!parts.is_empty()).then(|| {
        format!(
            "the policy's nets cover every candidate test range, so the test links use \
             addresses inside them on purpose: {}",
            parts.join("; ")
        )
    })
}

#[cfg(test)]
#[path = "lab_nets_tests.rs"]
mod tests;
