//! Removing this process's namespaces when SIGINT, SIGTERM or SIGHUP arrives. Nothing
//! is installed unless a caller asks ([`on_interrupt`]), and what the process does
//! once its namespaces are gone is the caller's choice: the binary dies of the signal
//! (`cli::interrupt`); the library never ends the process itself.

use std::io;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, Ordering};

/// Write end of the self-pipe the signal handler writes the signal number to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
const CLEANUP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Makes SIGINT, SIGTERM and SIGHUP remove every namespace this process still holds
/// ([`super::remove_registered`]) and then call `then(signal)`. Idempotent: the first
/// call's `then` stays.
///
/// The handler only writes the signal number to a pipe (async-signal-safe); a watcher
/// thread does the unmounting and calls `then` there. `then` must end the process (or
/// restore the signal's effect itself): the signal is consumed.
pub fn on_interrupt(then: fn(libc::c_int)) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut fds = [0; 2];
        // SAFETY: fds is valid for two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return; // Without a pipe there is no safe handler; drop guards still clean up.
        }
        SIGNAL_PIPE.store(fds[1], Ordering::SeqCst);
        let read_fd = fds[0];
        if std::thread::Builder::new()
            .name("netns-signal-cleanup".into())
            .spawn(move || watch(read_fd, then))
            .is_err()
        {
            return;
        }
        for sig in CLEANUP_SIGNALS {
            // SAFETY: installing a handler that only calls write(2).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    let byte = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the buffer is a local byte.
    unsafe {
        libc::write(fd, (&byte as *const u8).cast(), 1);
    }
}

fn watch(read_fd: libc::c_int, then: fn(libc::c_int)) {
    let mut byte = 0u8;
    loop {
        // SAFETY: reading one byte into a local.
        let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            break;
        }
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return;
    }
    super::remove_registered();
    then(libc::c_int::from(byte));
}
