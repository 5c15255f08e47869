//! Raw syscalls of a NETLINK_NETFILTER socket, wrapped safely. What to send and how
//! to read the replies is `client`'s; entering a namespace is `netns`'s.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

mod closer;

const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_CAP_ACK: libc::c_int = 10;

/// A bound netfilter netlink socket.
pub struct NfSocket {
    fd: OwnedFd,
    /// The multicast groups joined (bit `g - 1` for group `g`).
    groups: std::sync::atomic::AtomicU32,
}

/// While a [`CloseLate`] lives, the sockets dropped are kept open (a duplicate each)
/// and closed when it ends; `None` otherwise.
static LATE: std::sync::Mutex<Option<Vec<OwnedFd>>> = std::sync::Mutex::new(None);

/// At most this many sockets wait for a [`CloseLate`]; more are closed at once.
const LATE_MAX: usize = 64;

/// Holds back the closing of netfilter sockets until it is dropped.
///
/// The kernel releases a bound netfilter socket only after the work that frees its
/// last commit's old objects has run, and that work first waits for an RCU grace
/// period (`nft_rcv_nl_event` flushes it on every release). So the first socket closed
/// right after a commit waits out the grace period: measured 2 to 9 ms on a 2-CPU VM,
/// for a one-element change that the kernel committed in 0.5 ms. Held to the end of the
/// command, they are closed once, after the records are written; even then the close
/// still waited 5 to 17 ms, so a command that changed the kernel ends the hold with
/// [`CloseLate::end_in_child`], which leaves the close to a process of its own, which
/// first waits out a grace period itself so that its release does not hold the commit
/// lock through one (`closer.rs`). (Only the outermost of nested ones closes them.)
pub struct CloseLate {
    outermost: bool,
}

impl CloseLate {
    pub fn begin() -> CloseLate {
        let mut late = late();
        let outermost = late.is_none();
        if outermost {
            *late = Some(Vec::new());
        }
        CloseLate { outermost }
    }

    /// Ends the hold as dropping it does, but the sockets held are closed by a process
    /// of their own (`sock/closer.rs`), so this one does not wait out their release: for a
    /// command that has committed its change and is done with the kernel.
    pub fn end_in_child(mut self) {
        if self.outermost {
            self.outermost = false;
            let held = late().take();
            if let Some(held) = held {
                closer::close_in_child(held);
            }
        }
    }
}

impl Drop for CloseLate {
    fn drop(&mut self) {
        if self.outermost {
            let held = late().take();
            drop(held);
        }
    }
}

fn late() -> std::sync::MutexGuard<'static, Option<Vec<OwnedFd>>> {
    LATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for NfSocket {
    fn drop(&mut self) {
        let mut late = late();
        let Some(held) = late.as_mut().filter(|h| h.len() < LATE_MAX) else {
            return;
        };
        // A socket left in a group would go on receiving (and the kernel building and
        // copying) every notification until it is closed: a million-element commit took
        // 4.6 s in the kernel with one listener, 20 to 33 s with a second one held open.
        let groups = *self.groups.get_mut();
        let left = (1..=32)
            .filter(|g| groups & (1 << (g - 1)) != 0)
            .all(|g| self.unsubscribe(g).is_ok());
        // A duplicate keeps the socket open when `fd` itself is closed right after.
        if left && let Ok(dup) = self.fd.try_clone() {
            held.push(dup);
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl NfSocket {
    /// Opens and binds the socket, asking for extended acks (the kernel's error
    /// text) and capped acks (error replies without the 64 KiB request echoed).
    pub fn open() -> io::Result<NfSocket> {
        // SAFETY: plain syscalls on integers and a zeroed sockaddr_nl; the fd is
        // owned by OwnedFd from the moment it exists.
        unsafe {
            let raw = cvt(libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            ))?;
            let fd = OwnedFd::from_raw_fd(raw);
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            cvt(libc::bind(
                raw,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ))?;
            let s = NfSocket {
                fd,
                groups: Default::default(),
            };
            // Older kernels lack these options; replies are still parsed then.
            let _ = s.set_int(libc::SOL_NETLINK, NETLINK_EXT_ACK, 1);
            let _ = s.set_int(libc::SOL_NETLINK, NETLINK_CAP_ACK, 1);
            Ok(s)
        }
    }

    fn set_int(&self, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
        // SAFETY: passes a pointer to a live c_int and its exact size.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                opt,
                &v as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        })
        .map(drop)
    }

    /// The receive queue's room in bytes, as the kernel counts it (`SO_RCVBUF`).
    pub fn recv_room(&self) -> io::Result<usize> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: passes a pointer to a live c_int and its exact size.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &mut v as *mut _ as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// Sizes the send buffer for a whole batch and the receive buffer for its
    /// replies. `*BUFFORCE` passes the `rmem_max`/`wmem_max` caps (needs
    /// CAP_NET_ADMIN, which applying needs anyway); without it fall back.
    pub fn size_buffers(&self, send: usize, recv: usize) -> io::Result<()> {
        let clamp = |n: usize| n.min(i32::MAX as usize / 2) as libc::c_int;
        for (force, plain, n) in [
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, send),
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, recv),
        ] {
            if self.set_int(libc::SOL_SOCKET, force, clamp(n)).is_err() {
                self.set_int(libc::SOL_SOCKET, plain, clamp(n))?;
            }
        }
        Ok(())
    }

    /// Joins a multicast group (`NFNLGRP_*`): the kernel then queues its
    /// notifications on this socket.
    pub fn subscribe(&self, group: u32) -> io::Result<()> {
        const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
        self.set_int(
            libc::SOL_NETLINK,
            NETLINK_ADD_MEMBERSHIP,
            group as libc::c_int,
        )?;
        if let Some(bit) = group.checked_sub(1).filter(|b| *b < 32) {
            (self.groups).fetch_or(1 << bit, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Leaves a multicast group joined with [`NfSocket::subscribe`].
    pub fn unsubscribe(&self, group: u32) -> io::Result<()> {
        const NETLINK_DROP_MEMBERSHIP: libc::c_int = 2;
        self.set_int(
            libc::SOL_NETLINK,
            NETLINK_DROP_MEMBERSHIP,
            group as libc::c_int,
        )?;
        if let Some(bit) = group.checked_sub(1).filter(|b| *b < 32) {
            (self.groups).fetch_and(!(1 << bit), std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Waits until a datagram is queued or `timeout` passes; `Ok(false)` on timeout.
    pub fn wait_readable(&self, timeout: std::time::Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        loop {
            // SAFETY: polls one live pollfd for the length we pass.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n >= 0 {
                return Ok(n > 0);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// One `sendto` of the whole buffer to the kernel.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is a live slice; the destination is a zeroed
        // sockaddr_nl naming the kernel (pid 0).
        unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            let n = libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                0,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            );
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }
    }

    /// Sends `parts`, one after another, as one datagram (`sendmsg` with one iovec
    /// each; empty parts are left out).
    pub fn send_parts(&self, parts: &[&[u8]]) -> io::Result<usize> {
        let mut iov: Vec<libc::iovec> = (parts.iter())
            .filter(|p| !p.is_empty())
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect();
        // SAFETY: every iovec names a live slice of `parts`, which the kernel only reads
        // (a send); the destination is a zeroed sockaddr_nl naming the kernel (pid 0);
        // `msg` points only at `addr` and `iov`, both alive through the call.
        unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = &mut addr as *mut _ as *mut libc::c_void;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as u32;
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = iov.len();
            let n = libc::sendmsg(self.fd.as_raw_fd(), &msg, 0);
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }
    }

    /// Receives one datagram. With `wait == false`, returns `Ok(None)` when
    /// nothing is queued. A datagram larger than `buf` is an error, not a
    /// silent truncation.
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> io::Result<Option<usize>> {
        let flags = libc::MSG_TRUNC | if wait { 0 } else { libc::MSG_DONTWAIT };
        loop {
            // SAFETY: writes at most `buf.len()` bytes into the live buffer.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    flags,
                )
            };
            if n >= 0 {
                let n = n as usize;
                if n > buf.len() {
                    return Err(io::Error::other(format!(
                        "netlink reply of {n} bytes exceeds the {} byte buffer",
                        buf.len()
                    )));
                }
                return Ok(Some(n));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// The multicast groups of the netlink socket with inode `ino`, from
    /// /proc/net/netlink (`None`: no such open socket).
    fn groups_of(ino: u64) -> Option<u32> {
        let table = std::fs::read_to_string("/proc/net/netlink").expect("read");
        table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(9)?.parse::<u64>().ok()? == ino)
                .then(|| u32::from_str_radix(f[3], 16).ok())
                .flatten()
        })
    }

    #[test]
    fn a_socket_held_for_a_late_close_is_open_but_in_no_group_until_the_end() {
        let late = CloseLate::begin();
        let s = NfSocket::open().expect("socket");
        s.subscribe(7).expect("subscribe (needs CAP_NET_ADMIN)");
        let ino = std::fs::File::from(s.fd.try_clone().expect("dup"))
            .metadata()
            .expect("fstat")
            .ino();
        assert_eq!(groups_of(ino), Some(1 << 6), "subscribed to group 7");
        drop(s);
        assert_eq!(groups_of(ino), Some(0), "held open, no longer a listener");
        drop(late);
        // A closer that another test starts meanwhile (`closer.rs`) holds a copy of every
        // descriptor of this process until its first step closes them: wait that out.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while groups_of(ino).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(groups_of(ino), None, "closed with the guard");
    }
}
