//! The live state as `live` reads it back and `diff` compares it: our table, the
//! sysctls, other tables' base chains with a judgement of whether they can drop, and
//! everything in our table the IR cannot hold (named objects, flowtables, chains on
//! other hooks or of other types, maps), each described for the operator and never
//! silently left out; `Kind` names each kind of drift.

use crate::ir::{self, Sysctl, Table};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of drift a change is (its name in `--format json` is `diff::json`'s; the
/// serde form is the apply record's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    TableMissing,
    ChainMissing,
    ChainExtra,
    ChainHook,
    ChainPolicy,
    RuleMissing,
    RuleAdded,
    RuleChanged,
    RuleMoved,
    SetMissing,
    SetExtra,
    SetType,
    ElementMissing,
    ElementExtra,
    Sysctl,
    /// A named stateful object (counter, quota, limit, ct helper, synproxy, ...) in our
    /// table: hostwall never makes one.
    ObjectExtra,
    /// A flowtable in our table: hostwall never makes one.
    FlowtableExtra,
    /// Something else in our table hostwall never makes (a map, a set of another type),
    /// or the table is dormant.
    Unsupported,
    /// Warning: another table's base chain sees the host's traffic and may drop it.
    ForeignBaseChain,
    /// Warning: another table changed while it was read; its chains are shown as read.
    ForeignChanging,
    /// Warning: a policy line allows traffic that another table drops or rejects.
    PolicyDefeated,
    /// Warning: another table accepts traffic (for a purpose) that our table refuses.
    PolicyRefuses,
}

impl Kind {
    /// Every kind of change, in declaration order.
    pub const ALL: [Kind; 22] = [
        Kind::TableMissing,
        Kind::ChainMissing,
        Kind::ChainExtra,
        Kind::ChainHook,
        Kind::ChainPolicy,
        Kind::RuleMissing,
        Kind::RuleAdded,
        Kind::RuleChanged,
        Kind::RuleMoved,
        Kind::SetMissing,
        Kind::SetExtra,
        Kind::SetType,
        Kind::ElementMissing,
        Kind::ElementExtra,
        Kind::Sysctl,
        Kind::ObjectExtra,
        Kind::FlowtableExtra,
        Kind::Unsupported,
        Kind::ForeignBaseChain,
        Kind::ForeignChanging,
        Kind::PolicyDefeated,
        Kind::PolicyRefuses,
    ];
}

/// The live state as read back from the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Live {
    /// Our table, or `None` when it is absent.
    pub table: Option<Table>,
    /// Current sysctl values (`None` when unreadable).
    pub sysctls: Vec<(Sysctl, Option<bool>)>,
    /// Base chains of every other table, on every hook of every family.
    pub foreign: Vec<ForeignChain>,
    /// Every other table, decoded (for conflicts with the policy).
    pub others: Vec<crate::ir::host::HostTable>,
    /// Our table's place among the others (`None`: absent, it would come last).
    pub ours_at: Option<usize>,
    /// Everything in our table the IR cannot hold: all of it is drift.
    pub unmodelled: Vec<Unmodelled>,
    /// Other tables that changed while they were read ("family name").
    pub changing: Vec<String>,
}

/// A base chain's registration, as nft writes it: `type filter hook ingress device
/// "lo" priority 0; policy accept`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub family: String,
    #[serde(rename = "type")]
    pub chain_type: String,
    /// The hook's name in its family (`ingress`, `input`, ...), or `hook N` when the
    /// number is one hostwall does not know.
    pub hook: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    pub priority: i32,
    pub policy: String,
}

impl ChainHead {
    /// The head of one of our IR base chains.
    pub fn of(b: &ir::BaseChain) -> ChainHead {
        ChainHead {
            family: ir::Family::Inet.name().to_string(),
            chain_type: "filter".into(),
            hook: b.hook.name().to_string(),
            devices: Vec::new(),
            priority: b.priority,
            policy: b.policy.name().to_string(),
        }
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "type {} hook {}", self.chain_type, self.hook)?;
        match self.devices.as_slice() {
            [] => {}
            [one] => write!(f, " device \"{one}\"")?,
            many => write!(f, " devices = {{ {} }}", many.join(", "))?,
        }
        write!(f, " priority {}; policy {}", self.priority, self.policy)
    }
}

/// `type filter hook input priority -10; policy drop; 2 rules`, or `regular chain; 2 rules`.
pub fn chain_summary(head: Option<&ChainHead>, rules: usize) -> String {
    let what = head.map_or("regular chain".to_string(), |h| h.to_string());
    format!("{what}; {rules} rule{}", if rules == 1 { "" } else { "s" })
}

/// Whether a chain can drop a packet. `Unknown` is a real answer, never read as "no":
/// a chain holding something hostwall does not model (synproxy, queue, a verdict map,
/// an expression it does not know) may drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CanDrop {
    Yes,
    Unknown,
    No,
}

/// A judgement and the first reason for it (`rule 2 of chain in: drop`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    pub can_drop: CanDrop,
    pub why: String,
}

/// Another table's base chain, as the live reader reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignChain {
    /// `ip`, `inet`, `netdev`, `bridge`, `arp`, ...
    pub family: String,
    pub table: String,
    pub chain: String,
    pub head: ChainHead,
    /// From its rules and the chains they jump to, and its policy.
    pub judgement: Judgement,
}

/// Something in our table the IR cannot hold. The policy never makes it, so it is
/// drift of `kind` (`object-extra`, `flowtable-extra`, `chain-extra`, `unsupported`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmodelled {
    pub kind: Kind,
    /// `counter c1`, `flowtable ft`, `chain ing`, `set m`, `table inet hostwall`.
    pub object: String,
    /// What it is, in words or nft text.
    pub actual: String,
    /// For a chain: its registration, when it is a base chain.
    pub chain: Option<ChainHead>,
    /// For a chain: its rules, decoded like those of any chain of ours.
    pub rules: Vec<ir::Rule>,
}
