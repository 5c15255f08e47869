//! Writes an `ir::Ruleset` in the libnftables JSON form (`nft -j -f` loads it): the same
//! transaction as the text script, for tools that consume JSON.

use crate::ir::{
    self, AddrMatch, Interval, LogLevel, Match, PortMatch, RejectWith, Rule, Ruleset, Set, SetKey,
    Stmt, TypeMatch, Verdict,
};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The whole ruleset as one JSON document (pretty-printed, ending in a newline).
pub fn render(rs: &Ruleset) -> String {
    let t = &rs.table;
    let fam = t.family.name();
    let table = json!({"family": fam, "name": t.name});
    let mut cmds = vec![
        json!({"metainfo": {"json_schema_version": 1}}),
        json!({"add": {"table": table}}),
        json!({"delete": {"table": table}}),
        json!({"add": {"table": table}}),
    ];
    for s in &t.sets {
        cmds.push(json!({"add": {"set": set(fam, &t.name, s)}}));
    }
    for c in &t.chains {
        let mut chain = json!({"family": fam, "table": t.name, "name": c.name});
        if let Some(b) = &c.base {
            chain["type"] = json!("filter");
            chain["hook"] = json!(b.hook.name());
            chain["prio"] = json!(b.priority);
            chain["policy"] = json!(match b.policy {
                ir::ChainPolicy::Accept => "accept",
                ir::ChainPolicy::Drop => "drop",
            });
        }
        cmds.push(json!({"add": {"chain": chain}}));
        for r in &c.rules {
            let mut rule = json!({
                "family": fam, "table": t.name, "chain": c.name, "expr": exprs(r),
            });
            if let Some(cm) = &r.comment {
                rule["comment"] = json!(cm);
            }
            cmds.push(json!({"add": {"rule": rule}}));
        }
    }
    let doc = json!({ "nftables": cmds });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn set(fam: &str, table: &str, s: &Set) -> Value {
    let mut v = json!({"family": fam, "table": table, "name": s.name, "type": s.key.name()});
    if s.interval {
        v["flags"] = json!(["interval"]);
    }
    if let Some(ms) = s.timeout_ms {
        // nft 1.0.6's JSON has no "dynamic" flag: nft sets it for a set an `update` uses.
        v["flags"] = json!(["timeout"]);
        v["timeout"] = json!(ms / 1000);
        v["size"] = json!(ir::DYNAMIC_SET_SIZE);
    }
    if let Some(c) = &s.comment {
        v["comment"] = json!(c);
    }
    if !s.elements.is_empty() {
        let elems: Vec<Value> = s.elements.iter().flat_map(|e| element(s.key, e)).collect();
        v["elem"] = Value::Array(elems);
    }
    v
}

fn element(key: SetKey, e: Interval) -> Vec<Value> {
    match key {
        SetKey::InetService if e.lo == e.hi => vec![json!(e.lo as u16)],
        SetKey::InetService => vec![json!({"range": [e.lo as u16, e.hi as u16]})],
        SetKey::IcmpType | SetKey::Icmpv6Type => (e.lo..=e.hi)
            .map(|t| match ir::icmp_type_name(key, t as u8) {
                Some(n) => json!(n),
                None => json!(t as u8),
            })
            .collect(),
        SetKey::Ipv4Addr => vec![addr_elem(e, 32, |v| Ipv4Addr::from(v as u32).to_string())],
        SetKey::Ipv6Addr => vec![addr_elem(e, 128, |v| Ipv6Addr::from(v).to_string())],
    }
}

fn addr_elem(e: Interval, bits: u32, show: impl Fn(u128) -> String) -> Value {
    match ir::range_to_prefixes(e.lo, e.hi, bits).as_slice() {
        [(net, len)] if *len as u32 == bits => json!(show(*net)),
        [(net, len)] => json!({"prefix": {"addr": show(*net), "len": len}}),
        _ => json!({"range": [show(e.lo), show(e.hi)]}),
    }
}

fn exprs(r: &Rule) -> Vec<Value> {
    let mut out: Vec<Value> = r.matches.iter().map(match_expr).collect();
    out.extend(r.stmts.iter().map(stmt_expr));
    if let Some(v) = r.verdict {
        out.push(verdict_expr(v));
    }
    out
}

fn eq(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

fn match_expr(m: &Match) -> Value {
    match m {
        Match::IifName(i) => eq(json!({"meta": {"key": "iifname"}}), ifname(i)),
        Match::OifName(i) => eq(json!({"meta": {"key": "oifname"}}), ifname(i)),
        Match::CtState(s) => json!({"match": {
            "op": "in", "left": {"ct": {"key": "state"}}, "right": s.names(),
        }}),
        Match::L4Proto(p) => eq(json!({"meta": {"key": "l4proto"}}), json!(p.name())),
        Match::NfProto(p) => eq(
            json!({"meta": {"key": "nfproto"}}),
            json!(match p {
                ir::NfProto::Ipv4 => "ipv4",
                ir::NfProto::Ipv6 => "ipv6",
            }),
        ),
        Match::Saddr(a) => addr(a, "saddr"),
        Match::Daddr(a) => addr(a, "daddr"),
        Match::Dport(p, pm) => {
            let left = json!({"payload": {"protocol": p.name(), "field": "dport"}});
            let right = match pm {
                PortMatch::Port(n) => json!(n),
                PortMatch::Range(a, b) => json!({"range": [a, b]}),
                PortMatch::Set(s) => json!(format!("@{s}")),
            };
            eq(left, right)
        }
        Match::IcmpType(t) => icmp_type("icmp", SetKey::IcmpType, t),
        Match::Icmpv6Type(t) => icmp_type("icmpv6", SetKey::Icmpv6Type, t),
    }
}

fn icmp_type(proto: &str, key: SetKey, t: &TypeMatch) -> Value {
    let left = json!({"payload": {"protocol": proto, "field": "type"}});
    let right = match t {
        TypeMatch::Type(n) => match ir::icmp_type_name(key, *n) {
            Some(name) => json!(name),
            None => json!(n),
        },
        TypeMatch::Set(s) => json!(format!("@{s}")),
    };
    eq(left, right)
}

fn addr(a: &AddrMatch, field: &str) -> Value {
    let (proto, right) = match a {
        AddrMatch::V4(n) if n.prefix_len() == 32 => ("ip", json!(n.addr().to_string())),
        AddrMatch::V4(n) => (
            "ip",
            json!({"prefix": {"addr": n.addr().to_string(), "len": n.prefix_len()}}),
        ),
        AddrMatch::V6(n) if n.prefix_len() == 128 => ("ip6", json!(n.addr().to_string())),
        AddrMatch::V6(n) => (
            "ip6",
            json!({"prefix": {"addr": n.addr().to_string(), "len": n.prefix_len()}}),
        ),
        AddrMatch::Set4(s) => ("ip", json!(format!("@{s}"))),
        AddrMatch::Set6(s) => ("ip6", json!(format!("@{s}"))),
        AddrMatch::Range4(lo, hi) => ("ip", json!({"range": [lo.to_string(), hi.to_string()]})),
        AddrMatch::Range6(lo, hi) => ("ip6", json!({"range": [lo.to_string(), hi.to_string()]})),
    };
    eq(
        json!({"payload": {"protocol": proto, "field": field}}),
        right,
    )
}

fn ifname(i: &ir::IfName) -> Value {
    if i.wildcard {
        json!(format!("{}*", i.name))
    } else {
        json!(i.name)
    }
}

fn stmt_expr(s: &Stmt) -> Value {
    match s {
        Stmt::Counter => json!({"counter": null}),
        Stmt::Limit { rate, unit, burst } => {
            json!({"limit": {"rate": rate, "per": unit.name(), "burst": burst}})
        }
        Stmt::SourceLimit {
            set,
            family,
            rate,
            unit,
            burst,
        } => {
            let ip = family.addr_keyword();
            let limit = json!({"limit": {"rate": rate, "per": unit.name(), "burst": burst}});
            json!({"set": {
                "op": "update",
                "elem": {"payload": {"protocol": ip, "field": "saddr"}},
                "set": format!("@{set}"),
                "stmt": [limit],
            }})
        }
        Stmt::Log {
            prefix,
            group,
            level,
        } => {
            let mut v = json!({});
            if let Some(p) = prefix {
                v["prefix"] = json!(p);
            }
            if *level != LogLevel::Warn {
                v["level"] = json!(level.name());
            }
            if let Some(g) = group {
                v["group"] = json!(g);
            }
            json!({ "log": v })
        }
        // Never produced by compile; kept visible rather than dropped.
        Stmt::Foreign(text) => json!({ "foreign": text }),
    }
}

fn verdict_expr(v: Verdict) -> Value {
    match v {
        Verdict::Accept => json!({"accept": null}),
        Verdict::Drop => json!({"drop": null}),
        Verdict::Reject(RejectWith::TcpReset) => json!({"reject": {"type": "tcp reset"}}),
        Verdict::Reject(RejectWith::IcmpxAdminProhibited) => {
            json!({"reject": {"type": "icmpx", "expr": "admin-prohibited"}})
        }
        Verdict::Reject(RejectWith::IcmpxPortUnreachable) => {
            json!({"reject": {"type": "icmpx", "expr": "port-unreachable"}})
        }
    }
}
