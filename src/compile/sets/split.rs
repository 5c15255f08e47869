//! Where a list too large for one interval set is cut into sets: at boundaries chosen from
//! the elements themselves (content-defined), so a change to the list moves only the
//! elements of the sets it falls in, never the split points of the others.
//!
//! Rule, for a sorted list over the maximum `max` (see docs/policy-language.md, "Large
//! address lists", for the kernel figures behind it). An element's block is its start
//! value with its low `block_bits` cleared (a /24 for IPv4, a /64 for IPv6):
//! - the first element of a block starts a new piece when the hash of the block is
//!   divisible by `d = max / 2` and the current piece already holds `max / 16` elements
//!   (the minimum keeps an input crafted for boundaries from making a set per block);
//! - a piece still over `max` (a dense list: many elements a block) is cut again by the
//!   same rule with `d / 2`, and so on down to `d = 1`; then, a piece still over `max` (one
//!   block holding more), by the same rule over single elements, which at `d = 1` cuts
//!   every `max / 16` elements: no piece exceeds `max`;
//! - the first piece keeps the list's name; every other is labelled by the block (or, cut
//!   inside a block, the element) it starts at, so no name depends on where the others lie.
//!
//! Adding or removing an element changes only its own piece unless it is the first of a
//! new block whose hash makes it a boundary (about one new block in `d`), which splits a
//! piece in two, or the last element of a boundary block, which merges two. A set made
//! in the middle of the others cannot be made in place (the kernel lists sets in the
//! order they were made), so that one apply replaces the table.

use std::ops::Range;

/// How many content-defined pieces fit, on average, in the largest set at the first
/// level (sparse lists: about one element a block); dense lists settle a level or two
/// lower. Fewer, larger sets: fewer lookups on a packet's path, more kernel work per
/// change (docs/policy-language.md).
const PIECES_PER_MAX: usize = 2;
/// The fewest elements a piece holds before it may end, as a fraction of the maximum.
const MIN_PER_MAX: usize = 16;

/// One set's share of the list: elements `at`; `label` names it (when not the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Piece {
    pub at: Range<usize>,
    pub label: u128,
}

/// The pieces of a list of `len` elements whose start values `starts` reads (in order,
/// those of the elements in a range), none larger than `max`; a list of at most `max`
/// elements is one piece.
pub(super) fn pieces<I: Iterator<Item = u128>>(
    len: usize,
    starts: impl Fn(Range<usize>) -> I,
    block_bits: u32,
    max: usize,
) -> Vec<Piece> {
    let c = Cutter {
        starts,
        max: max.max(1),
    };
    let mut out = Vec::new();
    let whole = Piece {
        at: 0..len,
        label: 0,
    };
    c.cut(whole, block_bits.min(127), c.top(), &mut out);
    out
}

struct Cutter<F> {
    starts: F,
    max: usize,
}

impl<I: Iterator<Item = u128>, F: Fn(Range<usize>) -> I> Cutter<F> {
    fn top(&self) -> usize {
        (self.max / PIECES_PER_MAX).max(1)
    }

    /// The fewest elements a piece holds before it may end (the last piece aside): a
    /// sixteenth of the maximum at every level, so a level of finer cuts never makes tiny
    /// sets, and the finest level (a cut every `min` elements) stays under the maximum.
    fn min(&self) -> usize {
        (self.max / MIN_PER_MAX).max(1)
    }

    /// Cuts `p` where a block of `bits` starts whose hash `d` divides, each piece still
    /// over the maximum again at the next level.
    fn cut(&self, p: Piece, bits: u32, d: usize, out: &mut Vec<Piece>) {
        if p.at.len() <= self.max {
            out.push(p);
            return;
        }
        let starts = self.block_starts(&p.at, bits);
        self.cut_at(p, bits, d, &starts, out);
    }

    /// The positions in `at` (its first aside) where a new block of `bits` starts, each
    /// with its block and the block's hash: the only places a cut can fall at this level
    /// and the finer levels of the same `bits`, found in one pass over the elements.
    fn block_starts(&self, at: &Range<usize>, bits: u32) -> Vec<BlockStart> {
        let mut blocks = (self.starts)(at.clone()).map(|s| s >> bits);
        let mut starts = Vec::new();
        let Some(mut prev) = blocks.next() else {
            return starts;
        };
        crate::work::add(at.len().saturating_sub(1) as u64);
        for (i, b) in (at.start + 1..at.end).zip(blocks) {
            if b != prev {
                starts.push(BlockStart {
                    at: i,
                    block: b,
                    hash: mix(b),
                });
            }
            prev = b;
        }
        starts
    }

    /// [`Cutter::cut`] of `p` at level (`bits`, `d`), with `starts` the block starts
    /// inside `p` ([`Cutter::block_starts`]).
    fn cut_at(&self, p: Piece, bits: u32, d: usize, starts: &[BlockStart], out: &mut Vec<Piece>) {
        if p.at.len() <= self.max {
            out.push(p);
            return;
        }
        let min = self.min();
        let mut cuts = vec![p.clone()];
        crate::work::add(starts.len() as u64);
        for s in starts {
            let from = cuts.last().map_or(p.at.start, |c| c.at.start);
            if s.at - from >= min && s.hash % d as u64 == 0 {
                if let Some(last) = cuts.last_mut() {
                    last.at.end = s.at;
                }
                cuts.push(Piece {
                    at: s.at..p.at.end,
                    label: s.block << bits,
                });
            }
        }
        for c in cuts {
            match (d, bits) {
                // Every element was a boundary: pieces of one element.
                (1, 0) => out.push(c),
                (1, _) => self.cut(c, 0, self.top(), out),
                _ => {
                    // The block starts inside `c`, its first element aside.
                    let from = starts.partition_point(|s| s.at <= c.at.start);
                    let to = starts.partition_point(|s| s.at < c.at.end);
                    self.cut_at(c, bits, (d / 2).max(1), &starts[from..to], out);
                }
            }
        }
    }
}

/// Where a new block starts in a list: the element's position, its block, the hash.
struct BlockStart {
    at: usize,
    block: u128,
    hash: u64,
}

/// A fixed 64-bit mix of a start value (splitmix64's finalizer over both halves): the
/// same on every machine, so the same policy always compiles to the same sets.
pub(super) fn mix(v: u128) -> u64 {
    let fin = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (hi, lo) = ((v >> 64) as u64, v as u64);
    fin(fin(hi.wrapping_add(0x9e37_79b9_7f4a_7c15)) ^ lo)
}

#[cfg(test)]
mod tests {
    use super::pieces;

    fn sizes(starts: &[u128], max: usize) -> Vec<usize> {
        cut(starts, max).iter().map(|r| r.len()).collect()
    }

    /// The ranges of the pieces of `starts` (IPv4 starts: /24 blocks).
    fn cut(starts: &[u128], max: usize) -> Vec<std::ops::Range<usize>> {
        let p = pieces(starts.len(), |r| starts[r].iter().copied(), 8, max);
        p.into_iter().map(|p| p.at).collect()
    }

    fn list(n: u128, step: u128) -> Vec<u128> {
        (0..n).map(|i| 0x0a00_0000 + i * step).collect()
    }

    #[test]
    fn pieces_cover_the_list_in_order_and_never_exceed_the_maximum() {
        for (n, max) in [
            (100_000, 16_384),
            (5_000, 64),
            (1_000, 3),
            (40, 1),
            (17, 16),
        ] {
            let starts = list(n, 8);
            let p = cut(&starts, max);
            assert_eq!(p.first().map(|r| r.start), Some(0));
            assert_eq!(p.last().map(|r| r.end), Some(starts.len()));
            assert!(p.windows(2).all(|w| w[0].end == w[1].start), "{n}/{max}");
            assert!(
                p.iter().all(|r| !r.is_empty() && r.len() <= max),
                "{n}/{max}"
            );
        }
        assert_eq!(sizes(&list(16_384, 8), 16_384), [16_384]);
    }

    #[test]
    fn an_element_added_or_removed_inside_a_piece_moves_no_other_boundary() {
        let starts = list(100_000, 8);
        let before = cut(&starts, 16_384);
        assert!(before.len() >= 10, "{} pieces", before.len());
        let firsts = |s: &[u128], p: &[std::ops::Range<usize>]| -> Vec<u128> {
            p.iter().map(|r| s[r.start]).collect()
        };
        let was = firsts(&starts, &before);
        // Remove the second element of every piece and add one after the first: every
        // piece changes, every boundary stays.
        let mut changed: Vec<u128> = Vec::new();
        for r in &before {
            changed.push(starts[r.start]);
            changed.push(starts[r.start] + 4);
            changed.extend_from_slice(&starts[r.start + 2..r.end]);
        }
        let after = cut(&changed, 16_384);
        assert_eq!(firsts(&changed, &after), was);
    }

    #[test]
    fn elements_crafted_to_be_boundaries_still_fill_pieces_to_the_minimum() {
        // Every element a boundary candidate (its hash divisible by 16 = 64 / 4): the
        // pieces still hold at least 64 / 16 elements each, the last one aside.
        let starts: Vec<u128> = (0x0a00_0000u128..)
            .filter(|v| super::mix(*v) % 16 == 0)
            .take(5_000)
            .collect();
        let p = pieces(starts.len(), |r| starts[r].iter().copied(), 0, 64);
        let p: Vec<_> = p.into_iter().map(|p| p.at).collect();
        let (last, rest) = p.split_last().expect("pieces");
        assert!(rest.iter().all(|r| (4..=64).contains(&r.len())), "{p:?}");
        assert!(last.len() <= 64);
        assert!(p.len() <= starts.len() / 4 + 1, "{} pieces", p.len());
    }

    /// The rule as the module doc states it, one element at a time at every level: what
    /// [`pieces`], which visits only block starts, must cut exactly alike.
    fn by_the_rule(starts: &[u128], bits: u32, max: usize) -> Vec<super::Piece> {
        fn cut(
            s: &[u128],
            p: super::Piece,
            bits: u32,
            d: usize,
            max: usize,
            out: &mut Vec<super::Piece>,
        ) {
            let (top, min) = ((max / 2).max(1), (max / 16).max(1));
            if p.at.len() <= max {
                return out.push(p);
            }
            let mut cuts = vec![p.clone()];
            for i in p.at.start + 1..p.at.end {
                let (b, prev) = (s[i] >> bits, s[i - 1] >> bits);
                let from = cuts.last().map_or(p.at.start, |c| c.at.start);
                if b != prev && i - from >= min && super::mix(b) % d as u64 == 0 {
                    if let Some(last) = cuts.last_mut() {
                        last.at.end = i;
                    }
                    cuts.push(super::Piece {
                        at: i..p.at.end,
                        label: b << bits,
                    });
                }
            }
            for c in cuts {
                match (d, bits) {
                    (1, 0) => out.push(c),
                    (1, _) => cut(s, c, 0, top, max, out),
                    _ => cut(s, c, bits, (d / 2).max(1), max, out),
                }
            }
        }
        let mut out = Vec::new();
        let whole = super::Piece {
            at: 0..starts.len(),
            label: 0,
        };
        cut(starts, whole, bits, (max / 2).max(1), max, &mut out);
        out
    }

    proptest::proptest! {
        #[test]
        fn cuts_as_the_rule_says_on_any_sorted_list(
            mut starts in proptest::collection::vec(0u128..1 << 14, 0..3_000),
            bits in 0u32..6,
            max in 1usize..200,
        ) {
            starts.sort_unstable();
            starts.dedup();
            let got = pieces(starts.len(), |r| starts[r].iter().copied(), bits, max);
            proptest::prop_assert_eq!(got, by_the_rule(&starts, bits, max));
        }
    }

    #[test]
    fn pieces_are_labelled_by_the_block_they_start_at_and_a_known_block_never_cuts() {
        let starts: Vec<u128> = (0..100_000u128).map(|i| 0x0a00_0000 + i * 8).collect();
        let p = pieces(starts.len(), |r| starts[r].iter().copied(), 8, 16_384);
        for q in &p[1..] {
            assert_eq!(q.label, starts[q.at.start] & !0xff, "a /24 start");
            assert_eq!(starts[q.at.start - 1] >> 8, (starts[q.at.start] >> 8) - 1);
        }
        // An address 5 past every 97th start added: no block is new, nothing moves.
        let more: Vec<u128> = (starts.iter().enumerate())
            .flat_map(|(i, &v)| [Some(v), (i % 97 == 0).then_some(v + 5)])
            .flatten()
            .collect();
        let q = pieces(more.len(), |r| more[r].iter().copied(), 8, 16_384);
        let labels = |p: &[super::Piece]| -> Vec<u128> { p.iter().map(|p| p.label).collect() };
        assert!(q.iter().all(|p| p.at.len() <= 16_384));
        assert_eq!(labels(&q), labels(&p), "the boundaries stay");
    }
}
