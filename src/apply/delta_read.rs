//! Our table as the kernel holds it, for an incremental apply: sets with their exact
//! elements (each interval as stored, never merged), chains, and rules with their
//! handles, decoded into the IR. Only our table is dumped. What the policy never
//! makes (objects, flowtables, maps, chains of other types, dormancy) is named in
//! `LiveTable::foreign`, which sends the apply down the full path.
//!
//! The dumps are separate requests, taken after the guard's base generation: the
//! batch built from them carries that generation, so a change to our table at any
//! point after it makes the kernel refuse the batch (`ApplyError::Concurrent`).

use super::ApplyError;
use super::delta::{LiveChain, LiveSet, LiveTable};
use super::table_copy::dump;
use crate::ir::kernel::{hook_of, policy_of, set_key_of};
use crate::ir::{BaseChain, Interval, SetKey};
use crate::nft::client::{Client, NlError, Step};
use crate::nft::msg::attr;
use crate::nft::read::{self, RawElem, RawSet};
use crate::nft::vocab::{SET_ELEM_INTERVAL_END, SET_INTERVAL, UDATA_SET_COMMENT};
use crate::nft::wire::{MsgType, NFPROTO_INET, NLM_F_ACK, Writer};
use std::collections::HashMap;

/// `NFT_TABLE_F_DORMANT`.
const DORMANT: u32 = 1;
/// `NFTA_RULE_HANDLE`.
const NFTA_RULE_HANDLE: u16 = 3;

/// Our table, `None` when it does not exist.
pub(super) fn read(nl: &mut Client, table: &str) -> Result<Option<LiveTable>, ApplyError> {
    let Some(flags) = table_flags(nl, table)? else {
        return Ok(None);
    };
    let mut live = LiveTable::default();
    if flags & DORMANT != 0 {
        live.foreign.push("the dormant flag".into());
    }
    for (kind, ty) in [
        ("named objects", MsgType::GetObj),
        ("flowtables", MsgType::GetFlowtable),
    ] {
        if !dump(nl, ty, table, None)?.is_empty() {
            live.foreign.push(kind.into());
        }
    }
    let mut keys = HashMap::new();
    for m in dump(nl, MsgType::GetSet, table, None)? {
        let raw = read::parse_set(&m).map_err(parse)?;
        match set(nl, table, &raw)? {
            Ok(s) => {
                keys.insert(s.name.clone(), s.key);
                live.sets.push(s);
            }
            Err(why) => live.foreign.push(why),
        }
    }
    chains(nl, table, &mut live)?;
    rules(nl, table, &keys, &mut live)?;
    Ok(Some(live))
}

fn parse(e: read::ParseError) -> ApplyError {
    ApplyError::Snapshot(e.to_string())
}

/// The table's flags, `None` when it does not exist.
fn table_flags(nl: &mut Client, table: &str) -> Result<Option<u32>, ApplyError> {
    let mut w = Writer::default();
    let seq = nl.next_seq();
    let m = w.begin_msg(MsgType::GetTable.raw(), NLM_F_ACK, seq, NFPROTO_INET, 0);
    w.put_str(1, table);
    w.end_msg(m);
    match nl.collect("current table", &w.buf) {
        Ok(msgs) => match msgs.first() {
            Some(m) => Ok(Some(read::parse_table(m).map_err(parse)?.flags)),
            None => Ok(None),
        },
        Err(NlError {
            step: Step::Reply,
            source,
            ..
        }) if source.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One set with its exact elements, or why the policy could not have made it.
fn set(nl: &mut Client, table: &str, raw: &RawSet) -> Result<Result<LiveSet, String>, ApplyError> {
    let what = format!(
        "set {} (a map, or of a type or flags hostwall never uses)",
        raw.name
    );
    let key = set_key_of(raw.key_type).filter(|k| k.len() == raw.key_len as usize);
    let (Some(key), false, false) = (key, raw.flags & !SET_INTERVAL != 0, raw.stateful) else {
        return Ok(Err(what));
    };
    let mut elems = Vec::new();
    for m in dump(nl, MsgType::GetSetElem, table, Some(&raw.name))? {
        read::parse_elems(&m, &mut elems).map_err(parse)?;
    }
    let interval = raw.flags & SET_INTERVAL != 0;
    let Some(elements) = exact_elements(key, interval, &elems) else {
        return Ok(Err(format!(
            "set {} with elements hostwall never writes (data, key ends or unpaired ends)",
            raw.name
        )));
    };
    let comment = raw.userdata.as_deref().and_then(set_comment);
    Ok(Ok(LiveSet {
        name: raw.name.clone(),
        key,
        interval,
        comment,
        elements,
    }))
}

/// The kernel's elements as the intervals they store, sorted: an interval set's start
/// elements each closed by the next end element (`hi + 1`), or open to the key's
/// maximum; a lone end element at 0 (the one a whole set opens with) is no interval.
/// `None` for anything hostwall does not write.
pub(super) fn exact_elements(
    key: SetKey,
    interval: bool,
    raw: &[RawElem],
) -> Option<Vec<Interval>> {
    let mut points = Vec::with_capacity(raw.len());
    for e in raw {
        if e.extra || e.key_end.is_some() || e.key.len() != key.len() {
            return None;
        }
        let v = e.key.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b));
        points.push((v, e.flags & SET_ELEM_INTERVAL_END != 0));
    }
    if !interval {
        let mut out: Vec<Interval> = points
            .iter()
            .map(|(v, _)| Interval { lo: *v, hi: *v })
            .collect();
        out.sort();
        return Some(out);
    }
    // Ends before starts at the same key: adjacent intervals share it.
    points.sort_by_key(|(v, end)| (*v, !*end));
    let mut out = Vec::with_capacity(points.len() / 2 + 1);
    let mut open: Option<u128> = None;
    for (v, end) in points {
        match (end, open) {
            (false, None) => open = Some(v),
            (true, Some(lo)) if v > lo => {
                out.push(Interval { lo, hi: v - 1 });
                open = None;
            }
            (true, None) if v == 0 && out.is_empty() => {}
            _ => return None,
        }
    }
    if let Some(lo) = open {
        out.push(Interval { lo, hi: key.max() });
    }
    Some(out)
}

/// The comment in a set's userdata TLVs (type u8, length u8, NUL-terminated value).
fn set_comment(mut u: &[u8]) -> Option<String> {
    while u.len() >= 2 {
        let (t, len) = (u[0], u[1] as usize);
        let v = u.get(2..2 + len)?;
        if t == UDATA_SET_COMMENT {
            let v = v.strip_suffix(&[0]).unwrap_or(v);
            return Some(String::from_utf8_lossy(v).into_owned());
        }
        u = &u[2 + len..];
    }
    None
}

fn chains(nl: &mut Client, table: &str, live: &mut LiveTable) -> Result<(), ApplyError> {
    for m in dump(nl, MsgType::GetChain, table, None)? {
        let c = read::parse_chain(&m).map_err(parse)?;
        if c.table != table || c.family != u32::from(NFPROTO_INET) {
            continue;
        }
        let base = match (c.hook, c.priority) {
            (None, _) => Ok(None),
            (Some(h), Some(priority)) => match hook_of(h) {
                Some(hook) if c.chain_type.as_deref() == Some("filter") && c.devices.is_empty() => {
                    Ok(Some(BaseChain {
                        hook,
                        priority,
                        policy: policy_of(c.policy),
                    }))
                }
                _ => Err(()),
            },
            (Some(_), None) => Err(()),
        };
        match base {
            Ok(base) => live.chains.push(LiveChain {
                name: c.name,
                base,
                rules: Vec::new(),
            }),
            Err(()) => live.foreign.push(format!(
                "chain {} of a hook or type hostwall never uses",
                c.name
            )),
        }
    }
    Ok(())
}

fn rules(
    nl: &mut Client,
    table: &str,
    keys: &HashMap<String, SetKey>,
    live: &mut LiveTable,
) -> Result<(), ApplyError> {
    for m in dump(nl, MsgType::GetRule, table, None)? {
        let raw = read::parse_rule(&m).map_err(parse)?;
        let handle = (m.get(20..))
            .and_then(|a| attr(a, NFTA_RULE_HANDLE))
            .and_then(|h| h.get(..8)?.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| ApplyError::Snapshot("a rule without a handle".into()))?;
        let rule = crate::live::decode_rule(&raw, keys);
        match live.chains.iter_mut().find(|c| c.name == raw.chain) {
            Some(c) => c.rules.push((handle, rule)),
            None => live.foreign.push(format!("a rule in chain {}", raw.chain)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem(v: u128, len: usize, end: bool) -> RawElem {
        RawElem {
            key: v.to_be_bytes()[16 - len..].to_vec(),
            key_end: None,
            flags: if end { SET_ELEM_INTERVAL_END } else { 0 },
            extra: false,
            verdict: None,
        }
    }

    #[test]
    fn stored_intervals_are_read_exactly_never_merged_issue14() {
        let k = SetKey::InetService;
        let iv = |lo, hi| Interval { lo, hi };
        // The kernel's descending order, a leading end at 0, two adjacent ranges and
        // one open to the key's maximum.
        let raw = [
            elem(60000, 2, false),
            elem(21, 2, true),
            elem(15, 2, false),
            elem(15, 2, true),
            elem(10, 2, false),
            elem(0, 2, true),
        ];
        let got = exact_elements(k, true, &raw);
        assert_eq!(got, Some(vec![iv(10, 14), iv(15, 20), iv(60000, 65535)]));
        // Two starts in a row, or an end with nothing open: not ours.
        assert_eq!(
            exact_elements(k, true, &[elem(1, 2, false), elem(5, 2, false)]),
            None
        );
        assert_eq!(exact_elements(k, true, &[elem(7, 2, true)]), None);
        let mut with_end = elem(3, 2, false);
        with_end.key_end = Some(vec![0, 9]);
        assert_eq!(exact_elements(k, true, &[with_end]), None);
        // A plain set: one value per element.
        let plain = exact_elements(
            SetKey::IcmpType,
            false,
            &[elem(8, 1, false), elem(0, 1, false)],
        );
        assert_eq!(plain, Some(vec![iv(0, 0), iv(8, 8)]));
    }
}
