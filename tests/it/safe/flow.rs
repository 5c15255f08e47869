//! guarded_apply and status_recovering: the whole safe-apply sequence with a fake kernel.

use super::*;

/// The caller's step error in the flow tests.
#[derive(Debug, thiserror::Error)]
#[error("kernel said no")]
struct StepFailed;

#[test]
fn guarded_apply_with_confirm_reverts_the_kernel_state_unless_confirmed() {
    let s = Scene::new();
    // The "kernel": a file the apply step changes and the revert restores.
    let kernel = &s.marker;
    std::fs::write(kernel, "old ruleset").expect("kernel");
    let opts = ConfirmOptions {
        command: scene_watcher,
        method: SpawnMethod::Detached,
        ..ConfirmOptions::new("host.policy", Duration::from_secs(1))
    };
    let revert = marker_revert(kernel);
    let applied = guarded_apply(
        &s.state(),
        WAIT,
        &revert,
        Some(&opts),
        || std::fs::read(kernel).map_err(|_| StepFailed),
        || std::fs::write(kernel, "new ruleset").map_err(|_| StepFailed),
    )
    .expect("apply");
    let (record, spawned) = applied.pending.expect("pending");
    assert_eq!(record.watcher, Some(spawned.process()));
    assert!(applied.recovered.is_none());
    assert_eq!(s.reverted().as_deref(), Some("new ruleset"));

    // A second apply while this one is pending is refused and changes nothing.
    let err = guarded_apply(
        &s.state(),
        WAIT,
        &revert,
        None,
        || Ok::<_, StepFailed>(vec![]),
        || std::fs::write(kernel, "third").map_err(|_| StepFailed),
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
    assert_eq!(
        pending::status(&s.state()).expect("status"),
        Status::Nothing
    );
}

#[test]
fn guarded_apply_failures_leave_nothing_pending() {
    let s = Scene::new();
    let revert = marker_revert(&s.marker);
    let opts = ConfirmOptions {
        command: scene_watcher,
        method: SpawnMethod::Detached,
        ..ConfirmOptions::new("host.policy", Duration::from_secs(30))
    };
    let err = guarded_apply(
        &s.state(),
        WAIT,
        &revert,
        Some(&opts),
        || Ok(b"snapshot".to_vec()),
        || Err::<(), _>(StepFailed),
    )
    .expect_err("apply fails");
    assert!(matches!(err, FlowError::Step(StepFailed)), "{err}");
    assert_eq!(
        pending::status(&s.state()).expect("status"),
        Status::Nothing
    );
    assert_eq!(s.reverted(), None, "a failed apply is not reverted again");

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
        &s.state(),
        WAIT,
        &revert,
        Some(&broken),
        || Ok(b"snapshot".to_vec()),
        || Ok::<(), StepFailed>(()),
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
    assert_eq!(
        pending::status(&s.state()).expect("status"),
        Status::Nothing
    );
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
        status_recovering(&s.state(), &marker_revert(&s.marker)).expect("status");
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
    let reverted = hostwall::safe::revert_pending(&s.state(), Duration::from_secs(5), &revert)
        .expect("revert");
    assert!(reverted.is_some());
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
    wait_for("the watcher to exit", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    let again = hostwall::safe::revert_pending(&s.state(), WAIT, &revert).expect("again");
    assert_eq!(again, None);
}
