//! How a pending change ends: every revert marks the record before the
//! kernel is touched and reports each attempt, a process that dies mid-revert leaves a
//! record that says so (and that no confirm can keep), a hang-up waits for the end of
//! the revert, and a late confirm finds the outcome.

use super::*;
use hostwall::safe::outcome::{self, End};
use hostwall::safe::{Event, Revert, RevertReason};
use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;

/// A fake apply owner: the "kernel" is a marker file; it fails the first `fail`
/// attempts, records what the pending record said during each attempt, and keeps the
/// events it is told.
struct Owner<'a> {
    marker: &'a Path,
    state: PathBuf,
    fail: RefCell<u32>,
    seen: RefCell<Vec<Option<RevertReason>>>,
    events: RefCell<Vec<Event>>,
}

impl<'a> Owner<'a> {
    fn new(s: &'a Scene, fail: u32) -> Owner<'a> {
        Owner {
            marker: &s.marker,
            state: s.state(),
            fail: RefCell::new(fail),
            seen: RefCell::new(Vec::new()),
            events: RefCell::new(Vec::new()),
        }
    }
}

impl Revert for Owner<'_> {
    fn revert(&self, previous: &[u8]) -> Result<(), BoxError> {
        let on_disk = pending::read(&self.state, &SLOT).ok().flatten();
        self.seen
            .borrow_mut()
            .push(on_disk.and_then(|r| r.reverting));
        let mut fail = self.fail.borrow_mut();
        if *fail > 0 {
            *fail -= 1;
            return Err("kernel said EPERM".into());
        }
        std::fs::write(self.marker, previous).map_err(BoxError::from)
    }

    fn namespace(&self, _: &[u8]) -> Option<String> {
        Some("lab-ns".into())
    }

    fn report(&self, event: &Event) {
        self.events.borrow_mut().push(event.clone());
    }
}

#[test]
fn each_revert_attempt_marks_the_record_first_and_is_reported_issue8() {
    let s = Scene::new();
    let lock = StateLock::acquire(&s.state(), WAIT).expect("lock");
    let record = begin(&lock, &SLOT, "web.policy", Duration::from_secs(60), b"old").expect("begin");
    let owner = Owner::new(&s, 2);
    for _ in 0..2 {
        pending::recover(&lock, &SLOT, &owner).expect_err("kernel refuses");
    }
    let rec = pending::recover(&lock, &SLOT, &owner).expect("third attempt");
    assert!(matches!(rec, Recovery::Reverted { .. }), "{rec:?}");
    // The record said "being reverted" during every attempt, the first included.
    assert_eq!(*owner.seen.borrow(), vec![Some(RevertReason::NoWatcher); 3]);
    let events = owner.events.borrow();
    assert_eq!(events.len(), 3, "{events:?}");
    for e in &events[..2] {
        let Event::RevertFailed {
            id,
            policy,
            netns,
            reason,
            error,
        } = e
        else {
            panic!("expected a failed attempt: {e:?}");
        };
        assert_eq!((id, policy.as_str()), (&record.id, "web.policy"));
        assert_eq!(netns.as_deref(), Some("lab-ns"));
        assert_eq!(*reason, RevertReason::NoWatcher);
        assert!(error.contains("kernel said EPERM"), "{error}");
    }
    let Event::Ended(done) = &events[2] else {
        panic!("expected the end: {:?}", events[2]);
    };
    assert_eq!(
        done.end,
        End::Reverted {
            reason: RevertReason::NoWatcher
        }
    );
    assert_eq!(
        outcome::last(&s.state()).expect("history").as_ref(),
        Some(done)
    );
    assert_eq!(s.reverted().as_deref(), Some("old"));
}

/// Child body for the two roles below: a pending change (its "watcher" is the parent
/// test process, alive), then `hostwall revert` whose kernel step signals itself.
pub fn revert_and_signal(role: &str, var: &dyn Fn(&str) -> PathBuf) {
    let state = var("STATE_DIR");
    let marker = var("MARKER");
    let lock = StateLock::acquire(&state, WAIT).expect("lock");
    let record =
        begin(&lock, &SLOT, "p.policy", Duration::from_secs(60), b"before").expect("begin");
    // SAFETY: getppid has no preconditions.
    let parent = pending::ProcId::of(unsafe { libc::getppid() } as u32).expect("parent");
    pending::set_watcher(&lock, &record.id, parent).expect("watcher");
    let sig = if role == "die-mid-revert" {
        libc::SIGKILL
    } else {
        libc::SIGHUP
    };
    // A hangup's default action is to end the process, but an invoker such as `nohup`
    // leaves it ignored in every child: restore the default, as a terminal session has it.
    // SAFETY: sets this process's disposition of SIGHUP to the default; no handler runs.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_DFL) };
    let kernel = |blob: &[u8]| -> Result<(), BoxError> {
        std::fs::write(&marker, blob)?;
        // To this thread: the test harness has threads of its own that do not defer
        // signals, where the hostwall binary does this work on its only thread.
        // SAFETY: signals the calling thread of this very process.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), sig) };
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    };
    let done = pending::revert_now(&lock, &SLOT, &kernel, None, RevertReason::Requested);
    // Reached only if the SIGHUP was not deferred to the end of the revert.
    std::fs::write(var("OUTCOME"), format!("{done:?}")).ok();
}

fn run_role(s: &Scene, role: &str) -> std::process::ExitStatus {
    let state = s.state();
    let status = child(
        role,
        &[
            ("STATE_DIR", &state),
            ("MARKER", &s.marker),
            ("OUTCOME", &s.outcome),
        ],
    )
    .stdout(Stdio::null())
    .status()
    .expect("child");
    assert_eq!(
        s.reverted().as_deref(),
        Some("before"),
        "never reached the kernel"
    );
    status
}

#[test]
fn a_process_killed_mid_revert_leaves_a_record_no_confirm_can_keep_issue8() {
    let s = Scene::new();
    let status = run_role(&s, "die-mid-revert");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    // The kernel is back to "before" and the record says it is being reverted.
    let Status::Pending { record, .. } = pending::status(&s.state(), &SLOT).expect("status") else {
        panic!("the record vanished with the process");
    };
    assert_eq!(record.reverting, Some(RevertReason::Requested));
    std::fs::remove_file(&s.marker).expect("reset");
    // Before its deadline, a confirm still cannot keep it: it finishes the revert.
    let got =
        pending::confirm(&s.state(), &SLOT, WAIT, &marker_revert(&s.marker)).expect("confirm");
    let Confirmed::TooLate(o) = got else {
        panic!("a half-reverted change was kept: {got:?}");
    };
    assert_eq!((o.id.as_str(), o.undone()), (record.id.as_str(), true));
    assert_eq!(
        o.end,
        End::Reverted {
            reason: RevertReason::Requested
        }
    );
    assert_eq!(s.reverted().as_deref(), Some("before"));
    s.assert_nothing_pending();
}

#[test]
fn a_hangup_during_a_revert_waits_for_its_end_issue8() {
    let s = Scene::new();
    let status = run_role(&s, "hup-mid-revert");
    // The SIGHUP did end the process, but only after the revert was complete.
    assert_eq!(status.signal(), Some(libc::SIGHUP), "{status:?}");
    assert!(!s.outcome.exists(), "SIGHUP never delivered");
    s.assert_nothing_pending();
    let last = outcome::last(&s.state())
        .expect("history")
        .expect("an outcome");
    assert_eq!(
        last.end,
        End::Reverted {
            reason: RevertReason::Requested
        }
    );
}

#[test]
fn a_late_confirm_finds_the_watchers_revert_issue8() {
    let s = Scene::new();
    let (record, _) = s.apply_pending(Duration::from_secs(1));
    wait_for("the watcher to revert", Duration::from_secs(20), || {
        s.outcome.exists()
    });
    let got =
        pending::confirm(&s.state(), &SLOT, WAIT, &marker_revert(&s.marker)).expect("confirm");
    let Confirmed::Ended(o) = got else {
        panic!("expected the watcher's outcome: {got:?}");
    };
    assert_eq!(o.id, record.id);
    assert_eq!(
        o.end,
        End::Reverted {
            reason: RevertReason::DeadlinePassed
        }
    );
    assert!(
        o.at >= record.deadline,
        "reverted before the deadline: {o:?}"
    );
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
}
