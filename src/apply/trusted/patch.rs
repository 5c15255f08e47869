//! The table record's patches: an in-place commit's changes appended to the record
//! instead of the whole record written again (100,000 prefixes, one changed: about 3 KB
//! appended, mostly the table's description, which each patch repeats, where a rewrite
//! wrote 0.8 MB), and what the record itself reads the same way: the framing of the file's
//! chunks and a set's packed elements.
//!
//! A record file is chunks: the record (`MAGIC`), then any number of patches
//! (`PATCH_MAGIC`). A chunk is a magic line, a checksum in 16 hex digits, a
//! little-endian `u32` length and that many bytes of body; the checksum is of the body
//! followed by the length's four bytes. A body is packed elements, then JSON, then the
//! JSON's length (a little-endian `u32`): the elements come first so that a record's
//! can be written, and their checksum taken, before its JSON is known (`write.rs`).
//! A patch's body is like the record's: the elements it changes, packed, lost then
//! gained, set by set, then JSON (the whole table as the commit left it, as the
//! record describes it, and for each set that changed the number of elements it lost
//! and gained). Reading
//! applies each patch to the sets before it: a set of the patch's table keeps its
//! elements (found by name), less the lost and plus the gained when the patch changes
//! it; a set its table no longer has is gone. Each patch must apply exactly
//! (`Packed::patched`: a lost element was there, a gained one was not), leave each set
//! the count its JSON names, and name the record's table and namespace, or the record
//! is refused.
//!
//! A patch is appended only to the very file the apply planned from (same device,
//! inode, size, change and modification times), and only while the patches stay
//! under a quarter of the record's size and [`MAX_PATCHES`], and reading them copies no
//! more elements than the record holds (each patch rebuilds the sets it changes: one
//! change in a 16,384-element set copies all of them): otherwise the record is written
//! whole again, which also drops the patches.

use super::{Meta, PatchMeta, SetMeta};
use crate::apply::delta::LiveSet;
use crate::ir::kernel::set_key_of;
use crate::ir::packed::{self, Packed};
use crate::ir::{Interval, SetKey};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The first line of the record's chunk.
pub(super) const MAGIC: &[u8] = b"hostwall table record 4\n";
/// The first line of a patch's chunk.
pub(super) const PATCH_MAGIC: &[u8] = b"hostwall table patch 4\n";
/// Hex digits of a chunk's checksum.
pub(super) const SUM_LEN: usize = 16;
/// Patches a record takes before it is written whole again.
pub const MAX_PATCHES: usize = 64;

/// How a record's file was made up: the record's chunk and the patches after it, in
/// bytes, and how many patches. With its [`Stamp`]: whether a patch may be appended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub record: usize,
    pub patches: usize,
    pub count: usize,
    /// Elements the patches copy when the file is read (the sets each one changes).
    pub work: usize,
    /// Elements the record's sets hold once patched.
    pub elements: usize,
}

/// A file's identity and version: device, inode, size, change and modification times.
/// A record is replaced by renaming a new file into place (a new inode), and any write
/// in place moves the change time.
pub(super) type Stamp = (u64, u64, u64, (i64, i64), (i64, i64));

/// `m`'s [`Stamp`].
pub(super) fn stamp(m: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    (
        m.dev(),
        m.ino(),
        m.size(),
        (m.ctime(), m.ctime_nsec()),
        (m.mtime(), m.mtime_nsec()),
    )
}

/// The file a record was decoded from, as it was then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub(super) stamp: Stamp,
    pub layout: Layout,
}

impl Origin {
    /// Whether a patch of `len` bytes may go after what the file holds (and the file
    /// then still be read: [`super::LIMIT`]).
    pub(super) fn takes(&self, len: usize) -> bool {
        let l = self.layout;
        let total = (l.record + l.patches).saturating_add(len) as u64;
        l.count < MAX_PATCHES
            && (l.patches + len) * 4 <= l.record
            && total <= super::LIMIT
            && l.work <= l.elements
    }
}

/// A record file's chunks: the record's body, each patch's body, and its layout.
pub(super) type Chunks<'a> = (&'a [u8], Vec<&'a [u8]>, Layout);

/// The bodies of the record's chunk and of each patch after it, with the file's layout.
pub(super) fn chunks(bytes: &[u8]) -> Result<Chunks<'_>, String> {
    let (record, mut rest) = chunk(bytes, MAGIC).map_err(|e| match e {
        Wrong::Magic => "not a table record of this version".to_string(),
        Wrong::Other(e) => e,
    })?;
    let mut layout = Layout {
        record: bytes.len() - rest.len(),
        ..Layout::default()
    };
    let mut patches = Vec::new();
    while !rest.is_empty() {
        let (body, after) = chunk(rest, PATCH_MAGIC).map_err(|e| match e {
            Wrong::Magic => "trailing bytes".to_string(),
            Wrong::Other(e) => format!("patch {}: {e}", patches.len() + 1),
        })?;
        layout.patches += rest.len() - after.len();
        layout.count += 1;
        patches.push(body);
        rest = after;
    }
    Ok((record, patches, layout))
}

enum Wrong {
    Magic,
    Other(String),
}

/// One chunk's body and what follows it.
fn chunk<'a>(bytes: &'a [u8], magic: &[u8]) -> Result<(&'a [u8], &'a [u8]), Wrong> {
    let rest = bytes.strip_prefix(magic).ok_or(Wrong::Magic)?;
    let truncated = || Wrong::Other("truncated".into());
    let (sum, rest) = rest.split_at_checked(SUM_LEN).ok_or_else(truncated)?;
    let len = rest.get(..4).ok_or_else(truncated)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let end = 4usize.checked_add(len).ok_or_else(truncated)?;
    let (sealed, after) = rest.split_at_checked(end).ok_or_else(truncated)?;
    let (len, body) = sealed.split_at(4);
    if sum != sum_hex(body, len).as_bytes() {
        return Err(Wrong::Other(
            "its checksum does not match its content".into(),
        ));
    }
    Ok((body, after))
}

/// Starts a chunk in `out`: its magic line and room for its checksum and length.
/// Returns where the room starts, for [`seal`].
pub(super) fn begin(out: &mut Vec<u8>, magic: &[u8]) -> usize {
    out.extend_from_slice(magic);
    let at = out.len();
    out.resize(at + SUM_LEN + 4, b'0');
    at
}

/// Fills in the length and checksum of the chunk begun at `at`, which runs to the end
/// of `out`.
pub(super) fn seal(out: &mut [u8], at: usize) {
    let body = out.len() - (at + SUM_LEN + 4);
    let len = u32::try_from(body).unwrap_or(u32::MAX).to_le_bytes();
    out[at + SUM_LEN..at + SUM_LEN + 4].copy_from_slice(&len);
    let sum = sum_hex(&out[at + SUM_LEN + 4..], &len);
    out[at..at + SUM_LEN].copy_from_slice(sum.as_bytes());
}

/// The checksum a chunk of `body` holds (its four length bytes `len`): 16 lowercase hex
/// digits.
pub(super) fn sum_hex(body: &[u8], len: &[u8]) -> String {
    let mut sum = crate::digest::Checksum::new();
    sum.update(body);
    sealed_hex(sum, len)
}

/// [`sum_hex`] of a body whose bytes `sum` has taken.
pub(super) fn sealed_hex(mut sum: crate::digest::Checksum, len: &[u8]) -> String {
    sum.update(len);
    format!("{:016x}", sum.finish())
}

/// The end of a body: its JSON's length.
pub(super) fn close_body(out: &mut Vec<u8>, json: &[u8]) {
    out.extend_from_slice(json);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
}

impl SetMeta {
    pub(super) fn key(&self) -> Result<SetKey, String> {
        set_key_of(self.key).ok_or_else(|| "a set of an unknown key type".to_string())
    }

    /// The live set this describes, holding `elements`.
    pub(super) fn live(&self, key: SetKey, elements: Packed) -> LiveSet {
        LiveSet {
            name: self.name.clone(),
            key,
            interval: self.interval,
            comment: self.comment.clone(),
            timeout_ms: self.timeout_ms,
            elements,
        }
    }
}

/// `n` elements of a `key` set, packed as the record stores them, taken off the front of
/// `packed`.
pub(super) fn take_elements(packed: &mut &[u8], n: usize, key: SetKey) -> Result<Packed, String> {
    let w = key.len();
    let size = n.checked_mul(2 * w).ok_or("a set too large")?;
    let (mine, rest) = packed.split_at_checked(size).ok_or("truncated")?;
    *packed = rest;
    Packed::from_be(w, mine).ok_or_else(|| "truncated".to_string())
}

/// Record files from this size on are judged by their chunks' descriptions before they
/// are read whole ([`peek`]).
pub(super) const PEEK_FROM: u64 = 64 << 10;

/// What a chunk's description says of the table it describes.
#[derive(serde::Deserialize)]
struct Head {
    genid: u32,
    netns: crate::nsid::NetnsId,
    table: String,
}

/// The (table, namespace, generation) that the last chunk of the record file `file`
/// (of `size` bytes) describes, read from the chunks' descriptions alone: no element is read and no
/// checksum taken (the file is read whole and checked before it is trusted), so a
/// record that cannot stand for the table now is refused without reading its elements.
/// `None` when the chunks cannot be walked so.
pub(super) fn peek(file: &std::fs::File, size: u64) -> Option<(String, crate::nsid::NetnsId, u32)> {
    use std::os::unix::fs::FileExt;
    let (mut at, mut magic, mut last) = (0u64, MAGIC, None);
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
    while at < size {
        let mut fixed = vec![0u8; magic.len() + SUM_LEN + 4];
        file.read_exact_at(&mut fixed, at).ok()?;
        let len = word(fixed.strip_prefix(magic)?.get(SUM_LEN..)?);
        let body = at + (magic.len() + SUM_LEN + 4) as u64;
        if len < 4 || body + len > size {
            return None;
        }
        let mut trailer = [0u8; 4];
        file.read_exact_at(&mut trailer, body + len - 4).ok()?;
        let json = word(&trailer);
        if json + 4 > len {
            return None;
        }
        let mut text = vec![0u8; usize::try_from(json).ok()?];
        file.read_exact_at(&mut text, body + len - 4 - json).ok()?;
        let head: Head = serde_json::from_slice(&text).ok()?;
        last = Some((head.table, head.netns, head.genid));
        (at, magic) = (body + len, PATCH_MAGIC);
    }
    last
}

/// A body's JSON and the packed elements before it.
pub(super) fn body(bytes: &[u8]) -> Result<(Meta, &[u8]), String> {
    let (rest, len) = (bytes.split_at_checked(bytes.len().wrapping_sub(4))).ok_or("truncated")?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let start = rest.len().checked_sub(len).ok_or("truncated")?;
    let (packed, json) = rest.split_at(start);
    let meta = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    Ok((meta, packed))
}

/// The sets after the patch described by `meta` (its packed elements `packed`), from
/// the sets before it.
/// Also returns how many elements the patched sets held before (what their rebuilding
/// copied).
pub(super) fn apply(
    before: Vec<LiveSet>,
    meta: &Meta,
    mut packed: &[u8],
) -> Result<(Vec<LiveSet>, usize), String> {
    let mut work = 0;
    let mut before: std::collections::HashMap<String, LiveSet> =
        before.into_iter().map(|s| (s.name.clone(), s)).collect();
    let mut changes = std::collections::HashMap::new();
    for p in &meta.patches {
        let set = meta.sets.iter().find(|s| s.name == p.set);
        let key = set.ok_or("a patch of an unknown set")?.key()?;
        let lost = take_elements(&mut packed, p.removed, key)?;
        let gained = take_elements(&mut packed, p.added, key)?;
        if changes.insert(p.set.as_str(), (lost, gained)).is_some() {
            return Err(format!("set {} is patched twice", p.set));
        }
    }
    if !packed.is_empty() {
        return Err("trailing bytes".into());
    }
    let mut sets = Vec::with_capacity(meta.sets.len());
    let mut names = std::collections::HashSet::new();
    for s in &meta.sets {
        if !names.insert(s.name.as_str()) {
            return Err(format!("set {} is named twice", s.name));
        }
        let key = s.key()?;
        let elements = match (before.remove(&s.name), changes.remove(s.name.as_str())) {
            (Some(b), _) if b.key != key => {
                return Err(format!("set {} changed its key in a patch", s.name));
            }
            (Some(b), None) => b.elements,
            (Some(b), Some((lost, gained))) => {
                work += b.elements.len();
                (b.elements.patched(&lost, &gained))
                    .ok_or_else(|| format!("the patch of set {} does not apply", s.name))?
            }
            (None, Some((lost, gained))) if lost.is_empty() => gained,
            (None, Some(_)) => return Err(format!("the patch of new set {} removes", s.name)),
            (None, None) => Packed::default(),
        };
        if elements.len() != s.count {
            return Err(format!(
                "set {} does not hold the elements it names",
                s.name
            ));
        }
        sets.push(s.live(key, elements));
    }
    if let Some(set) = changes.keys().next() {
        return Err(format!("a patch of set {set}, which the table lacks"));
    }
    Ok((sets, work))
}

/// One set's change in a patch: the elements it lost and gained, sorted (a new set
/// gains all of its elements).
pub struct SetPatch {
    pub set: String,
    /// Bytes of the set's key (an element is packed as two of them).
    pub width: usize,
    pub removed: Vec<Interval>,
    pub added: Vec<Interval>,
}

/// Bytes the packed elements of `changes` take in a patch.
pub(super) fn elements_len(changes: &[SetPatch]) -> usize {
    (changes.iter())
        .map(|c| (c.removed.len() + c.added.len()) * 2 * c.width)
        .sum()
}

/// The patch's chunk: `meta` (the table as the commit left it, each set with its count)
/// with `changes`.
pub(super) fn encode(mut meta: Meta, changes: &[SetPatch]) -> Vec<u8> {
    meta.patches = (changes.iter())
        .map(|c| PatchMeta {
            set: c.set.clone(),
            removed: c.removed.len(),
            added: c.added.len(),
        })
        .collect();
    let json = serde_json::to_vec(&meta).unwrap_or_default();
    let mut out = Vec::new();
    let at = begin(&mut out, PATCH_MAGIC);
    for c in changes {
        packed::write_be(c.removed.iter().copied(), c.width, &mut out);
        packed::write_be(c.added.iter().copied(), c.width, &mut out);
    }
    close_body(&mut out, &json);
    seal(&mut out, at);
    out
}

/// Appends `patch` to the record at `path` when it still is the file `origin` describes
/// and may take it; `Ok(false)` when it may not (the caller writes the record whole).
pub(super) fn append(path: &Path, origin: &Origin, patch: &[u8]) -> Result<bool, String> {
    if !origin.takes(patch.len()) {
        return Ok(false);
    }
    let file = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let Ok(mut file) = file else {
        return Ok(false);
    };
    crate::safe::trust::check_file(path, &file).map_err(|e| e.to_string())?;
    let now = stamp(&file.metadata().map_err(|e| e.to_string())?);
    if now != origin.stamp {
        return Ok(false);
    }
    // A write cut short leaves a patch whose checksum fails: the record is refused.
    file.write_all(patch).map_err(|e| e.to_string())?;
    Ok(true)
}

/// The changes of the in-place `delta` to the sets, as a patch records them: the
/// elements each changed set lost and gained, and each new set's elements (a dynamic
/// set's are the kernel's, never recorded).
pub fn changes_of(delta: &crate::emit::delta::Delta<'_>) -> Vec<SetPatch> {
    let changed = (delta.elements.iter()).map(|c| SetPatch {
        set: c.set.name.clone(),
        width: c.set.key.len(),
        removed: c.removed.clone(),
        added: c.added.clone(),
    });
    let new = (delta.new_sets.iter())
        .filter(|s| s.timeout_ms.is_none())
        .map(|s| SetPatch {
            set: s.name.clone(),
            width: s.key.len(),
            removed: Vec::new(),
            added: crate::apply::delta::stored_elements(s).unpack(),
        });
    changed.chain(new).collect()
}
