//! Probes on the wire: listeners in the host namespace, and non-blocking
//! client sockets driven by one `poll` loop so every probe runs concurrently
//! and a dropped packet costs one timeout, not one per probe.
//!
//! Sockets are created inside their namespace (by `Netns::run`) and then used
//! from this thread; a socket stays in the namespace it was made in.

use super::{Outcome, ProbeKind};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Gap between starting two probes: keeps the host's ICMP errors under the kernel's
/// global ICMP rate (1000/s, burst 50), which `icmp_ratelimit=0` does not lift. The lab
/// also takes every ICMP type out of that budget (`icmp_ratemask`, `lab.rs`), since
/// before Linux 6.12 it is shared with every other namespace; the pace stays as a guard.
const PACE: Duration = Duration::from_millis(1);
const PAYLOAD: &[u8] = b"hostwall-verify";

/// One probe ready to start: its socket, what to send, and where.
pub(crate) struct Job {
    pub fd: OwnedFd,
    pub kind: ProbeKind,
    pub dst: SocketAddr,
}

enum State {
    Pending(Instant),
    Done(Outcome),
}

/// A non-blocking socket of `ty` (`SOCK_STREAM`, `SOCK_DGRAM`) for `addr`'s family.
pub(crate) fn socket(addr: IpAddr, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A client socket for `kind`, bound to `src` (so source-restricted rules see
/// it). An IPv6 link-local `src` is bound on interface `dev` of the calling
/// thread's namespace (its scope).
pub(crate) fn client_socket(kind: ProbeKind, src: IpAddr, dev: &str) -> io::Result<OwnedFd> {
    let fd = match kind {
        ProbeKind::Tcp(_) | ProbeKind::Established => socket(src, libc::SOCK_STREAM, 0)?,
        ProbeKind::Udp(_) => socket(src, libc::SOCK_DGRAM, 0)?,
        ProbeKind::Ping if src.is_ipv4() => socket(src, libc::SOCK_DGRAM, libc::IPPROTO_ICMP)?,
        ProbeKind::Ping => socket(src, libc::SOCK_DGRAM, libc::IPPROTO_ICMPV6)?,
    };
    let at = match src {
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => {
            let name = std::ffi::CString::new(dev)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            // SAFETY: a valid C string.
            let scope = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if scope == 0 {
                return Err(io::Error::last_os_error());
            }
            SocketAddr::V6(std::net::SocketAddrV6::new(a, 0, 0, scope))
        }
        _ => SocketAddr::new(src, 0),
    };
    bind(&fd, at)?;
    Ok(fd)
}

/// A listening TCP socket or a bound UDP socket on `at`.
pub(crate) fn listener_at(at: SocketAddr, udp: bool) -> io::Result<OwnedFd> {
    // A retried probe binds its listener again right after the previous
    // attempt's was closed; on a loaded machine the kernel has been seen to
    // still hold the port for a moment (EADDRINUSE despite SO_REUSEADDR).
    // Wait for it, boundedly, rather than failing the whole run.
    let mut waited = Duration::ZERO;
    loop {
        match bound_listener(at, udp) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) && waited < REBIND_WAIT => {
                std::thread::sleep(REBIND_STEP);
                waited += REBIND_STEP;
            }
            other => return other,
        }
    }
}

/// How long a listener waits for its port to be free again, and how often it tries.
const REBIND_WAIT: Duration = Duration::from_secs(2);
const REBIND_STEP: Duration = Duration::from_millis(20);

/// The accept queue of a probe listener, and the lab's `net.core.somaxconn`.
pub(crate) const LISTEN_BACKLOG: i32 = 65_535;
/// A UDP echo socket's receive buffer, in bytes.
const UDP_RCVBUF: i32 = 8 << 20;

fn bound_listener(at: SocketAddr, udp: bool) -> io::Result<OwnedFd> {
    let ty = if udp {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_STREAM
    };
    let fd = socket(at.ip(), ty, 0)?;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if at.is_ipv6() {
        // Separate v4 and v6 sockets on the same port.
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    bind(&fd, at)?;
    if udp {
        // Room for every datagram of a port's probes while the echo thread is off the
        // CPU (the default holds some 200 small ones: 200 ms of probes at the pace);
        // past the machine's `rmem_max` only with CAP_NET_ADMIN, so the plain option
        // is the fallback.
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, UDP_RCVBUF)
            .or_else(|_| setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, UDP_RCVBUF))?;
    }
    // Every probe of a port is a connection no one accepts: the queue must hold them
    // all, or the SYNs past it are dropped and read as timeouts (the kernel caps the
    // backlog at the namespace's `net.core.somaxconn`, which the lab raises).
    // SAFETY: listen(2) on our socket.
    if !udp && unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Answers every UDP datagram with itself until `stop` is set, so an open UDP
/// port is told apart from a silently dropping one. Each readable socket is drained
/// before the next wait.
pub(crate) fn udp_echo(fds: &[OwnedFd], stop: &AtomicBool) {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| pollfd(f.as_raw_fd(), libc::POLLIN))
        .collect();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: pfds is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 20) };
        if n <= 0 {
            continue;
        }
        for p in pfds.iter_mut().filter(|p| p.revents != 0) {
            p.revents = 0;
            // SAFETY: recvfrom/sendto with valid buffers and address storage.
            unsafe {
                loop {
                    let mut from: libc::sockaddr_storage = zeroed();
                    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                    let got = libc::recvfrom(
                        p.fd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                        (&mut from as *mut libc::sockaddr_storage).cast(),
                        &mut len,
                    );
                    if got < 0 {
                        break;
                    }
                    libc::sendto(
                        p.fd,
                        buf.as_ptr().cast(),
                        got as usize,
                        0,
                        (&from as *const libc::sockaddr_storage).cast(),
                        len,
                    );
                }
            }
        }
    }
}

/// Runs every job concurrently; each gets `timeout` from its start to answer.
pub(crate) fn run(jobs: &[Job], timeout: Duration) -> Vec<Outcome> {
    let mut states: Vec<State> = Vec::with_capacity(jobs.len());
    for job in jobs {
        states.push(match start(job) {
            Ok(()) => State::Pending(Instant::now() + timeout),
            // A packet the host sends that its own output path drops or rejects fails
            // the send with EPERM; a reject's answer (a reset or an ICMP error) follows
            // as the socket's error, a drop leaves it silent.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                State::Pending(Instant::now() + timeout)
            }
            Err(e) => State::Done(classify(&e)),
        });
        std::thread::sleep(PACE);
    }
    loop {
        let now = Instant::now();
        let mut pfds = Vec::new();
        let mut idx = Vec::new();
        let mut next = None::<Instant>;
        for (i, st) in states.iter().enumerate() {
            if let State::Pending(deadline) = *st {
                next = Some(next.map_or(deadline, |n: Instant| n.min(deadline)));
                pfds.push(pollfd(jobs[i].fd.as_raw_fd(), interest(jobs[i].kind)));
                idx.push(i);
            }
        }
        let Some(next) = next else { break };
        let wait = match next.checked_duration_since(now) {
            Some(d) => d.as_millis().min(1000) as libc::c_int + 1,
            None => 0,
        };
        // Every pending probe is polled, a late one too: an answer that came
        // while later probes were still being started counts (a run of
        // thousands of probes takes longer to start than the timeout).
        // SAFETY: pfds is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, wait) };
        if n > 0 {
            for (p, i) in pfds.iter().zip(&idx) {
                if p.revents != 0
                    && let Some(outcome) = finish(&jobs[*i])
                {
                    states[*i] = State::Done(outcome);
                }
            }
        }
        let after = Instant::now();
        for (st, job) in states.iter_mut().zip(jobs) {
            if matches!(*st, State::Pending(deadline) if deadline <= after) {
                *st = State::Done(late(job));
            }
        }
    }
    states
        .into_iter()
        .map(|s| match s {
            State::Done(o) => o,
            State::Pending(_) => Outcome::Timeout,
        })
        .collect()
}

fn interest(kind: ProbeKind) -> libc::c_short {
    match kind {
        ProbeKind::Tcp(_) | ProbeKind::Established => libc::POLLOUT,
        ProbeKind::Udp(_) | ProbeKind::Ping => libc::POLLIN,
    }
}

/// Sends the probe's first packet (a SYN, a datagram, an echo request).
fn start(job: &Job) -> io::Result<()> {
    match connect(&job.fd, job.dst) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => return Ok(()),
        Err(e) => return Err(e),
    }
    let echo;
    let data: &[u8] = match job.kind {
        ProbeKind::Tcp(_) | ProbeKind::Established => return Ok(()),
        ProbeKind::Udp(_) => PAYLOAD,
        ProbeKind::Ping => {
            // Echo request header; the kernel fills in identifier and checksum.
            let ty = if job.dst.is_ipv4() { 8 } else { 128 };
            echo = [ty, 0, 0, 0, 0, 0, 0, 1];
            &echo
        }
    };
    // SAFETY: send(2) of a valid buffer on our connected socket.
    let n = unsafe { libc::send(job.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The outcome once the socket is ready, or `None` to keep waiting.
fn finish(job: &Job) -> Option<Outcome> {
    match job.kind {
        ProbeKind::Tcp(_) | ProbeKind::Established => {
            match getsockopt_int(&job.fd, libc::SOL_SOCKET, libc::SO_ERROR) {
                Ok(0) => Some(Outcome::Open),
                Ok(errno) => Some(classify(&io::Error::from_raw_os_error(errno))),
                Err(e) => Some(classify(&e)),
            }
        }
        ProbeKind::Udp(_) | ProbeKind::Ping => {
            let mut buf = [0u8; 512];
            let fd = job.fd.as_raw_fd();
            // SAFETY: recv(2) into a valid buffer of `buf.len()` bytes on an open socket.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Some(Outcome::Open);
            }
            let e = io::Error::last_os_error();
            (e.kind() != io::ErrorKind::WouldBlock).then(|| classify(&e))
        }
    }
}

/// A probe without an answer by its deadline: a timeout, unless an error came that
/// woke no poll (a TCP socket busy in `connect` when the ICMP error for its own SYN
/// arrives keeps it as a soft error, which `SO_ERROR` returns).
fn late(job: &Job) -> Outcome {
    match getsockopt_int(&job.fd, libc::SOL_SOCKET, libc::SO_ERROR) {
        Ok(errno) if errno != 0 => classify(&io::Error::from_raw_os_error(errno)),
        _ => Outcome::Timeout,
    }
}

/// What a socket error means for a probe: a TCP reset or ICMP port
/// unreachable is "refused"; ICMP admin-prohibited arrives as EHOSTUNREACH
/// (IPv4 code 13) or EACCES (ICMPv6 code 1).
fn classify(e: &io::Error) -> Outcome {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Outcome::Refused,
        Some(libc::EHOSTUNREACH | libc::EACCES | libc::ENETUNREACH) => Outcome::Prohibited,
        Some(libc::ETIMEDOUT) => Outcome::Timeout,
        _ => Outcome::Error(e.to_string()),
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; we then fill one variant.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn bind(fd: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    with_sockaddr(fd, addr, libc::bind)
}

fn connect(fd: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    with_sockaddr(fd, addr, libc::connect)
}

/// Calls `bind(2)` or `connect(2)` (same signature) with `addr` as a sockaddr.
fn with_sockaddr(
    fd: &OwnedFd,
    addr: SocketAddr,
    call: unsafe extern "C" fn(libc::c_int, *const libc::sockaddr, libc::socklen_t) -> libc::c_int,
) -> io::Result<()> {
    let (ss, len) = sockaddr(addr);
    // SAFETY: ss holds a valid sockaddr of length len; fd is an open socket.
    let rc = unsafe {
        call(
            fd.as_raw_fd(),
            (&ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn setsockopt(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: v is a valid c_int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn getsockopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::Netns;
    use std::net::UdpSocket;

    /// A thousand datagrams sent while no one reads are all echoed once the echo runs:
    /// the buffer holds them (the default held about 200) and each wake-up drains it.
    #[test]
    #[ignore = "needs root"]
    fn the_udp_echo_answers_every_datagram_that_queued_while_it_was_off_the_cpu() {
        const N: usize = 1000;
        let ns = Netns::create_unique("hw-t-echo").unwrap_or_else(|e| panic!("{e}"));
        ns.ip(&["link", "set", "lo", "up"])
            .unwrap_or_else(|e| panic!("{e}"));
        let at = SocketAddr::from(([127, 0, 0, 1], 7007));
        // The client's buffer as large as the echo's: it must hold the answers while
        // its own thread is off the CPU too.
        let from = SocketAddr::from(([127, 0, 0, 1], 7008));
        let (echo, client) = ns
            .run(move || (listener_at(at, true), listener_at(from, true)))
            .unwrap_or_else(|e| panic!("{e}"));
        let echo = echo.expect("echo socket");
        let client = UdpSocket::from(client.expect("client socket"));
        client.set_nonblocking(false).expect("blocking");
        for i in 0..N {
            client.send_to(&(i as u32).to_be_bytes(), at).expect("send");
        }
        let stop = AtomicBool::new(false);
        let mut seen = std::collections::BTreeSet::new();
        std::thread::scope(|s| {
            s.spawn(|| udp_echo(std::slice::from_ref(&echo), &stop));
            client
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut buf = [0u8; 16];
            while seen.len() < N {
                match client.recv(&mut buf) {
                    Ok(4) => {
                        seen.insert(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        ns.remove().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen.len(), N, "echoed {} of {N}", seen.len());
    }
}
