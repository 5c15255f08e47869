//! Everything `check` accepts compiles to text that the real `nft -f` loads, and the
//! `nft list ruleset` save of it loads again. Property test over generated names and values
//! at and around every limit (interface names with and without `*`, log prefixes, names,
//! table names, rates, groups, priorities, ports, ICMP types, prefixes), each case loaded in
//! a throwaway user+network namespace (`unshare -rn`).

use hostwall::check::{self, NoIncludes};
use hostwall::source::SourceMap;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::process::Command;

/// Characters names and strings are drawn from: plain, punctuation nft strings carry, and a
/// two-byte letter (lengths are bytes).
const CHARS: &[&str] = &[
    "a", "b", "z", "0", "9", "-", "_", ".", "é", "#", "'", ";", "{", "}", "%", "@", " ", "*", "/",
    ":", "\"", "\\", "$",
];

/// A string of `len` picks from `CHARS` (so some are invalid on purpose).
fn string(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(0..CHARS.len(), len).prop_map(|v| v.iter().map(|&i| CHARS[i]).collect())
}

/// Characters nft strings carry as they are (lengths are bytes: `é` is two).
const SAFE: &[&str] = &[
    "a", "b", "z", "0", "9", "-", "_", ".", "é", "#", "'", ";", "{", "%", " ",
];

/// A string of `len` characters, mostly from [`SAFE`], sometimes from all of [`CHARS`].
fn text(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    let safe =
        prop::collection::vec(prop::sample::select(SAFE), len.clone()).prop_map(|v| v.concat());
    prop_oneof![12 => safe, 1 => string(len)]
}

/// Log prefixes: short, right at the 127-byte limit (ASCII, with one two-byte letter
/// sometimes), or anything up to 128 characters.
fn prefix() -> impl Strategy<Value = String> {
    let edge = (120usize..=128, any::<bool>()).prop_map(|(n, wide)| {
        let s = "p".repeat(n);
        if wide { format!("é{}", &s[2..]) } else { s }
    });
    prop_oneof![6 => text(0..=40), 3 => edge, 1 => text(0..=128)]
}

/// Interface names around the 15-byte limit (bytes: `é` is two), a third with `*` at the end.
fn iface() -> impl Strategy<Value = String> {
    let ascii = prop::collection::vec(
        prop::sample::select(vec!["a", "b", "0", "-", "_", "."]),
        1..=15,
    )
    .prop_map(|v| v.concat());
    let wide = prop::collection::vec(prop::sample::select(vec!["a", "é", "0"]), 1..=12)
        .prop_map(|v| v.concat());
    let name = prop_oneof![10 => ascii, 3 => wide, 1 => string(1..=16)];
    (name, prop::bool::weighted(0.35)).prop_map(|(s, star)| if star { format!("{s}*") } else { s })
}

/// Policy names (`define`, `service`, `policy`): grammar names around the 64-byte limit, or
/// nft keywords.
fn name() -> impl Strategy<Value = String> {
    let long = (
        1usize..=68,
        prop::sample::select(vec!["n", "x_", "a-", "Q9"]),
    )
        .prop_map(|(n, s)| {
            format!("n{}", s.repeat(n))
                .chars()
                .take(n)
                .collect::<String>()
        });
    let kw = prop::sample::select(vec![
        "ip", "ip6", "drop", "accept", "counter", "set", "table", "meta", "ct", "log", "limit",
        "udp", "state", "map", "flags", "type", "elements", "comment", "chain", "reject", "policy",
        "hook", "filter", "inet", "dport", "saddr", "interval", "priority", "delete",
    ])
    .prop_map(str::to_string);
    prop_oneof![3 => long, 1 => kw]
}

/// Site table names: like [`name`], fewer keywords (the site file refuses those).
fn table() -> impl Strategy<Value = String> {
    prop_oneof![4 => name().prop_filter("plain", |n| n.starts_with('n')), 1 => name()]
}

/// A number of a field `lo..=hi`: mostly inside, sometimes right at or past an edge.
fn near(lo: i64, hi: i64) -> impl Strategy<Value = i64> {
    let edge = (prop::sample::select(vec![lo, hi]), -2i64..=2).prop_map(|(e, d)| e + d);
    prop_oneof![8 => lo..=hi, 1 => edge]
}

#[derive(Debug, Clone)]
struct Case {
    ifaces: [String; 4],
    prefix: String,
    site_prefix: String,
    names: [String; 3],
    table: String,
    rate: i64,
    burst: i64,
    group: i64,
    priority: i64,
    ports: (i64, i64),
    icmp: i64,
    plen: (i64, i64),
}

fn case() -> impl Strategy<Value = Case> {
    let ifaces = [iface(), iface(), iface(), iface()];
    let prefixes = (prefix(), prefix());
    let names = [name(), name(), name()];
    let big = 4_294_967_295;
    let numbers = (near(1, big), near(1, big), near(0, 65535), near(-400, 400));
    let more = (
        (near(1, 65535), near(1, 65535)),
        near(0, 255),
        (near(8, 32), near(8, 128)),
    );
    (ifaces, prefixes, names, table(), numbers, more).prop_map(
        |(ifaces, (prefix, site_prefix), names, table, numbers, more)| {
            let (rate, burst, group, priority) = numbers;
            let ((lo, hi), icmp, plen) = more;
            Case {
                ifaces,
                prefix,
                site_prefix,
                names,
                table,
                rate,
                burst,
                group,
                priority,
                ports: (lo.min(hi), lo.max(hi)),
                icmp,
                plen,
            }
        },
    )
}

fn texts(c: &Case) -> (String, String) {
    let [i1, i2, i3, i4] = &c.ifaces;
    let [net, svc, pol] = &c.names;
    let policy = format!(
        "define {net} = 10.0.0.0/{p4}, fd00::/{p6}\n\
         service {svc} tcp {lo}-{hi}\n\
         policy {pol} {{\n\
         \x20   default drop\n\
         \x20   log rejected limit {rate}/minute burst {burst} prefix \"{prefix}\" group {group}\n\
         \x20   allow {svc} from {net} on \"{i1}\"\n\
         \x20   allow icmp {icmp} on up\n\
         \x20   drop udp {lo} log limit {rate}/second prefix \"{prefix}\" level debug\n\
         \x20   reject tcp {hi} from {net} log group {group}\n\
         \x20   forward {{\n\
         \x20       allow in \"{i2}\" out \"{i3}\" from {net} to snet\n\
         \x20   }}\n\
         }}\n",
        p4 = c.plen.0,
        p6 = c.plen.1,
        lo = c.ports.0,
        hi = c.ports.1,
        rate = c.rate,
        burst = c.burst,
        prefix = c.prefix,
        group = c.group,
        icmp = c.icmp,
    );
    let site = format!(
        "table = \"{}\"\nlog_prefix = \"{}\"\npriority = {}\n[networks]\nsnet = [\"192.0.2.0/24\"]\n\
         [interfaces]\nup = [\"{}\"]\n",
        toml_str(&c.table),
        toml_str(&c.site_prefix),
        c.priority,
        toml_str(i4),
    );
    (policy, site)
}

/// `s` as the inside of a TOML basic string.
fn toml_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The nft script for `c`, or `None` when `check` refuses it.
fn compiled(c: &Case) -> Option<String> {
    let (policy, site) = texts(c);
    let mut map = SourceMap::new();
    let (checked, _d) = check::check_bytes(
        &mut map,
        ("policy", policy.as_bytes()),
        Some(("site.toml", site.as_bytes())),
        &NoIncludes,
    );
    if checked.is_none() && std::env::var_os("HOSTWALL_LOADABLE_DEBUG").is_some() {
        eprintln!(
            "{}",
            hostwall::diag::render(&map, &_d, hostwall::diag::Color::Never)
        );
    }
    let rs = hostwall::compile::compile(&checked?);
    Some(hostwall::emit::text::render(&rs, "policy"))
}

/// Loads `script` with `nft -f` in a new namespace, saves `nft list ruleset`, flushes and
/// loads the save again. Err: what nft said.
fn loads_and_reloads(script: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("rules.nft");
    let saved = dir.path().join("saved.nft");
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c"])
        .arg(format!(
            "nft -f '{p}' && nft list ruleset > '{s}' && nft flush ruleset && nft -f '{s}'",
            p = path.display(),
            s = saved.display()
        ))
        .output()
        .map_err(|e| format!("cannot run `unshare -rn nft` (install nftables, util-linux): {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let save = std::fs::read_to_string(&saved).unwrap_or_default();
    Err(format!(
        "{}\n--- script\n{script}\n--- saved\n{save}",
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Issue #8 item 11: the property over generated cases; at least a fifth of them must be
/// accepted by `check`, or the property would prove nothing. About 28% are (measured):
/// 384 cases put the fifth 3.4 standard deviations below that, where 96 failed one run
/// in about 25.
#[test]
fn everything_check_accepts_loads_with_nft() {
    let cases = std::env::var("HOSTWALL_LOADABLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(384);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0u32);
    let result = runner.run(&case(), |c| {
        let Some(script) = compiled(&c) else {
            return Ok(());
        };
        accepted.set(accepted.get() + 1);
        loads_and_reloads(&script).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        accepted.get() * 5 >= cases,
        "only {} of {cases} generated cases passed check",
        accepted.get()
    );
}

/// The reproducer and its neighbours: the 15-byte limit includes the `*` of a wildcard.
#[test]
fn interface_wildcards_fit_nft_string_limit() {
    let base = Case {
        ifaces: ["eth0".into(), "virbr0".into(), "eth1".into(), "eno1".into()],
        prefix: "fw: ".into(),
        site_prefix: "site: ".into(),
        names: ["mgmt".into(), "web".into(), "p".into()],
        table: "hostwall".into(),
        rate: 10,
        burst: 5,
        group: 0,
        priority: 0,
        ports: (80, 81),
        icmp: 8,
        plen: (8, 64),
    };
    for (name, ok) in [
        ("abcdefghijklmno*", false),
        ("abcdefghijklmn*", true),
        ("abcdefghijklmno", true),
        ("abcdefghijklmé*", false),
        ("abcdefghijkl\u{e9}*", true),
    ] {
        for slot in 0..4 {
            let mut c = base.clone();
            c.ifaces[slot] = name.to_string();
            match compiled(&c) {
                Some(script) if ok => {
                    loads_and_reloads(&script).unwrap_or_else(|e| panic!("{name}: {e}"))
                }
                Some(script) => panic!("{name} in slot {slot} accepted:\n{script}"),
                None if ok => panic!("{name} in slot {slot} refused"),
                None => {}
            }
        }
    }
}

/// `check` refuses a rate and burst exactly when the kernel does (its 64-bit token bucket).
#[test]
fn log_rate_and_burst_edges_agree_with_the_kernel() {
    for (rate, unit, burst) in [
        (1u64, "minute", 307_445_734u64),
        (1, "minute", 307_445_735),
        (7, "day", 1_494_527),
        (7, "day", 1_494_528),
        (4_294_967_295, "second", 4_294_967_295),
        (1, "day", 213_503),
        (1, "day", 213_504),
    ] {
        let policy = format!(
            "policy p {{\n    log rejected limit {rate}/{unit} burst {burst}\n    allow ssh\n}}\n"
        );
        let mut map = SourceMap::new();
        let (checked, _) =
            check::check_bytes(&mut map, ("p", policy.as_bytes()), None, &NoIncludes);
        let script = format!(
            "table inet t {{\n\tchain c {{\n\t\tlimit rate {rate}/{unit} burst {burst} packets accept\n\t}}\n}}\n"
        );
        let kernel = loads_and_reloads(&script).is_ok();
        assert_eq!(checked.is_some(), kernel, "{rate}/{unit} burst {burst}");
        if let Some(c) = checked {
            let text = hostwall::emit::text::render(&hostwall::compile::compile(&c), "p");
            loads_and_reloads(&text).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
