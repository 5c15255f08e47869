//! "Did you mean": the closest known name within a small edit distance, found with bounded
//! work whatever the number of names or the length of the unknown word.
//!
//! Bounds: words longer than [`MAX_WORD`] characters get no suggestion (no name is that
//! long); a candidate whose length differs by more than the allowed distance is skipped
//! before any comparison; the edit distance is computed in a band of that width and stops
//! as soon as it exceeds it; and at most [`MAX_CANDIDATES`] names are compared per word
//! ([`NameIndex`] picks those sharing the longest prefix or suffix with it).

/// Longest word (in characters) a suggestion is looked for: names are at most 64 bytes.
pub const MAX_WORD: usize = 64;
/// Names compared with one unknown word, at most.
pub const MAX_CANDIDATES: usize = 64;

/// The closest candidate within a small edit distance (a third of the word's length, at
/// least one), ties broken by name; only the first [`MAX_CANDIDATES`] of the right length
/// are compared.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w: Vec<char> = word.chars().take(MAX_WORD + 1).collect();
    if w.len() > MAX_WORD {
        return None;
    }
    let limit = (w.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    let (mut rows, mut chars) = (Vec::new(), Vec::new());
    let near = candidates
        .into_iter()
        // A character is one to four bytes: a cheap bound on the candidate's length in
        // characters before any is counted.
        .filter(|c| c.len() + limit >= w.len() && c.len() / 4 <= w.len() + limit)
        .take(MAX_CANDIDATES);
    for c in near {
        let bound = best.map_or(limit, |(d, _)| d);
        chars.clear();
        chars.extend(c.chars());
        if let Some(d) = bounded_distance(&w, &chars, bound, &mut rows) {
            if best.is_none_or(|(bd, bc)| (d, c) < (bd, bc)) {
                best = Some((d, c));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance in characters, counting a swap of neighbours (`tabel`/`table`) as one
/// edit, when it is at most `limit`; `None` otherwise. Only cells within `limit` of the
/// diagonal are computed, and the rows stop once every cell exceeds `limit`.
fn bounded_distance(a: &[char], b: &[char], limit: usize, rows: &mut Vec<usize>) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit || bag_distance(a, b) > 2 * limit {
        return None;
    }
    let (n, m) = (a.len(), b.len());
    let width = m + 1;
    let far = limit + 1;
    // Three rows (i-2, i-1, i) of width m+1, reused between calls.
    rows.clear();
    rows.resize(3 * width, far);
    for (j, cell) in rows[..width].iter_mut().enumerate().take(limit + 1) {
        *cell = j;
    }
    for i in 1..=n {
        let (cur, prev, prev2) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        let lo = i.saturating_sub(limit).max(1);
        let hi = (i + limit).min(m);
        rows[cur * width..(cur + 1) * width].fill(far);
        if i <= limit {
            rows[cur * width] = i;
        }
        let mut row_min = rows[cur * width];
        crate::work::add((hi + 1).saturating_sub(lo) as u64);
        for j in lo..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[prev * width + j] + 1)
                .min(rows[cur * width + j - 1] + 1)
                .min(rows[prev * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[prev2 * width + j - 2] + 1);
            }
            let v = v.min(far);
            rows[cur * width + j] = v;
            row_min = row_min.min(v);
        }
        if row_min > limit {
            return None;
        }
    }
    let d = rows[(n % 3) * width + m];
    (d <= limit).then_some(d)
}

/// How many characters one word has that the other lacks, counted in 64 buckets: an edit
/// changes this by at most two (a swap by none), so half of it bounds the edit distance.
fn bag_distance(a: &[char], b: &[char]) -> usize {
    let mut counts = [0i32; 64];
    for c in a {
        counts[*c as usize % 64] += 1;
    }
    for c in b {
        counts[*c as usize % 64] -= 1;
    }
    crate::work::add((a.len() + b.len()) as u64 / 8 + 1);
    counts.iter().map(|n| n.unsigned_abs() as usize).sum()
}

/// Known names, sorted forwards and by their reversed spelling, so a word's suggestion
/// is looked for among the names that share its beginning or its end.
#[derive(Default)]
pub struct NameIndex {
    sorted: Vec<String>,
    /// Each name reversed, sorted, with its position in `sorted`.
    reversed: Vec<(String, usize)>,
}

impl NameIndex {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> NameIndex {
        let mut sorted: Vec<String> = names.into_iter().map(str::to_string).collect();
        sorted.sort();
        sorted.dedup();
        let mut reversed: Vec<(String, usize)> = (sorted.iter().enumerate())
            .map(|(i, n)| (n.chars().rev().collect(), i))
            .collect();
        reversed.sort();
        NameIndex { sorted, reversed }
    }

    /// The suggestion for `word`: among all names when there are few, else among the
    /// [`MAX_CANDIDATES`] nearest to it in spelling order, forwards and backwards.
    pub fn suggest(&self, word: &str) -> Option<&str> {
        if self.sorted.len() <= MAX_CANDIDATES {
            return did_you_mean(word, self.sorted.iter().map(String::as_str));
        }
        let half = MAX_CANDIDATES / 4;
        let at = self.sorted.partition_point(|n| n.as_str() < word);
        let fwd = window(self.sorted.len(), at, half);
        let rev_word: String = word.chars().rev().take(MAX_WORD + 1).collect();
        let at = self.reversed.partition_point(|(n, _)| *n < rev_word);
        let back = window(self.reversed.len(), at, half).map(|i| self.reversed[i].1);
        let mut picks: Vec<usize> = fwd.chain(back).collect();
        picks.sort_unstable();
        picks.dedup();
        did_you_mean(word, picks.into_iter().map(|i| self.sorted[i].as_str()))
    }
}

/// Up to `half` positions either side of `at` in a list of `len`.
fn window(len: usize, at: usize, half: usize) -> std::ops::Range<usize> {
    at.saturating_sub(half)..(at + half).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("sshh", ["ssh", "spice"]), Some("ssh"));
        assert_eq!(
            did_you_mean("kvm-migratoin", ["kvm-migration"]),
            Some("kvm-migration")
        );
        assert_eq!(did_you_mean("zzz", ["ssh"]), None);
        assert_eq!(did_you_mean("tabel", ["table", "tables"]), Some("table"));
        assert_eq!(did_you_mean("dns", ["dns-tcp", "dhcp"]), None);
        assert_eq!(did_you_mean("spcie", ["spice", "spicy"]), Some("spice"));
    }

    /// The banded distance agrees with the full table on every pair it accepts.
    #[test]
    fn bounded_distance_matches_the_full_table() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "ssh",
            "sshh",
            "hss",
            "table",
            "tabel",
            "xtable",
            "kvm-migration",
            "kvm-migratoin",
            "é",
            "éa",
            "aé",
        ];
        let mut rows = Vec::new();
        for a in words {
            for b in words {
                let full = full_distance(a, b);
                let ac: Vec<char> = a.chars().collect();
                let bc: Vec<char> = b.chars().collect();
                for limit in 0..6 {
                    let got = bounded_distance(&ac, &bc, limit, &mut rows);
                    assert_eq!(got, (full <= limit).then_some(full), "{a:?} {b:?} {limit}");
                }
            }
        }
    }

    fn full_distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut v = (d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1)
                    .min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    v = v.min(d[i - 2][j - 2] + 1);
                }
                d[i][j] = v;
            }
        }
        d[a.len()][b.len()]
    }

    /// A 10 MB unknown word is not compared at all, and the work per
    /// suggestion does not grow with the number of names (counted, not timed).
    #[test]
    fn suggestion_work_is_bounded_by_word_and_name_count() {
        let long = "q".repeat(10_000_000);
        crate::work::take();
        assert_eq!(did_you_mean(&long, ["ssh", "qqq"]), None);
        assert_eq!(crate::work::take(), 0);
        let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("svc{i:07}")).collect() };
        let cost = |n: usize| {
            let names = names(n);
            let index = NameIndex::new(names.iter().map(String::as_str));
            crate::work::take();
            for i in 0..200 {
                let typo = format!("svc{:07}x", i * 37);
                assert_eq!(
                    index.suggest(&typo),
                    Some(format!("svc{:07}", i * 37)).as_deref()
                );
            }
            crate::work::take()
        };
        let (small, large) = (cost(10_000), cost(160_000));
        assert!(
            large <= small + small / 4,
            "work {small} -> {large} for 16x the names"
        );
    }

    #[test]
    fn index_finds_typos_at_either_end_among_many_names() {
        let names: Vec<String> = (0..5000).map(|i| format!("net{i:05}")).collect();
        let index = NameIndex::new(names.iter().map(String::as_str));
        assert_eq!(index.suggest("net01234x"), Some("net01234"));
        assert_eq!(index.suggest("bet01234"), Some("net01234"));
        assert_eq!(index.suggest("completely-else"), None);
    }
}
