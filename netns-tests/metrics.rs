//! `hostwall metrics` and `diff --check` against real kernel state: real packets from a
//! client namespace move the counters, the output is read back by Prometheus' own
//! parser (python3-prometheus-client) and its values compared with the traffic sent and
//! with what `nft` reports; a failing read shows as `hostwall_up 0`; `-o` replaces the
//! file atomically; `diff --check` exits 0, 1, 2 and 3 for in sync, warning, critical
//! and unknown.

use crate::apply::{Env, exit, hostwall, stderr, stdout};
use hostwall::netns::Netns;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const HOST: &str = "198.18.79.1";
const CLIENT: &str = "198.18.79.2";

/// A file name with a quote and a backslash: label values must be escaped.
const POLICY_FILE: &str = "odd\"na\\me.policy";

const POLICY: &str = "policy mx {
    default reject
    allow ssh counter
    allow tcp 8080 from 198.18.79.0/24, fd00:79::/64 counter
    drop udp 5353 counter
    allow tcp 9000
    count rejected
}
";

/// The host namespace (an [`Env`]) joined by a veth to a client namespace.
struct Lab {
    env: Env,
    client: Netns,
}

impl Lab {
    fn new() -> Lab {
        let env = Env::new("hw-mx");
        let client = Netns::create_unique("hw-mx-c").unwrap_or_else(|e| panic!("netns: {e}"));
        let ok = |r: Result<(), hostwall::netns::NetnsError>| r.unwrap_or_else(|e| panic!("{e}"));
        let peer = ["link", "add", "hmh", "type", "veth", "peer", "name", "hmc"];
        let mut add: Vec<&str> = peer.to_vec();
        add.extend(["netns", client.name()]);
        ok(env.ns.ip(&add));
        ok(env
            .ns
            .ip(&["addr", "add", &format!("{HOST}/24"), "dev", "hmh"]));
        ok(env.ns.ip(&["link", "set", "hmh", "up"]));
        ok(client.ip(&["addr", "add", &format!("{CLIENT}/24"), "dev", "hmc"]));
        ok(client.ip(&["link", "set", "hmc", "up"]));
        let host = SocketAddr::new(HOST.parse().unwrap_or_else(|e| panic!("{e}")), 9);
        crate::support::link::wait_answered(&client, host);
        Lab { env, client }
    }

    fn state(&self) -> String {
        self.env.state().to_string_lossy().into_owned()
    }

    /// `hostwall CMD --netns NS --state-dir STATE ARGS...`
    fn run(&self, cmd: &str, args: &[&str]) -> std::process::Output {
        let state = self.state();
        let mut all = vec![cmd, "--netns", self.env.ns.name(), "--state-dir", &state];
        all.extend_from_slice(args);
        hostwall(&all, &[])
    }

    /// `n` UDP datagrams of `len` bytes of payload from the client to `port`.
    fn udp(&self, port: u16, n: usize, len: usize) {
        let to = SocketAddr::from(([198, 18, 79, 1], port));
        self.client
            .run(move || {
                let s = UdpSocket::bind((CLIENT, 0)).expect("bind");
                for _ in 0..n {
                    s.send_to(&vec![b'x'; len], to).expect("send");
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// `n` TCP connections from the client to `port` (answered or refused alike).
    fn tcp(&self, port: u16, n: usize) {
        let to = SocketAddr::from(([198, 18, 79, 1], port));
        self.client
            .run(move || {
                for _ in 0..n {
                    let _ = TcpStream::connect_timeout(&to, Duration::from_secs(2));
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Every sample of `text`, as Prometheus' own parser reads it: name and sorted labels
/// to value. Panics when the parser refuses the text.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/netns-tests/metrics/prom_parse.py"
    );
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (apt install python3-prometheus-client)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(text.as_bytes())
        .expect("write to the parser");
    drop(stdin);
    let out = child.wait_with_output().expect("parser output");
    assert!(
        out.status.success(),
        "prometheus_client refused the output: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            let labels: BTreeMap<String, String> =
                serde_json::from_value(v[1].clone()).expect("labels");
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let name = v[0].as_str().unwrap_or("");
            let name = match pairs.is_empty() {
                true => name.to_string(),
                false => format!("{name}{{{}}}", pairs.join(",")),
            };
            (name, v[2].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key}; have: {:#?}", samples.keys()))
}

/// (packets, bytes) of every counted rule in the namespace, as `nft -j` reports them,
/// by rule comment (the default-action rules summed under "").
fn nft_counters(env: &Env) -> BTreeMap<String, (f64, f64)> {
    let json = env.nft(&["-j", "list", "table", "inet", "hostwall"], "");
    let v: Value = serde_json::from_str(&json).expect("nft -j");
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let rule = &item["rule"];
        let Some(expr) = rule["expr"].as_array() else {
            continue;
        };
        for e in expr {
            if let Some(c) = e.get("counter") {
                let key = rule["comment"].as_str().unwrap_or("").to_string();
                let s = out.entry(key).or_default();
                s.0 += c["packets"].as_f64().unwrap_or(0.0);
                s.1 += c["bytes"].as_f64().unwrap_or(0.0);
            }
        }
    }
    out
}

#[test]
#[ignore = "needs root"]
fn counters_move_with_real_packets_and_prometheus_parses_every_line() {
    crate::support::root::require();
    let lab = Lab::new();
    let policy = lab.env.file(POLICY_FILE, POLICY);
    let p = policy.to_string_lossy().into_owned();
    exit(&lab.env.apply(&[&p]), 0);
    let _listener = lab
        .env
        .ns
        .run(|| TcpListener::bind((HOST, 8080)))
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("listen");
    lab.tcp(8080, 3); // accepted: each connection's first packet is counted
    lab.tcp(22, 2); // accepted, then reset by the stack: still counted
    lab.udp(5353, 4, 10); // dropped: 4 x (20 + 8 + 10) bytes
    lab.udp(7777, 2, 22); // refused by the default action: 2 x 50 bytes
    let out = lab.run("metrics", &[&p]);
    exit(&out, 0);
    let text = stdout(&out);
    let m = parse(&text);
    let line = |n: u32| format!("{p}:{n}");
    let rule = |what: &str, service: &str, verdict: &str, n: u32| {
        format!(
            "hostwall_rule_{what}_total{{chain=input,line={},service={service},verdict={verdict}}}",
            line(n)
        )
    };
    assert_eq!(value(&m, &rule("packets", "", "allow", 4)), 3.0, "{text}");
    assert_eq!(value(&m, &rule("packets", "ssh", "allow", 3)), 2.0);
    assert_eq!(value(&m, &rule("packets", "", "drop", 5)), 4.0);
    assert_eq!(value(&m, &rule("bytes", "", "drop", 5)), 4.0 * 38.0);
    assert_eq!(
        value(&m, "hostwall_rejected_packets_total{chain=input}"),
        2.0
    );
    assert_eq!(
        value(&m, "hostwall_rejected_bytes_total{chain=input}"),
        100.0
    );
    // The TCP rules' bytes are what the kernel counted (SYN sizes vary with options).
    let nft = nft_counters(&lab.env);
    assert_eq!(value(&m, &rule("bytes", "", "allow", 4)), nft["tcp 8080"].1);
    assert_eq!(value(&m, &rule("bytes", "ssh", "allow", 3)), nft["ssh"].1);
    assert_eq!(
        value(&m, "hostwall_rejected_bytes_total{chain=input}"),
        nft[""].1
    );
    // The rule without `counter` has no series; the IPv6 half of line 4 is in its sum.
    assert!(!text.contains(&format!(
        "{}\"",
        line(6).replace('\\', "\\\\").replace('"', "\\\"")
    )));
    for (k, v) in [
        ("hostwall_up", 1.0),
        ("hostwall_in_sync", 1.0),
        ("hostwall_fast_path", 1.0),
        ("hostwall_pending_change", 0.0),
        ("hostwall_drift_changes{kind=rule-added}", 0.0),
        ("hostwall_scrape_error{part=counters}", 0.0),
    ] {
        assert_eq!(value(&m, k), v, "{k}\n{text}");
    }
    let applied = value(&m, "hostwall_last_apply_timestamp_seconds");
    let now = hostwall::safe::unix_now() as f64;
    assert!((now - 600.0..=now).contains(&applied), "{applied} vs {now}");
    assert_eq!(
        value(&m, "hostwall_last_apply_generation"),
        value(&m, "hostwall_generation")
    );

    // The first run on the fast path cached the labels; the next one labels from the
    // cache (shown by planting a label in it), and a cache of other inputs is ignored.
    let cache = hostwall::metrics::cache::path(&lab.env.state(), Some(lab.env.ns.name()));
    let cached = std::fs::read_to_string(&cache).expect("label cache written");
    assert!(cached.contains("\"digest\""), "{cached}");
    let planted = cached.replace(":4\"", ":4-from-cache\"");
    assert_ne!(planted, cached);
    write_private(&cache, &planted);
    let from_cache = parse(&stdout(&lab.run("metrics", &[&p])));
    assert_eq!(
        value(
            &from_cache,
            &rule("packets", "", "allow", 4)
                .replace(":4}", ":4-from-cache}")
                .replace(":4,", ":4-from-cache,")
        ),
        3.0
    );
    let digest = serde_json::from_str::<Value>(&cached).expect("json")["digest"].clone();
    write_private(
        &cache,
        &planted.replace(digest.as_str().unwrap_or("?"), "0000"),
    );
    let recompiled = parse(&stdout(&lab.run("metrics", &[&p])));
    assert_eq!(value(&recompiled, &rule("packets", "", "allow", 4)), 3.0);

    // Drift by hand: counted, the sum still labelled, the rule added unlabelled.
    lab.env.nft(
        &[
            "add", "rule", "inet", "hostwall", "input", "tcp", "dport", "7000", "counter", "accept",
        ],
        "",
    );
    let out = lab.run("metrics", &[&p]);
    exit(&out, 0);
    let m = parse(&stdout(&out));
    assert_eq!(value(&m, "hostwall_in_sync"), 0.0);
    assert_eq!(value(&m, "hostwall_fast_path"), 0.0);
    assert_eq!(value(&m, "hostwall_drift_changes{kind=rule-added}"), 1.0);
    assert_eq!(value(&m, &rule("packets", "", "drop", 5)), 4.0);
    assert_eq!(
        value(
            &m,
            "hostwall_rule_packets_total{chain=input,line=,service=,verdict=allow}"
        ),
        0.0
    );
}

#[test]
#[ignore = "needs root"]
fn a_failed_read_is_reported_in_the_file_and_o_replaces_it_atomically() {
    crate::support::root::require();
    let lab = Lab::new();
    let policy = lab.env.file("p.policy", POLICY);
    let p = policy.to_string_lossy().into_owned();
    exit(&lab.env.apply(&[&p]), 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = dir.path().join("hostwall.prom");
    let prom_s = prom.to_string_lossy().into_owned();
    std::fs::write(&prom, "stale").expect("old file");
    exit(&lab.run("metrics", &["-o", &prom_s, &p]), 0);
    let m = parse(&std::fs::read_to_string(&prom).expect("written"));
    assert_eq!(value(&m, "hostwall_up"), 1.0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&prom).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "node_exporter must be able to read it");
    assert_eq!(
        entries(dir.path()),
        ["hostwall.prom"],
        "no temporary file left"
    );

    // A namespace that does not exist: every live part fails, the file says so.
    let state = lab.state();
    let args = [
        "metrics",
        "--netns",
        "hw-mx-none-0",
        "--state-dir",
        &state,
        "-o",
        &prom_s,
        &p,
    ];
    let out = hostwall(&args, &[]);
    exit(&out, 2);
    assert!(stderr(&out).contains("hw-mx-none-0"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&prom).expect("written");
    let m = parse(&text);
    assert_eq!(value(&m, "hostwall_up"), 0.0, "{text}");
    assert_eq!(value(&m, "hostwall_scrape_error{part=ruleset}"), 1.0);
    assert_eq!(value(&m, "hostwall_scrape_error{part=counters}"), 1.0);
    assert_eq!(value(&m, "hostwall_scrape_error{part=source-limits}"), 1.0);
    assert_eq!(value(&m, "hostwall_scrape_error{part=policy}"), 0.0);
    assert!(!m.contains_key("hostwall_in_sync"), "{text}");
    assert_eq!(entries(dir.path()), ["hostwall.prom"]);

    // A policy that does not compile: the policy part fails, the counters still read.
    let bad = lab
        .env
        .file("bad.policy", "policy b {\n    allow tcp 99999\n}\n");
    let out = lab.run("metrics", &[&bad.to_string_lossy()]);
    exit(&out, 2);
    let m = parse(&stdout(&out));
    assert_eq!(value(&m, "hostwall_scrape_error{part=policy}"), 1.0);
    assert_eq!(value(&m, "hostwall_scrape_error{part=counters}"), 0.0);
    assert_eq!(
        value(
            &m,
            "hostwall_rule_packets_total{chain=input,line=,service=ssh,verdict=allow}"
        ),
        0.0
    );
}

/// Writes `text` to `path` owner-only, as the state directory's trust rule wants.
fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs root"]
fn diff_check_exits_0_1_2_3_for_ok_warning_critical_unknown() {
    crate::support::root::require();
    let lab = Lab::new();
    let text = "policy fw {\n    forwarding on\n    allow ssh\n}\n";
    let p = lab
        .env
        .file("fw.policy", text)
        .to_string_lossy()
        .into_owned();
    exit(&lab.env.apply(&[&p]), 0);
    let check = |code: i32, head: &str| {
        let out = lab.run("diff", &["--check", &p]);
        let line = stdout(&out);
        assert_eq!(out.status.code(), Some(code), "{line}{}", stderr(&out));
        assert!(line.starts_with(head), "{line}");
        assert_eq!(line.lines().count(), 1, "{line}");
        line
    };
    let ok = check(0, "HOSTWALL OK - in sync: table inet hostwall");
    assert!(ok.contains("| drift=0;"), "{ok}");
    sysctl(&lab.env, "net.ipv4.ip_forward=0");
    let warn = check(1, "HOSTWALL WARNING - ");
    assert!(
        warn.contains("sysctl 1") && warn.contains("drift=1;"),
        "{warn}"
    );
    lab.env.nft(
        &[
            "add", "rule", "inet", "hostwall", "input", "tcp", "dport", "23", "accept",
        ],
        "",
    );
    let crit = check(2, "HOSTWALL CRITICAL - 2 differences");
    assert!(
        crit.contains("rule-added 1") && crit.contains("sysctl 1"),
        "{crit}"
    );
    lab.env.nft(&["delete", "table", "inet", "hostwall"], "");
    check(2, "HOSTWALL CRITICAL - ");
    // Unknown: no such namespace, a policy that does not compile, --format json too.
    let state = lab.state();
    let out = hostwall(
        &[
            "diff",
            "--check",
            "--netns",
            "hw-mx-none-1",
            "--state-dir",
            &state,
            &p,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("HOSTWALL UNKNOWN - cannot read the live ruleset"));
    let bad = lab
        .env
        .file("bad.policy", "policy b {\n    allow nosuchservice\n}\n");
    let out = lab.run("diff", &["--check", &bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "HOSTWALL UNKNOWN - the policy does not compile\n"
    );
    let out = lab.run("diff", &["--check", "--format", "json", &p]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a usage error: {}",
        stderr(&out)
    );
    let _ = &lab.client;
}

fn sysctl(env: &Env, setting: &str) {
    let st = Command::new("ip")
        .args(["netns", "exec", env.ns.name(), "sysctl", "-qw", setting])
        .status()
        .expect("sysctl");
    assert!(st.success(), "sysctl -w {setting} in the namespace");
}

#[test]
#[ignore = "needs root"]
fn a_pending_change_and_its_seconds_left_and_a_missing_table_are_reported() {
    crate::support::root::require();
    let lab = Lab::new();
    let p = lab
        .env
        .file("p.policy", POLICY)
        .to_string_lossy()
        .into_owned();
    // No table yet: drift says so, the counters read finds nothing, nothing fails.
    let out = lab.run("metrics", &[&p]);
    exit(&out, 0);
    let m = parse(&stdout(&out));
    assert_eq!(value(&m, "hostwall_drift_changes{kind=table-missing}"), 1.0);
    assert_eq!(value(&m, "hostwall_scrape_error{part=counters}"), 0.0);
    assert!(!m.contains_key("hostwall_last_apply_generation"));
    assert!(!m.keys().any(|k| k.starts_with("hostwall_rule_")));
    exit(&lab.env.apply(&["--confirm", "300", &p]), 0);
    let m = parse(&stdout(&lab.run("metrics", &[&p])));
    assert_eq!(value(&m, "hostwall_pending_change"), 1.0);
    let left = value(&m, "hostwall_pending_remaining_seconds");
    // The record's deadline is rounded up to the next whole second (as `status` shows).
    assert!((250.0..=301.0).contains(&left), "{left}");
    exit(&lab.env.state_cmd("revert"), 0);
    let m = parse(&stdout(&lab.run("metrics", &[&p])));
    assert_eq!(value(&m, "hostwall_pending_change"), 0.0);
    assert_eq!(value(&m, "hostwall_pending_remaining_seconds"), 0.0);
    assert_eq!(value(&m, "hostwall_drift_changes{kind=table-missing}"), 1.0);
}

mod source;
