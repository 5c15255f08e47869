//! The previous state of a change, as a serialisable blob, and its restore: what
//! `apply --confirm` stores before changing anything, and what the revert watcher,
//! `hostwall status`, `hostwall revert` and the next `apply` use to put it back.
//!
//! The blob holds our table exactly as the kernel had it (absent, or its dumped
//! messages, see [`super::table_copy`]), the previous values of the sysctls the new
//! policy sets, the network namespace and the table name. It names the namespace
//! because the watcher is a separate process that does not inherit `--netns` (the
//! applying process only ever enters it on a helper thread), and holds its identity
//! ([`NetnsId`]: boot id and namespace cookie, never repeated) so a restore never acts
//! on another namespace that took the name, or the freed inode number, meanwhile.
//!
//! Restoring replaces the table in ONE batch (add, delete, then the old contents, or
//! nothing when it was absent), so a revert is as atomic as an apply; the sysctls
//! follow, as they do in apply.

use super::inverse::Inverse;
use super::inverse_io::{self, InverseError};
use super::table_copy::{HexMessages, TableCopy};
use super::{ApplyError, ApplyOptions, in_netns};
use crate::ir::{Ruleset, Sysctl};
use crate::nft::client::Client;
use crate::nsid::{self, NetnsId};
use crate::safe::{BoxError, NothingLeft, Revert, StepError};
use crate::sysctl::{self, SysctlError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped when the blob layout changes; an unknown version is refused, not guessed.
/// Version 3 made the namespace identity the boot id and cookie; an older blob cannot
/// prove where it belongs, so it is refused rather than restored into whatever
/// namespace runs it.
/// Version 4 added the in-place change's inverse (`inverse`): an older reader would
/// take its absent table copy for "the table did not exist" and delete the table, so
/// it must refuse the blob; this reader still takes version 3 (no inverse), and a blob
/// without an inverse is still written as version 3, so an older binary reverts it.
const FORMAT_VERSION: u32 = 4;
/// The version of a blob that holds a copy of the table and no inverse.
const COPY_VERSION: u32 = 3;

/// Everything needed to undo one apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    version: u32,
    /// `/run/netns/NAME` the change was made in; `None`: the restorer's own namespace.
    pub netns: Option<String>,
    /// Identity of the namespace the state was captured in (of the capturing thread,
    /// inside `netns` when named).
    pub netns_id: NetnsId,
    pub table: String,
    /// `None`: the table did not exist (or `inverse` undoes the change). Otherwise its
    /// dumped messages, hex encoded.
    table_messages: Option<HexMessages>,
    /// The in-place change's inverse: restored instead of a copy of the whole table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inverse: Option<Inverse>,
    /// Sysctl name and value before the change, for every sysctl the policy sets.
    pub sysctls: Vec<(String, bool)>,
    /// Per sysctl (same order): every interface's own `forwarding` before the change,
    /// which the kernel overwrites when the global key is written.
    #[serde(default)]
    pub interfaces: Vec<sysctl::Interfaces>,
    /// Where the sysctls live (`None`: /proc/sys); tests point it elsewhere.
    pub sysctl_root: Option<PathBuf>,
}

/// Why a restore failed. The ruleset step comes first: when it fails the sysctls are
/// left alone, so the two never disagree more than they did.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the saved previous state is unusable: {0}")]
    Blob(String),
    #[error("restoring table {table}: {source}")]
    Ruleset {
        table: String,
        #[source]
        source: ApplyError,
    },
    /// Our table is not what the in-place change left: undoing the change over someone
    /// else's would make a third state, so the table is left as it is; the sysctls were
    /// put back.
    #[error(
        "{why}; table inet {table} is left as it is now (NOT reverted), and the sysctls were put back to their values before the change"
    )]
    TableChanged { table: String, why: String },
    #[error("the table was restored, but not every sysctl: {}", list(.0))]
    Sysctls(Vec<SysctlError>),
    /// The table step was refused (as [`RestoreError::TableChanged`]) and a sysctl
    /// could not be written back: retried for the sysctls.
    #[error(
        "{why}; table inet {table} is left as it is now (NOT reverted), and not every sysctl was put back (retried): {}",
        list(.errors)
    )]
    TableChangedSysctls {
        table: String,
        why: String,
        errors: Vec<SysctlError>,
    },
    /// The namespace of the change is gone: nothing is left to revert.
    #[error(
        "the network namespace of the change ({}) no longer exists, so there is nothing left to revert",
        ns_text(.netns, .id)
    )]
    NamespaceGone { netns: Option<String>, id: NetnsId },
    /// The restore would run in another namespace than the change was made in.
    #[error(
        "refusing to revert in the wrong network namespace: the change was made in {} but this runs in {here}; run `hostwall revert` from that namespace (e.g. `ip netns exec NAME hostwall revert`)",
        ns_text(.netns, .id)
    )]
    WrongNamespace {
        netns: Option<String>,
        id: NetnsId,
        here: String,
    },
}

fn ns_text(netns: &Option<String>, id: &NetnsId) -> String {
    match netns {
        Some(n) => format!("namespace {n}, {}", id.describe()),
        None => id.describe(),
    }
}

fn list(errors: &[SysctlError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

/// What [`capture`] saw: the previous state, and the guard that vouches for it.
#[derive(Clone, Debug)]
pub struct Captured {
    pub previous: Previous,
    /// Passed as `ApplyOptions::guard`, it makes the apply refuse any change to our
    /// table between this capture and the commit (`ApplyError::Concurrent`) instead
    /// of a later revert silently undoing it; commits to other tables do not count.
    pub guard: super::Guard,
    /// The revert is the inverse of the in-place change the apply will make (planned
    /// from the table record, as the apply plans it): the apply must take that path
    /// (`ApplyOptions::in_place_only`).
    pub in_place: bool,
}

/// Captures the state `rs` is about to replace, in the namespace `opts` names.
/// Reads only: the generation id, the table dump and the current sysctl values.
pub fn capture(rs: &Ruleset, opts: &ApplyOptions) -> Result<Captured, ApplyError> {
    let table = rs.table.name.clone();
    in_netns(opts.netns.as_deref(), || {
        let netns_id = NetnsId::of_thread().map_err(|e| ApplyError::Netns {
            name: opts.netns.clone().unwrap_or_else(|| "(own)".into()),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut nl = Client::open()?;
        let guard = super::Guard::open(&table)?;
        let (copy, inverse) = match inverse_of(&mut nl, rs, opts, &netns_id)? {
            Some((genid, inv)) => {
                guard.set_base(genid);
                (None, Some(inv))
            }
            None => {
                let (copy, genid) = TableCopy::capture_at(&mut nl, &table, &guard)?;
                let copy = std::sync::Arc::new(copy);
                // The apply plans from it, unless it replaces the table whole or plans
                // from the unchanged check's read at this very generation.
                if opts.full_replace || super::seen::stands(&table, Some(&netns_id), genid) {
                    guard.set_base(genid);
                } else {
                    guard.set_base_with(genid, copy.clone());
                }
                (Some(copy), None)
            }
        };
        let root = sysctl_root(&opts.sysctl_root);
        let mut sysctls = Vec::new();
        let mut interfaces = Vec::new();
        for s in &rs.sysctls {
            let old = sysctl::read(&root, s.key).map_err(|error| ApplyError::SysctlUnrolled {
                error,
                committed: false,
                restore_errors: vec![],
            })?;
            sysctls.push((s.key.name().to_string(), old));
            interfaces.push(sysctl::capture_interfaces(&root, s.key).map_err(|error| {
                ApplyError::SysctlUnrolled {
                    error,
                    committed: false,
                    restore_errors: vec![],
                }
            })?);
        }
        let previous = Previous {
            version: if inverse.is_some() {
                FORMAT_VERSION
            } else {
                COPY_VERSION
            },
            netns: opts.netns.clone(),
            netns_id,
            table: table.clone(),
            table_messages: copy
                .clone()
                .filter(|c| matches!(**c, TableCopy::Present(_)))
                .map(HexMessages),
            inverse,
            sysctls,
            interfaces,
            sysctl_root: opts.sysctl_root.clone(),
        };
        let in_place = previous.inverse.is_some();
        Ok(Captured {
            previous,
            guard,
            in_place,
        })
    })
}

/// The in-place change's inverse and the generation it was planned at, when the
/// table record stands for our table now and the change has an exact inverse; `None`:
/// the whole table is copied instead.
fn inverse_of(
    nl: &mut Client,
    rs: &Ruleset,
    opts: &ApplyOptions,
    here: &NetnsId,
) -> Result<Option<(u32, Inverse)>, ApplyError> {
    let Some(record) = opts.table_record.as_deref().filter(|_| !opts.full_replace) else {
        return Ok(None);
    };
    let genid = nl.genid()?;
    Ok(inverse_io::capture(nl, rs, record, Some(here), genid)
        .ok()
        .map(|inv| (genid, inv)))
}

/// Whether the namespace `id` still exists somewhere: a `/run/netns` mount or a
/// process holding it. Only asked when the restorer is not in it. Candidates are found
/// by nsfs inode (cheap, but repeated once a namespace is freed) and each is then
/// proven by `same`, which compares the full identity (root can enter any of them).
fn namespace_exists(
    id: &NetnsId,
    proc_root: &Path,
    netns_dir: &Path,
    same: &dyn Fn(&Path) -> bool,
) -> bool {
    if !id.of_this_boot() {
        return false;
    }
    let entries = |d: &Path| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };
    let candidate = |p: &Path| nsid::inode_of(p).is_ok_and(|i| i == id.inode) && same(p);
    entries(netns_dir).iter().any(|p| candidate(p))
        || entries(proc_root).iter().any(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                && candidate(&p.join("ns/net"))
        })
}

fn sysctl_root(root: &Option<PathBuf>) -> PathBuf {
    root.clone()
        .unwrap_or_else(|| PathBuf::from(sysctl::PROC_SYS))
}

impl crate::safe::pending::PreviousState for Previous {
    /// The blob, JSON, written as it is made.
    fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(w, self).map_err(std::io::Error::other)
    }
}

impl Previous {
    /// The blob in memory (the apply writes it straight to its file:
    /// [`crate::safe::pending::PreviousState`]).
    #[cfg(test)]
    pub fn encode(&self) -> Vec<u8> {
        use crate::safe::pending::PreviousState;
        let mut out = Vec::new();
        self.write_to(&mut out).map_or(Vec::new(), |()| out)
    }

    fn gone(&self) -> RestoreError {
        RestoreError::NamespaceGone {
            netns: self.netns.clone(),
            id: self.netns_id.clone(),
        }
    }

    pub fn decode(blob: &[u8]) -> Result<Previous, RestoreError> {
        let p: Previous =
            serde_json::from_slice(blob).map_err(|e| RestoreError::Blob(e.to_string()))?;
        // Version 3 is version 4 without an inverse: a change pending across an upgrade
        // is still restored from its copy.
        if p.version != FORMAT_VERSION && p.version != COPY_VERSION {
            return Err(RestoreError::Blob(format!(
                "unknown format version {}",
                p.version
            )));
        }
        Ok(p)
    }

    /// Puts the table back in one batch, then the sysctls.
    pub fn restore(&self) -> Result<(), RestoreError> {
        let (copy, keys) = self.decoded()?;
        let ruleset = |source| RestoreError::Ruleset {
            table: self.table.clone(),
            source,
        };
        if let Some(name) = &self.netns {
            // A deleted namespace (`ip netns del`) took its ruleset with it.
            if !crate::netns::path(name).is_some_and(|p| p.exists()) {
                return Err(self.gone());
            }
        }
        // The ruleset step's errors (entering the namespace included) are ApplyErrors;
        // the identity check and the sysctl outcome leave the namespace thread as values.
        let outcome = in_netns(self.netns.as_deref(), || {
            let here = NetnsId::of_thread();
            if here.as_ref().ok() != Some(&self.netns_id) {
                return Ok(Err(Stop::NotHere(match here {
                    Ok(id) => id.describe(),
                    Err(e) => format!("an unidentified namespace ({e})"),
                })));
            }
            let table = self.restore_table(&copy, here.as_ref().ok())?;
            // The sysctls go back whether or not the table did: a refused table step
            // leaves the table to whoever changed it, never the change's sysctls.
            Ok::<_, ApplyError>(Ok((table, self.restore_sysctls(&keys))))
        })
        .map_err(ruleset)?;
        let (table, errors) = outcome.map_err(|Stop::NotHere(here)| self.not_here(here))?;
        match (table, errors.is_empty()) {
            (TableStep::Restored, true) => Ok(()),
            (TableStep::Restored, false) => Err(RestoreError::Sysctls(errors)),
            (TableStep::Refused(why), true) => Err(RestoreError::TableChanged {
                table: self.table.clone(),
                why,
            }),
            (TableStep::Refused(why), false) => Err(RestoreError::TableChangedSysctls {
                table: self.table.clone(),
                why,
                errors,
            }),
        }
    }

    /// Writes every saved sysctl back: the global key first (the kernel copies it to
    /// every interface), then each interface's own value as it was.
    fn restore_sysctls(&self, keys: &[(Sysctl, bool)]) -> Vec<SysctlError> {
        let root = sysctl_root(&self.sysctl_root);
        let mut errors = Vec::new();
        for (i, (k, v)) in keys.iter().enumerate() {
            match sysctl::write(&root, *k, *v) {
                Err(e) => errors.push(e),
                Ok(()) => {
                    if let Some(saved) = self.interfaces.get(i) {
                        errors.extend(sysctl::restore_interfaces(&root, *k, saved));
                    }
                }
            }
        }
        errors
    }

    /// The table step of a restore, in the change's namespace: the copy replayed, or the
    /// inverse sent when our table is what the change left.
    fn restore_table(
        &self,
        copy: &TableCopy,
        here: Option<&NetnsId>,
    ) -> Result<TableStep, ApplyError> {
        let mut nl = Client::open()?;
        match &self.inverse {
            None => copy
                .restore(&mut nl, &self.table)
                .map(|()| TableStep::Restored),
            Some(inv) => match inverse_io::restore(&mut nl, &self.table, inv, here) {
                Ok(()) => Ok(TableStep::Restored),
                Err(InverseError::Apply(e)) => Err(e),
                Err(InverseError::Changed(why)) => Ok(TableStep::Refused(why)),
            },
        }
    }

    /// The restore would run in namespace `here`, not the change's: gone for good (a
    /// recreated namespace of the same name is a new one, with its own ruleset), or
    /// alive elsewhere and to be reverted there.
    fn not_here(&self, here: String) -> RestoreError {
        let proc_root = Path::new("/proc");
        let same = |p: &Path| NetnsId::of_path(p).is_ok_and(|i| i == self.netns_id);
        if self.netns.is_some()
            || !namespace_exists(
                &self.netns_id,
                proc_root,
                Path::new(crate::netns::NETNS_DIR),
                &same,
            )
        {
            return self.gone();
        }
        RestoreError::WrongNamespace {
            netns: None,
            id: self.netns_id.clone(),
            here,
        }
    }

    /// The table messages and sysctl keys, checked before anything is touched.
    fn decoded(&self) -> Result<(std::sync::Arc<TableCopy>, SysctlValues), RestoreError> {
        let copy = match &self.table_messages {
            None => std::sync::Arc::new(TableCopy::Absent),
            Some(msgs) => msgs.0.clone(),
        };
        let keys = self
            .sysctls
            .iter()
            .map(|(name, v)| sysctl_key(name).map(|k| (k, *v)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((copy, keys))
    }
}

/// The sysctls a restore sets back, with their values before the change.
type SysctlValues = Vec<(Sysctl, bool)>;

/// Why a restore stopped before the ruleset step, as a value out of the namespace
/// thread: it runs in this other namespace.
enum Stop {
    NotHere(String),
}

/// What the table step did.
enum TableStep {
    Restored,
    /// Our table is not what the in-place change left (why): it is left as it is.
    Refused(String),
}

fn sysctl_key(name: &str) -> Result<Sysctl, RestoreError> {
    [Sysctl::Ipv4Forward, Sysctl::Ipv6Forward]
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| RestoreError::Blob(format!("unknown sysctl {name:?}")))
}

/// Which apply failures prove the kernel committed nothing: the batch is all or
/// nothing, so a refused batch (a stale generation included) or one never sent left
/// the kernel as it was. A socket error, lost replies or a failed sysctl step may come
/// after the commit, so the flow restores the captured state for those.
impl StepError for ApplyError {
    fn nothing_committed(&self) -> bool {
        matches!(
            self,
            ApplyError::Concurrent { .. }
                | ApplyError::Kernel { .. }
                | ApplyError::NetnsMissing { .. }
                | ApplyError::Netns { .. }
                | ApplyError::Permission
                | ApplyError::NoNfTables
                | ApplyError::Emit(_)
                | ApplyError::Snapshot(_)
        )
    }
}

/// The [`Revert`] the safe-apply machinery calls with a stored blob.
#[derive(Clone, Copy, Debug, Default)]
pub struct Restorer;

impl Revert for Restorer {
    fn revert(&self, previous: &[u8]) -> Result<(), BoxError> {
        match Previous::decode(previous)?.restore() {
            Ok(()) => Ok(()),
            // Tells the pending machinery to drop the record instead of retrying forever.
            Err(e @ (RestoreError::NamespaceGone { .. } | RestoreError::TableChanged { .. })) => {
                Err(Box::new(NothingLeft(e.to_string())))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `--netns NAME`'s name, else the identity of the namespace the apply ran in.
    fn namespace(&self, previous: &[u8]) -> Option<String> {
        let p = Previous::decode(previous).ok()?;
        Some(p.netns.unwrap_or_else(|| p.netns_id.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{hex, unhex};

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn blob_round_trips_and_refuses_other_versions() {
        let p = Previous {
            version: FORMAT_VERSION,
            netns: Some("hw-x".into()),
            netns_id: NetnsId {
                boot: "b9dbfc08-6cd0-4d6e-ba18-8a6478c471b2".into(),
                cookie: Some(4097),
                inode: "4:4026531840".into(),
            },
            table: "hostwall".into(),
            table_messages: Some(HexMessages(std::sync::Arc::new(TableCopy::Present(vec![
                vec![1, 2, 3],
            ])))),
            inverse: None,
            sysctls: vec![("net.ipv4.ip_forward".into(), true)],
            interfaces: vec![sysctl::Interfaces {
                values: vec![("net/ipv4/conf/eth0/forwarding".into(), true)],
            }],
            sysctl_root: None,
        };
        let blob = p.encode();
        assert_eq!(Previous::decode(&blob).ok(), Some(p.clone()));
        // The messages are written as a list of hex strings (what every version wrote).
        let text = String::from_utf8_lossy(&blob);
        assert!(text.contains(r#""table_messages":["010203"]"#), "{text}");
        let broken = text.replace(r#"["010203"]"#, r#"["01z203"]"#);
        let e = Previous::decode(broken.as_bytes())
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("a table message is not hex")));
        // A version 3 blob (written before the inverse existed) is still restored.
        let v3 = Previous {
            version: 3,
            ..p.clone()
        };
        assert_eq!(Previous::decode(&v3.encode()).ok(), Some(v3));
        let other = Previous { version: 9, ..p };
        let e = Previous::decode(&other.encode())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the saved previous state is unusable: unknown format version 9")
        );
        assert!(Previous::decode(b"").is_err());
    }

    #[test]
    fn a_namespace_exists_while_mounted_or_held_by_a_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (proc_root, netns) = (dir.path().join("proc"), dir.path().join("netns"));
        std::fs::create_dir_all(proc_root.join("42/ns")).expect("mkdir");
        std::fs::create_dir_all(proc_root.join("self/ns")).expect("mkdir");
        std::fs::create_dir_all(&netns).expect("mkdir");
        // Stand-ins for nsfs inodes: plain files, identified the same way (dev:ino).
        let held = proc_root.join("42/ns/net");
        let mounted = netns.join("lab");
        let not_a_pid = proc_root.join("self/ns/net");
        for f in [&held, &mounted, &not_a_pid] {
            std::fs::write(f, "").expect("write");
        }
        let boot = crate::sysctl::boot_id().expect("boot id");
        let id = |p: &Path| NetnsId {
            boot: boot.clone(),
            cookie: Some(7),
            inode: nsid::inode_of(p).expect("id"),
        };
        let yes = |_: &Path| true;
        assert!(namespace_exists(&id(&held), &proc_root, &netns, &yes));
        assert!(namespace_exists(&id(&mounted), &proc_root, &netns, &yes));
        assert!(!namespace_exists(&id(&not_a_pid), &proc_root, &netns, &yes));
        let nowhere = NetnsId {
            inode: "0:0".into(),
            ..id(&held)
        };
        assert!(!namespace_exists(&nowhere, &proc_root, &netns, &yes));
        // Same inode, another namespace (the inode number was handed on): not it.
        let no = |_: &Path| false;
        assert!(!namespace_exists(&id(&held), &proc_root, &netns, &no));
        // An identity from an earlier boot names nothing that exists now.
        let earlier = NetnsId {
            boot: "00000000-0000-0000-0000-000000000000".into(),
            ..id(&held)
        };
        assert!(!namespace_exists(&earlier, &proc_root, &netns, &yes));
    }

    #[test]
    fn unknown_sysctl_is_refused_before_touching_anything() {
        let e = sysctl_key("net.core.somaxconn")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the saved previous state is unusable: unknown sysctl \"net.core.somaxconn\"")
        );
    }
}
