//! Every other table into `ir::host::HostTable`: its chains (base and regular), every
//! rule through `host::rule`, its sets (IR keys as sets, small sets of other keys for
//! expansion) and its verdict maps.

use super::dump::Conn;
use super::host::{self, Sets};
use super::{LiveError, hooks, normalize};
use crate::ir::Interval;
use crate::ir::host::{
    ChainType, HostBase, HostChain, HostHook, HostTable, MapElem, TableFamily, VerdictMap,
};
use crate::nft::read::{RawChain, RawElem, RawRule, RawSet, RawTable};
use std::collections::HashMap;

const SET_MAP: u32 = 0x8;
/// nft's datatype id of a verdict.
const TYPE_VERDICT: u32 = 0xffff_ff00;
const TYPE_INET_PROTO: u32 = 12;
const TYPE_CT_STATE: u32 = 26;
const TYPE_IFNAME: u32 = 41;

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
            let keys = elems.into_iter().map(|e| e.key).collect();
            sets.raw.insert(raw.name.clone(), (raw.key_type, keys));
        }
    }
    let nf = match t.family {
        2 => Some(2),
        10 => Some(10),
        _ => None,
    };
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
    Some(match f {
        1 => TableFamily::Inet,
        2 => TableFamily::Ip,
        3 => TableFamily::Arp,
        5 => TableFamily::Netdev,
        7 => TableFamily::Bridge,
        10 => TableFamily::Ip6,
        _ => return None,
    })
}

fn base(c: &RawChain) -> Option<HostBase> {
    let n = c.hook?;
    let hook = match hooks::hook_name(c.family, n) {
        Some("ingress") => Some(HostHook::Ingress),
        Some("egress") => Some(HostHook::Egress),
        // ARP hooks are not on an IP packet's path.
        Some(_) if c.family == 3 => None,
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
    if raw.data_type != Some(TYPE_VERDICT) {
        return None;
    }
    let interval = raw.flags & 0x4 != 0;
    let mut out = Vec::new();
    for e in elems.iter().filter(|e| e.verdict.is_some()) {
        let (code, chain) = e.verdict.clone()?;
        let key = match raw.key_type {
            TYPE_IFNAME => MapElem::Name(super::forms::ifname(&e.key)?),
            TYPE_INET_PROTO if !interval => {
                MapElem::Range(Interval::single(super::forms::one_byte(&e.key)? as u128))
            }
            TYPE_CT_STATE if !interval => MapElem::Range(Interval::single(u32::from_ne_bytes(
                e.key.as_slice().try_into().ok()?,
            ) as u128)),
            7 | 8 | 13 => {
                let lo = super::forms::key_value(&e.key)?;
                let hi = match &e.key_end {
                    Some(end) => super::forms::key_value(end)?,
                    None if interval => return None,
                    None => lo,
                };
                MapElem::Range(Interval { lo, hi })
            }
            _ => return None,
        };
        out.push((key, host::verdict_action(code as i64, chain)));
    }
    Some(VerdictMap {
        name: raw.name.clone(),
        elements: out,
    })
}
