//! Closing netfilter sockets in a process of their own, so that a command that has done
//! its work does not wait for their release: after a commit that release waits out an
//! RCU grace period ([`super::CloseLate`]), 5 to 17 ms on a 2-CPU VM after a one-element
//! change. The closer is a child made by one `clone`, which returns at once: nothing here
//! waits for it to run (a child made with `CLONE_VFORK` that made the closer and ended
//! cost 0.1 ms on a quiet 2-CPU VM and 3-4 ms in about a third of the starts on a busy
//! one, each step waiting for a CPU). A thread of this process reaps it when it ends
//! (`reaper`), so no zombie is left behind, even while `apply --confirm` waits at its
//! prompt; when this process ends first, whoever reaps orphans does.
//! Before anything else it closes every descriptor but the sockets (standard streams,
//! the state lock, pipes), so no reader waits for it and no lock outlives the command;
//! then it waits until this process has closed its own copies (at most 10 s), so that
//! its close is the last; then for an RCU grace period (`membarrier`), holding no lock,
//! so that the work its release would flush has most likely run by itself; then closes
//! the sockets, and exits. The release flushes that work under the namespace's commit
//! lock (`nft_rcv_nl_event`), so a command that commits right after this one (another
//! apply, libvirt starting a network) would wait for it in its own batch: an apply right
//! after another took 13-15 ms, 4-11 of them in the kernel waiting; with the grace period
//! waited out first, 3.6-3.8 ms (`benches/reapply.sh`, "right after another"). Every
//! signal but SIGKILL and SIGSTOP is blocked in it, so no handler of this process runs
//! in it.
//!
//! It shares this process's memory (`CLONE_VM`, as `posix_spawn` does), so starting it
//! copies no page tables, and this process's exit leaves its memory to the closer to free
//! after the command has ended. It runs on a stack of its own in a mapping made for it
//! and never unmapped here, and reads its orders from that mapping; it runs beside this
//! process, so it makes its system calls itself (no C library call: none writes `errno`,
//! a thread-local of the thread that started it) and writes nothing but its own stack.
//! On a target without those system calls written out here, the sockets are closed here.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Closes `fds` in a closer process; here when one cannot be started (each step that
/// fails leaves them to be closed here, as a plain drop would).
pub(super) fn close_in_child(fds: Vec<OwnedFd>) {
    if fds.is_empty() || fds.len() >= MAX_KEPT || !RAW_SYSCALLS || !close_range_works() {
        return;
    }
    let Some((ready, parent_done)) = pipe() else {
        return;
    };
    let Some(area) = Area::map() else {
        return;
    };
    let mut orders = Orders {
        keep: [-1; MAX_KEPT],
        kept: 0,
        socks: [-1; MAX_KEPT],
        n_socks: fds.len(),
        ready: ready.as_raw_fd(),
        closer_stack: area.closer_stack,
    };
    for (i, fd) in fds.iter().enumerate() {
        orders.socks[i] = fd.as_raw_fd();
        orders.keep[i] = fd.as_raw_fd();
    }
    orders.keep[fds.len()] = ready.as_raw_fd();
    orders.kept = fds.len() + 1;
    orders.keep[..orders.kept].sort_unstable();
    // SAFETY: the orders go into the mapping's last page, which nothing else uses, before
    // the process that reads them exists. The signal mask is this thread's: all blocked
    // while the closer and its reaper are made (they inherit it), then restored. The
    // closer runs `closer` (see there) on its own stack; the child side of clone's
    // wrapper writes nothing before it calls `closer` (`errno` only on the parent's
    // side, on failure).
    unsafe {
        area.orders.write(orders);
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
        let pid = libc::clone(
            closer,
            area.closer_stack.cast(),
            libc::CLONE_VM | libc::SIGCHLD,
            area.orders.cast(),
        );
        // The reaper too starts with every signal blocked, so that none meant for the
        // command (a hang-up at `apply --confirm`'s prompt) is taken by it.
        if pid > 0 {
            reaper(pid);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
    }
    // This process's copies go first (the closer still holds the sockets, so these are
    // not their release); then the closer hears the pipe close and closes its own.
    drop(fds);
    drop(parent_done);
    drop(ready);
}

/// Most descriptors a closer keeps: the sockets and the pipe's read end.
const MAX_KEPT: usize = 16;

/// What the closer is to do, in the mapping's last page.
#[repr(C)]
struct Orders {
    /// The descriptors it keeps, ascending (the sockets and `ready`).
    keep: [RawFd; MAX_KEPT],
    kept: usize,
    socks: [RawFd; MAX_KEPT],
    n_socks: usize,
    /// The read end of a pipe whose end of file says this process closed its copies.
    ready: RawFd,
    /// The top of the closer's stack.
    closer_stack: *mut u8,
}

/// The mapping the closer runs in: a guard page, its stack, the orders.
struct Area {
    closer_stack: *mut u8,
    orders: *mut Orders,
}

/// The closer's stack size (a whole number of pages on every page size up to 64 KiB).
const STACK: usize = 64 << 10;

impl Area {
    /// Maps the area (left mapped: the closer uses it after this process has ended).
    fn map() -> Option<Area> {
        // SAFETY: sysconf reads a constant of the system.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page)
            .ok()
            .filter(|p| p.is_power_of_two() && *p <= STACK)?;
        let orders = std::mem::size_of::<Orders>().next_multiple_of(page);
        let len = page + STACK + orders;
        // SAFETY: a fresh private anonymous mapping; the guard page is inside it.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return None;
            }
            let base = base.cast::<u8>();
            if libc::mprotect(base.cast(), page, libc::PROT_NONE) != 0 {
                libc::munmap(base.cast(), len);
                return None;
            }
            Some(Area {
                closer_stack: base.add(page + STACK),
                orders: base.add(page + STACK).cast(),
            })
        }
    }
}

/// Reaps the closer `pid` on a thread of its own when it ends (a thread of this process
/// may reap a child another made). Where no thread can be started the closer is left to
/// be reaped when this process ends. Called with every signal blocked, which the thread
/// keeps: a signal to the process is then never delivered to it, while the command's
/// own threads wait for one (a prompt's read).
fn reaper(pid: libc::pid_t) {
    let reap = move || {
        let mut status = 0;
        // SAFETY: waits for this process's own child, writing its status into a local.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    };
    let _ = std::thread::Builder::new()
        .name("reaper".into())
        .stack_size(REAPER_STACK)
        .spawn(reap);
}

/// The reaper's stack: it only waits.
const REAPER_STACK: usize = 64 << 10;

/// The closer's whole life: keeps what the orders say, waits for end of file on their
/// `ready` (or [`WAIT_MS`]), closes the sockets, exits. It runs beside this process in
/// the same memory, so it calls no library function and writes nothing but its stack.
extern "C" fn closer(orders: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the orders were written before this process was made and are never
    // written again; every call is a system call on integers and this stack's structs.
    unsafe {
        let o = &*orders.cast::<Orders>();
        let mut from: u32 = 0;
        for &k in &o.keep[..o.kept.min(MAX_KEPT)] {
            let k = k as u32;
            if k > from {
                raw(
                    libc::SYS_close_range,
                    [from as usize, (k - 1) as usize, 0, 0, 0],
                );
            }
            from = k + 1;
        }
        raw(
            libc::SYS_close_range,
            [from as usize, u32::MAX as usize, 0, 0, 0],
        );
        // Until this process has closed its copies (end of file, or the hang-up of
        // the pipe), at most `WAIT_MS`: a closer never outlives that by much.
        let mut p = libc::pollfd {
            fd: o.ready,
            events: libc::POLLIN,
            revents: 0,
        };
        // ppoll writes the time left back into it.
        let mut wait = libc::timespec {
            tv_sec: (WAIT_MS / 1000) as libc::time_t,
            tv_nsec: 0,
        };
        let (p, wait) = (
            &mut p as *mut libc::pollfd as usize,
            &mut wait as *mut libc::timespec as usize,
        );
        raw(libc::SYS_ppoll, [p, 1, wait, 0, 0]);
        // A grace period waited out here, where no lock is held; where the command is
        // not available (a kernel without it, `nohz_full` CPUs) the sockets go at once.
        raw(libc::SYS_membarrier, [MEMBARRIER_CMD_GLOBAL, 0, 0, 0, 0]);
        for &s in &o.socks[..o.n_socks.min(MAX_KEPT)] {
            raw(libc::SYS_close, [s as usize, 0, 0, 0, 0]);
        }
        loop {
            raw(libc::SYS_exit, [0, 0, 0, 0, 0]);
        }
    }
}

/// `membarrier`'s command that returns once every CPU has passed an RCU grace period
/// (`linux/membarrier.h`).
const MEMBARRIER_CMD_GLOBAL: usize = 1;

/// Whether [`raw`] makes system calls on this target.
const RAW_SYSCALLS: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// System call `n` with arguments `a`, made here (no `errno`): the result, or minus the
/// error number.
///
/// # Safety
/// As for the system call itself.
#[cfg(target_arch = "x86_64")]
unsafe fn raw(n: libc::c_long, a: [usize; 5]) -> isize {
    let ret: isize;
    // SAFETY: the caller's promise; the syscall instruction clobbers rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// [`raw`] on aarch64.
///
/// # Safety
/// As for the system call itself.
#[cfg(target_arch = "aarch64")]
unsafe fn raw(n: libc::c_long, a: [usize; 5]) -> isize {
    let ret: isize;
    // SAFETY: the caller's promise.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4],
            options(nostack),
        );
    }
    ret
}

/// [`raw`] where no system call is written out here: none is made.
///
/// # Safety
/// None needed; unsafe like the others.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn raw(_: libc::c_long, _: [usize; 5]) -> isize {
    -(libc::ENOSYS as isize)
}

/// The longest a closer waits for this process to close its copies of the sockets
/// (it does so right after the closer starts); past it, its close is simply not the last.
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

    /// The closer takes nothing but the sockets with it, closes them after this process
    /// has, and is reaped once it has ended: it leaves no zombie.
    #[test]
    fn the_closer_closes_the_sockets_and_holds_nothing_else() {
        let s = super::super::NfSocket::open().expect("socket");
        let sock_ino = ino(&s.fd);
        let fd = s.fd.try_clone().expect("dup");
        drop(s);
        // A pipe whose write end is open here when the closer starts: once it is
        // closed here, end of file proves that no closer holds a copy.
        let (r, w) = pipe().expect("pipe");
        let mask = || {
            // SAFETY: reads this thread's signal mask into a local set.
            unsafe {
                let mut m: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut m);
                (1..65)
                    .filter(|&s| libc::sigismember(&m, s) == 1)
                    .collect::<Vec<_>>()
            }
        };
        let before = mask();
        close_in_child(vec![fd]);
        assert_eq!(mask(), before, "the signal mask is restored");
        drop(w);
        assert!(
            end_of_file_within(&r, 10),
            "a copy of the write end is left"
        );
        let children = || std::fs::read_to_string("/proc/thread-self/children").unwrap_or_default();
        assert!(
            !children().trim().is_empty(),
            "the closer is a child of this thread"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while open_netlink(sock_ino) {
            assert!(
                std::time::Instant::now() < deadline,
                "the socket is still open"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Once it has ended, it is reaped here: no child is left, zombie or not.
        loop {
            let left = children();
            if left.trim().is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "left: {left} (zombie: {})",
                zombie_among(&left)
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
