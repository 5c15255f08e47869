//! Copies of the other tables (every table but ours) as the kernel's own messages, read
//! at one generation, and their replay into another namespace in one batch: what
//! `verify --with-live-tables` loads next to the policy's table. No decoder stands in
//! between, so whatever the kernel holds is copied exactly, even expressions hostwall
//! cannot evaluate. What cannot be replayed elsewhere is named on each table:
//! flowtables and base chains bound to network devices (the lab may lack the device).

use super::LiveError;
use crate::nft::client::{Client, Moved, Reply};
use crate::nft::msg::{attr, msg_type, str_attr};
use crate::nft::replay::replay;
use crate::nft::wire::{MsgType, NFPROTO_UNSPEC, Writer};

/// Reads retried when the ruleset moved during one, before giving up.
const ATTEMPTS: u32 = 5;

/// The one table flag a copy keeps (`NFT_TABLE_F_DORMANT`): an owner or persist flag
/// would tie the copy's life to the socket that loads it.
const NFT_TABLE_F_DORMANT: u32 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_HOOK_DEV: u16 = 3;
const NFTA_HOOK_DEVS: u16 = 4;
const NFTA_RULE_CHAIN: u16 = 2;

/// One other table, as the kernel's messages in replay order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignTable {
    /// The nfgenmsg family (`NFPROTO_*`).
    pub family: u8,
    pub name: String,
    /// Table, named objects, sets, chains, set elements, rules.
    msgs: Vec<Vec<u8>>,
    /// Flowtables (bound to devices; never replayed).
    pub flowtables: Vec<String>,
    /// Base chains bound to devices: (chain, devices).
    pub device_chains: Vec<(String, Vec<String>)>,
}

impl ForeignTable {
    /// `ip filter`, `netdev ingress_guard`.
    pub fn title(&self) -> String {
        format!(
            "{} {}",
            super::hooks::family_name(u32::from(self.family)),
            self.name
        )
    }

    /// Leaves chain `chain` and its rules out of the copy (a base chain: nothing jumps to it).
    pub fn drop_chain(&mut self, chain: &str) {
        let chain_ty = MsgType::NewChain.raw();
        let rule_ty = MsgType::NewRule.raw();
        self.msgs.retain(|m| {
            let ty = msg_type(m);
            !((ty == chain_ty && str_attr(m, NFTA_CHAIN_NAME) == Some(chain))
                || (ty == rule_ty && str_attr(m, NFTA_RULE_CHAIN) == Some(chain)))
        });
        self.device_chains.retain(|(c, _)| c != chain);
    }

    /// Messages the copy replays (for tests and sizes).
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }
}

/// Errors of a copy's replay.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Read(#[from] LiveError),
    #[error("the ruleset kept changing while the other tables were copied ({0} attempts)")]
    Inconsistent(u32),
    #[error("loading table {table}: the kernel refused {what}: {errno}{extack}")]
    Replay {
        table: String,
        what: String,
        errno: std::io::Error,
        extack: String,
    },
}

/// Every table of `netns` (or this namespace) but `inet ours`, read at one generation.
pub fn capture(ours: &str, netns: Option<&str>) -> Result<Vec<ForeignTable>, CopyError> {
    crate::netns::run_named(netns, || {
        let mut c = Client::open().map_err(LiveError::from)?;
        let read = |c: &mut Client, _| dump_all(c, ours);
        let judge = |_: Vec<ForeignTable>, _: Moved| Ok::<_, CopyError>(None);
        c.read_stable(ATTEMPTS, read, judge)?
            .ok_or(CopyError::Inconsistent(ATTEMPTS))
    })
    .map_err(LiveError::from)?
}

impl From<crate::nft::client::NlError> for CopyError {
    fn from(e: crate::nft::client::NlError) -> CopyError {
        CopyError::Read(e.into())
    }
}

fn dump_all(c: &mut Client, ours: &str) -> Result<Vec<ForeignTable>, CopyError> {
    let tables = dump(c, MsgType::GetTable, NFPROTO_UNSPEC, None, None)?;
    let chains = dump(c, MsgType::GetChain, NFPROTO_UNSPEC, None, None)?;
    let mut out = Vec::new();
    for t in tables {
        let (family, Some(name)) = (t[16], str_attr(&t, 1).map(str::to_string)) else {
            continue;
        };
        if u32::from(family) == u32::from(crate::nft::wire::NFPROTO_INET) && name == ours {
            continue;
        }
        out.push(table(c, t, family, name, &chains)?);
    }
    Ok(out)
}

/// One table's messages in replay order: objects before the sets and rules naming
/// them, chains before elements (verdict maps jump to them) and rules.
fn table(
    c: &mut Client,
    head: Vec<u8>,
    family: u8,
    name: String,
    chains: &[Vec<u8>],
) -> Result<ForeignTable, CopyError> {
    let mine: Vec<Vec<u8>> = chains
        .iter()
        .filter(|m| m[16] == family && str_attr(m, 1) == Some(name.as_str()))
        .cloned()
        .collect();
    let device_chains = mine.iter().filter_map(|m| device_chain(m)).collect();
    let flowtables = dump(c, MsgType::GetFlowtable, family, Some(&name), None)?
        .iter()
        .filter_map(|m| str_attr(m, 2).map(str::to_string))
        .collect();
    let mut msgs = vec![head];
    msgs.extend(dump(c, MsgType::GetObj, family, Some(&name), None)?);
    let sets = dump(c, MsgType::GetSet, family, Some(&name), None)?;
    let set_names: Vec<String> = (sets.iter())
        .filter_map(|m| str_attr(m, 2).map(str::to_string))
        .collect();
    msgs.extend(sets);
    msgs.extend(mine);
    for s in &set_names {
        msgs.extend(dump(c, MsgType::GetSetElem, family, Some(&name), Some(s))?);
    }
    msgs.extend(dump(c, MsgType::GetRule, family, Some(&name), None)?);
    Ok(ForeignTable {
        family,
        name,
        msgs,
        flowtables,
        device_chains,
    })
}

/// A base chain's devices (`NFTA_HOOK_DEV`, or each name in `NFTA_HOOK_DEVS`).
fn device_chain(m: &[u8]) -> Option<(String, Vec<String>)> {
    let hook = attr(m.get(20..)?, NFTA_CHAIN_HOOK)?;
    let text = |a: &[u8]| {
        String::from_utf8_lossy(a.split(|&b| b == 0).next().unwrap_or_default()).into_owned()
    };
    let mut devs: Vec<String> = attr(hook, NFTA_HOOK_DEV).map(text).into_iter().collect();
    if let Some(mut list) = attr(hook, NFTA_HOOK_DEVS) {
        while list.len() >= 4 {
            let len = u16::from_ne_bytes([list[0], list[1]]) as usize;
            if len < 4 || len > list.len() {
                break;
            }
            devs.push(text(&list[4..len]));
            list = &list[((len + 3) & !3).min(list.len())..];
        }
    }
    // Kernels send a single device both ways.
    devs.sort();
    devs.dedup();
    let chain = str_attr(m, NFTA_CHAIN_NAME)?.to_string();
    (!devs.is_empty()).then_some((chain, devs))
}

fn dump(
    c: &mut Client,
    ty: MsgType,
    family: u8,
    table: Option<&str>,
    set: Option<&str>,
) -> Result<Vec<Vec<u8>>, CopyError> {
    let mut w = Writer::default();
    let seq = c.next_seq();
    w.dump_request(ty, family, seq, table, set);
    Ok(c.collect("copy of the other tables", &w.buf)?)
}

/// Creates `tables` in `netns` in one batch, in order (the kernel's table order decides
/// between base chains of equal priority). A refused message names its table and object.
pub fn load(tables: &[ForeignTable], netns: &str) -> Result<(), CopyError> {
    crate::netns::run_named(Some(netns), || load_here(tables)).map_err(LiveError::from)?
}

fn load_here(tables: &[ForeignTable]) -> Result<(), CopyError> {
    let mut c = Client::open().map_err(LiveError::from)?;
    let msgs: Vec<(&ForeignTable, &Vec<u8>)> = (tables.iter())
        .flat_map(|t| t.msgs.iter().map(move |m| (t, m)))
        .collect();
    let first = c.reserve(msgs.len() as u32 + 2);
    let mut w = Writer::default();
    w.batch_begin(first, None);
    for (i, (_, m)) in msgs.iter().enumerate() {
        replay(
            &mut w,
            m,
            first.wrapping_add(i as u32 + 1),
            i as u32 + 1,
            Some(NFT_TABLE_F_DORMANT),
        );
    }
    w.batch_end(first.wrapping_add(msgs.len() as u32 + 1));
    let count = crate::nft::msg::messages(&w.buf).count();
    let sent = c.send_batch(&mut w.buf, &mut [], count)?;
    let refused = (sent.errors.into_iter()).min_by_key(|r| r.seq.wrapping_sub(first));
    match refused {
        None => Ok(()),
        Some(Reply { seq, errno, extack }) => {
            let at = (seq.wrapping_sub(first) as usize).checked_sub(1);
            let (table, what) = match at.and_then(|i| msgs.get(i)) {
                Some((t, m)) => (t.title(), describe(m)),
                None => ("(batch)".to_string(), "the batch".to_string()),
            };
            Err(CopyError::Replay {
                table,
                what,
                errno: std::io::Error::from_raw_os_error(errno),
                extack: extack.map(|x| format!(" ({x})")).unwrap_or_default(),
            })
        }
    }
}

/// "chain LIBVIRT_FWI", "a rule of chain FORWARD", "set __set0".
fn describe(m: &[u8]) -> String {
    let ty = msg_type(m);
    let named = |kind: &str, a: u16| format!("{kind} {}", str_attr(m, a).unwrap_or_default());
    match ty {
        t if t == MsgType::NewSet.raw() => named("set", 2),
        t if t == MsgType::NewSetElem.raw() => named("the elements of set", 2),
        t if t == MsgType::NewChain.raw() => named("chain", NFTA_CHAIN_NAME),
        t if t == MsgType::NewRule.raw() => named("a rule of chain", NFTA_RULE_CHAIN),
        t if t == MsgType::NewObj.raw() => named("named object", 2),
        _ => "the table itself".to_string(),
    }
}

#[cfg(test)]
impl ForeignTable {
    /// A copy as a dump would give it: the table, each of `chains` (bound to its
    /// devices when it names any) with one rule, and `flowtables` named.
    pub(crate) fn sample(
        family: u8,
        name: &str,
        chains: &[(&str, &[&str])],
        flowtables: &[&str],
    ) -> ForeignTable {
        let msg = |ty: MsgType, attrs: &[(u16, &str)]| {
            let mut w = Writer::default();
            let m = w.begin_msg(ty.raw(), 0, 0, family, 0);
            for (t, v) in attrs {
                w.put_str(*t, v);
            }
            w.end_msg(m);
            w.buf
        };
        let mut msgs = vec![msg(MsgType::NewTable, &[(1, name)])];
        for (c, _) in chains {
            msgs.push(msg(MsgType::NewChain, &[(1, name), (NFTA_CHAIN_NAME, c)]));
            msgs.push(msg(MsgType::NewRule, &[(1, name), (NFTA_RULE_CHAIN, c)]));
        }
        ForeignTable {
            family,
            name: name.into(),
            msgs,
            flowtables: flowtables.iter().map(|f| f.to_string()).collect(),
            device_chains: (chains.iter())
                .filter(|(_, d)| !d.is_empty())
                .map(|(c, d)| (c.to_string(), d.iter().map(|x| x.to_string()).collect()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::replay::NFTA_TABLE_FLAGS;

    #[test]
    fn a_copy_keeps_only_the_dormant_flag_and_drops_kernel_attributes() {
        let mut w = Writer::default();
        let m = w.begin_msg(MsgType::NewTable.raw(), 0, 0, 2, 0);
        w.put_str(1, "t");
        w.put_be32(NFTA_TABLE_FLAGS, 0x7); // dormant | owner | persist
        w.put_be32(4, 9); // HANDLE
        w.put_be32(7, 1234); // OWNER (a port id)
        w.end_msg(m);
        let mut out = Writer::default();
        replay(&mut out, &w.buf, 1, 1, Some(NFT_TABLE_F_DORMANT));
        assert_eq!(str_attr(&out.buf, 1), Some("t"));
        let flags = crate::nft::msg::be32_attr(&out.buf, NFTA_TABLE_FLAGS);
        assert_eq!(
            flags,
            Some(NFT_TABLE_F_DORMANT),
            "owner and persist are not copied"
        );
        assert_eq!(attr(&out.buf[20..], 4), None, "no handle");
        assert_eq!(attr(&out.buf[20..], 7), None, "no owner");
        assert_eq!(out.buf[16], 2, "the family byte is kept");
    }

    #[test]
    fn dropping_a_chain_drops_its_rules_and_nothing_else() {
        let mut t = ForeignTable::sample(5, "ing", &[("a", &["eth9"]), ("b", &[])], &[]);
        assert_eq!(t.len(), 5);
        t.drop_chain("a");
        assert_eq!(t.len(), 3);
        assert!(t.device_chains.is_empty());
        let names: Vec<_> = (t.msgs.iter())
            .filter_map(|m| str_attr(m, NFTA_CHAIN_NAME).or(str_attr(m, NFTA_RULE_CHAIN)))
            .collect();
        assert_eq!(names, ["b", "b"]);
        assert_eq!(t.title(), "netdev ing");
    }
}
