//! Kernel set state -> `ir::Set`: keys are big-endian bytes; interval sets come as
//! start elements and end elements (end = last + 1, flagged `NFT_SET_ELEM_INTERVAL_END`,
//! possibly a leading end at 0, in the kernel's order, which is descending), or as
//! key/key-end pairs. The result is inclusive, sorted, merged intervals, the form the
//! compiler keeps, so a table nft merged differently still compares equal.

use super::expr_read;
use crate::ir::{self, Interval, SetKey};
use crate::nft::read::{RawElem, RawSet};
use crate::nft::vocab::{
    SET_ANONYMOUS, SET_CONSTANT, SET_ELEM_INTERVAL_END, SET_EVAL, SET_INTERVAL, SET_TIMEOUT,
    UDATA_SET_COMMENT,
};

/// The IR key of a set's nft datatype id, when its length is the key's.
pub fn set_key(key_type: u32, key_len: u32) -> Option<SetKey> {
    let k = ir::kernel::set_key_of(key_type)?;
    (k.len() == key_len as usize).then_some(k)
}

/// Why a set of our table has no IR form.
pub fn unsupported(raw: &RawSet) -> Option<String> {
    if set_key(raw.key_type, raw.key_len).is_none() {
        return Some(format!(
            "set {}: key type {} (length {}) is not one hostwall uses",
            raw.name, raw.key_type, raw.key_len
        ));
    }
    if is_dynamic(raw) {
        return None;
    }
    if raw.flags & !SET_INTERVAL != 0 || raw.stateful {
        return Some(format!(
            "set {}: flags {:#x}{} (a map, constant, dynamic or timeout set)",
            raw.name,
            raw.flags,
            if raw.stateful {
                " with timeout or expressions"
            } else {
                ""
            }
        ));
    }
    None
}

/// Exactly the dynamic set hostwall creates for a `per source` limit: `flags
/// dynamic,timeout`, its size, a timeout, no per-set expressions.
pub fn is_dynamic(raw: &RawSet) -> bool {
    raw.flags == SET_TIMEOUT | SET_EVAL
        && raw.timeout_ms.is_some()
        && raw.size == Some(ir::DYNAMIC_SET_SIZE)
        && !raw.set_exprs
}

/// Another table's set as an IR set, when its key is one the IR has: anonymous, constant,
/// interval and dynamic sets alike (their elements as read). `None` for maps, object or
/// concatenated sets and other keys.
pub fn foreign_set(raw: &RawSet, elems: &[RawElem]) -> Option<ir::Set> {
    const PLAIN: u32 = SET_ANONYMOUS | SET_CONSTANT | SET_INTERVAL | SET_TIMEOUT | SET_EVAL;
    let key = set_key(raw.key_type, raw.key_len)?;
    if raw.flags & !PLAIN != 0 || elems.iter().any(|e| e.verdict.is_some()) {
        return None;
    }
    let interval = raw.flags & SET_INTERVAL != 0;
    let elements = elements(key, interval, elems)?;
    Some(ir::Set {
        name: raw.name.clone(),
        key,
        interval,
        elements: elements.into(),
        comment: None,
        timeout_ms: None,
        origin: Vec::new(),
    })
}

/// The IR set, or why it has none.
pub fn set(raw: &RawSet, elems: &[RawElem]) -> Result<ir::Set, String> {
    if let Some(why) = unsupported(raw) {
        return Err(why);
    }
    let key = set_key(raw.key_type, raw.key_len).ok_or_else(|| raw.name.clone())?;
    // A dynamic set's entries are the kernel's per-source state, not policy.
    let elems = if is_dynamic(raw) { &[] } else { elems };
    if elems.iter().any(|e| e.extra) {
        return Err(format!("set {}: elements carry data or state", raw.name));
    }
    let interval = raw.flags & SET_INTERVAL != 0;
    let elements = elements(key, interval, elems)
        .ok_or_else(|| format!("set {}: malformed element keys", raw.name))?;
    Ok(ir::Set {
        name: raw.name.clone(),
        key,
        interval,
        elements: elements.into(),
        comment: raw.userdata.as_deref().and_then(|u| {
            expr_read::tlv(u, UDATA_SET_COMMENT)
                .map(|v| String::from_utf8_lossy(v.strip_suffix(&[0]).unwrap_or(v)).into_owned())
        }),
        timeout_ms: raw.timeout_ms,
        origin: Vec::new(),
    })
}

/// The elements as the IR's sorted, merged intervals; `None` for a malformed key.
fn elements(key: SetKey, interval: bool, elems: &[RawElem]) -> Option<Vec<Interval>> {
    let mut out = if interval {
        intervals(key, elems)?
    } else {
        elems
            .iter()
            .map(|e| expr_read::key_value(&e.key).map(Interval::single))
            .collect::<Option<Vec<_>>>()?
    };
    ir::normalize_intervals(&mut out);
    Some(out)
}

/// Start/end elements -> inclusive intervals. Ends sort before starts at the same key
/// (adjacent ranges the kernel kept apart); an end with nothing open (the leading 0)
/// is skipped; a start left open runs to the key's maximum (nft writes no end there).
pub fn intervals(key: SetKey, elems: &[RawElem]) -> Option<Vec<Interval>> {
    let mut out = Vec::new();
    let mut points: Vec<(u128, bool)> = Vec::with_capacity(elems.len());
    for e in elems {
        let k = expr_read::key_value(&e.key)?;
        if e.key.len() != key.len() {
            return None;
        }
        match &e.key_end {
            Some(end) => out.push(Interval {
                lo: k,
                hi: expr_read::key_value(end)?,
            }),
            None => points.push((k, e.flags & SET_ELEM_INTERVAL_END == 0)),
        }
    }
    points.sort_unstable();
    let mut open: Option<u128> = None;
    for (k, start) in points {
        match (start, open) {
            (true, Some(lo)) if k > lo => {
                // Two starts in a row: the first range ended just before this one.
                out.push(Interval { lo, hi: k - 1 });
                open = Some(k);
            }
            (true, Some(_)) => {}
            (true, None) => open = Some(k),
            (false, Some(lo)) if k > lo => {
                out.push(Interval { lo, hi: k - 1 });
                open = None;
            }
            (false, _) => {}
        }
    }
    if let Some(lo) = open {
        out.push(Interval { lo, hi: key.max() });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(key: &[u8], end: bool) -> RawElem {
        RawElem {
            key: key.into(),
            key_end: None,
            flags: if end { SET_ELEM_INTERVAL_END } else { 0 },
            extra: false,
            verdict: None,
        }
    }

    #[test]
    fn kernel_order_intervals_with_leading_end_and_open_top() {
        // As the kernel dumps `{ 1-2, 3-4, 65535 }` (descending; leading end at 0).
        let elems = vec![
            el(&[0xff, 0xff], false),
            el(&[0, 5], true),
            el(&[0, 3], false),
            el(&[0, 3], true),
            el(&[0, 1], false),
            el(&[0, 0], true),
        ];
        let got = intervals(SetKey::InetService, &elems).unwrap();
        let mut n = got.clone();
        ir::normalize_intervals(&mut n);
        assert_eq!(
            got,
            vec![
                Interval { lo: 1, hi: 2 },
                Interval { lo: 3, hi: 4 },
                Interval::single(65535)
            ]
        );
        assert_eq!(n, vec![Interval { lo: 1, hi: 4 }, Interval::single(65535)]);
    }

    #[test]
    fn ipv4_prefix_elements() {
        // 10.0.0.0/8 and 0.0.0.0/8: start 0, end 1.0.0.0, start 10.0.0.0, end 11.0.0.0.
        let elems = vec![
            el(&[11, 0, 0, 0], true),
            el(&[10, 0, 0, 0], false),
            el(&[1, 0, 0, 0], true),
            el(&[0, 0, 0, 0], false),
        ];
        assert_eq!(
            intervals(SetKey::Ipv4Addr, &elems).unwrap(),
            vec![
                Interval {
                    lo: 0,
                    hi: 0x00ff_ffff
                },
                Interval {
                    lo: 0x0a00_0000,
                    hi: 0x0aff_ffff
                }
            ]
        );
    }

    #[test]
    fn key_end_pairs_and_wrong_lengths() {
        let mut e = el(&[0, 10], false);
        e.key_end = Some(vec![0, 20].into());
        assert_eq!(
            intervals(SetKey::InetService, &[e]).unwrap(),
            vec![Interval { lo: 10, hi: 20 }]
        );
        assert!(intervals(SetKey::Ipv4Addr, &[el(&[0, 1], false)]).is_none());
    }

    #[test]
    fn datatype_ids() {
        assert_eq!(set_key(7, 4), Some(SetKey::Ipv4Addr));
        assert_eq!(set_key(29, 1), Some(SetKey::Icmpv6Type));
        assert_eq!(set_key(7, 16), None);
        assert_eq!(set_key(9, 6), None);
    }
}
