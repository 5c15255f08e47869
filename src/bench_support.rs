//! Generated policies for benchmarks (kept in the library so benches and scripts agree).

use std::fmt::Write;

/// A policy with `cidrs` distinct IPv4 /30 networks in one named network, used as the
/// source of one rule, and `services` user-defined services each on its own port.
pub fn policy(cidrs: usize, services: usize) -> String {
    let mut s = String::with_capacity(cidrs * 20 + services * 60);
    s.push_str("policy bench {\n    default reject\n");
    if cidrs > 0 {
        s.push_str("    define big = ");
        for i in 0..cidrs {
            // Spread over 10.0.0.0/8 and beyond in /30 steps, non-adjacent (gap of one /30).
            let v = 0x0a00_0000u32.wrapping_add((i as u32) * 8);
            let a = std::net::Ipv4Addr::from(v);
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{a}/30");
        }
        s.push('\n');
    }
    for i in 0..services {
        let _ = writeln!(s, "    service svc{i} tcp {}", 10_000 + i * 2);
    }
    s.push_str("    allow icmp\n");
    for i in 0..services {
        let _ = writeln!(s, "    allow svc{i}");
    }
    if cidrs > 0 {
        s.push_str("    allow ssh tcp 22 from big\n");
    }
    s.push_str("}\n");
    s
}

/// The shapes `benches/scaling.sh` doubles, each generated at a size `n`.
pub const SHAPES: [&str; 6] = [
    "rules",
    "services",
    "diagnostics",
    "warnings",
    "suggestions",
    "long-name",
];

/// A generated policy of one of [`SHAPES`] at size `n`; `None` for an unknown shape.
///
/// - `rules`: `n` rules, each from its own address (so each is its own group), ports spread
///   over tcp and udp, verdicts in runs of 7: no diagnostics.
/// - `services`: `n` `service` definitions and `n` rules naming them; each service has its own
///   port and protocol up to 196,605 services, past that later ones repeat ports (W0002).
/// - `diagnostics`: `n` lines, each an error (port out of range, unknown service, bad CIDR).
/// - `warnings`: a valid policy of `n` rules where every rule after the first 1,000 is
///   shadowed by one of them (`n - 1000` warnings of W0002).
/// - `suggestions`: `n / 2` defined services and `n / 2` rules naming misspelt ones.
/// - `long-name`: one rule naming an unknown service of `n` bytes (10 bytes a "line").
pub fn scaling(shape: &str, n: usize) -> Option<String> {
    let mut s = String::with_capacity(n * 40 + 64);
    s.push_str("policy scale {\n");
    match shape {
        "rules" => {
            for i in 0..n {
                let verdict = ["allow", "drop"][(i / 7) % 2];
                let proto = ["tcp", "udp"][i % 2];
                let a = std::net::Ipv4Addr::from(0x0a00_0000u32 + i as u32);
                let _ = writeln!(s, "    {verdict} {proto} {} from {a}", 1 + i % 65_535);
            }
        }
        "services" => {
            for i in 0..n {
                let proto = ["tcp", "udp", "sctp"][(i / 65_535) % 3];
                let _ = writeln!(s, "    service svc{i} {proto} {}", 1 + i % 65_535);
            }
            for i in 0..n {
                let _ = writeln!(s, "    allow svc{i}");
            }
        }
        "diagnostics" => {
            for i in 0..n {
                let _ = match i % 3 {
                    0 => writeln!(s, "    allow tcp {}", 70_000 + i % 1000),
                    1 => writeln!(s, "    allow sevice{i}"),
                    _ => writeln!(s, "    allow tcp 22 from 10.0.0.{}/8", 1 + i % 250),
                };
            }
        }
        "warnings" => {
            for i in 0..n {
                let _ = writeln!(s, "    allow tcp {}", 1 + i % 1000);
            }
        }
        "suggestions" => {
            for i in 0..n / 2 {
                let _ = writeln!(s, "    service {} tcp {}", word(i), 1 + i % 65_535);
            }
            for i in 0..n / 2 {
                let w = word(i);
                // A typo: the last two letters swapped.
                let (head, tail) = w.split_at(w.len() - 2);
                let t: String = tail.chars().rev().collect();
                let _ = writeln!(s, "    allow {head}{t}x");
            }
        }
        "long-name" => {
            s.push_str("    allow ");
            s.extend(std::iter::repeat_n('q', n * 10));
            s.push('\n');
        }
        _ => return None,
    }
    s.push_str("}\n");
    Some(s)
}

/// A distinct pronounceable name for `i` (letters only, 6 to 12 of them).
fn word(mut i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "va", "ze", "bo", "du", "fi", "gu", "ha",
        "je",
    ];
    let mut w = String::from("s");
    loop {
        w.push_str(SYL[i % 16]);
        i /= 16;
        if i == 0 {
            break;
        }
    }
    w
}

/// Addresses per included file of [`lean_files`]: 250,000 canonical /30s are ~4.3 MB, inside
/// the 8 MiB limit per file.
pub const LEAN_PER_FILE: usize = 250_000;

/// A policy allowing SSH from `n` distinct IPv4 /30 networks, as files to write side by
/// side: `host.policy` (the policy block) first, then `partK.policy` includes of at most
/// [`LEAN_PER_FILE`] addresses each (one file cannot hold a million: 8 MiB per file).
pub fn lean_files(n: usize) -> Vec<(String, String)> {
    let parts = n.div_ceil(LEAN_PER_FILE).max(1);
    let mut files = vec![(String::from("host.policy"), String::new())];
    let mut names = Vec::new();
    for k in 0..parts {
        let (lo, hi) = (k * LEAN_PER_FILE, ((k + 1) * LEAN_PER_FILE).min(n));
        let mut s = String::with_capacity((hi - lo) * 18 + 32);
        let _ = write!(s, "define big{k} = ");
        for i in lo..hi {
            let v = 0x0a00_0000u32.wrapping_add((i as u32) * 8);
            if i > lo {
                s.push_str(", ");
            }
            let _ = write!(s, "{}/30", std::net::Ipv4Addr::from(v));
        }
        s.push('\n');
        files.push((format!("part{k}.policy"), s));
        names.push(format!("big{k}"));
    }
    let main = &mut files[0].1;
    for k in 0..parts {
        let _ = writeln!(main, "include \"part{k}.policy\"");
    }
    let _ = write!(
        main,
        "policy lean {{\n    define big = {}\n    allow ssh tcp 22 from big\n}}\n",
        names.join(", ")
    );
    files
}
