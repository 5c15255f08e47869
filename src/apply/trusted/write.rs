//! The table record's bytes, laid out as `patch.rs` says: built in one buffer, or
//! drafted. A draft streams the elements of a commit's record to a temp file beside the
//! record while the batch is still in the kernel (a million addresses: 8 MB written and
//! checksummed on the other CPU during the kernel's second), and adds the description,
//! which names the generation the commit made and the rules' handles, once the commit is
//! known. The elements come first in a body for this: their checksum is taken before
//! the description exists.

use super::patch::{self, MAGIC, SUM_LEN};
use super::{ChainMeta, Meta, SetMeta};
use crate::apply::delta::{self, LiveChain, LiveSet};
use crate::digest::Checksum;
use crate::ir::Ruleset;
use crate::ir::packed::Packed;
use crate::nft::vocab::{DataType, InetHook, VerdictCode};
use crate::nsid::NetnsId;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A set as the record writes it: its header (elements unused) and its elements, the
/// compiled set's or a live one's.
pub(super) struct SetView<'a> {
    pub(super) set: &'a LiveSet,
    pub(super) elements: &'a Packed,
}

/// The elements of a dynamic set, as recorded.
static NONE: Packed = Packed::Narrow(Vec::new());

/// The sets of a commit of a ruleset as the record holds them: each set's header, and
/// the elements the kernel stores for a set that is neither an interval set (whose
/// elements are the compiled set's own, never copied) nor a dynamic one (none).
pub(super) struct CommitSets {
    heads: Vec<LiveSet>,
    owned: Vec<Option<Packed>>,
}

impl CommitSets {
    pub(super) fn of(rs: &Ruleset) -> CommitSets {
        let sets = &rs.table.sets;
        CommitSets {
            heads: (sets.iter())
                .map(|s| LiveSet::of(s, |_| Packed::default()))
                .collect(),
            owned: (sets.iter())
                .map(|s| (!s.interval && s.timeout_ms.is_none()).then(|| delta::stored_elements(s)))
                .collect(),
        }
    }

    /// The sets with their elements; `rs` is the ruleset these were made [`of`].
    ///
    /// [`of`]: CommitSets::of
    pub(super) fn views<'a>(&'a self, rs: &'a Ruleset) -> Vec<SetView<'a>> {
        (self.heads.iter().zip(&rs.table.sets).zip(&self.owned))
            .map(|((head, s), owned)| SetView {
                set: head,
                elements: match (owned, s.timeout_ms) {
                    (_, Some(_)) => &NONE,
                    (Some(v), None) => v,
                    (None, None) => &s.elements,
                },
            })
            .collect()
    }
}

/// Each set's header with its element count.
pub(super) fn counted<'a>(views: &'a [SetView<'a>]) -> impl Iterator<Item = (&'a LiveSet, usize)> {
    views.iter().map(|v| (v.set, v.elements.len()))
}

/// The record's bytes: magic, checksum, length, then the body (packed elements, JSON,
/// the JSON's length), built in one buffer and its checksum filled in last.
pub(super) fn encode_parts(
    (genid, netns, table): (u32, &NetnsId, &str),
    sets: &[SetView],
    chains: &[LiveChain],
) -> Vec<u8> {
    let meta = meta_of((genid, netns, table), counted(sets), chains);
    // Plain strings and numbers: serialising cannot fail.
    let json = serde_json::to_vec(&meta).unwrap_or_default();
    let elements: usize = (sets.iter())
        .map(|v| v.elements.len() * 2 * v.set.key.len())
        .sum();
    let mut out = Vec::new();
    let size = MAGIC.len() + SUM_LEN + 8 + json.len() + elements;
    crate::pages::reserve_faulted(&mut out, size);
    let at = patch::begin(&mut out, MAGIC);
    for v in sets {
        v.elements.write_be(v.set.key.len(), &mut out);
    }
    patch::close_body(&mut out, &json);
    patch::seal(&mut out, at);
    out
}

/// The record's description of a table of `sets` (each header with its element count)
/// and `chains`.
pub(super) fn meta_of<'a>(
    (genid, netns, table): (u32, &NetnsId, &str),
    sets: impl Iterator<Item = (&'a LiveSet, usize)>,
    chains: &[LiveChain],
) -> Meta {
    Meta {
        genid,
        netns: netns.clone(),
        table: table.to_string(),
        sets: sets
            .map(|(set, count)| SetMeta {
                name: set.name.clone(),
                key: DataType::from(set.key).raw(),
                interval: set.interval,
                comment: set.comment.clone(),
                timeout_ms: set.timeout_ms,
                count,
            })
            .collect(),
        chains: chains.iter().map(chain_meta).collect(),
        patches: Vec::new(),
    }
}

fn chain_meta(c: &LiveChain) -> ChainMeta {
    ChainMeta {
        name: c.name.clone(),
        base: c.base.map(|b| {
            let policy = VerdictCode::from(b.policy).raw();
            (InetHook::from(b.hook).raw(), b.priority, policy)
        }),
        rules: c.rules.clone(),
    }
}

/// Records whose elements take at least this many bytes are drafted while the batch is
/// in the kernel ([`Draft::start`] on another thread); smaller ones are written after,
/// in less time than a thread takes to start and join.
pub const DRAFT_FROM: usize = 256 << 10;

/// Bytes of elements a record of `rs` holds, about (a set the kernel stores otherwise
/// is counted as compiled): whether to draft it.
pub fn elements_len(rs: &Ruleset) -> usize {
    (rs.table.sets.iter())
        .filter(|s| s.timeout_ms.is_none())
        .map(|s| s.elements.len() * 2 * s.key.len())
        .sum()
}

/// Bytes of elements written to the temp file at a time.
const PIECE: usize = 256 << 10;

/// A record begun before its commit is known: its elements, in a temp file beside the
/// record. [`Draft::finish`] adds the description and puts the file in place; dropped
/// unfinished (the batch was refused, or the commit's record is a patch), the temp file
/// is removed and the record left as it was.
pub(crate) struct Draft {
    staged: crate::safe::Staged,
    /// Of the elements written.
    sum: Checksum,
    bytes: usize,
    heads: Vec<LiveSet>,
    counts: Vec<usize>,
    table: String,
}

impl Draft {
    /// The record at `path` (in a trusted state directory) of a commit that makes our
    /// table exactly `rs`, its elements written.
    pub(crate) fn start(path: &Path, rs: &Ruleset) -> Result<Draft, String> {
        let dir = path.parent().unwrap_or(Path::new("."));
        crate::safe::trust::ensure_dir(dir).map_err(|e| e.to_string())?;
        let staged = crate::safe::Staged::cache(path, 0o600).map_err(|e| e.to_string())?;
        let failed = |e: std::io::Error| format!("write {}: {e}", staged.temp_path().display());
        let sets = CommitSets::of(rs);
        let views = sets.views(rs);
        let (mut sum, mut bytes) = (Checksum::new(), 0);
        let mut file = staged.file();
        let mut out = Vec::with_capacity(PIECE + 64);
        out.extend_from_slice(MAGIC);
        // The checksum and length, filled in by `finish`.
        out.resize(MAGIC.len() + SUM_LEN + 4, b'0');
        let mut from = out.len();
        for v in &views {
            let width = v.set.key.len();
            let step = PIECE / (2 * width);
            for at in (0..v.elements.len()).step_by(step) {
                v.elements
                    .write_be_range(width, at..(at + step).min(v.elements.len()), &mut out);
                if out.len() >= PIECE {
                    sum.update(&out[from..]);
                    bytes += out.len() - from;
                    file.write_all(&out).map_err(failed)?;
                    out.clear();
                    from = 0;
                }
            }
        }
        sum.update(&out[from..]);
        bytes += out.len() - from;
        file.write_all(&out).map_err(failed)?;
        let counts = counted(&views).map(|(_, n)| n).collect();
        drop(views);
        Ok(Draft {
            sum,
            bytes,
            heads: sets.heads,
            counts,
            table: rs.table.name.clone(),
            staged,
        })
    }

    /// Adds the description of the commit at `genid` in `netns` that left `chains`, and
    /// puts the record in place: the bytes [`encode_parts`] makes of the same table.
    pub(crate) fn finish(
        self,
        (genid, netns): (u32, &NetnsId),
        chains: &[LiveChain],
    ) -> Result<(), String> {
        let Draft {
            staged,
            mut sum,
            bytes,
            heads,
            counts,
            table,
        } = self;
        let sets = heads.iter().zip(counts.iter().copied());
        let meta = meta_of((genid, netns, &table), sets, chains);
        let json = serde_json::to_vec(&meta).unwrap_or_default();
        let mut tail = Vec::with_capacity(json.len() + 4);
        patch::close_body(&mut tail, &json);
        sum.update(&tail);
        let len = u32::try_from(bytes + tail.len()).map_err(|_| "the record is too large")?;
        let len = len.to_le_bytes();
        let mut fixed = patch::sealed_hex(sum, &len).into_bytes();
        fixed.extend_from_slice(&len);
        let failed = |e: std::io::Error| format!("write {}: {e}", staged.temp_path().display());
        let mut file = staged.file();
        file.write_all(&tail).map_err(failed)?;
        file.write_all_at(&fixed, MAGIC.len() as u64)
            .map_err(failed)?;
        staged.commit().map_err(|e| e.to_string())
    }
}
