//! Sending a batch: in one `sendmsg` at the guard's generation, resent at the current one
//! when only other tables moved meanwhile, each error reply mapped back to its message,
//! and the commit confirmed by the generation it bumped.

use super::guard::{self, Guard};
use super::{ApplyError, ApplyReport, refusal};
use crate::emit::netlink::Batch;
use crate::nft::client::Client;
use std::time::Duration;

/// Sends the batch at the guard's generation. When the kernel refuses it because the
/// ruleset moved on, and the notifications show that only other tables changed, it
/// resends at the current generation (at most [`guard::MAX_RESENDS`] times). Returns
/// the generation the committed batch was sent at.
pub(super) fn send_guarded(
    nl: &mut Client,
    batch: &mut Batch,
    guard: &Guard,
    table: &str,
    report: &mut ApplyReport,
) -> Result<Sent, ApplyError> {
    let base = guard.base();
    let mut at = base;
    let quiet = batch.len() > QUIET_BATCH_BYTES;
    loop {
        let sent = match quiet {
            true => {
                at = current_genid(nl, batch, guard, at)?;
                guard.paused(|| send_batch(nl, batch, at, table))?
            }
            false => send_batch(nl, batch, at, table),
        };
        match sent {
            Err(ApplyError::Concurrent { .. }) if report.resends < guard::MAX_RESENDS => {
                let now = nl.genid()?;
                if guard.ours_changed(base, now)? {
                    return Err(ApplyError::Concurrent { expected: base });
                }
                batch.set_genid(now);
                at = now;
                report.resends += 1;
            }
            Err(ApplyError::Concurrent { .. }) => {
                return Err(ApplyError::Concurrent { expected: base });
            }
            r => return r,
        }
    }
}

/// Batches larger than this are sent with the guard's monitor paused
/// ([`Guard::paused`]): each set element of a commit is one notification to every
/// listener, which more than doubles the kernel's time for a million addresses.
const QUIET_BATCH_BYTES: usize = 1 << 20;

/// Moves the batch from `at` to the current generation when the notifications show that
/// only other tables changed in between (before a send the monitor cannot follow).
fn current_genid(
    nl: &mut Client,
    batch: &mut Batch,
    guard: &Guard,
    at: u32,
) -> Result<u32, ApplyError> {
    let now = nl.genid()?;
    if now != at {
        if guard.ours_changed(guard.base(), now)? {
            return Err(ApplyError::Concurrent {
                expected: guard.base(),
            });
        }
        batch.set_genid(now);
    }
    Ok(now)
}

/// The generation a commit on top of `genid` creates (the kernel counts up by one and
/// skips 0 when it wraps).
pub(super) fn next_genid(genid: u32) -> u32 {
    match genid.wrapping_add(1) {
        0 => 1,
        g => g,
    }
}

/// Sends the whole batch in one `sendmsg` and maps any error reply back to its
/// message; then confirms the commit happened (a bumped generation).
fn send_batch(
    nl: &mut Client,
    batch: &mut Batch,
    genid: u32,
    table: &str,
) -> Result<Sent, ApplyError> {
    let sent = nl
        .send_batch(&mut batch.bytes, &mut batch.tail, batch.messages.len())
        .map_err(refusal::batch_transport)?;
    let first = batch.messages.first().map_or(0, |m| m.seq);
    if let Some(e) = sent.errors.iter().min_by_key(|r| r.seq.wrapping_sub(first)) {
        return Err(refusal::batch_error(batch, e, genid, table));
    }
    if nl.genid()? == genid {
        return Err(ApplyError::NotCommitted);
    }
    Ok(Sent {
        at: genid,
        send_time: sent.send_time,
        total: sent.total,
        echoed: sent.echoed,
    })
}

/// A committed batch: the generation it was sent at, the time inside the send and
/// with the replies read, and the rules the kernel echoed ((sequence number, handle)).
pub(super) struct Sent {
    pub(super) at: u32,
    pub(super) send_time: Duration,
    pub(super) total: Duration,
    pub(super) echoed: Vec<(u32, u64)>,
}
