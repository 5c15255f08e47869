//! The table record: our table exactly as our last commit left it (sets with the
//! elements the kernel stores, chains, rules with their handles and nft text), kept in
//! the state directory so the next apply can plan its in-place change without reading
//! the kernel. It is trusted only when every one of these holds:
//!
//! - it was read through the state directory's trust rule (`safe::trust`);
//! - its checksums match its content (a damaged or truncated file is refused;
//!   `digest::checksum`, not a cryptographic digest: the directory's trust rule is what
//!   keeps others from writing it, and the file changes at every apply);
//! - it was written for this table, in this very namespace (`NetnsId`: boot id and
//!   namespace cookie, never repeated);
//! - the kernel's generation id now is the one our commit made: any commit to any
//!   table since moves it, and then the table is read instead.
//!
//! The batch planned from it carries that generation, so a change committed between
//! the check and the send still makes the kernel refuse it.
//!
//! Layout: one chunk (`patch.rs`: a magic line, a checksum, a length), whose body is
//! every set's elements packed as big-endian `lo`/`hi` pairs of the key's width (8 bytes
//! per IPv4 interval: 100,000 prefixes take 0.8 MB), then JSON (generation, namespace,
//! table, each set's name, key, flags, comment, a dynamic set's timeout and element
//! count, each chain's registration and rules), then the JSON's little-endian `u32`
//! length. A full replace's record is drafted while its batch is in the kernel
//! (`write.rs`); an in-place commit appends a patch chunk instead of writing it all
//! again.

pub mod ahead;
mod patch;
mod write;

pub use patch::{Layout, MAX_PATCHES, Origin, SetPatch, changes_of};
use patch::{stamp, take_elements};
pub(crate) use write::Draft;
pub use write::{DRAFT_FROM, elements_len};

use super::delta::{self, LiveChain, LiveTable};
use super::table_copy::dump;
use crate::ir::kernel::{hook_of, policy_of};
use crate::ir::{BaseChain, Ruleset};
use crate::nft::client::Client;
use crate::nft::msg::attr;
use crate::nft::wire::MsgType;
use crate::nsid::NetnsId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `NFTA_RULE_CHAIN`, `NFTA_RULE_HANDLE`.
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;

/// A record is O(table): 1,000,000 IPv6 prefixes take 32 MB.
const LIMIT: u64 = 256 << 20;

/// Our table as our commit at `genid` left it, in the namespace `netns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRecord {
    pub genid: u32,
    pub netns: NetnsId,
    pub table: String,
    pub live: LiveTable,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    genid: u32,
    netns: NetnsId,
    table: String,
    sets: Vec<SetMeta>,
    chains: Vec<ChainMeta>,
    /// A patch's changes, set by set (`patch.rs`); none in the record itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    patches: Vec<PatchMeta>,
}

/// How many elements a patch takes from a set and adds to it.
#[derive(Serialize, Deserialize)]
struct PatchMeta {
    set: String,
    removed: usize,
    added: usize,
}

#[derive(Serialize, Deserialize)]
struct SetMeta {
    name: String,
    /// nft datatype id of the key.
    key: u32,
    interval: bool,
    comment: Option<String>,
    /// A dynamic set's timeout (its elements are never recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    count: usize,
}

#[derive(Serialize, Deserialize)]
struct ChainMeta {
    name: String,
    /// Hook number, priority, policy verdict code.
    base: Option<(u32, i32, u32)>,
    rules: Vec<(u64, String)>,
}

/// The record's file, beside the apply record (`record::path`): `applied-NS.table`.
pub fn path(state_dir: &Path, netns: Option<&str>) -> PathBuf {
    crate::record::path(state_dir, netns).with_extension("table")
}

impl TableRecord {
    /// The record of a commit that made our table exactly `rs`, with `handles` the
    /// kernel's rule handles per chain, in chain order (a dump of our table's rules).
    /// `None` when they do not line up with `rs`. A dynamic set is recorded without
    /// elements: the sources it learns are the kernel's, not ours, and learning them
    /// moves no generation. ([`TableRecord::encode_commit`] writes the same bytes
    /// without this copy: the tests hold the two to the same bytes.)
    #[cfg(test)]
    pub(crate) fn of_commit(
        rs: &Ruleset,
        genid: u32,
        netns: NetnsId,
        handles: &[(String, u64)],
    ) -> Option<TableRecord> {
        let t = &rs.table;
        let chains = commit_chains(rs, handles)?;
        let sets = (t.sets.iter())
            .map(|s| delta::LiveSet::of(s, delta::stored_elements))
            .collect();
        Some(TableRecord {
            genid,
            netns,
            table: t.name.clone(),
            live: LiveTable {
                sets,
                chains,
                foreign: Vec::new(),
            },
        })
    }

    /// Our table when the record may stand for it ([`TableRecord::check_at`]);
    /// otherwise why not.
    pub fn trusted_at(
        self,
        table: &str,
        here: Option<&NetnsId>,
        genid: u32,
    ) -> Result<LiveTable, String> {
        self.check_at(table, here, genid).map(|()| self.live)
    }

    /// Whether the record may stand for our table: written for `table`, in the
    /// namespace `here`, at the generation `genid` the kernel reports now. Otherwise
    /// why not.
    pub fn check_at(&self, table: &str, here: Option<&NetnsId>, genid: u32) -> Result<(), String> {
        stands_for((&self.table, &self.netns, self.genid), table, here, genid)
    }

    pub fn encode(&self) -> Vec<u8> {
        let sets = (self.live.sets.iter())
            .map(|s| write::SetView {
                set: s,
                elements: &s.elements,
            })
            .collect::<Vec<_>>();
        write::encode_parts(
            (self.genid, &self.netns, &self.table),
            &sets,
            &self.live.chains,
        )
    }

    /// The bytes of the record [`TableRecord::of_commit`] would make, written from
    /// `rs` itself: an interval set's elements are written from the compiled set, never
    /// copied into a live form first.
    #[cfg(test)]
    pub(crate) fn encode_commit(
        rs: &Ruleset,
        genid: u32,
        netns: &NetnsId,
        handles: &[(String, u64)],
    ) -> Option<Vec<u8>> {
        Self::encode_commit_as(rs, (genid, netns), handles, None)
    }

    /// [`TableRecord::encode_commit`], or with `changes` the patch that turns the
    /// record the commit was planned from into that record (`patch.rs`).
    #[cfg(test)]
    fn encode_commit_as(
        rs: &Ruleset,
        at: (u32, &NetnsId),
        handles: &[(String, u64)],
        changes: Option<&[SetPatch]>,
    ) -> Option<Vec<u8>> {
        let chains = commit_chains(rs, handles)?;
        Some(Self::encode_chains(rs, at, &chains, changes))
    }

    /// [`TableRecord::encode_commit_as`] with each chain's rules given.
    fn encode_chains(
        rs: &Ruleset,
        (genid, netns): (u32, &NetnsId),
        chains: &[LiveChain],
        changes: Option<&[SetPatch]>,
    ) -> Vec<u8> {
        let sets = write::CommitSets::of(rs);
        let views = sets.views(rs);
        let head = (genid, netns, rs.table.name.as_str());
        match changes {
            None => write::encode_parts(head, &views, chains),
            Some(c) => patch::encode(write::meta_of(head, write::counted(&views), chains), c),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<TableRecord, String> {
        Self::decode_if(bytes, &|_| Ok(())).map(|(r, _)| r)
    }

    /// [`TableRecord::decode`] that first asks `usable` about the record's table,
    /// namespace and generation (as its last patch leaves them), and decodes no element
    /// of a record it refuses. Also returns how the file was made up.
    fn decode_if(bytes: &[u8], usable: &Header<'_>) -> Result<(TableRecord, Layout), String> {
        let (record, patches, mut layout) = patch::chunks(bytes)?;
        let (meta, mut packed) = patch::body(record)?;
        let patches = (patches.into_iter())
            .map(patch::body)
            .collect::<Result<Vec<_>, _>>()?;
        if (patches.iter()).any(|(m, _)| m.table != meta.table || m.netns != meta.netns) {
            return Err("a patch of another table or namespace".into());
        }
        let last = patches.last().map_or(&meta, |(m, _)| m);
        usable((&last.table, &last.netns, last.genid))?;
        let mut sets = Vec::with_capacity(meta.sets.len());
        for s in &meta.sets {
            let key = s.key()?;
            sets.push(s.live(key, take_elements(&mut packed, s.count, key)?));
        }
        if !packed.is_empty() {
            return Err("trailing bytes".into());
        }
        if !meta.patches.is_empty() {
            return Err("the record names changes, as only a patch does".into());
        }
        let mut meta = meta;
        for (m, packed) in patches {
            let work;
            (sets, work) = patch::apply(sets, &m, packed)?;
            layout.work += work;
            meta = m;
        }
        layout.elements = sets.iter().map(|s| s.elements.len()).sum();
        let chains = (meta.chains.into_iter())
            .map(|c| chain(c).ok_or("a chain of an unknown hook"))
            .collect::<Result<_, _>>()?;
        let rec = TableRecord {
            genid: meta.genid,
            netns: meta.netns,
            table: meta.table,
            live: LiveTable {
                sets,
                chains,
                foreign: Vec::new(),
            },
        };
        Ok((rec, layout))
    }
}

/// Each chain of `rs` with the kernel's handles for its rules, when `handles` (a rule
/// dump's (chain, handle) pairs in chain order) line up with the rules exactly.
fn commit_chains(rs: &Ruleset, handles: &[(String, u64)]) -> Option<Vec<LiveChain>> {
    let t = &rs.table;
    let mut by_chain: std::collections::HashMap<&str, Vec<u64>> = Default::default();
    for (chain, handle) in handles {
        by_chain.entry(chain).or_default().push(*handle);
    }
    let mut chains = Vec::with_capacity(t.chains.len());
    for c in &t.chains {
        let got = by_chain.remove(c.name.as_str()).unwrap_or_default();
        if got.len() != c.rules.len() {
            return None;
        }
        let rules = (got.into_iter().zip(&c.rules))
            .map(|(h, r)| (h, delta::rule_text(r)))
            .collect();
        chains.push(LiveChain {
            name: c.name.clone(),
            base: c.base,
            rules,
        });
    }
    by_chain.is_empty().then_some(chains)
}

/// A check of a record's (table, namespace, generation) before its sets are decoded.
type Header<'a> = dyn Fn((&String, &NetnsId, u32)) -> Result<(), String> + 'a;

/// Whether a record of `rec` = (table, namespace, generation) may stand for our table
/// `table` in the namespace `here` at the generation `genid`; otherwise why not.
fn stands_for(
    (rec_table, rec_netns, rec_genid): (&String, &NetnsId, u32),
    table: &str,
    here: Option<&NetnsId>,
    genid: u32,
) -> Result<(), String> {
    if rec_table != table {
        return Err(format!("it is of table {rec_table}"));
    }
    if here != Some(rec_netns) {
        return Err("it was written in another network namespace".into());
    }
    if rec_genid != genid {
        return Err(format!(
            "the ruleset moved on since (generation {rec_genid} -> {genid})"
        ));
    }
    Ok(())
}

fn chain(c: ChainMeta) -> Option<LiveChain> {
    let base = match c.base {
        None => None,
        Some((hook, priority, policy)) => Some(BaseChain {
            hook: hook_of(hook)?,
            priority,
            policy: policy_of(Some(policy)),
        }),
    };
    Some(LiveChain {
        name: c.name,
        base,
        rules: c.rules,
    })
}

/// The record at `path`: `Ok(None)` when there is none; an error when it cannot be
/// used (untrusted directory or file, damaged, of another version). The file is opened
/// through the trust rule every time; when it is the very file (same device, inode,
/// size, change and modification times) that [`inspect`] decoded earlier in this process,
/// that decoding is used instead of reading and hashing it again.
pub fn load(path: &Path) -> Result<Option<TableRecord>, String> {
    Ok(load_stamped(path, &|_| Ok(()))?.map(|(_, r)| r))
}

/// [`load`] for `f` to look at, then kept (up to [`KEEP_MAX_ELEMENTS`]) for the next
/// [`load`] of the same file (the apply that follows the unchanged check plans from it
/// without a second decode).
pub fn inspect<T>(path: &Path, f: impl FnOnce(&TableRecord) -> T) -> Result<Option<T>, String> {
    inspect_if(path, &|_| Ok(()), f)
}

/// [`inspect`] of a record that may stand for our table `table` in the namespace
/// `here` at the generation `genid` ([`TableRecord::check_at`]); one that cannot is
/// refused (why, as the error) before any of its sets is decoded.
pub fn inspect_at<T>(
    path: &Path,
    (table, here, genid): (&str, Option<&NetnsId>, u32),
    f: impl FnOnce(&TableRecord) -> T,
) -> Result<Option<T>, String> {
    inspect_if(path, &|h| stands_for(h, table, here, genid), f)
}

fn inspect_if<T>(
    path: &Path,
    usable: &Header<'_>,
    f: impl FnOnce(&TableRecord) -> T,
) -> Result<Option<T>, String> {
    let Some((origin, rec)) = load_stamped(path, usable)? else {
        return Ok(None);
    };
    let out = f(&rec);
    let elements: usize = rec.live.sets.iter().map(|s| s.elements.len()).sum();
    if elements <= KEEP_MAX_ELEMENTS {
        *memo() = Some((path.to_path_buf(), Kept::Record(origin, rec)));
    }
    Ok(Some(out))
}

/// The largest record [`inspect`] keeps (262,144 elements: 2 MiB packed, 8 MiB of IPv6): a
/// larger one is decoded again by the apply, whose peak memory it would otherwise add to
/// while the checked policy is still held.
pub const KEEP_MAX_ELEMENTS: usize = 1 << 18;

/// What a load of a record file left for the next load of the same file in this process:
/// the decoded record, or the header (table, namespace, generation) of one refused, so
/// that asking again (the apply after the unchanged check) reads nothing.
enum Kept {
    Record(Origin, TableRecord),
    Refused(patch::Stamp, (String, NetnsId, u32)),
}

type Memo = Option<(PathBuf, Kept)>;

fn memo() -> std::sync::MutexGuard<'static, Memo> {
    static MEMO: std::sync::Mutex<Memo> = std::sync::Mutex::new(None);
    MEMO.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`load`] whose record `usable` accepts (its sets are decoded only then).
fn load_stamped(path: &Path, usable: &Header<'_>) -> Result<Option<(Origin, TableRecord)>, String> {
    let decoded = ahead::take(path);
    load_with(path, usable, decoded)
}

/// [`load_stamped`] without a decoding started ahead (that decoding itself).
fn load_now(path: &Path, usable: &Header<'_>) -> Result<Option<(Origin, TableRecord)>, String> {
    load_with(path, usable, None)
}

/// [`load_stamped`], given what was decoded ahead from `path`, if anything: used as a
/// record kept by [`inspect`] would be.
fn load_with(
    path: &Path,
    usable: &Header<'_>,
    ahead: Option<(Origin, TableRecord)>,
) -> Result<Option<(Origin, TableRecord)>, String> {
    use crate::safe::trust;
    let dir = path.parent().unwrap_or(Path::new("."));
    if !trust::dir_exists(dir).map_err(|e| e.to_string())? {
        return Ok(None);
    }
    trust::check_dir(dir).map_err(|e| e.to_string())?;
    let Some(file) = trust::open_file(path).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    let stamp = stamp(&meta);
    // Taken first: the lock is not held while the arms run (one puts a header back).
    let kept = match ahead {
        Some((o, rec)) => Some((path.to_path_buf(), Kept::Record(o, rec))),
        None => memo().take(),
    };
    match kept {
        Some((p, Kept::Record(o, rec))) if p == path && o.stamp == stamp => {
            usable((&rec.table, &rec.netns, rec.genid))?;
            return Ok(Some((o, rec)));
        }
        Some((p, Kept::Refused(s, h))) if p == path && s == stamp => {
            if let Err(why) = usable((&h.0, &h.1, h.2)) {
                *memo() = Some((p, Kept::Refused(s, h)));
                return Err(why);
            }
        }
        _ => {}
    }
    let big = meta.len() >= patch::PEEK_FROM;
    if let Some(h) = big.then(|| patch::peek(&file, meta.len())).flatten()
        && let Err(why) = usable((&h.0, &h.1, h.2))
    {
        *memo() = Some((path.to_path_buf(), Kept::Refused(stamp, h)));
        return Err(why);
    }
    let bytes = trust::read_opened(path, file, LIMIT).map_err(|e| e.to_string())?;
    let refused = std::cell::RefCell::new(None);
    let header = |h: (&String, &NetnsId, u32)| {
        usable(h).inspect_err(|_| *refused.borrow_mut() = Some((h.0.clone(), h.1.clone(), h.2)))
    };
    let decoded = TableRecord::decode_if(&bytes, &header);
    if let Some(h) = refused.take() {
        *memo() = Some((path.to_path_buf(), Kept::Refused(stamp, h)));
    }
    let (rec, layout) = decoded?;
    Ok(Some((Origin { stamp, layout }, rec)))
}

/// Writes the record atomically, owner-only, into a trusted state directory; not
/// synced to disk (like the state it describes it is gone at reboot, and a torn or
/// lost file fails its checksum or is simply absent: the next apply reads instead).
pub fn store(path: &Path, rec: &TableRecord) -> Result<(), crate::safe::Error> {
    store_bytes(path, &rec.encode())
}

/// [`store`] of a record already encoded.
fn store_bytes(path: &Path, bytes: &[u8]) -> Result<(), crate::safe::Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::safe::trust::ensure_dir(dir)?;
    crate::safe::write_cache(path, bytes, 0o600)
}

/// Our table from the record at `path`, when it may stand for the kernel's at `genid`
/// in the namespace `here`; otherwise why not. A record that cannot stand for the
/// kernel's table is refused before any of its sets is decoded (a million addresses:
/// 32 MB not made).
pub fn live_at(
    path: &Path,
    table: &str,
    here: Option<&NetnsId>,
    genid: u32,
) -> Result<LiveTable, String> {
    live_from(path, table, here, genid).map(|(live, _)| live)
}

/// [`live_at`], with the file the record was read from as it was then: a patch of the
/// commit planned from it may be appended to that very file ([`remember`]).
pub fn live_from(
    path: &Path,
    table: &str,
    here: Option<&NetnsId>,
    genid: u32,
) -> Result<(LiveTable, Origin), String> {
    let refused = std::cell::RefCell::new(None);
    let usable = |h: (&String, &NetnsId, u32)| {
        stands_for(h, table, here, genid)
            .inspect_err(|why| *refused.borrow_mut() = Some(why.clone()))
    };
    match load_stamped(path, &usable) {
        Ok(Some((origin, r))) => Ok((r.live, origin)),
        Ok(None) => Err("there is no table record".into()),
        Err(e) => match refused.take() {
            Some(why) => Err(why),
            None => Err(format!("the table record is unusable: {e}")),
        },
    }
}

/// After a commit left our table exactly `rs` at generation `genid`: its chains with
/// their rules' handles, `known` (an in-place change's: the live rules that stayed and
/// those the kernel echoed for the rules it put, `apply/handles.rs`) or from one dump of
/// our table's rules (no set elements), then the record, written after a dump only
/// when the generation still is `genid` (so the handles are our commit's). When no record can be written the old one is removed, and why is said.
/// With `patch`, the commit was the in-place change `changes` planned from the record
/// read from `origin`: the change is appended to that file when it still is that file
/// and may take it (`patch.rs`), else the record is written whole: finished from
/// `draft` when that was begun for `rs` at `path` (`write.rs`).
pub(crate) fn remember(
    nl: &mut Client,
    rs: &Ruleset,
    (genid, here): (u32, Option<NetnsId>),
    path: &Path,
    patch: Option<(&Origin, &[SetPatch])>,
    known: Option<Vec<LiveChain>>,
    draft: Option<Draft>,
) -> Result<(), String> {
    if draft.is_none() {
        // What a draft left when its apply was killed goes with the next record written.
        crate::safe::Staged::clear_leftover(path);
    }
    let made = (|| {
        let netns = here.ok_or("the namespace could not be identified")?;
        let chains = match known {
            Some(c) => c,
            None => {
                let handles = commit_handles(nl, &rs.table.name, genid)?;
                commit_chains(rs, &handles).ok_or("its rules do not line up with the policy's")?
            }
        };
        let at = (genid, &netns);
        // Encoded only when its elements alone leave room for it.
        let roomy = |(o, c): &(&Origin, &[SetPatch])| o.takes(patch::elements_len(c));
        if let Some((origin, changes)) = patch.filter(roomy) {
            let bytes = TableRecord::encode_chains(rs, at, &chains, Some(changes));
            if patch::append(path, origin, &bytes)? {
                return Ok(());
            }
        }
        if let Some(d) = draft {
            return d.finish(at, &chains);
        }
        let bytes = TableRecord::encode_chains(rs, at, &chains, None);
        store_bytes(path, &bytes).map_err(|e| e.to_string())
    })();
    if made.is_err() {
        let _ = crate::safe::remove_durably(path);
    }
    made
}

/// Our table's rules' (chain, handle) pairs in chain order, from one rule dump (no set
/// elements), when the generation still is `genid` after it (the handles are that
/// commit's).
fn commit_handles(nl: &mut Client, table: &str, genid: u32) -> Result<Vec<(String, u64)>, String> {
    let msgs = dump(nl, MsgType::GetRule, table, None).map_err(|e| e.to_string())?;
    if nl.genid().map_err(|e| e.to_string())? != genid {
        return Err("the ruleset moved on right after the commit".to_string());
    }
    msgs.iter()
        .map(|m| rule_handle(m).ok_or_else(|| "a rule without chain or handle".to_string()))
        .collect()
}

/// A dumped rule's chain and handle.
fn rule_handle(m: &[u8]) -> Option<(String, u64)> {
    let attrs = m.get(20..)?;
    let chain = attr(attrs, NFTA_RULE_CHAIN)?;
    let chain = String::from_utf8_lossy(chain)
        .trim_end_matches('\0')
        .to_string();
    let handle = attr(attrs, NFTA_RULE_HANDLE)?.get(..8)?.try_into().ok()?;
    Some((chain, u64::from_be_bytes(handle)))
}

#[cfg(test)]
#[path = "trusted_tests.rs"]
mod tests;
