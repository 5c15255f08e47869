//! `output { }` with real packets: connections the host opens to a peer namespace are
//! allowed or refused as the block says (and as `eval` predicts on the output hook),
//! loopback is always allowed, and a connection into the host still works through a
//! closed output chain because its answers are established.

use crate::apply::{Env, exit};
use hostwall::eval::{L4, Packet, evaluate};
use hostwall::ir::{CtState, Hook, Verdict};
use hostwall::netns::Netns;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

const HOST: &str = "198.18.81.1";
const PEER: &str = "198.18.81.2";
const OTHER: &str = "198.18.81.3";

const POLICY: &str = "policy out {
    allow tcp 2222
    output {
        default reject
        allow tcp 80 to 198.18.81.2
        drop tcp 82
        allow udp 53 to 198.18.81.2 out \"hwo\"
    }
}
";

struct Lab {
    env: Env,
    peer: Netns,
}

impl Lab {
    fn new() -> Lab {
        let env = Env::new("hw-out");
        let peer = Netns::create_unique("hw-out-p").unwrap_or_else(|e| panic!("netns: {e}"));
        let ok = |r: Result<(), hostwall::netns::NetnsError>| r.unwrap_or_else(|e| panic!("{e}"));
        let link = [
            "link", "add", "hwo", "type", "veth", "peer", "name", "hwp", "netns",
        ];
        let mut add = link.to_vec();
        add.push(peer.name());
        ok(env.ns.ip(&add));
        ok(env
            .ns
            .ip(&["addr", "add", &format!("{HOST}/24"), "dev", "hwo"]));
        ok(env.ns.ip(&["link", "set", "hwo", "up"]));
        ok(env.ns.ip(&["link", "set", "lo", "up"]));
        ok(peer.ip(&["addr", "add", &format!("{PEER}/24"), "dev", "hwp"]));
        ok(peer.ip(&["addr", "add", &format!("{OTHER}/24"), "dev", "hwp"]));
        ok(peer.ip(&["link", "set", "hwp", "up"]));
        let to = SocketAddr::new(PEER.parse().unwrap_or_else(|e| panic!("{e}")), 9);
        crate::support::link::wait_answered(&env.ns, to);
        Lab { env, peer }
    }

    fn listen(ns: &Netns, addr: &str, port: u16) -> TcpListener {
        let a = SocketAddr::new(addr.parse().unwrap_or_else(|e| panic!("{e}")), port);
        ns.run(move || TcpListener::bind(a))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("listen {a}: {e}"))
    }

    /// A TCP connection from `ns` to `addr:port` within a second.
    fn connects(ns: &Netns, addr: &str, port: u16) -> bool {
        let a = SocketAddr::new(addr.parse().unwrap_or_else(|e| panic!("{e}")), port);
        let run = move || TcpStream::connect_timeout(&a, Duration::from_secs(1));
        ns.run(run).map(|r| r.is_ok()).unwrap_or(false)
    }
}

/// What `eval` says of the host's first packet to `dst` on the output hook.
fn predicted(rs: &hostwall::ir::Ruleset, dst: &str, oif: &str, l4: L4) -> Verdict {
    let pkt = Packet {
        src: HOST.parse().unwrap_or_else(|e| panic!("{e}")),
        dst: dst.parse().unwrap_or_else(|e| panic!("{e}")),
        iif: None,
        oif: Some(oif.into()),
        l4,
        ct: CtState::NEW,
    };
    evaluate(rs, Hook::Output, &pkt)
        .unwrap_or_else(|e| panic!("{e}"))
        .verdict
}

fn compiled() -> hostwall::ir::Ruleset {
    let mut map = hostwall::source::SourceMap::new();
    let file = map.add("out.policy", POLICY.to_string());
    let (p, diags) = hostwall::check::check(&mut map, file, None, &hostwall::check::NoIncludes);
    hostwall::compile::compile(&p.unwrap_or_else(|| panic!("{diags:?}")))
}

#[test]
#[ignore = "needs root"]
fn output_block_allows_and_refuses_what_the_host_sends() {
    crate::support::root::require();
    let lab = Lab::new();
    let p = lab.env.file("out.policy", POLICY);
    exit(&lab.env.apply(&[&p.to_string_lossy()]), 0);
    // The output chain reads back as compiled: no drift.
    let state = lab.env.state().to_string_lossy().into_owned();
    let p = p.to_string_lossy().into_owned();
    let diff = [
        "diff",
        &p,
        "--netns",
        lab.env.ns.name(),
        "--state-dir",
        &state,
        "--full",
    ];
    let out = crate::apply::hostwall(&diff, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rs = compiled();
    let _peer: Vec<TcpListener> = [(PEER, 80), (PEER, 81), (PEER, 82), (OTHER, 80)]
        .iter()
        .map(|(a, port)| Lab::listen(&lab.peer, a, *port))
        .collect();
    for (dst, port) in [(PEER, 80), (PEER, 81), (PEER, 82), (OTHER, 80)] {
        let seen = Lab::connects(&lab.env.ns, dst, port);
        let want = predicted(&rs, dst, "hwo", L4::Tcp { dport: port });
        assert_eq!(
            seen,
            want == Verdict::Accept,
            "tcp {dst}:{port}: eval says {want:?}"
        );
    }
    assert!(
        Lab::connects(&lab.env.ns, PEER, 80),
        "the allowed one connects"
    );
    assert!(
        !Lab::connects(&lab.env.ns, OTHER, 80),
        "another address is refused"
    );

    // UDP: 53 to the peer out of hwo is allowed, 54 is refused.
    let udp = lab
        .peer
        .run(|| {
            let s = UdpSocket::bind((PEER, 53))?;
            let t = UdpSocket::bind((PEER, 54))?;
            Ok::<_, std::io::Error>((s, t))
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("udp: {e}"));
    let sent = |port: u16| {
        let to = SocketAddr::new(
            PEER.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}")),
            port,
        );
        lab.env
            .ns
            .run(move || UdpSocket::bind((HOST, 0)).and_then(|s| s.send_to(b"q", to)))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let _ = sent(53);
    let refused = sent(54);
    let got = |s: &UdpSocket| {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap_or_else(|e| panic!("{e}"));
        s.recv(&mut [0u8; 8]).is_ok()
    };
    assert!(got(&udp.0), "udp 53 arrives");
    assert!(!got(&udp.1), "udp 54 is refused ({refused:?})");
    assert_eq!(
        predicted(&rs, PEER, "hwo", L4::Udp { dport: 54 }),
        Verdict::Reject(hostwall::ir::RejectWith::IcmpxAdminProhibited)
    );

    // Loopback is always allowed; a connection into the host works (answers are
    // established), though the output chain refuses everything the host starts itself.
    let _lo = Lab::listen(&lab.env.ns, "127.0.0.1", 9);
    assert!(Lab::connects(&lab.env.ns, "127.0.0.1", 9), "loopback");
    let _ssh = Lab::listen(&lab.env.ns, HOST, 2222);
    assert!(
        Lab::connects(&lab.peer, HOST, 2222),
        "inbound through closed output"
    );
    // Reject answers at once (a reset); drop leaves the connection to time out.
    let kind = |port: u16| {
        let a = (PEER, port).into_addr();
        let r = lab
            .env
            .ns
            .run(move || TcpStream::connect_timeout(&a, Duration::from_millis(700)));
        r.unwrap_or_else(|e| panic!("{e}")).err().map(|e| e.kind())
    };
    assert_eq!(
        kind(81),
        Some(ErrorKind::ConnectionRefused),
        "tcp 81 is rejected"
    );
    assert_eq!(kind(82), Some(ErrorKind::TimedOut), "tcp 82 is dropped");
}

trait IntoAddr {
    fn into_addr(self) -> SocketAddr;
}

impl IntoAddr for (&str, u16) {
    fn into_addr(self) -> SocketAddr {
        SocketAddr::new(self.0.parse().unwrap_or_else(|e| panic!("{e}")), self.1)
    }
}
