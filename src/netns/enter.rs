//! Running code inside a network namespace: the one place that enters one (`setns(2)`)
//! or gives the calling thread a fresh one (`unshare(2)`), and that turns a namespace
//! name into its path under [`NETNS_DIR`].
//!
//! `setns` moves only the calling thread, so code runs on a dedicated scoped thread
//! that enters and then ends: the caller's thread never changes namespace. Sockets and
//! files keep the namespace they were opened in, so what the closure opens may be used
//! from any thread afterwards.
//!
//! A command that runs code in one named namespace many times (an apply: a dozen
//! entries) holds a [`Stay`] instead: each entry of that namespace runs on the calling
//! thread, which enters it for the call and returns to its own namespace after, before
//! anything else runs on it. A thread start, `setns` and join cost about a millisecond
//! of wall time on a 2-CPU VM, a hand-over to a thread kept in the namespace about
//! 57 µs (the sleeping thread's wake-up), entering and leaving about a microsecond.

use super::{NETNS_DIR, NetnsError};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `/run/netns/NAME` for a name that is one path component; `None` for "", ".", "..",
/// or anything with a `/` (those would name the directory itself, its parent, or a
/// path elsewhere).
pub fn path(name: &str) -> Option<PathBuf> {
    let valid = !name.is_empty() && name != "." && name != ".." && !name.contains('/');
    valid.then(|| Path::new(NETNS_DIR).join(name))
}

/// Runs `f` in the namespace called `name` (under [`NETNS_DIR`]), or right here for
/// `None`. A name that is no mounted namespace file is [`NetnsError::Missing`].
pub fn run_named<T, F>(name: Option<&str>, f: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let Some(name) = name else {
        return Ok(f());
    };
    let p = path(name)
        .filter(|p| p.is_file())
        .ok_or_else(|| NetnsError::Missing(name.to_string()))?;
    run_at(name, &p, f)
}

/// Runs `f` on a new thread that has entered the namespace mounted at `path`.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    run_at(&path.display().to_string(), path, f)
}

fn run_at<T, F>(name: &str, path: &Path, f: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let file = open(name, path)?;
    if let Some(id) = ns_id(&file) {
        if INSIDE.with(|c| c.get()) == Some(id) {
            return Ok(f());
        }
        if stayed(id) {
            return run_here(name, &file, id, f);
        }
    }
    let joined = std::thread::scope(|s| {
        s.spawn(|| {
            setns(&file)?;
            Ok(f())
        })
        .join()
    });
    match joined {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(NetnsError::Enter {
            name: name.to_string(),
            source,
        }),
        Err(_) => Err(NetnsError::Panicked(name.to_string())),
    }
}

fn open(name: &str, path: &Path) -> Result<File, NetnsError> {
    File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => NetnsError::Missing(name.to_string()),
        _ => NetnsError::Io {
            name: name.to_string(),
            what: "opening",
            source,
        },
    })
}

/// A namespace's identity while a thread is in it: the device and inode of its nsfs
/// file (an inode is reused only once its namespace is freed, and the thread keeps it).
type NsId = (u64, u64);

fn ns_id(file: &File) -> Option<NsId> {
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// The namespace a [`Stay`] holds.
static STAYED: Mutex<Option<NsId>> = Mutex::new(None);

std::thread_local! {
    /// The stayed namespace while this thread runs an entry in it ([`run_here`]): an
    /// entry made from inside runs right there.
    static INSIDE: std::cell::Cell<Option<NsId>> = const { std::cell::Cell::new(None) };
}

/// Whether a [`Stay`] holds the namespace `id`.
fn stayed(id: NsId) -> bool {
    *STAYED.lock().unwrap_or_else(|e| e.into_inner()) == Some(id)
}

/// One named namespace whose entries run on the calling thread: while it lives,
/// [`run_named`] and [`run_in`] of that very namespace (the same nsfs inode, so not a
/// namespace made anew under the same name) enter it on the thread that calls them and
/// return to that thread's own namespace when the closure ends (or panics: a panic is
/// [`NetnsError::Panicked`], as on a thread of its own). Entries from several threads
/// run side by side, each on its own. Dropping the guard ends it; it keeps the
/// namespace open meanwhile.
pub struct Stay {
    id: NsId,
    _file: File,
}

/// Holds the namespace called `name` for entries on the calling thread (see [`Stay`]);
/// one at a time per process: a second replaces the first.
pub fn stay_in(name: &str) -> Result<Stay, NetnsError> {
    let p = path(name)
        .filter(|p| p.is_file())
        .ok_or_else(|| NetnsError::Missing(name.to_string()))?;
    let file = open(name, &p)?;
    let id = ns_id(&file).ok_or_else(|| NetnsError::Missing(name.to_string()))?;
    *STAYED.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    Ok(Stay { id, _file: file })
}

impl Drop for Stay {
    fn drop(&mut self) {
        let mut stayed = STAYED.lock().unwrap_or_else(|e| e.into_inner());
        if *stayed == Some(self.id) {
            *stayed = None;
        }
    }
}

/// Runs `f` on the calling thread inside the namespace behind `file` (whose identity
/// is `id`), then brings the thread back to the namespace it was in.
fn run_here<T, F: FnOnce() -> T>(name: &str, file: &File, id: NsId, f: F) -> Result<T, NetnsError> {
    let home = File::open("/proc/thread-self/ns/net").map_err(|source| NetnsError::Io {
        name: name.to_string(),
        what: "opening the calling thread's own namespace",
        source,
    })?;
    setns(file).map_err(|source| NetnsError::Enter {
        name: name.to_string(),
        source,
    })?;
    let back = Back {
        home,
        inside: INSIDE.with(|c| c.replace(Some(id))),
    };
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(back);
    ran.map_err(|_| NetnsError::Panicked(name.to_string()))
}

/// Brings a thread back to its own namespace ([`run_here`]), also when the closure
/// panicked.
struct Back {
    home: File,
    inside: Option<NsId>,
}

impl Drop for Back {
    fn drop(&mut self) {
        INSIDE.with(|c| c.set(self.inside));
        if setns(&self.home).is_err() {
            // The thread would go on in the namespace it entered, and every later
            // network call of the command with it: nothing can be trusted to continue.
            std::process::abort();
        }
    }
}

/// Moves the calling thread into the network namespace behind `file`.
fn setns(file: &File) -> io::Result<()> {
    // SAFETY: setns only reads the descriptor, which `file` keeps open for the call,
    // and changes only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread into a fresh, empty network namespace (tests and
/// benchmarks, so nothing touches the namespace they started in). Call it on a thread
/// that ends afterwards.
pub fn unshare_thread() -> io::Result<()> {
    // SAFETY: unshare with a flag constant; affects only this thread's namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_one_path_component_have_no_path() {
        for bad in ["", ".", "..", "a/b", "/abs", "../x"] {
            assert_eq!(path(bad), None, "{bad:?}");
            assert!(matches!(run_named(Some(bad), || ()), Err(NetnsError::Missing(n)) if n == bad));
        }
        assert_eq!(path("lab-1"), Some(PathBuf::from("/run/netns/lab-1")));
    }

    #[test]
    fn no_name_runs_here_and_a_missing_one_is_missing() {
        assert_eq!(run_named(None, || 7).ok(), Some(7));
        let name = format!("hw-enter-absent-{}", std::process::id());
        assert!(matches!(run_named(Some(&name), || ()), Err(NetnsError::Missing(n)) if n == name));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let gone = dir.path().join("gone");
        assert!(matches!(run_in(&gone, || ()), Err(NetnsError::Missing(_))));
    }

    #[test]
    fn a_file_that_is_no_namespace_cannot_be_entered() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap_or_else(|e| panic!("{e}"));
        match run_in(&plain, || ()) {
            Err(NetnsError::Enter { source, .. }) => {
                assert_eq!(source.raw_os_error(), Some(libc::EINVAL))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_panic_inside_is_an_error_outside() {
        let r = run_in(Path::new("/proc/self/ns/net"), || panic!("inside"));
        // Entering our own namespace needs CAP_SYS_ADMIN; without it setns refuses.
        assert!(matches!(
            r,
            Err(NetnsError::Panicked(_) | NetnsError::Enter { .. })
        ));
    }
}
