//! The resolved ruleset: what the kernel should hold, with no policy syntax left.
//!
//! `compile` produces it from a checked policy; `emit::text` and `emit::netlink`
//! write it out; `live` decodes the kernel's ruleset back into it; `diff` compares two.
//! Every form here maps to exactly one nft expression sequence, so that decoding is
//! unambiguous. Rules keep `origin` spans so kernel errors can point at the policy.

pub mod host;
pub mod icmp;
pub mod kernel;
pub mod packed;
mod rule;
pub use icmp::{ICMP_TYPES, ICMPV6_ALWAYS, ICMPV6_TYPES, icmp_type_name};
pub use packed::Packed;

use crate::source::Span;
use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    pub table: Table,
    /// Sysctl steps applied after the ruleset commits.
    pub sysctls: Vec<SysctlSetting>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Inet,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub family: Family,
    pub name: String,
    /// Named sets, in emission order (before the chains that use them).
    pub sets: Vec<Set>,
    pub chains: Vec<Chain>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    /// `None` for a regular (non-base) chain.
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BaseChain {
    pub hook: Hook,
    pub priority: i32,
    pub policy: ChainPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainPolicy {
    Accept,
    Drop,
}

impl ChainPolicy {
    pub fn name(self) -> &'static str {
        match self {
            ChainPolicy::Accept => "accept",
            ChainPolicy::Drop => "drop",
        }
    }
}

/// One rule: all matches must hold, then statements run in order, then the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub stmts: Vec<Stmt>,
    pub verdict: Option<Verdict>,
    /// nft rule comment (names the policy services the rule came from).
    pub comment: Option<String>,
    /// Policy lines this rule came from (empty for implicit rules and decoded rules).
    pub origin: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Match {
    /// `meta iifname "eth0"` (or a prefix with `*`).
    IifName(IfName),
    OifName(IfName),
    /// `ct state established,related`: true when any of the bits is set.
    CtState(CtState),
    /// `meta l4proto tcp`.
    L4Proto(L4Proto),
    /// `meta nfproto ipv4`.
    NfProto(NfProto),
    /// `ip saddr 10.0.0.0/8`, `ip6 saddr @set`.
    Saddr(AddrMatch),
    Daddr(AddrMatch),
    /// `tcp dport 22`, `udp dport 5000-5010`, `tcp dport @set`.
    Dport(L4Proto, PortMatch),
    /// `icmp type echo-request`, `icmp type @set`.
    IcmpType(TypeMatch),
    /// `icmpv6 type nd-neighbor-solicit`, `icmpv6 type @set`.
    Icmpv6Type(TypeMatch),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IfName {
    pub name: String,
    /// Match `name` as a prefix (`virbr*`).
    pub wildcard: bool,
}

/// Bits as the kernel defines them (`NF_CT_STATE_*_BIT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CtState(pub u32);

impl CtState {
    pub const INVALID: u32 = 1;
    pub const ESTABLISHED: u32 = 2;
    pub const RELATED: u32 = 4;
    pub const NEW: u32 = 8;
    pub const UNTRACKED: u32 = 64;

    /// The names nft prints, in nft's order.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::INVALID, "invalid"),
            (Self::ESTABLISHED, "established"),
            (Self::RELATED, "related"),
            (Self::NEW, "new"),
            (Self::UNTRACKED, "untracked"),
        ]
        .into_iter()
        .filter(|(b, _)| self.0 & b != 0)
        .map(|(_, n)| n)
        .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4Proto {
    Icmp,
    Tcp,
    Udp,
    Icmpv6,
    Sctp,
}

impl L4Proto {
    pub fn number(self) -> u8 {
        match self {
            L4Proto::Icmp => 1,
            L4Proto::Tcp => 6,
            L4Proto::Udp => 17,
            L4Proto::Icmpv6 => 58,
            L4Proto::Sctp => 132,
        }
    }

    pub fn from_number(n: u8) -> Option<L4Proto> {
        Some(match n {
            1 => L4Proto::Icmp,
            6 => L4Proto::Tcp,
            17 => L4Proto::Udp,
            58 => L4Proto::Icmpv6,
            132 => L4Proto::Sctp,
            _ => return None,
        })
    }

    /// The name nft prints (`ipv6-icmp` for 58).
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Icmp => "icmp",
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Icmpv6 => "ipv6-icmp",
            L4Proto::Sctp => "sctp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NfProto {
    Ipv4,
    Ipv6,
}

impl NfProto {
    /// nft's name for the family's address expressions (`ip saddr`, `ip6 saddr`).
    pub fn addr_keyword(self) -> &'static str {
        match self {
            NfProto::Ipv4 => "ip",
            NfProto::Ipv6 => "ip6",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddrMatch {
    V4(Ipv4Net),
    V6(Ipv6Net),
    /// Named set of `ipv4_addr` (interval).
    Set4(String),
    /// Named set of `ipv6_addr` (interval).
    Set6(String),
    /// `ip saddr 10.0.0.0-10.1.13.251`: an inclusive range, `lo < hi`. The compiler puts
    /// one before the lookup in each piece of a list cut into several sets (the piece's
    /// first and last address), so that a packet outside it skips the lookup.
    Range4(Ipv4Addr, Ipv4Addr),
    /// `ip6 saddr 2001:db8::-2001:db8::ff`, as [`AddrMatch::Range4`].
    Range6(Ipv6Addr, Ipv6Addr),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PortMatch {
    Port(u16),
    /// Inclusive, `lo < hi`.
    Range(u16, u16),
    Set(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TypeMatch {
    Type(u8),
    Set(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn name(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }

    pub fn seconds(self) -> u64 {
        match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86400,
        }
    }
}

/// A kernel log level: the syslog severities nft names, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Err,
    #[default]
    Warn,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    /// Every level with its nft name, in severity order (syslog's numbers 0..=7).
    pub const ALL: [(LogLevel, &'static str); 8] = [
        (LogLevel::Emerg, "emerg"),
        (LogLevel::Alert, "alert"),
        (LogLevel::Crit, "crit"),
        (LogLevel::Err, "err"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Notice, "notice"),
        (LogLevel::Info, "info"),
        (LogLevel::Debug, "debug"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL[self as usize].1
    }

    /// The syslog number the kernel stores (`NFTA_LOG_LEVEL`).
    pub fn number(self) -> u32 {
        self as u32
    }

    pub fn from_number(n: u64) -> Option<LogLevel> {
        Self::ALL.get(usize::try_from(n).ok()?).map(|(l, _)| *l)
    }

    pub fn from_name(name: &str) -> Option<LogLevel> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(l, _)| *l)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stmt {
    /// `counter` (packet and byte counts are not part of the IR).
    Counter,
    /// `limit rate N/unit burst B packets`: stops the rule when over the rate.
    Limit {
        rate: u64,
        unit: RateUnit,
        burst: u32,
    },
    /// `update @set { ip saddr limit rate N/unit burst B packets }` (`ip6 saddr` for
    /// `Ipv6`): true while the packet's source address has tokens in its own bucket, kept
    /// in the dynamic set `set`; false when over, or when the set is full.
    SourceLimit {
        set: String,
        family: NfProto,
        rate: u64,
        unit: RateUnit,
        burst: u32,
    },
    /// `log prefix "..." [level L]` or `log prefix "..." group N` (`level` is `Warn`, the
    /// kernel's default, with a group).
    Log {
        prefix: Option<String>,
        group: Option<u16>,
        level: LogLevel,
    },
    /// Decoded from the kernel: expressions hostwall never emits (someone else's rule),
    /// kept as libnftnl's own text so that diff can show them. Never compiled or emitted.
    Foreign(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
    Reject(RejectWith),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectWith {
    /// `reject with tcp reset` (only after `meta l4proto tcp`).
    TcpReset,
    /// `reject with icmpx admin-prohibited`.
    IcmpxAdminProhibited,
    /// `reject with icmpx port-unreachable`.
    IcmpxPortUnreachable,
}

/// A named set. Elements are kept normalised: sorted, merged, no duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub key: SetKey,
    /// `flags interval`: always set for ports and addresses.
    pub interval: bool,
    pub elements: Packed,
    pub comment: Option<String>,
    /// `Some`: a dynamic set the rules fill (`flags dynamic,timeout`, `size`
    /// [`DYNAMIC_SET_SIZE`]), whose entries expire this many milliseconds after their last
    /// update; it holds no elements of its own.
    pub timeout_ms: Option<u64>,
    /// Policy lines whose values fill this set.
    pub origin: Vec<Span>,
}

/// Entries a dynamic set holds at most; once full, the kernel adds no more and a rule that
/// updates it does not match for a new key (a `per source` limit then accepts nothing from
/// sources it has not seen: it fails closed).
pub const DYNAMIC_SET_SIZE: u32 = 65535;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetKey {
    Ipv4Addr,
    Ipv6Addr,
    InetService,
    IcmpType,
    Icmpv6Type,
}

impl SetKey {
    pub fn name(self) -> &'static str {
        match self {
            SetKey::Ipv4Addr => "ipv4_addr",
            SetKey::Ipv6Addr => "ipv6_addr",
            SetKey::InetService => "inet_service",
            SetKey::IcmpType => "icmp_type",
            SetKey::Icmpv6Type => "icmpv6_type",
        }
    }

    /// Key width in bytes, as the kernel stores it.
    #[allow(clippy::len_without_is_empty)] // a width, not a container
    pub fn len(self) -> usize {
        match self {
            SetKey::Ipv4Addr => 4,
            SetKey::Ipv6Addr => 16,
            SetKey::InetService => 2,
            SetKey::IcmpType | SetKey::Icmpv6Type => 1,
        }
    }

    /// Largest value a key can hold.
    pub fn max(self) -> u128 {
        match self.len() {
            16 => u128::MAX,
            n => (1u128 << (8 * n)) - 1,
        }
    }
}

/// An inclusive range of key values (a single value has `lo == hi`).
/// Addresses are their numeric value (`u32::from(Ipv4Addr)`), ports their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    pub lo: u128,
    pub hi: u128,
}

impl Interval {
    pub fn single(v: u128) -> Interval {
        Interval { lo: v, hi: v }
    }

    pub fn from_v4(net: Ipv4Net) -> Interval {
        Interval {
            lo: u32::from(net.network()) as u128,
            hi: u32::from(net.broadcast()) as u128,
        }
    }

    pub fn from_v6(net: Ipv6Net) -> Interval {
        Interval {
            lo: u128::from(net.network()),
            hi: u128::from(net.broadcast()),
        }
    }
}

impl AddrMatch {
    /// The addresses a network or a range matches, as one interval; `None` for a set
    /// lookup, whose addresses are its set's.
    pub fn interval(&self) -> Option<Interval> {
        Some(match self {
            AddrMatch::V4(n) => Interval::from_v4(*n),
            AddrMatch::V6(n) => Interval::from_v6(*n),
            AddrMatch::Range4(lo, hi) => Interval {
                lo: u32::from(*lo).into(),
                hi: u32::from(*hi).into(),
            },
            AddrMatch::Range6(lo, hi) => Interval {
                lo: u128::from(*lo),
                hi: u128::from(*hi),
            },
            AddrMatch::Set4(_) | AddrMatch::Set6(_) => return None,
        })
    }
}

/// Sorts and merges overlapping or adjacent intervals: the form the kernel keeps
/// after it merges, so a decoded set compares equal to a compiled one.
pub fn normalize_intervals(elems: &mut Vec<Interval>) {
    // Already in that form (a compiled set's chunk, a set read back): one pass, no sort.
    let apart = |w: &[Interval]| w[0].lo <= w[0].hi && w[0].hi < w[1].lo && w[1].lo - w[0].hi > 1;
    if elems.windows(2).all(apart) && elems.last().is_none_or(|e| e.lo <= e.hi) {
        elems.shrink_to_fit();
        return;
    }
    crate::nets::sort_mostly_ordered(elems);
    // Merged in place: a million-element set is never copied.
    let mut kept: usize = 0;
    for i in 0..elems.len() {
        let e = elems[i];
        match kept.checked_sub(1).map(|k| &mut elems[k]) {
            Some(last) if e.lo <= last.hi.saturating_add(1) => last.hi = last.hi.max(e.hi),
            _ => {
                elems[kept] = e;
                kept += 1;
            }
        }
    }
    elems.truncate(kept);
    elems.shrink_to_fit();
}

/// Splits an inclusive range into the fewest CIDR prefixes covering exactly it,
/// for a key of `bits` bits. Returns (network value, prefix length) pairs.
pub fn range_to_prefixes(mut lo: u128, hi: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        // The largest aligned block starting at `lo` that does not pass `hi`.
        let mut size = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        while size > 0 && block_last(lo, size) > hi {
            size -= 1;
        }
        out.push((lo, (bits - size) as u8));
        let last = block_last(lo, size);
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

/// Last value of the block of 2^size values starting at the aligned `lo`.
fn block_last(lo: u128, size: u32) -> u128 {
    if size >= 128 {
        u128::MAX
    } else {
        lo | ((1u128 << size) - 1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sysctl {
    /// `net.ipv4.ip_forward`
    Ipv4Forward,
    /// `net.ipv6.conf.all.forwarding`
    Ipv6Forward,
}

impl Sysctl {
    pub fn name(self) -> &'static str {
        match self {
            Sysctl::Ipv4Forward => "net.ipv4.ip_forward",
            Sysctl::Ipv6Forward => "net.ipv6.conf.all.forwarding",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysctlSetting {
    pub key: Sysctl,
    pub value: bool,
    pub origin: Option<Span>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_adjacent_and_overlapping() {
        let mut v = vec![
            Interval { lo: 10, hi: 20 },
            Interval::single(21),
            Interval { lo: 5, hi: 12 },
            Interval::single(30),
            Interval::single(30),
        ];
        normalize_intervals(&mut v);
        assert_eq!(v, vec![Interval { lo: 5, hi: 21 }, Interval::single(30)]);
    }

    proptest::proptest! {
        /// Skipping intervals already apart and in order gives what sorting and merging gives.
        #[test]
        fn normalizing_skips_only_what_sorting_and_merging_would_keep(
            v in proptest::collection::vec((0u128..40, 0u128..4), 0..12),
            sorted in proptest::bool::ANY,
        ) {
            let mut v: Vec<Interval> = v.iter().map(|&(lo, n)| Interval { lo, hi: lo + n }).collect();
            v.sort_unstable_by_key(|i| if sorted { i.lo } else { 0 });
            let mut want = v.clone();
            want.sort_unstable();
            let mut merged: Vec<Interval> = Vec::new();
            for e in want {
                match merged.last_mut() {
                    Some(l) if e.lo <= l.hi + 1 => l.hi = l.hi.max(e.hi),
                    _ => merged.push(e),
                }
            }
            normalize_intervals(&mut v);
            proptest::prop_assert_eq!(v, merged);
        }
    }

    #[test]
    fn prefixes_cover_exactly() {
        assert_eq!(range_to_prefixes(0, 255, 32), vec![(0, 24)]);
        assert_eq!(range_to_prefixes(1, 2, 32), vec![(1, 32), (2, 32)]);
        assert_eq!(range_to_prefixes(0, u32::MAX as u128, 32), vec![(0, 0)]);
        assert_eq!(range_to_prefixes(0, u128::MAX, 128), vec![(0, 0)]);
        let p = range_to_prefixes(10, 100, 32);
        let mut next = 10u128;
        for (net, len) in p {
            assert_eq!(net, next);
            next = net + (1u128 << (32 - len));
        }
        assert_eq!(next, 101);
    }
}
