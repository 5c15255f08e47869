//! Safe apply building blocks: the state-dir lock, policy file permission
//! checks, the pending-change record with its detached revert watcher, the SSH lockout
//! guard and the sysctl.d persistence drop-in.
//!
//! Nothing here knows how a ruleset is applied or restored: the apply owner hands in the
//! previous state as an opaque blob and a [`Revert`] that restores it, and the lockout
//! guard takes the packet evaluator as a function. That keeps this module testable
//! without a kernel and keeps all netlink code in `apply`.

pub mod deadline;
pub mod flow;
pub mod lock;
pub mod lockout;
pub mod outcome;
pub mod pending;
pub mod perms;
pub mod persist;
pub mod signals;
pub mod slot;
pub mod trust;
pub mod watcher;

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use flow::{
    AppliedChange, ConfirmOptions, FlowError, Place, Recovered, StepError, guarded_apply,
    refuse_pending, revert_pending, settle_pending, status_recovering,
};
pub use lock::StateLock;
pub use outcome::{End, Event, Outcome, RevertReason};
pub use pending::{Pending, Recovery, Reverted, Status, confirm, recover, status};
pub use slot::Slot;
pub use watcher::run_watcher;

/// Where the lock and the pending-change record live (a tmpfs: a reboot forgets a
/// pending change, which is right because the boot service applies the policy anew).
pub const DEFAULT_STATE_DIR: &str = "/run/hostwall";

/// Errors of the boxed kind a [`Revert`] implementation returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Restores the state captured before a change. The apply owner implements it: the
/// blob is whatever it stored when the change began (previous table + sysctls), and the
/// restore must be one atomic batch so a revert never leaves the host half-changed.
pub trait Revert {
    fn revert(&self, previous: &[u8]) -> Result<(), BoxError>;

    /// The network namespace the blob belongs to, as outcomes and log entries name it.
    fn namespace(&self, _previous: &[u8]) -> Option<String> {
        None
    }

    /// Told when a change ends or a revert attempt fails (the CLI writes it to the
    /// system log). Must not fail, and must not take long: it runs under the lock.
    fn report(&self, _event: &Event) {}
}

impl<F> Revert for F
where
    F: Fn(&[u8]) -> Result<(), BoxError>,
{
    fn revert(&self, previous: &[u8]) -> Result<(), BoxError> {
        self(previous)
    }
}

/// What a [`Revert`] returns when there is nothing left to revert (the change's
/// network namespace no longer exists): the pending record is dropped with this note
/// instead of being kept for a retry that can never succeed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NothingLeft(pub String);

/// Everything that can go wrong in the state-dir machinery (lock, record, watcher,
/// persistence). Permission and lockout refusals have their own types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "another hostwall apply/confirm/revert is running ({}); wait for it to finish and try again (lock: {})",
        holder_text(*pid),
        lock.display()
    )]
    Busy { pid: Option<u32>, lock: PathBuf },
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "a change is already pending in {} (id {id}, policy {policy}, {remaining}s left to confirm); run `hostwall confirm{}` to keep it or wait for it to be reverted, then apply again",
        where_text(netns.as_deref()),
        netns.as_ref().map(|n| format!(" --netns {n}")).unwrap_or_default()
    )]
    AlreadyPending {
        id: String,
        policy: String,
        remaining: u64,
        netns: Option<String>,
    },
    #[error("the pending-change record {} is damaged: {reason}; inspect it and remove it by hand", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "reverting pending change {id} failed: {source}; the record is kept so the next hostwall invocation retries"
    )]
    RevertFailed {
        id: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot start the revert watcher: {0}")]
    Spawn(String),
    #[error("{0:?} is not a pending-change id or namespace key")]
    BadId(String),
    /// The state directory or a file in it could be changed by someone else (see
    /// [`trust`]): nothing in it is used.
    #[error("refusing to use {}: {reason}\n  fix: {fix}", path.display())]
    Untrusted {
        path: PathBuf,
        reason: String,
        fix: String,
    },
}

fn where_text(netns: Option<&str>) -> String {
    match netns {
        Some(n) => format!("network namespace {n}"),
        None => "this network namespace".to_string(),
    }
}

fn holder_text(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("pid {p}"),
        None => "pid unknown".to_string(),
    }
}

impl Error {
    /// The refusal of a second change in a namespace that has one pending; named as
    /// the new command named it (`slot`), else as the pending change did.
    pub fn already_pending(old: &pending::Pending, slot: &Slot) -> Error {
        Error::AlreadyPending {
            remaining: old.remaining(),
            id: old.id.clone(),
            policy: old.policy.clone(),
            netns: slot
                .netns()
                .map(str::to_string)
                .or_else(|| old.netns.clone()),
        }
    }

    pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees either the old file or
/// the whole new one: a temp file in the same directory, fsync, rename, fsync the
/// directory (the rename itself is only durable once the directory is synced). The
/// temp file is created with `O_EXCL | O_NOFOLLOW`, so a file or symbolic link planted
/// under its name is never written through; the rename replaces a link at `path`
/// itself rather than following it.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    replace_file(path, &mut |f| f.write_all(bytes), mode, WriteMode::Durable)
}

/// [`atomic_write`] of what `fill` writes into the new file (which it may also seek in
/// and write at offsets), for a file too large to build in memory first. An error from
/// `fill` leaves the old file as it was.
pub fn atomic_write_with(
    path: &Path,
    mode: u32,
    fill: &mut dyn FnMut(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), Error> {
    replace_file(path, fill, mode, WriteMode::Durable)
}

/// [`atomic_write`] without the two fsyncs, for a file whose reader detects a torn or
/// lost file itself and trusts it only for what it names (the apply record: a namespace
/// by boot id and cookie, which never match after a reboot): readers still see the old
/// file or the whole new one, but a crash may leave either.
pub fn atomic_write_unsynced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    replace_file(path, &mut |f| f.write_all(bytes), mode, WriteMode::Unsynced)
}

/// [`atomic_write_unsynced`] for a large cache whose absence only costs a slower path
/// (the table record, which carries its digest): the old file is removed before the new
/// one is renamed into place, because ext4 writes a file out at once when a rename
/// replaces another (`auto_da_alloc`): 1.5 to 2 ms for a 800 KB table record, which the
/// record exists to save. Readers see the old file, the whole new one, or for a moment
/// none.
pub fn write_cache(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    replace_file(path, &mut |f| f.write_all(bytes), mode, WriteMode::Cache)
}

/// How a [`Staged`] file is put in place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Durable,
    Unsynced,
    Cache,
}

/// Writes what `fill` writes to `path` as `how` says.
type Fill<'a> = dyn FnMut(&mut std::fs::File) -> std::io::Result<()> + 'a;

fn replace_file(path: &Path, fill: &mut Fill<'_>, mode: u32, how: WriteMode) -> Result<(), Error> {
    let mut staged = Staged::new(path, mode, how)?;
    if let Err(e) = fill(&mut staged.file) {
        return Err(Error::io("write", &staged.tmp, e));
    }
    staged.commit()
}

/// A new file for `path`, written in a temp file beside it and put in place by
/// [`Staged::commit`] ([`write_cache`]'s way); dropped uncommitted, the temp file is
/// removed and `path` is left as it was. For a cache written in steps (the table
/// record: its elements while the batch is in the kernel, its description after).
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    how: WriteMode,
    committed: bool,
}

impl Staged {
    /// A staged [`write_cache`] of `path`, owner-only as `mode` says exactly, in a temp
    /// file of a fixed name beside it (`.NAME.staged`): a process killed while it writes
    /// (a large record is written for as long as its batch is in the kernel) leaves at
    /// most one such file, which the next one replaces (or [`Staged::clear_leftover`]
    /// removes). For a writer holding the state directory's lock: two at once would take
    /// each other's temp file, and one could put the other's unfinished file in place
    /// (which a reader must then refuse, as the table record's checksum does).
    pub fn cache(path: &Path, mode: u32) -> Result<Staged, Error> {
        let tmp = staged_name(path);
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("remove the leftover", &tmp, e));
            }
            _ => {}
        }
        let file = create_exclusive(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        Staged::of(path, (tmp, file), mode, WriteMode::Cache)
    }

    /// Removes the temp file a [`Staged::cache`] of `path` left when its process was
    /// killed, if there is one (for a file since written otherwise).
    pub fn clear_leftover(path: &Path) {
        let _ = std::fs::remove_file(staged_name(path));
    }

    fn new(path: &Path, mode: u32, how: WriteMode) -> Result<Staged, Error> {
        Staged::of(path, create_temp(parent(path), path)?, mode, how)
    }

    fn of(
        path: &Path,
        (tmp, file): (PathBuf, std::fs::File),
        mode: u32,
        how: WriteMode,
    ) -> Result<Staged, Error> {
        let staged = Staged {
            tmp,
            path: path.to_path_buf(),
            file,
            how,
            committed: false,
        };
        // The open mode is filtered by the umask; the caller's mode is meant exactly.
        (staged
            .file
            .set_permissions(std::fs::Permissions::from_mode(mode)))
        .map_err(|e| Error::io("write", &staged.tmp, e))?;
        Ok(staged)
    }

    /// The temp file, to write (also at offsets).
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// The temp file's path, for errors.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Puts the file in place of `path`.
    pub fn commit(mut self) -> Result<(), Error> {
        let durable = self.how == WriteMode::Durable;
        if durable && let Err(e) = self.file.sync_all() {
            return Err(Error::io("write", &self.tmp, e));
        }
        if self.how == WriteMode::Cache
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(Error::io("remove the old", &self.path, e));
        }
        if let Err(e) = std::fs::rename(&self.tmp, &self.path) {
            return Err(Error::io("rename into place", &self.path, e));
        }
        self.committed = true;
        if durable {
            sync_dir(parent(&self.path))
        } else {
            Ok(())
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The fixed temp name of a [`Staged::cache`] of `path`: `.NAME.staged` beside it.
fn staged_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    parent(path).join(format!(".{}.staged", name.as_deref().unwrap_or("hostwall")))
}

/// The directory `path` is in.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A new temp file next to `path` (`.NAME.tmp.PID.N`), created exclusively; a name
/// already taken (a leftover, or a planted link) is skipped, never opened.
fn create_temp(dir: &Path, path: &Path) -> Result<(PathBuf, std::fs::File), Error> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.as_deref().unwrap_or("hostwall");
    let mut last = None;
    for n in 0..64 {
        let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
        match create_exclusive(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(e) => return Err(Error::io("create", &tmp, e)),
        }
    }
    match last {
        Some((tmp, e)) => Err(Error::io("create", &tmp, e)),
        None => Err(Error::io(
            "create a temp file in",
            dir,
            std::io::Error::other("no name"),
        )),
    }
}

/// A new owner-only file at `path`, created exclusively (`O_EXCL | O_NOFOLLOW`): a file
/// or symbolic link already there is never opened.
fn create_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
}

/// Removes `path` durably; a missing file is not an error (returns false).
pub fn remove_durably(path: &Path) -> Result<bool, Error> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("remove", path, e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(true)
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Seconds since the Unix epoch (0 if the clock is before 1970, which only matters
/// in that deadlines then look already passed, the safe direction).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
