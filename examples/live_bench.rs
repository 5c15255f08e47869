//! Helper for `benches/diff.sh`:
//! `live_bench gen N` writes an nft script of a table with an N-element ipv4 interval
//! set (separate /30 networks) to stdout; `live_bench read TABLE` reads the table back
//! over netlink and decodes it (in the current network namespace), printing the
//! number of set elements decoded.

use hostwall::ir::{self, AddrMatch, BaseChain, Chain, ChainPolicy, Hook, Interval, Match};
use hostwall::ir::{Rule, Ruleset, Set, SetKey, Table, Verdict};
use std::process::ExitCode;

fn table(n: u32) -> Ruleset {
    // /30 networks with a /30 gap after each, like bench_support's generated policy.
    let elements = (0..n)
        .map(|i| {
            let lo = 0x0a00_0000u32.wrapping_add(i * 8) as u128;
            Interval { lo, hi: lo + 3 }
        })
        .collect();
    let rule = Rule {
        matches: vec![Match::Saddr(AddrMatch::Set4("big_v4".into()))],
        stmts: Vec::new(),
        verdict: Some(Verdict::Accept),
        comment: Some("ssh".into()),
        origin: Vec::new(),
    };
    Ruleset {
        table: Table {
            family: ir::Family::Inet,
            name: "hostwall".into(),
            sets: vec![Set {
                name: "big_v4".into(),
                key: SetKey::Ipv4Addr,
                interval: true,
                elements,
                comment: None,
                origin: Vec::new(),
            }],
            chains: vec![Chain {
                name: "input".into(),
                base: Some(BaseChain {
                    hook: Hook::Input,
                    priority: 0,
                    policy: ChainPolicy::Drop,
                }),
                rules: vec![rule],
            }],
        },
        sysctls: Vec::new(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen", n] => match n.parse() {
            Ok(n) => {
                print!("{}", hostwall::emit::text::render(&table(n), "live_bench"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("live_bench: bad count {n:?}: {e}");
                ExitCode::from(2)
            }
        },
        ["read", t] => match hostwall::live::read(t, None) {
            Ok(snap) => {
                let n: usize = snap
                    .table
                    .iter()
                    .flat_map(|t| &t.sets)
                    .map(|s| s.elements.len())
                    .sum();
                println!("{n}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("live_bench: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: live_bench gen N | live_bench read TABLE");
            ExitCode::from(2)
        }
    }
}
