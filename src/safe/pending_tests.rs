//! Unit tests of `pending.rs`: the record's life, refusal of a second change, the deadline's rounding.

use super::*;

#[test]
fn own_process_is_alive_and_a_changed_start_time_is_not() {
    let me = ProcId::of(std::process::id()).expect("own /proc entry");
    assert!(me.is_alive());
    let reused = ProcId {
        start_time: me.start_time + 1,
        ..me
    };
    assert!(!reused.is_alive());
}

#[test]
fn deadline_rounds_up_and_remaining_saturates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = StateLock::acquire(&dir.path().join("state"), Duration::ZERO).expect("lock");
    let before = std::time::SystemTime::now();
    let slot = Slot::new("c1", None).expect("slot");
    let r = begin(&lock, &slot, "p", Duration::from_millis(1500), b"x").expect("begin");
    let at = std::time::UNIX_EPOCH + Duration::from_secs(r.deadline);
    let after = std::time::SystemTime::now();
    let given = at.duration_since(before).expect("deadline after start");
    assert!(given >= Duration::from_millis(1500), "{given:?}");
    // Rounded up to a whole second from when `begin` ran (its fsyncs take what they
    // take): never past the second after `after + 1.5 s`.
    let latest = (after + Duration::from_millis(1500))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    assert!(r.deadline <= latest.as_secs() + 1, "{given:?}");
    // The clock since boot says the same moment, to the millisecond.
    let boot = r.boot_deadline.clone().expect("this boot's clock");
    let left = r.left();
    assert!(left > Duration::from_millis(400) && left <= Duration::from_millis(2500));
    let unix_left = at
        .duration_since(std::time::SystemTime::now())
        .expect("not yet");
    assert!(
        left.abs_diff(unix_left) < Duration::from_millis(50),
        "{left:?}"
    );
    assert_eq!(boot.boot_id, crate::sysctl::boot_id().expect("boot id"));
    assert!((1..=3).contains(&r.remaining()), "{}", r.remaining());
}
