//! Our table as the kernel holds it, for an incremental apply: sets with their exact
//! elements (each interval as stored, never merged), chains, and rules with their
//! handles, decoded into the IR. Only our table is dumped. What the policy never
//! makes (objects, flowtables, maps, chains of other types, dormancy) is named in
//! `LiveTable::foreign`, which sends the apply down the full path.
//!
//! Decoded either from the copy the capture took exactly at the guard's base
//! generation (`from_copy`: no request at all, so an apply under the safe flow dumps
//! our table once), or from dumps of its own taken after that generation (`read`).
//! Either way the batch built from it carries the base generation, so a change to our
//! table at any point after it makes the kernel refuse the batch
//! (`ApplyError::Concurrent`).

use super::ApplyError;
use super::delta::{LiveChain, LiveSet, LiveTable};
use super::table_copy::{TableCopy, dump};
use crate::ir::DYNAMIC_SET_SIZE;
use crate::ir::kernel::{hook_of, policy_of, set_key_of};
use crate::ir::packed::Packed;
use crate::ir::{BaseChain, Interval, SetKey};
use crate::nft::client::{Client, NlError, Step};
use crate::nft::msg::{attr, msg_type};
use crate::nft::read::{self, RawElem, RawSet};
use crate::nft::vocab::{
    SET_ANONYMOUS, SET_CONSTANT, SET_ELEM_INTERVAL_END, SET_EVAL, SET_INTERVAL, SET_MAP,
    SET_TIMEOUT, UDATA_SET_COMMENT,
};
use crate::nft::wire::{MsgType, NFPROTO_INET, NLM_F_ACK, Writer};
use std::collections::HashMap;

/// `NFT_TABLE_F_DORMANT`.
const DORMANT: u32 = 1;
/// `NFTA_RULE_HANDLE`.
const NFTA_RULE_HANDLE: u16 = 3;
/// `NFTA_SET_ELEM_LIST_SET`.
const NFTA_SET_ELEM_LIST_SET: u16 = 2;

/// Our table, `None` when it does not exist, read with dumps of its own.
pub(super) fn read(nl: &mut Client, table: &str) -> Result<Option<LiveTable>, ApplyError> {
    let Some(flags) = table_flags(nl, table)? else {
        return Ok(None);
    };
    // The table's sets are about to be held: pages kept for a batch to come
    // (`pages::retire`) are not held beside them.
    crate::pages::release_retired();
    let mut parts = Parts {
        flags,
        ..Parts::default()
    };
    for (kind, ty) in [
        ("named objects", MsgType::GetObj),
        ("flowtables", MsgType::GetFlowtable),
    ] {
        if !dump(nl, ty, table, None)?.is_empty() {
            parts.foreign.push(kind.into());
        }
    }
    for m in dump(nl, MsgType::GetSet, table, None)? {
        let raw = read::parse_set(&m).map_err(parse)?;
        let elems = match supported(&raw) {
            Some(_) if !dynamic(&raw) => dump(nl, MsgType::GetSetElem, table, Some(&raw.name))?,
            _ => Vec::new(),
        };
        // Decoded now: one set's messages are held at a time, never the table's.
        parts.sets.push(set(&raw, &elems)?);
    }
    parts.chains = dump(nl, MsgType::GetChain, table, None)?;
    parts.rules = dump(nl, MsgType::GetRule, table, None)?;
    decode(table, parts).map(Some)
}

/// Our table decoded from a copy of it (`TableCopy`: the kernel's dump messages, in
/// replay order), `None` when the copy says it did not exist. No request is made.
pub(super) fn from_copy(copy: &TableCopy, table: &str) -> Result<Option<LiveTable>, ApplyError> {
    let TableCopy::Present(msgs) = copy else {
        return Ok(None);
    };
    let mut parts = Parts::default();
    let mut sets = Vec::new();
    let mut elems: HashMap<String, Vec<&[u8]>> = HashMap::new();
    for m in msgs {
        let ty = msg_type(m);
        if ty == MsgType::NewTable.raw() {
            parts.flags = read::parse_table(m).map_err(parse)?.flags;
        } else if ty == MsgType::NewObj.raw() {
            if !parts.foreign.iter().any(|f| f == "named objects") {
                parts.foreign.push("named objects".into());
            }
        } else if ty == MsgType::NewSet.raw() {
            sets.push(read::parse_set(m).map_err(parse)?);
        } else if ty == MsgType::NewChain.raw() {
            parts.chains.push(m.clone());
        } else if ty == MsgType::NewSetElem.raw() {
            let set = (m.get(20..))
                .and_then(|a| attr(a, NFTA_SET_ELEM_LIST_SET))
                .map(|n| {
                    String::from_utf8_lossy(n)
                        .trim_end_matches('\0')
                        .to_string()
                })
                .ok_or_else(|| ApplyError::Snapshot("set elements without a set".into()))?;
            elems.entry(set).or_default().push(m);
        } else if ty == MsgType::NewRule.raw() {
            parts.rules.push(m.clone());
        } else {
            parts.foreign.push(format!("a message of type {ty:#x}"));
        }
    }
    for raw in &sets {
        let e = elems.remove(&raw.name).unwrap_or_default();
        parts.sets.push(set(raw, &e)?);
    }
    decode(table, parts).map(Some)
}

/// Our table's dump messages, grouped for decoding.
#[derive(Default)]
struct Parts {
    flags: u32,
    /// What the dumps found that the policy never makes.
    foreign: Vec<String>,
    /// Each set decoded, or why the policy could not have made it.
    sets: Vec<Result<LiveSet, String>>,
    chains: Vec<Vec<u8>>,
    rules: Vec<Vec<u8>>,
}

fn decode(table: &str, parts: Parts) -> Result<LiveTable, ApplyError> {
    let mut live = LiveTable {
        foreign: parts.foreign,
        ..LiveTable::default()
    };
    if parts.flags & DORMANT != 0 {
        live.foreign.push("the dormant flag".into());
    }
    let mut keys = HashMap::new();
    for decoded in parts.sets {
        match decoded {
            Ok(s) => {
                keys.insert(s.name.clone(), s.key);
                live.sets.push(s);
            }
            Err(why) => live.foreign.push(why),
        }
    }
    chains(table, &parts.chains, &mut live)?;
    rules(&parts.rules, &keys, &mut live)?;
    Ok(live)
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

/// A set's key when it is of a kind hostwall makes: a plain or interval set, or a
/// per-source limit's dynamic set (`dynamic`).
fn supported(raw: &RawSet) -> Option<SetKey> {
    unsupported(raw)
        .is_none()
        .then(|| set_key_of(raw.key_type))
        .flatten()
}

/// Exactly the dynamic set a `per source` limit makes: `flags dynamic,timeout`, size
/// `DYNAMIC_SET_SIZE`, a timeout, no per-set expressions, no data.
fn dynamic(raw: &RawSet) -> bool {
    raw.flags == SET_TIMEOUT | SET_EVAL
        && raw.timeout_ms.is_some()
        && raw.size == Some(DYNAMIC_SET_SIZE)
        && !raw.set_exprs
        && raw.data_type.is_none()
}

/// Why the policy could not have made `raw`, in words; `None` when it could have.
fn unsupported(raw: &RawSet) -> Option<String> {
    let key_ok = set_key_of(raw.key_type).is_some_and(|k| k.len() == raw.key_len as usize);
    let what = if raw.flags & SET_MAP != 0 || raw.data_type.is_some() {
        "a map"
    } else if raw.flags & (SET_ANONYMOUS | SET_CONSTANT) != 0 {
        "an anonymous or constant set"
    } else if !key_ok {
        "a set of a key type hostwall never uses"
    } else if raw.set_exprs {
        "a set with per-element expressions"
    } else if raw.flags & (SET_TIMEOUT | SET_EVAL) != 0 || raw.timeout_ms.is_some() {
        if dynamic(raw) {
            return None;
        }
        "a dynamic or timeout set of flags, size or timeout hostwall never makes"
    } else if raw.flags & !SET_INTERVAL != 0 || raw.stateful {
        "a set of flags hostwall never uses"
    } else {
        return None;
    };
    Some(format!("set {} ({what})", raw.name))
}

/// One set with its exact elements (from its element dump messages), or why the
/// policy could not have made it. A dynamic set's elements are sources the kernel
/// learned: never read.
fn set<M: AsRef<[u8]>>(raw: &RawSet, msgs: &[M]) -> Result<Result<LiveSet, String>, ApplyError> {
    if let Some(why) = unsupported(raw) {
        return Ok(Err(why));
    }
    let Some(key) = supported(raw) else {
        return Ok(Err(format!("set {} (of an unknown key type)", raw.name)));
    };
    let comment = raw.userdata.as_deref().and_then(set_comment);
    if dynamic(raw) {
        return Ok(Ok(LiveSet {
            name: raw.name.clone(),
            key,
            interval: false,
            comment,
            timeout_ms: raw.timeout_ms,
            elements: Packed::default(),
        }));
    }
    let mut elems = Vec::new();
    for m in msgs {
        read::parse_elems(m.as_ref(), &mut elems).map_err(parse)?;
    }
    let interval = raw.flags & SET_INTERVAL != 0;
    let Some(elements) = exact_elements(key, interval, &elems) else {
        return Ok(Err(format!(
            "set {} with elements hostwall never writes (data, key ends or unpaired ends)",
            raw.name
        )));
    };
    Ok(Ok(LiveSet {
        name: raw.name.clone(),
        key,
        interval,
        comment,
        timeout_ms: None,
        elements: Packed::from(elements),
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

fn chains(table: &str, msgs: &[Vec<u8>], live: &mut LiveTable) -> Result<(), ApplyError> {
    for m in msgs {
        let c = read::parse_chain(m).map_err(parse)?;
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
    msgs: &[Vec<u8>],
    keys: &HashMap<String, SetKey>,
    live: &mut LiveTable,
) -> Result<(), ApplyError> {
    for m in msgs {
        let raw = read::parse_rule(m).map_err(parse)?;
        let handle = (m.get(20..))
            .and_then(|a| attr(a, NFTA_RULE_HANDLE))
            .and_then(|h| h.get(..8)?.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| ApplyError::Snapshot("a rule without a handle".into()))?;
        let rule = super::delta::rule_text(&crate::live::decode_rule(&raw, keys));
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
            key: v.to_be_bytes()[16 - len..].into(),
            key_end: None,
            flags: if end { SET_ELEM_INTERVAL_END } else { 0 },
            extra: false,
            verdict: None,
        }
    }

    fn raw_set(flags: u32, timeout_ms: Option<u64>, size: Option<u32>) -> RawSet {
        RawSet {
            family: 1,
            table: "hostwall".into(),
            name: "s".into(),
            flags,
            key_type: crate::nft::vocab::DataType::from(SetKey::Ipv4Addr).raw(),
            key_len: 4,
            data_type: None,
            stateful: timeout_ms.is_some(),
            timeout_ms,
            size,
            set_exprs: false,
            userdata: None,
        }
    }

    /// A per-source limit's dynamic set is ours (no reason, no elements read); every
    /// other kind of set is named for what it is (issue #14: a dynamic set was called
    /// "a map, or of a type or flags hostwall never uses").
    #[test]
    fn a_dynamic_set_is_ours_and_others_are_named_for_what_they_are_issue14() {
        let dynamic = raw_set(SET_TIMEOUT | SET_EVAL, Some(20_000), Some(DYNAMIC_SET_SIZE));
        assert_eq!(unsupported(&dynamic), None);
        let live = set::<Vec<u8>>(&dynamic, &[])
            .expect("parses")
            .expect("ours");
        assert_eq!((live.timeout_ms, live.elements.len()), (Some(20_000), 0));
        assert_eq!(unsupported(&raw_set(SET_INTERVAL, None, None)), None);
        let why = |r: &RawSet| unsupported(r).unwrap_or_default();
        let mut map = raw_set(SET_MAP, None, None);
        map.data_type = Some(0xffff_ff00);
        assert_eq!(why(&map), "set s (a map)");
        let small = raw_set(SET_TIMEOUT | SET_EVAL, Some(20_000), Some(10));
        assert!(why(&small).contains("dynamic or timeout set of flags, size or timeout"));
        let no_eval = raw_set(SET_TIMEOUT, Some(20_000), Some(DYNAMIC_SET_SIZE));
        assert!(why(&no_eval).contains("dynamic or timeout set"));
        let mut exprs = dynamic.clone();
        exprs.set_exprs = true;
        assert!(why(&exprs).contains("per-element expressions"));
        assert!(why(&raw_set(SET_CONSTANT, None, None)).contains("anonymous or constant"));
        let mut key = raw_set(0, None, None);
        key.key_len = 6;
        assert!(why(&key).contains("key type"));
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
        with_end.key_end = Some(vec![0, 9].into());
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
