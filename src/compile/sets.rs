//! Named sets of the compiled table: creation with unique names, sharing of a network's set
//! between rules, and the split of very large interval sets.
//!
//! Why split: the kernel keeps an interval set in an rbtree and dumps it (`nft list`,
//! `hostwall diff`) by re-walking the tree from its first element for every netlink message
//! of at most 32 KiB (`nft_rbtree_walk` skips `iter->skip` elements; `nf_tables_dump_set`
//! sets `skip` to what earlier messages held). Reading back one set of n intervals (2n
//! kernel elements) therefore costs O(n²). Sets of at most [`MAX_SET_ELEMENTS`] keep each
//! walk short, so the whole read-back is linear in n; the price is one more rule (one more
//! set lookup) per chunk for a packet that reaches them. Only sets past the limit change.
//! Where a list is cut is chosen from its elements (`sets/split.rs`), so a re-apply in
//! place touches only the sets its change falls in.

mod split;

use super::Lowering;
use crate::ir::{self, AddrMatch, Interval, Packed, Set, SetKey};
use crate::model::IpFamily;
use crate::nets::{self, Normalized, Piece};
use crate::source::Span;
use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Largest interval set written as one set; chosen by measurement (see
/// docs/policy-language.md, "Large address lists", and `benches/set_split.sh`): the
/// kernel rebuilds every set a batch touches, so a change costs in proportion to its
/// set's size, while each set's rule tests the set's range before its lookup
/// (`Lowering::guard`), so a packet pays one lookup and a comparison per other set.
pub const MAX_SET_ELEMENTS: usize = 4_096;

/// An address set already made, so a second rule naming the same network reuses it. Its
/// elements are not kept twice: they are compared with the sets made (`names`, in order).
pub(super) struct Shared {
    len: usize,
    names: Vec<String>,
}

/// A network's ranges of one family, for its sets. IPv4 stays packed (8 bytes a range) into
/// each set's own elements; a list already sorted and apart is not even copied before (the
/// checked policy's own).
pub(super) enum Ranges<'a> {
    V4(Cow<'a, [(u32, u32)]>),
    /// A network made of others (`define all = a, b`): its runs read where they are
    /// while they are in order and apart across the runs (a million addresses in four
    /// lists: 8 MB not copied before the sets are made); and a list put in order with
    /// a few entries moved, its runs between them read in place (100,000 prefixes with
    /// one moved: 0.8 MB not copied).
    V4Parts(V4Parts<'a>),
    Wide(Vec<Interval>),
}

/// IPv4 ranges held in several runs, in order: runs of the policy's lists, in place, and
/// entries moved where they belong when a list was put in order.
pub(super) struct V4Parts<'a> {
    parts: Vec<Piece<'a>>,
    /// Where each part starts in the whole list.
    starts: Vec<usize>,
    len: usize,
}

impl<'a> V4Parts<'a> {
    pub(super) fn new(parts: impl Iterator<Item = &'a [(u32, u32)]>) -> V4Parts<'a> {
        V4Parts::of(parts.map(Piece::Run).collect())
    }

    fn of(parts: Vec<Piece<'a>>) -> V4Parts<'a> {
        let parts: Vec<_> = parts
            .into_iter()
            .filter(|p| !p.as_slice().is_empty())
            .collect();
        let mut starts = Vec::with_capacity(parts.len());
        let mut len = 0;
        for p in &parts {
            starts.push(len);
            len += p.as_slice().len();
        }
        V4Parts { parts, starts, len }
    }

    /// The runs of the policy's lists, when the parts are nothing else.
    fn runs(&self) -> Option<Vec<&'a [(u32, u32)]>> {
        (self.parts.iter())
            .map(|p| match p {
                Piece::Run(run) => Some(*run),
                Piece::Moved(_) => None,
            })
            .collect()
    }

    /// The pieces of the parts that hold the ranges `at`, in order.
    fn slices(&self, at: std::ops::Range<usize>) -> impl Iterator<Item = &[(u32, u32)]> + '_ {
        let first = self
            .starts
            .partition_point(|&s| s <= at.start)
            .saturating_sub(1);
        (first..self.parts.len()).map_while(move |k| {
            let (s, p) = (self.starts[k], self.parts[k].as_slice());
            (s < at.end || k == first).then(|| {
                let to = at.end.saturating_sub(s).min(p.len());
                &p[at.start.saturating_sub(s).min(to)..to]
            })
        })
    }
}

/// The ranges of `runs` in order ([`nets::normalized_pieces`]): in place when they can be.
fn in_order<'a>(runs: &[&'a [(u32, u32)]]) -> Ranges<'a> {
    match nets::normalized_pieces(runs) {
        Normalized::Pieces(pieces) => Ranges::V4Parts(V4Parts::of(pieces)),
        Normalized::List(v) => Ranges::V4(Cow::Owned(v)),
    }
}

impl Ranges<'_> {
    /// Sorts and merges overlapping or adjacent ranges (as [`ir::normalize_intervals`]).
    fn normalize(&mut self) {
        match self {
            Ranges::V4(v) if nets::is_normal_v4(v) => {}
            Ranges::V4(Cow::Owned(v)) => nets::normalize_v4(v),
            Ranges::V4(Cow::Borrowed(b)) => *self = in_order(&[b]),
            Ranges::V4Parts(p) if nets::pieces_normal(&p.parts) => {}
            Ranges::V4Parts(p) => {
                *self = match p.runs() {
                    Some(runs) => in_order(&runs),
                    None => {
                        let mut v: Vec<_> = p.slices(0..p.len).flatten().copied().collect();
                        nets::normalize_v4(&mut v);
                        Ranges::V4(Cow::Owned(v))
                    }
                };
            }
            Ranges::Wide(v) => ir::normalize_intervals(v),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Ranges::V4(v) => v.len(),
            Ranges::V4Parts(p) => p.len,
            Ranges::Wide(v) => v.len(),
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<Interval> {
        match self {
            Ranges::V4(v) => v.get(i).map(wide),
            Ranges::V4Parts(p) => p.slices(i..i + 1).find_map(|s| s.first()).map(wide),
            Ranges::Wide(v) => v.get(i).copied(),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = Interval> + '_> {
        match self {
            Ranges::V4Parts(p) => Box::new(p.slices(0..p.len).flat_map(|s| s.iter().map(wide))),
            _ => Box::new((0..self.len()).filter_map(|i| self.get(i))),
        }
    }

    /// The ranges `at`, as a set holds them.
    fn chunk(&self, at: std::ops::Range<usize>) -> Packed {
        match self {
            Ranges::V4(v) => Packed::from_v4(&v[at]),
            Ranges::V4Parts(p) => Packed::from_v4_parts(p.slices(at.clone()), at.len()),
            Ranges::Wide(v) => Packed::from(&v[at]),
        }
    }
}

impl Lowering {
    /// The sets for a network's addresses (several when it is large), made once per
    /// (name, key, elements) and shared by every rule naming it; origins are merged.
    pub(super) fn shared_sets(
        &mut self,
        name: &str,
        key: SetKey,
        mut elems: Ranges<'_>,
        origin: &[Span],
    ) -> Vec<String> {
        elems.normalize();
        let made = self.shared.get(&(name.to_string(), key));
        // As before splitting: shared only when the first set kept the name asked for.
        let found = made.and_then(|m| {
            m.iter().find(|s| {
                s.names.first().is_some_and(|n| n == name)
                    && s.len == elems.len()
                    && self.elements_of(&s.names).eq(elems.iter())
            })
        });
        if let Some(found) = found {
            let names = found.names.clone();
            for n in &names {
                if let Some(&i) = self.set_at.get(n) {
                    self.sets[i].origin.extend_from_slice(origin);
                }
            }
            return names;
        }
        let names = self.chunked(name, key, &elems, origin);
        self.shared
            .entry((name.to_string(), key))
            .or_default()
            .push(Shared {
                len: elems.len(),
                names: names.clone(),
            });
        names
    }

    /// The elements of the sets `names`, in order.
    fn elements_of<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = Interval> + 'a {
        (names.iter())
            .filter_map(|n| self.set_at.get(n).map(|&i| &self.sets[i].elements))
            .flat_map(Packed::iter)
    }

    /// The sets for one port atom (several when it has very many ranges).
    pub(super) fn port_sets(
        &mut self,
        name: &str,
        ports: &[Interval],
        origin: &[Span],
    ) -> Vec<String> {
        let ports = Ranges::Wide(ports.to_vec());
        self.chunked(name, SetKey::InetService, &ports, origin)
    }

    /// Interval sets of at most `max_set_elements` each, cut where the elements say
    /// (`split`): `NAME`, then `NAME_<hex label>` for each further one.
    fn chunked(
        &mut self,
        name: &str,
        key: SetKey,
        elems: &Ranges<'_>,
        origin: &[Span],
    ) -> Vec<String> {
        let (bits, max) = (block_bits(key), self.max_set_elements);
        // One reader of start values per form: the cut reads every element's.
        let at = match elems {
            Ranges::V4(v) => split::pieces(v.len(), |r| v[r].iter().map(|e| e.0.into()), bits, max),
            Ranges::V4Parts(p) => {
                let starts = |r| p.slices(r).flat_map(|s| s.iter().map(|e| u128::from(e.0)));
                split::pieces(p.len, starts, bits, max)
            }
            Ranges::Wide(v) => split::pieces(v.len(), |r| v[r].iter().map(|e| e.lo), bits, max),
        };
        at.into_iter()
            .map(|p| {
                let n = match p.at.start {
                    0 => name.to_string(),
                    _ => piece_name(name, key, p.label),
                };
                let chunk = elems.chunk(p.at);
                self.set(&n, key, true, chunk, origin.to_vec())
            })
            .collect()
    }

    /// Adds a new named set, making the name unique; returns the name used.
    pub(super) fn set(
        &mut self,
        name: &str,
        key: SetKey,
        interval: bool,
        elems: impl Into<Packed>,
        origin: Vec<Span>,
    ) -> String {
        let mut elems = elems.into();
        // Suffixes already tried for this name are not tried again: naming n sets from
        // one stem costs n probes, not n squared.
        let mut unique = name.to_string();
        let mut n = self.suffixes.get(name).copied().unwrap_or(2);
        while self.names.contains(&unique) {
            crate::work::add(1);
            unique = format!("{name}_{n}");
            n += 1;
        }
        self.suffixes.insert(name.to_string(), n);
        self.names.insert(unique.clone());
        self.set_at.insert(unique.clone(), self.sets.len());
        elems.normalize();
        self.sets.push(Set {
            name: unique.clone(),
            key,
            interval,
            elements: elems,
            comment: None,
            timeout_ms: None,
            origin,
        });
        unique
    }
}

/// An IPv4 range as an interval.
fn wide(&(lo, hi): &(u32, u32)) -> Interval {
    Interval {
        lo: lo.into(),
        hi: hi.into(),
    }
}

/// The blocks a list of `key` is first cut at: a /24 of IPv4, a /64 of IPv6, single ports.
fn block_bits(key: SetKey) -> u32 {
    match key {
        SetKey::Ipv4Addr => 8,
        SetKey::Ipv6Addr => 64,
        SetKey::InetService | SetKey::IcmpType | SetKey::Icmpv6Type => 0,
    }
}

/// The name of a piece after the list's first: the list's name and the piece's first
/// start value in hex, as wide as the key.
fn piece_name(name: &str, key: SetKey, start: u128) -> String {
    let width = match key {
        SetKey::Ipv6Addr => 32,
        SetKey::Ipv4Addr => 8,
        SetKey::InetService | SetKey::IcmpType | SetKey::Icmpv6Type => 4,
    };
    format!("{name}_{start:0width$x}")
}

impl Lowering {
    /// The range from the first to the last address of the set `name`, when it has two:
    /// a packet outside it skips the set's lookup (a list cut into several sets).
    pub(super) fn guard(&self, fam: IpFamily, name: &str) -> Option<AddrMatch> {
        let set = &self.sets[*self.set_at.get(name)?];
        let (lo, hi) = (set.elements.first()?.lo, set.elements.last()?.hi);
        (lo < hi).then_some(())?;
        Some(match fam {
            IpFamily::V4 => AddrMatch::Range4(
                Ipv4Addr::from(u32::try_from(lo).ok()?),
                Ipv4Addr::from(u32::try_from(hi).ok()?),
            ),
            IpFamily::V6 => AddrMatch::Range6(Ipv6Addr::from(lo), Ipv6Addr::from(hi)),
        })
    }
}

#[cfg(test)]
mod delta_tests;

#[cfg(test)]
mod tests {
    use crate::check::{NoIncludes, check};
    use crate::compile::{Options, compile_with};
    use crate::eval::{self, L4, Packet};
    use crate::ir::{AddrMatch, Hook, Match, PortMatch, Ruleset, Verdict};
    use crate::source::SourceMap;

    fn compiled(text: &str, max: usize) -> Ruleset {
        let mut map = SourceMap::new();
        let file = map.add("t.policy", text.to_string());
        let (policy, diags) = check(&mut map, file, None, &NoIncludes);
        let policy = policy.unwrap_or_else(|| panic!("policy must check: {diags:?}"));
        compile_with(
            &policy,
            &Options {
                max_set_elements: max,
            },
        )
    }

    fn verdict(rs: &Ruleset, src: &str, port: u16) -> Verdict {
        let pkt = Packet::new_inbound(
            src.parse().expect("address"),
            "192.0.2.1".parse().expect("address"),
            "eth0",
            L4::Tcp { dport: port },
        );
        eval::evaluate(rs, Hook::Input, &pkt)
            .expect("evaluates")
            .verdict
    }

    /// A network made of others is read from their lists where they lie, in order and
    /// apart; cut into pieces across their joints, or merged first when they overlap,
    /// touch or come out of order, its sets are those of the same addresses in one list.
    #[test]
    fn a_network_made_of_others_makes_the_sets_of_one_list() {
        let list = |r: std::ops::Range<u32>| {
            r.map(|i| format!("10.{}.{}.0/30", i / 256, i % 256))
                .collect::<Vec<_>>()
        };
        let cases: [(Vec<String>, Vec<String>); 4] = [
            (list(0..7), list(7..20)),
            (list(7..20), list(0..7)),
            (list(0..10), list(5..15)),
            (list(0..5), vec!["10.0.5.0/24".into(), "10.0.4.4/30".into()]),
        ];
        let sets = |rs: &Ruleset| -> Vec<(String, Vec<crate::ir::Interval>)> {
            (rs.table.sets.iter())
                .map(|s| (s.name.clone(), s.elements.to_vec()))
                .collect()
        };
        for (a, b) in cases {
            let parts = format!(
                "policy p {{\n    define a = {}\n    define b = {}\n    define all = a, b\n    allow ssh tcp 22 from all\n}}\n",
                a.join(", "),
                b.join(", ")
            );
            let one = format!(
                "policy p {{\n    define all = {}, {}\n    allow ssh tcp 22 from all\n}}\n",
                a.join(", "),
                b.join(", ")
            );
            let (from_parts, from_one) = (compiled(&parts, 4), compiled(&one, 4));
            assert!(from_one.table.sets.len() > 3, "cut into pieces");
            assert_eq!(sets(&from_parts), sets(&from_one), "{a:?} {b:?}");
        }
    }

    #[test]
    fn large_address_set_becomes_pieces_named_by_their_first_element_with_one_rule_each() {
        let text = crate::bench_support::policy(10, 0);
        let rs = compiled(&text, 4);
        let pieces = &rs.table.sets[1..];
        assert_eq!(rs.table.sets[0].name, "icmpv6_nd");
        assert_eq!(pieces[0].name, "src_big_v4");
        assert!(pieces.len() >= 3, "{} pieces", pieces.len());
        for p in &pieces[1..] {
            assert_eq!(p.name, format!("src_big_v4_{:08x}", p.elements.get(0).lo));
        }
        assert!(pieces.iter().all(|p| (1..=4).contains(&p.elements.len())));
        let all: Vec<_> = pieces.iter().flat_map(|p| p.elements.iter()).collect();
        assert_eq!(all.len(), 10);
        assert!(
            all.windows(2).all(|w| w[0].hi < w[1].lo),
            "in order, disjoint"
        );
        let rules = &rs.table.chains[0].rules;
        let at: Vec<usize> = (rules.iter().enumerate())
            .filter(|(_, r)| {
                r.matches
                    .iter()
                    .any(|m| matches!(m, Match::Saddr(AddrMatch::Set4(_))))
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), pieces.len());
        assert!(
            at.windows(2).all(|w| w[1] == w[0] + 1),
            "consecutive: {at:?}"
        );
        for &i in &at {
            assert_eq!(rules[i].verdict, Some(Verdict::Accept));
            assert_eq!(rules[i].comment.as_deref(), Some("ssh"));
        }
        // Every network still matches (first, middle, last chunk); a gap and outside do not.
        for (src, want) in [
            ("10.0.0.1", Verdict::Accept),
            ("10.0.0.41", Verdict::Accept),
            ("10.0.0.75", Verdict::Accept),
            ("10.0.0.5", Verdict::Drop),
            ("10.0.0.80", Verdict::Drop),
        ] {
            let got = verdict(&rs, src, 22);
            let got = if matches!(got, Verdict::Reject(_)) {
                Verdict::Drop
            } else {
                got
            };
            assert_eq!(got, want, "{src}");
        }
    }

    /// A list cut into sets: each set's rule tests the range from the set's first to its
    /// last address, then looks the set up; the ranges follow one another without
    /// overlapping, IPv6 as IPv4; a list in one set has no range.
    #[test]
    fn each_piece_is_looked_up_behind_its_own_range() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        let v4: Vec<String> = (0..3_000u32)
            .map(|i| format!("{}/30", Ipv4Addr::from(0x0a00_0000 + i * 8)))
            .collect();
        let v6: Vec<String> = (0..3_000u128)
            .map(|i| format!("{}/126", Ipv6Addr::from((0x2001_0db8u128 << 96) + i * 8)))
            .collect();
        let text = format!(
            "policy p {{\n    define big = {}, {}\n    allow tcp 22 from big\n}}\n",
            v4.join(", "),
            v6.join(", ")
        );
        let rs = compiled(&text, 256);
        let set = |n: &str| rs.table.sets.iter().find(|s| s.name == n).expect("set");
        let mut ends: Vec<(bool, u128, u128)> = Vec::new();
        for r in rs.table.chains.iter().flat_map(|c| &c.rules) {
            let looked = r
                .matches
                .iter()
                .position(|m| matches!(m, Match::Saddr(AddrMatch::Set4(_) | AddrMatch::Set6(_))));
            let Some(at) = looked else { continue };
            let (name, range) = match (&r.matches[at], at.checked_sub(1).map(|i| &r.matches[i])) {
                (Match::Saddr(AddrMatch::Set4(n)), Some(Match::Saddr(AddrMatch::Range4(a, b)))) => {
                    (n, (false, u32::from(*a).into(), u32::from(*b).into()))
                }
                (Match::Saddr(AddrMatch::Set6(n)), Some(Match::Saddr(AddrMatch::Range6(a, b)))) => {
                    (n, (true, u128::from(*a), u128::from(*b)))
                }
                (m, before) => panic!("{m:?} after {before:?}: no range"),
            };
            let s = set(name);
            let want = (
                s.elements.first().expect("first").lo,
                s.elements.last().expect("last").hi,
            );
            assert_eq!((range.1, range.2), want, "{name}");
            ends.push(range);
        }
        assert!(ends.len() >= 20, "the lists are cut: {}", ends.len());
        for w in ends.windows(2).filter(|w| w[0].0 == w[1].0) {
            assert!(w[0].2 < w[1].1, "ranges overlap: {w:?}");
        }
        let whole = compiled(&text, usize::MAX);
        let ranged = |m: &Match| {
            matches!(
                m,
                Match::Saddr(AddrMatch::Range4(..) | AddrMatch::Range6(..))
            )
        };
        assert!(
            !whole
                .table
                .chains
                .iter()
                .flat_map(|c| &c.rules)
                .any(|r| r.matches.iter().any(ranged))
        );
    }

    /// The hash behind the cuts is fixed arithmetic: this list is cut here on any machine.
    #[test]
    fn the_cuts_of_a_known_list_are_the_same_on_every_machine() {
        let text = crate::bench_support::policy(100_000, 0);
        let rs = compiled(&text, super::MAX_SET_ELEMENTS);
        let got: Vec<(&str, usize)> = (rs.table.sets.iter().skip(1).take(4))
            .map(|s| (s.name.as_str(), s.elements.len()))
            .collect();
        let want = [
            ("src_big_v4", 1888),
            ("src_big_v4_0a003b00", 2880),
            ("src_big_v4_0a009500", 1536),
            ("src_big_v4_0a00c500", 2336),
        ];
        assert_eq!(got, want);
        assert_eq!(rs.table.sets.len(), 68);
    }

    #[test]
    fn small_sets_and_default_limit_keep_one_set() {
        let text = crate::bench_support::policy(10, 0);
        let rs = compiled(&text, super::MAX_SET_ELEMENTS);
        assert_eq!(rs.table.sets.len(), 2);
        let rs = compiled(&text, 10);
        assert_eq!(rs.table.sets.len(), 2);
    }

    #[test]
    fn network_used_twice_shares_its_chunks() {
        let text = "policy p {\n define big = 10.0.0.0/30, 10.0.0.8/30, 10.0.0.16/30\n \
                    allow tcp 22 from big\n allow udp 53 from big\n}\n";
        let rs = compiled(text, 2);
        let names: Vec<&str> = rs.table.sets.iter().map(|s| s.name.as_str()).collect();
        // At most 2 a set, and every element a boundary candidate at so small a maximum.
        assert_eq!(
            names,
            [
                "icmpv6_nd",
                "src_big_v4",
                "src_big_v4_0a000008",
                "src_big_v4_0a000010"
            ]
        );
        assert_eq!(
            rs.table.sets[1].origin.len(),
            2,
            "origins of both rules merged"
        );
    }

    #[test]
    fn large_port_set_splits_too() {
        let text = crate::bench_support::policy(0, 5);
        let rs = compiled(&text, 2);
        let port_sets: Vec<&str> = (rs.table.sets.iter())
            .filter(|s| s.name.starts_with("allow_tcp"))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(port_sets[0], "allow_tcp");
        assert!(port_sets.len() >= 3, "{port_sets:?}");
        assert!(port_sets[1..].iter().all(|n| n.starts_with("allow_tcp_27")));
        let rules = &rs.table.chains[0].rules;
        let n = (rules.iter())
            .filter(|r| {
                r.matches
                    .iter()
                    .any(|m| matches!(m, Match::Dport(_, PortMatch::Set(_))))
            })
            .count();
        assert_eq!(n, port_sets.len());
        for port in [10_000, 10_004, 10_008] {
            assert_eq!(verdict(&rs, "10.1.1.1", port), Verdict::Accept, "{port}");
        }
        assert_ne!(verdict(&rs, "10.1.1.1", 10_010), Verdict::Accept);
    }

    /// Thousands of sets from one name stem (inline address lists) get
    /// `NAME`, `NAME_2`, ... with work growing linearly (counted, not timed).
    #[test]
    fn many_sets_from_one_stem_are_named_in_linear_work() {
        let work = |n: usize| {
            let text: String = (0..n)
                .map(|i| {
                    let (a, b) = (i / 250, i % 250);
                    format!(" allow tcp 22 from 10.0.{a}.{b}, 10.1.{a}.{b}\n")
                })
                .collect();
            let text = format!("policy p {{\n{text}}}\n");
            let mut map = SourceMap::new();
            let file = map.add("t.policy", text);
            let (policy, diags) = check(&mut map, file, None, &NoIncludes);
            let policy = policy.unwrap_or_else(|| panic!("policy must check: {diags:?}"));
            crate::work::take();
            let rs = compile_with(&policy, &Options::default());
            let steps = crate::work::take();
            let names: Vec<&str> = rs.table.sets.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names.len(), n + 1);
            assert_eq!(
                names[1..4],
                ["allow_src_v4", "allow_src_v4_2", "allow_src_v4_3"]
            );
            assert_eq!(names[n], format!("allow_src_v4_{n}"));
            steps
        };
        let (small, large) = (work(2_000), work(4_000));
        assert!(
            large * 10 <= small * 23,
            "work {small} -> {large} for twice the sets"
        );
    }
}
