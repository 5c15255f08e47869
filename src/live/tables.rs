//! Every other table into `ir::host::HostTable`: its chains (base and regular), every
//! rule through `host::rule`, its sets (IR keys as sets, small sets of other keys for
//! expansion) and its verdict maps.

use super::dump::Conn;
use super::host::{self, Sets};
use super::{LiveError, expr_read, hooks, normalize};
use crate::ir::Interval;
use crate::ir::host::{
    ChainType, HostBase, HostChain, HostHook, HostTable, MapElem, TableFamily, VerdictMap,
};
use crate::ir::kernel::nfproto_of;
use crate::nft::read::{RawChain, RawElem, RawRule, RawSet, RawTable};
use crate::nft::vocab::{DataType, Family, SET_INTERVAL, SET_MAP};
use std::collections::HashMap;

/// One other table, read with its sets and maps.
pub fn table(
    conn: &mut Conn,
    t: &RawTable,
    chains: &[&RawChain],
    rules: &[&RawRule],
) -> Result<HostTable, LiveError> {
    let family = u8::try_from(t.family).map_err(|_| LiveError::Missing("table family"))?;
    let mut sets = Sets::default();
    let mut ir_sets = Vec::new();
    let mut raw_maps = Vec::new();
    for raw in conn.sets(family, &t.name)? {
        let elems = conn.elements(family, &t.name, &raw.name)?;
        if raw.flags & SET_MAP != 0 {
            sets.maps.insert(raw.name.clone(), raw.key_type);
            raw_maps.push((raw, elems));
        } else if let Some(s) = normalize::foreign_set(&raw, &elems) {
            sets.ir.insert(s.name.clone(), s.key);
            ir_sets.push(s);
        } else if elems.iter().all(|e| e.key_end.is_none() && e.flags == 0) {
            let keys = elems.into_iter().map(|e| e.key.to_vec()).collect();
            sets.raw.insert(raw.name.clone(), (raw.key_type, keys));
        }
    }
    let nf = nfproto_of(t.family);
    let mut by_chain: HashMap<&str, Vec<&RawRule>> = HashMap::new();
    for r in rules {
        by_chain.entry(r.chain.as_str()).or_default().push(r);
    }
    let maps = raw_maps
        .iter()
        .filter_map(|(raw, elems)| verdict_map(raw, elems))
        .collect();
    let chains = chains
        .iter()
        .map(|c| HostChain {
            name: c.name.clone(),
            base: base(c),
            rules: by_chain
                .get(c.name.as_str())
                .into_iter()
                .flatten()
                .map(|r| host::rule(r, &sets, nf))
                .collect(),
        })
        .collect();
    Ok(HostTable {
        family: table_family(t.family),
        name: t.name.clone(),
        ours: false,
        dormant: t.flags & super::NFT_TABLE_F_DORMANT != 0,
        sets: ir_sets,
        maps,
        chains,
    })
}

pub fn table_family(f: u32) -> Option<TableFamily> {
    Some(match Family::try_from(f).ok()? {
        Family::Inet => TableFamily::Inet,
        Family::Ipv4 => TableFamily::Ip,
        Family::Arp => TableFamily::Arp,
        Family::Netdev => TableFamily::Netdev,
        Family::Bridge => TableFamily::Bridge,
        Family::Ipv6 => TableFamily::Ip6,
        Family::Unspec => return None,
    })
}

fn base(c: &RawChain) -> Option<HostBase> {
    let n = c.hook?;
    let hook = match hooks::hook_name(c.family, n) {
        Some("ingress") => Some(HostHook::Ingress),
        Some("egress") => Some(HostHook::Egress),
        // ARP hooks are not on an IP packet's path.
        Some(_) if c.family == Family::Arp.raw() => None,
        Some("prerouting") => Some(HostHook::Prerouting),
        Some("input") => Some(HostHook::Input),
        Some("forward") => Some(HostHook::Forward),
        Some("output") => Some(HostHook::Output),
        Some("postrouting") => Some(HostHook::Postrouting),
        _ => None,
    };
    Some(HostBase {
        hook,
        chain_type: match c.chain_type.as_deref() {
            Some("nat") => ChainType::Nat,
            Some("route") => ChainType::Route,
            _ => ChainType::Filter,
        },
        priority: c.priority.unwrap_or(0),
        policy: hooks::policy(c.policy),
        devices: c.devices.clone(),
    })
}

/// A verdict map whose key the IR can look up; `None` leaves its users unknown.
fn verdict_map(raw: &RawSet, elems: &[RawElem]) -> Option<VerdictMap> {
    if raw.data_type != Some(DataType::Verdict.raw()) {
        return None;
    }
    let interval = raw.flags & SET_INTERVAL != 0;
    let mut out = Vec::new();
    for e in elems.iter().filter(|e| e.verdict.is_some()) {
        let (code, chain) = e.verdict.clone()?;
        let key = match DataType::try_from(raw.key_type).ok()? {
            DataType::IfName => MapElem::Name(expr_read::ifname(&e.key)?),
            DataType::InetProto if !interval => {
                MapElem::Range(Interval::single(expr_read::one_byte(&e.key)? as u128))
            }
            DataType::CtState if !interval => MapElem::Range(Interval::single(u32::from_ne_bytes(
                e.key[..].try_into().ok()?,
            )
                as u128)),
            DataType::Ipv4Addr | DataType::Ipv6Addr | DataType::InetService => {
                let lo = expr_read::key_value(&e.key)?;
                let hi = match &e.key_end {
                    Some(end) => expr_read::key_value(end)?,
                    None if interval => return None,
                    None => lo,
                };
                MapElem::Range(Interval { lo, hi })
            }
            _ => return None,
        };
        out.push((key, host::verdict_action(code as u32, chain)));
    }
    Some(VerdictMap {
        name: raw.name.clone(),
        elements: out,
    })
}
