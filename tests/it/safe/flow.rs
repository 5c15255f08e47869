//! guarded_apply and status_recovering: the whole safe-apply sequence with a fake kernel.

use super::*;

/// The caller's step error in the flow tests.
#[derive(Debug, thiserror::Error)]
#[error("kernel said no")]
struct StepFailed;

/// May have failed after a commit (the default): the flow restores at once.
impl hostwall::safe::StepError for StepFailed {}

/// A refused batch: provably nothing committed.
#[derive(Debug, thiserror::Error)]
#[error("batch refused: generation changed")]
struct Refused;

impl hostwall::safe::StepError for Refused {
    fn nothing_committed(&self) -> bool {
        true
    }
}

/// A refused batch (a concurrent generation, say) is not "reverted": restoring the
/// captured state would undo whatever the other writer committed meanwhile.
#[test]
fn a_step_that_committed_nothing_is_not_reverted() {
    let s = Scene::new();
    let opts = detached(Duration::from_secs(30));
    let err = guarded_apply(
        place(&s.state()),
        WAIT,
        &marker_revert(&s.marker),
        Some(&opts),
        || Ok(b"snapshot".to_vec()),
        || Err::<(), _>(Refused),
        |_, _| {},
    )
    .expect_err("refused");
    assert!(matches!(err, FlowError::Step(Refused)), "{err}");
    assert_eq!(s.reverted(), None, "restored over a concurrent change");
    s.assert_nothing_pending();
}

#[test]
fn guarded_apply_with_confirm_reverts_the_kernel_state_unless_confirmed() {
    let s = Scene::new();
    // The "kernel": a file the apply step changes and the revert restores.
    let kernel = &s.marker;
    std::fs::write(kernel, "old ruleset").expect("kernel");
    // Long enough for the refused second apply below to come before the deadline.
    let opts = detached(Duration::from_secs(3));
    let revert = marker_revert(kernel);
    let applied = guarded_apply(
        place(&s.state()),
        WAIT,
        &revert,
        Some(&opts),
        || std::fs::read(kernel).map_err(|_| StepFailed),
        || std::fs::write(kernel, "new ruleset").map_err(|_| StepFailed),
        |_, _| {},
    )
    .expect("apply");
    let (record, spawned) = applied.pending.expect("pending");
    assert_eq!(record.watcher, Some(spawned.process()));
    assert!(applied.recovered.is_none());
    assert_eq!(s.reverted().as_deref(), Some("new ruleset"));

    // A second apply while this one is pending is refused and changes nothing.
    let err = guarded_apply(
        place(&s.state()),
        WAIT,
        &revert,
        None,
        || Ok::<_, StepFailed>(vec![]),
        || std::fs::write(kernel, "third").map_err(|_| StepFailed),
        |_, _| {},
    )
    .expect_err("refused");
    assert!(
        err.to_string().starts_with("a change is already pending"),
        "{err}"
    );
    assert_eq!(s.reverted().as_deref(), Some("new ruleset"));

    wait_for("the watcher to revert", Duration::from_secs(20), || {
        s.outcome.exists()
    });
    assert_eq!(s.reverted().as_deref(), Some("old ruleset"));
    s.assert_nothing_pending();
}

#[test]
fn guarded_apply_failures_leave_nothing_pending() {
    let s = Scene::new();
    let revert = marker_revert(&s.marker);
    let opts = detached(Duration::from_secs(30));
    let err = guarded_apply(
        place(&s.state()),
        WAIT,
        &revert,
        Some(&opts),
        || Ok(b"snapshot".to_vec()),
        || Err::<(), _>(StepFailed),
        |_, _| {},
    )
    .expect_err("apply fails");
    assert!(matches!(err, FlowError::Step(StepFailed)), "{err}");
    s.assert_nothing_pending();
    // The step may have failed after committing: the previous state went back at once.
    assert_eq!(s.reverted().as_deref(), Some("snapshot"));
    std::fs::remove_file(&s.marker).expect("reset marker");

    // No watcher can be started: the change is reverted at once.
    let broken = ConfirmOptions {
        command: |_, _| {
            Ok(WatcherCommand {
                program: PathBuf::from("/nonexistent/hostwall"),
                args: vec![],
            })
        },
        ..opts
    };
    let err = guarded_apply(
        place(&s.state()),
        WAIT,
        &revert,
        Some(&broken),
        || Ok(b"snapshot".to_vec()),
        || Ok::<(), StepFailed>(()),
        |_, _| {},
    )
    .expect_err("no watcher");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot start the revert watcher: /nonexistent/hostwall:"),
        "{msg}"
    );
    assert!(
        msg.ends_with("the change was reverted because nothing could revert it later"),
        "{msg}"
    );
    assert_eq!(s.reverted().as_deref(), Some("snapshot"));
    s.assert_nothing_pending();
}

#[test]
fn status_after_a_sigkilled_watcher_reverts() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(30));
    // SAFETY: plain kill(2) of the watcher we started.
    unsafe { libc::kill(spawned.process().pid as i32, libc::SIGKILL) };
    wait_for("the watcher to die", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    let (recovered, status) =
        status_recovering(&s.state(), &SLOT, &marker_revert(&s.marker)).expect("status");
    let Some(hostwall::safe::Recovered::Reverted(r, reason)) = recovered else {
        panic!("stale change not reverted: {recovered:?}");
    };
    assert_eq!((r.id, reason), (record.id, StaleReason::WatcherGone));
    assert_eq!(status, Status::Nothing);
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
}

#[test]
fn explicit_revert_restores_and_the_watcher_then_exits() {
    let s = Scene::new();
    let (_, spawned) = s.apply_pending(Duration::from_secs(30));
    let revert = marker_revert(&s.marker);
    let reverted =
        hostwall::safe::revert_pending(&s.state(), &SLOT, Duration::from_secs(5), &revert)
            .expect("revert");
    assert!(reverted.is_some());
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
    wait_for("the watcher to exit", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    let again = hostwall::safe::revert_pending(&s.state(), &SLOT, WAIT, &revert).expect("again");
    assert_eq!(again, None);
}

/// Issue #5 review: a failed apply step (possibly after the commit) whose immediate
/// revert fails too keeps the record, due now, and the watcher retries the revert
/// with backoff until it succeeds, keeping the last error for `status`.
#[test]
fn failed_step_with_failing_revert_is_kept_and_the_watcher_retries_until_it_works() {
    let s = Scene::new();
    // The fake revert writes into the marker path: a directory there makes it fail.
    std::fs::create_dir(&s.marker).expect("blocking dir");
    let revert = marker_revert(&s.marker);
    let opts = detached(Duration::from_secs(300));
    let err = guarded_apply(
        place(&s.state()),
        WAIT,
        &revert,
        Some(&opts),
        || Ok(b"previous".to_vec()),
        || Err::<(), _>(StepFailed),
        |_, _| {},
    )
    .expect_err("apply fails");
    let msg = err.to_string();
    let FlowError::StepNotReverted { watcher, .. } = err else {
        panic!("expected StepNotReverted: {msg}");
    };
    let watcher = watcher.expect("watcher started");
    assert!(
        msg.starts_with("kernel said no; reverting to the previous state failed too"),
        "{msg}"
    );
    assert!(msg.contains("keeps retrying"), "{msg}");
    // Kept, due now (a confirm cannot keep it), with the error for `status`.
    let Status::Pending {
        record, remaining, ..
    } = pending::status(&s.state(), &SLOT).expect("status")
    else {
        panic!("the record was dropped");
    };
    assert_eq!(remaining, 0);
    assert!(record.last_error.is_some(), "{record:?}");
    // The watcher fails at least once more, then the obstacle goes and it succeeds.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(watcher.process().is_alive(), "the watcher gave up");
    std::fs::remove_dir(&s.marker).expect("unblock");
    wait_for("the watcher to revert", Duration::from_secs(20), || {
        s.outcome.exists()
    });
    assert_eq!(s.reverted().as_deref(), Some("previous"));
    let outcome = std::fs::read_to_string(&s.outcome).expect("outcome");
    assert!(outcome.starts_with("Ok(Reverted("), "{outcome}");
    s.assert_nothing_pending();
}

/// A revert that finds nothing left to revert (its namespace is gone) drops the
/// record instead of keeping it for a retry that can never succeed.
#[test]
fn nothing_left_to_revert_drops_the_record() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(30));
    // SAFETY: plain kill(2) of the watcher we started.
    unsafe { libc::kill(spawned.process().pid as i32, libc::SIGKILL) };
    wait_for("the watcher to die", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    let gone = |_: &[u8]| -> Result<(), BoxError> {
        Err(Box::new(hostwall::safe::NothingLeft(
            "namespace lab is gone".into(),
        )))
    };
    let (recovered, status) = status_recovering(&s.state(), &SLOT, &gone).expect("status");
    assert_eq!(
        recovered,
        Some(hostwall::safe::Recovered::Dropped(
            pending::Pending {
                watcher: Some(spawned.process()),
                ..record
            },
            "namespace lab is gone".into()
        ))
    );
    assert_eq!(status, Status::Nothing);
}

/// `--persist --confirm`: what the hook stores must be in place, under the lock,
/// before the watcher starts, so a quick `confirm` finds it.
#[test]
fn pending_hook_runs_under_the_lock_before_the_watcher_starts() {
    let s = Scene::new();
    let opts = detached(Duration::from_secs(30));
    let seen = std::cell::RefCell::new(None);
    let applied = hostwall::safe::guarded_apply(
        place(&s.state()),
        WAIT,
        &marker_revert(&s.marker),
        Some(&opts),
        || Ok(b"previous".to_vec()),
        || Ok::<_, StepFailed>(7),
        |record, value| {
            let busy = matches!(
                StateLock::acquire(&s.state(), Duration::ZERO),
                Err(Error::Busy { .. })
            );
            *seen.borrow_mut() = Some((record.watcher, *value, busy));
        },
    )
    .expect("apply");
    assert_eq!(*seen.borrow(), Some((None, 7, true)));
    let (_, spawned) = applied.pending.expect("pending");
    hostwall::safe::revert_pending(&s.state(), &SLOT, WAIT, &marker_revert(&s.marker))
        .expect("revert");
    wait_for("the watcher to exit", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
}
