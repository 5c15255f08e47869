//! The sources a `limit ... per source` has learned: for each dynamic set of our table
//! (exactly the kind the compiler makes), the addresses it holds an entry (a bucket) for
//! and how many it can hold, read at one generation. These are the kernel's state, never
//! policy: `diff` ignores them; this read is for people and tests that ask what is there.

use super::dump::{Conn, NFPROTO_INET};
use super::{LiveError, normalize};
use crate::ir::SetKey;
use crate::nft::client::Client;
use crate::nft::read::{RawElem, RawSet};
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

/// The dynamic sets of our `inet` table `table` with their sources, by set name; empty
/// when the table is not there.
pub fn read(table: &str, netns: Option<&str>) -> Result<Vec<Learned>, LiveError> {
    crate::netns::run_named(netns, || {
        let mut client = Client::open()?;
        for _ in 0..ATTEMPTS {
            let before = client.genid()?;
            let read = read_once(
                &mut Conn {
                    client: &mut client,
                },
                table,
            )?;
            if client.genid()? == before {
                return Ok(read);
            }
        }
        Err(LiveError::Inconsistent(ATTEMPTS))
    })?
}

fn read_once(conn: &mut Conn, table: &str) -> Result<Vec<Learned>, LiveError> {
    let sets = match conn.sets(NFPROTO_INET, table) {
        Ok(s) => s,
        Err(LiveError::Kernel { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for raw in sets.iter().filter(|s| normalize::is_dynamic(s)) {
        let elems = conn.elements(NFPROTO_INET, table, &raw.name)?;
        out.push(learned(raw, &elems));
    }
    out.sort_by(|a, b| a.set.cmp(&b.set));
    Ok(out)
}

/// A set's entries as addresses: keys of the set's address length, others left out.
fn learned(raw: &RawSet, elems: &[RawElem]) -> Learned {
    let key = normalize::set_key(raw.key_type, raw.key_len);
    let mut sources: Vec<IpAddr> = elems
        .iter()
        .filter_map(|e| match key? {
            SetKey::Ipv4Addr => <[u8; 4]>::try_from(e.key.as_slice())
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            SetKey::Ipv6Addr => <[u8; 16]>::try_from(e.key.as_slice())
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
            key: key.to_vec(),
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
}
