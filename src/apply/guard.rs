//! The concurrency guard of one change: the generation our table was read at, plus a
//! [`Monitor`] of the kernel's change notifications since, so that a commit in some
//! *other* table (libvirt, docker, fail2ban changing their own) does not count as a
//! concurrent change to ours.
//!
//! The batch still carries a generation id, so the kernel refuses it atomically if
//! anything committed after the id we send. On that refusal the guard asks the
//! monitor which tables the generations in between touched: if ours is not among
//! them, the batch is resent with the current id; if it is (or the notifications
//! cannot prove it is not), the change is refused as concurrent.

use super::ApplyError;
use super::table_copy::TableCopy;
use crate::nft::monitor::Monitor;
use crate::nft::wire::NFPROTO_INET;
use std::sync::{Arc, Mutex};

/// Resends allowed after refusals caused only by other tables' commits. Each costs
/// one generation read and one send; a host where other programs commit between
/// every read and send this many times in a row is not one any apply can win.
pub const MAX_RESENDS: u32 = 64;

/// Shared between the capture (which reads the table) and the apply (which sends):
/// both run on threads of their own in the change's namespace.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Mutex<State>>,
}

struct State {
    monitor: Monitor,
    table: String,
    /// The generation the previous state of our table is known at.
    base: u32,
    /// Our table as read exactly at `base`, when the reader kept it: the apply decodes
    /// its in-place change from it instead of reading the table again.
    copy: Option<Arc<TableCopy>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("base", &self.base())
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Subscribes to notifications in the calling thread's namespace. Call before the
    /// first generation read that the guard will vouch for.
    pub(crate) fn open(table: &str) -> Result<Guard, ApplyError> {
        let monitor = Monitor::open().map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => ApplyError::Permission,
            _ => ApplyError::Socket {
                op: "subscribing to nf_tables notifications".into(),
                source: e,
            },
        })?;
        Ok(Guard {
            inner: Arc::new(Mutex::new(State {
                monitor,
                table: table.to_string(),
                base: 0,
                copy: None,
            })),
        })
    }

    /// The generation our table's state is vouched for at.
    pub fn base(&self) -> u32 {
        self.lock().base
    }

    /// Vouches for our table's state at `genid`; forgets any copy read at another one.
    pub(crate) fn set_base(&self, genid: u32) {
        let mut s = self.lock();
        s.base = genid;
        s.copy = None;
    }

    /// Vouches for our table at `genid`, where `copy` is exactly what it held.
    pub(crate) fn set_base_with(&self, genid: u32, copy: Arc<TableCopy>) {
        let mut s = self.lock();
        s.base = genid;
        s.copy = Some(copy);
    }

    /// Lets the copy go (the base still stands).
    pub(crate) fn forget_copy(&self) {
        self.lock().copy = None;
    }

    /// Our table exactly as it stood at [`Guard::base`], when it was kept.
    pub(crate) fn copy(&self) -> Option<Arc<TableCopy>> {
        self.lock().copy.clone()
    }

    /// Whether our table may have changed between `since` and `now` (a generation
    /// already read from the kernel). Waits for the notifications up to `now`.
    pub(crate) fn ours_changed(&self, since: u32, now: u32) -> Result<bool, ApplyError> {
        if since == now {
            return Ok(false);
        }
        let mut s = self.lock();
        s.monitor.settle(now).map_err(|e| ApplyError::Socket {
            op: "reading nf_tables notifications".into(),
            source: e,
        })?;
        Ok(s.monitor.touched_since(NFPROTO_INET, &s.table, since))
    }

    /// Runs `send` with the monitor paused ([`Monitor::pause`]): a commit then builds no
    /// notifications. Whatever commits meanwhile is unknown to the guard afterwards, so a
    /// refused batch is not resent: [`Guard::ours_changed`] answers yes from then on.
    pub(crate) fn paused<T>(&self, send: impl FnOnce() -> T) -> Result<T, ApplyError> {
        let socket = |e| ApplyError::Socket {
            op: "pausing nf_tables notifications".into(),
            source: e,
        };
        self.lock().monitor.pause().map_err(socket)?;
        let out = send();
        self.lock().monitor.resume().map_err(socket)?;
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
