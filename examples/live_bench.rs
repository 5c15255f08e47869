//! Helper for `benches/diff.sh`, on the table hostwall really compiles for a policy with an
//! N-network `define` (bench_support's generated policy, no services):
//! `live_bench gen N [MAX]` writes its nft script to stdout; `live_bench apply N [MAX]`
//! applies it over netlink in the current network namespace and prints hostwall's timings;
//! `live_bench read TABLE` reads the table back over netlink and decodes it, printing the
//! number of address-set elements decoded. MAX is the compiler's largest set (elements per
//! set before it splits; default: hostwall's own, `0`: never split, one set).

use hostwall::apply::{ApplyOptions, apply};
use hostwall::check::{NoIncludes, check};
use hostwall::compile::{MAX_SET_ELEMENTS, Options, compile_with};
use hostwall::ir::{Ruleset, SetKey};
use hostwall::source::SourceMap;
use std::process::ExitCode;
use std::time::Instant;

fn table(n: usize, max: usize) -> Result<Ruleset, String> {
    let text = hostwall::bench_support::policy(n, 0);
    let mut map = SourceMap::new();
    let file = map.add("bench.policy", text);
    let (policy, diags) = check(&mut map, file, None, &NoIncludes);
    let policy = policy.ok_or_else(|| format!("bench policy does not check: {diags:?}"))?;
    let max_set_elements = if max == 0 { usize::MAX } else { max };
    Ok(compile_with(&policy, &Options { max_set_elements }))
}

fn parse(s: Option<&&str>, default: usize) -> Result<usize, String> {
    match s {
        None => Ok(default),
        Some(s) => s.parse().map_err(|e| format!("bad number {s:?}: {e}")),
    }
}

fn run(args: &[&str]) -> Result<(), String> {
    match args {
        ["gen", n, rest @ ..] => {
            let rs = table(parse(Some(n), 0)?, parse(rest.first(), MAX_SET_ELEMENTS)?)?;
            print!("{}", hostwall::emit::text::render(&rs, "live_bench"));
        }
        ["apply", n, rest @ ..] => {
            let rs = table(parse(Some(n), 0)?, parse(rest.first(), MAX_SET_ELEMENTS)?)?;
            let t0 = Instant::now();
            let r = apply(&rs, &ApplyOptions::default()).map_err(|e| e.to_string())?;
            println!(
                "total_ms={:.2} sendmsg_ms={:.2} sets={} bytes={}",
                t0.elapsed().as_secs_f64() * 1e3,
                r.send_time.as_secs_f64() * 1e3,
                rs.table.sets.len(),
                r.batch_bytes
            );
        }
        ["read", t] => {
            let snap = hostwall::live::read(t, None).map_err(|e| e.to_string())?;
            let n: usize = (snap.table.iter().flat_map(|t| &t.sets))
                .filter(|s| matches!(s.key, SetKey::Ipv4Addr | SetKey::Ipv6Addr))
                .map(|s| s.elements.len())
                .sum();
            println!("{n}");
        }
        _ => return Err("usage: live_bench gen N [MAX] | apply N [MAX] | read TABLE".into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("live_bench: {e}");
            ExitCode::from(2)
        }
    }
}
