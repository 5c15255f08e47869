//! Reads the live nf_tables state back over netlink and decodes our table into the
//! same `ir::Table` the compiler produces, plus the base chains of every other table.
//!
//! The dumps are separate requests, so a read takes the generation id before and after
//! and retries when it changed (or the kernel flagged a dump as interrupted): the result
//! is one consistent snapshot. Sysctls are not read here (`sysctl` owns /proc/sys);
//! `Snapshot::into_live` joins them in.

mod decode;
mod dump;
mod forms;
mod normalize;

pub use crate::nft::read::ParseError;

use crate::diff::{self, ForeignChain};
use crate::ir::{self, BaseChain, Chain, ChainPolicy, Hook, SetKey, Table};
use crate::nft::read::{RawChain, RawRule};
use dump::{Conn, NFPROTO_INET};
use std::collections::{HashMap, HashSet};
use std::io;

/// Reads retried when the ruleset changes under us, before giving up.
const ATTEMPTS: u32 = 5;

/// One consistent read of the kernel's ruleset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Generation id the snapshot was taken at.
    pub genid: u32,
    /// Our table, `None` when absent.
    pub table: Option<Table>,
    /// Base chains of every other table on the IP hooks.
    pub foreign: Vec<ForeignChain>,
    /// Objects in our table the IR cannot hold (maps, other set types, chains on other
    /// hooks), described for the operator; they are never silently dropped.
    pub unsupported: Vec<String>,
}

impl Snapshot {
    /// The diff's view of the live state, with sysctl values read by the caller.
    pub fn into_live(self, sysctls: Vec<(ir::Sysctl, Option<bool>)>) -> diff::Live {
        diff::Live {
            table: self.table,
            sysctls,
            foreign: self.foreign,
        }
    }
}

/// Errors of a live read, by phase.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("network namespace {0:?} does not exist (no /run/netns/{0})")]
    NoNetns(String),
    #[error("entering network namespace {name:?}: {source}")]
    Netns { name: String, source: io::Error },
    #[error("opening the nf_tables netlink socket: {0}")]
    Socket(io::Error),
    #[error("sending the {what} request: {source}")]
    Send {
        what: &'static str,
        source: io::Error,
    },
    #[error("receiving the {what} answer: {source}")]
    Recv {
        what: &'static str,
        source: io::Error,
    },
    #[error("reading the ruleset needs CAP_NET_ADMIN (the kernel refused the {0} request)")]
    Permission(&'static str),
    #[error("nf_tables is not available in this kernel (the {0} request is not supported)")]
    NoNfTables(&'static str),
    #[error("the kernel refused the {what} request: {source}")]
    Kernel {
        what: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("the kernel sent no {0} answer")]
    Missing(&'static str),
    #[error("the ruleset kept changing while it was read ({0} attempts)")]
    Inconsistent(u32),
    #[error("the namespace reader thread panicked")]
    Thread,
}

impl LiveError {
    fn kernel(what: &'static str, errno: i32) -> LiveError {
        match errno {
            libc::EPERM | libc::EACCES => LiveError::Permission(what),
            libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT => {
                LiveError::NoNfTables(what)
            }
            e => LiveError::Kernel {
                what,
                source: io::Error::from_raw_os_error(e),
            },
        }
    }
}

/// The current ruleset generation id: one GETGEN request, for diff's fast path.
pub fn genid(netns: Option<&str>) -> Result<u32, LiveError> {
    in_netns(netns, || Conn::open()?.genid())
}

/// The generation id, and `also` run on the same thread in the same namespace right
/// after it (one namespace entry for both: the thread holds the namespace it entered,
/// so what `also` reads belongs to the namespace the generation id came from).
pub fn genid_with<T: Send>(
    netns: Option<&str>,
    also: impl FnOnce() -> T + Send,
) -> Result<(u32, T), LiveError> {
    in_netns(netns, || {
        let genid = Conn::open()?.genid()?;
        Ok((genid, also()))
    })
}

/// Reads our `inet` table `table` and every other table's base chains.
pub fn read(table: &str, netns: Option<&str>) -> Result<Snapshot, LiveError> {
    in_netns(netns, || {
        let mut conn = Conn::open()?;
        for _ in 0..ATTEMPTS {
            conn.interrupted = false;
            let before = conn.genid()?;
            let snap = read_once(&mut conn, table, before)?;
            if conn.genid()? == before && !conn.interrupted {
                return Ok(snap);
            }
        }
        Err(LiveError::Inconsistent(ATTEMPTS))
    })
}

/// Runs `f` in the named network namespace: on a dedicated thread, since `setns`
/// moves only the calling thread and that thread must not serve anything else after.
fn in_netns<T: Send>(
    netns: Option<&str>,
    f: impl FnOnce() -> Result<T, LiveError> + Send,
) -> Result<T, LiveError> {
    let Some(name) = netns else {
        return f();
    };
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(LiveError::NoNetns(name.to_string()));
    }
    let file = std::fs::File::open(std::path::Path::new("/run/netns").join(name)).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            LiveError::NoNetns(name.to_string())
        } else {
            LiveError::Netns {
                name: name.to_string(),
                source: e,
            }
        }
    })?;
    std::thread::scope(|s| {
        s.spawn(move || {
            crate::nft::read::setns_net(&file).map_err(|source| LiveError::Netns {
                name: name.to_string(),
                source,
            })?;
            f()
        })
        .join()
        .map_err(|_| LiveError::Thread)?
    })
}

fn read_once(conn: &mut Conn, table: &str, genid: u32) -> Result<Snapshot, LiveError> {
    let tables = conn.tables()?;
    let ours = tables
        .iter()
        .find(|t| t.family == NFPROTO_INET as u32 && t.name == table);
    let present = ours.is_some();
    let chains = conn.chains()?;
    let rules = conn.rules()?;
    let mut unsupported = Vec::new();
    if ours.is_some_and(|t| t.flags & NFT_TABLE_F_DORMANT != 0) {
        // Every chain is there, but none is hooked: nothing is filtered.
        unsupported.push(
            "table is dormant (flags dormant): none of its chains is attached to a hook, so it filters nothing".to_string(),
        );
    }
    let ours = if present {
        Some(our_table(conn, table, &chains, &rules, &mut unsupported)?)
    } else {
        None
    };
    Ok(Snapshot {
        genid,
        table: ours,
        foreign: foreign(table, &chains, &rules),
        unsupported,
    })
}

/// `NFT_TABLE_F_DORMANT`: the table's base chains are unregistered from their hooks.
const NFT_TABLE_F_DORMANT: u32 = 1;

fn is_ours(family: u32, t: &str, table: &str) -> bool {
    family == NFPROTO_INET as u32 && t == table
}

fn our_table(
    conn: &mut Conn,
    table: &str,
    chains: &[RawChain],
    rules: &[RawRule],
    unsupported: &mut Vec<String>,
) -> Result<Table, LiveError> {
    let mut sets = Vec::new();
    let mut keys: HashMap<String, SetKey> = HashMap::new();
    for raw in conn.sets(NFPROTO_INET, table)? {
        if raw.flags & normalize::SET_ANONYMOUS != 0 {
            continue; // belongs to one rule, which decodes as foreign text
        }
        if let Some(why) = normalize::unsupported(&raw) {
            unsupported.push(why);
            continue;
        }
        let elems = conn.elements(NFPROTO_INET, table, &raw.name)?;
        match normalize::set(&raw, &elems) {
            Ok(s) => {
                keys.insert(s.name.clone(), s.key);
                sets.push(s);
            }
            Err(why) => unsupported.push(why),
        }
    }
    let mut out = Vec::new();
    for c in chains.iter().filter(|c| is_ours(c.family, &c.table, table)) {
        let base = match base_chain(c) {
            Ok(b) => b,
            Err(why) => {
                unsupported.push(format!("chain {}: {why}", c.name));
                None
            }
        };
        let rules = rules
            .iter()
            .filter(|r| is_ours(r.family, &r.table, table) && r.chain == c.name)
            .map(|r| decode::rule(r, &keys))
            .collect();
        out.push(Chain {
            name: c.name.clone(),
            base,
            rules,
        });
    }
    Ok(Table {
        family: ir::Family::Inet,
        name: table.to_string(),
        sets,
        chains: out,
    })
}

/// `Ok(None)` for a regular chain; `Err` for a base chain the IR cannot describe.
fn base_chain(c: &RawChain) -> Result<Option<BaseChain>, String> {
    let Some(hooknum) = c.hook else {
        return Ok(None);
    };
    let hook = hook(c.family, hooknum).ok_or_else(|| format!("hook number {hooknum}"))?;
    if let Some(t) = c.chain_type.as_deref().filter(|t| *t != "filter") {
        return Err(format!("type {t} chain on hook {}", hook.name()));
    }
    Ok(Some(BaseChain {
        hook,
        priority: c.priority.unwrap_or(0),
        policy: policy(c.policy),
    }))
}

/// Hook numbers of the ip, ip6, inet and bridge families (`NF_INET_*`, `NF_BR_*`
/// share 0..=4); other families' hooks (arp, netdev) are not IP filter hooks.
fn hook(family: u32, n: u32) -> Option<Hook> {
    if !matches!(family, 1 | 2 | 7 | 10) {
        return None;
    }
    Some(match n {
        0 => Hook::Prerouting,
        1 => Hook::Input,
        2 => Hook::Forward,
        3 => Hook::Output,
        4 => Hook::Postrouting,
        _ => return None,
    })
}

fn policy(p: Option<u32>) -> ChainPolicy {
    match p {
        Some(0) => ChainPolicy::Drop, // NF_DROP
        _ => ChainPolicy::Accept,
    }
}

fn family_name(f: u32) -> String {
    match f {
        1 => "inet".into(),
        2 => "ip".into(),
        3 => "arp".into(),
        5 => "netdev".into(),
        7 => "bridge".into(),
        10 => "ip6".into(),
        n => format!("family{n}"),
    }
}

/// Base chains of every other table, with whether they (or chains they jump to) can
/// drop: a drop verdict, a reject, a verdict map or a queue (no listener drops).
fn foreign(table: &str, chains: &[RawChain], rules: &[RawRule]) -> Vec<ForeignChain> {
    type Key<'a> = (u32, &'a str, &'a str);
    let mut drops: HashSet<Key> = HashSet::new();
    let mut jumps: HashMap<Key, Vec<String>> = HashMap::new();
    for r in rules.iter().filter(|r| !is_ours(r.family, &r.table, table)) {
        let key = (r.family, r.table.as_str(), r.chain.as_str());
        if forms::can_drop(&r.exprs) {
            drops.insert(key);
        }
        jumps
            .entry(key)
            .or_default()
            .extend(forms::jump_targets(&r.exprs));
    }
    let reaches_drop = |start: Key| {
        let mut seen: HashSet<String> = HashSet::new();
        let mut todo = vec![start.2.to_string()];
        while let Some(c) = todo.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            let k = (start.0, start.1, c.as_str());
            if drops.contains(&k) {
                return true;
            }
            todo.extend(jumps.get(&k).into_iter().flatten().cloned());
        }
        false
    };
    chains
        .iter()
        .filter(|c| !is_ours(c.family, &c.table, table))
        .filter_map(|c| {
            let hook = hook(c.family, c.hook?)?;
            let policy = policy(c.policy);
            Some(ForeignChain {
                family: family_name(c.family),
                table: c.table.clone(),
                chain: c.name.clone(),
                hook,
                priority: c.priority.unwrap_or(0),
                policy,
                can_drop: policy == ChainPolicy::Drop
                    || reaches_drop((c.family, &c.table, &c.name)),
            })
        })
        .collect()
}
