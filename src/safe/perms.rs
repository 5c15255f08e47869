//! Policy and site file permission guard, in the spirit of sshd's StrictModes: a file
//! that decides the host firewall must not be changeable by anyone but root.
//!
//! Checked: the file (after following symlinks, since the target is what gets read)
//! must be owned by root (or the invoking user, for rootless namespace use) and not
//! group/world-writable; every directory above it up to `/` likewise, because whoever
//! can write any of them can replace the file (or rename a whole subtree), as sshd's
//! StrictModes walks every ancestor. A sticky directory (`/tmp`, mode 1777) owned by
//! root is accepted: there only an entry's owner may rename or remove it, and the entry
//! below it is checked in turn. The `--insecure-perms` override is the
//! caller's business: it simply does not call [`check_file`].

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What is wrong with one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Owned by this uid, which is neither root nor the invoking user.
    Owner(u32),
    /// Writable by group (`0o020`) and/or others (`0o002`); the full mode is kept.
    Writable(u32),
}

/// A refusal: the file or its directory is unsafe.
#[derive(Debug, thiserror::Error)]
pub enum PermError {
    #[error("cannot check permissions of {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", insecure_message(file, path, *is_dir, problems))]
    Insecure {
        /// The file the caller asked about.
        file: PathBuf,
        /// The offending path: the file itself or its directory.
        path: PathBuf,
        is_dir: bool,
        problems: Vec<Problem>,
    },
}

fn insecure_message(file: &Path, path: &Path, is_dir: bool, problems: &[Problem]) -> String {
    let what: Vec<String> = problems
        .iter()
        .map(|p| match p {
            Problem::Owner(uid) => format!("owned by uid {uid}, not root"),
            Problem::Writable(mode) => format!(
                "writable by {} (mode {:04o})",
                match (mode & 0o020 != 0, mode & 0o002 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "group",
                    _ => "others",
                },
                mode & 0o7777
            ),
        })
        .collect();
    let subject = if is_dir {
        format!("its directory {}", path.display())
    } else {
        path.display().to_string()
    };
    let fix_mode = if is_dir { "0755" } else { "0644" };
    format!(
        "refusing to use {}: {subject} is {}; anyone who can change it controls this host's firewall\n  fix: chown root:root {p} && chmod {fix_mode} {p}\n  (or pass --insecure-perms to skip this check)",
        file.display(),
        what.join(" and "),
        p = path.display(),
    )
}

/// Checks a policy or site file and every directory above it; Ok when all are safe.
pub fn check_file(file: &Path) -> Result<(), PermError> {
    // SAFETY: geteuid cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    check_file_trusting(file, euid)
}

/// As [`check_file`], trusting root and `trusted_uid` as owners.
pub fn check_file_trusting(file: &Path, trusted_uid: u32) -> Result<(), PermError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PermError::Io { path, source }
    };
    let real = std::fs::canonicalize(file).map_err(io(file))?;
    let meta = std::fs::metadata(&real).map_err(io(&real))?;
    check_one(file, &real, &meta, false, trusted_uid)?;
    // `real` is canonical, so its ancestors are the real directories (no symlinks).
    for dir in real.ancestors().skip(1) {
        let dmeta = std::fs::metadata(dir).map_err(io(dir))?;
        check_one(file, dir, &dmeta, true, trusted_uid)?;
    }
    Ok(())
}

fn check_one(
    file: &Path,
    path: &Path,
    meta: &std::fs::Metadata,
    is_dir: bool,
    trusted_uid: u32,
) -> Result<(), PermError> {
    let mut problems = Vec::new();
    if meta.uid() != 0 && meta.uid() != trusted_uid {
        problems.push(Problem::Owner(meta.uid()));
    }
    // Sticky (S_ISVTX): others may add entries but not replace ours, which the walk
    // checks one level down.
    let sticky = is_dir && meta.mode() & 0o1000 != 0;
    if meta.mode() & 0o022 != 0 && !sticky {
        problems.push(Problem::Writable(meta.mode()));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(PermError::Insecure {
        file: file.to_path_buf(),
        path: path.to_path_buf(),
        is_dir,
        problems,
    })
}
