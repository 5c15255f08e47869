//! Reads the live nf_tables state back over netlink and decodes our table into the
//! same `ir::Table` the compiler produces; everything else in our table (named objects,
//! flowtables, chains the IR cannot describe, maps) as explicit `Unmodelled` items;
//! and the base chains of every other table, judged by whether they can drop.
//!
//! The dumps are separate requests, so a read takes the generation id before and after;
//! when it moved, the kernel's change notifications tell which tables the generations in
//! between touched: our table is read again only when they touched it, and other tables
//! that changed are named in the read. Sysctls are not read here (`sysctl` owns /proc/sys);
//! `RulesetRead::into_live` joins them in.

pub mod copy;
pub mod counters;
mod decode;
mod dump;
mod effect;
mod expr_read;
mod hooks;
mod host;
pub mod learned;
mod normalize;
mod ours;
pub mod state;
mod tables;
#[cfg(test)]
mod test_exprs;
mod xt;

pub use crate::nft::read::ParseError;
/// One rule of our table from its raw dump (`apply`'s incremental path reads rules with
/// their handles itself).
pub use decode::rule as decode_rule;

use crate::ir::host::HostTable;
use crate::ir::{self, Table};
use crate::netns::NetnsError;
use crate::nft::client::{Client, Moved, Refusal, classify};
use crate::nft::monitor::Monitor;
use crate::nft::read::{RawChain, RawRule, RawTable};
use dump::{Conn, NFPROTO_INET};
use state::{CanDrop, ForeignChain, Judgement, Kind, Live, Unmodelled};
use std::collections::HashMap;
use std::io;

/// Reads retried when our table changes under us, before giving up.
const ATTEMPTS: u32 = 5;

/// One consistent read of the kernel's ruleset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesetRead {
    /// Generation id the read stands at.
    pub genid: u32,
    /// Our table, `None` when absent.
    pub table: Option<Table>,
    /// Base chains of every other table, on every hook of every family.
    pub foreign: Vec<ForeignChain>,
    /// Every other table, decoded as far as the IR can say what its rules do.
    pub others: Vec<HostTable>,
    /// Where our table stands among the others in the kernel's table order (a table
    /// created later registered its hooks later: at equal priority it runs first).
    pub ours_at: Option<usize>,
    /// Our table in host form (every chain, read like another table's), only when it
    /// holds chains the IR cannot or is dormant: `explain --live` judges with those too.
    pub ours_host: Option<HostTable>,
    /// Everything in our table the IR cannot hold (named objects, flowtables, chains on
    /// other hooks or of other types, maps), described for the operator; never dropped.
    pub unmodelled: Vec<Unmodelled>,
    /// Other tables that changed while they were read ("family name"): their base
    /// chains are each as one dump saw them, a moment's state, not one generation's.
    pub changing: Vec<String>,
}

impl RulesetRead {
    /// The diff's view of the live state, with sysctl values read by the caller.
    pub fn into_live(self, sysctls: Vec<(ir::Sysctl, Option<bool>)>) -> Live {
        Live {
            table: self.table,
            sysctls,
            foreign: self.foreign,
            others: self.others,
            ours_at: self.ours_at,
            unmodelled: self.unmodelled,
            changing: self.changing,
        }
    }
}

/// Errors of a live read, by phase.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("network namespace {0:?} does not exist (no {dir}/{0})", dir = crate::netns::NETNS_DIR)]
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
    /// The kernel refused the `what` request with the errno in `source`.
    fn kernel(what: &'static str, source: io::Error) -> LiveError {
        match classify(source.raw_os_error()) {
            Refusal::Permission => LiveError::Permission(what),
            Refusal::NoNfTables => LiveError::NoNfTables(what),
            Refusal::Other => LiveError::Kernel { what, source },
        }
    }
}

impl From<NetnsError> for LiveError {
    fn from(e: NetnsError) -> LiveError {
        match e {
            NetnsError::Missing(name) => LiveError::NoNetns(name),
            NetnsError::Panicked(_) => LiveError::Thread,
            NetnsError::Enter { name, source } | NetnsError::Io { name, source, .. } => {
                LiveError::Netns { name, source }
            }
            // Creating or configuring a namespace: not what entering one returns.
            other => LiveError::Netns {
                name: String::new(),
                source: io::Error::other(other.to_string()),
            },
        }
    }
}

/// The current ruleset generation id: one GETGEN request, for diff's fast path.
pub fn genid(netns: Option<&str>) -> Result<u32, LiveError> {
    in_netns(netns, || Ok(Client::open()?.genid()?))
}

/// The generation id, and `also` run on the same thread in the same namespace right
/// after it (one namespace entry for both: the thread holds the namespace it entered,
/// so what `also` reads belongs to the namespace the generation id came from).
pub fn genid_with<T: Send>(
    netns: Option<&str>,
    also: impl FnOnce() -> T + Send,
) -> Result<(u32, T), LiveError> {
    in_netns(netns, || {
        let genid = Client::open()?.genid()?;
        Ok((genid, also()))
    })
}

/// Reads our `inet` table `table` and every other table's base chains.
///
/// Consistency is judged per table, from the kernel's change notifications: our table
/// is read again when a generation that passed during the read touched it, while
/// commits by other programs to their own tables (libvirt, docker, fail2ban) never
/// make the read fail. Those tables' chains are reported as read and named in
/// [`RulesetRead::changing`].
pub fn read(table: &str, netns: Option<&str>) -> Result<RulesetRead, LiveError> {
    read_with(table, netns, Ours::Read)
}

/// Every other table as [`read`] reads them, and where ours stands among them, without
/// any of our table's contents (its sets, their elements, its rules: `table` is `None`):
/// what the warnings about other tables after an apply need.
pub fn read_others(table: &str, netns: Option<&str>) -> Result<RulesetRead, LiveError> {
    read_with(table, netns, Ours::Skip)
}

/// Whether a read decodes our table's contents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ours {
    Read,
    Skip,
}

fn read_with(table: &str, netns: Option<&str>, mode: Ours) -> Result<RulesetRead, LiveError> {
    in_netns(netns, || {
        let mut client = Client::open()?;
        let mut monitor = Monitor::open().map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => LiveError::kernel("notification", e),
            _ => LiveError::Socket(e),
        })?;
        let read = |c: &mut Client, genid| read_once(&mut Conn { client: c }, (table, mode), genid);
        let judge = |(mut snap, chains_torn): (RulesetRead, bool), moved: Moved| {
            monitor.settle(moved.after).map_err(LiveError::Socket)?;
            let (touched, complete) = monitor.tables_touched_since(moved.before);
            let ours = touched
                .iter()
                .any(|(f, t)| is_ours(u32::from(*f), t, table));
            if !complete || ours || chains_torn {
                return Ok(None);
            }
            snap.genid = moved.after;
            snap.changing = touched
                .iter()
                .map(|(f, t)| format!("{} {t}", hooks::family_name(u32::from(*f))))
                .collect();
            Ok(Some((snap, chains_torn)))
        };
        match client.read_stable(ATTEMPTS, read, judge)? {
            Some((snap, _)) => Ok(snap),
            None => Err(LiveError::Inconsistent(ATTEMPTS)),
        }
    })
}

/// Runs `f` in the named network namespace (`netns::run_named`).
fn in_netns<T: Send>(
    netns: Option<&str>,
    f: impl FnOnce() -> Result<T, LiveError> + Send,
) -> Result<T, LiveError> {
    crate::netns::run_named(netns, f)?
}

/// One pass over the tables; also says whether the chain dump (which the kernel cannot
/// filter by table) was torn by a commit between its messages.
fn read_once(
    conn: &mut Conn,
    (table, mode): (&str, Ours),
    genid: u32,
) -> Result<(RulesetRead, bool), LiveError> {
    let tables = conn.tables()?;
    let ours = tables.iter().find(|t| is_ours(t.family, &t.name, table));
    let chains = conn.chains()?;
    let chains_torn = conn.client.take_interrupted();
    // Per table: a table-filtered rule dump is immune to other tables' commits.
    let mut rules = Vec::new();
    for t in &tables {
        if mode == Ours::Skip && is_ours(t.family, &t.name, table) {
            continue;
        }
        let family = u8::try_from(t.family).map_err(|_| LiveError::Missing("table family"))?;
        rules.extend(conn.rules(family, &t.name)?);
    }
    let mut unmodelled = Vec::new();
    if ours.is_some_and(|t| t.flags & NFT_TABLE_F_DORMANT != 0) {
        // Every chain is there, but none is hooked: nothing is filtered.
        unmodelled.push(Unmodelled {
            kind: Kind::Unsupported,
            object: format!("table inet {table}"),
            actual: "table is dormant (flags dormant): none of its chains is attached to a hook, so it filters nothing".to_string(),
            chain: None,
            rules: Vec::new(),
        });
    }
    let ours = ours.filter(|_| mode == Ours::Read);
    let ours_raw = ours;
    let ours = match ours {
        Some(_) => Some(ours::table(conn, table, &chains, &rules, &mut unmodelled)?),
        None => None,
    };
    let grouped = by_table(&chains, &rules);
    // Chains of ours the IR cannot hold still filter: in host form for `explain --live`.
    let odd_chains = unmodelled.iter().any(|u| u.kind == Kind::ChainExtra);
    let ours_host = match ours_raw {
        Some(t) if odd_chains || t.flags & NFT_TABLE_F_DORMANT != 0 => {
            let (tc, tr) = grouped
                .get(&(t.family, t.name.as_str()))
                .map_or((&[][..], &[][..]), |(c, r)| (&c[..], &r[..]));
            let mut h = tables::table(conn, t, tc, tr)?;
            h.ours = true;
            Some(h)
        }
        _ => None,
    };
    let others = others(conn, table, &tables, &grouped)?;
    let ours_at = tables
        .iter()
        .position(|t| is_ours(t.family, &t.name, table));
    let snap = RulesetRead {
        genid,
        table: ours,
        foreign: foreign(table, &tables, &grouped),
        others,
        ours_at,
        ours_host,
        unmodelled,
        changing: Vec::new(),
    };
    Ok((snap, chains_torn))
}

/// `NFT_TABLE_F_DORMANT`: the table's base chains are unregistered from their hooks.
const NFT_TABLE_F_DORMANT: u32 = 1;

fn is_ours(family: u32, t: &str, table: &str) -> bool {
    family == NFPROTO_INET as u32 && t == table
}

/// Chains and rules grouped by (family, table) once, so the work of reading every table
/// stays linear in the ruleset however many tables there are.
type ByTable<'a> = HashMap<(u32, &'a str), (Vec<&'a RawChain>, Vec<&'a RawRule>)>;

fn by_table<'a>(chains: &'a [RawChain], rules: &'a [RawRule]) -> ByTable<'a> {
    let mut out: ByTable = HashMap::new();
    for c in chains {
        out.entry((c.family, &c.table)).or_default().0.push(c);
    }
    for r in rules {
        out.entry((r.family, &r.table)).or_default().1.push(r);
    }
    out
}

/// Every other table, decoded into the host IR (chains, rules, sets and verdict maps).
fn others(
    conn: &mut Conn,
    table: &str,
    tables: &[RawTable],
    grouped: &ByTable,
) -> Result<Vec<HostTable>, LiveError> {
    let mut out = Vec::new();
    for t in tables.iter().filter(|t| !is_ours(t.family, &t.name, table)) {
        let (tc, tr) = grouped
            .get(&(t.family, t.name.as_str()))
            .map_or((&[][..], &[][..]), |(c, r)| (&c[..], &r[..]));
        out.push(tables::table(conn, t, tc, tr)?);
    }
    Ok(out)
}

/// Every base chain of every other table, on any hook of any family, with whether it
/// (or a chain it jumps to) can drop. A dormant table's chains are not hooked.
fn foreign(table: &str, tables: &[RawTable], grouped: &ByTable) -> Vec<ForeignChain> {
    let mut out = Vec::new();
    for t in tables.iter().filter(|t| !is_ours(t.family, &t.name, table)) {
        let Some((tchains, trules)) = grouped.get(&(t.family, t.name.as_str())) else {
            continue;
        };
        if !tchains.iter().any(|c| c.hook.is_some()) {
            continue;
        }
        let mut judged = effect::judge_table(tchains, trules);
        for c in tchains {
            let (Some(head), Some(mut judgement)) = (hooks::head(c), judged.remove(&c.name)) else {
                continue;
            };
            if t.flags & NFT_TABLE_F_DORMANT != 0 {
                judgement = Judgement {
                    can_drop: CanDrop::No,
                    why: "the table is dormant: its chains are not attached".into(),
                };
            }
            out.push(ForeignChain {
                family: hooks::family_name(c.family),
                table: c.table.clone(),
                chain: c.name.clone(),
                head,
                judgement,
            });
        }
    }
    out
}
