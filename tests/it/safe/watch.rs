//! The revert watcher and the pending record: timeout, confirm, SIGKILL, refusal, crashes.

use super::*;

#[test]
fn unconfirmed_change_is_reverted_by_the_watcher_after_the_timeout() {
    let s = Scene::new();
    let started = Instant::now();
    let (record, spawned) = s.apply_pending(Duration::from_secs(1));
    match pending::status(&s.state(), &SLOT).expect("status") {
        Status::Pending {
            record: r,
            remaining,
            watcher,
        } => {
            assert_eq!(r.id, record.id);
            assert!((1..=2).contains(&remaining), "{remaining}");
            assert_eq!(watcher, WatcherHealth::Alive);
        }
        Status::Nothing => panic!("nothing pending right after apply"),
    }
    assert_eq!(s.reverted(), None, "reverted before the deadline");
    wait_for("the watcher to revert", Duration::from_secs(20), || {
        s.outcome.exists()
    });
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "reverted early"
    );
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
    let outcome = std::fs::read_to_string(&s.outcome).unwrap_or_default();
    assert!(outcome.starts_with("Ok(Reverted("), "{outcome}");
    assert_eq!(
        pending::status(&s.state(), &SLOT).expect("status"),
        Status::Nothing
    );
    assert!(!SLOT.previous_path(&s.state()).exists());
    wait_for("the watcher to exit", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
}

#[test]
fn confirmed_change_is_kept_and_the_watcher_exits() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(2));
    let confirmed = pending::confirm(
        &s.state(),
        &SLOT,
        Duration::from_secs(5),
        &marker_revert(&s.marker),
    )
    .expect("confirm");
    let record = pending::Pending {
        watcher: Some(spawned.process()),
        ..record
    };
    assert_eq!(confirmed, Confirmed::Kept(record.clone()));
    wait_for(
        "the watcher to notice the confirm",
        Duration::from_secs(10),
        || s.outcome.exists(),
    );
    assert_eq!(
        std::fs::read_to_string(&s.outcome).ok().as_deref(),
        Some(format!("{:?}", Ok::<_, Error>(WatchOutcome::NotPending)).as_str())
    );
    std::thread::sleep(Duration::from_millis(2500)); // past the deadline
    assert_eq!(s.reverted(), None, "a confirmed change was reverted");
    assert!(!spawned.process().is_alive());
    // Confirming again finds nothing pending, and says how the change ended.
    let again =
        pending::confirm(&s.state(), &SLOT, WAIT, &marker_revert(&s.marker)).expect("again");
    assert!(
        matches!(&again, Confirmed::Ended(o) if o.id == record.id && !o.undone()),
        "{again:?}"
    );
}

#[test]
fn sigkilled_watcher_is_detected_and_the_next_invocation_reverts() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(30));
    let pid = spawned.process().pid;
    // SAFETY: plain kill(2) of the watcher we started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    wait_for("the watcher to die", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    match pending::status(&s.state(), &SLOT).expect("status") {
        Status::Pending { watcher, .. } => assert_eq!(watcher, WatcherHealth::Gone),
        Status::Nothing => panic!("record vanished with its watcher"),
    }
    let lock = StateLock::acquire(&s.state(), WAIT).expect("lock");
    let rec = pending::recover(&lock, &SLOT, &marker_revert(&s.marker)).expect("recover");
    assert_eq!(
        rec,
        Recovery::Reverted {
            record: pending::Pending {
                watcher: Some(spawned.process()),
                ..record
            },
            reason: StaleReason::WatcherGone
        }
    );
    assert_eq!(s.reverted().as_deref(), Some("previous ruleset"));
    assert_eq!(
        pending::recover(&lock, &SLOT, &marker_revert(&s.marker)).expect("again"),
        Recovery::Nothing
    );
}

#[test]
fn second_apply_while_pending_is_refused() {
    let s = Scene::new();
    let (record, spawned) = s.apply_pending(Duration::from_secs(30));
    let lock = StateLock::acquire(&s.state(), WAIT).expect("lock");
    let rec = pending::recover(&lock, &SLOT, &marker_revert(&s.marker)).expect("recover");
    assert!(
        matches!(&rec, Recovery::Pending(r) if r.id == record.id),
        "{rec:?}"
    );
    let err =
        begin(&lock, &SLOT, "other.policy", Duration::from_secs(5), b"x").expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "a change is already pending in this network namespace (id {}, policy host.policy, ",
            record.id
        )),
        "{msg}"
    );
    assert!(msg.contains("run `hostwall confirm`"), "{msg}");
    // Issue #8 item 4: another namespace's slot is free at the same time.
    let other = hostwall::safe::Slot::new("c2f", Some("lab")).expect("slot");
    let second = begin(&lock, &other, "lab.policy", Duration::from_secs(5), b"y").expect("free");
    assert!(second.id.ends_with("-c2f"), "{}", second.id);
    let err = begin(&lock, &other, "again", Duration::from_secs(5), b"z").expect_err("taken");
    assert!(
        err.to_string()
            .contains("already pending in network namespace lab")
            && err.to_string().contains("`hostwall confirm --netns lab`"),
        "{err}"
    );
    drop(lock);
    pending::confirm(
        &s.state(),
        &SLOT,
        Duration::from_secs(5),
        &marker_revert(&s.marker),
    )
    .expect("confirm");
    wait_for("the watcher to exit", Duration::from_secs(5), || {
        !spawned.process().is_alive()
    });
    assert_eq!(s.reverted(), None);
}

#[test]
fn crash_before_the_watcher_started_is_reverted() {
    let s = Scene::new();
    let (lock, record) = s.begin(Duration::from_secs(60), b"before");
    drop(lock); // the applying process dies here
    let lock = StateLock::acquire(&s.state(), WAIT).expect("lock");
    let rec = pending::recover(&lock, &SLOT, &marker_revert(&s.marker)).expect("recover");
    assert_eq!(
        rec,
        Recovery::Reverted {
            record,
            reason: StaleReason::NoWatcher
        }
    );
    assert_eq!(s.reverted().as_deref(), Some("before"));
}

#[test]
fn late_confirm_reverts_and_a_live_watcher_past_its_deadline_is_overtaken() {
    let s = Scene::new();
    // A "watcher" that is alive but never acts (stuck): `sleep`.
    let mut stuck = Command::new("sleep").arg("30").spawn().expect("sleep");
    let (lock, record) = s.begin(Duration::ZERO, b"old");
    let proc_id = pending::ProcId::of(stuck.id()).expect("sleep runs");
    pending::set_watcher(&lock, &record.id, proc_id).expect("set watcher");
    drop(lock);
    std::thread::sleep(Duration::from_millis(1100));
    let got =
        pending::confirm(&s.state(), &SLOT, WAIT, &marker_revert(&s.marker)).expect("confirm");
    assert!(
        matches!(got, Confirmed::TooLate(ref r) if r.id == record.id),
        "{got:?}"
    );
    assert_eq!(s.reverted().as_deref(), Some("old"));

    std::fs::remove_file(&s.marker).expect("reset marker");
    let (lock, record) = s.begin(Duration::ZERO, b"old2");
    pending::set_watcher(&lock, &record.id, proc_id).expect("set watcher");
    std::thread::sleep(Duration::from_millis(1100));
    let rec = pending::recover(&lock, &SLOT, &marker_revert(&s.marker)).expect("recover");
    assert!(
        matches!(
            rec,
            Recovery::Reverted {
                reason: StaleReason::DeadlinePassed,
                ..
            }
        ),
        "{rec:?}"
    );
    assert_eq!(s.reverted().as_deref(), Some("old2"));
    kill(&mut stuck);
}

#[test]
fn failed_revert_keeps_the_record_for_a_retry() {
    let s = Scene::new();
    let (lock, record) = s.begin(Duration::from_secs(60), b"snap");
    let failing =
        |_: &[u8]| -> Result<(), BoxError> { Err("netlink: Operation not permitted".into()) };
    let err = pending::recover(&lock, &SLOT, &failing).expect_err("revert fails");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "reverting pending change {} failed: netlink: Operation not permitted",
            record.id
        )),
        "{msg}"
    );
    // Kept, and marked as being reverted (a confirm can no longer keep it).
    let kept = pending::Pending {
        reverting: Some(StaleReason::NoWatcher),
        ..record
    };
    assert_eq!(pending::read(&s.state(), &SLOT).expect("read"), Some(kept));
    let rec = pending::recover(&lock, &SLOT, &marker_revert(&s.marker)).expect("retry");
    assert!(matches!(rec, Recovery::Reverted { .. }));
    assert_eq!(s.reverted().as_deref(), Some("snap"));
}

#[test]
#[ignore = "needs root"]
fn a_process_in_a_private_netns_never_uses_a_systemd_unit() {
    crate::support::root::require();
    // A transient unit would run in PID 1's namespace and revert the wrong ruleset.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("answer");
    let cmd = child("netns", &[("OUTCOME", &out)]);
    let status = Command::new("unshare")
        .arg("-n")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(Stdio::null())
        .status()
        .expect("unshare");
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&out).ok().as_deref(), Some("false"));
}

#[test]
fn the_watcher_inherits_no_descriptors_beyond_stdio() {
    // A descriptor without O_CLOEXEC, as a C library's netlink socket would be.
    // SAFETY: socket(2) with constant arguments; the fd is closed below.
    let leaky = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) };
    assert!(leaky > 2);
    // The socket's identity (`socket:[INODE]`): the watcher may open descriptors of its
    // own under the same number, so compare what they are, not their numbers.
    let leaky_is = std::fs::read_link(format!("/proc/self/fd/{leaky}")).expect("own fd link");
    let s = Scene::new();
    let (_, spawned) = s.apply_pending(Duration::from_secs(30));
    let pid = spawned.process().pid;
    // Between fork and exec the child still holds the parent's descriptors (they close
    // at exec): look only once the watcher runs its own program.
    let ours = std::fs::read("/proc/self/cmdline").expect("own cmdline");
    let execed = || std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c != ours);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !execed() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(execed(), "the watcher never ran its own program");
    let fds: Vec<std::path::PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("watcher fds")
        .filter_map(|e| e.ok().and_then(|e| std::fs::read_link(e.path()).ok()))
        .collect();
    // SAFETY: closes the descriptor this test opened.
    unsafe { libc::close(leaky) };
    assert!(
        !fds.contains(&leaky_is),
        "watcher inherited {} (fd {leaky}): {fds:?}",
        leaky_is.display()
    );
    pending::confirm(&s.state(), &SLOT, WAIT, &marker_revert(&s.marker)).expect("confirm");
}
