//! Lowers a checked policy (`model::Policy`) to the ruleset IR (`ir::Ruleset`).
//!
//! Shape of the result (see ARCHITECTURE.md): one `inet` table, an `input` base chain
//! (policy drop) and, only when the policy has a `forward { }` block, a `forward` base
//! chain; likewise an `output` base chain for `output { }` (policy accept unless the block
//! writes a default). A rule's `log` is a rule of its own right before its verdict rule. Consecutive rules with the same verdict are grouped by what they match besides
//! ports (sources, interfaces, state), and each group's ports go into one interval set,
//! so the number of rules grows with the number of distinct groups, not of services. A
//! rule with a `limit` groups with no other: its bucket (or per-source set) is its own.
//! Interval sets larger than [`MAX_SET_ELEMENTS`] are split into consecutive sets (one rule
//! each, same verdict), see `sets.rs` for why.

mod key;
mod parts;
mod sets;
mod source_limit;

use parts::{
    add_traffic, chain_end, comment, group_stem, iface_variants, implicit, l4, limit_stmt,
    log_stmts, sanitize,
};

pub use sets::MAX_SET_ELEMENTS;

use crate::ir::{
    self, AddrMatch, BaseChain, Chain, ChainPolicy, CtState, Hook, IfName, Interval, L4Proto,
    Match, Packed, PortMatch, RejectWith, Rule, Ruleset, Set, SetKey, Stmt, SysctlSetting, Table,
    TypeMatch,
};
use crate::model::{self, Addrs, DefaultAction, IpFamily, Policy, Proto};
use crate::source::Span;
use ipnet::{Ipv4Net, Ipv6Net};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

// The longest rule comment written is nft's limit.
use crate::nft::vocab::MAX_COMMENT;

/// Layout choices of the compiler; [`Options::default`] is what `hostwall` uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Interval sets (addresses, ports) with more elements than this are split into several
    /// sets of at most this many, each matched by its own rule.
    pub max_set_elements: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_set_elements: MAX_SET_ELEMENTS,
        }
    }
}

/// Compiles a checked policy. Pure and deterministic: the same policy gives the same IR.
pub fn compile(policy: &Policy) -> Ruleset {
    compile_with(policy, &Options::default())
}

/// [`compile`] with explicit layout options (benchmarks measure other set sizes with it).
pub fn compile_with(policy: &Policy, options: &Options) -> Ruleset {
    let mut cx = Lowering {
        max_set_elements: options.max_set_elements.max(1),
        ..Lowering::default()
    };
    let mut chains = vec![cx.chain(
        "input",
        Hook::Input,
        policy,
        &policy.input,
        Some(policy.default),
    )];
    if let Some(forward) = &policy.forward {
        chains.push(cx.chain(
            "forward",
            Hook::Forward,
            policy,
            forward,
            Some(policy.forward_default),
        ));
    }
    if let Some(output) = &policy.output {
        chains.push(cx.chain(
            "output",
            Hook::Output,
            policy,
            output,
            policy.output_default,
        ));
    }
    let mut sysctls = Vec::new();
    if let Some((on, span)) = policy.forwarding.ipv4 {
        sysctls.push(SysctlSetting {
            key: ir::Sysctl::Ipv4Forward,
            value: on,
            origin: Some(span),
        });
    }
    if let Some((on, span)) = policy.forwarding.ipv6 {
        sysctls.push(SysctlSetting {
            key: ir::Sysctl::Ipv6Forward,
            value: on,
            origin: Some(span),
        });
    }
    Ruleset {
        table: Table {
            family: ir::Family::Inet,
            name: policy.settings.table.clone(),
            sets: cx.sets,
            chains,
        },
        sysctls,
    }
}

/// The compiler's state while lowering one policy: the sets made so far, their names,
/// and which of them rules may share.
#[derive(Default)]
struct Lowering {
    sets: Vec<Set>,
    names: HashSet<String>,
    /// Next numeric suffix to try per set name asked for (`NAME_2`, `NAME_3`, ...).
    suffixes: HashMap<String, usize>,
    /// Address sets made so far, by (base name, key): their chunk names, for sharing.
    shared: HashMap<(String, SetKey), Vec<sets::Shared>>,
    /// Position in `sets` of each set by name.
    set_at: HashMap<String, usize>,
    max_set_elements: usize,
    /// The set of always-accepted ICMPv6 types, once made (input and output share it).
    nd_set: Option<String>,
}

/// What a group of rules shares besides the traffic it allows.
#[derive(Clone, PartialEq, Eq, Hash)]
struct GroupKey<'a> {
    /// Borrowed from the rule: a million-address list is never copied into a key.
    sources: Option<(Option<&'a str>, key::NetsKey<'a>)>,
    destinations: Option<(Option<&'a str>, key::NetsKey<'a>)>,
    iif: &'a [model::IfName],
    oif: &'a [model::IfName],
    established: bool,
    counter: bool,
    /// The rule's log statements (`log ...`), written before its verdict rules.
    log: Option<Vec<Stmt>>,
    /// The rule's rate limit (`limit ...`), before its counter and verdict.
    limit: Option<Stmt>,
    /// The rule's `limit ... per source` (then `limit` is `None`).
    source_limit: Option<model::Rate>,
    /// A limited rule's place in its run: its bucket (or per-source buckets) is its own,
    /// so it never groups with another rule.
    limited: Option<usize>,
}

/// What a group's rules for one address variant share: interface bases, address matches
/// (after any family match), statements before the verdict, and the verdict.
struct Shape<'b> {
    bases: &'b [Vec<Match>],
    addrs: Vec<Match>,
    stmts: Vec<Stmt>,
    verdict: ir::Verdict,
}

/// One layer-4 match list of a group, with its rule comment and origin.
type L4Variant = (Vec<Match>, Option<String>, Vec<Span>);

/// One kind of traffic within a group: all ports of one protocol, ICMP of one family, or anything.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AtomKind {
    Any,
    Ports(Proto),
    Icmp(IpFamily),
}

/// The merged traffic of one kind, with what it came from (for comments and error mapping).
struct Atom {
    kind: AtomKind,
    ports: Vec<Interval>,
    /// ICMP types; `None` means every type.
    types: Option<Vec<u8>>,
    labels: Vec<String>,
    origin: Vec<Span>,
}

/// The traffic of one group, merged across its rules, in order of first appearance.
#[derive(Default)]
struct GroupTraffic {
    atoms: Vec<Atom>,
    origin: Vec<Span>,
}

impl Lowering {
    /// One base chain; `default: None` (output only) accepts what no rule decides.
    fn chain(
        &mut self,
        name: &str,
        hook: Hook,
        policy: &Policy,
        rules: &[model::Rule],
        default: Option<DefaultAction>,
    ) -> Chain {
        let mut out = self.head_rules(hook);
        // Group maximal runs of same-verdict rules: reordering within a run cannot
        // change any packet's fate, reordering across runs could.
        let mut start = 0;
        while start < rules.len() {
            let verdict = rules[start].verdict;
            let end = rules[start..]
                .iter()
                .position(|r| r.verdict != verdict)
                .map_or(rules.len(), |p| start + p);
            self.run(name, &rules[start..end], &mut out);
            start = end;
        }
        if let Some(default) = default {
            chain_end(policy, default, &mut out);
        }
        Chain {
            name: name.into(),
            base: Some(BaseChain {
                hook,
                priority: policy.settings.priority,
                policy: match default {
                    Some(_) => ChainPolicy::Drop,
                    None => ChainPolicy::Accept,
                },
            }),
            rules: out,
        }
    }

    /// The rules every chain starts with: on input and output, loopback and neighbour
    /// discovery accepted; then established/related accepted; invalid dropped except on
    /// output (what the host sends is judged by the output rules alone).
    fn head_rules(&mut self, hook: Hook) -> Vec<Rule> {
        let mut out = Vec::new();
        if matches!(hook, Hook::Input | Hook::Output) {
            let lo = IfName {
                name: "lo".into(),
                wildcard: false,
            };
            let lo = match hook {
                Hook::Output => Match::OifName(lo),
                _ => Match::IifName(lo),
            };
            out.push(implicit(vec![lo], ir::Verdict::Accept));
            let nd = self.nd_set();
            out.push(implicit(
                vec![Match::Icmpv6Type(TypeMatch::Set(nd))],
                ir::Verdict::Accept,
            ));
        }
        out.push(implicit(
            vec![Match::CtState(CtState(
                CtState::ESTABLISHED | CtState::RELATED,
            ))],
            ir::Verdict::Accept,
        ));
        if hook != Hook::Output {
            out.push(implicit(
                vec![Match::CtState(CtState(CtState::INVALID))],
                ir::Verdict::Drop,
            ));
        }
        out
    }

    /// The name of the always-accepted ICMPv6 type set, made on first use.
    fn nd_set(&mut self) -> String {
        if let Some(name) = &self.nd_set {
            return name.clone();
        }
        let types = ir::ICMPV6_ALWAYS.iter();
        let elems: Packed = types.map(|t| Interval::single(*t as u128)).collect();
        let name = self.set("icmpv6_nd", SetKey::Icmpv6Type, false, elems, Vec::new());
        self.nd_set = Some(name.clone());
        name
    }

    /// Emits one run of rules sharing a verdict.
    fn run(&mut self, chain: &str, rules: &[model::Rule], out: &mut Vec<Rule>) {
        let mut groups: Vec<(GroupKey, GroupTraffic, &model::Rule)> = Vec::new();
        let mut at: HashMap<GroupKey, usize> = HashMap::new();
        for (n, r) in rules.iter().enumerate() {
            let key = GroupKey {
                sources: (r.sources.as_ref()).map(|a| (a.name.as_deref(), key::NetsKey(&a.nets))),
                destinations: (r.destinations.as_ref())
                    .map(|a| (a.name.as_deref(), key::NetsKey(&a.nets))),
                iif: &r.iif,
                oif: &r.oif,
                established: r.established_only,
                counter: r.counter,
                log: r.log.as_ref().map(log_stmts),
                limit: r.limit.filter(|_| !r.limit_per_source).map(limit_stmt),
                source_limit: r.limit.filter(|_| r.limit_per_source),
                limited: r.limit.map(|_| n),
            };
            let idx = match at.entry(key) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    groups.push((e.key().clone(), GroupTraffic::default(), r));
                    *e.insert(groups.len() - 1)
                }
            };
            add_traffic(&mut groups[idx].1, r);
        }
        for atom in groups.iter_mut().flat_map(|g| g.1.atoms.iter_mut()) {
            ir::normalize_intervals(&mut atom.ports);
        }
        let verdict = match rules[0].verdict {
            model::Verdict::Accept => ir::Verdict::Accept,
            model::Verdict::Drop => ir::Verdict::Drop,
            model::Verdict::Reject => ir::Verdict::Reject(RejectWith::IcmpxAdminProhibited),
        };
        for (key, traffic, first) in groups {
            self.group(chain, first, &key, traffic, verdict, out);
        }
    }

    fn group(
        &mut self,
        chain: &str,
        sample: &model::Rule,
        key: &GroupKey,
        traffic: GroupTraffic,
        verdict: ir::Verdict,
        out: &mut Vec<Rule>,
    ) {
        let bases = iface_bases(key);
        let stem = group_stem(chain, verdict_word(verdict), key);
        let mut stmts: Vec<Stmt> = key.limit.iter().cloned().collect();
        if key.counter {
            stmts.push(Stmt::Counter);
        }
        // Address alternatives: each family present in sources/destinations.
        let saddrs = self.addr_variants(&stem, "src", sample.sources.as_ref(), &traffic.origin);
        let daddrs =
            self.addr_variants(&stem, "dst", sample.destinations.as_ref(), &traffic.origin);
        let mut limit_sets = [None, None];
        for (sfam, smatch) in &saddrs {
            for (dfam, dmatch) in &daddrs {
                let fam = match (sfam, dfam) {
                    (Some(a), Some(b)) if a != b => continue,
                    (Some(a), _) | (_, Some(a)) => Some(*a),
                    _ => None,
                };
                let l4s = self.traffic_matches(&stem, &traffic, fam);
                let variants = self.source_limit_variants(
                    &stem,
                    key.source_limit,
                    &stmts,
                    fam,
                    &mut limit_sets,
                    &traffic.origin,
                );
                for (fam, stmts, proto) in variants {
                    let mut addrs: Vec<Match> = proto.into_iter().collect();
                    addrs.extend(smatch.iter().cloned().map(Match::Saddr));
                    addrs.extend(dmatch.iter().cloned().map(Match::Daddr));
                    let shape = Shape {
                        bases: &bases,
                        addrs,
                        stmts,
                        verdict,
                    };
                    self.family_rules(key, &l4s, fam, shape, out);
                }
            }
        }
    }

    /// A group's rules for one address variant: per interface base and layer-4 match, its
    /// log rule (when written) and its verdict rules.
    fn family_rules(
        &mut self,
        key: &GroupKey,
        l4s: &[L4Variant],
        fam: Option<IpFamily>,
        shape: Shape,
        out: &mut Vec<Rule>,
    ) {
        let fits = |l4: &[Match]| match fam {
            Some(IpFamily::V4) => !l4.iter().any(|m| matches!(m, Match::Icmpv6Type(_))),
            Some(IpFamily::V6) => !l4.iter().any(|m| matches!(m, Match::IcmpType(_))),
            None => true,
        };
        let l4s = l4s.iter().filter(|l| fits(&l.0));
        for (base, (l4, comment, origin)) in
            (shape.bases.iter()).flat_map(|b| l4s.clone().map(move |l| (b, l)))
        {
            let mut matches = base.clone();
            matches.extend(shape.addrs.iter().cloned());
            matches.extend(l4.iter().cloned());
            let template = Rule {
                matches: Vec::new(),
                stmts: shape.stmts.clone(),
                verdict: None,
                comment: comment.clone(),
                origin: origin.clone(),
            };
            if let Some(log) = &key.log {
                // Its own rule: a rate limit stops only the logging, never the verdict.
                out.push(Rule {
                    matches: matches.clone(),
                    stmts: log.clone(),
                    ..template.clone()
                });
            }
            push_verdict_rules(out, template, matches, shape.verdict, l4.is_empty());
        }
    }

    /// Per address family: the match for `addrs` (inline for one net, a set otherwise).
    /// `None` addrs give one unrestricted variant.
    fn addr_variants(
        &mut self,
        stem: &str,
        dir: &str,
        addrs: Option<&Addrs>,
        origin: &[Span],
    ) -> Vec<(Option<IpFamily>, Vec<AddrMatch>)> {
        let Some(addrs) = addrs else {
            return vec![(None, Vec::new())];
        };
        let base = match &addrs.name {
            Some(n) => format!("{dir}_{}", sanitize(n)),
            None => format!("{stem}_{dir}"),
        };
        let mut out = Vec::new();
        for fam in [IpFamily::V4, IpFamily::V6] {
            let ranges = match fam {
                IpFamily::V4 => match addrs.nets.v4.as_one() {
                    Some(one) => sets::Ranges::V4(Cow::Borrowed(one)),
                    None => sets::Ranges::V4Parts(sets::V4Parts::new(addrs.nets.v4.parts())),
                },
                IpFamily::V6 => sets::Ranges::Wide(
                    (addrs.nets.v6.iter())
                        .map(|&(lo, hi)| Interval { lo, hi })
                        .collect(),
                ),
            };
            let inline = match ranges.len() {
                1 => ranges.get(0).and_then(|one| inline_match(fam, one)),
                _ => None,
            };
            let matches = match (ranges.len(), inline) {
                (0, _) => Vec::new(),
                (_, Some(one)) => vec![vec![one]],
                _ => {
                    let (suffix, key) = match fam {
                        IpFamily::V4 => ("v4", SetKey::Ipv4Addr),
                        IpFamily::V6 => ("v6", SetKey::Ipv6Addr),
                    };
                    let names = self.shared_sets(&format!("{base}_{suffix}"), key, ranges, origin);
                    // A list cut into several sets: each lookup behind its set's range.
                    let guarded = names.len() > 1;
                    (names.into_iter())
                        .map(|n| {
                            let guard = guarded.then(|| self.guard(fam, &n)).flatten();
                            guard.into_iter().chain([set_match(fam, n)]).collect()
                        })
                        .collect()
                }
            };
            out.extend(matches.into_iter().map(|m| (Some(fam), m)));
        }
        out
    }

    /// The layer-4 match lists of a group, one per rule to emit, with each one's comment
    /// and origin; skips ICMP of the other family when addresses fix the family.
    fn traffic_matches(
        &mut self,
        stem: &str,
        t: &GroupTraffic,
        fam: Option<IpFamily>,
    ) -> Vec<L4Variant> {
        if let Some(any) = t.atoms.iter().find(|a| a.kind == AtomKind::Any) {
            // Anything subsumes the group's other traffic (same verdict, same key).
            let labels: Vec<String> = t.atoms.iter().flat_map(|a| a.labels.clone()).collect();
            return vec![(Vec::new(), comment(&labels), any.origin.clone())];
        }
        let mut out = Vec::new();
        for atom in &t.atoms {
            let m = match atom.kind {
                AtomKind::Any => continue,
                AtomKind::Ports(proto) => {
                    let r = &atom.ports;
                    let pm = if r.len() == 1 && r[0].lo == r[0].hi {
                        PortMatch::Port(r[0].lo as u16)
                    } else if r.len() == 1 {
                        PortMatch::Range(r[0].lo as u16, r[0].hi as u16)
                    } else {
                        // One rule per chunk of a very large port set (see `sets.rs`).
                        let name = format!("{stem}_{}", proto.name());
                        for n in self.port_sets(&name, r, &atom.origin) {
                            let m = vec![Match::Dport(l4(proto), PortMatch::Set(n))];
                            out.push((m, comment(&atom.labels), atom.origin.clone()));
                        }
                        continue;
                    };
                    vec![Match::Dport(l4(proto), pm)]
                }
                AtomKind::Icmp(f) if fam.is_some_and(|x| x != f) => continue,
                AtomKind::Icmp(f) => {
                    let key = match f {
                        IpFamily::V4 => SetKey::IcmpType,
                        IpFamily::V6 => SetKey::Icmpv6Type,
                    };
                    self.icmp(stem, key, &atom.types, &atom.origin)
                }
            };
            out.push((m, comment(&atom.labels), atom.origin.clone()));
        }
        out
    }

    fn icmp(
        &mut self,
        stem: &str,
        key: SetKey,
        types: &Option<Vec<u8>>,
        origin: &[Span],
    ) -> Vec<Match> {
        let v6 = key == SetKey::Icmpv6Type;
        let wrap = |m: TypeMatch| {
            if v6 {
                Match::Icmpv6Type(m)
            } else {
                Match::IcmpType(m)
            }
        };
        match types {
            None => vec![Match::L4Proto(if v6 {
                L4Proto::Icmpv6
            } else {
                L4Proto::Icmp
            })],
            Some(t) if t.len() == 1 => vec![wrap(TypeMatch::Type(t[0]))],
            Some(t) => {
                let name = format!("{stem}_{}", if v6 { "icmpv6" } else { "icmp" });
                let elems: Packed = t.iter().map(|x| Interval::single(*x as u128)).collect();
                vec![wrap(TypeMatch::Set(self.set(
                    &name,
                    key,
                    false,
                    elems,
                    origin.to_vec(),
                )))]
            }
        }
    }
}

/// One match list per input/output interface named (nft matches one name per rule),
/// each with the established-only state match when the group has it.
fn iface_bases(key: &GroupKey) -> Vec<Vec<Match>> {
    let mut bases = Vec::new();
    for i in iface_variants(key.iif, true) {
        for o in iface_variants(key.oif, false) {
            let mut base: Vec<Match> = i.iter().chain(o.iter()).cloned().collect();
            if key.established {
                base.push(Match::CtState(CtState(
                    CtState::ESTABLISHED | CtState::RELATED,
                )));
            }
            bases.push(base);
        }
    }
    bases
}

/// The policy word for a verdict, used in set names.
fn verdict_word(verdict: ir::Verdict) -> &'static str {
    match verdict {
        ir::Verdict::Accept => "allow",
        ir::Verdict::Drop => "drop",
        ir::Verdict::Reject(_) => "reject",
    }
}

/// Pushes the rule `matches` -> `verdict` (statements, comment and origin from
/// `template`). A reject of TCP ports answers with a reset; a reject of all traffic
/// (`all_traffic`) gets a TCP-reset rule first, like the default.
fn push_verdict_rules(
    out: &mut Vec<Rule>,
    template: Rule,
    matches: Vec<Match>,
    verdict: ir::Verdict,
    all_traffic: bool,
) {
    let verdict = match (verdict, matches.last()) {
        (ir::Verdict::Reject(_), Some(Match::Dport(L4Proto::Tcp, _))) => {
            ir::Verdict::Reject(RejectWith::TcpReset)
        }
        (v, _) => v,
    };
    if matches!(verdict, ir::Verdict::Reject(_)) && all_traffic {
        let mut tcp = matches.clone();
        tcp.push(Match::L4Proto(L4Proto::Tcp));
        out.push(Rule {
            matches: tcp,
            verdict: Some(ir::Verdict::Reject(RejectWith::TcpReset)),
            ..template.clone()
        });
    }
    out.push(Rule {
        matches,
        verdict: Some(verdict),
        ..template
    });
}

/// The inline match of one entry when it is a single prefix; a range that is not one
/// goes into a set (an interval element) instead.
fn inline_match(fam: IpFamily, iv: Interval) -> Option<AddrMatch> {
    let bits = match fam {
        IpFamily::V4 => 32,
        IpFamily::V6 => 128,
    };
    let [(net, len)] = ir::range_to_prefixes(iv.lo, iv.hi, bits)[..] else {
        return None;
    };
    Some(match fam {
        IpFamily::V4 => AddrMatch::V4(Ipv4Net::new(Ipv4Addr::from(net as u32), len).ok()?),
        IpFamily::V6 => AddrMatch::V6(Ipv6Net::new(Ipv6Addr::from(net), len).ok()?),
    })
}

fn set_match(fam: IpFamily, name: String) -> AddrMatch {
    match fam {
        IpFamily::V4 => AddrMatch::Set4(name),
        IpFamily::V6 => AddrMatch::Set6(name),
    }
}
