//! A copy of our table as the kernel's own messages, captured before a change so a
//! failed sysctl step (or a revert) can put it back exactly.
//!
//! The table's objects are dumped as raw netlink messages (table, named objects,
//! sets, chains, elements, rules) and replayed as NEW* requests in one batch, with
//! kernel-assigned attributes (handles, use counts, positions) removed. This needs no
//! decoder and restores whatever the table held, even forms hostwall cannot express
//! (counters keep their values).

use super::{ApplyError, Guard};
use crate::nft::client::{Client, Moved, NlError, Reply, Step};
use crate::nft::msg::attr;
use crate::nft::replay::replay;
use crate::nft::wire::{MsgType, NFPROTO_INET, NLM_F_ACK, Writer};

pub(crate) enum TableCopy {
    /// The table did not exist: rollback deletes it.
    Absent,
    /// Dumped messages in replay order.
    Present(Vec<Vec<u8>>),
}

/// A present table's copy as the saved previous state holds it: a list of hex strings,
/// one per message, made and read one message at a time. For a million addresses the
/// copy is 38 MB of messages; all of them as strings beside the JSON written from them
/// held it three times over (`apply --replace --confirm` peaked at 251 MB).
#[derive(Clone)]
pub(crate) struct HexMessages(pub(crate) std::sync::Arc<TableCopy>);

impl HexMessages {
    fn messages(&self) -> &[Vec<u8>] {
        match &*self.0 {
            TableCopy::Present(m) => m,
            TableCopy::Absent => &[],
        }
    }
}

impl PartialEq for HexMessages {
    fn eq(&self, other: &HexMessages) -> bool {
        self.messages() == other.messages()
    }
}

impl Eq for HexMessages {}

impl std::fmt::Debug for HexMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HexMessages({} messages)", self.messages().len())
    }
}

impl serde::Serialize for HexMessages {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.messages().len()))?;
        for m in self.messages() {
            seq.serialize_element(&crate::digest::hex(m))?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for HexMessages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HexMessages, D::Error> {
        struct Each;
        impl<'de> serde::de::Visitor<'de> for Each {
            type Value = Vec<Vec<u8>>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of hex-encoded table messages")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(m) = a.next_element::<String>()? {
                    let bytes = crate::digest::unhex(&m);
                    out.push(bytes.ok_or_else(|| A::Error::custom("a table message is not hex"))?);
                }
                Ok(out)
            }
        }
        let messages = d.deserialize_seq(Each)?;
        Ok(HexMessages(std::sync::Arc::new(TableCopy::Present(
            messages,
        ))))
    }
}

/// How often a dump is retried when our table changed while it was taken.
const CAPTURE_TRIES: u32 = 5;

/// What the copy's requests are called in errors.
const READING: &str = "current table";

impl TableCopy {
    pub(crate) fn capture(
        nl: &mut Client,
        table: &str,
        guard: &Guard,
    ) -> Result<TableCopy, ApplyError> {
        TableCopy::capture_at(nl, table, guard).map(|(s, _)| s)
    }

    /// The copy and a generation it is exact at. The table, sets, chains and
    /// rules come from separate dumps (each filtered to our table), so the
    /// generation is read before and after them (`Client::read_stable`): when a
    /// generation in between touched our table the pieces may disagree and the whole
    /// dump is taken again; commits to other tables do not matter.
    pub(crate) fn capture_at(
        nl: &mut Client,
        table: &str,
        guard: &Guard,
    ) -> Result<(TableCopy, u32), ApplyError> {
        // The copy is held: pages kept for a batch to come (`pages::retire`) are not
        // held beside it.
        crate::pages::release_retired();
        // The copy with the generation it stands at.
        let read =
            |c: &mut Client, at: u32| Ok::<_, ApplyError>((TableCopy::dump_all(c, table)?, at));
        let judge = |(copy, _): (TableCopy, u32), moved: Moved| {
            let ours = guard.ours_changed(moved.before, moved.after)?;
            Ok((!ours).then_some((copy, moved.after)))
        };
        match nl.read_stable(CAPTURE_TRIES, read, judge)? {
            Some(got) => Ok(got),
            None => Err(ApplyError::Snapshot(format!(
                "cannot read a consistent copy of table {table} for rollback: it kept changing"
            ))),
        }
    }

    /// Every dump in replay order: table, named objects, sets, chains, set
    /// elements, rules. Objects come before the sets and rules that name them,
    /// chains before elements (verdict maps `jump` to them) and before rules.
    fn dump_all(nl: &mut Client, table: &str) -> Result<TableCopy, ApplyError> {
        let mut w = Writer::default();
        let seq = nl.next_seq();
        // Acked, so the reply ends with an ack after the table (or an error).
        let m = w.begin_msg(MsgType::GetTable.raw(), NLM_F_ACK, seq, NFPROTO_INET, 0);
        w.put_str(1, table);
        w.end_msg(m);
        let mut out = match nl.collect(READING, &w.buf) {
            Ok(t) => t,
            Err(NlError {
                step: Step::Reply,
                source,
                ..
            }) if source.raw_os_error() == Some(libc::ENOENT) => {
                return Ok(TableCopy::Absent);
            }
            Err(e) => return Err(e.into()),
        };
        refuse_flowtables(nl, table)?;
        out.extend(dump(nl, MsgType::GetObj, table, None)?);
        let sets = dump(nl, MsgType::GetSet, table, None)?;
        let names: Vec<String> = sets.iter().filter_map(|m| name_attr(m, 2)).collect();
        out.extend(sets);
        out.extend(dump(nl, MsgType::GetChain, table, None)?);
        for s in &names {
            out.extend(dump(nl, MsgType::GetSetElem, table, Some(s))?);
        }
        out.extend(dump(nl, MsgType::GetRule, table, None)?);
        Ok(TableCopy::Present(out))
    }

    /// Replaces the table with the captured one in a single batch.
    pub(crate) fn restore(&self, nl: &mut Client, table: &str) -> Result<(), ApplyError> {
        let opts = super::batch_options(nl, None);
        let mut w = Writer::default();
        let mut seq = opts.first_seq;
        let mut next = || {
            seq = seq.wrapping_add(1);
            seq
        };
        w.batch_begin(opts.first_seq, None);
        w.table(next(), table, true);
        w.table(next(), table, false);
        if let TableCopy::Present(msgs) = self {
            for (i, m) in msgs.iter().enumerate() {
                replay(&mut w, m, next(), i as u32 + 1, None);
            }
        }
        w.batch_end(next());
        let count = crate::nft::msg::messages(&w.buf).count();
        let sent = nl
            .send_batch(&mut w.buf, &mut [], count)
            .map_err(super::refusal::batch_transport)?;
        let first = sent
            .errors
            .into_iter()
            .min_by_key(|r| r.seq.wrapping_sub(opts.first_seq));
        if let Some(Reply { seq, errno, extack }) = first {
            // Messages 1-3 are begin, add and delete; the dumped ones follow in order.
            let index = seq.wrapping_sub(opts.first_seq) as usize;
            if errno == libc::EPERM && index > 0 {
                return Err(super::owned(table));
            }
            let what = match self {
                TableCopy::Present(msgs) if index >= 3 => msgs
                    .get(index - 3)
                    .map_or("the batch end".to_string(), |m| describe(m)),
                _ => "the table itself".to_string(),
            };
            return Err(ApplyError::Replay(format!(
                "replaying it failed at {what}: {}{}",
                std::io::Error::from_raw_os_error(errno),
                extack.map(|x| format!(" ({x})")).unwrap_or_default()
            )));
        }
        Ok(())
    }
}

pub(super) fn dump(
    nl: &mut Client,
    ty: MsgType,
    table: &str,
    set: Option<&str>,
) -> Result<Vec<Vec<u8>>, ApplyError> {
    let mut w = Writer::default();
    let seq = nl.next_seq();
    w.dump_request(ty, NFPROTO_INET, seq, Some(table), set);
    nl.collect(READING, &w.buf)
        .map_err(|e| ApplyError::Snapshot(ApplyError::from(e).to_string()))
}

/// Flowtables bind to devices: a replay would need the devices and the hook
/// registration to survive a delete and re-add in one batch, which hostwall
/// does not verify. Refuse before anything changes rather than commit a
/// change that might not be undone.
fn refuse_flowtables(nl: &mut Client, table: &str) -> Result<(), ApplyError> {
    let found = dump(nl, MsgType::GetFlowtable, table, None)?;
    flowtable_refusal(table, &found)
}

/// The refusal for a table whose flowtable dump returned `found` (none: no refusal).
fn flowtable_refusal(table: &str, found: &[Vec<u8>]) -> Result<(), ApplyError> {
    let names: Vec<String> = found.iter().filter_map(|m| name_attr(m, 2)).collect();
    if names.is_empty() {
        return Ok(());
    }
    Err(ApplyError::Unrestorable {
        table: format!("inet {table}"),
        what: format!("flowtables ({})", names.join(", ")),
    })
}

/// "set icmpv6_nd", "chain input", "rule in chain input": which replayed object.
fn describe(m: &[u8]) -> String {
    let ty = u16::from_ne_bytes([m[4], m[5]]);
    let (kind, name) = if ty == MsgType::NewSet.raw() {
        ("set", name_attr(m, 2))
    } else if ty == MsgType::NewSetElem.raw() {
        ("elements of set", name_attr(m, 2))
    } else if ty == MsgType::NewChain.raw() {
        ("chain", name_attr(m, 3))
    } else if ty == MsgType::NewRule.raw() {
        ("a rule of chain", name_attr(m, 2))
    } else if ty == MsgType::NewObj.raw() {
        ("named object", name_attr(m, 2))
    } else {
        ("table", name_attr(m, 1))
    };
    format!("{kind} {}", name.unwrap_or_default())
}

fn name_attr(m: &[u8], ty: u16) -> Option<String> {
    let a = attr(m.get(20..)?, ty)?;
    Some(
        String::from_utf8_lossy(a)
            .trim_end_matches('\0')
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NEWFLOWTABLE message as a dump carries it: NFTA_FLOWTABLE_TABLE (1) and
    /// NFTA_FLOWTABLE_NAME (2) after the headers.
    fn flowtable_msg(table: &str, name: &str) -> Vec<u8> {
        let mut w = Writer::default();
        let m = w.begin_msg(MsgType::NewFlowtable.raw(), 0, 0, NFPROTO_INET, 0);
        w.put_str(1, table);
        w.put_str(2, name);
        w.end_msg(m);
        w.buf
    }

    #[test]
    fn a_table_holding_flowtables_is_refused_naming_each() {
        let found = [
            flowtable_msg("hostwall", "ft0"),
            flowtable_msg("hostwall", "fast"),
        ];
        let err = flowtable_refusal("hostwall", &found)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "table inet hostwall holds flowtables (ft0, fast) that hostwall cannot restore; \
                 remove them or apply without --confirm"
            )
        );
    }

    #[test]
    fn a_table_without_flowtables_is_not_refused() {
        assert!(flowtable_refusal("hostwall", &[]).is_ok());
    }
}
