//! Our own table: sets and chains the IR can hold are decoded into it; everything
//! else the kernel holds in the table — named objects of every type, flowtables,
//! chains on hooks or of types the IR has no form for, maps and other sets — becomes
//! an explicit `Unmodelled` item, which the diff reports as drift.

use super::dump::{Conn, NFPROTO_INET};
use super::state::{Kind, Unmodelled, chain_summary};
use super::{LiveError, decode, hooks, normalize};
use crate::ir::{self, BaseChain, Chain, SetKey, Table};
use crate::nft::read::{RawChain, RawFlowtable, RawObj, RawRule};
use crate::nft::vocab::Family;
use std::collections::HashMap;

pub fn table(
    conn: &mut Conn,
    table: &str,
    chains: &[RawChain],
    rules: &[RawRule],
    odd: &mut Vec<Unmodelled>,
) -> Result<Table, LiveError> {
    let (sets, keys) = sets(conn, table, odd)?;
    let mut by_chain: HashMap<&str, Vec<&RawRule>> = HashMap::new();
    for r in rules
        .iter()
        .filter(|r| super::is_ours(r.family, &r.table, table))
    {
        by_chain.entry(&r.chain).or_default().push(r);
    }
    let mut out = Vec::new();
    for c in chains
        .iter()
        .filter(|c| super::is_ours(c.family, &c.table, table))
    {
        let rules: Vec<ir::Rule> = by_chain
            .get(c.name.as_str())
            .into_iter()
            .flatten()
            .map(|r| decode::rule(r, &keys))
            .collect();
        match base_chain(c) {
            Ok(base) => out.push(Chain {
                name: c.name.clone(),
                base,
                rules,
            }),
            Err(()) => {
                let head = hooks::head(c);
                odd.push(Unmodelled {
                    kind: Kind::ChainExtra,
                    object: format!("chain {}", c.name),
                    actual: chain_summary(head.as_ref(), rules.len()),
                    chain: head,
                    rules,
                });
            }
        }
    }
    for o in conn.objects(NFPROTO_INET, table)? {
        odd.push(object(&o));
    }
    for f in conn.flowtables(NFPROTO_INET, table)? {
        odd.push(flowtable(&f));
    }
    Ok(Table {
        family: ir::Family::Inet,
        name: table.to_string(),
        sets,
        chains: out,
    })
}

/// The named sets the IR can hold, and their keys (for decoding lookups).
fn sets(
    conn: &mut Conn,
    table: &str,
    odd: &mut Vec<Unmodelled>,
) -> Result<(Vec<ir::Set>, HashMap<String, SetKey>), LiveError> {
    let mut sets = Vec::new();
    let mut keys = HashMap::new();
    for raw in conn.sets(NFPROTO_INET, table)? {
        if raw.flags & crate::nft::vocab::SET_ANONYMOUS != 0 {
            continue; // belongs to one rule, which decodes as foreign text
        }
        let decoded = match normalize::unsupported(&raw) {
            Some(why) => Err(why),
            None => normalize::set(&raw, &conn.elements(NFPROTO_INET, table, &raw.name)?),
        };
        match decoded {
            Ok(s) => {
                keys.insert(s.name.clone(), s.key);
                sets.push(s);
            }
            Err(why) => odd.push(Unmodelled {
                kind: Kind::Unsupported,
                object: format!("set {}", raw.name),
                actual: why,
                chain: None,
                rules: Vec::new(),
            }),
        }
    }
    Ok((sets, keys))
}

/// `Ok(None)` for a regular chain, `Ok(Some)` for a filter chain on one of the IR's
/// hooks; `Err` for any other base chain (ingress, nat or route type, devices).
fn base_chain(c: &RawChain) -> Result<Option<BaseChain>, ()> {
    let Some(n) = c.hook else {
        return Ok(None);
    };
    let hook = hooks::ir_hook(c.family, n).ok_or(())?;
    let filter = c.chain_type.as_deref().is_none_or(|t| t == "filter");
    if !filter || !c.devices.is_empty() {
        return Err(());
    }
    Ok(Some(BaseChain {
        hook,
        priority: c.priority.unwrap_or(0),
        policy: hooks::policy(c.policy),
    }))
}

/// `NFT_OBJECT_*` type names, as nft writes them.
fn object_type(t: u32) -> Option<&'static str> {
    Some(match t {
        1 => "counter",
        2 => "quota",
        3 => "ct helper",
        4 => "limit",
        5 => "connlimit",
        6 => "tunnel",
        7 => "ct timeout",
        8 => "secmark",
        9 => "ct expectation",
        10 => "synproxy",
        _ => return None,
    })
}

fn object(o: &RawObj) -> Unmodelled {
    let kind = match o.obj_type {
        Some(t) => object_type(t).map_or_else(|| format!("object of type {t}"), str::to_string),
        None => "object of unknown type".to_string(),
    };
    // libnftnl writes `table T name N use U [ counter pkts 0 bytes 0 ]`: keep the
    // contents between the brackets.
    let contents = o
        .text
        .split_once('[')
        .map(|(_, rest)| rest.trim_end().trim_end_matches(']').trim().to_string())
        .filter(|c| !c.is_empty());
    Unmodelled {
        kind: Kind::ObjectExtra,
        object: format!("{kind} {}", o.name),
        actual: contents.unwrap_or_else(|| format!("{kind} (contents not decoded)")),
        chain: None,
        rules: Vec::new(),
    }
}

fn flowtable(f: &RawFlowtable) -> Unmodelled {
    let hook = match f.hook {
        // A flowtable hooks like a netdev chain (NF_NETDEV_INGRESS).
        Some(n) => hooks::hook_name(Family::Netdev.raw(), n)
            .map_or_else(|| format!("number {n}"), str::to_string),
        None => "none".into(),
    };
    let mut actual = format!(
        "hook {hook} priority {}; devices = {{ {} }}",
        f.priority.unwrap_or(0),
        f.devices.join(", ")
    );
    let flags: Vec<&str> = [(1, "offload"), (2, "counter")]
        .into_iter()
        .filter(|(bit, _)| f.flags & bit != 0)
        .map(|(_, name)| name)
        .collect();
    if !flags.is_empty() {
        actual.push_str(&format!("; flags {}", flags.join(", ")));
    }
    if f.flags & !3 != 0 {
        actual.push_str(&format!("; other flags {:#x}", f.flags & !3));
    }
    Unmodelled {
        kind: Kind::FlowtableExtra,
        object: format!("flowtable {}", f.name),
        actual,
        chain: None,
        rules: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    //! Object types and flowtables this kernel cannot load (no tunnel syntax in the
    //! test machine's nft, no LSM for secmark, no CONFIG_NF_FLOW_TABLE) are checked
    //! with the messages the kernel would send, through the same parsers.
    use super::*;
    use crate::nft::read::{AlignedBuf, parse_flowtable, parse_obj};

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize(a.len().next_multiple_of(4), 0);
        a
    }
    fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | 0x8000, &parts.concat())
    }
    fn cstr(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }
    /// An nf_tables message of `msg` type with the given attributes, in an aligned buffer.
    fn message(msg: u16, attrs: &[Vec<u8>]) -> (AlignedBuf, usize) {
        let body = attrs.concat();
        let len = 20 + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&((10u16 << 8) | msg).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[1, 0, 0, 0]);
        m.extend_from_slice(&body);
        let mut buf = AlignedBuf::new(len);
        buf.bytes_mut()[..len].copy_from_slice(&m);
        (buf, len)
    }
    fn obj(ty: u32, name: &str, data: Option<Vec<u8>>) -> Unmodelled {
        let mut attrs = vec![
            attr(1, &cstr("hostwall")),
            attr(2, &cstr(name)),
            attr(3, &ty.to_be_bytes()),
        ];
        attrs.extend(data);
        let (mut buf, len) = message(18, &attrs);
        object(&parse_obj(&buf.bytes_mut()[..len]).expect("parses"))
    }

    #[test]
    fn objects_of_every_type_are_named_even_when_libnftnl_cannot_read_them() {
        let secmark = obj(8, "sm", Some(nested(4, &[attr(1, &cstr("system_u:r:x"))])));
        assert_eq!(secmark.kind, Kind::ObjectExtra);
        assert_eq!(secmark.object, "secmark sm");
        let tunnel = obj(6, "tun", Some(nested(4, &[attr(1, &7u32.to_be_bytes())])));
        assert_eq!(tunnel.object, "tunnel tun");
        let unknown = obj(42, "future", None);
        assert_eq!(unknown.object, "object of type 42 future");
        assert_eq!(unknown.actual, "object of type 42 (contents not decoded)");
    }

    #[test]
    fn a_flowtable_reports_hook_priority_devices_and_flags() {
        let hook = nested(
            3,
            &[
                attr(1, &0u32.to_be_bytes()),
                attr(2, &(-10i32).to_be_bytes()),
                nested(3, &[attr(1, &cstr("eth0")), attr(1, &cstr("eth1"))]),
            ],
        );
        let (mut buf, len) = message(
            22,
            &[
                attr(1, &cstr("hostwall")),
                attr(2, &cstr("ft")),
                hook,
                attr(7, &1u32.to_be_bytes()),
            ],
        );
        let f = flowtable(&parse_flowtable(&buf.bytes_mut()[..len]).expect("parses"));
        assert_eq!(f.kind, Kind::FlowtableExtra);
        assert_eq!(f.object, "flowtable ft");
        assert_eq!(
            f.actual,
            "hook ingress priority -10; devices = { eth0, eth1 }; flags offload"
        );
    }
}
