//! Termination signals around state changes: a change of the kernel state and of the
//! pending record that describes it must not be cut in half by a hang-up (SIGHUP), an
//! interrupt (SIGINT), SIGTERM or SIGQUIT. [`Deferred`] blocks them for the calling
//! thread (and the threads it starts) for the length of a critical section; a signal
//! that arrived meanwhile is delivered when the guard goes, with its usual effect.
//! [`SignalFd`] lets a waiting prompt notice them as events instead.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The signals that end a process by default and that a user or a dying session sends.
pub const TERMINATION: [libc::c_int; 4] =
    [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGQUIT];

fn termination_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in TERMINATION {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Ignores SIGHUP for the rest of the process, and discards one already pending (held
/// back by a [`Deferred`]): once a prompt's terminal is gone, the signal its hang-up
/// sends has nothing left to end, and must not kill the process as the deferral ends.
pub fn ignore_hangups() {
    // SAFETY: sets SIGHUP's disposition to SIG_IGN; no handler runs.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// Blocks [`TERMINATION`] until dropped; then the previous mask comes back (nested
/// guards therefore keep blocking until the outermost goes).
pub struct Deferred {
    previous: libc::sigset_t,
}

impl Deferred {
    pub fn new() -> Deferred {
        let set = termination_set();
        // SAFETY: pthread_sigmask with a valid set and a local out-parameter.
        let previous = unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            old
        };
        Deferred { previous }
    }
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred::new()
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// A `signalfd` for [`TERMINATION`]; only sees them while they are blocked (hold a
/// [`Deferred`] as long as this lives).
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    pub fn new() -> std::io::Result<SignalFd> {
        let set = termination_set();
        // SAFETY: signalfd(-1, ...) creates a new descriptor from a valid set.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SignalFd { fd })
    }

    /// The number of one pending signal, if any (non-blocking).
    pub fn take(&self) -> Option<libc::c_int> {
        // SAFETY: a zeroed signalfd_siginfo is a valid buffer of its own size.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reads at most `size` bytes into `info`.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        (n as usize == size).then_some(info.ssi_signo as libc::c_int)
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_signal_is_seen_by_the_signalfd_not_delivered() {
        // Runs on its own thread: the mask is per thread, and a thread-directed signal
        // (tgkill) stays pending on this thread only.
        let seen = std::thread::spawn(|| {
            let _guard = Deferred::new();
            let fd = SignalFd::new().expect("signalfd");
            // SAFETY: signals this very thread, which blocks SIGHUP.
            unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    libc::getpid(),
                    libc::gettid(),
                    libc::SIGHUP,
                );
            }
            fd.take()
        })
        .join()
        .expect("thread");
        assert_eq!(seen, Some(libc::SIGHUP));
    }
}
