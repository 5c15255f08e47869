//! The state-dir lock: refusal naming the holder, release on SIGKILL, serialisation.

use super::*;

/// Starts a child holding the lock of `dir`; returns it once it holds it.
fn lock_holder(dir: &Path) -> Child {
    let ready = dir.join("ready");
    let mut c = child("hold-lock", &[("STATE_DIR", dir), ("READY", &ready)])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn lock holder");
    wait_for(
        "the child to take the lock",
        Duration::from_secs(20),
        || ready.exists(),
    );
    let state = std::fs::read_to_string(&ready).unwrap_or_default();
    if state != "None" {
        kill(&mut c);
        panic!("child could not lock: {state}");
    }
    c
}

#[test]
fn lock_second_holder_in_process_is_refused_with_our_pid() {
    let dir = super::private_tempdir();
    let first = StateLock::acquire(dir.path(), Duration::ZERO).expect("first");
    let err = StateLock::acquire(dir.path(), Duration::from_millis(120)).expect_err("busy");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "another hostwall apply/confirm/revert is running (pid {})",
            std::process::id()
        )),
        "{msg}"
    );
    drop(first);
    let again = StateLock::acquire(dir.path(), WAIT).expect("free after drop");
    drop(again);
    // The pid is cleared on release, so a stale file never names a finished process.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lock"))
            .ok()
            .as_deref(),
        Some("")
    );
}

#[test]
fn lock_across_processes_names_holder_and_is_released_by_sigkill() {
    let dir = super::private_tempdir();
    let mut holder = lock_holder(dir.path());
    let err = StateLock::acquire(dir.path(), Duration::ZERO).expect_err("held by child");
    match &err {
        Error::Busy { pid, .. } => assert_eq!(*pid, Some(holder.id()), "{err}"),
        other => panic!("expected Busy, got {other}"),
    }
    // A crash (SIGKILL) must not leave the lock stuck.
    let killer = {
        let pid = holder.id();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        })
    };
    let waited = Instant::now();
    let lock = StateLock::acquire(dir.path(), Duration::from_secs(20)).expect("after SIGKILL");
    assert!(
        waited.elapsed() >= Duration::from_millis(250),
        "did not wait for the holder"
    );
    killer.join().ok();
    kill(&mut holder);
    drop(lock);
}

#[test]
fn lock_serialises_concurrent_threads() {
    let dir = super::private_tempdir();
    let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (dir, inside) = (dir.path().to_path_buf(), inside.clone());
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let lock = StateLock::acquire(&dir, Duration::from_secs(30)).expect("lock");
                    let n = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert_eq!(n, 0, "two holders at once");
                    std::thread::sleep(Duration::from_millis(5));
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    drop(lock);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}
