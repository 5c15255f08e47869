//! In-place apply of a policy with a `per source` limit, through the binary against the
//! real kernel: the sources its dynamic sets learned (from real connections and added
//! with `nft`) survive an apply that adds a rule, one that changes another set's
//! elements, and an unchanged one; a source that used its burst stays refused right
//! after; `diff --full` is empty. A new rate or burst is a full replace that says why.

use crate::apply::{Env, exit, stderr, stdout};
use hostwall::netns::Netns;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The client's address (`host`: the host's end of the link) in one family.
fn addr(v6: bool, host: bool) -> IpAddr {
    let last = if host { 1 } else { 2 };
    match v6 {
        true => IpAddr::V6(Ipv6Addr::new(0xfd00, 0x83, 1, 0, 0, 0, 0, last)),
        false => IpAddr::V4(Ipv4Addr::new(198, 18, 83, last as u8)),
    }
}

/// Our namespace with listeners on `ports` (both families) and one client on a veth.
struct Lab {
    env: Env,
    client: Netns,
    _listeners: Vec<TcpListener>,
}

fn ok(r: Result<(), hostwall::netns::NetnsError>) {
    r.unwrap_or_else(|e| panic!("{e}"));
}

impl Lab {
    fn new(ports: &[u16]) -> Lab {
        let env = Env::new("hw-il");
        let client = Netns::create_unique("hw-il-c").unwrap_or_else(|e| panic!("netns: {e}"));
        let link = [
            "link", "add", "hwih", "type", "veth", "peer", "name", "hwic",
        ];
        let mut args = link.to_vec();
        args.extend(["netns", client.name()]);
        ok(env.ns.ip(&args));
        for (ns, dev, host) in [(&env.ns, "hwih", true), (&client, "hwic", false)] {
            let a4 = format!("{}/24", addr(false, host));
            ok(ns.ip(&["addr", "add", &a4, "dev", dev]));
            let a6 = format!("{}/64", addr(true, host));
            ok(ns.ip(&["addr", "add", &a6, "dev", dev, "nodad"]));
            ok(ns.ip(&["link", "set", dev, "up"]));
        }
        let ports = ports.to_vec();
        let listeners = (env.ns.run(move || {
            (ports.iter())
                .map(|&p| TcpListener::bind((Ipv6Addr::UNSPECIFIED, p)))
                .collect::<std::io::Result<Vec<_>>>()
        }))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("listen: {e}"));
        for v6 in [false, true] {
            crate::support::link::wait_answered(&client, SocketAddr::new(addr(v6, true), 9));
        }
        Lab {
            env,
            client,
            _listeners: listeners,
        }
    }

    /// A new TCP connection from the client to `port`: whether it connected.
    fn tcp(&self, v6: bool, port: u16) -> bool {
        let to = SocketAddr::new(addr(v6, true), port);
        let run = move || TcpStream::connect_timeout(&to, Duration::from_millis(400)).is_ok();
        self.client.run(run).unwrap_or(false)
    }

    /// `apply -v POLICY`: asserts exit 0; stdout and stderr together.
    fn apply(&self, name: &str, policy: &str) -> String {
        let file = self.env.file(name, policy).to_string_lossy().into_owned();
        let out = self.env.apply(&["-v", &file]);
        exit(&out, 0);
        stdout(&out) + &stderr(&out)
    }

    /// The sources hostwall's live read finds in a dynamic set.
    fn learned(&self, set: &str) -> Vec<IpAddr> {
        let sets = hostwall::live::learned::read("hostwall", Some(self.env.ns.name()));
        let sets = sets.unwrap_or_else(|e| panic!("live read: {e}"));
        let found = sets.into_iter().find(|l| l.set == set);
        found
            .unwrap_or_else(|| panic!("no dynamic set {set}"))
            .sources
    }

    /// `diff --full` of the policy file `name`: exit code and output.
    fn diff(&self, name: &str) -> (Option<i32>, String) {
        let file = self.env.dir.path().join(name);
        let (file, state) = (file.to_string_lossy(), self.env.state());
        let state = state.to_string_lossy();
        let args = ["diff", "--full", &file, "--netns", self.env.ns.name()];
        let mut args = args.to_vec();
        args.extend(["--state-dir", &state]);
        let out = crate::apply::hostwall(&args, &[]);
        (out.status.code(), stdout(&out) + &stderr(&out))
    }
}

/// A policy with the per-source limit, `extra` rules and a block list of `blocked`.
fn policy(burst: u32, extra: &str, blocked: &[&str]) -> String {
    format!(
        "policy p {{\n    allow tcp 8092 limit 1/minute per source burst {burst}\n{extra}    \
         drop from {}\n}}\n",
        blocked.join(", ")
    )
}

fn in_place(out: &str, what: &str) {
    assert!(
        out.contains("  incremental: "),
        "{what}: not in place:\n{out}"
    );
    assert!(!out.contains("full replace"), "{what}:\n{out}");
}

#[test]
#[ignore = "needs root"]
fn learned_sources_survive_in_place_applies_issue14() {
    crate::support::root::require();
    let started = Instant::now();
    let lab = Lab::new(&[8092, 9000]);
    let blocked = ["192.0.2.1", "192.0.2.7", "192.0.2.9"];
    lab.apply("a.policy", &policy(3, "", &blocked));
    let v4 = (0..4).map(|_| lab.tcp(false, 8092)).collect::<Vec<_>>();
    assert_eq!(v4, [true, true, true, false], "the client uses its burst");
    assert!(lab.tcp(true, 8092), "the client is learned over IPv6 too");
    lab.env.nft(
        &["-f", "-"],
        "add element inet hostwall allow_limit4 { 10.1.1.1 timeout 1h }\n",
    );
    let want4 = |extra: &[&str]| {
        let mut w: Vec<IpAddr> = extra
            .iter()
            .map(|a| a.parse().unwrap_or(addr(false, false)))
            .collect();
        w.push(addr(false, false));
        w.sort();
        w
    };
    let sorted = |mut v: Vec<IpAddr>| {
        v.sort();
        v
    };
    let check = |what: &str| {
        assert_eq!(
            sorted(lab.learned("allow_limit4")),
            want4(&["10.1.1.1"]),
            "{what}"
        );
        assert_eq!(lab.learned("allow_limit6"), [addr(true, false)], "{what}");
    };
    check("before");

    // A new rule: in place (the table was changed with nft, so it is read).
    let plus = policy(3, "    allow tcp 9000\n", &blocked);
    let out = lab.apply("b.policy", &plus);
    in_place(&out, "a new rule");
    assert!(out.contains("1 rules added"), "{out}");
    check("after a new rule");
    assert!(
        !lab.tcp(false, 8092),
        "the source that used its burst is still refused"
    );
    assert!(lab.tcp(false, 9000), "the new rule admits");
    assert_eq!(
        lab.diff("b.policy").0,
        Some(0),
        "{}",
        lab.diff("b.policy").1
    );

    // Another set's elements change: in place, planned from our own record.
    let other = policy(
        3,
        "    allow tcp 9000\n",
        &["192.0.2.1", "192.0.2.8", "192.0.2.9"],
    );
    let out = lab.apply("c.policy", &other);
    in_place(&out, "other elements");
    // 192.0.2.8-192.0.2.9 in for 192.0.2.7 and 192.0.2.9.
    assert!(
        out.contains("1 elements added, 2 elements removed"),
        "{out}"
    );
    assert!(out.contains("planned from the table record"), "{out}");
    check("after another set's elements changed");
    assert!(
        !lab.tcp(false, 8092),
        "still refused after the element change"
    );
    let (code, text) = lab.diff("c.policy");
    assert_eq!(code, Some(0), "{text}");

    // The same policy again: nothing sent, nothing forgotten.
    let out = lab.apply("c.policy", &other);
    assert!(
        out.contains("unchanged") && out.contains("nothing sent"),
        "{out}"
    );
    check("after an unchanged apply");

    // A new burst changes the set's timeout: a full replace that says so.
    let out = lab.apply("d.policy", &policy(5, "    allow tcp 9000\n", &blocked));
    assert!(
        out.contains("full replace: per-source limit set allow_limit4 changes its timeout"),
        "{out}"
    );
    assert!(out.contains("forgets the sources it learned"), "{out}");
    assert!(lab.learned("allow_limit4").is_empty(), "made anew");
    eprintln!("took {:?}", started.elapsed());
}

/// Our table listed with the dynamic sets' learned elements flushed (the part a full
/// apply cannot have).
fn listing_without_learned(lab: &Lab) -> String {
    for set in ["allow_limit4", "allow_limit6"] {
        lab.env.nft(&["flush", "set", "inet", "hostwall", set], "");
    }
    lab.env.nft(&["list", "table", "inet", "hostwall"], "")
}

/// After an in-place apply that kept learned sources, the table is exactly a full
/// apply's but for them; a real map in our table is a full replace that names it as a
/// map (never "of a type or flags hostwall never uses").
#[test]
#[ignore = "needs root"]
fn in_place_equals_a_full_apply_but_for_learned_sources_issue14() {
    crate::support::root::require();
    let lab = Lab::new(&[8092]);
    lab.apply("a.policy", &policy(3, "", &["192.0.2.1", "192.0.2.3"]));
    assert_eq!(
        (0..4).map(|_| lab.tcp(true, 8092)).collect::<Vec<_>>(),
        [true, true, true, false]
    );
    let new = policy(3, "    allow udp 53\n", &["192.0.2.1", "192.0.2.4"]);
    let out = lab.apply("b.policy", &new);
    in_place(&out, "a rule and an element");
    assert_eq!(lab.learned("allow_limit6"), [addr(true, false)]);
    assert!(!lab.tcp(true, 8092), "still over its IPv6 limit");
    let in_place_table = listing_without_learned(&lab);
    let file = lab.env.dir.path().join("b.policy");
    let out = lab.env.apply(&["--replace", &file.to_string_lossy()]);
    exit(&out, 0);
    assert!(lab.learned("allow_limit6").is_empty(), "--replace forgets");
    assert_eq!(in_place_table, listing_without_learned(&lab));

    let map = "add map inet hostwall m { type ipv4_addr : verdict; }\n";
    lab.env.nft(&["-f", "-"], map);
    let out = lab.apply("a.policy", &policy(3, "", &["192.0.2.1"]));
    assert!(
        out.contains("full replace: the live table holds set m (a map), which the policy"),
        "{out}"
    );
}
