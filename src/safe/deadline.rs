//! When a pending change is due: its deadline in Unix seconds (shown, and deciding for a
//! record from another boot) and the same moment on the clock since boot
//! (`/proc/uptime`, suspend included), which decides in the boot it names, so that a
//! wall clock stepped back (NTP, a clock kept in local time) does not delay the revert
//! nor one stepped forward hasten it.

use super::pending::Pending;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A moment on the clock since boot (`/proc/uptime`, suspend included), in the boot it
/// was taken in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootDeadline {
    /// `kernel.random.boot_id` when it was taken.
    pub boot_id: String,
    /// Milliseconds since that boot.
    pub ms: u64,
}

impl BootDeadline {
    /// `after` from now, or `None` when the clock since boot cannot be read.
    pub(super) fn after(after: Duration) -> Option<BootDeadline> {
        let (boot_id, now) = boot_now()?;
        let ms = now.saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
        Some(BootDeadline { boot_id, ms })
    }

    /// Time left until it, or `None` in another boot (or with no clock since boot).
    fn left(&self) -> Option<Duration> {
        let (boot_id, now) = boot_now()?;
        (boot_id == self.boot_id).then(|| Duration::from_millis(self.ms.saturating_sub(now)))
    }
}

/// This boot's id and the milliseconds since it began.
fn boot_now() -> Option<(String, u64)> {
    let boot_id = crate::sysctl::boot_id().ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Some((boot_id, (secs * 1000.0) as u64))
}

impl Pending {
    /// Time left before the revert (zero once the deadline has passed): on the clock
    /// since boot in the boot the record was made in, else by the wall clock.
    pub fn left(&self) -> Duration {
        if let Some(left) = self.boot_deadline.as_ref().and_then(BootDeadline::left) {
            return left;
        }
        (std::time::UNIX_EPOCH + Duration::from_secs(self.deadline))
            .duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// Whether the deadline has passed.
    pub fn due(&self) -> bool {
        self.left().is_zero()
    }

    /// Whole seconds left before the revert, rounded up (0 once the deadline has passed).
    pub fn remaining(&self) -> u64 {
        let left = self.left();
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }
}

/// The Unix second by which `timeout` from now has fully passed, and the same moment on
/// the clock since boot. Rounded up from the precise time: `--confirm 2` started at
/// x.9 s must not expire at x+2.0 s.
pub(super) fn deadline_after(timeout: Duration) -> (u64, Option<BootDeadline>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let end = now + timeout;
    let deadline = end.as_secs() + u64::from(end.subsec_nanos() > 0);
    let until = Duration::from_secs(deadline).saturating_sub(now);
    (deadline, BootDeadline::after(until))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe::pending::FORMAT_VERSION;
    use crate::safe::unix_now;

    /// A record due `boot` on the clock since boot (this boot's) and `unix` on the wall
    /// clock, in seconds from now.
    fn due_at(boot: Option<(i64, &str)>, unix: i64) -> Pending {
        let shift = |now: u64, by: i64| now.saturating_add_signed(by);
        let (id, now) = boot_now().expect("the clock since boot");
        Pending {
            version: FORMAT_VERSION,
            id: "c1-1".into(),
            netns: None,
            policy: "p".into(),
            created: unix_now(),
            deadline: shift(unix_now(), unix),
            boot_deadline: boot.map(|(secs, boot_id)| BootDeadline {
                boot_id: if boot_id.is_empty() {
                    id.clone()
                } else {
                    boot_id.into()
                },
                ms: shift(now, secs * 1000),
            }),
            watcher: None,
            previous_len: 0,
            previous_sha256: String::new(),
            last_error: None,
            reverting: None,
        }
    }

    #[test]
    fn the_clock_since_boot_decides_in_its_boot_whatever_the_wall_clock_says() {
        // The wall clock stepped back an hour: the deadline still passes on time.
        let r = due_at(Some((0, "")), 3600);
        assert!(r.due() && r.remaining() == 0);
        // Stepped forward an hour: not reverted early.
        let r = due_at(Some((60, "")), -3600);
        assert!(!r.due());
        assert!((59..=60).contains(&r.remaining()), "{}", r.remaining());
        // A record from another boot (or without the clock) goes by the wall clock.
        let other = "00000000-0000-0000-0000-000000000000";
        assert!(due_at(Some((60, other)), -5).due());
        assert!(!due_at(Some((0, other)), 60).due());
        assert!(due_at(None, -5).due() && !due_at(None, 60).due());
    }
}
