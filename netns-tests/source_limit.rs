//! `limit ... per source` with real connections: each client address has its own bucket,
//! so one address that uses its burst up is refused while another is not.

use crate::apply::{Env, exit};
use hostwall::netns::Netns;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

const PORT: u16 = 8092;

/// The host namespace (our table applied) and two clients, each on its own veth and
/// subnet: `198.18.(81+i).2` reaches the host at `198.18.(81+i).1`.
struct Lab {
    env: Env,
    clients: Vec<Netns>,
}

impl Lab {
    fn new() -> Lab {
        let env = Env::new("hw-sl");
        let ok = |r: Result<(), hostwall::netns::NetnsError>| r.unwrap_or_else(|e| panic!("{e}"));
        let mut clients = Vec::new();
        for i in 0..2u8 {
            let c = Netns::create_unique("hw-sl-c").unwrap_or_else(|e| panic!("netns: {e}"));
            let (h, p) = (format!("hwsh{i}"), format!("hwsc{i}"));
            let add = ["link", "add", &h, "type", "veth", "peer", "name", &p];
            let mut add: Vec<&str> = add.to_vec();
            add.extend(["netns", c.name()]);
            ok(env.ns.ip(&add));
            ok(env
                .ns
                .ip(&["addr", "add", &format!("198.18.{}.1/24", 81 + i), "dev", &h]));
            ok(env.ns.ip(&["link", "set", &h, "up"]));
            ok(c.ip(&["addr", "add", &format!("198.18.{}.2/24", 81 + i), "dev", &p]));
            ok(c.ip(&["link", "set", &p, "up"]));
            clients.push(c);
        }
        Lab { env, clients }
    }

    fn host(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 81 + i as u8, 1)
    }

    /// A new TCP connection from client `i`: whether it connected.
    fn tcp(&self, i: usize) -> bool {
        let addr = SocketAddr::from((Self::host(i), PORT));
        let run = move || TcpStream::connect_timeout(&addr, Duration::from_millis(400)).is_ok();
        self.clients[i].run(run).unwrap_or(false)
    }
}

/// `allow tcp 8092 limit 1/minute per source burst 3`: six quick new connections from one
/// source, the first three accepted and the rest refused by the default; a second source
/// then gets its own three; the kernel holds one entry per source in the IPv4 set.
#[test]
#[ignore = "needs root"]
fn a_per_source_limit_refuses_one_source_and_not_another() {
    crate::support::root::require();
    let lab = Lab::new();
    let policy = "policy p {\n    allow tcp 8092 limit 1/minute per source burst 3\n}\n";
    let p = lab.env.file("sl.policy", policy);
    exit(&lab.env.apply(&[&p.to_string_lossy()]), 0);
    let listeners: Vec<TcpListener> = (0..2)
        .map(|i| {
            let at = SocketAddr::from((Lab::host(i), PORT));
            (lab.env.ns.run(move || TcpListener::bind(at)))
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("listen {at}: {e}"))
        })
        .collect();
    let a: Vec<bool> = (0..6).map(|_| lab.tcp(0)).collect();
    assert_eq!(
        a,
        [true, true, true, false, false, false],
        "source A: its burst, then refused"
    );
    let b: Vec<bool> = (0..4).map(|_| lab.tcp(1)).collect();
    assert_eq!(b, [true, true, true, false], "source B has its own bucket");
    assert!(!lab.tcp(0), "source A stays over its limit");
    drop(listeners);
    let rs = lab.env.ruleset();
    let set = rs
        .split("set ")
        .find(|s| s.contains("flags dynamic,timeout"));
    let set = set.unwrap_or_else(|| panic!("no dynamic set in:\n{rs}"));
    for src in ["198.18.81.2", "198.18.82.2"] {
        assert!(set.contains(src), "{src} has its entry:\n{set}");
    }
}
