//! Writing an entry without building it in memory: the texts are borrowed (from the
//! apply's source map) and serialised straight into the file while they are hashed;
//! the header, whose digest is known only at the end, is a fixed-width line written
//! first as a placeholder and then in place. A million-address policy's 16 MB of text
//! is then held once, not four times (cloned, serialised, prefixed, and an old entry
//! decoded to compare with).
//!
//! The body starts with the digest of the entry's inputs (`{"inputs":"HEX",...`), so
//! whether the stored entry already holds these inputs is answered from its first bytes
//! and a streamed check of its digest, without decoding it.

use super::{Entry, LIMIT, LkgError, MAGIC, Stored, VERSION, path, sysctl_lines};
use crate::ir::Ruleset;
use crate::safe::{self, trust};
use crate::source::SourceMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// An entry as it is written: what [`Entry`] holds, borrowed, serialised alike.
#[derive(Serialize)]
pub struct EntryRef<'a> {
    inputs: String,
    files: Vec<SourceRef<'a>>,
    has_site: bool,
    table: &'a str,
    sysctls: Vec<String>,
    generation: u32,
    stored_at: u64,
}

/// One input file, borrowed.
#[derive(Serialize)]
pub struct SourceRef<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// What two entries must share to hold the same inputs.
#[derive(Serialize)]
struct Inputs<'a> {
    files: &'a [SourceRef<'a>],
    has_site: bool,
    table: &'a str,
    sysctls: &'a [String],
}

impl<'a> EntryRef<'a> {
    /// The entry of `files` (policy, site file when `has_site`, includes) compiled to
    /// `table` and `sysctls`, committed at `generation`, stored now.
    pub fn new(
        files: Vec<SourceRef<'a>>,
        has_site: bool,
        table: &'a str,
        sysctls: Vec<String>,
        generation: u32,
    ) -> EntryRef<'a> {
        EntryRef {
            inputs: inputs_digest(&files, has_site, table, &sysctls),
            files,
            has_site,
            table,
            sysctls,
            generation,
            stored_at: safe::unix_now(),
        }
    }

    /// The entry for a ruleset compiled from the files of `map` (as `check_bytes` added
    /// them: policy, site file when `has_site`, includes), borrowing their texts.
    pub fn from_map(map: &'a SourceMap, has_site: bool, rs: &'a Ruleset, generation: u32) -> Self {
        let files = (map.files())
            .map(|(_, f)| SourceRef {
                name: &f.name,
                text: &f.text,
            })
            .collect();
        EntryRef::new(
            files,
            has_site,
            &rs.table.name,
            sysctl_lines(rs),
            generation,
        )
    }

    /// `entry` as it is written.
    pub fn of(entry: &'a Entry) -> EntryRef<'a> {
        let files: Vec<SourceRef> = (entry.files.iter())
            .map(|f| SourceRef {
                name: &f.name,
                text: &f.text,
            })
            .collect();
        let sysctls = entry.sysctls.clone();
        EntryRef {
            inputs: inputs_digest(&files, entry.has_site, &entry.table, &sysctls),
            files,
            has_site: entry.has_site,
            table: &entry.table,
            sysctls,
            generation: entry.generation,
            stored_at: entry.stored_at,
        }
    }

    /// The digest of its inputs (files, site flag, table, sysctls).
    pub fn inputs(&self) -> &str {
        &self.inputs
    }
}

/// The SHA-256 of the inputs' JSON, in hex.
pub fn inputs_digest(
    files: &[SourceRef],
    has_site: bool,
    table: &str,
    sysctls: &[String],
) -> String {
    let mut h = crate::digest::Sha256Writer::new(io::sink());
    let inputs = Inputs {
        files,
        has_site,
        table,
        sysctls,
    };
    // Strings, a flag and a list of strings: serialising into a hasher cannot fail.
    let _ = serde_json::to_writer(&mut h, &inputs);
    h.finish().map(|(_, digest)| digest).unwrap_or_default()
}

/// The header line for a body of digest `hex` (64 hex digits: always [`head_len`] bytes).
fn header(hex: &str) -> String {
    format!("{MAGIC} {VERSION} sha256:{hex}\n")
}

/// The header's length (its digest is 64 hex digits).
fn head_len() -> usize {
    header(&"0".repeat(crate::digest::HEX_LEN)).len()
}

/// The file's bytes, hashed and counted as they go; past [`LIMIT`] nothing more is
/// written, but counting goes on, so the size can be told.
struct Body<'f> {
    out: io::BufWriter<&'f mut File>,
    hash: Sha256,
    written: u64,
    room: u64,
}

impl Write for Body<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.written += b.len() as u64;
        if self.written <= self.room {
            self.hash.update(b);
            self.out.write_all(b)?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Why [`write_at`] did not write an entry.
pub enum WriteError {
    TooLarge(u64),
    Io(io::Error),
}

/// Writes `entry` (header and body) into `f` from its current end, which is at offset
/// `at`; returns its size.
pub fn write_at(f: &mut File, at: u64, entry: &EntryRef) -> Result<u64, WriteError> {
    let head = head_len() as u64;
    f.write_all(header(&"0".repeat(crate::digest::HEX_LEN)).as_bytes())
        .map_err(WriteError::Io)?;
    let (written, hash) = {
        let mut body = Body {
            out: io::BufWriter::with_capacity(1 << 16, &mut *f),
            hash: Sha256::new(),
            written: 0,
            room: LIMIT.saturating_sub(head),
        };
        serde_json::to_writer(&mut body, entry).map_err(|e| WriteError::Io(e.into()))?;
        body.flush().map_err(WriteError::Io)?;
        (body.written, body.hash.clone())
    };
    let size = head + written;
    if size > LIMIT {
        return Err(WriteError::TooLarge(size));
    }
    let digest = crate::digest::hex(&hash.finalize());
    f.write_all_at(header(&digest).as_bytes(), at)
        .map_err(WriteError::Io)?;
    Ok(size)
}

/// Writes `entry` to `target` atomically, after `before` (the staged file's first line).
pub fn store_at(target: &Path, before: &[u8], entry: &EntryRef) -> Result<(), LkgError> {
    let mut too_large = None;
    let written = safe::atomic_write_with(target, 0o600, &mut |f| {
        f.write_all(before)?;
        match write_at(f, before.len() as u64, entry) {
            Ok(_) => Ok(()),
            Err(WriteError::Io(e)) => Err(e),
            Err(WriteError::TooLarge(n)) => {
                too_large = Some(n);
                Err(io::Error::other("too large"))
            }
        }
    });
    match (written, too_large) {
        (_, Some(size)) => Err(LkgError::TooLarge {
            size: size as usize,
        }),
        (r, None) => Ok(r?),
    }
}

/// Stores `entry` as the last known good in `dir` (created 0700 when missing); an
/// intact entry of the same inputs already there is left alone.
pub fn store(dir: &Path, entry: &EntryRef) -> Result<Stored, LkgError> {
    trust::ensure_dir(dir)?;
    if holds_inputs(dir, entry.inputs()) {
        return Ok(Stored::Unchanged);
    }
    store_at(&path(dir), b"", entry)?;
    Ok(Stored::Written)
}

/// Whether the entry in `dir` passes the trust rule, is intact (its body matches its
/// digest) and starts with the inputs digest `inputs`; read in pieces, never whole.
fn holds_inputs(dir: &Path, inputs: &str) -> bool {
    (|| -> Option<bool> {
        trust::check_dir(dir).ok()?;
        let file = trust::open_file(&path(dir)).ok()??;
        if file.metadata().ok()?.len() > LIMIT {
            return Some(false);
        }
        let mut r = io::BufReader::with_capacity(1 << 16, file.take(LIMIT));
        let mut head = vec![0; head_len()];
        r.read_exact(&mut head).ok()?;
        let head = std::str::from_utf8(&head).ok()?;
        let stored = head
            .strip_prefix(&format!("{MAGIC} {VERSION} sha256:"))?
            .strip_suffix('\n')?;
        let want = format!("{{\"inputs\":\"{inputs}\",");
        let mut start = vec![0; want.len()];
        r.read_exact(&mut start).ok()?;
        let mut hashing = crate::digest::Sha256Writer::new(io::sink());
        hashing.write_all(&start).ok()?;
        io::copy(&mut r, &mut hashing).ok()?;
        let (_, digest) = hashing.finish().ok()?;
        Some(start == want.as_bytes() && digest == stored)
    })()
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entry<'a>(files: &'a [(&'a str, &'a str)], generation: u32) -> EntryRef<'a> {
        let files = (files.iter())
            .map(|(name, text)| SourceRef { name, text })
            .collect();
        EntryRef::new(
            files,
            false,
            "hostwall",
            vec!["net.ipv4.ip_forward = 1".into()],
            generation,
        )
    }

    fn dir() -> (tempfile::TempDir, std::path::PathBuf) {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let d = t.path().join("lib");
        (t, d)
    }

    /// The file is what the entry serialises to behind a header with its digest, and it
    /// starts with the inputs digest; an intact entry of the same inputs is left alone,
    /// a damaged one or one of other inputs is written anew.
    #[test]
    fn an_entry_is_written_as_it_serialises_and_kept_only_while_intact() {
        let (_t, d) = dir();
        let files = [(
            "/etc/hostwall/host.policy",
            "policy p {\n  allow ssh\n}\n\"\\\u{7}",
        )];
        let e = entry(&files, 3);
        assert_eq!(store(&d, &e).expect("store"), Stored::Written);
        let bytes = std::fs::read(path(&d)).expect("read");
        let body = serde_json::to_vec(&e).expect("json");
        let head = format!(
            "{MAGIC} {VERSION} sha256:{}\n",
            crate::digest::sha256_hex(&body)
        );
        assert_eq!(bytes, [head.as_bytes(), &body].concat());
        assert!(body.starts_with(format!("{{\"inputs\":\"{}\",", e.inputs()).as_bytes()));
        let back = super::super::load(&d).expect("load").expect("entry");
        assert_eq!(back.files[0].text, files[0].1);
        assert_eq!(
            store(&d, &entry(&files, 4)).expect("store"),
            Stored::Unchanged
        );
        // Damaged: the same inputs are written again.
        let mut bad = bytes.clone();
        let at = bad.len() - 3;
        bad[at] ^= 1;
        std::fs::write(path(&d), &bad).expect("write");
        assert_eq!(
            store(&d, &entry(&files, 5)).expect("store"),
            Stored::Written
        );
        assert!(super::super::load(&d).is_ok());
        let other = [("/etc/hostwall/host.policy", "policy p {\n  allow http\n}\n")];
        assert_eq!(
            store(&d, &entry(&other, 6)).expect("store"),
            Stored::Written
        );
        // An entry written without the inputs digest (an older hostwall) is replaced.
        let old = br#"{"files":[{"name":"/etc/hostwall/host.policy","text":"policy p {\n  allow http\n}\n"}],"has_site":false,"table":"hostwall","sysctls":["net.ipv4.ip_forward = 1"],"generation":1,"stored_at":1}"#;
        let head = format!(
            "{MAGIC} {VERSION} sha256:{}\n",
            crate::digest::sha256_hex(old)
        );
        std::fs::write(path(&d), [head.as_bytes(), old].concat()).expect("write");
        assert!(
            super::super::load(&d)
                .expect("an older entry loads")
                .is_some()
        );
        assert_eq!(
            store(&d, &entry(&other, 7)).expect("store"),
            Stored::Written
        );
    }

    #[test]
    fn an_entry_over_the_limit_is_refused_with_its_size_and_the_old_one_stays() {
        let (_t, d) = dir();
        let small = [("a.policy", "policy p {\n}\n")];
        store(&d, &entry(&small, 1)).expect("store");
        let before = std::fs::read(path(&d)).expect("read");
        let big = "#".repeat(LIMIT as usize);
        let files = [("a.policy", big.as_str())];
        match store(&d, &entry(&files, 2)) {
            Err(LkgError::TooLarge { size }) => assert!(size as u64 > LIMIT, "{size}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(path(&d)).expect("read"), before);
        let leftovers = std::fs::read_dir(&d).expect("ls").count();
        assert_eq!(leftovers, 1, "no temp file left");
    }
}
