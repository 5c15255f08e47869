//! The table record decoded on a thread of its own while the caller does other work (an
//! apply parses, checks and compiles its policy meanwhile: at 100,000 prefixes the
//! record's 0.8 MB take about 0.7 ms to read and decode, the policy about 3 ms). Only
//! the decoding moves: the next load of the same file in this process ([`take`], from
//! `load_stamped`) opens it through the trust rule as always, and uses what was decoded
//! ahead only when the file is still the very one decoded (its stamp), and only after
//! the same header check as any other load.

use super::{Origin, TableRecord};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// The smallest record file decoded ahead: below it, decoding costs less than a thread.
const MIN_BYTES: u64 = 64 << 10;

/// The largest (about 262,144 IPv4 intervals, [`super::KEEP_MAX_ELEMENTS`]): a larger
/// record is decoded only once it is known to stand for the table, so that one which
/// cannot never adds its elements to the peak memory.
const MAX_BYTES: u64 = 2 << 20;

type Decoded = Option<(Origin, TableRecord)>;

/// The one decoding under way or done, and the file it is of.
static AHEAD: std::sync::Mutex<Option<(PathBuf, JoinHandle<Decoded>)>> =
    std::sync::Mutex::new(None);

fn ahead() -> std::sync::MutexGuard<'static, Option<(PathBuf, JoinHandle<Decoded>)>> {
    AHEAD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts decoding the record at `path` on a thread of its own, when the file is of a
/// size worth it ([`MIN_BYTES`] to [`MAX_BYTES`]) and no other decoding was started.
/// Nothing is reported here: a record that cannot be read or trusted is left for the
/// load that needs it, which says why.
pub fn start(path: &Path) {
    let mut slot = ahead();
    if slot.is_some() {
        return;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if !(MIN_BYTES..=MAX_BYTES).contains(&meta.len()) {
        return;
    }
    let p = path.to_path_buf();
    let work = move || super::load_now(&p, &|_| Ok(())).ok().flatten();
    let thread = crate::threads::spawn("record", work);
    if let Ok(t) = thread {
        *slot = Some((path.to_path_buf(), t));
    }
}

/// What was decoded ahead from the file at `path`, once the decoding has ended; `None`
/// when none was started for it (a decoding of another file is left alone), or it found
/// no usable record.
pub(super) fn take(path: &Path) -> Decoded {
    let thread = {
        let mut slot = ahead();
        match slot.take() {
            Some((p, t)) if p == path => t,
            other => {
                *slot = other;
                return None;
            }
        }
    };
    crate::threads::join(thread).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests share the process's one decoding ahead: one at a time.
    fn alone() -> std::sync::MutexGuard<'static, ()> {
        static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        ONE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file is read as the load reads it, the stamp is of that file, and nothing is
    /// decoded for a file too small or missing; another file's decoding is not taken.
    #[test]
    fn a_record_decoded_ahead_is_the_loaded_record_of_that_file() {
        let _one = alone();
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let p = super::super::path(&state, Some("ahead"));
        let rec = super::super::tests::record_of_intervals(20_000);
        super::super::store(&p, &rec).expect("store");
        let len = std::fs::metadata(&p).expect("stat").len();
        assert!((MIN_BYTES..=MAX_BYTES).contains(&len), "{len}");
        start(&p);
        assert_eq!(take(&state.join("other.table")), None);
        let (origin, got) = take(&p).expect("decoded ahead");
        assert_eq!(got, rec);
        let (direct, loaded) = super::super::load_now(&p, &|_| Ok(()))
            .expect("load")
            .expect("record");
        assert_eq!((origin, &got), (direct, &loaded));
        assert_eq!(take(&p), None, "taken once");
        let small = state.join("small.table");
        super::super::store(&small, &super::super::tests::record_of_intervals(2)).expect("store");
        start(&small);
        assert_eq!(take(&small), None);
        start(&state.join("missing.table"));
        assert_eq!(take(&state.join("missing.table")), None);
    }

    /// What was decoded ahead answers a load only while the file is the one decoded, and
    /// only after the header check every load makes.
    #[test]
    fn a_record_decoded_ahead_stands_only_for_the_file_as_it_is_now() {
        use super::super::{live_at, load, store, tests::record_of_intervals};
        let _one = alone();
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let p = super::super::path(&state, Some("ahead-stale"));
        store(&p, &record_of_intervals(20_000)).expect("store");
        start(&p);
        let mut newer = record_of_intervals(20_001);
        newer.genid = 9;
        store(&p, &newer).expect("replaced after the start");
        assert_eq!(load(&p), Ok(Some(newer)));
        store(&p, &record_of_intervals(20_000)).expect("store");
        start(&p);
        let here = super::super::tests::ns(1);
        let why = live_at(&p, "hostwall", Some(&here), 8).expect_err("generation 7 is not 8");
        assert!(why.contains("generation 7 -> 8"), "{why}");
        assert_eq!(take(&p), None, "the refused load took it");
        start(&p);
        assert!(live_at(&p, "hostwall", Some(&here), 7).is_ok());
    }
}
