//! A rule's `log` with real packets: an NFLOG listener (a netfilter netlink socket bound
//! to the rule's group, in the host namespace) sees exactly the packets each rule
//! matches — the first packet of each new connection for `allow`, every matching packet
//! for `drop`/`reject`, nothing of established traffic or of other rules — and a log
//! rate limit stops only the logging, never the verdict. A rule's own `limit` accepts
//! its burst of new connections, then the excess meets the default.

use crate::apply::{Env, exit};
use hostwall::netns::Netns;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const HOST: [u8; 4] = [198, 18, 79, 1];
const CLIENT: &str = "198.18.79.2";
const GROUP: u16 = 7;

/// The host namespace (our table applied) and a client joined to it by a veth.
struct Lab {
    env: Env,
    client: Netns,
}

impl Lab {
    fn new() -> Lab {
        let env = Env::new("hw-lg");
        let client = Netns::create_unique("hw-lg-c").unwrap_or_else(|e| panic!("netns: {e}"));
        let ok = |r: Result<(), hostwall::netns::NetnsError>| r.unwrap_or_else(|e| panic!("{e}"));
        let peer = ["link", "add", "hwh", "type", "veth", "peer", "name", "hwc"];
        let mut add: Vec<&str> = peer.to_vec();
        add.extend(["netns", client.name()]);
        ok(env.ns.ip(&add));
        ok(env.ns.ip(&["addr", "add", "198.18.79.1/24", "dev", "hwh"]));
        ok(env.ns.ip(&["link", "set", "hwh", "up"]));
        ok(client.ip(&["addr", "add", &format!("{CLIENT}/24"), "dev", "hwc"]));
        ok(client.ip(&["link", "set", "hwc", "up"]));
        crate::support::link::wait_answered(&client, SocketAddr::from((HOST, 9)));
        Lab { env, client }
    }

    fn apply(&self, policy: &str) {
        let p = self.env.file("log.policy", policy);
        exit(&self.env.apply(&[&p.to_string_lossy()]), 0);
    }

    /// A TCP connection from the client; when it connects, `n` writes go over it.
    fn tcp(&self, port: u16, writes: usize) -> bool {
        let addr = SocketAddr::from((HOST, port));
        let run = move || match TcpStream::connect_timeout(&addr, Duration::from_millis(400)) {
            Ok(mut s) => {
                for _ in 0..writes {
                    let _ = std::io::Write::write_all(&mut s, b"data");
                    std::thread::sleep(Duration::from_millis(20));
                }
                true
            }
            Err(_) => false,
        };
        self.client.run(run).unwrap_or(false)
    }

    /// `n` UDP datagrams from the client, each from a new socket (a new connection).
    fn udp(&self, port: u16, n: usize) {
        let addr = SocketAddr::from((HOST, port));
        let run = move || {
            for _ in 0..n {
                let s = UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| panic!("bind: {e}"));
                let _ = s.send_to(b"x", addr);
            }
        };
        self.client.run(run).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// One NFLOG message: its prefix and the packet's protocol and destination port.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Logged {
    prefix: String,
    proto: u8,
    dport: u16,
}

/// A netfilter netlink socket bound to NFLOG `group` (copy the packet, send each at once).
fn nflog(group: u16) -> OwnedFd {
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_NETFILTER) };
    assert!(
        fd >= 0,
        "netlink socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fd` is a new descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 300_000,
    };
    // SAFETY: `tv` is a valid timeval for SO_RCVTIMEO and outlives the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    assert_eq!(r, 0, "SO_RCVTIMEO");
    // NFULA_CFG_CMD (1) = NFULNL_CFG_CMD_BIND (1); NFULA_CFG_QTHRESH (4) = 1 packet.
    config(&fd, group, &[attr(1, &[1]), attr(4, &1u32.to_be_bytes())]);
    fd
}

fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut a = Vec::with_capacity((len + 3) & !3);
    a.extend_from_slice(&(len as u16).to_ne_bytes());
    a.extend_from_slice(&ty.to_ne_bytes());
    a.extend_from_slice(data);
    a.resize((len + 3) & !3, 0);
    a
}

/// Sends one NFULNL_MSG_CONFIG for `group` and checks the kernel's acknowledgement.
fn config(fd: &OwnedFd, group: u16, attrs: &[Vec<u8>]) {
    let body: Vec<u8> = attrs.concat();
    let len = 16 + 4 + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&((4u16 << 8) | 1).to_ne_bytes()); // NFNL_SUBSYS_ULOG, CONFIG
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&[0; 8]); // seq, pid
    msg.extend_from_slice(&[0, 0]); // nfgenmsg: AF_UNSPEC, version 0
    msg.extend_from_slice(&group.to_be_bytes()); // res_id
    msg.extend_from_slice(&body);
    // SAFETY: `msg` is a valid buffer of `msg.len()` bytes for the duration of the call.
    let sent = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    assert_eq!(sent, msg.len() as isize, "send NFLOG config");
    let replies = recv_all(fd);
    let ack = replies
        .iter()
        .find(|(ty, _)| *ty == libc::NLMSG_ERROR as u16);
    let errno = ack.map(|(_, p)| i32::from_ne_bytes([p[0], p[1], p[2], p[3]]));
    assert_eq!(errno, Some(0), "NFLOG bind acknowledged");
}

/// Every netlink message waiting (type, payload after the header) until the timeout.
fn recv_all(fd: &OwnedFd) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: `buf` is a valid, writable buffer of `buf.len()` bytes.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return out;
        }
        let mut at = 0usize;
        let n = n as usize;
        while at + 16 <= n {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default()) as usize;
            let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            if len < 16 || at + len > n {
                break;
            }
            out.push((ty, buf[at + 16..at + len].to_vec()));
            at += (len + 3) & !3;
        }
    }
}

/// The NFLOG packets among `msgs`.
fn logged(msgs: &[(u16, Vec<u8>)]) -> Vec<Logged> {
    let packet = 4u16 << 8; // NFNL_SUBSYS_ULOG, NFULNL_MSG_PACKET
    msgs.iter()
        .filter(|(ty, _)| *ty == packet)
        .filter_map(|(_, p)| {
            let (mut prefix, mut payload) = (None, None);
            let mut at = 4; // nfgenmsg
            while at + 4 <= p.len() {
                let len = u16::from_ne_bytes([p[at], p[at + 1]]) as usize;
                let ty = u16::from_ne_bytes([p[at + 2], p[at + 3]]) & 0x7fff;
                if len < 4 || at + len > p.len() {
                    break;
                }
                let data = &p[at + 4..at + len];
                match ty {
                    9 => payload = Some(data.to_vec()),
                    10 => {
                        prefix = Some(String::from_utf8_lossy(data).trim_end_matches('\0').into())
                    }
                    _ => {}
                }
                at += (len + 3) & !3;
            }
            let ip = payload?;
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let dport = u16::from_be_bytes([*ip.get(ihl + 2)?, *ip.get(ihl + 3)?]);
            Some(Logged {
                prefix: prefix?,
                proto: *ip.get(9)?,
                dport,
            })
        })
        .collect()
}

fn count(log: &[Logged], prefix: &str, proto: u8, dport: u16) -> usize {
    let want = Logged {
        prefix: prefix.into(),
        proto,
        dport,
    };
    log.iter().filter(|l| **l == want).count()
}

const POLICY: &str = "policy logged {
    allow tcp 8080 log prefix \"a8080 \" group 7
    reject tcp 8081 log prefix \"r8081 \" group 7
    drop udp 8082 log prefix \"d8082 \" group 7
    allow udp 9000 log limit 1/minute burst 2 prefix \"u9000 \" group 7
    allow tcp 8083
    drop udp 8084 log prefix \"other \" group 8
}
";

#[test]
#[ignore = "needs root"]
fn a_rule_logs_exactly_what_it_matches_through_nflog() {
    crate::support::root::require();
    let lab = Lab::new();
    lab.apply(POLICY);
    let fd = lab
        .env
        .ns
        .run(|| nflog(GROUP))
        .unwrap_or_else(|e| panic!("{e}"));
    let listen = |port| {
        lab.env
            .ns
            .run(move || TcpListener::bind(SocketAddr::from((HOST, port))))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("listen {port}: {e}"))
    };
    let (_l80, _l83) = (listen(8080), listen(8083));
    let udp = lab
        .env
        .ns
        .run(|| UdpSocket::bind(SocketAddr::from((HOST, 9000))))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("udp 9000: {e}"));
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap_or_else(|e| panic!("{e}"));

    assert!(lab.tcp(8080, 3), "tcp 8080 is allowed");
    assert!(lab.tcp(8080, 0), "tcp 8080 is allowed again");
    assert!(!lab.tcp(8081, 0), "tcp 8081 is rejected");
    assert!(lab.tcp(8083, 2), "tcp 8083 is allowed, unlogged");
    lab.udp(8082, 3);
    lab.udp(8084, 2);
    lab.udp(9000, 5);
    let mut received = 0;
    let mut buf = [0u8; 16];
    while udp.recv(&mut buf).is_ok() {
        received += 1;
    }
    let log = logged(&recv_all(&fd));
    eprintln!("logged: {log:?}");

    let (tcp, udp_p) = (6, 17);
    // allow: one entry per new connection (its SYN), none for the handshake or data.
    assert_eq!(count(&log, "a8080 ", tcp, 8080), 2, "{log:?}");
    // reject: the refused SYN.
    assert_eq!(count(&log, "r8081 ", tcp, 8081), 1, "{log:?}");
    // drop: every datagram.
    assert_eq!(count(&log, "d8082 ", udp_p, 8082), 3, "{log:?}");
    // The log's own limit (burst 2) stops logging only: all five were accepted.
    assert_eq!(count(&log, "u9000 ", udp_p, 9000), 2, "{log:?}");
    assert_eq!(received, 5, "every datagram to udp 9000 was accepted");
    // Nothing else reached group 7: not the unlogged rule, not group 8's rule.
    assert_eq!(log.len(), 8, "{log:?}");
}

/// `diff` reads a rule's log back from the kernel (prefix, level, group, its limit): the
/// applied policy shows no drift, and a policy differing only in one log's level or group
/// does.
#[test]
#[ignore = "needs root"]
fn diff_sees_a_rule_logs_level_prefix_and_group() {
    crate::support::root::require();
    let env = Env::new("hw-lgd");
    let applied = "policy p {\n    allow ssh log prefix \"s: \" level info\n    \
                   drop udp 9 log limit 3/minute burst 4 group 5\n}\n";
    let p = env.file("a.policy", applied);
    exit(&env.apply(&[&p.to_string_lossy()]), 0);
    let diff = |name: &str, text: &str| {
        let p = env.file(name, text);
        let state = env.state().to_string_lossy().into_owned();
        let p = p.to_string_lossy().into_owned();
        let args = ["diff", &p, "--netns", env.ns.name(), "--state-dir", &state];
        let out = crate::apply::hostwall(&args, &[]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, out) = diff("same.policy", &format!("{applied}# same rules\n"));
    assert_eq!(code, 0, "no drift after apply:\n{out}");
    for (what, edited) in [
        ("level", applied.replace("level info", "level debug")),
        ("prefix", applied.replace("\"s: \"", "\"t: \"")),
        ("group", applied.replace("group 5", "group 6")),
        ("limit", applied.replace("3/minute", "4/minute")),
    ] {
        let (code, out) = diff("edited.policy", &edited);
        assert_eq!(code, 1, "a changed {what} is drift:\n{out}");
        assert!(
            out.contains("log"),
            "{what}: the change names the log:\n{out}"
        );
    }
}

/// `allow tcp 8090 limit 1/minute burst 3`: of six quick new connections the first three
/// are accepted, the rest are refused by the default (a reset); established traffic of an
/// accepted connection is never limited; another port is unaffected.
#[test]
#[ignore = "needs root"]
fn a_rule_limit_accepts_its_burst_then_the_default_refuses() {
    crate::support::root::require();
    let lab = Lab::new();
    lab.apply("policy p {\n    allow tcp 8090 limit 1/minute burst 3\n    allow tcp 8091\n}\n");
    let listen = |port| {
        lab.env
            .ns
            .run(move || TcpListener::bind(SocketAddr::from((HOST, port))))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("listen {port}: {e}"))
    };
    let (_l90, _l91) = (listen(8090), listen(8091));
    let first: Vec<bool> = (0..3).map(|_| lab.tcp(8090, 5)).collect();
    assert_eq!(first, vec![true; 3], "the burst is accepted, data included");
    let excess: Vec<bool> = (0..3).map(|_| lab.tcp(8090, 0)).collect();
    assert_eq!(
        excess,
        vec![false; 3],
        "over the limit: the default rejects"
    );
    assert!(lab.tcp(8091, 0), "an unlimited rule is unaffected");
}
