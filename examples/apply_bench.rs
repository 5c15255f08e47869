//! Benchmark driver for `benches/apply.sh`: builds a generated IR and either
//! prints its nft text or applies it over netlink in the current network
//! namespace, printing hostwall's own timings.
//!
//! `apply_bench SHAPE N text|apply` with SHAPE one of `rules`, `ports`, `prefixes`.

use hostwall::apply::{ApplyOptions, apply};
use hostwall::emit::text;
use hostwall::ir::*;
use std::time::Instant;

fn rule(matches: Vec<Match>) -> Rule {
    Rule {
        matches,
        stmts: vec![],
        verdict: Some(Verdict::Accept),
        comment: None,
        origin: vec![],
    }
}

fn interval_set(name: &str, key: SetKey, elements: Vec<Interval>) -> Set {
    Set {
        name: name.into(),
        key,
        interval: true,
        elements,
        comment: None,
        origin: vec![],
    }
}

/// `rules`: N `tcp dport P accept` rules; `ports`: one rule on an N-port set;
/// `prefixes`: one rule on a set of N non-adjacent IPv4 /30s.
fn generate(shape: &str, n: usize) -> Option<Ruleset> {
    let (sets, rules) = match shape {
        "rules" => {
            let rules = (0..n)
                .map(|i| {
                    rule(vec![Match::Dport(
                        L4Proto::Tcp,
                        PortMatch::Port((1000 + i % 60000) as u16),
                    )])
                })
                .collect();
            (vec![], rules)
        }
        "ports" => {
            let el = (0..n.min(30000))
                .map(|i| Interval::single(2000 + 2 * i as u128))
                .collect();
            let r = rule(vec![Match::Dport(
                L4Proto::Tcp,
                PortMatch::Set("ports".into()),
            )]);
            (
                vec![interval_set("ports", SetKey::InetService, el)],
                vec![r],
            )
        }
        "prefixes" => {
            let el = (0..n as u128)
                .map(|i| Interval {
                    lo: 0x0a00_0000 + i * 8,
                    hi: 0x0a00_0000 + i * 8 + 3,
                })
                .collect();
            let r = rule(vec![Match::Saddr(AddrMatch::Set4("nets".into()))]);
            (vec![interval_set("nets", SetKey::Ipv4Addr, el)], vec![r])
        }
        _ => return None,
    };
    let input = Chain {
        name: "input".into(),
        base: Some(BaseChain {
            hook: Hook::Input,
            priority: 0,
            policy: ChainPolicy::Accept,
        }),
        rules,
    };
    Some(Ruleset {
        table: Table {
            family: Family::Inet,
            name: "hostwall".into(),
            sets,
            chains: vec![input],
        },
        sysctls: vec![],
    })
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    let Some(rs) = args.first().and_then(|s| generate(s, n)) else {
        eprintln!("usage: apply_bench rules|ports|prefixes N text|apply");
        return std::process::ExitCode::from(2);
    };
    match args.get(2).map(String::as_str) {
        Some("text") => print!("{}", text::render(&rs, "apply_bench")),
        Some("apply") => {
            let t0 = Instant::now();
            match apply(&rs, &ApplyOptions::default()) {
                Ok(r) => println!(
                    "total_ms={:.2} build_ms={:.2} sendmsg_ms={:.2} send_ack_ms={:.2} bytes={} messages={}",
                    t0.elapsed().as_secs_f64() * 1e3,
                    r.build_time.as_secs_f64() * 1e3,
                    r.send_time.as_secs_f64() * 1e3,
                    r.send_ack_time.as_secs_f64() * 1e3,
                    r.batch_bytes,
                    r.messages
                ),
                Err(e) => {
                    eprintln!("apply failed: {e}");
                    return std::process::ExitCode::from(1);
                }
            }
        }
        _ => {
            eprintln!("usage: apply_bench rules|ports|prefixes N text|apply");
            return std::process::ExitCode::from(2);
        }
    }
    std::process::ExitCode::SUCCESS
}
