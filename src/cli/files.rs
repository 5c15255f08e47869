//! Reading input files safely: regular files only (checked on the opened descriptor, after
//! symlinks), opened without blocking, and never more than a documented number of bytes.

use hostwall::record::FileStamp;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest policy or include file read, in bytes (a 100,000-address policy is about 2 MB).
pub const MAX_POLICY_BYTES: u64 = 8 << 20;
/// Largest site file read, in bytes.
pub const MAX_SITE_BYTES: u64 = 1 << 20;
/// Largest total of the policy, its includes and the site file, in bytes.
pub const MAX_TOTAL_BYTES: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a regular file (it is {0}); policy, include and site files must be regular files")]
    NotRegular(&'static str),
    #[error("larger than the {} MiB limit", .0 >> 20)]
    TooLarge(u64),
}

/// What a non-regular file is, for the error.
fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading without blocking (a FIFO would wait for a writer) and checks,
/// on the opened descriptor, that it is a regular file of at most `limit` bytes; the
/// file and that descriptor's metadata.
fn open_regular(path: &Path, limit: u64) -> Result<(File, std::fs::Metadata), ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok((file, meta))
}

/// The bytes of the regular file `path`, at most `limit` of them (a file that grows past the
/// limit while being read is refused too).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, before) = open_regular(path, limit)?;
    crate::reading(before.len());
    let began = std::time::SystemTime::now();
    let bytes = read_sized(&file, before.len(), limit)?;
    // The file as it was while read, when it did not change meanwhile: what an input
    // stamp may vouch for ([`read_at`]).
    let stamp = FileStamp::of_metadata(path, &before);
    if file
        .metadata()
        .is_ok_and(|m| FileStamp::of_metadata(path, &m).same_file(&stamp))
    {
        let mut reads = READS.lock().unwrap_or_else(|e| e.into_inner());
        reads.push((stamp, began));
    }
    Ok(bytes)
}

/// [`read_limited`] for a second look at a file already read and checked (a shed text
/// read back): not counted as input, and never recorded as a read an input stamp may
/// vouch for, since the file may have changed since the read the policy was checked from.
pub fn read_again(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path, limit)?;
    read_sized(&file, meta.len(), limit)
}

/// Every file this run read whole through [`read_limited`], unchanged while read: its
/// stamp and when its reading began.
static READS: std::sync::Mutex<Vec<(FileStamp, std::time::SystemTime)>> =
    std::sync::Mutex::new(Vec::new());

/// When this run began reading the file `f` is a stamp of (same device, inode, size and
/// times), the earliest time when it was read more than once; `None`: never read whole.
pub fn read_at(f: &FileStamp) -> Option<std::time::SystemTime> {
    let reads = READS.lock().unwrap_or_else(|e| e.into_inner());
    (reads.iter())
        .filter(|(s, _)| s.same_file(f))
        .map(|(_, t)| *t)
        .min()
}

/// At most `limit` bytes of `r`; more is an error, not a truncation.
pub fn read_to_limit(r: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_into(r, Vec::new(), limit)
}

/// [`read_to_limit`] of a file of `size` bytes when opened: read into room for them
/// and one more, in one read when it did not grow (from an empty vector, the reads
/// double from 32 bytes: seventeen reads and as many copies for 1.6 MB).
fn read_sized(file: &File, size: u64, limit: u64) -> Result<Vec<u8>, ReadError> {
    let room = usize::try_from(size.min(limit).saturating_add(1)).unwrap_or(0);
    let mut out = Vec::new();
    hostwall::pages::reserve_faulted(&mut out, room);
    read_into(file, out, limit)
}

fn read_into(r: impl Read, mut out: Vec<u8>, limit: u64) -> Result<Vec<u8>, ReadError> {
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_again_is_never_a_read_a_stamp_may_vouch_for_issue14() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (again, once) = (dir.path().join("again"), dir.path().join("once"));
        for p in [&again, &once] {
            std::fs::write(p, "define big = 10.0.0.0/30\n").unwrap_or_else(|e| panic!("{e}"));
        }
        let stamp = |p: &Path| {
            let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{e}"));
            FileStamp::of_metadata(p, &m)
        };
        assert!(read_again(&again, 1 << 20).is_ok());
        assert_eq!(read_at(&stamp(&again)), None, "read again: not recorded");
        assert!(read_limited(&once, 1 << 20).is_ok());
        assert!(read_at(&stamp(&once)).is_some(), "read: recorded");
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (p, want) in [
            (Path::new("/dev/zero"), "a character device"),
            (Path::new("/dev/urandom"), "a character device"),
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a directory"),
        ] {
            match read_limited(p, 1 << 20) {
                Err(ReadError::NotRegular(k)) => assert_eq!(k, want, "{}", p.display()),
                other => panic!("{}: {other:?}", p.display()),
            }
        }
    }

    #[test]
    fn a_symlink_to_a_regular_file_is_read_and_size_is_bounded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("p");
        std::fs::write(&f, vec![b'x'; 100]).unwrap_or_else(|e| panic!("{e}"));
        let l = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &l).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_limited(&l, 100).map(|v| v.len()).ok(), Some(100));
        assert!(matches!(read_limited(&l, 99), Err(ReadError::TooLarge(99))));
        let dev = std::os::unix::fs::symlink("/dev/zero", dir.path().join("z"));
        assert!(dev.is_ok());
        assert!(matches!(
            read_limited(&dir.path().join("z"), 10),
            Err(ReadError::NotRegular(_))
        ));
        assert!(matches!(
            read_to_limit(std::io::repeat(0), 1000),
            Err(ReadError::TooLarge(1000))
        ));
    }
}
