//! Whether our table is the only one in the namespace, at one generation: then no other
//! table can defeat or refuse the policy's traffic, so an apply's warnings about other
//! tables are empty at that generation without reading any table's contents (one dump
//! of table headers, O(tables)).

use super::{ApplyError, in_netns};
use crate::nft::client::Client;
use crate::nft::msg::attr;
use crate::nft::wire::{MsgType, NFPROTO_INET, NFPROTO_UNSPEC, Writer};

/// `NFTA_TABLE_NAME`.
const NFTA_TABLE_NAME: u16 = 1;

/// `Some(generation)` when, at that generation, the only table in the namespace
/// `netns` names (or this one) is `inet table` (or there is none at all); `None` when
/// another table exists or the ruleset moved while the tables were listed.
pub fn alone(table: &str, netns: Option<&str>) -> Result<Option<u32>, ApplyError> {
    in_netns(netns, || {
        let mut nl = Client::open()?;
        let before = nl.genid()?;
        let mut w = Writer::default();
        let seq = nl.next_seq();
        w.dump_request(MsgType::GetTable, NFPROTO_UNSPEC, seq, None, None);
        let tables = nl.collect("the list of tables", &w.buf)?;
        let only_ours = tables.iter().all(|m| is_ours(m, table));
        Ok((only_ours && nl.genid()? == before).then_some(before))
    })
}

/// Whether a table message names `inet table`.
fn is_ours(m: &[u8], table: &str) -> bool {
    let family = m.get(16).copied();
    let name = (m.get(20..)).and_then(|a| attr(a, NFTA_TABLE_NAME));
    let name = name.map(|n| n.strip_suffix(&[0]).unwrap_or(n));
    family == Some(NFPROTO_INET) && name == Some(table.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_msg(family: u8, name: &str) -> Vec<u8> {
        let mut w = Writer::default();
        let m = w.begin_msg(MsgType::NewTable.raw(), 0, 1, family, 0);
        w.put_str(NFTA_TABLE_NAME, name);
        w.end_msg(m);
        w.buf
    }

    #[test]
    fn only_inet_tables_of_our_name_are_ours() {
        assert!(is_ours(&table_msg(NFPROTO_INET, "hostwall"), "hostwall"));
        assert!(!is_ours(&table_msg(NFPROTO_INET, "hostwal"), "hostwall"));
        assert!(!is_ours(&table_msg(NFPROTO_INET, "hostwall2"), "hostwall"));
        // `ip hostwall` is another table.
        assert!(!is_ours(&table_msg(2, "hostwall"), "hostwall"));
        assert!(!is_ours(&[0u8; 8], "hostwall"));
    }
}
