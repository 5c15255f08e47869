//! Trust in the state directory and the files in it, in the spirit of sshd's
//! StrictModes: what `/run/hostwall` holds is replayed as root (the previous-state
//! blob), decides what is reverted (the pending records) and what `diff` calls in sync
//! (the apply records), so nobody but us may be able to change it.
//!
//! The directory itself must be a real directory (not a symbolic link), owned by this
//! process's user, mode 0700 (nothing for group or others). Every directory above it
//! must be owned by root (or by us) and not writable by group or others, except a
//! root-owned sticky directory such as `/tmp`, where only an entry's owner may rename or
//! remove it. Files in it are opened with `O_NOFOLLOW` and judged by `fstat` of the
//! opened descriptor: a regular file owned by us, writable by nobody else.

use super::Error;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The effective uid: the owner the state directory and its files must have.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

fn untrusted(path: &Path, reason: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::Untrusted {
        path: path.to_path_buf(),
        reason: reason.into(),
        fix: fix.into(),
    }
}

/// Creates the state directory (mode 0700, parents too) when missing, then checks it.
pub fn ensure_dir(dir: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create state directory", dir, e))?;
    check_dir(dir)
}

/// Whether the state directory exists at all (a symbolic link counts: it is then
/// refused by [`check_dir`], not taken for "nothing recorded").
pub fn dir_exists(dir: &Path) -> Result<bool, Error> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("inspect state directory", dir, e)),
    }
}

/// Refuses a state directory that anyone but us could change (see the module doc).
pub fn check_dir(dir: &Path) -> Result<(), Error> {
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| Error::io("inspect state directory", dir, e))?;
    let me = euid();
    let fix = format!("chown {me} {0} && chmod 0700 {0}", dir.display());
    if meta.file_type().is_symlink() {
        return Err(untrusted(
            dir,
            "it is a symbolic link (whoever controls the link controls what is reverted)",
            format!("rm {0} && mkdir -m 0700 {0}", dir.display()),
        ));
    }
    if !meta.is_dir() {
        return Err(untrusted(dir, "it is not a directory", "remove it"));
    }
    if meta.uid() != me {
        // Root's state is root's: handing it to another user would make root refuse it.
        let fix = match meta.uid() {
            0 => "run hostwall as root: this is root's state directory".to_string(),
            _ => fix,
        };
        return Err(untrusted(
            dir,
            format!(
                "it is owned by uid {}, not by uid {me} (this process)",
                meta.uid()
            ),
            fix,
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(untrusted(
            dir,
            format!(
                "its mode is {:04o}; only its owner may use it (0700)",
                meta.mode() & 0o7777
            ),
            fix,
        ));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let real = std::fs::canonicalize(parent).map_err(|e| Error::io("resolve", parent, e))?;
    for ancestor in real.ancestors() {
        check_ancestor(dir, ancestor, me)?;
    }
    Ok(())
}

/// One directory above the state directory: owned by root or us, and writable by
/// nobody else unless it is a root-owned sticky directory.
fn check_ancestor(dir: &Path, ancestor: &Path, me: u32) -> Result<(), Error> {
    let m = std::fs::metadata(ancestor).map_err(|e| Error::io("inspect", ancestor, e))?;
    let fix = format!(
        "chown root {0} && chmod go-w {0}, or choose another --state-dir",
        ancestor.display()
    );
    if m.uid() != 0 && m.uid() != me {
        return Err(untrusted(
            dir,
            format!(
                "{} above it is owned by uid {}, not root",
                ancestor.display(),
                m.uid()
            ),
            fix,
        ));
    }
    let sticky_root = m.mode() & 0o1000 != 0 && m.uid() == 0;
    if m.mode() & 0o022 != 0 && !sticky_root {
        return Err(untrusted(
            dir,
            format!(
                "{} above it is writable by group or others (mode {:04o}): they could replace the state directory",
                ancestor.display(),
                m.mode() & 0o7777
            ),
            fix,
        ));
    }
    Ok(())
}

/// Opens `path` in a trusted directory for reading, without following a symbolic
/// link, and checks the opened file: `None` when it does not exist.
pub fn open_file(path: &Path) -> Result<Option<File>, Error> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(untrusted(
                path,
                "it is a symbolic link",
                format!("rm {}", path.display()),
            ));
        }
        Err(e) => return Err(Error::io("open", path, e)),
    };
    check_file(path, &file)?;
    Ok(Some(file))
}

/// The opened file must be a regular file owned by us that nobody else may write.
pub fn check_file(path: &Path, file: &File) -> Result<(), Error> {
    let m = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    let fix = format!("rm {}", path.display());
    if !m.file_type().is_file() {
        return Err(untrusted(path, "it is not a regular file", fix));
    }
    if m.uid() != euid() {
        return Err(untrusted(
            path,
            format!("it is owned by uid {}, not by uid {}", m.uid(), euid()),
            fix,
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(untrusted(
            path,
            format!(
                "it is writable by group or others (mode {:04o})",
                m.mode() & 0o7777
            ),
            fix,
        ));
    }
    Ok(())
}

/// Reads a trusted file of at most `limit` bytes; `None` when it does not exist. A
/// larger file is refused before anything is read (memory stays bounded).
pub fn read_file(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, Error> {
    let Some(file) = open_file(path)? else {
        return Ok(None);
    };
    read_opened(path, file, limit).map(Some)
}

/// Reads an opened file of at most `limit` bytes.
pub fn read_opened(path: &Path, file: File, limit: u64) -> Result<Vec<u8>, Error> {
    let size = file
        .metadata()
        .map_err(|e| Error::io("inspect", path, e))?
        .len();
    if size > limit {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("it holds {size} bytes, more than the {limit} expected"),
        });
    }
    let mut bytes = Vec::new();
    crate::pages::reserve_faulted(&mut bytes, usize::try_from(size).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("it grew past the {limit} bytes expected while being read"),
        });
    }
    Ok(bytes)
}
