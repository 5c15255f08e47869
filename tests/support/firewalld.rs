//! firewalld configurations built with the real `firewall-offline-cmd` in a temp
//! directory (`--system-config`; no daemon, the host's /etc/firewalld untouched), one
//! built through the running daemon (`firewall-cmd --permanent`, boot-tests/import.rs),
//! firewalld's own nftables ruleset for one, made by firewalld's code in a throwaway
//! network namespace, and the comparison of a configuration's import with firewalld's
//! ruleset by `hostwall verify --against`.

use super::cli;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One configuration: a name and the `firewall-offline-cmd` calls that build it.
pub struct Setup {
    pub name: &'static str,
    /// The zone firewalld uses as its default.
    pub default_zone: &'static str,
    pub calls: &'static [&'static [&'static str]],
    /// `firewalld.conf` as written after the calls, when it is not `DefaultZone=` the
    /// default zone.
    pub conf: Option<&'static str>,
}

/// Five configurations a virtualization host might have, rich rules included.
pub const SETUPS: &[Setup] = &[
    Setup {
        name: "public-virt-host",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &[
                "--zone=public",
                "--add-service=cockpit",
                "--add-service=libvirt-tls",
                "--add-service=vdsm",
            ],
            &["--zone=public", "--add-port=8443/tcp"],
            &["--zone=public", "--add-icmp-block=echo-request"],
        ],
        conf: None,
    },
    Setup {
        name: "mgmt-source-zone",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &["--zone=public", "--set-target=DROP"],
            &["--zone=internal", "--add-source=10.20.0.0/16"],
            &[
                "--zone=internal",
                "--remove-service-from-zone=mdns",
                "--remove-service-from-zone=samba-client",
                "--remove-service-from-zone=dhcpv6-client",
            ],
            &[
                "--zone=internal",
                "--add-service=cockpit",
                "--add-service=prometheus-node-exporter",
                "--add-service=zabbix-agent",
            ],
        ],
        conf: None,
    },
    Setup {
        name: "storage-interface-zone",
        default_zone: "drop",
        calls: &[
            &["--new-zone=storage"],
            &["--zone=storage", "--set-target=%%REJECT%%"],
            &["--zone=storage", "--add-interface=eth1"],
            &[
                "--zone=storage",
                "--add-service=nfs",
                "--add-service=rpc-bind",
                "--add-service=mountd",
                "--add-service=iscsi-target",
            ],
            &["--zone=drop", "--add-service=ssh"],
        ],
        conf: None,
    },
    Setup {
        name: "rich-rules",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" source address=\"198.18.0.0/24\" service name=\"libvirt\" log prefix=\"libvirt \" level=\"info\" accept",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" source address=\"198.18.0.2\" port port=\"22\" protocol=\"tcp\" reject",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv6\" source address=\"2001:db8::/32\" service name=\"http\" accept",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.7\" drop",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" destination address=\"192.0.2.1\" service name=\"https\" accept",
            ],
        ],
        conf: None,
    },
    Setup {
        name: "custom-service-and-nat",
        default_zone: "dmz",
        calls: &[
            &["--new-service=myapp"],
            &["--service=myapp", "--add-port=9443/tcp"],
            &["--service=myapp", "--add-port=9444-9445/udp"],
            &[
                "--zone=dmz",
                "--add-service=myapp",
                "--add-service=dhcpv6-client",
            ],
            &["--zone=dmz", "--add-masquerade"],
            &[
                "--zone=dmz",
                "--add-forward-port=port=80:proto=tcp:toport=8080",
            ],
        ],
        conf: None,
    },
];

/// firewalld's programs run by the system Python (they import its `firewall` module).
const PYTHON: &str = "/usr/bin/python3";
const OFFLINE_CMD: &str = "/usr/bin/firewall-offline-cmd";

/// Builds `setup` under `dir` (its /etc/firewalld); panics with firewalld's message.
pub fn build(setup: &Setup, dir: &Path) -> PathBuf {
    let etc = dir.join(setup.name);
    std::fs::create_dir_all(&etc).expect("mkdir");
    let conf = format!("DefaultZone={}\n", setup.default_zone);
    std::fs::write(etc.join("firewalld.conf"), conf).expect("write firewalld.conf");
    for call in setup.calls {
        let out = Command::new(PYTHON)
            .arg(OFFLINE_CMD)
            .arg(format!("--system-config={}", etc.display()))
            .args(*call)
            .output()
            .unwrap_or_else(|e| panic!("{OFFLINE_CMD}: {e} (install the firewalld package)"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("success"),
            "{}: {call:?}: {text}",
            setup.name
        );
    }
    if let Some(conf) = setup.conf {
        std::fs::write(etc.join("firewalld.conf"), conf).expect("write firewalld.conf");
    }
    etc
}

/// The ruleset firewalld itself makes of `etc` (`nft list ruleset` to `out`, `nft -j list
/// ruleset` beside it with the extension `json`), built by firewalld's
/// own code (`firewall.core.fw.Firewall().start()`, no D-Bus, no daemon) in a network
/// namespace that ends with the process (`unshare -n`). Needs root.
pub fn ruleset(etc: &Path, out: &Path) {
    const SCRIPT: &str = "import sys, subprocess\n\
        import firewall.config as c\n\
        c.set_system_config_paths(sys.argv[1])\n\
        from firewall.core.fw import Firewall\n\
        Firewall().start()\n\
        r = subprocess.run(['nft', 'list', 'ruleset'], capture_output=True, text=True, check=True)\n\
        open(sys.argv[2], 'w').write(r.stdout)\n\
        r = subprocess.run(['nft', '-j', 'list', 'ruleset'], capture_output=True, text=True, check=True)\n\
        open(sys.argv[3], 'w').write(r.stdout)\n";
    let o = Command::new("unshare")
        .args(["-n", PYTHON, "-c", SCRIPT])
        .arg(etc)
        .arg(out)
        .arg(out.with_extension("json"))
        .output()
        .expect("unshare");
    assert!(
        o.status.success(),
        "firewalld's ruleset: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A configuration made through the running daemon over D-Bus: `firewall-cmd --permanent`
/// with each call's arguments, then `firewall-cmd --reload` (boot-tests/import.rs). It
/// starts from a `firewalld.conf` naming the default zone and nothing else. A new source
/// zone with target ACCEPT, an interface zone, ports, an ICMP block, and rich rules with
/// log and drop.
pub const RUNTIME: Setup = Setup {
    name: "runtime-dbus",
    default_zone: "public",
    calls: &[
        &["--new-zone=mgmt"],
        &["--zone=mgmt", "--set-target=ACCEPT"],
        &["--zone=mgmt", "--add-source=10.20.1.0/24"],
        &["--zone=public", "--remove-service=dhcpv6-client"],
        &["--zone=public", "--add-port=5900-5910/tcp"],
        &["--zone=public", "--add-port=6081/udp"],
        &["--zone=public", "--add-icmp-block=timestamp-request"],
        &[
            "--zone=public",
            "--add-rich-rule=rule family=\"ipv4\" source address=\"10.20.2.0/24\" port port=\"8080\" protocol=\"tcp\" log prefix=\"web \" level=\"notice\" accept",
        ],
        &[
            "--zone=public",
            "--add-rich-rule=rule family=\"ipv4\" source address=\"10.20.3.4\" service name=\"ssh\" drop",
        ],
        &["--zone=work", "--add-interface=eth2"],
        &["--zone=work", "--remove-service=dhcpv6-client"],
        &["--zone=work", "--add-service=nfs"],
    ],
    conf: None,
};

/// Configurations where firewalld's reading differs from the obvious one (not in
/// [`SETUPS`], whose import tests/it/import.rs pins line by line):
/// - `conf-fallback`: a `firewalld.conf` with a `;` comment, a quoted value (firewalld
///   keeps the quotes, so `"dmz"` is no zone and it falls back to `public`) and a later
///   duplicate it ignores; dmz and public open different ports;
/// - `iface-order`: trusted (ACCEPT) on the wildcard `eth+` and work on `eth7`: firewalld
///   tries the interface it applied last (work's) first, so eth7 gets work's port 2222
///   only, and `+` is a prefix match.
pub const QUIRKS: &[Setup] = &[
    Setup {
        name: "conf-fallback",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &["--zone=public", "--add-port=8443/tcp"],
            &["--zone=dmz", "--add-service=http"],
        ],
        conf: Some("; DefaultZone=drop\nDefaultZone=\"dmz\"\nDefaultZone=dmz\n"),
    },
    Setup {
        name: "iface-order",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &["--zone=trusted", "--add-interface=eth+"],
            &["--zone=work", "--add-interface=eth7"],
            &["--zone=work", "--remove-service-from-zone=dhcpv6-client"],
            &["--zone=work", "--add-port=2222/tcp"],
        ],
        conf: None,
    },
];

/// firewalld policies (`--new-policy`, firewalld ≥ 0.9): one from ANY to HOST (imported
/// before the zones), one forwarding between zones and one egress from the host (listed).
pub const POLICIES: &[Setup] = &[Setup {
    name: "policies",
    default_zone: "public",
    calls: &[
        &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
        &["--new-policy=hostin"],
        &["--policy=hostin", "--add-ingress-zone=ANY"],
        &["--policy=hostin", "--add-egress-zone=HOST"],
        &["--policy=hostin", "--add-port=7777/tcp"],
        &[
            "--policy=hostin",
            "--add-rich-rule=rule family=\"ipv4\" source address=\"198.18.0.0/24\" port port=\"7778\" protocol=\"tcp\" reject",
        ],
        &["--new-policy=fwd"],
        &["--policy=fwd", "--add-ingress-zone=internal"],
        &["--policy=fwd", "--add-egress-zone=external"],
        &["--policy=fwd", "--add-service=http"],
        &["--new-policy=egress"],
        &["--policy=egress", "--add-ingress-zone=HOST"],
        &["--policy=egress", "--add-egress-zone=ANY"],
        &["--policy=egress", "--add-service=dns"],
    ],
    conf: None,
}];

/// `setup`'s starting directory under `dir`: only `firewalld.conf` with its default zone.
pub fn conf_only(setup: &Setup, dir: &Path) -> PathBuf {
    let etc = dir.join(setup.name);
    std::fs::create_dir_all(&etc).expect("mkdir");
    let conf = format!("DefaultZone={}\n", setup.default_zone);
    std::fs::write(etc.join("firewalld.conf"), conf).expect("write firewalld.conf");
    etc
}

/// `setup`'s calls as a shell script of `firewall-cmd --permanent ...` lines (each
/// argument single-quoted), stopping at the first that fails.
pub fn runtime_script(setup: &Setup) -> String {
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let mut out = String::from("set -e\n");
    for call in setup.calls {
        let args: Vec<String> = call.iter().map(|a| quote(a)).collect();
        out.push_str(&format!("firewall-cmd --permanent {}\n", args.join(" ")));
    }
    out
}

/// The probes (by their first words) whose open/closed answer may differ because the
/// import listed why, and the words of that listing. None today: a service's and a rich
/// rule's destination are imported as `to` (dhcpv6-client opens udp 546 to fe80::/64 only).
pub fn listed_differences(_setup: &str) -> &'static [(&'static str, &'static str)] {
    &[]
}

/// What `hostwall verify POLICY --against RULESET` found for one configuration.
#[derive(Debug, Default)]
pub struct Comparison {
    pub probes: usize,
    pub passed: usize,
    /// Security failures the import listed (see [`listed_differences`]).
    pub listed: usize,
    /// Closed on both sides: the policy's reset or port-unreachable against firewalld's
    /// ICMP admin-prohibited.
    pub prohibited_for_refused: usize,
    /// The same over IPv6 TCP, seen as a timeout: the kernel (6.18 measured) keeps an
    /// ICMPv6 admin-prohibited answering a SYN as a soft error (`SO_ERROR` is EACCES)
    /// and does not wake the connecting socket, so verify's probe times out.
    pub v6_tcp_timeout_for_refused: usize,
    /// Ports firewalld opens only to a destination address that the policy's rule names
    /// in its `to` as well: verify sends input probes to its own test address, so it
    /// lists such a rule as not crossed instead of probing it.
    pub to_destinations: usize,
    /// Everything that is not explained, worded for an assertion message.
    pub problems: Vec<String>,
}

/// Imports `etc` (`hostwall import firewalld ETC -o WORK/NAME.policy`) and verifies the
/// policy against `ruleset` (firewalld's `nft list ruleset`; `nft -j list ruleset` beside
/// it with the extension `json`) with real packets. A problem is: an import or verify
/// that did not run, fewer than 20 probes passed, a port firewalld's zones open that no
/// probe expected open (verify draws its probes from the policy only), a security
/// failure the import did not list, a listed difference that did not show, a refusal
/// that differs other than the policy's reset against firewalld's admin-prohibited
/// (over IPv6 TCP seen as a timeout, see [`Comparison`]), or a probe error.
pub fn compare(name: &str, etc: &Path, ruleset: &Path, work: &Path) -> Comparison {
    let policy = work.join(format!("{name}.policy"));
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let o = cli::hostwall(&["import", "firewalld", &path(etc), "-o", &path(&policy)]);
    let listed = cli::text(&o.stderr);
    let mut c = Comparison::default();
    if !matches!(o.status.code(), Some(0 | 1)) {
        c.problems.push(format!("{name}: import failed: {listed}"));
        return c;
    }
    let v = cli::hostwall(&[
        "verify",
        &path(&policy),
        "--against",
        &path(ruleset),
        "--format",
        "json",
    ]);
    let doc: Value = match serde_json::from_slice(&v.stdout) {
        Ok(d) if matches!(v.status.code(), Some(0 | 1)) => d,
        _ => {
            c.problems.push(format!(
                "{name}: verify did not run ({:?}): {}{}",
                v.status.code(),
                cli::text(&v.stdout),
                cli::text(&v.stderr)
            ));
            return c;
        }
    };
    judge(name, &listed, &doc, &mut c);
    let json = ruleset.with_extension("json");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    let capture: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    let text = std::fs::read_to_string(&policy).unwrap_or_default();
    unprobed(name, &text, &capture, &doc, &mut c);
    c
}

/// A port range firewalld's ruleset accepts in a zone's allow chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    pub chain: String,
    pub protocol: String,
    pub ports: (u64, u64),
    /// The rule's destination address match (`192.0.2.1`, `fe80::/64`), if any.
    pub daddr: Option<String>,
}

/// Every `tcp|udp dport N|N-M|{...} ... accept` of the zones' allow chains
/// (`filter_IN_ZONE_allow`; policies' chains are not zones) in `nft -j list ruleset`.
pub fn opened(capture: &Value) -> Vec<Opened> {
    let mut out = Vec::new();
    let rules = capture["nftables"].as_array().into_iter().flatten();
    for r in rules.filter_map(|o| o.get("rule")) {
        let chain = r["chain"].as_str().unwrap_or("");
        let zone = chain.starts_with("filter_IN_") && !chain.starts_with("filter_IN_policy_");
        let exprs = r["expr"].as_array().cloned().unwrap_or_default();
        if !zone || !chain.ends_with("_allow") || !exprs.iter().any(|e| e.get("accept").is_some()) {
            continue;
        }
        let daddr = exprs.iter().filter_map(|e| e.get("match")).find_map(|m| {
            let right = &m["right"];
            (m["left"]["payload"]["field"] == "daddr").then(|| match right["prefix"].as_object() {
                Some(p) => format!("{}/{}", p["addr"].as_str().unwrap_or(""), p["len"]),
                None => right.as_str().unwrap_or("").to_string(),
            })
        });
        for m in exprs.iter().filter_map(|e| e.get("match")) {
            let left = &m["left"]["payload"];
            if left["field"] != "dport" {
                continue;
            }
            let protocol = left["protocol"].as_str().unwrap_or("").to_string();
            let right = &m["right"];
            let items = right["set"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![right.clone()]);
            for item in items {
                let ports = match (item.as_u64(), item["range"].as_array()) {
                    (Some(p), _) => (p, p),
                    (None, Some(r)) if r.len() == 2 => {
                        (r[0].as_u64().unwrap_or(0), r[1].as_u64().unwrap_or(0))
                    }
                    _ => continue,
                };
                out.push(Opened {
                    chain: chain.to_string(),
                    protocol: protocol.clone(),
                    ports,
                    daddr: daddr.clone(),
                });
            }
        }
    }
    out
}

/// A problem for each port firewalld opens that no probe of `doc` expected open: the
/// policy never mentions it, so verify (which draws probes from the policy) cannot see
/// what the import left out there. A rule to a destination address that a rule of the
/// `policy` text names in its `to` is counted instead (see [`Comparison`]).
fn unprobed(name: &str, policy: &str, capture: &Value, doc: &Value, c: &mut Comparison) {
    let probes = doc["probes"].as_array().cloned().unwrap_or_default();
    for o in opened(capture) {
        let seen = probes.iter().any(|p| {
            p["protocol"] == o.protocol.as_str()
                && p["expected"] == "open"
                && p["port"]
                    .as_u64()
                    .is_some_and(|n| (o.ports.0..=o.ports.1).contains(&n))
        });
        if !seen && o.daddr.as_ref().is_some_and(|a| policy_names_to(policy, a)) {
            c.to_destinations += 1;
        } else if !seen {
            c.problems.push(format!(
                "{name}: firewalld opens {} {}-{} ({}), and no probe of the policy expects it open",
                o.protocol, o.ports.0, o.ports.1, o.chain
            ));
        }
    }
}

/// Whether a rule of `policy` has `addr` (nft's `192.0.2.1`, `fe80::/64`) in its `to`
/// list (the import writes a host as `192.0.2.1/32`).
pub fn policy_names_to(policy: &str, addr: &str) -> bool {
    let host = |a: &str| {
        let a = a.trim();
        (a.strip_suffix("/32").or_else(|| a.strip_suffix("/128")))
            .unwrap_or(a)
            .to_string()
    };
    let want = host(addr);
    policy
        .lines()
        .filter_map(|l| l.split_once(" to "))
        .any(|(_, rest)| {
            let list = rest
                .split([' '])
                .take_while(|w| !matches!(*w, "on" | "log" | "#" | "counter" | "limit"));
            list.map(|w| host(w.trim_end_matches(',')))
                .any(|a| a == want)
        })
}

/// Classes every probe of a verify document (see [`compare`]).
fn judge(name: &str, listed: &str, doc: &Value, c: &mut Comparison) {
    let probes = doc["probes"].as_array().cloned().unwrap_or_default();
    c.probes = probes.len();
    c.passed = probes.iter().filter(|p| p["pass"] == true).count();
    if c.passed < 20 {
        c.problems
            .push(format!("{name}: too few probes passed: {}", doc["summary"]));
    }
    let allowed = listed_differences(name);
    let mut shown = vec![false; allowed.len()];
    for p in probes.iter().filter(|p| p["pass"] != true) {
        let row = p["name"].as_str().unwrap_or("");
        let (want, got) = (p["expected"].as_str(), p["observed"].as_str());
        let why = format!("{row}: expected {want:?}, seen {got:?} ({})", p["reason"]);
        match p["failure"].as_str() {
            Some("security") => match allowed.iter().position(|(pre, _)| row.starts_with(pre)) {
                Some(i) if listed.contains(allowed[i].1) => {
                    shown[i] = true;
                    c.listed += 1;
                }
                _ => c.problems.push(format!(
                    "{name}: open/closed differs, not listed by the import: {why}\nlisted:\n{listed}"
                )),
            },
            Some("refused-differently") if (want, got) == (Some("refused"), Some("prohibited")) => {
                c.prohibited_for_refused += 1
            }
            Some("refused-differently")
                if (want, got) == (Some("refused"), Some("timeout"))
                    && (p["family"].as_str(), p["protocol"].as_str())
                        == (Some("ipv6"), Some("tcp")) =>
            {
                c.v6_tcp_timeout_for_refused += 1
            }
            _ => c.problems.push(format!("{name}: unexplained failure: {why}")),
        }
    }
    for ((prefix, _), seen) in allowed.iter().zip(shown) {
        if !seen {
            c.problems.push(format!(
                "{name}: `{prefix}` was expected to differ (listed by the import) but did not"
            ));
        }
    }
}
