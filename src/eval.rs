//! A packet evaluator over `ir::Ruleset`: the verdict the kernel would give one
//! packet, computed from the IR alone (pure, no I/O).
//!
//! `verify` derives every probe's expected outcome from it, and the lockout
//! guard asks it whether the admin's SSH connection survives a new policy.
//! It walks the base chains registered on a hook in priority order, as
//! nf_tables does: within a chain the first rule whose matches all hold and
//! that has a verdict decides; `accept` passes the packet on to the next base
//! chain on the hook, `drop`/`reject` end it; a chain that runs out of rules
//! applies its policy. Counters and logging do not change verdicts. A rate limit's
//! state is unknown here: [`evaluate`] takes every limit as not exceeded (a single packet
//! never exceeds one), [`evaluate_with`]`(Limits::Over)` as exceeded (a rule with a
//! limit then never decides), and [`outcomes`] gives both, so a caller can tell a
//! verdict a limit cannot change from one it can (ternary: never read "may" as "does").
//!
//! This evaluator sees our table only. `host` evaluates the whole host (every table,
//! ternary); `text` reads and writes packets as text.

pub mod host;
pub mod text;

use crate::ir::{
    AddrMatch, ChainPolicy, Hook, IfName, L4Proto, Match, NfProto, PortMatch, Ruleset, SetKey,
    Stmt, TypeMatch, Verdict,
};
use std::net::IpAddr;

/// The layer-4 part of a packet, as far as the IR can match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4 {
    Tcp {
        dport: u16,
    },
    Udp {
        dport: u16,
    },
    Sctp {
        dport: u16,
    },
    Icmp {
        kind: u8,
    },
    Icmpv6 {
        kind: u8,
    },
    /// Any other IP protocol number.
    Other(u8),
}

impl L4 {
    pub fn proto_number(self) -> u8 {
        match self {
            L4::Tcp { .. } => L4Proto::Tcp.number(),
            L4::Udp { .. } => L4Proto::Udp.number(),
            L4::Sctp { .. } => L4Proto::Sctp.number(),
            L4::Icmp { .. } => L4Proto::Icmp.number(),
            L4::Icmpv6 { .. } => L4Proto::Icmpv6.number(),
            L4::Other(n) => n,
        }
    }

    fn dport(self, proto: L4Proto) -> Option<u16> {
        match (self, proto) {
            (L4::Tcp { dport }, L4Proto::Tcp)
            | (L4::Udp { dport }, L4Proto::Udp)
            | (L4::Sctp { dport }, L4Proto::Sctp) => Some(dport),
            _ => None,
        }
    }
}

/// A packet description: what the rules of the IR can look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Source and destination; their family is the packet's (`meta nfproto`).
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Input interface name (`None` for locally generated packets).
    pub iif: Option<String>,
    /// Output interface name (`None` on the input hook).
    pub oif: Option<String>,
    pub l4: L4,
    /// The packet's conntrack state, one `ir::CtState` bit (`NEW` for a first packet).
    pub ct: u32,
}

impl Packet {
    /// A first packet (`ct state new`) arriving on `iif`.
    pub fn new_inbound(src: IpAddr, dst: IpAddr, iif: &str, l4: L4) -> Packet {
        Packet {
            src,
            dst,
            iif: Some(iif.to_string()),
            oif: None,
            l4,
            ct: crate::ir::CtState::NEW,
        }
    }

    fn nfproto(&self) -> NfProto {
        match self.src {
            IpAddr::V4(_) => NfProto::Ipv4,
            IpAddr::V6(_) => NfProto::Ipv6,
        }
    }
}

/// What decided a packet's fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Rule `index` (0-based) of base chain `chain`.
    Rule { chain: String, index: usize },
    /// The policy of base chain `chain` (no rule decided).
    Policy { chain: String },
    /// No base chain of the table is on this hook.
    NoChain,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// For `Accept`, the last base chain that accepted; otherwise the one that ended it.
    pub cause: Cause,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("rule {index} of chain {chain} looks up set @{set}, which the table does not define")]
    UnknownSet {
        chain: String,
        index: usize,
        set: String,
    },
    #[error(
        "rule {index} of chain {chain} looks up set @{set} of type {found} where {wanted} is needed"
    )]
    SetKey {
        chain: String,
        index: usize,
        set: String,
        found: &'static str,
        wanted: &'static str,
    },
    #[error("packet mixes IPv4 and IPv6 addresses ({src} -> {dst})")]
    MixedFamily { src: IpAddr, dst: IpAddr },
}

/// How rate limits are taken: never exceeded, or always exceeded (a flood).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limits {
    Under,
    Over,
}

/// The verdicts at both ends of the rate limits' unknown state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcomes {
    /// Every limit holds (what one packet sees).
    pub under: Decision,
    /// Every limit is exceeded: limited rules do not decide.
    pub over: Decision,
}

impl Outcomes {
    /// The verdict when no rate limit can change it; `None` when one can.
    pub fn certain(&self) -> Option<Verdict> {
        (self.under.verdict == self.over.verdict).then_some(self.under.verdict)
    }
}

/// [`evaluate`] with the limits held and exceeded.
pub fn outcomes(rs: &Ruleset, hook: Hook, pkt: &Packet) -> Result<Outcomes, EvalError> {
    Ok(Outcomes {
        under: evaluate_with(rs, hook, pkt, Limits::Under)?,
        over: evaluate_with(rs, hook, pkt, Limits::Over)?,
    })
}

/// The verdict `rs` gives `pkt` on `hook`, every rate limit taken as not exceeded.
pub fn evaluate(rs: &Ruleset, hook: Hook, pkt: &Packet) -> Result<Decision, EvalError> {
    evaluate_with(rs, hook, pkt, Limits::Under)
}

/// The verdict `rs` gives `pkt` on `hook`, rate limits taken as `limits` says.
pub fn evaluate_with(
    rs: &Ruleset,
    hook: Hook,
    pkt: &Packet,
    limits: Limits,
) -> Result<Decision, EvalError> {
    if pkt.src.is_ipv4() != pkt.dst.is_ipv4() {
        return Err(EvalError::MixedFamily {
            src: pkt.src,
            dst: pkt.dst,
        });
    }
    let mut chains: Vec<_> = rs
        .table
        .chains
        .iter()
        .filter_map(|c| c.base.filter(|b| b.hook == hook).map(|b| (b, c)))
        .collect();
    // Stable sort: equal priorities keep table order, as the kernel keeps insertion order.
    chains.sort_by_key(|(b, _)| b.priority);
    let mut last = Decision {
        verdict: Verdict::Accept,
        cause: Cause::NoChain,
    };
    for (base, chain) in chains {
        let decided = chain_verdict(rs, chain, pkt, limits)?;
        let d = match decided {
            Some((verdict, index)) => Decision {
                verdict,
                cause: Cause::Rule {
                    chain: chain.name.clone(),
                    index,
                },
            },
            None => Decision {
                verdict: match base.policy {
                    ChainPolicy::Accept => Verdict::Accept,
                    ChainPolicy::Drop => Verdict::Drop,
                },
                cause: Cause::Policy {
                    chain: chain.name.clone(),
                },
            },
        };
        if d.verdict != Verdict::Accept {
            return Ok(d);
        }
        last = d;
    }
    Ok(last)
}

/// The first deciding rule of `chain` and its index, or `None` to fall to the policy.
fn chain_verdict(
    rs: &Ruleset,
    chain: &crate::ir::Chain,
    pkt: &Packet,
    limits: Limits,
) -> Result<Option<(Verdict, usize)>, EvalError> {
    for (index, rule) in chain.rules.iter().enumerate() {
        let ctx = Ctx {
            rs,
            chain: &chain.name,
            index,
        };
        let mut all = true;
        for m in &rule.matches {
            if !ctx.matches(m, pkt)? {
                all = false;
                break;
            }
        }
        let limited = || {
            (rule.stmts.iter()).any(|s| matches!(s, Stmt::Limit { .. } | Stmt::SourceLimit { .. }))
        };
        if all && let Some(v) = rule.verdict {
            if limits == Limits::Over && limited() {
                continue;
            }
            return Ok(Some((v, index)));
        }
    }
    Ok(None)
}

/// Where a match is evaluated, for set lookups and their errors.
struct Ctx<'a> {
    rs: &'a Ruleset,
    chain: &'a str,
    index: usize,
}

impl Ctx<'_> {
    fn matches(&self, m: &Match, pkt: &Packet) -> Result<bool, EvalError> {
        Ok(match m {
            Match::IifName(n) => if_matches(n, pkt.iif.as_deref()),
            Match::OifName(n) => if_matches(n, pkt.oif.as_deref()),
            Match::CtState(s) => pkt.ct & s.0 != 0,
            Match::L4Proto(p) => pkt.l4.proto_number() == p.number(),
            Match::NfProto(p) => pkt.nfproto() == *p,
            Match::Saddr(a) => self.addr_matches(a, pkt.src)?,
            Match::Daddr(a) => self.addr_matches(a, pkt.dst)?,
            Match::Dport(proto, pm) => match pkt.l4.dport(*proto) {
                Some(port) => self.port_matches(pm, port)?,
                None => false,
            },
            Match::IcmpType(t) => match pkt.l4 {
                L4::Icmp { kind } => self.type_matches(t, kind, SetKey::IcmpType)?,
                _ => false,
            },
            Match::Icmpv6Type(t) => match pkt.l4 {
                L4::Icmpv6 { kind } => self.type_matches(t, kind, SetKey::Icmpv6Type)?,
                _ => false,
            },
        })
    }

    /// `ip saddr` only matches IPv4 packets and `ip6 saddr` only IPv6 ones
    /// (nft adds the `nfproto` dependency), so a family mismatch is no match.
    fn addr_matches(&self, a: &AddrMatch, addr: IpAddr) -> Result<bool, EvalError> {
        Ok(match (a, addr) {
            (AddrMatch::V4(net), IpAddr::V4(ip)) => net.contains(&ip),
            (AddrMatch::V6(net), IpAddr::V6(ip)) => net.contains(&ip),
            (AddrMatch::Set4(name), IpAddr::V4(ip)) => {
                self.in_set(name, SetKey::Ipv4Addr, u32::from(ip) as u128)?
            }
            (AddrMatch::Set6(name), IpAddr::V6(ip)) => {
                self.in_set(name, SetKey::Ipv6Addr, u128::from(ip))?
            }
            (AddrMatch::Range4(lo, hi), IpAddr::V4(ip)) => (lo..=hi).contains(&&ip),
            (AddrMatch::Range6(lo, hi), IpAddr::V6(ip)) => (lo..=hi).contains(&&ip),
            _ => false,
        })
    }

    fn port_matches(&self, pm: &PortMatch, port: u16) -> Result<bool, EvalError> {
        Ok(match pm {
            PortMatch::Port(p) => *p == port,
            PortMatch::Range(lo, hi) => (*lo..=*hi).contains(&port),
            PortMatch::Set(name) => self.in_set(name, SetKey::InetService, port as u128)?,
        })
    }

    fn type_matches(&self, t: &TypeMatch, kind: u8, key: SetKey) -> Result<bool, EvalError> {
        Ok(match t {
            TypeMatch::Type(v) => *v == kind,
            TypeMatch::Set(name) => self.in_set(name, key, kind as u128)?,
        })
    }

    fn in_set(&self, name: &str, key: SetKey, value: u128) -> Result<bool, EvalError> {
        let set = self
            .rs
            .table
            .sets
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| EvalError::UnknownSet {
                chain: self.chain.to_string(),
                index: self.index,
                set: name.to_string(),
            })?;
        if set.key != key {
            return Err(EvalError::SetKey {
                chain: self.chain.to_string(),
                index: self.index,
                set: name.to_string(),
                found: set.key.name(),
                wanted: key.name(),
            });
        }
        Ok(set.elements.holds(value))
    }
}

pub(crate) fn if_matches(n: &IfName, actual: Option<&str>) -> bool {
    match actual {
        // nft's `iifname "virbr*"` is a prefix match; a packet without the
        // interface (e.g. iif on output) never matches.
        Some(a) if n.wildcard => a.starts_with(&n.name),
        Some(a) => a == n.name,
        None => false,
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
