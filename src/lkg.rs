//! The last known good: what the last successful apply to the host's own network
//! namespace applied, kept under `/var/lib/hostwall/` so that a boot whose policy
//! cannot be read, checked, compiled or loaded applies it instead of leaving the host
//! open (see docs/boot.md).
//!
//! The entry holds every input the ruleset was compiled from (policy, site file,
//! includes: the decoded text under the names they were read by), the table name and
//! sysctl values it compiled to, and the generation it was committed at. Replaying it
//! checks and compiles those inputs again with no file system access, so the ruleset
//! and sysctls are the ones that were applied (for the same hostwall version) and go
//! through every check a policy does.
//!
//! The file is `last-good`: one header line `hostwall-last-good 1 sha256:HEX` (the
//! digest of the body), then the JSON body. It is written atomically, mode 0600, in a
//! directory that must pass the state-dir trust rule ([`crate::safe::trust`]): owned by
//! us, mode 0700, no ancestor writable by others. A file that fails the header, the
//! digest, the size limit or the JSON is refused as [`LkgError::Corrupt`], never used.
//!
//! Under `apply --confirm` the entry waits in the state directory (`lastgood-KEY.json`,
//! with the change id and the target directory) and is only stored by `confirm`
//! ([`stage`], [`promote`]): a reverted change never becomes the last known good.

mod write;

pub use write::{EntryRef, SourceRef};

use crate::check::{self, Includes};
use crate::ir::Ruleset;
use crate::safe::{self, Slot, remove_durably, trust};
use crate::source::SourceMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the last known good lives by default.
pub const DEFAULT_DIR: &str = "/var/lib/hostwall";
/// Its file name in that directory.
pub const FILE: &str = "last-good";
/// Largest entry read or written, in bytes (the inputs of one apply are at most 32 MiB;
/// JSON escaping adds a little).
pub const LIMIT: u64 = 64 << 20;

const MAGIC: &str = "hostwall-last-good";
const VERSION: u32 = 1;
const STAGE_PREFIX: &str = "lastgood";

/// One input file, as the checker read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// What one successful apply applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The policy first, then the site file when `has_site`, then the includes.
    pub files: Vec<Source>,
    pub has_site: bool,
    pub table: String,
    /// `name = 0|1` for every sysctl the policy sets.
    pub sysctls: Vec<String>,
    /// The nf_tables generation right after the commit.
    pub generation: u32,
    /// Seconds since the Unix epoch.
    pub stored_at: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LkgError {
    #[error(transparent)]
    State(#[from] safe::Error),
    #[error("the last known good {} is corrupt: {reason}; it is not used (remove it, and apply a good policy to store a new one)", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("the last known good would take {size} bytes, more than the {} MiB limit; it is not stored", LIMIT >> 20)]
    TooLarge { size: usize },
    #[error("the last known good no longer checks: {0}")]
    Unusable(String),
}

/// What [`store`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Written,
    /// The stored entry already held these inputs: not rewritten.
    Unchanged,
}

impl Entry {
    /// The entry for a ruleset compiled from the files of `map` (as `check_bytes` added
    /// them: policy, site file when `has_site`, includes).
    pub fn new(map: &SourceMap, has_site: bool, rs: &Ruleset, generation: u32) -> Entry {
        Entry {
            files: map
                .files()
                .map(|(_, f)| Source {
                    name: f.name.clone(),
                    text: f.text.clone(),
                })
                .collect(),
            has_site,
            table: rs.table.name.clone(),
            sysctls: sysctl_lines(rs),
            generation,
            stored_at: safe::unix_now(),
        }
    }

    /// The policy's display name.
    pub fn policy(&self) -> &str {
        self.files.first().map_or("", |f| f.name.as_str())
    }

    /// Checks and compiles the stored inputs again. A stored entry always checked when
    /// it was stored; it can fail only after a hostwall upgrade changed the language.
    pub fn compile(&self) -> Result<(SourceMap, Ruleset), LkgError> {
        let Some(policy) = self.files.first() else {
            return Err(LkgError::Unusable("it holds no policy".into()));
        };
        let site = self.has_site.then(|| self.files.get(1)).flatten();
        let includes = FromEntry(self);
        let mut map = SourceMap::new();
        let (checked, diags) = check::check_bytes(
            &mut map,
            (&policy.name, policy.text.as_bytes()),
            site.map(|s| (s.name.as_str(), s.text.as_bytes())),
            &includes,
        );
        let Some(checked) = checked else {
            return Err(LkgError::Unusable(crate::boot::first_error(&map, &diags)));
        };
        let rs = crate::compile::compile(&checked);
        if rs.table.name != self.table || sysctl_lines(&rs) != self.sysctls {
            return Err(LkgError::Unusable(format!(
                "it compiles to table {} with sysctls [{}], not the stored table {} with [{}]",
                rs.table.name,
                sysctl_lines(&rs).join(", "),
                self.table,
                self.sysctls.join(", ")
            )));
        }
        Ok((map, rs))
    }
}

fn sysctl_lines(rs: &Ruleset) -> Vec<String> {
    rs.sysctls
        .iter()
        .map(|s| format!("{} = {}", s.key.name(), u8::from(s.value)))
        .collect()
}

/// Includes answered from the entry's files, resolved as the file loader resolves
/// them (absolute, or relative to the including file's directory).
struct FromEntry<'a>(&'a Entry);

impl Includes for FromEntry<'_> {
    fn load(&self, from: &str, path: &str) -> Result<(String, Vec<u8>), String> {
        let full = check::include_path(from, path).display().to_string();
        let skip = 1 + usize::from(self.0.has_site);
        self.0
            .files
            .iter()
            .skip(skip)
            .find(|f| f.name == full)
            .map(|f| (f.name.clone(), f.text.as_bytes().to_vec()))
            .ok_or_else(|| format!("{full} is not in the last known good"))
    }
}

/// The entry's file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn decode(path: &Path, bytes: &[u8]) -> Result<Entry, LkgError> {
    let corrupt = |reason: String| LkgError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
        return Err(corrupt("it has no header line".into()));
    };
    let head =
        std::str::from_utf8(&bytes[..nl]).map_err(|_| corrupt("its header is not text".into()))?;
    let body = &bytes[nl + 1..];
    let mut words = head.split(' ');
    if words.next() != Some(MAGIC) {
        return Err(corrupt(format!(
            "its header {head:?} does not start with {MAGIC}"
        )));
    }
    if words.next() != Some(&VERSION.to_string()) {
        return Err(corrupt(format!(
            "its header {head:?} is not format {VERSION}"
        )));
    }
    let digest = words.next().and_then(|w| w.strip_prefix("sha256:"));
    let Some(digest) = digest.filter(|d| crate::digest::is_hex_digest(d)) else {
        return Err(corrupt(format!("its header {head:?} has no sha256 digest")));
    };
    let actual = crate::digest::sha256_hex(body);
    if actual != digest {
        return Err(corrupt(format!(
            "its content does not match its digest (stored {digest}, content {actual})"
        )));
    }
    let entry: Entry = serde_json::from_slice(body)
        .map_err(|e| corrupt(format!("its content is not an entry: {e}")))?;
    if entry.files.is_empty() || (entry.has_site && entry.files.len() < 2) {
        return Err(corrupt("it lists fewer files than it names".into()));
    }
    Ok(entry)
}

/// Reads the last known good in `dir`: `None` when there is none (no directory or no
/// file). The directory and file must pass the trust rule; a damaged file is refused.
pub fn load(dir: &Path) -> Result<Option<Entry>, LkgError> {
    if !trust::dir_exists(dir)? {
        return Ok(None);
    }
    trust::check_dir(dir)?;
    let path = path(dir);
    match trust::read_file(&path, LIMIT) {
        Ok(Some(bytes)) => decode(&path, &bytes).map(Some),
        Ok(None) => Ok(None),
        Err(safe::Error::Corrupt { path, reason }) => Err(LkgError::Corrupt { path, reason }),
        Err(e) => Err(e.into()),
    }
}

/// Stores `entry` as the last known good in `dir` (created 0700 when missing),
/// atomically, written as it is serialised; an intact entry with the same inputs
/// already there is left alone.
pub fn store(dir: &Path, entry: &EntryRef) -> Result<Stored, LkgError> {
    write::store(dir, entry)
}

/// Which change an entry waits for, and where it goes: the first line of a staged
/// file; the encoded entry follows.
#[derive(Serialize, Deserialize)]
struct Staged {
    id: String,
    dir: PathBuf,
}

/// Room for the staged file's first line besides the entry.
const STAGE_HEAD: u64 = 64 << 10;

/// Under `apply --confirm`: keeps `entry` in `state_dir` for change `id` of `slot`
/// until [`promote`] stores it in `dir`.
pub fn stage(
    state_dir: &Path,
    slot: &Slot,
    id: &str,
    dir: &Path,
    entry: &EntryRef,
) -> Result<(), LkgError> {
    let staged = Staged {
        id: id.to_string(),
        dir: dir.to_path_buf(),
    };
    let mut bytes = serde_json::to_vec(&staged).map_err(|e| LkgError::Unusable(e.to_string()))?;
    if bytes.len() as u64 >= STAGE_HEAD {
        return Err(LkgError::Unusable(format!(
            "the directory {} is too long a name",
            dir.display()
        )));
    }
    bytes.push(b'\n');
    write::store_at(&slot.file(state_dir, STAGE_PREFIX), &bytes, entry)
}

/// After `confirm` kept change `id` of `slot`: stores its staged entry. `None` when no
/// entry was staged for that change (an apply to another namespace, or a leftover of an
/// older change, which is removed).
pub fn promote(
    state_dir: &Path,
    slot: &Slot,
    id: &str,
) -> Result<Option<(PathBuf, Stored)>, LkgError> {
    let file = slot.file(state_dir, STAGE_PREFIX);
    let Some(bytes) = trust::read_file(&file, LIMIT + STAGE_HEAD)? else {
        return Ok(None);
    };
    remove_durably(&file)?;
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let staged: Staged = serde_json::from_slice(&bytes[..nl]).map_err(|e| LkgError::Corrupt {
        path: file.clone(),
        reason: format!("its first line is not a staged entry: {e}"),
    })?;
    if staged.id != id {
        return Ok(None);
    }
    let entry = decode(&file, bytes.get(nl + 1..).unwrap_or_default())?;
    let done = store(&staged.dir, &EntryRef::of(&entry))?;
    Ok(Some((path(&staged.dir), done)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const POLICY: &str = "include \"inc/nets.policy\"\npolicy t {\n    default drop\n    forwarding on\n    allow ssh tcp 22 from mgmt\n}\n";
    const INCLUDE: &str = "define mgmt = 10.9.0.0/24\n";

    /// The policy and its include, read from `dir` as the file loader would.
    struct Disk;
    impl Includes for Disk {
        fn load(&self, from: &str, path: &str) -> Result<(String, Vec<u8>), String> {
            let full = check::include_path(from, path);
            std::fs::read(&full)
                .map(|b| (full.display().to_string(), b))
                .map_err(|e| e.to_string())
        }
    }

    fn compiled(dir: &Path) -> (Entry, Ruleset) {
        std::fs::create_dir_all(dir.join("inc")).expect("mkdir");
        std::fs::write(dir.join("inc/nets.policy"), INCLUDE).expect("write");
        let name = dir.join("host.policy").display().to_string();
        let mut map = SourceMap::new();
        let (p, diags) = check::check_bytes(&mut map, (&name, POLICY.as_bytes()), None, &Disk);
        let p = p.unwrap_or_else(|| panic!("{diags:?}"));
        let rs = crate::compile::compile(&p);
        (Entry::new(&map, false, &rs, 7), rs)
    }

    fn store_dir() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let d = t.path().join("lib");
        (t, d)
    }

    #[test]
    fn a_stored_entry_replays_to_the_same_ruleset_without_the_files() {
        let (t, dir) = store_dir();
        let (entry, rs) = compiled(&t.path().join("etc"));
        assert_eq!(entry.files.len(), 2, "policy and include");
        assert_eq!(
            store(&dir, &EntryRef::of(&entry)).expect("stored"),
            Stored::Written
        );
        let mode = std::fs::metadata(path(&dir))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The inputs are gone: the replay needs nothing but the entry.
        std::fs::remove_dir_all(t.path().join("etc")).expect("rm");
        let back = load(&dir).expect("load").expect("an entry");
        assert_eq!(back, entry);
        let (_, again) = back.compile().expect("compiles");
        assert_eq!(again, rs);
        assert_eq!(back.sysctls, vec!["net.ipv4.ip_forward = 1".to_string()]);
        let mut later = entry.clone();
        later.generation = 99;
        assert_eq!(
            store(&dir, &EntryRef::of(&later)).expect("stored"),
            Stored::Unchanged
        );
    }

    #[test]
    fn no_directory_or_no_file_is_none() {
        let (_t, dir) = store_dir();
        assert!(load(&dir).expect("no dir").is_none());
        trust::ensure_dir(&dir).expect("mkdir");
        assert!(load(&dir).expect("no file").is_none());
    }

    fn corrupt_reason(dir: &Path, bytes: &[u8]) -> String {
        std::fs::write(path(dir), bytes).expect("write");
        std::fs::set_permissions(path(dir), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        match load(dir) {
            Err(e @ LkgError::Corrupt { .. }) => e.to_string(),
            other => panic!("not refused as corrupt: {other:?}"),
        }
    }

    #[test]
    fn every_kind_of_damage_is_refused_with_its_reason() {
        let (t, dir) = store_dir();
        let (entry, _) = compiled(&t.path().join("etc"));
        store(&dir, &EntryRef::of(&entry)).expect("stored");
        let good = std::fs::read(path(&dir)).expect("read");
        let mut flipped = good.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 0x01;
        let nl = good.iter().position(|&b| b == b'\n').expect("header");
        let body = &good[nl + 1..];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (flipped, "does not match its digest"),
            (good[..good.len() / 2].to_vec(), "does not match its digest"),
            (b"".to_vec(), "no header line"),
            (b"{\"files\":[]}\n".to_vec(), "does not start with hostwall-last-good"),
            ([b"hostwall-last-good 9 sha256:00\n", body].concat(), "is not format 1"),
            ([b"hostwall-last-good 1 md5:00\n", body].concat(), "has no sha256 digest"),
            (
                format!("hostwall-last-good 1 sha256:{}\n[]", crate::digest::sha256_hex(b"[]")).into_bytes(),
                "is not an entry",
            ),
            (
                format!(
                    "hostwall-last-good 1 sha256:{}\n{}",
                    crate::digest::sha256_hex(br#"{"files":[],"has_site":false,"table":"t","sysctls":[],"generation":1,"stored_at":1}"#),
                    r#"{"files":[],"has_site":false,"table":"t","sysctls":[],"generation":1,"stored_at":1}"#
                )
                .into_bytes(),
                "fewer files",
            ),
        ];
        for (bytes, want) in cases {
            let got = corrupt_reason(&dir, &bytes);
            assert!(got.contains(want), "{want:?} not in {got:?}");
            assert!(
                got.contains("is corrupt") && got.contains("not used"),
                "{got}"
            );
        }
        // Larger than the limit: refused from its size, before it is read.
        let f = std::fs::File::create(path(&dir)).expect("create");
        f.set_len(LIMIT + 1).expect("sparse");
        drop(f);
        let got = corrupt_reason_no_write(&dir);
        assert!(got.contains("more than the"), "{got}");
    }

    fn corrupt_reason_no_write(dir: &Path) -> String {
        match load(dir) {
            Err(e @ LkgError::Corrupt { .. }) => e.to_string(),
            other => panic!("not refused as corrupt: {other:?}"),
        }
    }

    #[test]
    fn an_untrusted_directory_or_file_is_refused() {
        let (t, dir) = store_dir();
        let (entry, _) = compiled(&t.path().join("etc"));
        store(&dir, &EntryRef::of(&entry)).expect("stored");
        std::fs::set_permissions(path(&dir), std::fs::Permissions::from_mode(0o666))
            .expect("chmod");
        let e = load(&dir).expect_err("group/world-writable file");
        assert!(e.to_string().contains("writable by group or others"), "{e}");
        std::fs::set_permissions(path(&dir), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let e = load(&dir).expect_err("open directory");
        assert!(e.to_string().contains("only its owner may use it"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::remove_file(path(&dir)).expect("rm");
        std::os::unix::fs::symlink("/etc/hostname", path(&dir)).expect("symlink");
        let e = load(&dir).expect_err("symbolic link");
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn a_staged_entry_is_stored_only_by_its_own_change() {
        let (t, dir) = store_dir();
        let state = t.path().join("run");
        trust::ensure_dir(&state).expect("mkdir");
        let (entry, _) = compiled(&t.path().join("etc"));
        let slot = Slot::new("k1", None).expect("slot");
        stage(&state, &slot, "id-1", &dir, &EntryRef::of(&entry)).expect("staged");
        assert!(promote(&state, &slot, "id-0").expect("other id").is_none());
        assert!(
            load(&dir).expect("load").is_none(),
            "another change's entry was stored"
        );
        stage(&state, &slot, "id-1", &dir, &EntryRef::of(&entry)).expect("staged");
        let (p, done) = promote(&state, &slot, "id-1")
            .expect("promoted")
            .expect("stored");
        assert_eq!((p, done), (path(&dir), Stored::Written));
        assert_eq!(load(&dir).expect("load"), Some(entry));
        assert!(
            promote(&state, &slot, "id-1").expect("gone").is_none(),
            "staged twice"
        );
    }

    #[test]
    fn an_entry_whose_include_is_missing_or_whose_result_moved_is_unusable() {
        let (t, _dir) = store_dir();
        let (mut entry, _) = compiled(&t.path().join("etc"));
        let mut moved = entry.clone();
        moved.sysctls.clear();
        let e = moved.compile().expect_err("other sysctls");
        assert!(e.to_string().contains("not the stored table"), "{e}");
        entry.files.truncate(1);
        let e = entry.compile().expect_err("include missing");
        let msg = e.to_string();
        assert!(
            msg.contains("host.policy:1:") && msg.contains("not in the last known good"),
            "{msg}"
        );
    }
}
