//! Can another table's base chain drop the host's traffic? Judged from its rules and
//! every chain they jump or go to, never from its policy alone: a drop verdict or a
//! reject is "yes"; anything hostwall does not model (queue, synproxy, a verdict map,
//! nat, an expression it does not know) is "unknown"; only chains whose every
//! expression is known not to drop (matches, counters, logs, accept, jumps to such
//! chains) with policy accept are "no".

use super::expr_read::E;
use super::state::{CanDrop, Judgement};
use crate::nft::expr_attr;
use crate::nft::read::{RawChain, RawExpr, RawRule};
use crate::nft::vocab::{ObjectType, Register, VerdictCode};
use std::collections::{HashMap, HashSet};

/// Expressions that only load, compare, count, log, rate-match or set metadata:
/// none of them can end a packet's path.
const HARMLESS: &[&str] = &[
    "bitwise",
    "byteorder",
    "cmp",
    "connlimit",
    "counter",
    "ct",
    "dup",
    "dynset",
    "exthdr",
    "fib",
    "hash",
    "last",
    "limit",
    "log",
    "meta",
    "notrack",
    "numgen",
    "osf",
    "quota",
    "range",
    "rt",
    "socket",
    "tunnel",
    "xfrm",
];

/// Object types an `objref` may name without any effect on the verdict.
pub const HARMLESS_OBJECTS: &[ObjectType] = &[
    ObjectType::Counter,
    ObjectType::Quota,
    ObjectType::CtHelper,
    ObjectType::Limit,
    ObjectType::Connlimit,
    ObjectType::CtTimeout,
    ObjectType::Secmark,
    ObjectType::CtExpect,
];

/// What one expression does to the verdict.
enum Effect {
    None,
    Drops(&'static str),
    Unknown(String),
    Jumps(String),
}

fn effect(x: &RawExpr) -> Effect {
    let e = E(x);
    match x.name.as_str() {
        n if HARMLESS.contains(&n) => Effect::None,
        "immediate" => immediate(&e),
        "reject" => Effect::Drops("reject"),
        "lookup" if e.reg(expr_attr::LOOKUP_DREG, Register::Verdict) => {
            Effect::Unknown("a verdict map".into())
        }
        "lookup" => Effect::None,
        "payload" if e.get(expr_attr::PAYLOAD_SREG).is_some() => {
            Effect::Unknown("a packet header rewrite".into())
        }
        "payload" => Effect::None,
        "objref" => match e.kind(expr_attr::OBJREF_IMM_TYPE) {
            Some(t) if HARMLESS_OBJECTS.contains(&t) => Effect::None,
            _ => Effect::Unknown("a named object reference (objref)".into()),
        },
        "queue" => Effect::Unknown("queue (drops when no program listens)".into()),
        "synproxy" => Effect::Unknown("synproxy (answers and drops SYNs itself)".into()),
        "nat" | "masq" | "redir" | "tproxy" | "fwd" => {
            Effect::Unknown(format!("{} (changes where the packet goes)", x.name))
        }
        "flow_offload" => Effect::Unknown("flow offload (later packets skip the hooks)".into()),
        // iptables-nft: a match only tests; a target as `xt` reads it.
        "match" => Effect::None,
        "target" => match super::xt::action(&e, None) {
            None => Effect::None,
            Some(crate::ir::host::Action::Unknown(_)) if super::xt::rejects(&e) => {
                Effect::Drops("reject")
            }
            Some(crate::ir::host::Action::SourceNat) => Effect::None,
            Some(_) => Effect::Unknown(format!("{} (an xt target)", x.text.trim())),
        },
        other => Effect::Unknown(format!("expression {other}, which hostwall does not model")),
    }
}

fn immediate(e: &E) -> Effect {
    use VerdictCode as V;
    if !e.reg(expr_attr::IMM_DREG, Register::Verdict) {
        return Effect::None; // a data load into a register
    }
    let Some(v) = e.num(expr_attr::IMM_VERDICT) else {
        return Effect::Unknown("an immediate without a verdict".into());
    };
    match VerdictCode::try_from(v as u32) {
        Ok(V::Drop) => Effect::Drops("drop"),
        Ok(V::Accept | V::Continue | V::Break | V::Return) => Effect::None,
        Ok(V::Jump | V::Goto) => match e.string(expr_attr::IMM_CHAIN) {
            Some(c) => Effect::Jumps(c),
            None => Effect::Unknown("a jump without a chain name".into()),
        },
        Ok(V::Stolen) => Effect::Unknown("verdict stolen".into()),
        Err(_) => Effect::Unknown(format!("verdict {}", v as u32 as i32)),
    }
}

/// One chain's own rules: the strongest judgement with its first reason, and the
/// chains it jumps or goes to.
struct Own {
    judgement: Judgement,
    jumps: Vec<String>,
}

fn own(chain: &str, rules: &[&RawRule]) -> Own {
    let mut j = Judgement {
        can_drop: CanDrop::No,
        why: String::new(),
    };
    let mut jumps = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        for x in &r.exprs {
            let (level, why) = match effect(x) {
                Effect::None => continue,
                Effect::Jumps(c) => {
                    jumps.push(c);
                    continue;
                }
                Effect::Drops(w) => (CanDrop::Yes, w.to_string()),
                Effect::Unknown(w) => (CanDrop::Unknown, w),
            };
            raise(&mut j, level, || {
                format!("rule {} of chain {chain}: {why}", i + 1)
            });
        }
    }
    Own {
        judgement: j,
        jumps,
    }
}

/// Yes over Unknown over No; the first reason at the strongest level is kept.
fn raise(j: &mut Judgement, level: CanDrop, why: impl FnOnce() -> String) {
    let rank = |c: CanDrop| match c {
        CanDrop::No => 0,
        CanDrop::Unknown => 1,
        CanDrop::Yes => 2,
    };
    if rank(level) > rank(j.can_drop) {
        *j = Judgement {
            can_drop: level,
            why: why(),
        };
    }
}

/// Judges every base chain of one table (`chains` and `rules` are that table's).
pub fn judge_table(chains: &[&RawChain], rules: &[&RawRule]) -> HashMap<String, Judgement> {
    let mut by_chain: HashMap<&str, Vec<&RawRule>> = HashMap::new();
    for r in rules {
        by_chain.entry(r.chain.as_str()).or_default().push(r);
    }
    let owns: HashMap<&str, Own> = chains
        .iter()
        .map(|c| {
            let rs = by_chain.get(c.name.as_str()).map_or(&[][..], |v| v);
            (c.name.as_str(), own(&c.name, rs))
        })
        .collect();
    let mut out = HashMap::new();
    for c in chains.iter().filter(|c| c.hook.is_some()) {
        let mut j = Judgement {
            can_drop: CanDrop::No,
            why: "policy accept and no rule that can drop".into(),
        };
        if super::hooks::policy(c.policy) == crate::ir::ChainPolicy::Drop {
            raise(&mut j, CanDrop::Yes, || "policy drop".into());
        }
        let mut seen = HashSet::new();
        let mut todo = vec![c.name.as_str()];
        while let Some(name) = todo.pop() {
            if !seen.insert(name) {
                continue;
            }
            let Some(o) = owns.get(name) else {
                raise(&mut j, CanDrop::Unknown, || {
                    format!("jump to chain {name}, which was not read")
                });
                continue;
            };
            if o.judgement.can_drop != CanDrop::No {
                let w = o.judgement.why.clone();
                raise(&mut j, o.judgement.can_drop, || w);
            }
            todo.extend(o.jumps.iter().map(String::as_str));
        }
        out.insert(c.name.clone(), j);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(name: &str, attrs: &[(u32, Vec<u8>)]) -> RawExpr {
        RawExpr {
            name: name.into(),
            attrs: attrs.iter().map(|(k, v)| (*k as u16, v.clone())).collect(),
            text: String::new(),
            nested: Vec::new(),
        }
    }
    fn verdict(v: i32, chain: Option<&str>) -> RawExpr {
        let mut a = vec![
            (expr_attr::IMM_DREG, 0u32.to_ne_bytes().to_vec()),
            (expr_attr::IMM_VERDICT, v.to_ne_bytes().to_vec()),
        ];
        if let Some(c) = chain {
            a.push((expr_attr::IMM_CHAIN, format!("{c}\0").into_bytes()));
        }
        ex("immediate", &a)
    }
    fn chain(name: &str, hook: Option<u32>) -> RawChain {
        RawChain {
            family: 2,
            table: "t".into(),
            name: name.into(),
            hook,
            priority: Some(0),
            policy: hook.map(|_| 1),
            chain_type: None,
            devices: vec![],
        }
    }
    fn rule(chain: &str, exprs: Vec<RawExpr>) -> RawRule {
        RawRule {
            family: 2,
            table: "t".into(),
            chain: chain.into(),
            exprs,
            userdata: None,
        }
    }
    fn judge(base_rules: Vec<RawExpr>, sub_rules: Vec<RawExpr>) -> Judgement {
        let chains = [chain("base", Some(1)), chain("sub", None)];
        let rules = [rule("base", base_rules), rule("sub", sub_rules)];
        let c: Vec<&RawChain> = chains.iter().collect();
        let r: Vec<&RawRule> = rules.iter().collect();
        judge_table(&c, &r).remove("base").expect("judged")
    }

    #[test]
    fn drops_are_found_through_jumps_and_unknowns_stay_unknown() {
        let counter = ex("counter", &[]);
        let j = judge(
            vec![
                counter.clone(),
                verdict(VerdictCode::Jump.raw() as i32, Some("sub")),
            ],
            vec![ex("reject", &[])],
        );
        assert_eq!(
            (j.can_drop, j.why.as_str()),
            (CanDrop::Yes, "rule 1 of chain sub: reject")
        );
        let j = judge(vec![ex("synproxy", &[])], vec![]);
        assert_eq!(j.can_drop, CanDrop::Unknown, "synproxy is never 'accepts'");
        let j = judge(vec![ex("frobnicate", &[])], vec![]);
        assert_eq!(j.can_drop, CanDrop::Unknown);
        assert!(j.why.contains("frobnicate"), "{}", j.why);
        // A definite drop outranks an earlier unknown.
        let j = judge(vec![ex("queue", &[]), verdict(0, None)], vec![]);
        assert_eq!(j.can_drop, CanDrop::Yes);
        // Accept, continue, return and a counter: cannot drop. The unreached `sub`
        // chain's reject does not count.
        let j = judge(
            vec![
                counter,
                verdict(1, None),
                verdict(VerdictCode::Return.raw() as i32, None),
            ],
            vec![ex("reject", &[])],
        );
        assert_eq!(j.can_drop, CanDrop::No);
    }

    #[test]
    fn verdict_maps_and_unknown_object_references_may_drop() {
        let vmap = ex(
            "lookup",
            &[(expr_attr::LOOKUP_DREG, 0u32.to_ne_bytes().to_vec())],
        );
        assert_eq!(judge(vec![vmap], vec![]).can_drop, CanDrop::Unknown);
        let plain = ex(
            "lookup",
            &[(expr_attr::LOOKUP_SREG, 1u32.to_ne_bytes().to_vec())],
        );
        assert_eq!(judge(vec![plain], vec![]).can_drop, CanDrop::No);
        let objref = |t: u32| {
            ex(
                "objref",
                &[(expr_attr::OBJREF_IMM_TYPE, t.to_ne_bytes().to_vec())],
            )
        };
        assert_eq!(judge(vec![objref(1)], vec![]).can_drop, CanDrop::No);
        assert_eq!(judge(vec![objref(10)], vec![]).can_drop, CanDrop::Unknown);
    }
}
