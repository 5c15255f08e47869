//! The state-dir lock: one apply/confirm/revert at a time, across processes.
//!
//! `flock(LOCK_EX)` on `<state_dir>/lock`. The kernel drops an flock when the last
//! descriptor of the open file goes away, so a crashed or SIGKILLed holder never leaves
//! the lock stuck (unlike a pid file or `O_EXCL` lock file). The holder writes its pid
//! into the file only so that the refusal can name it; the pid is never trusted for the
//! locking itself.

use super::{Error, trust};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting acquirer retries: short enough to feel immediate to a human,
/// long enough not to spin.
const POLL: Duration = Duration::from_millis(50);

/// Proof that this process holds the lock; dropping it releases the lock.
/// Functions that change the pending record take `&StateLock` so the type system
/// keeps them under the lock.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
    state_dir: PathBuf,
}

impl StateLock {
    /// Takes the lock, waiting up to `wait` (zero: try once). Creates the state dir
    /// (mode 0700) if missing and refuses an untrusted one. A holder still there after `wait` gives [`Error::Busy`]
    /// naming its pid.
    pub fn acquire(state_dir: &Path, wait: Duration) -> Result<StateLock, Error> {
        ensure_state_dir(state_dir)?;
        let path = state_dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        trust::check_file(&path, &file)?;
        let start = Instant::now();
        loop {
            match try_flock(&file) {
                Ok(true) => break,
                Ok(false) if start.elapsed() < wait => std::thread::sleep(POLL),
                Ok(false) => {
                    return Err(Error::Busy {
                        pid: read_pid(&mut file),
                        lock: path,
                    });
                }
                Err(e) => return Err(Error::io("lock", &path, e)),
            }
        }
        write_pid(&mut file).map_err(|e| Error::io("write pid to", &path, e))?;
        Ok(StateLock {
            file,
            path,
            state_dir: state_dir.to_path_buf(),
        })
    }

    /// The state directory this lock guards.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Clear the pid first so a later Busy message never names a finished process;
        // closing the descriptor then releases the flock.
        let _ = self.file.set_len(0);
    }
}

/// Creates the state directory (and parents) owner-only when missing, and refuses one
/// that is not trusted ([`trust::check_dir`]).
pub fn ensure_state_dir(state_dir: &Path) -> Result<(), Error> {
    trust::ensure_dir(state_dir)
}

/// Ok(true): locked; Ok(false): someone else holds it.
fn try_flock(file: &File) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}
