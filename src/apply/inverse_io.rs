//! The kernel side of an in-place change's inverse: capturing it before the change
//! (the plan from the trusted table record, plus a get of each rule the change replaces
//! or deletes and a dump of each chain it removes: nothing else is read), and the
//! revert (our table judged against the change, then the inverse in one batch that
//! carries the generation it was judged at).

use super::ApplyError;
use super::delta::{self, Decision, LiveTable};
use super::inverse::{self, Inverse, OldRules};
use super::inverse_check;
use super::inverse_done;
use super::trusted;
use crate::ir::Ruleset;
use crate::nft::client::{Client, Moved};
use crate::nft::msg::msg_type;
use crate::nft::wire::{MsgType, Writer};
use crate::nsid::NetnsId;
use std::path::Path;

/// How often a revert starts over when a commit lands between its check and its batch.
const REVERT_TRIES: u32 = 5;

/// What a revert by the inverse ran into.
#[derive(Debug, thiserror::Error)]
pub enum InverseError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Our table is not what the change left: someone else changed it since.
    #[error("{0}")]
    Changed(String),
}

/// The inverse of the in-place change `rs` makes, when the table record is trusted at
/// `genid` (our table's state then, without reading it) and the change goes in place
/// with an exact inverse; else why not (the caller copies the whole table instead).
pub(super) fn capture(
    nl: &mut Client,
    rs: &Ruleset,
    record: &Path,
    here: Option<&NetnsId>,
    genid: u32,
) -> Result<Inverse, String> {
    let table = &rs.table.name;
    let pre = trusted::live_at(record, table, here, genid)?;
    let d = match delta::plan(&pre, rs) {
        Decision::Delta(d) => d,
        Decision::Full(why) => return Err(why),
    };
    of_planned(nl, table, (&pre, &d, genid), record)
}

/// The inverse of the in-place change `d` planned from `pre`, our table at `genid` as
/// the table record at `record` holds it: the old rules it puts back are read now, and
/// are the record's only while the generation still is `genid`.
pub(super) fn of_planned(
    nl: &mut Client,
    table: &str,
    (pre, d, genid): (&LiveTable, &crate::emit::delta::Delta<'_>, u32),
    record: &Path,
) -> Result<Inverse, String> {
    let mut old = KernelRules { nl, table };
    let mut inv = inverse::of_delta(pre, d, genid, &mut old)?;
    match nl.genid() {
        Ok(g) if g == genid => {}
        Ok(_) => return Err("the ruleset moved on while the change was captured".into()),
        Err(e) => return Err(e.to_string()),
    }
    inv.record = Some(std::path::absolute(record).map_err(|e| e.to_string())?);
    Ok(inv)
}

/// Reads the old rules the inverse puts back, one request each.
struct KernelRules<'a> {
    nl: &'a mut Client,
    table: &'a str,
}

impl OldRules for KernelRules<'_> {
    fn rule(&mut self, chain: &str, handle: u64) -> Result<Vec<u8>, String> {
        let mut w = Writer::default();
        let seq = self.nl.next_seq();
        w.get_rule(seq, (self.table, chain), handle);
        let msgs = (self.nl.collect("a rule the change replaces", &w.buf))
            .map_err(|e| ApplyError::from(e).to_string())?;
        let mut rules = msgs
            .into_iter()
            .filter(|m| msg_type(m) == MsgType::NewRule.raw());
        match (rules.next(), rules.next()) {
            (Some(m), None) => Ok(m),
            _ => Err(format!("rule {handle} of chain {chain} could not be read")),
        }
    }

    fn chain_rules(&mut self, chain: &str) -> Result<Vec<Vec<u8>>, String> {
        let mut w = Writer::default();
        let seq = self.nl.next_seq();
        w.dump_chain_rules(seq, self.table, chain);
        let msgs = (self.nl.collect("a chain the change removes", &w.buf))
            .map_err(|e| ApplyError::from(e).to_string())?;
        Ok(msgs
            .into_iter()
            .filter(|m| msg_type(m) == MsgType::NewRule.raw())
            .collect())
    }
}

/// Undoes the change `inv` describes, in one batch, when our table is exactly what
/// the change left; nothing when the change never reached the kernel. Commits in other
/// tables meanwhile (libvirt, docker, fail2ban) neither spoil the read of our table nor
/// refuse the batch: the change notifications since the read show whether ours moved
/// ([`super::Guard`]), as for an apply.
pub(super) fn restore(
    nl: &mut Client,
    table: &str,
    inv: &Inverse,
    here: Option<&NetnsId>,
) -> Result<(), InverseError> {
    let mut tries = 0;
    loop {
        tries += 1;
        // Subscribed before the generation reads this try relies on; a fresh one each
        // try, since a guard that lost track (a quiet send, an overflow) stays so.
        let guard = super::Guard::open(table)?;
        let Some((genid, cur)) = current(nl, table, inv, here, &guard)? else {
            return Ok(());
        };
        let resolved = match inverse_check::resolve(inv, &cur) {
            Ok(r) => r,
            // The inverse committed before (the reply was lost, or the process died
            // before the sysctls): nothing is left to undo in the table.
            Err(_) if inverse_done::undone(inv, &cur) => return Ok(()),
            Err(why) => return Err(changed(table, why)),
        };
        if resolved.is_empty() {
            // The kernel commits no empty batch: there is nothing to send.
            return Ok(());
        }
        guard.set_base(genid);
        let opts = super::batch_options(nl, Some(genid));
        let mut batch = crate::emit::delta::build_undo(&resolved.undo(table), &opts)
            .map_err(ApplyError::from)?;
        let mut report = super::ApplyReport::default();
        match super::send_guarded(nl, &mut batch, &guard, table, &mut report) {
            Ok(_) => return Ok(()),
            // Our table moved since it was judged: judge it again (and refuse the
            // revert when it is no longer what the change left).
            Err(ApplyError::Concurrent { .. }) if tries < REVERT_TRIES => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn changed(table: &str, why: String) -> InverseError {
    InverseError::Changed(format!(
        "table inet {table} is not as the change left it ({why}): someone else changed it \
         since, so the in-place change is not undone over their change"
    ))
}

/// Our table now and the generation it is exact at; `None` when the change never
/// reached it (nothing to undo). From the table record when it is trusted now, else
/// read, and then it must equal the record of the change's commit when there is one.
fn current(
    nl: &mut Client,
    table: &str,
    inv: &Inverse,
    here: Option<&NetnsId>,
    guard: &super::Guard,
) -> Result<Option<(u32, LiveTable)>, InverseError> {
    let genid = nl.genid().map_err(ApplyError::from)?;
    if genid == inv.base {
        return Ok(None);
    }
    let record = (inv.record.as_deref())
        .and_then(|p| trusted::load(p).ok().flatten())
        .filter(|r| Some(&r.netns) == here && r.table == table);
    if let Some(r) = &record
        && r.genid == genid
        && r.genid != inv.base
    {
        return Ok(Some((genid, r.live.clone())));
    }
    let (genid, cur) = read_stable(nl, table, guard)?;
    let Some(cur) = cur else {
        return Err(changed(table, "it is gone".into()));
    };
    match record {
        Some(r) if r.genid == inv.base && r.live == cur => Ok(None),
        Some(r) if r.genid != inv.base && r.live != cur && inverse_done::undone(inv, &cur) => {
            Ok(None)
        }
        Some(r) if r.genid != inv.base && r.live != cur => Err(changed(
            table,
            format!(
                "it differs from the record of the change's commit at generation {}",
                r.genid
            ),
        )),
        _ => Ok(Some((genid, cur))),
    }
}

/// Our table and a generation it is exact at: read between two generation reads, and
/// standing when the notifications show no commit in between touched our table.
fn read_stable(
    nl: &mut Client,
    table: &str,
    guard: &super::Guard,
) -> Result<(u32, Option<LiveTable>), InverseError> {
    let read =
        |c: &mut Client, at: u32| Ok::<_, ApplyError>((at, super::delta_read::read(c, table)?));
    let judge = |(_, cur), moved: Moved| {
        let ours = guard.ours_changed(moved.before, moved.after)?;
        Ok((!ours).then_some((moved.after, cur)))
    };
    match nl.read_stable(REVERT_TRIES, read, judge)? {
        Some(got) => Ok(got),
        None => Err(ApplyError::Snapshot(format!(
            "cannot read a consistent copy of table {table} to revert: it kept changing"
        ))
        .into()),
    }
}
