//! IR -> one nf_tables netlink batch (pure: bytes out, no sockets).
//!
//! The batch replaces our table atomically: add table, delete table, add table,
//! then sets and their elements, chains, and rules, between batch begin/end.
//! Expression sequences are exactly what `nft -f` generates for the text form
//! (checked against `nft --debug=netlink` in tests), so both paths load the same
//! ruleset. Every message is recorded with its sequence number and the policy
//! spans it came from, so a kernel error reply maps back to a policy line.

use crate::ir::kernel::{log_level_attr as log_level, reject_parts};
use crate::ir::{
    AddrMatch, BaseChain, IfName, L4Proto, Match, NfProto, PortMatch, RejectWith, Rule, Ruleset,
    Set, Stmt, TypeMatch, Verdict,
};
use crate::nft::expr::Expr;
use crate::nft::rule::RuleTarget;
use crate::nft::vocab::{CmpOp, DataType, Family, MetaKey, PayloadBase, VerdictCode};
use crate::nft::wire::{BaseSpec, ElemStream, SetSpec, WireError, Writer};
use crate::source::Span;
use std::collections::HashMap;

pub use super::elements::set_elements;
use super::elements::{check_elements, each_element, each_v4_element};
use std::fmt;

/// Which object of the ruleset one message of the batch carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchPart {
    BatchBegin,
    /// First of add/delete/add: makes sure the delete has a table to delete.
    EnsureTable(String),
    DeleteTable(String),
    AddTable(String),
    Set(String),
    /// `chunk` counts from 1: large sets span several messages.
    Elements {
        set: String,
        chunk: usize,
    },
    Chain(String),
    /// `index` counts from 1, as `nft -a list` users read rules.
    Rule {
        chain: String,
        index: usize,
    },
    BatchEnd,
    /// Incremental batches: the rule with this handle removed.
    DeleteRule {
        chain: String,
        handle: u64,
    },
    DeleteElements {
        set: String,
        chunk: usize,
    },
    DeleteSet(String),
    DeleteChain(String),
}

impl fmt::Display for BatchPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchPart::BatchBegin => f.write_str("batch begin"),
            BatchPart::EnsureTable(t) | BatchPart::AddTable(t) => write!(f, "table inet {t}"),
            BatchPart::DeleteTable(t) => write!(f, "deletion of table inet {t}"),
            BatchPart::Set(s) => write!(f, "set {s}"),
            BatchPart::Elements { set, chunk } => {
                write!(f, "elements of set {set} (message {chunk})")
            }
            BatchPart::Chain(c) => write!(f, "chain {c}"),
            BatchPart::Rule { chain, index } => write!(f, "rule {index} of chain {chain}"),
            BatchPart::BatchEnd => f.write_str("batch end"),
            BatchPart::DeleteRule { chain, handle } => {
                write!(f, "deletion of rule handle {handle} of chain {chain}")
            }
            BatchPart::DeleteElements { set, chunk } => {
                write!(f, "deletion of elements of set {set} (message {chunk})")
            }
            BatchPart::DeleteSet(s) => write!(f, "deletion of set {s}"),
            BatchPart::DeleteChain(c) => write!(f, "deletion of chain {c}"),
        }
    }
}

/// One message in the batch buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub seq: u32,
    pub offset: usize,
    pub len: usize,
    pub what: BatchPart,
    /// Policy lines behind this message (empty for structural messages).
    pub origin: Vec<Span>,
}

pub use super::batch::Batch;

#[derive(Clone, Copy, Debug, Default)]
pub struct BatchOptions {
    /// Sequence number of the batch begin message.
    pub first_seq: u32,
    /// Ruleset generation the batch was built against (`None`: unchecked).
    pub genid: Option<u32>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmitError {
    #[error("{what} refers to set {set}, which the table does not define")]
    UnknownSet { what: String, set: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
}

pub(super) fn invalid(what: &BatchPart, reason: impl fmt::Display) -> EmitError {
    EmitError::Invalid {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Builds the batch that makes the kernel's table `rs.table` exactly `rs`. A large
/// table's sets are written on two threads (`emit::parallel`); the bytes are the same.
pub fn build(rs: &Ruleset, opts: &BatchOptions) -> Result<Batch, EmitError> {
    build_cut(rs, opts, super::parallel::cut(&rs.table.sets))
}

/// [`build`] with the sets from `cut` on written on another thread (`None`: all here).
pub(super) fn build_cut(
    rs: &Ruleset,
    opts: &BatchOptions,
    cut: Option<usize>,
) -> Result<Batch, EmitError> {
    let sets = &rs.table.sets;
    let (first, rest) = sets.split_at(cut.unwrap_or(sets.len()));
    // What follows this thread's sets goes into the other thread's buffer, if any.
    let after = rules_size(rs) + estimate_sets(rest);
    let here = 4096 + estimate_sets(first) + if cut.is_none() { after } else { 0 };
    let mut b = Builder::new(opts.first_seq, here);
    let t = &rs.table.name;
    b.msg(BatchPart::BatchBegin, vec![], |w, s| {
        w.batch_begin(s, opts.genid)
    });
    b.msg(BatchPart::EnsureTable(t.clone()), vec![], |w, s| {
        w.table(s, t, true)
    });
    b.msg(BatchPart::DeleteTable(t.clone()), vec![], |w, s| {
        w.table(s, t, false)
    });
    b.msg(BatchPart::AddTable(t.clone()), vec![], |w, s| {
        w.table(s, t, true)
    });
    let mut set_ids = HashMap::new();
    for (i, set) in sets.iter().enumerate() {
        set_ids.insert(set.name.as_str(), i as u32 + 1);
    }
    super::parallel::write_sets(&mut b, t, sets, cut, after)?;
    for chain in &rs.table.chains {
        let base = chain.base.map(base_spec);
        b.msg(BatchPart::Chain(chain.name.clone()), vec![], |w, s| {
            w.chain(s, t, &chain.name, base)
        });
    }
    let mut exprs = Vec::new();
    for chain in &rs.table.chains {
        let target = RuleTarget::new(t, &chain.name)
            .map_err(|e| invalid(&BatchPart::Chain(chain.name.clone()), e))?;
        for (i, rule) in chain.rules.iter().enumerate() {
            let what = BatchPart::Rule {
                chain: chain.name.clone(),
                index: i + 1,
            };
            // One expression buffer for all rules: no allocation per rule.
            lower_rule(rule, &set_ids, &mut exprs).map_err(|e| e.at(&what))?;
            let seq = b.next_seq;
            target
                .write(&mut b.w, seq, &exprs, rule.comment.as_deref())
                .map_err(|e| invalid(&what, e))?;
            b.record(what, rule.origin.clone());
        }
    }
    b.msg(BatchPart::BatchEnd, vec![], |w, s| w.batch_end(s));
    Ok(b.finish())
}

/// Rough size of `sets`' messages, to allocate a buffer once.
pub(super) fn estimate_sets(sets: &[Set]) -> usize {
    let elems: usize = sets.iter().map(|s| s.elements.len() * 2).sum();
    elems * (8 + 16 + 8)
}

/// Rough size of the chains' and rules' messages.
fn rules_size(rs: &Ruleset) -> usize {
    let rules: usize = rs.table.chains.iter().map(|c| c.rules.len()).sum();
    4096 + rules * 320
}

pub(super) struct Builder {
    pub(super) w: Writer,
    pub(super) next_seq: u32,
    messages: Vec<Message>,
    /// The messages written before a part spliced in ([`Builder::splice`]); `w` then
    /// holds the part and what follows it.
    head: Option<Vec<u8>>,
}

impl Builder {
    pub(super) fn new(first_seq: u32, capacity: usize) -> Builder {
        Builder {
            w: Writer::with_capacity(capacity),
            next_seq: first_seq,
            messages: Vec::new(),
            head: None,
        }
    }

    /// Continues the batch with `part`, a builder of the messages that come next, made
    /// apart (on another thread) with sequence numbers from 0: they are renumbered to
    /// follow this builder's, and what is written next follows them in `part`'s buffer.
    /// At most one part is spliced in.
    pub(super) fn splice(&mut self, mut part: Builder) {
        debug_assert!(self.head.is_none(), "one part only");
        let mut off = 0;
        for m in &mut part.messages {
            m.seq = m.seq.wrapping_add(self.next_seq);
            let at = off..off + 12;
            if let Some(h) = part.w.buf.get_mut(at) {
                h[8..12].copy_from_slice(&m.seq.to_ne_bytes());
                off += u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
            }
        }
        self.next_seq = self.next_seq.wrapping_add(part.messages.len() as u32);
        self.messages.append(&mut part.messages);
        self.head = Some(std::mem::replace(&mut self.w, part.w).buf);
    }

    pub(super) fn record(&mut self, what: BatchPart, origin: Vec<Span>) {
        self.messages.push(Message {
            seq: self.next_seq,
            offset: 0,
            len: 0,
            what,
            origin,
        });
        self.next_seq = self.next_seq.wrapping_add(1);
    }

    pub(super) fn msg(
        &mut self,
        what: BatchPart,
        origin: Vec<Span>,
        f: impl FnOnce(&mut Writer, u32),
    ) {
        f(&mut self.w, self.next_seq);
        self.record(what, origin);
    }

    pub(super) fn set(&mut self, table: &str, set: &Set, id: u32) -> Result<(), EmitError> {
        let elements = &set.elements;
        let what = BatchPart::Set(set.name.clone());
        let spec = SetSpec {
            name: &set.name,
            id,
            interval: set.interval,
            timeout_ms: set.timeout_ms,
            key_type: DataType::from(set.key),
            key_len: set.key.len() as u32,
            comment: set.comment.as_deref(),
        };
        self.msg(what.clone(), set.origin.clone(), |w, s| {
            w.set(s, table, &spec)
        });
        check_elements(set, elements).map_err(|r| invalid(&what, r))?;
        let mut seq = self.next_seq;
        let mut stream = ElemStream::new(&mut self.w, table, &spec, || {
            seq = seq.wrapping_add(1);
            seq.wrapping_sub(1)
        });
        let pushed = match each_v4_element(set, elements, |key, end| stream.push4(key, end)) {
            Some(pushed) => pushed,
            None => each_element(set, elements, |e| stream.push(&e)),
        };
        pushed.map_err(|e| invalid(&what, e))?;
        let n = stream.finish().map_err(|e| invalid(&what, e))?;
        for chunk in 1..=n {
            let what = BatchPart::Elements {
                set: set.name.clone(),
                chunk,
            };
            self.record(what, set.origin.clone());
        }
        Ok(())
    }

    /// Fills in each message's offset and length by walking the buffers.
    pub(super) fn finish(self) -> Batch {
        let (bytes, tail) = match self.head {
            Some(head) => (head, self.w.buf),
            None => (self.w.buf, Vec::new()),
        };
        let mut batch = Batch {
            bytes,
            tail,
            messages: self.messages,
        };
        let mut off = 0;
        for i in 0..batch.messages.len() {
            let len = batch
                .at(off, 4)
                .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let m = &mut batch.messages[i];
            (m.offset, m.len) = (off, len);
            off += len;
        }
        batch
    }
}

pub(super) fn base_spec(b: BaseChain) -> BaseSpec {
    BaseSpec {
        hook: b.hook.into(),
        priority: b.priority,
        policy: b.policy.into(),
    }
}

/// A lowering failure before the rule it belongs to is known.
#[derive(Debug)]
pub enum RuleError {
    UnknownSet(String),
    Invalid(String),
}

impl RuleError {
    pub(super) fn at(self, what: &BatchPart) -> EmitError {
        match self {
            RuleError::UnknownSet(set) => EmitError::UnknownSet {
                what: what.to_string(),
                set,
            },
            RuleError::Invalid(r) => invalid(what, r),
        }
    }
}

impl From<WireError> for RuleError {
    fn from(e: WireError) -> RuleError {
        RuleError::Invalid(e.0)
    }
}

/// The expression sequence nft generates for `rule`, dependencies included.
pub fn rule_exprs(rule: &Rule, set_ids: &HashMap<&str, u32>) -> Result<Vec<Expr>, RuleError> {
    let mut out = Vec::new();
    lower_rule(rule, set_ids, &mut out)?;
    Ok(out)
}

/// `rule_exprs` into a caller's buffer (cleared first), reused across rules.
pub(super) fn lower_rule(
    rule: &Rule,
    set_ids: &HashMap<&str, u32>,
    out: &mut Vec<Expr>,
) -> Result<(), RuleError> {
    out.clear();
    let mut l = Lowering {
        out,
        nf: None,
        l4: None,
        set_ids,
    };
    for m in &rule.matches {
        l.matches(m)?;
    }
    for s in &rule.stmts {
        if let Stmt::SourceLimit {
            set,
            family,
            rate,
            unit,
            burst,
        } = s
        {
            l.source_limit(set, *family, (*rate, unit.seconds(), *burst))?;
            continue;
        }
        l.out.push(match s {
            Stmt::Counter => Expr::counter(),
            Stmt::Limit { rate, unit, burst } => Expr::limit(*rate, unit.seconds(), *burst),
            Stmt::Log {
                prefix,
                group,
                level,
            } => Expr::log(prefix.as_deref(), *group, log_level(*level)),
            Stmt::Foreign(text) => {
                return Err(RuleError::Invalid(format!(
                    "decoded foreign statement `{text}` cannot be emitted"
                )));
            }
            Stmt::SourceLimit { .. } => continue,
        });
    }
    match rule.verdict {
        None => {}
        Some(Verdict::Accept) => l.out.push(Expr::verdict(VerdictCode::Accept)),
        Some(Verdict::Drop) => l.out.push(Expr::verdict(VerdictCode::Drop)),
        Some(Verdict::Reject(with)) => {
            if with == RejectWith::TcpReset {
                l.need_l4(L4Proto::Tcp);
            }
            let (ty, code) = reject_parts(with);
            l.out.push(Expr::reject(ty, code));
        }
    }
    Ok(())
}

/// Lowers matches while tracking which protocol dependencies already hold, so
/// `meta nfproto`/`meta l4proto` checks appear exactly where nft puts them.
struct Lowering<'a> {
    out: &'a mut Vec<Expr>,
    nf: Option<NfProto>,
    l4: Option<L4Proto>,
    set_ids: &'a HashMap<&'a str, u32>,
}

impl Lowering<'_> {
    fn need_nf(&mut self, p: NfProto) {
        if self.nf != Some(p) {
            self.nfproto(p);
        }
    }

    fn nfproto(&mut self, p: NfProto) {
        self.out.push(Expr::meta(MetaKey::NfProto));
        self.out
            .push(Expr::cmp(CmpOp::Eq, &[Family::from(p).raw() as u8]));
        self.nf = Some(p);
    }

    /// ICMP and ICMPv6 belong to one IP version: in an inet table nft checks
    /// the family first unless the protocol is already known.
    fn need_l4(&mut self, p: L4Proto) {
        if self.l4 == Some(p) {
            return;
        }
        match p {
            L4Proto::Icmp => self.need_nf(NfProto::Ipv4),
            L4Proto::Icmpv6 => self.need_nf(NfProto::Ipv6),
            _ => {}
        }
        self.l4proto(p);
    }

    fn l4proto(&mut self, p: L4Proto) {
        self.out.push(Expr::meta(MetaKey::L4Proto));
        self.out.push(Expr::cmp(CmpOp::Eq, &[p.number()]));
        self.l4 = Some(p);
    }

    /// The source address into register 1, then `update @set { ... limit ... }`.
    fn source_limit(
        &mut self,
        set: &str,
        family: NfProto,
        (rate, unit, burst): (u64, u64, u32),
    ) -> Result<(), RuleError> {
        let (off, len) = match family {
            NfProto::Ipv4 => (12, 4),
            NfProto::Ipv6 => (8, 16),
        };
        self.need_nf(family);
        self.out.push(Expr::payload(PayloadBase::Network, off, len));
        let id = *self
            .set_ids
            .get(set)
            .ok_or_else(|| RuleError::UnknownSet(set.to_string()))?;
        self.out
            .push(Expr::source_limit(set, id, rate, unit, burst));
        Ok(())
    }

    fn lookup(&mut self, set: &str) -> Result<(), RuleError> {
        let id = *self
            .set_ids
            .get(set)
            .ok_or_else(|| RuleError::UnknownSet(set.to_string()))?;
        self.out.push(Expr::lookup(set, id));
        Ok(())
    }

    fn matches(&mut self, m: &Match) -> Result<(), RuleError> {
        match m {
            Match::IifName(n) => self.ifname(MetaKey::IifName, n)?,
            Match::OifName(n) => self.ifname(MetaKey::OifName, n)?,
            Match::CtState(s) => {
                self.out.push(Expr::ct_state());
                self.out.push(Expr::bitwise_mask(&s.0.to_ne_bytes()));
                self.out.push(Expr::cmp(CmpOp::Neq, &0u32.to_ne_bytes()));
            }
            Match::L4Proto(p) => self.l4proto(*p),
            Match::NfProto(p) => self.nfproto(*p),
            Match::Saddr(a) => self.addr(a, true)?,
            Match::Daddr(a) => self.addr(a, false)?,
            Match::Dport(p, pm) => {
                self.need_l4(*p);
                self.out.push(Expr::payload(PayloadBase::Transport, 2, 2));
                match pm {
                    PortMatch::Port(v) => self.out.push(Expr::cmp(CmpOp::Eq, &v.to_be_bytes())),
                    PortMatch::Range(lo, hi) => {
                        self.out.push(Expr::cmp(CmpOp::Gte, &lo.to_be_bytes()));
                        self.out.push(Expr::cmp(CmpOp::Lte, &hi.to_be_bytes()));
                    }
                    PortMatch::Set(s) => self.lookup(s)?,
                }
            }
            Match::IcmpType(t) => self.icmp_type(L4Proto::Icmp, t)?,
            Match::Icmpv6Type(t) => self.icmp_type(L4Proto::Icmpv6, t)?,
        }
        Ok(())
    }

    fn icmp_type(&mut self, p: L4Proto, t: &TypeMatch) -> Result<(), RuleError> {
        self.need_l4(p);
        self.out.push(Expr::payload(PayloadBase::Transport, 0, 1));
        match t {
            TypeMatch::Type(v) => self.out.push(Expr::cmp(CmpOp::Eq, &[*v])),
            TypeMatch::Set(s) => self.lookup(s)?,
        }
        Ok(())
    }

    /// Exact names compare all 16 bytes (NUL padded); `name*` compares the prefix.
    fn ifname(&mut self, key: MetaKey, n: &IfName) -> Result<(), RuleError> {
        const IFNAMSIZ: usize = 16;
        if n.name.len() >= IFNAMSIZ || n.name.contains('\0') {
            return Err(RuleError::Invalid(format!(
                "interface name {:?} is not valid",
                n.name
            )));
        }
        let mut data = n.name.as_bytes().to_vec();
        if !n.wildcard {
            data.resize(IFNAMSIZ, 0);
        } else if data.is_empty() {
            return Err(RuleError::Invalid(
                "interface wildcard `*` matches everything".into(),
            ));
        }
        self.out.push(Expr::meta(key));
        self.out.push(Expr::cmp(CmpOp::Eq, &data));
        Ok(())
    }

    /// An inclusive address range, as nft writes one: the whole address compared twice.
    fn addr_range(
        &mut self,
        nf: NfProto,
        source_off: u32,
        lo: &[u8],
        hi: &[u8],
        source: bool,
    ) -> Result<(), RuleError> {
        self.need_nf(nf);
        let len = lo.len() as u32;
        let off = if source { source_off } else { source_off + len };
        self.out.push(Expr::payload(PayloadBase::Network, off, len));
        self.out.push(Expr::cmp(CmpOp::Gte, lo));
        self.out.push(Expr::cmp(CmpOp::Lte, hi));
        Ok(())
    }

    fn addr(&mut self, a: &AddrMatch, source: bool) -> Result<(), RuleError> {
        let (nf, off, bytes, plen): (_, u32, Vec<u8>, u8) = match a {
            AddrMatch::V4(n) => (
                NfProto::Ipv4,
                12,
                n.network().octets().to_vec(),
                n.prefix_len(),
            ),
            AddrMatch::V6(n) => (
                NfProto::Ipv6,
                8,
                n.network().octets().to_vec(),
                n.prefix_len(),
            ),
            AddrMatch::Set4(s) | AddrMatch::Set6(s) => {
                let (nf, off, len) = match a {
                    AddrMatch::Set4(_) => (NfProto::Ipv4, 12, 4),
                    _ => (NfProto::Ipv6, 8, 16),
                };
                self.need_nf(nf);
                let off = if source { off } else { off + len };
                self.out.push(Expr::payload(PayloadBase::Network, off, len));
                return self.lookup(s);
            }
            AddrMatch::Range4(lo, hi) => {
                return self.addr_range(NfProto::Ipv4, 12, &lo.octets(), &hi.octets(), source);
            }
            AddrMatch::Range6(lo, hi) => {
                return self.addr_range(NfProto::Ipv6, 8, &lo.octets(), &hi.octets(), source);
            }
        };
        self.need_nf(nf);
        let full = bytes.len() as u32;
        let off = if source { off } else { off + full };
        let plen = plen as u32;
        if plen == full * 8 || (plen % 8 == 0 && plen > 0) {
            // Whole bytes: nft loads just the prefix bytes and compares them.
            let n = plen / 8;
            self.out.push(Expr::payload(PayloadBase::Network, off, n));
            self.out.push(Expr::cmp(CmpOp::Eq, &bytes[..n as usize]));
        } else {
            let mask: Vec<u8> = (0..full)
                .map(|i| {
                    let bits = plen.saturating_sub(i * 8).min(8);
                    (0xffu16 << (8 - bits)) as u8
                })
                .collect();
            self.out
                .push(Expr::payload(PayloadBase::Network, off, full));
            self.out.push(Expr::bitwise_mask(&mask));
            self.out.push(Expr::cmp(CmpOp::Eq, &bytes));
        }
        Ok(())
    }
}
