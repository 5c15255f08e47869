//! Set element dump messages read in safe Rust: the elements of a large set are most of
//! what a dump of our table holds, and libnftnl spends several allocations on each
//! (100,000 addresses: about a quarter of the read). Every attribute is read as
//! libnftnl reads it ([`crate::nft::read::parse_elems`] falls back to libnftnl for a
//! message this reader does not take, so its errors stay libnftnl's).

use super::msg::attrs;
use super::read::RawElem;

/// A set element's key or key end as the kernel sent it, up to 16 bytes (every key
/// hostwall writes: addresses, ports, ICMP types) held in place, a longer one (another
/// table's concatenation) on the heap: a large set's dump allocates nothing an element.
#[derive(Clone)]
pub struct ElemKey(Held);

#[derive(Clone)]
enum Held {
    Inline(u8, [u8; 16]),
    Heap(Vec<u8>),
}

impl std::ops::Deref for ElemKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Held::Inline(len, b) => &b[..usize::from(*len)],
            Held::Heap(v) => v,
        }
    }
}

impl From<&[u8]> for ElemKey {
    fn from(b: &[u8]) -> ElemKey {
        match b.len() {
            n @ 0..=16 => {
                let mut a = [0; 16];
                a[..n].copy_from_slice(b);
                ElemKey(Held::Inline(n as u8, a))
            }
            _ => ElemKey(Held::Heap(b.to_vec())),
        }
    }
}

impl From<Vec<u8>> for ElemKey {
    fn from(v: Vec<u8>) -> ElemKey {
        ElemKey::from(v.as_slice())
    }
}

impl Default for ElemKey {
    fn default() -> ElemKey {
        ElemKey::from(&[][..])
    }
}

/// Equal when the bytes are, however each is held.
impl PartialEq for ElemKey {
    fn eq(&self, other: &ElemKey) -> bool {
        **self == **other
    }
}

impl Eq for ElemKey {}

impl std::fmt::Debug for ElemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// `NFTA_SET_ELEM_LIST_TABLE`, `_SET`, `_ELEMENTS`; `NFTA_LIST_ELEM`.
const TABLE: u16 = 1;
const SET: u16 = 2;
const LIST_ELEMENTS: u16 = 3;
const LIST_ELEM: u16 = 1;
/// `NFTA_SET_ELEM_*`.
const KEY: u16 = 1;
const DATA: u16 = 2;
const FLAGS: u16 = 3;
const TIMEOUT: u16 = 4;
const EXPIRATION: u16 = 5;
const USERDATA: u16 = 6;
const PAD: u16 = 8;
const KEY_END: u16 = 10;
/// `NFTA_DATA_VALUE`, `NFTA_DATA_VERDICT`; `NFTA_VERDICT_CODE`, `NFTA_VERDICT_CHAIN`.
const DATA_VALUE: u16 = 1;
const DATA_VERDICT: u16 = 2;
const VERDICT_CODE: u16 = 1;
const VERDICT_CHAIN: u16 = 2;

/// The elements of one set element message, appended to `out`; `None` (and `out` as it
/// was) for a message this reader does not take: malformed, or with an attribute in a
/// form libnftnl might read otherwise.
pub(super) fn parse(msg: &[u8], out: &mut Vec<RawElem>) -> Option<()> {
    let len = u32::from_ne_bytes(msg.get(..4)?.try_into().ok()?) as usize;
    let body = msg.get(20..len)?;
    let start = out.len();
    let parsed = (|| {
        for (ty, a) in attrs(body) {
            match ty? {
                // The table's and the set's names: strings, never empty.
                TABLE | SET if a.is_empty() => return None,
                LIST_ELEMENTS => {
                    for (ty, elem) in attrs(a) {
                        if ty? != LIST_ELEM {
                            return None;
                        }
                        out.push(element(elem)?);
                    }
                }
                TABLE | SET => {}
                _ => return None,
            }
        }
        Some(())
    })();
    if parsed.is_none() {
        out.truncate(start);
    }
    parsed
}

fn element(buf: &[u8]) -> Option<RawElem> {
    let mut e = RawElem {
        key: ElemKey::default(),
        key_end: None,
        flags: 0,
        extra: false,
        verdict: None,
    };
    for (ty, a) in attrs(buf) {
        match ty? {
            KEY => e.key = value(a)?,
            KEY_END => e.key_end = Some(value(a)?),
            FLAGS => e.flags = u32::from_be_bytes(a.try_into().ok()?),
            DATA => {
                e.extra = true;
                e.verdict = data_verdict(a)?;
            }
            TIMEOUT if a.len() == 8 => e.extra = true,
            EXPIRATION if a.len() == 8 => {}
            // The rest (expressions 7 and 11, an object reference 9, a timeout of
            // another length) is read as libnftnl reads it: only it does, and it may
            // refuse it.
            USERDATA | PAD => {}
            _ => return None,
        }
    }
    Some(e)
}

/// `NFTA_DATA_VALUE` inside a nest (at most `NFT_DATA_VALUE_MAXLEN`, 64 bytes).
fn value(nest: &[u8]) -> Option<ElemKey> {
    let mut out = None;
    for (ty, a) in attrs(nest) {
        match ty? {
            DATA_VALUE if a.len() <= 64 => out = Some(ElemKey::from(a)),
            _ => return None,
        }
    }
    out
}

/// An element's data: `Some(verdict)` for a verdict, `None` inside for a value.
fn data_verdict(nest: &[u8]) -> Option<Option<(i32, Option<String>)>> {
    let mut verdict = None;
    for (ty, a) in attrs(nest) {
        match ty? {
            DATA_VALUE => {}
            DATA_VERDICT => {
                let (mut code, mut chain) = (None, None);
                for (ty, v) in attrs(a) {
                    match ty? {
                        VERDICT_CODE => code = Some(i32::from_be_bytes(v.try_into().ok()?)),
                        VERDICT_CHAIN => {
                            let name = v.split(|&b| b == 0).next().unwrap_or(v);
                            chain = Some(String::from_utf8_lossy(name).into_owned());
                        }
                        _ => return None,
                    }
                }
                verdict = Some((code?, chain));
            }
            _ => return None,
        }
    }
    Some(verdict)
}

#[cfg(test)]
#[path = "elems_tests.rs"]
mod tests;
