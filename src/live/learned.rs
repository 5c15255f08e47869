//! The sources a `limit ... per source` has learned: for each dynamic set of our table
//! (exactly the kind the compiler makes), the addresses it holds an entry (a bucket) for
//! and how many it can hold, read at one generation. These are the kernel's state, never
//! policy: `diff` ignores them; this read is for people and tests that ask what is there.
//! [`fill`] only counts each set's entries (no address is decoded), for monitoring.

use super::dump::{Conn, NFPROTO_INET};
use super::{LiveError, normalize};
use crate::ir::SetKey;
use crate::nft::client::Client;
use crate::nft::msg::attr;
use crate::nft::read::{RawElem, RawSet};
use crate::nft::vocab::NFTA_LIST_ELEM;
use crate::nft::wire::{MsgType, Writer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Reads retried when a commit lands between the dumps, before giving up.
const ATTEMPTS: u32 = 5;

/// One dynamic set and the sources it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learned {
    pub set: String,
    /// The most entries the set takes (a full set fails closed for new sources).
    pub size: u32,
    /// Its entries' addresses, sorted (expired entries the kernel has not yet collected
    /// are not dumped).
    pub sources: Vec<IpAddr>,
}

/// How full one dynamic set is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fill {
    pub set: String,
    /// `ipv4` or `ipv6` for a set of source addresses, `other` for another key.
    pub family: &'static str,
    /// The most entries the set takes.
    pub size: u32,
    /// The entries the kernel dumps (expired entries it has not yet collected are left
    /// out, though they still take room until its garbage collection runs).
    pub entries: u64,
}

/// The dynamic sets of our `inet` table `table` with their sources, by set name; empty
/// when the table is not there.
pub fn read(table: &str, netns: Option<&str>) -> Result<Vec<Learned>, LiveError> {
    at_one_generation(netns, |conn| {
        dynamic_sets(conn, table, |conn, raw| {
            let elems = conn.elements(NFPROTO_INET, table, &raw.name)?;
            Ok(learned(raw, &elems))
        })
    })
}

/// How full each dynamic set of `table` is, by set name: its entries counted in the
/// dump's messages, never decoded (a full set of 65535 costs the kernel's dump only).
/// Empty when the table is not there.
pub fn fill(table: &str, netns: Option<&str>) -> Result<Vec<Fill>, LiveError> {
    at_one_generation(netns, |conn| {
        dynamic_sets(conn, table, |conn, raw| {
            Ok(Fill {
                set: raw.name.clone(),
                family: match normalize::set_key(raw.key_type, raw.key_len) {
                    Some(SetKey::Ipv4Addr) => "ipv4",
                    Some(SetKey::Ipv6Addr) => "ipv6",
                    _ => "other",
                },
                size: raw.size.unwrap_or(0),
                entries: count(conn, table, &raw.name)?,
            })
        })
    })
}

/// `read` on one client, again while a commit landed between its dumps.
fn at_one_generation<T: Send>(
    netns: Option<&str>,
    read: impl Fn(&mut Conn) -> Result<T, LiveError> + Send + Sync,
) -> Result<T, LiveError> {
    crate::netns::run_named(netns, || {
        let mut client = Client::open()?;
        for _ in 0..ATTEMPTS {
            let before = client.genid()?;
            let got = read(&mut Conn {
                client: &mut client,
            })?;
            if client.genid()? == before {
                return Ok(got);
            }
        }
        Err(LiveError::Inconsistent(ATTEMPTS))
    })?
}

/// `each` of the table's dynamic sets, sorted by set name.
fn dynamic_sets<T>(
    conn: &mut Conn,
    table: &str,
    mut each: impl FnMut(&mut Conn, &RawSet) -> Result<T, LiveError>,
) -> Result<Vec<T>, LiveError> {
    let mut sets = match conn.sets(NFPROTO_INET, table) {
        Ok(s) => s,
        Err(LiveError::Kernel { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    sets.retain(normalize::is_dynamic);
    sets.sort_by(|a, b| a.name.cmp(&b.name));
    sets.iter().map(|raw| each(conn, raw)).collect()
}

/// The entries of one set, counted in its element dump without decoding them.
fn count(conn: &mut Conn, table: &str, set: &str) -> Result<u64, LiveError> {
    let mut w = Writer::default();
    let seq = conn.client.next_seq();
    w.dump_request(
        MsgType::GetSetElem,
        NFPROTO_INET,
        seq,
        Some(table),
        Some(set),
    );
    let mut n = 0u64;
    let done: Result<(), std::convert::Infallible> =
        conn.client.talk("set element", &w.buf, |m| {
            n += entries_in(m);
            Ok(())
        })?;
    let Ok(()) = done;
    Ok(n)
}

/// `NFTA_SET_ELEM_LIST_ELEMENTS`: the nest of an element message's entries.
const ELEMENTS: u16 = 3;

/// The entries of one NFT_MSG_NEWSETELEM message: the `NFTA_LIST_ELEM`s of its element
/// list (a malformed length ends the count).
fn entries_in(msg: &[u8]) -> u64 {
    let Some(mut list) = msg.get(20..).and_then(|a| attr(a, ELEMENTS)) else {
        return 0;
    };
    let mut n = 0;
    while list.len() >= 4 {
        let len = u16::from_ne_bytes([list[0], list[1]]) as usize;
        let ty = u16::from_ne_bytes([list[2], list[3]]) & 0x3fff;
        if len < 4 || len > list.len() {
            break;
        }
        n += u64::from(ty == NFTA_LIST_ELEM);
        list = &list[((len + 3) & !3).min(list.len())..];
    }
    n
}

/// A set's entries as addresses: keys of the set's address length, others left out.
fn learned(raw: &RawSet, elems: &[RawElem]) -> Learned {
    let key = normalize::set_key(raw.key_type, raw.key_len);
    let mut sources: Vec<IpAddr> = elems
        .iter()
        .filter_map(|e| match key? {
            SetKey::Ipv4Addr => <[u8; 4]>::try_from(&e.key[..])
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            SetKey::Ipv6Addr => <[u8; 16]>::try_from(&e.key[..])
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        })
        .collect();
    sources.sort();
    Learned {
        set: raw.name.clone(),
        size: raw.size.unwrap_or(0),
        sources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::vocab::{DataType, SET_EVAL, SET_TIMEOUT};

    fn raw(name: &str, key: SetKey) -> RawSet {
        RawSet {
            family: 1,
            table: "hostwall".into(),
            name: name.into(),
            flags: SET_TIMEOUT | SET_EVAL,
            key_type: DataType::from(key).raw(),
            key_len: key.len() as u32,
            data_type: None,
            stateful: true,
            timeout_ms: Some(1000),
            size: Some(crate::ir::DYNAMIC_SET_SIZE),
            set_exprs: false,
            userdata: None,
        }
    }

    fn elem(key: &[u8]) -> RawElem {
        RawElem {
            key: key.into(),
            key_end: None,
            flags: 0,
            extra: true,
            verdict: None,
        }
    }

    #[test]
    fn entries_read_as_sorted_addresses_of_the_sets_family() {
        let v6 = Ipv6Addr::new(0xfd00, 0x81, 1, 0, 0, 0, 0, 2);
        let got = learned(
            &raw("allow_limit6", SetKey::Ipv6Addr),
            &[elem(&v6.octets()), elem(&Ipv6Addr::LOCALHOST.octets())],
        );
        assert_eq!(got.set, "allow_limit6");
        assert_eq!(got.size, 65535);
        assert_eq!(got.sources, [IpAddr::from(Ipv6Addr::LOCALHOST), v6.into()]);
        let v4 = learned(
            &raw("allow_limit4", SetKey::Ipv4Addr),
            &[
                elem(&[198, 18, 82, 2]),
                elem(&[198, 18, 81, 2]),
                elem(&[1, 2]),
            ],
        );
        let want: [IpAddr; 2] = [[198, 18, 81, 2].into(), [198, 18, 82, 2].into()];
        assert_eq!(v4.sources, want, "a key of another length is no address");
    }

    /// A netlink attribute: length, type, payload, padding.
    fn nla(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        a.extend(ty.to_ne_bytes());
        a.extend(payload);
        a.resize((a.len() + 3) & !3, 0);
        a
    }

    #[test]
    fn entries_are_counted_from_the_element_list_alone() {
        const NESTED: u16 = 0x8000;
        let key = nla(NESTED | 1, &nla(1, &[198, 18, 0, 2]));
        let entry = nla(NESTED | NFTA_LIST_ELEM, &nla(NESTED | 1, &key));
        let list: Vec<u8> = [entry.clone(), entry.clone(), entry].concat();
        let mut msg = vec![0u8; 20];
        msg.extend(nla(1, b"hostwall\0"));
        msg.extend(nla(2, b"allow_limit4\0"));
        msg.extend(nla(NESTED | ELEMENTS, &list));
        assert_eq!(entries_in(&msg), 3);
        // A message without a list, and a list cut short, never read past the end.
        assert_eq!(entries_in(&msg[..40]), 0);
        assert_eq!(entries_in(&msg[..msg.len() - 4]), 0);
        assert_eq!(entries_in(&[]), 0);
    }
}
