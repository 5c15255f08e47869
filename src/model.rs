//! The checked policy: every name resolved, every value validated, spans kept.
//!
//! `check` produces it from the AST; `compile` lowers it to `ir::Ruleset`.
//! Nothing here refers to policy syntax (no pest types, no unresolved names).

pub use crate::nets::{NetRange, Nets};
use crate::source::Span;

/// What happens to traffic the policy does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DefaultAction {
    /// TCP reset for TCP, ICMP(v6) administratively prohibited otherwise.
    #[default]
    Reject,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// An inclusive port range; a single port has `lo == hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortSpec {
    pub proto: Proto,
    pub range: PortRange,
    /// Where these ports were written (the policy line, or the catalog entry's use).
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

/// What kind of traffic a rule is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Traffic {
    /// Every packet (further limited only by sources and interfaces).
    Any,
    /// TCP/UDP/SCTP destination ports.
    Ports(Vec<PortSpec>),
    /// ICMP for one family; `types: None` means every type.
    Icmp {
        family: IpFamily,
        types: Option<Vec<u8>>,
    },
}

/// An interface name as nft matches it: exact, or a prefix when written `virbr*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName {
    pub name: String,
    pub wildcard: bool,
}

/// A resolved source (or destination) restriction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addrs {
    /// The network's name when the policy named one (`from mgmt`), used to name sets.
    pub name: Option<String>,
    pub nets: Nets,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
}

/// One `allow`/`drop`/`reject` line of the policy, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub verdict: Verdict,
    /// Service name for comments and diffs (`ssh`), when the rule names one.
    pub service: Option<String>,
    pub traffic: Traffic,
    /// `None`: from anywhere.
    pub sources: Option<Addrs>,
    /// Forward rules only: destination restriction (`to ...`).
    pub destinations: Option<Addrs>,
    /// Input interface (`on`/`in`); empty means any.
    pub iif: Vec<IfName>,
    /// Forward rules only: output interface (`out`); empty means any.
    pub oif: Vec<IfName>,
    /// Forward rules only: match only `ct state established,related` (`established`).
    pub established_only: bool,
    /// Whether matching packets are counted (`counter`).
    pub counter: bool,
    /// `log ...`: log the packets this rule matches, before its verdict.
    pub log: Option<LogSpec>,
    /// `limit N/unit`: accept at most this rate of new connections; the excess is not
    /// matched by this rule (later rules and the default decide). `allow` rules only.
    pub limit: Option<Rate>,
    /// `limit ... per source`: one bucket per source address instead of one for the rule.
    pub limit_per_source: bool,
    /// The whole policy line.
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn seconds(self) -> u64 {
        match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86400,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u32,
    pub unit: RateUnit,
    pub burst: u32,
}

/// A log statement: `log rejected ...` (what the default action catches) or a rule's
/// `log ...` (what the rule matches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSpec {
    pub limit: Option<Rate>,
    /// Kernel log prefix (from the policy, else the site file, else "hostwall: ").
    pub prefix: String,
    /// NFLOG group instead of the kernel log.
    pub group: Option<u16>,
    /// Kernel log level (syslog severity); `Warn` unless written. Never with `group`.
    pub level: LogLevel,
    pub span: Span,
}

/// `log rejected ...`: logging of what the default action catches.
pub type LogRejected = LogSpec;

/// A kernel log level (the IR's: the policy names the same eight).
pub use crate::ir::LogLevel;

/// A sysctl the policy sets; `None` fields leave the host's value alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Forwarding {
    pub ipv4: Option<(bool, Span)>,
    pub ipv6: Option<(bool, Span)>,
}

/// Host-specific values from the site file that affect compilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// nft table name (family is always `inet`).
    pub table: String,
    pub log_prefix: String,
    /// Base chain priority (nft `filter` = 0).
    pub priority: i32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            table: "hostwall".into(),
            log_prefix: "hostwall: ".into(),
            priority: 0,
        }
    }
}

/// The whole checked policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub span: Span,
    pub default: DefaultAction,
    pub forwarding: Forwarding,
    /// Rules for traffic to the host (input hook), in policy order.
    pub input: Vec<Rule>,
    /// `None`: the policy has no `forward { }` block, so no forward chain is made.
    pub forward: Option<Vec<Rule>>,
    /// Default action of the forward chain (`forward default drop`); reject when unset.
    pub forward_default: DefaultAction,
    pub log_rejected: Option<LogRejected>,
    /// `count rejected`: a counter on the default-action rules.
    pub count_rejected: bool,
    pub settings: Settings,
    /// `None`: the policy has no `output { }` block, so no output chain is made.
    pub output: Option<Vec<Rule>>,
    /// Default of the output chain: `None` (accept) unless `default` is written inside.
    pub output_default: Option<DefaultAction>,
}
