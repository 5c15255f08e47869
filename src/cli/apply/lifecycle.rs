//! The life of a pending change after `apply --confirm`: the prompt's outcome, the
//! `confirm`, `revert`, `status` commands and the hidden `watch-revert`, with their
//! messages and exit codes (see docs/safe-apply.md, "Exit codes").

use super::owner::Owner;
use super::slot::{self, PendingArgs};
use super::{LOCK_WAIT, StateArgs, WatchArgs, deferred, ended, json, lastgood, prompt};
use crate::cli::output::Out;
use crate::cli::{EXIT_POLICY, EXIT_SYSTEM};
use hostwall::safe::pending::{Confirmed, Pending, Reverted, WatcherHealth};
use hostwall::safe::{self, End, Outcome, Recovered, Slot, Status};
use std::path::Path;

/// After `apply --confirm`: on a terminal, ask; elsewhere say how to confirm.
pub fn pending_prompt(
    out: &Out,
    state: &StateArgs,
    owner: &Owner,
    slot: &Slot,
    record: &Pending,
) -> u8 {
    let left = record.remaining();
    // Under --format json standard output is the document: no prompt.
    if !prompt::interactive() || json::active() {
        out.stderr(&format!(
            "hostwall: change {} is pending: run `hostwall confirm{}` within {left}s (ideally from a new SSH session) or it is reverted\n",
            record.id,
            netns_flag(slot.netns()),
        ));
        return 0;
    }
    // Hang-ups and interrupts become prompt events, and cannot cut the confirm or
    // revert that follows an answer in half.
    let _deferred = safe::signals::Deferred::new();
    let dir = &state.state_dir;
    match prompt::ask(out, record.left()) {
        prompt::Answer::Yes => confirm_in(out, dir, slot, owner),
        prompt::Answer::No => refuse(out, dir, slot, owner, record),
        prompt::Answer::Deadline => settle(out, dir, slot, owner, record),
        prompt::Answer::Lost(why) => {
            // The terminal is gone: the hang-up's own SIGHUP has nothing left to end.
            safe::signals::ignore_hangups();
            no_answer(out, owner, slot, record, &why, 0)
        }
        prompt::Answer::Signal(sig) => {
            let why = format!("signal {}", signal_name(sig));
            let code = 128u8.saturating_add(sig as u8);
            no_answer(out, owner, slot, record, &why, code)
        }
    }
}

/// ` --netns NAME` for a change made with `--netns`, else nothing.
fn netns_flag(netns: Option<&str>) -> String {
    netns.map(|n| format!(" --netns {n}")).unwrap_or_default()
}

/// ` in network namespace NAME` for a `--netns` slot, else nothing.
fn in_text(slot: &Slot) -> String {
    slot.netns()
        .map(|n| format!(" in network namespace {n}"))
        .unwrap_or_default()
}

/// The slot a `confirm`/`status`/`revert` command means; prints the error itself.
fn slot_of(out: &Out, p: &PendingArgs) -> Result<Slot, u8> {
    slot::resolve(p.netns.as_deref()).map_err(|e| {
        json::error(out, &e);
        EXIT_SYSTEM
    })
}

fn signal_name(sig: libc::c_int) -> String {
    match sig {
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        n => n.to_string(),
    }
}

/// The prompt ended without an answer: not a "no". The change stays until its
/// deadline; say so (the terminal may be gone) and leave a trace in the system log.
fn no_answer(out: &Out, owner: &Owner, slot: &Slot, record: &Pending, why: &str, code: u8) -> u8 {
    owner.prompt_lost(&record.id, &record.policy, why, record.deadline);
    out.stderr(&format!(
        "\nhostwall: {why}: no answer; change {} stays pending until {}: run `hostwall confirm{}` to keep it, or it is reverted then\n",
        record.id,
        when(record.deadline),
        netns_flag(slot.netns()),
    ));
    code
}

fn refuse(out: &Out, dir: &Path, slot: &Slot, owner: &Owner, record: &Pending) -> u8 {
    let result = safe::refuse_pending(dir, LOCK_WAIT, owner, &record.id);
    deferred::discard(dir, slot);
    match result {
        Ok(Some((r, done))) => reverted_text(out, &r, &done),
        Ok(None) => ended_elsewhere(out, dir, &record.id),
        Err(e) => {
            json::error(out, &e.to_string());
            EXIT_SYSTEM
        }
    }
}

fn settle(out: &Out, dir: &Path, slot: &Slot, owner: &Owner, record: &Pending) -> u8 {
    match safe::settle_pending(dir, LOCK_WAIT, owner, &record.id) {
        Ok(Some(o)) => {
            if o.undone() {
                deferred::discard(dir, slot);
            }
            out.stderr(&format!(
                "hostwall: no answer by the deadline: {}\n",
                ended_text(&o)
            ));
            if o.undone() { EXIT_POLICY } else { 0 }
        }
        Ok(None) => {
            out.stderr(&format!(
                "hostwall: change {} is still pending: its watcher reverts it at the deadline\n",
                record.id
            ));
            0
        }
        Err(e) => {
            json::error(out, &e.to_string());
            EXIT_SYSTEM
        }
    }
}

/// The change `id` is no longer pending although this process did not end it.
fn ended_elsewhere(out: &Out, dir: &Path, id: &str) -> u8 {
    match safe::outcome::of(dir, id) {
        Ok(Some(o)) => {
            out.stderr(&format!("hostwall: meanwhile {}\n", ended_text(&o)));
            if o.undone() { 0 } else { EXIT_POLICY }
        }
        _ => {
            out.stderr(&format!("hostwall: change {id} is no longer pending\n"));
            0
        }
    }
}

pub fn confirm(out: &Out, p: &PendingArgs) -> u8 {
    json::run(out, p.format, "confirm", || {
        ended::start(p.netns.as_deref());
        match slot_of(out, p) {
            Ok(slot) => confirm_in(out, &p.state.state_dir, &slot, &p.state.owner()),
            Err(code) => code,
        }
    })
}

fn confirm_in(out: &Out, state_dir: &Path, slot: &Slot, owner: &Owner) -> u8 {
    match safe::confirm(state_dir, slot, LOCK_WAIT, owner) {
        Ok(Confirmed::Kept(r)) => {
            ended::result("kept");
            ended::change(&r);
            out.stderr(&format!(
                "hostwall: confirmed change {} (policy {}): it stays\n",
                r.id, r.policy
            ));
            lastgood::promote(out, state_dir, slot, &r.id);
            deferred::install(out, state_dir, &r)
        }
        Ok(Confirmed::NothingPending) => {
            ended::result("nothing-pending");
            deferred::discard(state_dir, slot);
            out.stderr(&format!(
                "hostwall: no change is pending{}; nothing to confirm\n",
                in_text(slot)
            ));
            0
        }
        Ok(Confirmed::Ended(o)) if !o.undone() => {
            ended::result("nothing-pending");
            ended::last(&o);
            out.stderr(&format!(
                "hostwall: no change is pending{}; the last one was {}\n",
                in_text(slot),
                ended_text(&o)
            ));
            0
        }
        Ok(Confirmed::Ended(o) | Confirmed::TooLate(o)) => {
            ended::result("reverted");
            ended::last(&o);
            deferred::discard(state_dir, slot);
            json::error(
                out,
                &format!(
                    "nothing to confirm: {}; apply it again to retry",
                    ended_text(&o)
                ),
            );
            EXIT_POLICY
        }
        Err(e) => {
            json::error(out, &e.to_string());
            EXIT_SYSTEM
        }
    }
}

pub fn revert(out: &Out, p: &PendingArgs) -> u8 {
    json::run(out, p.format, "revert", || revert_once(out, p))
}

fn revert_once(out: &Out, p: &PendingArgs) -> u8 {
    ended::start(p.netns.as_deref());
    let slot = match slot_of(out, p) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let dir = &p.state.state_dir;
    let result = safe::revert_pending(dir, &slot, LOCK_WAIT, &p.state.owner());
    deferred::discard(dir, &slot);
    match result {
        Ok(Some((r, done))) => reverted_text(out, &r, &done),
        Ok(None) => match safe::outcome::last_in(dir, &slot) {
            Ok(Some(o)) if !o.undone() => {
                ended::result("nothing-pending");
                ended::last(&o);
                json::error(
                    out,
                    &format!(
                        "nothing to revert: no change is pending, and the last one was {}",
                        ended_text(&o)
                    ),
                );
                EXIT_POLICY
            }
            Ok(Some(o)) => {
                ended::result("nothing-pending");
                ended::last(&o);
                out.stderr(&format!(
                    "hostwall: no change is pending; the last one was {}\n",
                    ended_text(&o)
                ));
                0
            }
            _ => {
                ended::result("nothing-pending");
                out.stderr(&format!(
                    "hostwall: no change is pending{}; nothing to revert\n",
                    in_text(&slot)
                ));
                0
            }
        },
        Err(e) => {
            json::error(out, &e.to_string());
            EXIT_SYSTEM
        }
    }
}

fn reverted_text(out: &Out, r: &Pending, done: &Reverted) -> u8 {
    ended::change(r);
    ended::result(match done {
        Reverted::Restored => "reverted",
        Reverted::Dropped(_) => "dropped",
    });
    match done {
        Reverted::Restored => out.stderr(&format!(
            "hostwall: reverted change {} (policy {}): the previous ruleset and sysctls are back\n",
            r.id, r.policy
        )),
        Reverted::Dropped(note) => out.stderr(&format!(
            "hostwall: note: dropped pending change {} (policy {}): {note}\n",
            r.id, r.policy
        )),
    }
    0
}

/// `hostwall status`: reverts a stale change of the namespace first (and says so),
/// then reports its pending change, or how the last one ended, and lists what is
/// pending in other namespaces.
pub fn status(out: &Out, p: &PendingArgs) -> u8 {
    json::run(out, p.format, "status", || status_once(out, p))
}

fn status_once(out: &Out, p: &PendingArgs) -> u8 {
    ended::start(p.netns.as_deref());
    json::set("pending", false);
    let slot = match slot_of(out, p) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let s = &p.state;
    let (recovered, status) = match safe::status_recovering(&s.state_dir, &slot, &s.owner()) {
        Ok(x) => x,
        Err(e) => {
            json::error(out, &e.to_string());
            return EXIT_SYSTEM;
        }
    };
    let mut text = String::new();
    if let Some(r) = &recovered {
        deferred::discard(&s.state_dir, &slot);
        text.push_str(recovered_note(r).trim_start_matches("hostwall: "));
        json::set("recovered", super::report::recovered_value(r));
    }
    match status {
        Status::Nothing => {
            text.push_str(&format!("no change pending{}\n", in_text(&slot)));
            ended::result("nothing-pending");
            match safe::outcome::last_in(&s.state_dir, &slot) {
                Ok(Some(o)) => {
                    ended::last(&o);
                    text.push_str(&format!("last change: {}\n", ended_text(&o)))
                }
                Ok(None) => {}
                Err(e) => {
                    json::warning("outcomes", &format!("last change: unknown ({e})"));
                    text.push_str(&format!("last change: unknown ({e})\n"))
                }
            }
        }
        Status::Pending {
            record,
            remaining,
            watcher,
        } => {
            ended::result("pending");
            ended::pending(&record, remaining, watcher);
            text.push_str(&pending_text(&record, remaining, watcher))
        }
    }
    text.push_str(&slot::elsewhere(&s.state_dir, &slot));
    ended::elsewhere(&s.state_dir, &slot);
    if json::active() {
        // Standard output holds the document.
        out.stderr(&text);
        return 0;
    }
    out.stdout(&text)
}

fn pending_text(record: &Pending, remaining: u64, watcher: WatcherHealth) -> String {
    let watcher = match (watcher, record.watcher) {
        (WatcherHealth::Alive, Some(w)) => format!("running (pid {})", w.pid),
        (WatcherHealth::Gone, _) => "GONE (the next hostwall command reverts)".into(),
        _ => "not started".into(),
    };
    let mut text = format!(
        "change {} pending: policy {}, {remaining}s left to confirm, watcher {watcher}\n",
        record.id, record.policy
    );
    if let Some(reason) = record.reverting {
        text.push_str(&format!(
            "  being reverted ({}); a confirm can no longer keep it\n",
            reason.text()
        ));
    }
    if let Some(e) = &record.last_error {
        text.push_str(&format!("  last revert attempt failed: {e}\n"));
    }
    text
}

pub fn recovered_note(r: &Recovered) -> String {
    match r {
        Recovered::Dropped(record, note) => format!(
            "hostwall: note: dropped pending change {} (policy {}): {note}\n",
            record.id, record.policy
        ),
        Recovered::Reverted(record, reason) => format!(
            "hostwall: reverted an earlier unconfirmed change {} (policy {}): {}\n",
            record.id,
            record.policy,
            reason.text()
        ),
    }
}

/// "change ID (policy P) was reverted at T (Ns ago): REASON".
pub fn ended_text(o: &Outcome) -> String {
    let what = match &o.end {
        End::Confirmed => "confirmed".to_string(),
        End::Reverted { reason } => format!("reverted because {}", reason.text()),
        End::Dropped { note, .. } => format!("dropped ({note})"),
    };
    let verb = match &o.end {
        End::Confirmed => "kept",
        _ => "ended",
    };
    let ns = o
        .netns
        .as_deref()
        .map(|n| format!(", netns {n}"))
        .unwrap_or_default();
    format!(
        "change {} (policy {}{ns}) {verb} at {}: {what}",
        o.id,
        o.policy,
        when(o.at)
    )
}

/// A Unix second as "YYYY-MM-DD HH:MM:SS UTC (Ns ago)" (or "(in Ns)").
pub fn when(at: u64) -> String {
    let now = safe::unix_now();
    let rel = if at <= now {
        format!("{}s ago", now - at)
    } else {
        format!("in {}s", at - now)
    };
    format!("{} UTC ({rel})", utc(at))
}

/// Civil date and time of a Unix second (proleptic Gregorian, UTC).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The detached watcher's body (`hostwall watch-revert`). Its output goes nowhere:
/// what it does reaches the system log (through [`Owner`]) and the outcome history.
pub fn watch_revert(w: &WatchArgs) -> u8 {
    let dir = &w.state.state_dir;
    match safe::run_watcher(dir, &w.id, &w.state.owner()) {
        Ok(safe::watcher::WatchOutcome::Reverted(r) | safe::watcher::WatchOutcome::Dropped(r)) => {
            if let Ok(slot) = r.slot() {
                deferred::discard(dir, &slot);
            }
            0
        }
        Ok(safe::watcher::WatchOutcome::NotPending) => 0,
        Err(_) => EXIT_SYSTEM,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(951_827_696), "2000-02-29 12:34:56");
        assert_eq!(super::utc(1_733_090_645), "2024-12-01 22:04:05");
    }
}
