//! The warnings after an apply read only other tables: on a host with a big set of ours
//! and a libvirt-like table they are the same warnings a read of the whole ruleset
//! (ours with every element) gives, and they still reach the apply's output.

use crate::apply::{Env, exit, stderr};
use std::time::Instant;

/// A libvirt-like table: its input chain drops tcp 8080 (which the policy allows) and
/// its forward chain rejects what it does not know.
const LIBVIRT_LIKE: &str = "table ip libvirt_like {
 chain INPUT {
  type filter hook input priority 0; policy accept;
  iifname \"virbr0\" udp dport 53 accept
  tcp dport 8080 drop
 }
 chain FORWARD {
  type filter hook forward priority 0; policy accept;
  iifname \"virbr0\" accept
  reject
 }
}
";

/// `allow tcp 8080` and a drop list of `n` addresses (one big set).
fn policy(n: u32) -> String {
    let addrs: Vec<String> = (0..n)
        .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i * 4).to_string())
        .collect();
    format!(
        "policy w {{\n    allow ssh\n    allow tcp 8080\n    drop from {}\n}}\n",
        addrs.join(", ")
    )
}

#[test]
#[ignore = "needs root"]
fn the_warnings_read_only_other_tables_and_are_the_same_issue14() {
    crate::support::root::require();
    let env = Env::new("hw-wr");
    env.nft(&["-f", "-"], LIBVIRT_LIKE);
    let text = policy(20_000);
    let p = env.file("w.policy", &text);
    let out = env.apply(&[&p.to_string_lossy()]);
    exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("libvirt_like"), "the apply warns: {err}");
    let rs = crate::support::corpus::compile_text(&text);
    let ns = Some(env.ns.name());
    let locate = |s: &hostwall::source::Span| format!("policy:{}", s.start);
    let t = Instant::now();
    let lean = hostwall::drift::warnings(&rs, ns, &locate).expect("warnings");
    let lean_time = t.elapsed();
    let t = Instant::now();
    let whole = hostwall::live::read(&rs.table.name, ns).expect("read");
    assert!(
        whole.table.as_ref().is_some_and(|t| !t.sets.is_empty()),
        "the whole read holds our sets"
    );
    let full = hostwall::drift::warnings_of(&rs, whole, &locate);
    let full_time = t.elapsed();
    assert_eq!(lean.changes, full.changes, "the same warnings");
    assert_eq!(lean.genid, full.genid);
    assert!(
        lean.changes
            .iter()
            .any(|c| c.object.contains("libvirt_like")),
        "{:?}",
        lean.changes
    );
    let others = hostwall::live::read_others(&rs.table.name, ns).expect("read");
    assert!(others.table.is_none() && others.ours_at.is_some());
    eprintln!(
        "warnings after an apply, 20,000 addresses of ours: other tables only {:.1} ms, \
         whole ruleset {:.1} ms",
        lean_time.as_secs_f64() * 1e3,
        full_time.as_secs_f64() * 1e3
    );
}
