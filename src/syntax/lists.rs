//! Fast lane for long address lists (`define big = 10.0.0.0/30, 10.0.0.8/30, ...`).
//!
//! pest spends ~6,000 instructions per list item (rule calls, stack probes, whitespace skips),
//! which made a 100,000-CIDR `define` cost most of a compile. Before pest runs, this module
//! finds runs of CIDR-shaped tokens joined by list commas and cuts the middle of each long run
//! out of the text pest sees: `A, B, C, ..., Y, Z` becomes `A, Z`, with B..Y kept aside as
//! the tree's own list items, each read in the one pass that found it. The builder then
//! puts B..Y back between A and Z and maps every position past a cut back to the original
//! text, so the AST is identical to a full pest parse (proptested against pest).
//!
//! Why this is safe: the cut text consists only of tokens pest's `cidr` rule would munch the
//! same way and separators its `comma` rule would skip the same way, and the builder checks
//! that each cut landed exactly between two items of one `net_list` (else the caller parses
//! the original text). Any parse error also falls back to the original text, so every
//! diagnostic is pest's own.

use super::ast::{NetItem, V4Items};
use crate::nets::V4Form;
use crate::source::{FileId, Span, Spanned};
use std::cell::Cell;
use std::sync::Arc;

/// Runs with fewer items than this are left to pest (the fast lane matters only for big lists).
pub(crate) const MIN_RUN: usize = 32;

/// One cut: items B..Y of a run, removed from the text pest parses.
pub(crate) struct Cut {
    /// Where the cut starts in the spliced text (the start of item Z there).
    pub spliced_at: usize,
    /// Bytes removed (from the start of B to the start of Z in the original).
    pub len: usize,
    /// End of item A in the original text: the builder checks its neighbour is A.
    pub prev_end: usize,
    /// Items A..Y as [`Entries`] made them, each canonical IPv4 address or prefix read
    /// in the pass that found where it ends. The builder puts them in place of pest's
    /// A, so a long list's entries are made once, in the vectors they end up in.
    pub items: Cell<Vec<NetItem>>,
}

/// The text pest should parse, and the cuts made (empty: parse the original).
pub(crate) struct Spliced {
    pub text: String,
    pub cuts: Vec<Cut>,
}

impl Spliced {
    /// Maps a position in the spliced text back to the original text. A position equal to
    /// a cut's `spliced_at` is the start of item Z, so it lies after the cut.
    pub fn original(&self, pos: usize) -> usize {
        let n = self.cuts.partition_point(|c| c.spliced_at <= pos);
        pos + self.cuts[..n].iter().map(|c| c.len).sum::<usize>()
    }

    /// The cut whose item Z starts at spliced position `pos`, if any.
    pub fn cut_at(&self, pos: usize) -> Option<&Cut> {
        let i = self.cuts.partition_point(|c| c.spliced_at < pos);
        self.cuts.get(i).filter(|c| c.spliced_at == pos)
    }
}

/// A list's items made one entry at a time: IPv4 entries that follow one another go into
/// one [`NetItem::V4`]. The builder and the fast lane both make lists this way, so the
/// fast lane's tree is pest's.
#[derive(Default)]
pub(crate) struct Entries {
    items: Vec<NetItem>,
    /// The IPv4 entries since the last other item, not yet an item.
    ranges: Vec<(u32, u32)>,
    forms: Vec<V4Form>,
}

/// IPv4 entries in a list from which [`Entries`] faults in the room for the next ones
/// ahead, as many again as it holds up to [`FAULT_STEP_MAX`] at a time
/// ([`crate::pages::reserve_faulted`]: a call instead of an exception a page; shorter
/// lists, the most, grow as vectors do).
const FAULT_FROM: usize = 1 << 14;
const FAULT_STEP_MAX: usize = 1 << 16;

impl Entries {
    pub fn v4(&mut self, lo: u32, hi: u32, form: V4Form) {
        let len = self.ranges.len();
        if len >= FAULT_FROM && len == self.ranges.capacity() {
            self.fault_ahead();
        }
        self.ranges.push((lo, hi));
        self.forms.push(form);
    }

    #[cold]
    fn fault_ahead(&mut self) {
        let n = self.ranges.len().min(FAULT_STEP_MAX);
        crate::pages::reserve_faulted(&mut self.ranges, n);
        crate::pages::reserve_faulted(&mut self.forms, n);
    }

    pub fn other(&mut self, item: NetItem) {
        self.end_v4(0);
        self.items.push(item);
    }

    /// Takes the last entry away (a fast lane's cut then puts it back with the ones it
    /// removed after it).
    pub fn pop(&mut self) {
        if self.forms.pop().is_some() {
            self.ranges.pop();
        } else {
            // An item other than IPv4: an IPv4 item always has one after it.
            self.items.pop();
        }
    }

    /// Adds the items of another list, in order. Its first IPv4 item's vectors become
    /// this list's own when no IPv4 entry is pending here (a cut right after pest's A,
    /// which [`Entries::pop`] took away): nothing is copied.
    pub fn append(&mut self, items: Vec<NetItem>) {
        for item in items {
            match item {
                NetItem::V4(v) if self.forms.is_empty() => {
                    let v = *v;
                    self.ranges = Arc::try_unwrap(v.ranges).unwrap_or_else(|r| r.to_vec());
                    self.forms = v.forms;
                }
                NetItem::V4(v) => {
                    self.ranges.extend_from_slice(&v.ranges);
                    self.forms.extend_from_slice(&v.forms);
                }
                other => self.other(other),
            }
        }
    }

    /// Whether the last entry is IPv4.
    pub fn ends_in_v4(&self) -> bool {
        !self.forms.is_empty()
    }

    /// The list's items; the last IPv4 one with room for `room` more entries and for no
    /// more than that (a long list's vectors grew by doubling).
    pub fn finish(mut self, room: usize) -> Vec<NetItem> {
        self.end_v4(room);
        self.items
    }

    fn end_v4(&mut self, room: usize) {
        if self.forms.is_empty() {
            return;
        }
        let (mut ranges, mut forms) = (
            std::mem::take(&mut self.ranges),
            std::mem::take(&mut self.forms),
        );
        ranges.shrink_to(ranges.len() + room);
        forms.shrink_to(forms.len() + room);
        self.items.push(NetItem::V4(Box::new(V4Items {
            ranges: Arc::new(ranges),
            forms,
        })));
    }
}

/// Finds the long runs of `text` (of file `file`) and cuts them out; `None` when there
/// is nothing to cut.
pub(crate) fn splice(file: FileId, text: &str, min_run: usize) -> Option<Spliced> {
    // Positions are kept as `u32`, like spans.
    u32::try_from(text.len()).ok()?;
    let runs = find_runs(file, text, min_run.max(3));
    if runs.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut cuts = Vec::with_capacity(runs.len());
    let mut copied = 0;
    let mut removed = 0;
    for run in runs {
        // Cut from B's start to Z's start.
        let (b, z) = (run.b_start, run.z_start);
        out.push_str(&text[copied..b]);
        copied = z;
        cuts.push(Cut {
            spliced_at: b - removed,
            len: z - b,
            prev_end: run.a_end,
            items: Cell::new(run.items),
        });
        removed += z - b;
    }
    out.push_str(&text[copied..]);
    Some(Spliced { text: out, cuts })
}

/// A run of CIDR-shaped tokens joined by list separators: items A..Y (Z, the last, is
/// left to pest), and where A ends, B starts and Z starts.
struct Run {
    items: Vec<NetItem>,
    a_end: usize,
    b_start: usize,
    z_start: usize,
}

fn find_runs(file: FileId, text: &str, min_run: usize) -> Vec<Run> {
    let t = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            b'#' => i = line_end(t, i),
            b'"' => i = string_end(t, i),
            c if is_token_char(c) => {
                let start = i;
                while i < t.len() && is_token_char(t[i]) {
                    i += 1;
                }
                // Only a token that starts after a non-token byte can open a run.
                if start > 0 && is_token_char(t[start - 1]) {
                    continue;
                }
                if let Some((run, n)) = run_from(file, text, start) {
                    // Continue from Z: it may open nothing new, but must not be skipped
                    // past a string or comment that follows it.
                    i = i.max(run.z_start);
                    if n >= min_run {
                        runs.push(run);
                    }
                }
            }
            _ => i += 1,
        }
    }
    runs
}

/// The run starting with the CIDR token at `start`, if it has at least two items, with
/// its number of items.
fn run_from(file: FileId, text: &str, start: usize) -> Option<(Run, usize)> {
    let t = text.as_bytes();
    let mut entries = Entries::default();
    let mut at = start;
    let mut end = entry_at(file, text, start, &mut entries)?;
    let (a_end, mut b_start, mut n) = (end, 0, 1);
    while let Some(next) = separator_end(t, end) {
        let Some(next_end) = entry_at(file, text, next, &mut entries) else {
            break;
        };
        if n == 1 {
            b_start = next;
        }
        n += 1;
        (at, end) = (next, next_end);
    }
    if n < 2 {
        return None;
    }
    // Z is pest's to read: the run's items are A..Y.
    entries.pop();
    let room = usize::from(entries.ends_in_v4());
    let run = Run {
        items: entries.finish(room),
        a_end,
        b_start,
        z_start: at,
    };
    Some((run, n))
}

/// Adds the CIDR-shaped token at `start` to `entries` as the builder makes it of pest's
/// token, and returns where it ends (positions fit `u32`: [`splice`] checked). A
/// canonical IPv4 address or prefix is read in one pass; when nothing that could
/// continue pest's `cidr` follows it (a digit, `.`, `/` or `-`, all token bytes), pest's
/// token ends where it does. Anything else is measured by [`cidr_end`].
fn entry_at(file: FileId, text: &str, start: usize, entries: &mut Entries) -> Option<usize> {
    let t = text.as_bytes();
    if let Some((lo, hi, form, end)) = super::v4::leading(t, start) {
        if !t.get(end).is_some_and(|&c| is_token_char(c)) {
            entries.v4(lo, hi, form);
            return Some(end);
        }
    }
    let end = cidr_end(t, start)?;
    let token = &text[start..end];
    match super::v4::entry(token) {
        Some((lo, hi, form)) => entries.v4(lo, hi, form),
        None => entries.other(NetItem::Cidr(Box::new(Spanned::new(
            token.to_string(),
            Span::new(file, start..end),
        )))),
    }
    Some(end)
}

/// Bytes that can continue a token next to a CIDR (so a run never starts mid-word).
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b':' | b'.' | b'/' | b'*')
}

/// pest's `cidr`: `addr_like ~ ("-" ~ addr_like)?` with `addr_like` = `(ipv4_like |
/// ipv6_like) ~ ("/" ~ DIGIT+)?`, `ipv4_like` = `DIGIT+ ~ "." ~ (DIGIT | ".")*` and
/// `ipv6_like` = `HEX* ~ ":" ~ (HEX | ":" | ".")*`, munched the same greedy, ordered way.
/// Returns the token's end.
fn cidr_end(t: &[u8], start: usize) -> Option<usize> {
    let i = addr_like(t, start)?;
    if t.get(i) == Some(&b'-') {
        if let Some(end) = addr_like(t, i + 1) {
            return Some(end);
        }
    }
    Some(i)
}

/// An address with an optional `/N`.
fn addr_like(t: &[u8], start: usize) -> Option<usize> {
    let mut i = ipv4_like(t, start).or_else(|| ipv6_like(t, start))?;
    if t.get(i) == Some(&b'/') && t.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while i < t.len() && t[i].is_ascii_digit() {
            i += 1;
        }
    }
    Some(i)
}

fn ipv4_like(t: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while i < t.len() && t[i].is_ascii_digit() {
        i += 1;
    }
    if i == start || t.get(i) != Some(&b'.') {
        return None;
    }
    i += 1;
    while i < t.len() && (t[i].is_ascii_digit() || t[i] == b'.') {
        i += 1;
    }
    Some(i)
}

fn ipv6_like(t: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while i < t.len() && t[i].is_ascii_hexdigit() {
        i += 1;
    }
    if t.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while i < t.len() && (t[i].is_ascii_hexdigit() || t[i] == b':' || t[i] == b'.') {
        i += 1;
    }
    Some(i)
}

/// A list separator as the grammar skips it: spaces/tabs, `,`, then any spaces, tabs,
/// newlines and `#` comments. Returns where the next item starts.
fn separator_end(t: &[u8], mut i: usize) -> Option<usize> {
    while matches!(t.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if t.get(i) != Some(&b',') {
        return None;
    }
    i += 1;
    loop {
        match t.get(i) {
            Some(b' ' | b'\t' | b'\n' | b'\r') => i += 1,
            Some(b'#') => i = line_end(t, i),
            _ => return Some(i),
        }
    }
}

/// End of a `#` comment: the next `\n` or `\r` (not included), as pest's COMMENT.
fn line_end(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && t[i] != b'\n' && t[i] != b'\r' {
        i += 1;
    }
    i
}

/// Just past the closing quote of a string starting at `i` (strings end at a newline).
fn string_end(t: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < t.len() && t[i] != b'"' && t[i] != b'\n' {
        i += 1;
    }
    (i + 1).min(t.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_the_middle_of_a_long_run() {
        let text = "define x = 10.0.0.0/8, 10.1.0.0/16,\n  # c\n  10.2.0.0/16, fd00::/8\nallow";
        let s = splice(FileId(0), text, 3).expect("a run");
        assert_eq!(s.text, "define x = 10.0.0.0/8, fd00::/8\nallow");
        assert_eq!(s.cuts.len(), 1);
        let items = s.cuts[0].items.take();
        let texts: Vec<_> = items.iter().flat_map(NetItem::texts).collect();
        assert_eq!(
            texts,
            ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16"],
            "A, then the cut"
        );
        let want = V4Items {
            ranges: Arc::new(vec![
                (0x0a00_0000, 0x0aff_ffff),
                (0x0a01_0000, 0x0a01_ffff),
                (0x0a02_0000, 0x0a02_ffff),
            ]),
            forms: vec![V4Form::Prefix; 3],
        };
        assert_eq!(
            items,
            [NetItem::V4(Box::new(want))],
            "one item, the three entries"
        );
        let NetItem::V4(v) = &items[0] else {
            unreachable!()
        };
        assert_eq!(v.ranges.capacity(), 3, "no room for Z, which is not IPv4");
        assert_eq!(
            (s.cuts[0].prev_end, s.cuts[0].len),
            (21, 57 - 23),
            "A ends, B..Y go"
        );
        let z = s.text.find("fd00").expect("z");
        assert_eq!(&text[s.original(z)..s.original(z) + 4], "fd00");
        assert_eq!(s.original(z - 1), z - 1);
    }

    #[test]
    fn leaves_strings_comments_and_short_runs_alone() {
        assert!(
            splice(
                FileId(0),
                "log rejected prefix \"1.1.1.1, 2.2.2.2, 3.3.3.3\"",
                3
            )
            .is_none()
        );
        assert!(splice(FileId(0), "# 1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4", 3).is_none());
        assert!(splice(FileId(0), "from 1.1.1.1, 2.2.2.2", 3).is_none());
        assert!(splice(FileId(0), "from 1.1.1.1, 2.2.2.2, 3.3.3.3", 4).is_none());
    }

    /// The fast lane must give exactly pest's tree, or pest's error, on any text.
    fn same_as_pest(text: &str) {
        let file = crate::source::FileId::default();
        let fast = crate::syntax::parse::parse_text_with(file, text, 3);
        let slow = crate::syntax::parse::parse_text_with(file, text, usize::MAX);
        match (fast, slow) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "different trees for:\n{text}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("fast {:?} vs pest {:?} for:\n{text}", a.is_ok(), b.is_ok()),
        }
    }

    #[test]
    fn same_tree_on_every_shipped_policy_and_golden() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        let mut dirs = vec![root.join("policies"), root.join("tests/data")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("readable test data").flatten() {
                let path = e.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|x| x == "policy")
                    || path.file_name().is_some_and(|n| n == "policy")
                {
                    let bytes = std::fs::read(&path).expect("readable policy");
                    same_as_pest(&crate::text::decode(&bytes).text);
                    seen += 1;
                }
            }
        }
        assert!(seen > 50, "only {seen} policies found");
    }

    #[test]
    fn same_tree_on_tricky_lists() {
        let cases = [
            "policy p {\n define big = 10.0.0.0/30, 10.0.0.8/30, 10.0.0.16/30, 10.0.0.24/30\n allow ssh from big\n}\n",
            "policy p {\r\n define big = 10.0.0.0/30,\r\n 10.0.0.8/30, # c\r\n 10.0.0.16/30 ,10.0.0.24/30\r\n}\r\n",
            "policy p { define big = mgmt, fd00::/64, fd01::/64, 10.0.0.1, ::1, 10.0.0.2; allow tcp 22 from big }\n",
            "policy p {\n allow tcp 22 from 10.0.0.0/30, 10.0.0.8/30, 10.0.0.16/30, 10.0.0.24/30 on \"eth0\"\n}\n",
            "policy p {\n allow tcp 22 to 10.0.0.0/30, 10.0.0.8/30, 10.0.0.16/30, 10.0.0.24/30 from a, 1.1.1.1, 2.2.2.2, 3.3.3.3}\n",
            "policy p {\n log rejected prefix \"1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4\"\n}\n",
            "policy p {\n define big = 10.0.0.0/30, 10.0.0.8/30, 10.0.0.16/30, 10.0.0.24/30,\n}\n",
            "policy p {\n define big = 10.0.0.0/30, 10.0.0.8/30, 10.0.0.16/x, 10.0.0.24/30\n}\n",
            "policy p {\n define big = 10.0.0.0/30, 10.0.0.8/30, 10.0.0.16/30, 10.0.0.24/30 tcp\n}\n",
            "policy p {\n allow tcp 1.2, 3.4, 5.6, 7.8\n}\n",
            "policy p {\n define a = 1.1.1.1, 2.2.2.2, 3.3.3.3\n define b = 4.4.4.4, 5.5.5.5, 6.6.6.6, 7.7.7.7\n}\n",
            "define a = 1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4\npolicy p { allow ssh from a }",
            "policy p {\n allow icmp 1.1, 2.2, 3.3, 4.4\n}\n",
            "policy p {\n define b = 1.1.1.1, a.b, 2.2.2.2, 3.3.3.3, 1.2:3, 1a.2, 10.0.0.0a\n}\n",
            "policy p {\n define b = 1.1.1.1, 2.2.2.2, ::ffff:1.2.3.4, 3.3.3.3/24, 4.4.4.4\n}\n",
            "policy p {\n define r = 10.0.0.1-10.0.0.5, 10.0.1.0-10.0.1.9, fd00::1-fd00::ff, 1.1.1.1\n}\n",
            "policy p {\n define r = 10.0.0.1-, 10.0.1.0-10.0.1.9, 1.2.3.4-x, 1.1.1.1, 2.2.2.2\n}\n",
            "policy p {\n allow ssh from 1.1.1.1-2.2.2.2/8, 3.3.3.3-4.4.4.4-5.5.5.5, 6.6.6.6, 7.7.7.7\n}\n",
            "policy p {\n allow ssh from 1.1.1.1 - 2.2.2.2, 3.3.3.3-::4, ::5-6.6.6.6, 7.7.7.7\n}\n",
        ];
        // Cases 0-4, 10 and 11 are well-formed lists: the fast lane must really be taken.
        let taken = [0, 1, 2, 3, 4, 10, 11, 14, 15];
        for (i, c) in cases.iter().enumerate() {
            same_as_pest(c);
            let fast = crate::syntax::parse::fast_lane_taken(c, 3);
            assert_eq!(
                fast,
                taken.contains(&i),
                "case {i}: fast lane taken = {fast}"
            );
        }
        let bench = crate::bench_support::policy(500, 20);
        same_as_pest(&bench);
        assert!(crate::syntax::parse::fast_lane_taken(&bench, MIN_RUN));
    }

    /// The list the tree keeps is the fast lane's own vectors with room for exactly its
    /// entries: none left from their growth, and none that adding pest's last entry made
    /// (a vector grown there would have been copied whole).
    #[test]
    fn a_long_list_is_kept_in_the_vector_it_was_read_into() {
        let text = crate::bench_support::policy(5_000, 2);
        let file =
            crate::syntax::parse::parse_text_with(FileId(0), &text, MIN_RUN).expect("parses");
        let lists: Vec<&Vec<NetItem>> = (file.items.iter())
            .filter_map(|i| match i {
                crate::syntax::ast::TopItem::Policy(p) => Some(p),
                _ => None,
            })
            .flat_map(|p| &p.body)
            .filter_map(|s| match s {
                crate::syntax::ast::Stmt::Define(d) => Some(&d.items),
                _ => None,
            })
            .collect();
        assert_eq!(lists.len(), 1);
        let [NetItem::V4(v)] = lists[0].as_slice() else {
            panic!("one IPv4 item: {:?}", lists[0].len());
        };
        assert_eq!(v.len(), 5_000);
        assert_eq!(v.ranges.capacity(), v.len());
        assert_eq!(v.forms.capacity(), v.len());
    }

    proptest::proptest! {
        /// Lists of items that are, or almost are, canonical IPv4 addresses and
        /// prefixes, joined by separators or not: the items read in the scan make
        /// exactly pest's tree (or pest's error).
        #[test]
        fn same_tree_on_any_list_of_near_addresses(items in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "10.0.0.8/30", "1.2.3.4", "0.0.0.0/0", "10.0.0.9/30", "1.2.3.04", "1.2.3.4/33",
                    "1.2.3.4.5", "1.2.3.4a", "1.2.3.4/8x", "1.2.3.4-1.2.3.9", "1.2.3.4/", "fd00::/8",
                    "1.2.3.4:5", "255.255.255.255/32", "1.2.3.4_", "1.2.3.4*", "9.9.9.9/0",
                ]),
                proptest::sample::select(vec![", ", ",", " ,\n ", ", # c\n", " ", ",,", ";", ""]),
            ),
            3..12,
        )) {
            let mut text = String::from("policy p {\n define big = ");
            for (item, sep) in &items {
                text.push_str(item);
                text.push_str(sep);
            }
            text.push_str("1.1.1.1\n allow ssh from big\n}\n");
            same_as_pest(&text);
        }
    }

    #[test]
    fn same_tree_or_error_after_any_one_byte_edit() {
        let base = "policy p {\n define big = 10.0.0.0/30, 10.0.0.8-10.0.0.9,  # c\n  fd00::/64,\t::1-::2 ,1.2.3.4\n \
                    allow tcp 22 from big, 1.1.1.1, 2.2.2.2, 3.3.3.3 on \"e0\"\n}\n";
        for i in 0..base.len() {
            let mut cut = base.to_string();
            cut.remove(i);
            same_as_pest(&cut);
            for ins in [
                ",", " ", "#", "\"", "\n", "/", "x", ":", "5", ";", "}", "a", ".", "-",
            ] {
                let mut t = base.to_string();
                t.insert_str(i, ins);
                same_as_pest(&t);
            }
        }
    }
}
