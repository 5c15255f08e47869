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
