//! A long text's lists read from two ends at once: while the fast lane (`lists.rs`) reads
//! the text from its start, a helper thread reads the list entries that follow a point
//! past its middle, as the fast lane would read them once a run got there. When the run
//! the fast lane is reading reaches that point as the start of its next entry, it takes
//! the helper's entries instead of reading them itself; when no run gets there (the
//! point was in a comment, a string, a short list), the helper's work is dropped.
//!
//! Why this is the fast lane's own result: where a run goes after an entry depends only
//! on the text from that entry's start on (`lists::separator_end`, `lists::entry_at`
//! read nothing before it), so the entries read from the same start are the same,
//! whichever thread reads them. A 100,000-entry list's reading (0.8-1 ms on one CPU
//! here) is then about halved.

use super::lists::{Entries, entry_at, separator_end};
use crate::source::FileId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// The least text worth a helper: smaller ones read in less time than a thread takes to
/// start and hand back (about 0.1 ms).
const MIN_TEXT: usize = 512 << 10;

/// How many entries the helper reads between looks at whether it is still wanted.
const LOOK_EVERY: usize = 4096;

/// What the helper read from its point on: the entries, how many, where the last one
/// starts and where it ends. `None`: no entry starts there.
pub(crate) type Tail = Option<(Entries, usize, usize, usize)>;

/// The reader's side: the point the helper reads from, and its entries once sent.
pub(crate) struct Ahead {
    pub at: usize,
    tail: mpsc::Receiver<Tail>,
    /// Whether a run took the helper's entries.
    taken: std::cell::Cell<bool>,
}

impl Ahead {
    /// The helper's entries, when a run has reached [`Ahead::at`] as its next entry's
    /// start: waits for the helper to finish them. `None` when it did not start or
    /// stopped (the run then reads them itself).
    pub fn take(&self) -> Option<(Entries, usize, usize, usize)> {
        let tail = self.tail.recv().ok().flatten();
        self.taken.set(tail.is_some());
        tail
    }
}

/// Runs `read` (the fast lane's pass over `text`), with a helper reading ahead from a
/// point past the middle when the text is long enough and another CPU may run it.
pub(crate) fn reading<R>(file: FileId, text: &str, read: impl FnOnce(Option<&Ahead>) -> R) -> R {
    let at = (text.len() >= MIN_TEXT && several_cpus())
        .then(|| entry_after_middle(text.as_bytes()))
        .flatten();
    reading_at(file, text, at, read).0
}

/// [`reading`] with the helper reading from `at` (none: no helper); also whether a run
/// took its entries.
fn reading_at<R>(
    file: FileId,
    text: &str,
    at: Option<usize>,
    read: impl FnOnce(Option<&Ahead>) -> R,
) -> (R, bool) {
    let Some(at) = at else {
        return (read(None), false);
    };
    let (send, tail) = mpsc::sync_channel(1);
    let stop = AtomicBool::new(false);
    // The sender goes with the helper: a helper that does not start, or fails, drops
    // it, and the reader's wait ends.
    let helper = {
        let stop = &stop;
        move || {
            let _ = send.send(read_from(file, text, at, stop));
        }
    };
    let ahead = Ahead {
        at,
        tail,
        taken: Default::default(),
    };
    let (out, _) = crate::threads::beside("lists", [helper], || {
        let out = read(Some(&ahead));
        stop.store(true, Ordering::Relaxed);
        out
    });
    (out, ahead.taken.get())
}

/// Whether this process may run on more than one CPU.
fn several_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// The start of the first entry after a list separator past the middle of `t`: where a
/// run through that separator would read its next entry.
fn entry_after_middle(t: &[u8]) -> Option<usize> {
    let comma = t[t.len() / 2..].iter().position(|&c| c == b',')? + t.len() / 2;
    let at = separator_end(t, comma)?;
    t.get(at)
        .is_some_and(u8::is_ascii_alphanumeric)
        .then_some(at)
}

/// The entries a run reads from `at` on, as `lists::run_from` reads them, until the run
/// ends or `stop` is set (then `None`: the reader did not come this way).
fn read_from(file: FileId, text: &str, at: usize, stop: &AtomicBool) -> Tail {
    let t = text.as_bytes();
    let mut entries = Entries::default();
    let mut end = entry_at(file, text, at, &mut entries)?;
    let (mut last, mut n) = (at, 1);
    while let Some(next) = separator_end(t, end) {
        if n % LOOK_EVERY == 0 && stop.load(Ordering::Relaxed) {
            return None;
        }
        let Some(next_end) = entry_at(file, text, next, &mut entries) else {
            break;
        };
        n += 1;
        (last, end) = (next, next_end);
    }
    Some((entries, n, last, end))
}

#[cfg(test)]
mod tests {
    use super::super::lists::find_runs;
    use super::*;

    /// A text of lists of every kind the fast lane reads or leaves: canonical IPv4
    /// entries, other forms, IPv6, comments between entries, a list in a string and in
    /// a comment, and short runs.
    fn lists(n: usize) -> String {
        let mut t = String::from("policy p {\n    define a = ");
        for i in 0..n {
            let sep = match i % 97 {
                13 => ",\n      # a note, 10.9.9.9, 10.9.9.8\n      ",
                41 => " ,\t",
                _ => ", ",
            };
            let item = match i % 53 {
                7 => format!("fd00::{i:x}/128"),
                19 => format!(
                    "10.{}.{}.1-10.{}.{}.9",
                    i >> 16 & 255,
                    i >> 8 & 255,
                    i >> 16 & 255,
                    i >> 8 & 255
                ),
                29 => format!("010.0.{}.{}", i >> 8 & 255, i & 255),
                _ => format!("10.{}.{}.{}/32", i >> 16 & 255, i >> 8 & 255, i & 255),
            };
            if i > 0 {
                t.push_str(sep);
            }
            t.push_str(&item);
        }
        t.push_str("\n    log rejected prefix \"1.1.1.1, 2.2.2.2, 3.3.3.3\"\n");
        t.push_str("    define b = 192.0.2.1, 192.0.2.2, 192.0.2.3\n}\n");
        t
    }

    /// From whatever point the helper reads, the runs are the ones read without it;
    /// and from a point where a run has an entry's start, the run took its entries.
    #[test]
    fn the_runs_are_the_same_from_any_point_the_helper_reads() {
        let text = lists(3000);
        let want = find_runs(FileId(0), &text, 3, None);
        assert!(want.len() >= 2, "a long run and a short one");
        let t = text.as_bytes();
        let starts: Vec<usize> = (1..t.len())
            .filter(|&i| t[i - 1] == b',')
            .filter_map(|i| separator_end(t, i - 1))
            .collect();
        let mut taken = 0;
        for at in (0..t.len())
            .step_by(97)
            .chain(starts.iter().copied().step_by(7))
        {
            let (got, took) = reading_at(FileId(0), &text, Some(at), |a| {
                find_runs(FileId(0), &text, 3, a)
            });
            assert_eq!(got, want, "helper reading from {at}");
            taken += usize::from(took);
        }
        assert!(
            taken >= starts.len() / 7 - 2,
            "the runs took the helper's entries {taken} times"
        );
    }

    /// A long text's helper starts at an entry past its middle, which the run takes.
    #[test]
    fn a_long_texts_helper_starts_past_its_middle_and_is_taken() {
        let text = lists(60_000);
        assert!(text.len() >= MIN_TEXT);
        let at = entry_after_middle(text.as_bytes()).expect("a point");
        assert!(at > text.len() / 2 && text.as_bytes()[at].is_ascii_digit());
        let want = find_runs(FileId(0), &text, 3, None);
        let (got, took) = reading_at(FileId(0), &text, Some(at), |a| {
            find_runs(FileId(0), &text, 3, a)
        });
        assert!(took, "taken");
        assert_eq!(got, want);
    }
}
