//! Which tables each committed nf_tables generation touched, from the kernel's own
//! change notifications (the `NFNLGRP_NFTABLES` group that `nft monitor` reads).
//!
//! The ruleset has one generation id for every table, so a guard on it alone fails
//! whenever any program (libvirt, docker, fail2ban) changes *its* table. The
//! notifications name the table of every changed object, and each commit ends with a
//! `NEWGEN` message carrying the new id, so a reader can tell whether the generations
//! that passed while it worked changed the one table it cares about.
//!
//! The answer is conservative: a notification without a table, a lost notification
//! (the receive queue overflowed: `ENOBUFS`), or a generation whose notifications did
//! not arrive in time all count as "touched".

use super::client::Client;
use super::msg::{be32_attr, messages, msg_type, str_attr};
use super::wire::{MsgType, SUBSYS_NFTABLES};
use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

/// `NFNLGRP_NFTABLES`: the multicast group of nf_tables change notifications.
const NFNLGRP_NFTABLES: u32 = 7;
/// Every nf_tables object message names its table in attribute 1
/// (`NFTA_TABLE_NAME`, `NFTA_CHAIN_TABLE`, `NFTA_RULE_TABLE`, `NFTA_SET_TABLE`,
/// `NFTA_SET_ELEM_LIST_TABLE`, `NFTA_OBJ_TABLE`, `NFTA_FLOWTABLE_TABLE`).
const NFTA_ANY_TABLE: u16 = 1;
/// `NFTA_GEN_ID` in a `NEWGEN` message.
const NFTA_GEN_ID: u16 = 1;
/// How long to wait for the notifications of a generation already committed.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// A table, as notifications name it: (nfproto family, name).
pub type TableKey = (u8, String);

/// Subscribed to nf_tables notifications since [`Monitor::open`].
pub struct Monitor {
    client: Client,
    log: Log,
}

/// What the notifications read so far say, per generation (no I/O).
#[derive(Default)]
struct Log {
    /// Tables touched by notifications not yet closed by a `NEWGEN`.
    open_gen: Vec<Option<TableKey>>,
    /// Per table, the newest generation that touched it.
    touched: HashMap<TableKey, u32>,
    /// The newest generation that touched a table it could not name.
    touched_any: Option<u32>,
    /// The newest generation id seen in a `NEWGEN` notification.
    last_gen: Option<u32>,
    /// Notifications were lost: nothing can be said about any generation.
    lost: bool,
    events: u64,
}

impl Monitor {
    /// Subscribes in the calling thread's network namespace. Notifications of commits
    /// that finish after this returns are all seen (or the loss is known).
    pub fn open() -> io::Result<Monitor> {
        Ok(Monitor {
            client: Client::subscribe(NFNLGRP_NFTABLES)?,
            log: Log::default(),
        })
    }

    /// Reads notifications until the one closing generation `genid` has arrived (the
    /// kernel publishes a new id slightly before it sends that commit's notifications).
    /// Gives up after a short wait and marks the record lost, which makes every later
    /// question answer "touched".
    pub fn settle(&mut self, genid: u32) -> io::Result<()> {
        let deadline = Instant::now() + SETTLE_WAIT;
        loop {
            self.drain()?;
            if self.log.lost || self.log.last_gen.is_some_and(|g| !newer(genid, g)) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.client.wait_readable(left)? {
                self.log.lost = true;
                return Ok(());
            }
        }
    }

    /// Whether any generation after `since`, up to the last settled one, changed the
    /// table `family`/`name` (or might have).
    pub fn touched_since(&self, family: u8, name: &str, since: u32) -> bool {
        self.log.touched_since(family, name, since)
    }

    /// Every table some generation after `since` touched, and whether that list is
    /// complete (false when notifications were lost or one named no table).
    pub fn tables_touched_since(&self, since: u32) -> (Vec<TableKey>, bool) {
        self.log.tables_touched_since(since)
    }

    /// Leaves the group until [`Monitor::resume`]. While no socket listens, a commit
    /// builds no notifications: one for each set element otherwise, which more than
    /// doubles the kernel's time for a batch of a million addresses.
    pub fn pause(&mut self) -> io::Result<()> {
        self.drain()?;
        self.client.leave(NFNLGRP_NFTABLES)
    }

    /// Joins the group again. What was committed while paused is unknown, so every later
    /// question answers "touched".
    pub fn resume(&mut self) -> io::Result<()> {
        self.log.lost = true;
        self.client.join(NFNLGRP_NFTABLES)
    }

    /// Notifications read so far (for reports and benchmarks).
    pub fn events(&self) -> u64 {
        self.log.events
    }

    /// Reads every queued notification without waiting.
    fn drain(&mut self) -> io::Result<()> {
        loop {
            match self.client.recv_queued() {
                Ok(Some(datagram)) => {
                    for m in messages(datagram) {
                        self.log.note(m);
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => self.log.lost = true,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Log {
    /// Whether any generation after `since`, up to the last settled one, changed the
    /// table `family`/`name` (or might have).
    fn touched_since(&self, family: u8, name: &str, since: u32) -> bool {
        if self.lost || self.touched_any.is_some_and(|g| newer(g, since)) {
            return true;
        }
        self.touched
            .get(&(family, name.to_string()))
            .is_some_and(|&g| newer(g, since))
    }

    /// Every table some generation after `since` touched, and whether that list is
    /// complete (false when notifications were lost or one named no table).
    fn tables_touched_since(&self, since: u32) -> (Vec<TableKey>, bool) {
        let complete = !self.lost && !self.touched_any.is_some_and(|g| newer(g, since));
        let mut tables: Vec<TableKey> = self
            .touched
            .iter()
            .filter(|(_, g)| newer(**g, since))
            .map(|(k, _)| k.clone())
            .collect();
        tables.sort();
        (tables, complete)
    }

    fn note(&mut self, m: &[u8]) {
        let ty = msg_type(m);
        if ty >> 8 != SUBSYS_NFTABLES {
            return;
        }
        self.events += 1;
        if ty == MsgType::NewGen.raw() {
            match be32_attr(m, NFTA_GEN_ID) {
                Some(g) => self.close_gen(g),
                None => self.lost = true,
            }
            return;
        }
        let family = m.get(16).copied().unwrap_or(0);
        let table = str_attr(m, NFTA_ANY_TABLE).map(|t| (family, t.to_string()));
        self.open_gen.push(table);
    }

    fn close_gen(&mut self, genid: u32) {
        for key in self.open_gen.drain(..) {
            match key {
                Some(k) => {
                    self.touched.insert(k, genid);
                }
                None => self.touched_any = Some(genid),
            }
        }
        self.last_gen = Some(genid);
    }
}

/// Generation ids are u32 and may wrap: `a` is newer than `b` when it is ahead by
/// less than half the range.
fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

#[cfg(test)]
mod tests {
    use super::{Log, newer};
    use crate::nft::wire::{MsgType, NFPROTO_INET, SUBSYS_NFTABLES};

    /// A notification: nlmsghdr, nfgenmsg (family), attribute 1 when given.
    fn msg(ty: u16, family: u8, attr1: Option<&[u8]>) -> Vec<u8> {
        let mut m = vec![0u8; 20];
        m[16] = family;
        if let Some(a) = attr1 {
            m.extend_from_slice(&((4 + a.len()) as u16).to_ne_bytes());
            m.extend_from_slice(&1u16.to_ne_bytes());
            m.extend_from_slice(a);
            m.resize((m.len() + 3) & !3, 0);
        }
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&ty.to_ne_bytes());
        m
    }

    fn rule_in(family: u8, table: &str) -> Vec<u8> {
        msg(
            MsgType::NewRule.raw(),
            family,
            Some(format!("{table}\0").as_bytes()),
        )
    }

    fn newgen(g: u32) -> Vec<u8> {
        msg(MsgType::NewGen.raw(), 0, Some(&g.to_be_bytes()))
    }

    #[test]
    fn a_generation_touches_the_tables_its_notifications_name() {
        let mut log = Log::default();
        for m in [
            rule_in(2, "other"),
            newgen(11),
            rule_in(NFPROTO_INET, "hostwall"),
            newgen(12),
        ] {
            log.note(&m);
        }
        assert!(!log.touched_since(NFPROTO_INET, "hostwall", 12));
        assert!(
            log.touched_since(NFPROTO_INET, "hostwall", 11),
            "gen 12 touched ours"
        );
        assert!(
            !log.touched_since(2, "hostwall", 10),
            "same name, other family"
        );
        assert!(log.touched_since(2, "other", 10));
        assert!(!log.touched_since(2, "other", 11));
        let (tables, complete) = log.tables_touched_since(10);
        assert!(complete);
        assert_eq!(
            tables,
            vec![(NFPROTO_INET, "hostwall".into()), (2, "other".into())]
        );
        // Notifications of a commit not yet closed by its NEWGEN belong to no generation
        // before it.
        log.note(&rule_in(NFPROTO_INET, "hostwall"));
        assert!(!log.touched_since(NFPROTO_INET, "hostwall", 12));
    }

    #[test]
    fn what_cannot_be_attributed_counts_as_touching_every_table() {
        let mut log = Log::default();
        log.note(&msg((SUBSYS_NFTABLES << 8) | 6, 2, None)); // names no table
        log.note(&newgen(5));
        assert!(log.touched_since(NFPROTO_INET, "hostwall", 4));
        assert!(!log.touched_since(NFPROTO_INET, "hostwall", 5));
        assert!(!log.tables_touched_since(4).1, "incomplete");
        // ENOBUFS or a settle timeout:
        let lost = Log {
            lost: true,
            ..Log::default()
        };
        assert!(lost.touched_since(NFPROTO_INET, "hostwall", 0));
        let mut bad = Log::default();
        bad.note(&msg(MsgType::NewGen.raw(), 0, None)); // NEWGEN without its id
        assert!(bad.touched_since(NFPROTO_INET, "hostwall", 0));
        // Other subsystems' messages are not nf_tables notifications.
        let mut quiet = Log::default();
        quiet.note(&msg(0x0102, 2, Some(b"x\0")));
        assert_eq!(quiet.events, 0);
    }

    #[test]
    fn generation_order_survives_wrapping() {
        assert!(newer(5, 4));
        assert!(!newer(4, 5));
        assert!(!newer(4, 4));
        assert!(newer(2, u32::MAX - 1));
    }
}
