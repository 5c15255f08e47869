//! Closing netfilter sockets in a process of their own, so that a command that has done
//! its work does not wait for their release: after a commit that release waits out an
//! RCU grace period ([`super::CloseLate`]), 5 to 17 ms on a 2-CPU VM after a one-element
//! change. The closer is a grandchild (its parent, a child, exits at once and is reaped
//! here, so no zombie is left behind, even while `apply --confirm` waits at its prompt).
//! Before anything else it closes every descriptor but the sockets (standard streams,
//! the state lock, pipes), so no reader waits for it and no lock outlives the command;
//! then it waits until this process has closed its own copies (at most 10 s), so that
//! its close is the last, closes the sockets, and exits. It blocks every signal but
//! SIGKILL and SIGSTOP, so no handler of this process runs in it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Closes `fds` in a closer process; here when one cannot be started (each step that
/// fails leaves them to be closed here, as a plain drop would).
pub(super) fn close_in_child(fds: Vec<OwnedFd>) {
    if fds.is_empty() || !close_range_works() {
        return;
    }
    let Some((ready, parent_done)) = pipe() else {
        return;
    };
    let socks: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let mut keep = socks.clone();
    keep.push(ready.as_raw_fd());
    keep.sort_unstable();
    // SAFETY: sigfillset fills a local set.
    let all = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        all
    };
    // SAFETY: fork duplicates only this thread. The child and the grandchild run only
    // async-signal-safe calls (sigprocmask, fork in a now single-threaded process,
    // close_range, poll, close, _exit) on integers, a signal set and vectors made before
    // the fork, and never return into Rust code; the parent only reaps the child it made.
    unsafe {
        match libc::fork() {
            0 => {
                // No handler of this process ever runs in a closer (one that writes to a
                // descriptor by number would write to whatever holds it there now).
                libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
                if libc::fork() == 0 {
                    closer(&keep, ready.as_raw_fd(), &socks);
                }
                libc::_exit(0);
            }
            -1 => {}
            child => {
                let mut status = 0;
                while libc::waitpid(child, &mut status, 0) < 0
                    && *libc::__errno_location() == libc::EINTR
                {}
            }
        }
    }
    // This process's copies go first (the closer still holds the sockets, so these are
    // not their release); then the closer hears the pipe close and closes its own.
    drop(fds);
    drop(parent_done);
    drop(ready);
}

/// The closer's whole life: keeps `keep`, waits for end of file on `ready` (or
/// [`WAIT_MS`]), closes `socks`, exits.
///
/// # Safety
/// Only in a single-threaded process made by fork; never returns.
unsafe fn closer(keep: &[RawFd], ready: RawFd, socks: &[RawFd]) -> ! {
    // SAFETY: the caller's promise; every call here is async-signal-safe.
    unsafe {
        let mut from: u32 = 0;
        for &k in keep {
            let k = k as u32;
            if k > from {
                close_range(from, k - 1);
            }
            from = k + 1;
        }
        close_range(from, u32::MAX);
        // Until this process has closed its copies (end of file, or the hang-up of
        // the pipe), at most `WAIT_MS`: a closer never outlives that by much.
        let mut p = libc::pollfd {
            fd: ready,
            events: libc::POLLIN,
            revents: 0,
        };
        libc::poll(&mut p, 1, WAIT_MS);
        for &s in socks {
            libc::close(s);
        }
        libc::_exit(0)
    }
}

/// The longest a closer waits for this process to close its copies of the sockets
/// (it does so right after the fork); past it, its close is simply not the last.
const WAIT_MS: libc::c_int = 10_000;

/// The `close_range` system call (Linux 5.9), which a closer needs to close what it
/// inherits without reading `/proc`.
///
/// # Safety
/// The descriptors from `first` to `last` must be ones nothing here uses any more.
unsafe fn close_range(first: u32, last: u32) -> libc::c_long {
    // SAFETY: closes descriptors by number; the caller knows which ones.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) }
}

/// Whether the kernel has `close_range` (an empty range above every descriptor).
fn close_range_works() -> bool {
    // SAFETY: the range holds no open descriptor.
    unsafe { close_range(u32::MAX, u32::MAX) == 0 }
}

/// A pipe (read end, write end), both close-on-exec.
fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut p = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array; each fd is owned from then on.
    unsafe {
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return None;
        }
        Some((OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ino(fd: &OwnedFd) -> u64 {
        let dup = fd.try_clone().expect("dup");
        std::fs::File::from(dup).metadata().expect("fstat").ino()
    }

    fn open_netlink(ino: u64) -> bool {
        let table = std::fs::read_to_string("/proc/net/netlink").expect("read");
        (table.lines().skip(1)).any(|l| {
            l.split_whitespace()
                .nth(9)
                .and_then(|f| f.parse::<u64>().ok())
                == Some(ino)
        })
    }

    /// The closer takes nothing but the sockets with it, leaves no zombie, and closes
    /// them after this process has.
    #[test]
    fn the_closer_closes_the_sockets_and_holds_nothing_else() {
        let s = super::super::NfSocket::open().expect("socket");
        let sock_ino = ino(&s.fd);
        let fd = s.fd.try_clone().expect("dup");
        drop(s);
        // A pipe whose write end is open here when the closer starts: once it is
        // closed here, end of file proves that no closer holds a copy.
        let (r, w) = pipe().expect("pipe");
        close_in_child(vec![fd]);
        drop(w);
        assert!(
            end_of_file_within(&r, 10),
            "a copy of the write end is left"
        );
        let children = std::fs::read_to_string("/proc/thread-self/children").unwrap_or_default();
        assert!(!zombie_among(&children), "{children}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while open_netlink(sock_ino) {
            assert!(
                std::time::Instant::now() < deadline,
                "the socket is still open"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Whether reading `r` comes to its end within `secs` seconds.
    fn end_of_file_within(r: &OwnedFd, secs: i32) -> bool {
        let mut p = libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let mut byte = 0u8;
        // SAFETY: poll and read on a live descriptor, with a one-element array and a
        // one-byte buffer.
        unsafe {
            libc::poll(&mut p, 1, secs * 1000) == 1
                && libc::read(r.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) == 0
        }
    }

    /// Whether any of the pids listed is a zombie.
    fn zombie_among(pids: &str) -> bool {
        pids.split_whitespace().any(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state == Some("Z")
        })
    }
}
