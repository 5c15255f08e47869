//! SSH lockout guard: turns `SSH_CONNECTION` into the packet a reconnect would send
//! and refuses a policy whose verdict for it is not accept.
//!
//! The verdict itself comes from a caller-supplied function (the IR packet evaluator
//! in `eval`), so this module never guesses what a ruleset does. The probe is a *new*
//! TCP connection: the running session usually survives as established traffic, but
//! `hostwall confirm` from a fresh session, and any reconnect, need a new one.
//!
//! `sudo` resets the environment (`env_reset` drops `SSH_CONNECTION`), yet `sudo
//! hostwall apply` is the documented usage: when our own environment lacks it, the
//! parent processes are asked (the sshd session shell has it; root reads any
//! `/proc/PID/environ`).

use crate::eval::{self, Cause, L4, Packet};
use crate::ir::{CtState, Hook, L4Proto, Ruleset, Verdict};
use crate::source::SourceMap;
use std::net::IpAddr;
use std::path::Path;

/// The packet a new SSH connection from the admin's client would send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub src: IpAddr,
    pub src_port: u16,
    /// The host's address the client connected to.
    pub dst: IpAddr,
    pub dst_port: u16,
    pub proto: L4Proto,
    pub ct_state: CtState,
    /// The interface that owns `dst` (or the IPv6 zone), when known: rules that
    /// match `iifname` need it. `None` leaves the evaluator to treat it as unknown.
    pub iif: Option<String>,
}

impl Probe {
    /// "192.0.2.10 port 51234 to 10.0.0.1 port 22/tcp (on eth0)"
    pub fn describe(&self) -> String {
        let on = self
            .iif
            .as_deref()
            .map(|i| format!(" (on {i})"))
            .unwrap_or_default();
        format!(
            "{} port {} to {} port {}/{}{on}",
            self.src,
            self.src_port,
            self.dst,
            self.dst_port,
            self.proto.name()
        )
    }
}

/// What the evaluator says about a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    Accepted,
    /// Not accepted. `verdict` is the final one (a chain policy drop is `Drop`); `by`
    /// names what decided it, e.g. "chain input policy drop" or
    /// "host.policy:12:1 (reject from internet)".
    Refused {
        verdict: Verdict,
        by: String,
    },
}

/// `SSH_CONNECTION` does not have the `client port server port` shape.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot understand SSH_CONNECTION={value:?} ({reason}); expected \"CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT\"; pass --force to apply without the lockout check"
)]
pub struct ParseError {
    pub value: String,
    pub reason: String,
}

/// The refusal: applying would lock this SSH client out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", lockout_message(probe, verdict, by))]
pub struct Lockout {
    pub probe: Probe,
    pub verdict: Verdict,
    pub by: String,
}

fn lockout_message(probe: &Probe, verdict: &Verdict, by: &str) -> String {
    let what = match verdict {
        Verdict::Accept => "let through", // not produced: Accepted is its own variant
        Verdict::Drop => "dropped",
        Verdict::Reject(_) => "rejected",
    };
    format!(
        "refusing to apply: this policy would lock out the SSH session it is applied from\n  a new connection from {} would be {what} by {by}\n  the running session may survive as established traffic, but a reconnect or `hostwall confirm` from a new session would not\n  fix the policy to allow it, or pass --force if you have another way in (console)",
        probe.describe()
    )
}

/// Parses `SSH_CONNECTION` ("client_ip client_port server_ip server_port"), IPv4 or
/// IPv6. IPv4-mapped IPv6 addresses (sshd listening on `::`) become IPv4, because
/// that is the family the packet has on the wire; an IPv6 zone (`fe80::1%eth0`) names
/// the interface.
pub fn parse_ssh_connection(value: &str) -> Result<Probe, ParseError> {
    let err = |reason: String| ParseError {
        value: value.to_string(),
        reason,
    };
    let fields: Vec<&str> = value.split_whitespace().collect();
    let [client, cport, server, sport] = fields[..] else {
        return Err(err(format!("{} fields instead of 4", fields.len())));
    };
    let (src, src_zone) = parse_addr(client).map_err(|r| err(format!("client address: {r}")))?;
    let (dst, dst_zone) = parse_addr(server).map_err(|r| err(format!("server address: {r}")))?;
    let port = |s: &str, which: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| err(format!("{which} port {s:?} is not a port number")))
    };
    Ok(Probe {
        src,
        src_port: port(cport, "client")?,
        dst,
        dst_port: port(sport, "server")?,
        proto: L4Proto::Tcp,
        ct_state: CtState(CtState::NEW),
        iif: dst_zone.or(src_zone),
    })
}

fn parse_addr(s: &str) -> Result<(IpAddr, Option<String>), String> {
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) if !z.is_empty() => (a, Some(z.to_string())),
        Some(_) => return Err(format!("{s:?} has an empty zone")),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address"))?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    Ok((ip, zone))
}

/// The probe for the SSH session this process runs in: `Ok(None)` outside SSH.
/// Fills in the interface owning the server address when none was given.
pub fn probe_from_env() -> Result<Option<Probe>, ParseError> {
    let own = std::env::var_os("SSH_CONNECTION").map(|v| v.to_string_lossy().into_owned());
    let value = match own.filter(|v| !v.trim().is_empty()) {
        Some(v) => v,
        None => match ssh_connection_of_ancestors(Path::new("/proc"), std::process::id()) {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    let mut probe = parse_ssh_connection(&value)?;
    if probe.iif.is_none() {
        probe.iif = interface_of(probe.dst);
    }
    Ok(Some(probe))
}

/// How many parents are asked at most: a loop in a damaged (or fake) /proc must end.
const MAX_ANCESTORS: usize = 64;

/// The `SSH_CONNECTION` of the nearest ancestor of `pid` (its parent, grandparent, ...
/// up to but not including PID 1) that has a non-empty one, read from
/// `PROC/PID/environ`. Unreadable processes are skipped, not fatal.
pub fn ssh_connection_of_ancestors(proc_root: &Path, pid: u32) -> Option<String> {
    let mut pid = parent_pid(proc_root, pid)?;
    for _ in 0..MAX_ANCESTORS {
        if pid <= 1 {
            return None;
        }
        let found = std::fs::read(proc_root.join(pid.to_string()).join("environ"))
            .ok()
            .and_then(|env| ssh_connection_in(&env));
        if found.is_some() {
            return found;
        }
        pid = parent_pid(proc_root, pid)?;
    }
    None
}

/// The value of `SSH_CONNECTION` in a NUL-separated environment block.
fn ssh_connection_in(environ: &[u8]) -> Option<String> {
    environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"SSH_CONNECTION="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| !v.trim().is_empty())
}

/// Field 4 of `PROC/PID/stat` (after the parenthesised command, which may hold spaces).
fn parent_pid(proc_root: &Path, pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Asks `judge` (the packet evaluator over the new ruleset) about `probe`; a refusal
/// becomes [`Lockout`], whose message names the client, the port and what rejects it.
pub fn check(probe: &Probe, judge: &dyn Fn(&Probe) -> Judgement) -> Result<(), Lockout> {
    match judge(probe) {
        Judgement::Accepted => Ok(()),
        Judgement::Refused { verdict, by } => Err(Lockout {
            probe: probe.clone(),
            verdict,
            by,
        }),
    }
}

/// The judgement of the IR evaluator (`eval`) over the new ruleset `rs`: the probe's
/// first packet on the input hook, and the host's answer (established) on the output
/// hook. `map` (the policy's source map) lets the refusal name the policy line.
/// An evaluation error refuses too: the guard cannot vouch for the session then.
pub fn judge_with_eval(rs: &Ruleset, map: Option<&SourceMap>, probe: &Probe) -> Judgement {
    let port = |l4_port| match probe.proto {
        L4Proto::Udp => L4::Udp { dport: l4_port },
        L4Proto::Sctp => L4::Sctp { dport: l4_port },
        _ => L4::Tcp { dport: l4_port },
    };
    let inbound = Packet {
        src: probe.src,
        dst: probe.dst,
        iif: probe.iif.clone(),
        oif: None,
        l4: port(probe.dst_port),
        ct: probe.ct_state.0,
    };
    let answer = Packet {
        src: probe.dst,
        dst: probe.src,
        iif: None,
        oif: probe.iif.clone(),
        l4: port(probe.src_port),
        ct: CtState::ESTABLISHED,
    };
    for (hook, pkt, what) in [
        (Hook::Input, &inbound, ""),
        (
            Hook::Output,
            &answer,
            " (the host's answer, on the output hook)",
        ),
    ] {
        // Accepted only when no rate limit can change it: a flood may use up a limit.
        match eval::outcomes(rs, hook, pkt) {
            Ok(o) if o.certain() == Some(Verdict::Accept) => {}
            Ok(o) if o.under.verdict == Verdict::Accept => {
                return Judgement::Refused {
                    verdict: o.over.verdict,
                    by: format!(
                        "{}{what} once the rate limit of {} is used up",
                        describe_cause(rs, map, &o.over.cause),
                        describe_cause(rs, map, &o.under.cause)
                    ),
                };
            }
            Ok(o) => {
                let d = o.under;
                return Judgement::Refused {
                    verdict: d.verdict,
                    by: format!("{}{what}", describe_cause(rs, map, &d.cause)),
                };
            }
            Err(e) => {
                return Judgement::Refused {
                    verdict: Verdict::Drop,
                    by: format!("an evaluation error{what}: {e}"),
                };
            }
        }
    }
    Judgement::Accepted
}

/// "rule 3 of chain input at host.policy:12:1 \"ssh\"" or "the policy of chain input".
fn describe_cause(rs: &Ruleset, map: Option<&SourceMap>, cause: &Cause) -> String {
    match cause {
        Cause::Rule { chain, index } => {
            let rule = rs
                .table
                .chains
                .iter()
                .find(|c| &c.name == chain)
                .and_then(|c| c.rules.get(*index));
            let at = rule
                .and_then(|r| r.origin.first())
                .zip(map)
                .map(|(span, m)| format!(" at {}", m.location(*span)))
                .unwrap_or_default();
            let comment = rule
                .and_then(|r| r.comment.as_deref())
                .map(|c| format!(" \"{c}\""))
                .unwrap_or_default();
            // Rules without a policy line are hostwall's own; the only refusing one a
            // new connection can meet is the `default` verdict at the chain's end.
            let implicit = if at.is_empty() && comment.is_empty() {
                ", the policy's `default`: no allow rule matches"
            } else {
                ""
            };
            format!("rule {} of chain {chain}{at}{comment}{implicit}", index + 1)
        }
        Cause::Policy { chain } => {
            format!("the policy of chain {chain} (its `default`: no allow rule matches)")
        }
        Cause::NoChain => "no chain".to_string(),
    }
}

/// The name of the local interface that holds `addr`, if any (getifaddrs).
pub fn interface_of(addr: IpAddr) -> Option<String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() && found.is_none() {
        // SAFETY: `cur` is a node of the list returned by getifaddrs, not yet freed.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_addr, when set, points at a sockaddr of the family it names.
        if unsafe { sockaddr_ip(ifa.ifa_addr) } == Some(addr) && !ifa.ifa_name.is_null() {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
            found = Some(name.to_string_lossy().into_owned());
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    found
}

/// # Safety
/// `sa` is null or points at a valid sockaddr whose size matches its family.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `sa` is valid for its family's struct.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                // s_addr is stored in network order: its in-memory bytes are the address.
                Some(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::from(sin6.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::RejectWith;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn parses_ipv4() {
        let p = parse_ssh_connection("192.0.2.10 51234 10.0.0.1 22").expect("v4");
        assert_eq!(p.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
        assert_eq!((p.src_port, p.dst_port), (51234, 22));
        assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(p.proto, L4Proto::Tcp);
        assert_eq!(p.ct_state, CtState(CtState::NEW));
        assert_eq!(p.iif, None);
    }

    #[test]
    fn parses_ipv6_mapped_and_zoned() {
        let p = parse_ssh_connection("2001:db8::7 40000 2001:db8::1 2222").expect("v6");
        assert_eq!(
            p.src,
            "2001:db8::7"
                .parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .expect("ip")
        );
        assert_eq!(p.dst_port, 2222);
        let m = parse_ssh_connection("::ffff:192.0.2.10 5 ::ffff:10.0.0.1 22").expect("mapped");
        assert_eq!(m.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
        assert_eq!(m.dst, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let z = parse_ssh_connection("fe80::2%br0 5 fe80::1%br0 22").expect("zoned");
        assert_eq!(z.iif.as_deref(), Some("br0"));
    }

    #[test]
    fn rejects_malformed_values_with_the_expected_shape() {
        for bad in [
            "",
            "192.0.2.10 51234 10.0.0.1",
            "192.0.2.10 51234 10.0.0.1 22 extra",
            "host 1 10.0.0.1 22",
            "192.0.2.10 0 10.0.0.1 22",
            "192.0.2.10 1 10.0.0.1 65536",
            "fe80::1% 1 fe80::2 22",
        ] {
            let e = parse_ssh_connection(bad).expect_err(bad);
            assert!(e.to_string().contains("CLIENT_IP CLIENT_PORT"), "{e}");
        }
    }

    #[test]
    fn refusal_names_client_port_and_rule() {
        let p = Probe {
            iif: Some("eth0".into()),
            ..parse_ssh_connection("192.0.2.10 51234 10.0.0.1 22").expect("v4")
        };
        let judge = |probe: &Probe| {
            if probe.dst_port == 22 {
                Judgement::Refused {
                    verdict: Verdict::Reject(RejectWith::TcpReset),
                    by: "host.policy:7:1 (reject from internet)".into(),
                }
            } else {
                Judgement::Accepted
            }
        };
        let msg = check(&p, &judge).expect_err("refused").to_string();
        assert!(
            msg.contains("192.0.2.10 port 51234 to 10.0.0.1 port 22/tcp (on eth0)"),
            "{msg}"
        );
        assert!(
            msg.contains("rejected by host.policy:7:1 (reject from internet)"),
            "{msg}"
        );
        assert!(msg.contains("--force"), "{msg}");
        let other = Probe {
            dst_port: 2222,
            ..p
        };
        assert_eq!(check(&other, &judge), Ok(()));
    }

    /// A fake /proc: sudo (pid 30, no SSH_CONNECTION) under a shell (20, has it) under
    /// sshd (10), under init.
    fn fake_proc(shell_env: &[u8]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tempdir");
        let proc = |pid: u32, ppid: u32, comm: &str, env: &[u8]| {
            let d = root.path().join(pid.to_string());
            std::fs::create_dir_all(&d).expect("mkdir");
            let stat = format!("{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 0 0");
            std::fs::write(d.join("stat"), stat).expect("stat");
            std::fs::write(d.join("environ"), env).expect("environ");
        };
        proc(1, 0, "systemd", b"SSH_CONNECTION=9.9.9.9 1 9.9.9.8 22\0");
        proc(10, 1, "sshd", b"PATH=/usr/bin\0");
        proc(20, 10, "bash", shell_env);
        proc(30, 20, "sudo (x) y", b"HOME=/root\0SUDO_USER=admin\0");
        proc(40, 30, "hostwall", b"HOME=/root\0");
        root
    }

    #[test]
    fn ssh_connection_is_found_in_an_ancestor_not_in_init() {
        let root = fake_proc(b"USER=admin\0SSH_CONNECTION=192.0.2.10 51234 10.0.0.1 22\0X=1\0");
        assert_eq!(
            ssh_connection_of_ancestors(root.path(), 40).as_deref(),
            Some("192.0.2.10 51234 10.0.0.1 22")
        );
        // None of the ancestors below init has it: PID 1's environment is not asked.
        let bare = fake_proc(b"USER=admin\0SSH_CONNECTION=\0");
        assert_eq!(ssh_connection_of_ancestors(bare.path(), 40), None);
        // A pid that is not there ends the walk.
        assert_eq!(ssh_connection_of_ancestors(root.path(), 99), None);
    }

    #[test]
    fn a_parent_loop_ends() {
        let root = tempfile::tempdir().expect("tempdir");
        for (pid, ppid) in [(5u32, 6u32), (6, 5)] {
            let d = root.path().join(pid.to_string());
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("stat"), format!("{pid} (x) S {ppid} 0")).expect("stat");
        }
        assert_eq!(ssh_connection_of_ancestors(root.path(), 5), None);
    }

    #[test]
    fn loopback_belongs_to_lo() {
        assert_eq!(
            interface_of(IpAddr::V4(Ipv4Addr::LOCALHOST)).as_deref(),
            Some("lo")
        );
        assert_eq!(
            interface_of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 250))),
            None
        );
    }
}
