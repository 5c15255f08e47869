//! The per-source limit sets in `hostwall metrics` and `diff --check`: real connections
//! over IPv4 and IPv6 and `nft add element` batches fill them; the gauges agree with
//! what `nft` lists and name the policy lines; the check changes state exactly at 80%
//! and 95% of the size.

use super::{Lab, parse, value, write_private};
use crate::apply::{Env, exit, stderr, stdout};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The per-source limit sets in `metrics`: (set, family, line) to (entries, size).
fn source_sets(m: &BTreeMap<String, f64>) -> BTreeMap<(String, String, String), (f64, f64)> {
    let mut out: BTreeMap<(String, String, String), (f64, f64)> = BTreeMap::new();
    for (k, v) in m {
        let Some((name, rest)) = k.split_once('{') else {
            continue;
        };
        let size = match name {
            "hostwall_source_limit_entries" => false,
            "hostwall_source_limit_size" => true,
            _ => continue,
        };
        let labels: BTreeMap<&str, &str> = rest
            .trim_end_matches('}')
            .split(',')
            .filter_map(|p| p.split_once('='))
            .collect();
        let key = (labels["set"], labels["family"], labels["line"]);
        let e = out
            .entry((key.0.into(), key.1.into(), key.2.into()))
            .or_default();
        if size { e.1 = *v } else { e.0 = *v }
    }
    out
}

/// The entries `nft -j` lists in one set of our table.
fn nft_entries(env: &Env, set: &str) -> usize {
    let json = env.nft(&["-j", "list", "set", "inet", "hostwall", set], "");
    let v: Value = serde_json::from_str(&json).expect("nft -j");
    let sets = v["nftables"].as_array().into_iter().flatten();
    sets.filter_map(|i| i["set"]["elem"].as_array())
        .map(|e| e.len())
        .sum()
}

/// Adds `n` entries (`100.64.0.0/10` addresses from `from` on) to a v4 set with `nft`.
fn fill(env: &Env, set: &str, from: u32, n: u32) {
    let base = u32::from(std::net::Ipv4Addr::new(100, 64, 0, 0));
    let elems: Vec<String> = (from..from + n)
        .map(|i| format!("{} timeout 1h", std::net::Ipv4Addr::from(base + i)))
        .collect();
    let script = format!(
        "add element inet hostwall {set} {{ {} }}\n",
        elems.join(", ")
    );
    env.nft(&["-f", "-"], &script);
}

const SOURCE_POLICY: &str = "policy sl {
    default reject
    allow tcp 2201 limit 2/hour per source
    allow tcp 2202 from 198.18.79.0/24 limit 3/hour per source burst 4
}
";

#[test]
#[ignore = "needs root"]
fn per_source_sets_fill_in_metrics_and_diff_check_warns_at_80_and_95_percent_issue13() {
    crate::support::root::require();
    let lab = Lab::new();
    ok6(lab
        .env
        .ns
        .ip(&["addr", "add", "fd00:79::1/64", "dev", "hmh", "nodad"]));
    ok6(lab
        .client
        .ip(&["addr", "add", "fd00:79::2/64", "dev", "hmc", "nodad"]));
    let p = lab.env.file("sl.policy", SOURCE_POLICY);
    let p = p.to_string_lossy().into_owned();
    exit(&lab.env.apply(&[&p]), 0);
    // Real connections: the client over IPv4 and IPv6 to 2201, over IPv4 to 2202.
    lab.tcp(2201, 1);
    lab.tcp(2202, 1);
    lab.client
        .run(|| {
            let to: SocketAddr = "[fd00:79::1]:2201".parse().expect("addr");
            let _ = TcpStream::connect_timeout(&to, Duration::from_secs(2));
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let out = lab.run("metrics", &[&p]);
    exit(&out, 0);
    let text = stdout(&out);
    let m = parse(&text);
    assert_eq!(
        value(&m, "hostwall_fast_path"),
        1.0,
        "packets keep the generation"
    );
    assert_eq!(value(&m, "hostwall_scrape_error{part=source-limits}"), 0.0);
    let sets = source_sets(&m);
    let at = |n: u32| format!("{p}:{n}");
    let mut got: Vec<(String, String, f64, f64)> = sets
        .iter()
        .map(|((_, fam, line), (e, s))| (line.clone(), fam.clone(), *e, *s))
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let row = |n: u32, fam: &str| (at(n), fam.to_string(), 1.0, 65535.0);
    let want = vec![row(3, "ipv4"), row(3, "ipv6"), row(4, "ipv4")];
    assert_eq!(got, want, "{text}");
    for ((set, _, _), (entries, _)) in &sets {
        assert_eq!(*entries as usize, nft_entries(&lab.env, set), "{set}");
    }
    let line4 = sets
        .keys()
        .find(|k| k.2 == at(4))
        .map(|k| k.0.clone())
        .expect("the set of line 4");

    // The fast path labels the sets from the cache: a planted line shows it is read.
    let cache = hostwall::metrics::cache::path(&lab.env.state(), Some(lab.env.ns.name()));
    let cached = std::fs::read_to_string(&cache).expect("label cache written");
    let planted = cached.replace(&format!("{}:4\"", p.replace('"', "\\\"")), "planted:4\"");
    assert_ne!(planted, cached, "{cached}");
    write_private(&cache, &planted);
    let m = parse(&stdout(&lab.run("metrics", &[&p])));
    assert!(
        source_sets(&m)
            .keys()
            .any(|k| k.0 == line4 && k.2 == "planted:4"),
        "{m:#?}"
    );
    write_private(&cache, &cached);

    // diff --check at the thresholds of 65535: 52427 OK, 52428 WARNING (80%), 62258
    // WARNING, 62259 CRITICAL (95%); the set and its line are named.
    let check = |code: i32| {
        let started = std::time::Instant::now();
        let out = lab.run("diff", &["--check", &p]);
        eprintln!("diff --check took {:?}", started.elapsed());
        let line = stdout(&out);
        assert_eq!(out.status.code(), Some(code), "{line}{}", stderr(&out));
        assert_eq!(line.lines().count(), 1, "{line}");
        line
    };
    let line = check(0);
    assert!(
        line.contains(&format!(" {line4}=1;52427;62258;0;65535")),
        "{line}"
    );
    fill(&lab.env, &line4, 0, 52426);
    let line = check(0);
    assert!(line.starts_with("HOSTWALL OK - in sync"), "{line}");
    fill(&lab.env, &line4, 52426, 1);
    let line = check(1);
    let named = format!(
        "source set {line4} (limit per source at {}) 80% full (52428 of 65535)",
        at(4)
    );
    assert!(
        line.starts_with("HOSTWALL WARNING - table inet hostwall in sync, but: "),
        "{line}"
    );
    assert!(line.contains(&named), "{line}");
    fill(&lab.env, &line4, 52427, 62258 - 52428);
    check(1);
    fill(&lab.env, &line4, 62257, 1);
    let line = check(2);
    assert!(
        line.contains(&format!(
            "{line4} (limit per source at {}) 95% full (62259 of 65535)",
            at(4)
        )),
        "{line}"
    );
    assert!(
        !line.contains("difference"),
        "learned entries are no drift: {line}"
    );

    // metrics agrees with nft on the filled set; diff's JSON stays in sync and valid.
    let started = std::time::Instant::now();
    let out = lab.run("metrics", &[&p]);
    eprintln!(
        "metrics with a 62259-entry set took {:?}",
        started.elapsed()
    );
    exit(&out, 0);
    let sets = source_sets(&parse(&stdout(&out)));
    let filled = sets
        .iter()
        .find(|(k, _)| k.0 == line4)
        .expect("the filled set");
    assert_eq!(filled.1.0, 62259.0);
    assert_eq!(nft_entries(&lab.env, &line4), 62259);
    let out = lab.run("diff", &["--format", "json", &p]);
    exit(&out, 0);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    crate::support::schema::assert_valid("diff", &doc);
    assert_eq!(doc["in_sync"], Value::Bool(true), "{doc:#}");
}

fn ok6(r: Result<(), hostwall::netns::NetnsError>) {
    r.unwrap_or_else(|e| panic!("{e}"));
}
