//! Replacing a file's contents atomically: a temporary file in the same directory, written
//! and fsynced, given the original's mode and owner, then renamed over it (and the directory
//! fsynced). A failure at any step leaves the original untouched and removes the temporary.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    #[error("cannot resolve {path}: {source}")]
    Resolve { path: PathBuf, source: io::Error },
    #[error("{path} is not a regular file")]
    NotRegular { path: PathBuf },
    #[error("{path} is not writable: {source}")]
    NotWritable { path: PathBuf, source: io::Error },
    #[error("cannot write a temporary file beside {path}: {source}")]
    Temp { path: PathBuf, source: io::Error },
    #[error("cannot give the new file the owner of {path} (uid {uid}, gid {gid}): {source}")]
    Owner {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: io::Error,
    },
    #[error("cannot rename the new file over {path}: {source}")]
    Rename { path: PathBuf, source: io::Error },
}

/// Replaces the contents of the file `path` names (following symlinks: the link stays a link)
/// with `contents`, keeping its permission bits and owner.
pub fn replace(path: &Path, contents: &[u8]) -> Result<(), ReplaceError> {
    let target = fs::canonicalize(path).map_err(|source| ReplaceError::Resolve {
        path: path.to_path_buf(),
        source,
    })?;
    let meta = fs::metadata(&target).map_err(|source| ReplaceError::Resolve {
        path: target.clone(),
        source,
    })?;
    if !meta.is_file() {
        return Err(ReplaceError::NotRegular { path: target });
    }
    // Replacing needs only the directory's permission; the file's own must allow writing
    // too, as an in-place write would (opened without truncating: nothing changes).
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&target)
        .map_err(|source| ReplaceError::NotWritable {
            path: target.clone(),
            source,
        })?;
    let dir = target.parent().unwrap_or(Path::new("/"));
    let (tmp_path, file) = create_temp(dir, &target)?;
    let written = write_temp(file, contents, &meta, &target);
    let renamed = written.and_then(|()| {
        fs::rename(&tmp_path, &target).map_err(|source| ReplaceError::Rename {
            path: target.clone(),
            source,
        })
    });
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp_path);
        return renamed;
    }
    // The rename is durable once the directory is synced; the new contents are in place
    // either way, so a failure here is not reported as a failed write.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new, exclusive, owner-only file beside `target`.
fn create_temp(dir: &Path, target: &Path) -> Result<(PathBuf, File), ReplaceError> {
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut last = None;
    for n in 0..100u32 {
        let p = dir.join(format!(".{base}.hostwall-{}-{n}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    Err(ReplaceError::Temp {
        path: target.to_path_buf(),
        source: last.unwrap_or_else(|| io::Error::other("no free temporary name")),
    })
}

/// Writes and fsyncs the temporary file and gives it the original's owner and mode.
fn write_temp(
    mut file: File,
    contents: &[u8],
    meta: &fs::Metadata,
    target: &Path,
) -> Result<(), ReplaceError> {
    let temp_err = |source| ReplaceError::Temp {
        path: target.to_path_buf(),
        source,
    };
    file.write_all(contents).map_err(temp_err)?;
    if meta.uid() != current_uid() || meta.gid() != current_gid() {
        std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid())).map_err(|source| {
            ReplaceError::Owner {
                path: target.to_path_buf(),
                uid: meta.uid(),
                gid: meta.gid(),
                source,
            }
        })?;
    }
    // After fchown, which may clear set-id bits.
    let mode = meta.permissions().mode() & 0o7777;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(temp_err)?;
    file.sync_all().map_err(temp_err)
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

fn current_gid() -> u32 {
    // SAFETY: getegid has no preconditions.
    unsafe { libc::getegid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn replaces_contents_keeps_mode_and_leaves_no_temporary() {
        let dir = ok(tempfile::tempdir());
        let p = dir.path().join("host.policy");
        ok(fs::write(&p, "old\n"));
        ok(fs::set_permissions(&p, fs::Permissions::from_mode(0o640)));
        ok(replace(&p, b"new\n"));
        assert_eq!(ok(fs::read_to_string(&p)), "new\n");
        assert_eq!(ok(fs::metadata(&p)).permissions().mode() & 0o7777, 0o640);
        let names: Vec<_> = ok(fs::read_dir(dir.path())).flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_symlink_stays_a_link_and_its_target_is_replaced() {
        let dir = ok(tempfile::tempdir());
        let real = dir.path().join("real.policy");
        let link = dir.path().join("link.policy");
        ok(fs::write(&real, "old\n"));
        ok(std::os::unix::fs::symlink(&real, &link));
        ok(replace(&link, b"new\n"));
        assert!(ok(fs::symlink_metadata(&link)).file_type().is_symlink());
        assert_eq!(ok(fs::read_to_string(&real)), "new\n");
    }

    #[test]
    fn a_device_is_refused() {
        assert!(matches!(
            replace(Path::new("/dev/null"), b"x"),
            Err(ReplaceError::NotRegular { .. })
        ));
    }
}
