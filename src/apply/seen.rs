//! Our table as one read saw it at one generation, kept for the apply's plan: when no
//! table record can stand for our table (another table's commit moved the generation
//! since ours), the unchanged check reads our table to decide, and the apply that
//! follows plans from that read instead of reading the whole table again (a million
//! addresses: two reads of ~0.8 s each became one).
//!
//! A read is kept with the namespace and the generation it is exact at (the one after
//! it: commits to other tables during the read are allowed when the notifications show
//! ours untouched), one per process. The apply takes it only when its guard's base is
//! that very generation in that very namespace: the batch then carries the generation,
//! so any commit since the read (to our table or any other) makes the kernel refuse it,
//! and the guard resends only when the notifications since show that ours was not
//! touched.

use super::delta::LiveTable;
use super::{ApplyError, delta_read, in_netns};
use crate::nft::client::Client;
use crate::nft::monitor::Monitor;
use crate::nft::wire::NFPROTO_INET;
use crate::nsid::NetnsId;

/// One read of our table.
pub struct Seen {
    /// The generation the read is exact at: none passed while it was taken.
    pub genid: u32,
    /// The namespace it was taken in.
    pub here: Option<NetnsId>,
    /// Our table then (`None`: there was none).
    pub live: Option<LiveTable>,
}

/// Reads our table `table` in the namespace `netns`. Commits to other tables during the
/// read (libvirt's, docker's) leave it exact at the generation after them, as the
/// notifications prove; `Ok(None)` when one may have touched ours.
pub fn read(table: &str, netns: Option<&str>) -> Result<Option<Seen>, ApplyError> {
    in_netns(netns, || {
        let mut monitor = Monitor::open().map_err(|source| ApplyError::Socket {
            op: "subscribing to nf_tables notifications".into(),
            source,
        })?;
        let mut nl = Client::open()?;
        let before = nl.genid()?;
        let live = delta_read::read(&mut nl, table)?;
        let genid = nl.genid()?;
        if genid != before {
            monitor.settle(genid).map_err(|source| ApplyError::Socket {
                op: "reading nf_tables notifications".into(),
                source,
            })?;
            if monitor.touched_since(NFPROTO_INET, table, before) {
                return Ok(None);
            }
        }
        let here = NetnsId::of_thread().ok();
        Ok(Some(Seen { genid, here, live }))
    })
}

/// Keeps `seen` of table `table` for [`take`] (replacing any read kept before).
pub fn keep(table: &str, seen: Seen) {
    *kept() = Some((table.to_string(), seen));
}

/// Whether the read kept is of table `table`, exact at `genid` in the namespace `here`.
pub(super) fn stands(table: &str, here: Option<&NetnsId>, genid: u32) -> bool {
    kept()
        .as_ref()
        .is_some_and(|(name, seen)| exact(name, seen, (table, here, genid)))
}

fn exact(name: &str, seen: &Seen, (table, here, genid): (&str, Option<&NetnsId>, u32)) -> bool {
    name == table && seen.genid == genid && here.is_some() && seen.here.as_ref() == here
}

/// The read kept of table `table` when it is exact at `genid` in the namespace
/// `here`; whatever was kept is let go either way.
pub(super) fn take(table: &str, here: Option<&NetnsId>, genid: u32) -> Option<Option<LiveTable>> {
    let (name, seen) = kept().take()?;
    exact(&name, &seen, (table, here, genid)).then_some(seen.live)
}

fn kept() -> std::sync::MutexGuard<'static, Option<(String, Seen)>> {
    static KEPT: std::sync::Mutex<Option<(String, Seen)>> = std::sync::Mutex::new(None);
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}
