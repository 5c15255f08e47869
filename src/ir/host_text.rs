//! The host IR as text: conditions and actions in nft's words (unknown ones as
//! libnftnl's text in angle brackets), and whole tables in the decoded form the goldens
//! under `tests/data/host/` hold.

use super::{Action, Cond, HostTable, MapElem, MapKey};
use std::fmt::Write;

/// A decoded table as text: chains with registration, rules, sets and verdict maps.
pub fn render(t: &HostTable) -> String {
    let mut out = format!("table {}", t.title());
    if t.dormant {
        out.push_str(" (dormant)");
    }
    out.push_str(" {\n");
    for s in &t.sets {
        let _ = writeln!(
            out,
            "  set {} {} {} elements",
            s.name,
            s.key.name(),
            s.elements.len()
        );
    }
    for m in &t.maps {
        let elems: Vec<String> = m
            .elements
            .iter()
            .map(|(e, a)| {
                let k = match e {
                    MapElem::Name(n) if n.wildcard => format!("\"{}*\"", n.name),
                    MapElem::Name(n) => format!("\"{}\"", n.name),
                    MapElem::Range(i) if i.lo == i.hi => i.lo.to_string(),
                    MapElem::Range(i) => format!("{}-{}", i.lo, i.hi),
                };
                format!("{k} : {}", action_text(a))
            })
            .collect();
        let _ = writeln!(out, "  map {} {{ {} }}", m.name, elems.join(", "));
    }
    for c in &t.chains {
        let _ = write!(out, "  chain {}", c.name);
        if let Some(b) = &c.base {
            let chain_type = match b.chain_type {
                super::ChainType::Filter => "filter",
                super::ChainType::Nat => "nat",
                super::ChainType::Route => "route",
            };
            let hook = b.hook.map_or("unknown", super::HostHook::name);
            let _ = write!(out, " [{chain_type} {hook} {}", b.priority);
            for d in &b.devices {
                let _ = write!(out, " device {d}");
            }
            let _ = write!(out, " policy {}]", b.policy.name());
        }
        out.push('\n');
        for r in &c.rules {
            let _ = writeln!(out, "    {}", r.text);
        }
    }
    out.push_str("}\n");
    out
}

/// A condition in nft's words (unknown ones as libnftnl's text in angle brackets).
pub fn cond_text(c: &Cond) -> String {
    use crate::emit::text::match_text;
    match c {
        Cond::Is(m) => match_text(m),
        Cond::Not(m) => negate(&match_text(m)),
        Cond::AnyOf { of, negated } => {
            let texts: Vec<String> = of.iter().map(match_text).collect();
            let (head, values) = common_head(&texts);
            let op = if *negated { "!= " } else { "" };
            format!("{head} {op}{{ {} }}", values.join(", "))
        }
        Cond::CtStatus { mask, any } => {
            let names = ct_status_names(*mask);
            if *any {
                format!("ct status {names}")
            } else {
                format!("ct status != {names}")
            }
        }
        Cond::Unknown(t) => format!("<{t}>"),
    }
}

/// `iifname "x"` -> `iifname != "x"`: the operator goes before the last word.
fn negate(text: &str) -> String {
    match text.rsplit_once(' ') {
        Some((head, value)) => format!("{head} != {value}"),
        None => format!("!= {text}"),
    }
}

/// The words every text shares before its last one, and the last words.
fn common_head(texts: &[String]) -> (String, Vec<String>) {
    let head = texts
        .first()
        .and_then(|t| t.rsplit_once(' '))
        .map_or(String::new(), |(h, _)| h.to_string());
    let values = texts
        .iter()
        .map(|t| {
            t.strip_prefix(&head)
                .map_or(t.as_str(), str::trim_start)
                .to_string()
        })
        .collect();
    (head, values)
}

fn ct_status_names(mask: u32) -> String {
    let names: Vec<&str> = [
        (1, "expected"),
        (2, "seen-reply"),
        (4, "assured"),
        (8, "confirmed"),
        (16, "snat"),
        (32, "dnat"),
        (512, "dying"),
    ]
    .into_iter()
    .filter(|(b, _)| mask & b != 0)
    .map(|(_, n)| n)
    .collect();
    if names.is_empty() {
        format!("{mask:#x}")
    } else {
        names.join(",")
    }
}

/// An action in nft's words; empty for `Continue`.
pub fn action_text(a: &Action) -> String {
    match a {
        Action::Continue => String::new(),
        Action::Accept => "accept".into(),
        Action::Drop => "drop".into(),
        Action::Reject(how) => how.clone(),
        Action::Jump(c) => format!("jump {c}"),
        Action::Goto(c) => format!("goto {c}"),
        Action::Return => "return".into(),
        Action::Map { key, map } => format!("{} vmap @{map}", map_key_text(*key)),
        Action::SourceNat => "snat/masquerade".into(),
        Action::DestNat(t) => format!("<{t}>"),
        Action::Unknown(t) => format!("<{t}>"),
    }
}

pub fn map_key_text(k: MapKey) -> String {
    match k {
        MapKey::IifName => "iifname".into(),
        MapKey::OifName => "oifname".into(),
        MapKey::L4Proto => "meta l4proto".into(),
        MapKey::CtState => "ct state".into(),
        MapKey::Saddr4 => "ip saddr".into(),
        MapKey::Daddr4 => "ip daddr".into(),
        MapKey::Saddr6 => "ip6 saddr".into(),
        MapKey::Daddr6 => "ip6 daddr".into(),
        MapKey::Dport(p) => format!("{} dport", p.name()),
    }
}
