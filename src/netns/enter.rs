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
//! entries) holds a [`Stay`] instead: one thread that entered the namespace once and
//! runs each closure for it, for as long as the guard lives. A thread start, `setns` and
//! join cost about a millisecond of wall time on a 2-CPU VM; a hand-over costs tens of
//! microseconds.

use super::{NETNS_DIR, NetnsError};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Sender, SyncSender};

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
        if ON_STAY_THREAD.with(|c| c.get()) == Some(id) {
            return Ok(f());
        }
        // One entry at a time on the stayed thread: one made while it runs another (a
        // closure there may wait long, at a prompt, say) gets a thread of its own, as
        // without a stay, so no entry ever waits for another to end.
        if let (Some(jobs), Some(_turn)) = (stayed(id), turn()) {
            return run_on(name, &jobs, f);
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

/// A closure for the stayed thread, its lifetime erased (see [`run_on`]).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The namespace a [`Stay`] thread is in and where its jobs go.
static STAYED: Mutex<Option<(NsId, Sender<Job>)>> = Mutex::new(None);

std::thread_local! {
    /// Set on a [`Stay`] thread: a closure it runs that enters its own namespace again
    /// runs right there (handing it to itself would wait forever).
    static ON_STAY_THREAD: std::cell::Cell<Option<NsId>> = const { std::cell::Cell::new(None) };
}

/// Held by the one caller whose closure the stayed thread runs.
static TURN: Mutex<()> = Mutex::new(());

/// The stayed thread's turn, when no other caller holds it.
fn turn() -> Option<std::sync::MutexGuard<'static, ()>> {
    match TURN.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// The stayed thread's job queue when it is in the namespace `id`.
fn stayed(id: NsId) -> Option<Sender<Job>> {
    let guard = STAYED.lock().unwrap_or_else(|e| e.into_inner());
    guard
        .as_ref()
        .filter(|(s, _)| *s == id)
        .map(|(_, tx)| tx.clone())
}

/// One thread kept in a named namespace: while it lives, [`run_named`] and [`run_in`]
/// of that very namespace (the same nsfs inode, so not a namespace made anew under the
/// same name) run their closures on it, one at a time; an entry made while it runs
/// another gets a thread of its own. Dropping it ends the thread.
pub struct Stay {
    id: NsId,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Keeps a thread in the namespace called `name` (see [`Stay`]); one at a time per
/// process: a second replaces the first's routing.
pub fn stay_in(name: &str) -> Result<Stay, NetnsError> {
    let p = path(name)
        .filter(|p| p.is_file())
        .ok_or_else(|| NetnsError::Missing(name.to_string()))?;
    let file = open(name, &p)?;
    let id = ns_id(&file).ok_or_else(|| NetnsError::Missing(name.to_string()))?;
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
    // The thread starts with every signal blocked, and keeps them blocked: a signal for
    // the process goes to the threads that run the command (a critical section there
    // defers it, `safe::signals`), never to this one, which runs their closures.
    let spawned = with_signals_blocked(|| {
        std::thread::Builder::new().spawn(move || {
            let entered = setns(&file);
            let ok = entered.is_ok();
            let _ = ready_tx.send(entered);
            if !ok {
                return;
            }
            ON_STAY_THREAD.with(|c| c.set(Some(id)));
            // Ends when every sender is gone; jobs already queued are run first.
            for job in rx {
                job();
            }
        })
    });
    let thread = spawned.map_err(|source| NetnsError::Enter {
        name: name.to_string(),
        source,
    })?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(source)) => {
            let _ = thread.join();
            return Err(NetnsError::Enter {
                name: name.to_string(),
                source,
            });
        }
        Err(_) => return Err(NetnsError::Panicked(name.to_string())),
    }
    *STAYED.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, tx));
    Ok(Stay {
        id,
        thread: Some(thread),
    })
}

impl Drop for Stay {
    fn drop(&mut self) {
        // The queue's last sender goes (a run in flight holds a clone until it is
        // answered), so the thread finishes what is queued and ends.
        if let Some(t) = self.thread.take() {
            let mut stayed = STAYED.lock().unwrap_or_else(|e| e.into_inner());
            let mine = (stayed.as_ref()).is_some_and(|(id, _)| *id == self.id);
            let queue = if mine { stayed.take() } else { None };
            drop(stayed);
            drop(queue);
            let _ = t.join();
        }
    }
}

/// `f` run with every signal blocked in the calling thread (so a thread it starts
/// inherits that mask), but the ones a fault raises (a blocked one would kill the process
/// without Rust's stack overflow report); the mask comes back after, also when `f`
/// panics.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(libc::sigset_t);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the mask saved below.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
            }
        }
    }
    // SAFETY: sigfillset and sigdelset fill a local set; pthread_sigmask changes only
    // this thread's mask, saved in a local and restored by `Restore`.
    let _restore = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        for fault in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            libc::sigdelset(&mut all, fault);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        Restore(old)
    };
    f()
}

/// `f` and where its outcome goes, dropped in this order: when the job is dropped unrun,
/// `f` (which may borrow the caller's stack) is gone before the caller hears of it.
struct Task<F, T> {
    f: F,
    done: SyncSender<std::thread::Result<T>>,
}

/// Runs `f` on the stayed thread whose queue is `jobs` and waits for its outcome.
fn run_on<T, F>(name: &str, jobs: &Sender<Job>, f: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let (done, outcome) = std::sync::mpsc::sync_channel(1);
    let task = Task { f, done };
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let Task { f, done } = task;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = done.send(r);
    });
    // SAFETY: only the lifetime is changed. The job borrows no more than `f` does, and
    // this function returns only after the job has run to its end (its outcome is sent
    // as its last act, after `f` was consumed) or was dropped unrun (`Task` drops `f`
    // before `done`, and `outcome` reports a disconnect only once `done` is gone). A
    // panic in `f` is caught on the stayed thread, so the job always ends one of the
    // two ways, and nothing here can unwind while the job is queued.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    if let Err(unsent) = jobs.send(job) {
        drop(unsent);
        return Err(NetnsError::Panicked(name.to_string()));
    }
    match outcome.recv() {
        Ok(Ok(v)) => Ok(v),
        _ => Err(NetnsError::Panicked(name.to_string())),
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
