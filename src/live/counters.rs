//! The packet and byte counts of our table's rules, for `hostwall metrics`: one rule
//! dump and one set list (no elements: only the keys lookups decode by) of our table,
//! at one generation. No other table is read.

use super::dump::{Conn, NFPROTO_INET};
use super::expr_read::E;
use super::{LiveError, decode, normalize};
use crate::ir::{self, SetKey};
use crate::nft::client::Client;
use crate::nft::expr_attr;
use crate::nft::read::RawRule;
use std::collections::HashMap;

/// Reads retried when a commit lands between the dumps, before giving up.
const ATTEMPTS: u32 = 5;

/// One rule of our table that holds a `counter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub chain: String,
    /// 0-based position in its chain.
    pub index: usize,
    /// The rule decoded into the IR (no origin: the kernel does not know policy lines).
    pub rule: ir::Rule,
    pub packets: u64,
    pub bytes: u64,
}

/// Our table's counted rules at one generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    pub genid: u32,
    /// `false`: the table is not there (nothing is counted).
    pub table_present: bool,
    pub rules: Vec<Counted>,
}

/// The counted rules of our `inet` table `table`, in chain order.
pub fn read(table: &str, netns: Option<&str>) -> Result<Counters, LiveError> {
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
                return Ok(match read {
                    Some(rules) => Counters {
                        genid: before,
                        table_present: true,
                        rules,
                    },
                    None => Counters {
                        genid: before,
                        table_present: false,
                        rules: Vec::new(),
                    },
                });
            }
        }
        Err(LiveError::Inconsistent(ATTEMPTS))
    })?
}

/// `None` when the table does not exist.
fn read_once(conn: &mut Conn, table: &str) -> Result<Option<Vec<Counted>>, LiveError> {
    let sets = match conn.sets(NFPROTO_INET, table) {
        Ok(s) => s,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let keys: HashMap<String, SetKey> = sets
        .iter()
        .filter(|s| s.flags & crate::nft::vocab::SET_ANONYMOUS == 0)
        .filter(|s| normalize::unsupported(s).is_none())
        .filter_map(|s| Some((s.name.clone(), normalize::set_key(s.key_type, s.key_len)?)))
        .collect();
    let rules = match conn.rules(NFPROTO_INET, table) {
        Ok(r) => r,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(counted(&rules, &keys)))
}

/// The rules holding a counter, decoded, with their counts (the first counter's).
fn counted(rules: &[RawRule], keys: &HashMap<String, SetKey>) -> Vec<Counted> {
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for raw in rules {
        let slot = at.entry(raw.chain.as_str()).or_default();
        let index = *slot;
        *slot += 1;
        let Some(c) = raw.exprs.iter().map(E).find(|e| e.is("counter")) else {
            continue;
        };
        out.push(Counted {
            chain: raw.chain.clone(),
            index,
            rule: decode::rule(raw, keys),
            packets: c.num(expr_attr::CTR_PACKETS).unwrap_or(0),
            bytes: c.num(expr_attr::CTR_BYTES).unwrap_or(0),
        });
    }
    out
}

/// The kernel's answer to a dump filtered by a table that does not exist.
fn is_absent(e: &LiveError) -> bool {
    matches!(e, LiveError::Kernel { source, .. } if source.raw_os_error() == Some(libc::ENOENT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::test_exprs::*;

    fn raw(chain: &str, exprs: Vec<crate::nft::read::RawExpr>) -> RawRule {
        RawRule {
            family: 1,
            table: "hostwall".into(),
            chain: chain.into(),
            exprs,
            userdata: None,
        }
    }

    #[test]
    fn counts_are_read_per_rule_with_their_place_in_the_chain() {
        let ctr = |p: u64, b: u64| {
            ex(
                "counter",
                &[
                    (expr_attr::CTR_PACKETS, &p.to_ne_bytes()),
                    (expr_attr::CTR_BYTES, &b.to_ne_bytes()),
                ],
                "[ counter ]",
            )
        };
        let rules = [
            raw("input", vec![verdict(1, None)]),
            raw("input", vec![ctr(3, 180), verdict(1, None)]),
            raw("forward", vec![ctr(7, 9000), verdict(1, None)]),
            raw("input", vec![ctr(u64::MAX, 1), verdict(1, None)]),
        ];
        let got = counted(&rules, &HashMap::new());
        let seen: Vec<_> = got
            .iter()
            .map(|c| (c.chain.as_str(), c.index, c.packets, c.bytes))
            .collect();
        assert_eq!(
            seen,
            [
                ("input", 1, 3, 180),
                ("forward", 0, 7, 9000),
                ("input", 2, u64::MAX, 1)
            ]
        );
        assert_eq!(got[0].rule.stmts, [ir::Stmt::Counter]);
    }
}
