//! Address ranges and `to` on input rules with real packets: a policy applied by the
//! binary in a host namespace, TCP connections from a client namespace over a veth from
//! addresses just inside and just outside each range, and to each of the host's two
//! addresses; `diff --full` after the apply says the table reads back as compiled.

use hostwall::netns::Netns;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

const POLICY: &str = "policy ranges {
    default reject
    allow tcp 8080 from 198.18.80.5-198.18.80.9, fd00:80::10-fd00:80::1f
    allow tcp 8081 to 198.18.80.2
    allow tcp 8082 from fd00:80::10-fd00:80::1f to fd00:80::2
}
";

const PORTS: [u16; 3] = [8080, 8081, 8082];

/// The host namespace (addresses .1 and .2 of each family, listeners on every port) and a
/// client namespace holding every source address the test sends from.
struct Lab {
    host: Netns,
    client: Netns,
    state: tempfile::TempDir,
    policy: tempfile::NamedTempFile,
    _listeners: Vec<TcpListener>,
}

fn ok(r: Result<(), hostwall::netns::NetnsError>) {
    r.unwrap_or_else(|e| panic!("{e}"));
}

impl Lab {
    fn new() -> Lab {
        let host = Netns::create_unique("hw-ad").unwrap_or_else(|e| panic!("netns: {e}"));
        let client = Netns::create_unique("hw-ad-c").unwrap_or_else(|e| panic!("netns: {e}"));
        ok(host.ip(&[
            "link",
            "add",
            "hwh",
            "type",
            "veth",
            "peer",
            "name",
            "hwc",
            "netns",
            client.name(),
        ]));
        for a in ["198.18.80.1/24", "198.18.80.2/24"] {
            ok(host.ip(&["addr", "add", a, "dev", "hwh"]));
        }
        for a in ["fd00:80::1/64", "fd00:80::2/64"] {
            ok(host.ip(&["addr", "add", a, "dev", "hwh", "nodad"]));
        }
        for n in [4, 5, 9, 10] {
            ok(client.ip(&["addr", "add", &format!("198.18.80.{n}/24"), "dev", "hwc"]));
        }
        for n in ["f", "10", "1f", "20"] {
            let a = format!("fd00:80::{n}/64");
            ok(client.ip(&["addr", "add", &a, "dev", "hwc", "nodad"]));
        }
        ok(host.ip(&["link", "set", "hwh", "up"]));
        ok(client.ip(&["link", "set", "hwc", "up"]));
        let listeners = (host.run(|| {
            PORTS
                .iter()
                .map(|&p| TcpListener::bind(("::", p)))
                .collect::<std::io::Result<Vec<_>>>()
        }))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("listen: {e}"));
        for to in ["198.18.80.1", "fd00:80::1"] {
            let to = SocketAddr::new(to.parse().expect("address"), 9);
            crate::support::link::wait_answered(&client, to);
        }
        let policy = tempfile::NamedTempFile::new().expect("temp policy");
        std::fs::write(policy.path(), POLICY).expect("write policy");
        Lab {
            host,
            client,
            state: crate::common::state_dir(),
            policy,
            _listeners: listeners,
        }
    }

    /// `hostwall ARGS... POLICY --netns HOST --state-dir DIR`: exit code and output.
    fn hostwall(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_hostwall"))
            .args(args)
            .arg(self.policy.path())
            .args(["--netns", self.host.name(), "--state-dir"])
            .arg(self.state.path())
            .output()
            .expect("run hostwall");
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text.into_owned())
    }

    /// Whether a new connection from `src` to `dst`:`port` is answered by the listener.
    fn answers(&self, src: &str, dst: &str, port: u16) -> bool {
        let (src_ip, dst_ip): (IpAddr, IpAddr) = (
            src.parse().expect("source address"),
            dst.parse().expect("destination address"),
        );
        // The client picks its source by the preferred source of a host route to `dst`
        // (more specific than the link's prefix route, which IPv6 would prefer otherwise).
        let host_route = match dst_ip {
            IpAddr::V4(_) => format!("{dst}/32"),
            IpAddr::V6(_) => format!("{dst}/128"),
        };
        let src_s = src_ip.to_string();
        ok(self
            .client
            .ip(&["route", "replace", &host_route, "dev", "hwc", "src", &src_s]));
        let to = SocketAddr::new(dst_ip, port);
        self.client
            .run(move || TcpStream::connect_timeout(&to, Duration::from_secs(2)))
            .expect("enter client namespace")
            .is_ok()
    }
}

#[test]
#[ignore = "needs root"]
fn ranges_and_to_admit_exactly_their_addresses() {
    crate::support::root::require();
    let lab = Lab::new();
    let (code, out) = lab.hostwall(&["apply", "--insecure-perms", "--force"]);
    assert_eq!(code, 0, "apply: {out}");
    let mut wrong = Vec::new();
    let cases: [(&str, &str, u16, bool); 18] = [
        // Both sides of each end of the IPv4 and IPv6 source ranges.
        ("198.18.80.4", "198.18.80.1", 8080, false),
        ("198.18.80.5", "198.18.80.1", 8080, true),
        ("198.18.80.9", "198.18.80.1", 8080, true),
        ("198.18.80.10", "198.18.80.1", 8080, false),
        ("fd00:80::f", "fd00:80::1", 8080, false),
        ("fd00:80::10", "fd00:80::1", 8080, true),
        ("fd00:80::1f", "fd00:80::1", 8080, true),
        ("fd00:80::20", "fd00:80::1", 8080, false),
        // `to`: only the one host address answers, from any source.
        ("198.18.80.4", "198.18.80.2", 8081, true),
        ("198.18.80.4", "198.18.80.1", 8081, false),
        ("198.18.80.10", "198.18.80.2", 8081, true),
        ("fd00:80::f", "fd00:80::2", 8081, false),
        // `from` range and `to` together (IPv6).
        ("fd00:80::10", "fd00:80::2", 8082, true),
        ("fd00:80::1f", "fd00:80::2", 8082, true),
        ("fd00:80::10", "fd00:80::1", 8082, false),
        ("fd00:80::20", "fd00:80::2", 8082, false),
        ("fd00:80::f", "fd00:80::2", 8082, false),
        ("198.18.80.5", "198.18.80.2", 8082, false),
    ];
    for (src, dst, port, expect) in cases {
        if lab.answers(src, dst, port) != expect {
            wrong.push(format!("{src} -> {dst}:{port}: expected answered={expect}"));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    let (code, out) = lab.hostwall(&["diff", "--full"]);
    assert_eq!(code, 0, "diff --full after apply: {out}");
}
