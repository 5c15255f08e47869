//! Random and mutated policy text never panics the checker or the formatter, and each run
//! returns within a time bound. Also a size test: 100,000 CIDRs and 1,000 services.

use hostwall::check::{self, NoIncludes};
use hostwall::source::SourceMap;
use hostwall::syntax;
use proptest::prelude::*;
use std::time::{Duration, Instant};

const SEEDS: &[&str] = &[
    include_str!("../../policies/kvm-host.policy"),
    include_str!("../../policies/migration-net.policy"),
    include_str!("../../policies/libvirt-nat.policy"),
    include_str!("../../policies/minimal-host.policy"),
];

/// Pieces of real syntax, so random text gets past the first token often.
const TOKENS: &[&str] = &[
    "policy",
    "p",
    "{",
    "}",
    "\n",
    ";",
    "allow",
    "drop",
    "reject",
    "default",
    "forwarding",
    "forward",
    "on",
    "off",
    "ipv4",
    "ipv6",
    "service",
    "define",
    "=",
    "log",
    "rejected",
    "count",
    "limit",
    "10/minute",
    "burst",
    "prefix",
    "\"x\"",
    "group",
    "tcp",
    "udp",
    "sctp",
    "icmp",
    "icmpv6",
    "echo-request",
    "from",
    "to",
    "in",
    "out",
    "established",
    "counter",
    "22",
    "0",
    "70000",
    "80, 443",
    "5634-6166",
    "6166-5634",
    ",",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "fd00::/64",
    "::1",
    "mgmt",
    "ssh",
    "dns",
    "\"virbr*\"",
    "\"eth0\"",
    "#c",
    "include",
    "\"a.policy\"",
    " ",
    "é",
    "99999999999999999999999",
];

/// Runs check and format on `text`; panics (failing the property) if either is too slow.
fn run(text: &str) {
    let start = Instant::now();
    let mut map = SourceMap::new();
    let f = map.add("policy", text);
    let site = map.add("site.toml", "[networks]\nmgmt = [\"10.0.0.0/24\"]\n");
    let _ = check::check(&mut map, f, Some(site), &NoIncludes);
    let _ = syntax::format(&map, f);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?} on {text:?}",
        start.elapsed()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_token_soup_never_panics(toks in prop::collection::vec(0..TOKENS.len(), 0..60)) {
        let body: Vec<&str> = toks.iter().map(|&i| TOKENS[i]).collect();
        run(&format!("policy p {{\n{}\n}}\n", body.join(" ")));
        run(&body.join(" "));
    }

    #[test]
    fn mutated_policies_never_panic(
        seed in 0..SEEDS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, 0..TOKENS.len()), 1..6),
    ) {
        let mut text = SEEDS[seed].to_string();
        for (at, del, tok) in edits {
            let mut pos = at.index(text.len() + 1);
            while !text.is_char_boundary(pos) {
                pos -= 1;
            }
            let mut end = (pos + del).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(pos..end, TOKENS[tok]);
        }
        run(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(s in "\\PC{0,200}") {
        run(&s);
    }
}

/// The benchmark's shape: a `define` with 100,000 CIDRs and 1,000 services. In a debug build
/// this only guards against quadratic blow-ups; the release figure is in the bench.
#[test]
fn large_policy_checks_in_bounded_time() {
    let text = large_policy(100_000, 1_000);
    let start = Instant::now();
    let mut map = SourceMap::new();
    let f = map.add("policy", text);
    let (p, d) = check::check(&mut map, f, None, &NoIncludes);
    let took = start.elapsed();
    eprintln!("check of 100k CIDRs + 1k services: {took:?}");
    assert!(
        d.is_empty(),
        "{} diagnostics, first: {:?}",
        d.len(),
        d.first()
    );
    let p = p.expect("policy");
    assert_eq!(p.input.len(), 1_001);
    assert!(took < Duration::from_secs(10), "check took {took:?}");
}

/// `define big = <n distinct /32s>`, `n_services` service definitions and one rule each.
pub fn large_policy(n_cidrs: usize, n_services: usize) -> String {
    let mut s = String::with_capacity(n_cidrs * 16 + n_services * 64);
    s.push_str("policy big {\n    define big = ");
    for i in 0..n_cidrs {
        if i > 0 {
            s.push_str(",\n        ");
        }
        s.push_str(&format!(
            "10.{}.{}.{}",
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255
        ));
    }
    s.push('\n');
    for i in 0..n_services {
        s.push_str(&format!("    service svc{i} tcp {}\n", 1024 + i));
        s.push_str(&format!("    allow svc{i}\n"));
    }
    s.push_str("    allow ssh from big\n}\n");
    s
}

#[test]
#[ignore]
fn profile_parse_only() {
    let text = large_policy(100_000, 1_000);
    let mut map = SourceMap::new();
    let f = map.add("policy", text);
    let start = Instant::now();
    let _ = syntax::parse(&map, f);
    eprintln!("parse: {:?}", start.elapsed());
}

/// The long-running fuzzer's engine (`examples/fuzz`), run briefly: it executes cases, some
/// pass check and are loaded with `nft -c -f`, and it finds nothing on today's code.
#[path = "../../examples/fuzz/engine.rs"]
#[allow(dead_code)] // quiet_panics is for the long run only
mod engine;

#[test]
fn fuzz_engine_smoke_run_finds_nothing() {
    let cfg = engine::Config {
        seed: 8,
        case_limit: Duration::from_secs(5),
        rss_limit_kib: 2 << 20,
        nft_every: Some(Duration::from_millis(300)),
        out_dir: None,
    };
    let seeds = engine::seeds(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(seeds.len() > 50, "{} seeds", seeds.len());
    let mut f = engine::Fuzzer::new(cfg, seeds).expect("fuzzer");
    f.run_for(Duration::from_secs(6), Duration::from_secs(60), |_| {});
    let s = &f.stats;
    let found: Vec<String> = s
        .crashes
        .iter()
        .map(|(c, n)| {
            format!(
                "{:?} x{n}: {}\n{}",
                c.kind,
                c.detail,
                String::from_utf8_lossy(&c.input.policy)
            )
        })
        .collect();
    assert!(found.is_empty(), "{}", found.join("\n---\n"));
    assert!(s.execs > 100, "{s:?}");
    assert!(s.accepted > 0 && s.nft_checked > 0, "{s:?}");
    assert!(s.peak_rss_kib > 0);
}
