//! Benchmark driver for `benches/apply.sh`: builds a generated IR and either
//! prints its nft text or applies it over netlink in the current network
//! namespace, printing hostwall's own timings.
//!
//! `apply_bench SHAPE N text|apply` with SHAPE one of `rules`, `ports`, `prefixes`;
//! `apply_bench policy FILE` runs the `hostwall apply` pipeline on a policy file
//! (read, check, compile, build, send) printing time and peak memory per phase.

use hostwall::apply::{ApplyOptions, apply};
use hostwall::emit::netlink::{BatchOptions, build};
use hostwall::emit::text;
use hostwall::ir::*;
use std::time::Instant;

// The library module the shared IR builders name as `crate::ir`.
use hostwall::ir;

#[path = "../tests/support/build/ir.rs"]
#[allow(dead_code)]
mod build;
use build::{accept, base, ruleset, set};

/// `rules`: N `tcp dport P accept` rules; `ports`: one rule on an N-port set;
/// `prefixes`: one rule on a set of N non-adjacent IPv4 /30s.
fn generate(shape: &str, n: usize) -> Option<Ruleset> {
    let (sets, rules) = match shape {
        "rules" => {
            let rules = (0..n)
                .map(|i| {
                    accept(vec![Match::Dport(
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
            let r = accept(vec![Match::Dport(
                L4Proto::Tcp,
                PortMatch::Set("ports".into()),
            )]);
            (vec![set("ports", SetKey::InetService, el)], vec![r])
        }
        "prefixes" => {
            let el = (0..n as u128)
                .map(|i| Interval {
                    lo: 0x0a00_0000 + i * 8,
                    hi: 0x0a00_0000 + i * 8 + 3,
                })
                .collect();
            let r = accept(vec![Match::Saddr(AddrMatch::Set4("nets".into()))]);
            (vec![set("nets", SetKey::Ipv4Addr, el)], vec![r])
        }
        _ => return None,
    };
    let input = base("input", Hook::Input, ChainPolicy::Accept, rules);
    Some(ruleset(sets, vec![input]))
}

/// Peak and current resident memory in MiB (`VmHWM`, `VmRSS`).
fn mem() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    format!(
        "peak={:.0}MiB rss={:.0}MiB",
        kb("VmHWM:") / 1024.0,
        kb("VmRSS:") / 1024.0
    )
}

/// The `hostwall apply` pipeline, phase by phase (no safe-apply bookkeeping).
fn policy_pipeline(path: &str) -> Result<(), String> {
    use hostwall::check::{NoIncludes, check};
    use hostwall::source::SourceMap;
    let t = Instant::now();
    let lap = |what: &str| {
        eprintln!(
            "{what:<8} {:>8.0}ms {}",
            t.elapsed().as_secs_f64() * 1e3,
            mem()
        )
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    lap("read");
    let mut map = SourceMap::new();
    let f = map.add(path, text);
    let (policy, diags) = check(&mut map, f, None, &NoIncludes);
    let policy = policy.ok_or_else(|| format!("{} diagnostics", diags.len()))?;
    lap("check");
    let rs = hostwall::compile::compile(&policy);
    lap("compile");
    let r = apply(&rs, &ApplyOptions::default()).map_err(|e| e.to_string())?;
    lap("apply");
    eprintln!(
        "build_ms={:.1} sendmsg_ms={:.1} batch_mib={:.1}",
        r.build_time.as_secs_f64() * 1e3,
        r.send_time.as_secs_f64() * 1e3,
        r.batch_bytes as f64 / 1048576.0
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("policy") {
        let path = args.get(1).map_or("", String::as_str);
        return match policy_pipeline(path) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("apply_bench: {e}");
                std::process::ExitCode::from(1)
            }
        };
    }
    let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    let Some(rs) = args.first().and_then(|s| generate(s, n)) else {
        eprintln!("usage: apply_bench rules|ports|prefixes N text|apply");
        return std::process::ExitCode::from(2);
    };
    match args.get(2).map(String::as_str) {
        Some("text") => print!("{}", text::render(&rs, "apply_bench")),
        // Batch build alone (no socket), best of 5: for profiling the emitter.
        Some("build") => {
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t0 = Instant::now();
                match build(&rs, &BatchOptions::default()) {
                    Ok(b) => std::hint::black_box(b),
                    Err(e) => {
                        eprintln!("build failed: {e}");
                        return std::process::ExitCode::from(1);
                    }
                };
                best = best.min(t0.elapsed().as_secs_f64() * 1e3);
            }
            println!("build_ms={best:.2}");
        }
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
