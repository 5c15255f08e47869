//! Earlier rules by the traffic they match, so the order check compares a rule only with
//! the earlier rules whose traffic can meet its own: per protocol a segment tree over the
//! port space, plus lists of the rules matching anything and of ICMP rules per family.

use crate::model::{IpFamily, Proto};
use crate::pages::Zeroed;

/// Leaves of a port tree: one per port number.
const LEAVES: usize = 1 << 16;

/// Port ranges of earlier rules; a range is stored at the O(log) nodes that tile it.
struct PortTree {
    /// Per node, 1 + the index in `lists` of the rules whose range covers the node's
    /// whole interval (and not its parent's), or 0 for none. Zeroed memory the kernel
    /// maps lazily: only the pages of nodes in use are ever touched, where a list per
    /// node would write 3 MiB for the first rule with a port.
    at: Zeroed<u32>,
    lists: Vec<Vec<u32>>,
    /// Entries stored in each node's subtree, to skip empty subtrees.
    below: Zeroed<u32>,
}

impl PortTree {
    fn new() -> PortTree {
        PortTree {
            at: Zeroed::new(2 * LEAVES),
            lists: Vec::new(),
            below: Zeroed::new(2 * LEAVES),
        }
    }

    /// The rules stored at `node`.
    fn at(&self, node: usize) -> &[u32] {
        match self.at[node] {
            0 => &[],
            i => &self.lists[i as usize - 1],
        }
    }

    fn insert(&mut self, lo: u16, hi: u16, rule: u32) {
        for node in tiles(lo, hi) {
            if self.at[node] == 0 {
                self.lists.push(Vec::new());
                self.at[node] = self.lists.len() as u32;
            }
            self.lists[self.at[node] as usize - 1].push(rule);
            let mut x = node;
            while x >= 1 {
                self.below[x] += 1;
                x /= 2;
            }
        }
    }

    /// Adds every stored rule whose range meets `lo..=hi` (with repeats) to `out`; false
    /// as soon as `out` would pass `max`.
    fn meeting(&self, lo: u16, hi: u16, out: &mut Vec<u32>, max: usize) -> bool {
        let mut stack = Vec::new();
        for node in tiles(lo, hi) {
            // Ranges stored above the tile contain it.
            let mut x = node / 2;
            while x >= 1 {
                if !push_all(out, self.at(x), max) {
                    return false;
                }
                x /= 2;
            }
            // Ranges stored in the tile's subtree lie inside it.
            stack.push(node);
            while let Some(x) = stack.pop() {
                if self.below[x] == 0 {
                    continue;
                }
                if !push_all(out, self.at(x), max) {
                    return false;
                }
                if x < LEAVES {
                    stack.extend([2 * x, 2 * x + 1]);
                }
            }
        }
        true
    }
}

fn push_all(out: &mut Vec<u32>, rules: &[u32], max: usize) -> bool {
    crate::work::add(1 + rules.len() as u64);
    if out.len() + rules.len() > max {
        return false;
    }
    out.extend_from_slice(rules);
    true
}

/// The nodes tiling `lo..=hi` (at most two per level).
fn tiles(lo: u16, hi: u16) -> Vec<usize> {
    let (mut l, mut r) = (usize::from(lo) + LEAVES, usize::from(hi) + LEAVES + 1);
    let mut out = Vec::new();
    while l < r {
        if l & 1 == 1 {
            out.push(l);
            l += 1;
        }
        if r & 1 == 1 {
            r -= 1;
            out.push(r);
        }
        l /= 2;
        r /= 2;
    }
    out
}

/// What a rule matches, as the index files it.
pub(super) enum Key<'a> {
    Any,
    Ports(&'a [(Proto, u16, u16)]),
    Icmp(IpFamily),
}

/// Earlier rules, filed by what they match.
#[derive(Default)]
pub(super) struct Index {
    any: Vec<u32>,
    icmp: [Vec<u32>; 2],
    ports: [Option<Box<PortTree>>; 3],
}

fn proto_slot(p: Proto) -> usize {
    match p {
        Proto::Tcp => 0,
        Proto::Udp => 1,
        Proto::Sctp => 2,
    }
}

fn family_slot(f: IpFamily) -> usize {
    match f {
        IpFamily::V4 => 0,
        IpFamily::V6 => 1,
    }
}

impl Index {
    pub fn insert(&mut self, rule: u32, key: &Key) {
        match key {
            Key::Any => self.any.push(rule),
            Key::Icmp(f) => self.icmp[family_slot(*f)].push(rule),
            Key::Ports(ports) => {
                for &(p, lo, hi) in ports.iter() {
                    let tree =
                        self.ports[proto_slot(p)].get_or_insert_with(|| Box::new(PortTree::new()));
                    tree.insert(lo, hi, rule);
                }
            }
        }
    }

    /// The earlier rules that could cover or overlap a rule matching `key`, in rule order,
    /// each once; `None` when there are more than `max` of them.
    pub fn candidates(&self, key: &Key, max: usize) -> Option<Vec<u32>> {
        let mut out = Vec::new();
        if !push_all(&mut out, &self.any, max) {
            return None;
        }
        match key {
            Key::Any => {}
            Key::Icmp(f) => {
                if !push_all(&mut out, &self.icmp[family_slot(*f)], max) {
                    return None;
                }
            }
            Key::Ports(ports) => {
                for &(p, lo, hi) in ports.iter() {
                    if let Some(tree) = &self.ports[proto_slot(p)] {
                        if !tree.meeting(lo, hi, &mut out, max) {
                            return None;
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored range meeting a query is found, and no other: checked against a scan.
    #[test]
    fn port_tree_finds_exactly_the_meeting_ranges() {
        let ranges: Vec<(u16, u16)> = (0..300u32)
            .map(|i| {
                let lo = ((i * 7919) % 65_536) as u16;
                let len = [0u32, 1, 5, 300, 20_000][i as usize % 5];
                (lo, (u32::from(lo) + len).min(65_535) as u16)
            })
            .chain([(0, 65_535), (65_535, 65_535), (0, 0)])
            .collect();
        let mut idx = Index::default();
        for (i, &(lo, hi)) in ranges.iter().enumerate() {
            idx.insert(i as u32, &Key::Ports(&[(Proto::Udp, lo, hi)]));
        }
        for q in [
            (0, 0),
            (22, 22),
            (1000, 5000),
            (65_535, 65_535),
            (0, 65_535),
            (40_000, 40_010),
        ] {
            let got = idx
                .candidates(&Key::Ports(&[(Proto::Udp, q.0, q.1)]), usize::MAX)
                .unwrap_or_default();
            let want: Vec<u32> = (ranges.iter().enumerate())
                .filter(|(_, r)| r.0 <= q.1 && q.0 <= r.1)
                .map(|(i, _)| i as u32)
                .collect();
            assert_eq!(got, want, "{q:?}");
            let tcp = idx.candidates(&Key::Ports(&[(Proto::Tcp, q.0, q.1)]), usize::MAX);
            assert_eq!(tcp, Some(Vec::new()), "other protocol");
        }
        assert_eq!(
            idx.candidates(&Key::Ports(&[(Proto::Udp, 0, 65_535)]), 10),
            None
        );
    }
}
